"""The ledger viewer: ``ledger view [ROOT]``, or ``streamlit run viewer/app.py -- --root ROOT``.

Pages live in ``viewer/views/`` (Streamlit would also list a folder named pages/ on deep
links); everything they show is read through ``viewer.data``; the view's settings live in
the URL (``viewer.state``).
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

import streamlit as st

# Streamlit runs this file and the pages as scripts, and they import `viewer.*`: make this
# folder the package `viewer`, be it a checkout's viewer/ or the wheel's ledger/_viewer/ (the
# wheel installs no top-level `viewer`, which other distributions could also claim).
if "viewer" not in sys.modules:
    sys.modules["viewer"] = types.ModuleType("viewer", "The ledger viewer's modules.")
    sys.modules["viewer"].__path__ = [str(Path(__file__).resolve().parent)]

from viewer import data, state, ui

st.set_page_config(page_title="ledger", page_icon="📒", layout="wide")
state.restore()
ui.keep_state()
src = data.source()
ui.wait_for_ledger(src)
data.pin(src)  # one snapshot of the ledger for the whole of this run

# Navigation first: widgets made before it (the sidebar's) lose their values on reruns.
page = st.navigation(
    [
        st.Page("views/runs.py", title="Runs", icon="📋", default=True),
        st.Page("views/charts.py", title="Charts", icon="📈"),
        st.Page("views/run.py", title="Run", icon="🔎"),
        st.Page("views/compare.py", title="Compare", icon="⚖️"),
        st.Page("views/sweeps.py", title="Sweeps", icon="🧭"),
        st.Page("views/compute.py", title="Compute", icon="⏱️"),
    ]
)
ui.sidebar(src)
for message in data.skipped(src):
    st.warning(f"Skipped an unreadable manifest: {ui.escape(message)}")
try:
    page.run()
finally:  # also after st.stop() on a page: the URL always says what is shown
    state.publish()
