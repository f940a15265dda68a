"""The Streamlit viewer of a ledger (``ledger view``).

``app.py`` is the entry Streamlit runs; ``views/`` holds one script per page; ``data.py`` is
the only module that reads the ledger (through the query API, cached); ``charts.py`` and
``tables.py`` are plain functions (no Streamlit) that the pages draw from.
"""
