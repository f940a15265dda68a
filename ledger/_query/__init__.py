"""The read side: everything that answers questions about a ledger.

- :mod:`._index`: the index of every manifest, cached under ``.cache/`` (and a publication's
  ``index.json`` where folders cannot be listed);
- :mod:`._filter`: the ``where`` language (never ``eval``);
- :mod:`._views`: :class:`RunView` and :class:`SweepView`, one run or sweep;
- :mod:`._aggregate`: one number from many (mean, std, n, CI, median/IQR) and group tables;
- :mod:`._runset`: :class:`RunSet`: sorting, rows and columns, groups, aggregates, compute hours and cost;
- :mod:`._importance`: parameter importance (a random forest's, and correlations) for a metric;
- :mod:`._series`: the series engine: curves, downsampling, group bands;
- :mod:`._artifacts`: artifact versions found in a ledger (:class:`ArtifactView`) and their lineage;
- :mod:`._ledger`: :class:`Ledger` (and its ``refresh``) and :func:`open_ledger`.

Nothing here imports the run writer.
"""

from ledger._query._aggregate import (
    STATS,
    Aggregate,
    Cell,
    Described,
    aggregate_runs,
    best_rows,
    cell,
    describe,
    finite_number,
    group_key,
)
from ledger._query._artifacts import ArtifactView, Lineage, Node
from ledger._query._ledger import Ledger, index_state, open_ledger
from ledger._query._runset import (
    BASE_COLUMNS,
    ComputeRow,
    RunSet,
    check_price,
    compute_table,
    flatten,
    parse_price,
)
from ledger._query._series import Band, Series
from ledger._query._views import RunView, SweepView, record_columns

__all__ = [
    "BASE_COLUMNS",
    "STATS",
    "Aggregate",
    "ArtifactView",
    "Band",
    "Cell",
    "ComputeRow",
    "Described",
    "Ledger",
    "Lineage",
    "Node",
    "RunSet",
    "RunView",
    "Series",
    "SweepView",
    "aggregate_runs",
    "best_rows",
    "cell",
    "check_price",
    "compute_table",
    "describe",
    "finite_number",
    "flatten",
    "group_key",
    "index_state",
    "open_ledger",
    "parse_price",
    "record_columns",
]
