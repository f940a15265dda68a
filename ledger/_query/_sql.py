"""SQL over a ledger: :meth:`Ledger.sql` and ``ledger sql``, through DuckDB (the ``sql`` extra).

A query sees these views (only those it names are built):

- ``runs``: one row per run, the columns of :meth:`RunSet.to_pandas` (``id``, ``name``,
  ``status`` as readers show it, ``created`` as a timestamp, ``"config.lr"``,
  ``"summary.val/acc"``: quote dotted names), plus ``hours`` and ``gpu_hours``, the run's
  compute as :meth:`RunSet.compute_hours` counts it;
- ``metrics``: every number a run logged, in long form: ``run_id, step, time, key, value``
  (``time`` in epoch seconds; booleans as 0 and 1; NaN and infinities kept; media left out),
  ``row`` the record's position in the run's stream;
- ``metrics_wide``: one row per record: ``run_id, row, step, time`` and one column per metric
  name (NULL where a record has no number under it);
- ``system``: the system stream (``system.jsonl``) in the long form of ``metrics``;
- ``sweeps``: one row per sweep: ``id, project, name, method, metric, goal, runs, config``
  (the sweep's YAML as JSON text).

The histories come from the columnar history cache (``ledger/_query/_history.py``), so a query
does not parse JSON lines again. The connection is DuckDB in memory, with access to files,
extensions and configuration changes turned off: a query reads only these views and can write
nothing anywhere.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any, TypeVar

import orjson

from ledger import _format
from ledger._errors import SqlError
from ledger._query._runset import RunSet
from ledger._query._views import stream_columns

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from pandas import DataFrame

    from ledger._query._series import Columns
    from ledger._query._views import RunView, SweepView

T = TypeVar("T")
VIEWS = ("runs", "metrics", "metrics_wide", "system", "sweeps")
INSTALL_HINT = "pip install 'experiment-ledger[sql]'"


def _duckdb() -> Any:
    try:
        import duckdb  # noqa: PLC0415
        import pyarrow as pa  # noqa: F401, PLC0415
    except ImportError:
        msg = f"Ledger.sql and `ledger sql` need DuckDB and pyarrow: {INSTALL_HINT}"
        raise ImportError(msg) from None
    return duckdb


def connect() -> Any:
    """An in-memory DuckDB connection that cannot touch files, load extensions, see Python
    variables or change its own settings."""
    duckdb = _duckdb()
    con = duckdb.connect(
        ":memory:",
        config={
            "enable_external_access": False,
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
            "allow_community_extensions": False,
            "python_enable_replacements": False,
        },
    )
    con.execute("SET TimeZone = 'UTC'")  # the ledger's timestamps are UTC: strftime and date_trunc too
    con.execute("SET lock_configuration = true")
    return con


def named_views(query: str) -> list[str]:
    """The views a query names (a word match: naming one in a comment only builds it)."""
    words = {w.lower() for w in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", query)}
    return [v for v in VIEWS if v in words]


def run_query(runs: Sequence[RunView], sweeps: Callable[[], list[SweepView]], query: str) -> DataFrame:
    """The result of ``query`` over the views of ``runs`` (and ``sweeps()``), as a DataFrame."""
    frame: DataFrame = _run(runs, sweeps, query, lambda result: result.df())
    return frame


def query_rows(
    runs: Sequence[RunView], sweeps: Callable[[], list[SweepView]], query: str
) -> tuple[list[str], list[list[Any]]]:
    """The result of ``query`` as column names and rows of Python values (None for NULL,
    so a NULL and a logged NaN stay apart): what ``ledger sql`` prints."""
    return _run(
        runs, sweeps, query, lambda result: ([str(c) for c in result.columns], [list(r) for r in result.fetchall()])
    )


def _run(runs: Sequence[RunView], sweeps: Callable[[], list[SweepView]], query: str, fetch: Callable[[Any], T]) -> T:
    if not isinstance(query, str) or not query.strip():
        msg = f"sql needs a query, e.g. 'SELECT count(*) FROM runs', got {query!r}"  # noqa: S608 (an example)
        raise SqlError(msg)
    duckdb = _duckdb()
    con = connect()
    try:
        for view in named_views(query):
            con.register(view, _BUILDERS[view](runs, sweeps))
        try:
            result = con.sql(query)
            if result is None:  # a statement that returns nothing (CREATE, SET, ...)
                result = con.sql("SELECT NULL AS nothing WHERE false")
            return fetch(result)
        except duckdb.Error as exc:
            msg = f"sql: {exc}"
            raise SqlError(msg) from None
    finally:
        con.close()


# ---- the views -------------------------------------------------------------------------------------------


def _runs_table(runs: Sequence[RunView], _sweeps: Callable[[], list[SweepView]]) -> Any:
    import pandas as pd  # noqa: PLC0415

    frame = RunSet(runs).to_pandas()
    hours = [_format.compute_hours(r.active_seconds(), r.doc.get("gpu_count"), r.doc.get("allocation")) for r in runs]
    frame["hours"] = pd.Series([h[0] for h in hours], index=frame.index, dtype=float)
    frame["gpu_hours"] = pd.Series([h[1] for h in hours], index=frame.index, dtype=float)
    for column in frame.columns:
        if frame[column].dtype == object:
            frame[column] = _sql_ready(frame[column].tolist())
    return frame


def _sql_ready(values: list[Any]) -> list[Any]:
    """An object column DuckDB can take: one type of scalar as it is, lists of text as lists;
    anything mixed or nested as JSON text (NaN as NULL)."""
    kinds = set()
    for v in values:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            continue
        if isinstance(v, list) and all(isinstance(x, str) for x in v):
            kinds.add("list")
        elif isinstance(v, (dict, list)):
            kinds.add("json")
        else:
            kinds.add(type(v).__name__)
    clean = [None if v is None or (isinstance(v, float) and math.isnan(v)) else v for v in values]
    if len(kinds) <= 1 and "json" not in kinds:
        return clean
    return [None if v is None else _json_text(v) for v in clean]


def _json_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return orjson.dumps(_format.json_ready(value), default=str).decode()


def _long(runs: Sequence[RunView], stream: str) -> Any:
    """Every number of a stream in long form, the columns gathered as numpy arrays and made
    into one Arrow table at the end (run ids and keys as indices into their names)."""
    import numpy as np  # noqa: PLC0415
    import pyarrow as pa  # noqa: PLC0415
    import pyarrow.compute as pc  # noqa: PLC0415

    run_ids: list[str] = []
    key_names: dict[str, int] = {}
    parts: dict[str, list[Any]] = {n: [] for n in ("run", "row", "step", "step_ok", "time", "time_ok", "key", "value")}
    for run in runs:
        cols = stream_columns(run, stream)
        if not cols.keys:
            continue
        (step, step_ok), (time, time_ok) = _reserved(cols)
        for key, (positions, values) in cols.keys.items():
            parts["run"].append(np.full(len(positions), len(run_ids), dtype=np.int32))
            parts["key"].append(np.full(len(positions), key_names.setdefault(key, len(key_names)), dtype=np.int32))
            parts["row"].append(positions)
            parts["step"].append(step[positions])
            parts["step_ok"].append(step_ok[positions])
            parts["time"].append(time[positions])
            parts["time_ok"].append(time_ok[positions])
            parts["value"].append(values)
        run_ids.append(run.id)
    if not parts["run"]:
        return pa.table({"run_id": pa.array([], pa.string()), "row": pa.array([], pa.int64()),
                         "step": pa.array([], pa.int64()), "time": pa.array([], pa.float64()),
                         "key": pa.array([], pa.string()), "value": pa.array([], pa.float64())})  # fmt: skip
    cat = {n: np.concatenate(v) for n, v in parts.items()}
    return pa.table({
        "run_id": pc.take(pa.array(run_ids, pa.string()), pa.array(cat["run"])),
        "row": pa.array(cat["row"], pa.int64()),
        "step": pa.array(cat["step"], pa.int64(), mask=~cat["step_ok"]),
        "time": pa.array(cat["time"], pa.float64(), mask=~cat["time_ok"]),
        "key": pc.take(pa.array(list(key_names), pa.string()), pa.array(cat["key"])),
        "value": pa.array(cat["value"], pa.float64()),
    })  # fmt: skip


def _reserved(cols: Columns) -> list[tuple[Any, Any]]:
    """The step (a whole number; not ok where a record has none) and time (epoch seconds)
    of every record: (values, ok) numpy arrays for each."""
    import numpy as np  # noqa: PLC0415

    step_ok = np.isfinite(cols.steps) & (cols.steps == np.round(cols.steps))
    step = np.where(step_ok, cols.steps, 0).astype(np.int64)
    return [(step, step_ok), (cols.times, np.isfinite(cols.times))]


def _metrics(runs: Sequence[RunView], _sweeps: Callable[[], list[SweepView]]) -> Any:
    return _long(runs, "metrics")


def _system(runs: Sequence[RunView], _sweeps: Callable[[], list[SweepView]]) -> Any:
    return _long(runs, "system")


def _metrics_wide(runs: Sequence[RunView], _sweeps: Callable[[], list[SweepView]]) -> Any:
    import numpy as np  # noqa: PLC0415
    import pyarrow as pa  # noqa: PLC0415

    tables = []
    for run in runs:
        cols = stream_columns(run, "metrics")
        n = len(cols.steps)
        if not n:
            continue
        (step, step_ok), (time, time_ok) = _reserved(cols)
        columns: dict[str, Any] = {
            "run_id": pa.array(np.full(n, run.id, dtype=object), type=pa.string()),
            "row": pa.array(np.arange(n), type=pa.int64()),
            "step": pa.array(step, pa.int64(), mask=~step_ok),
            "time": pa.array(time, pa.float64(), mask=~time_ok),
        }
        for key, (positions, values) in cols.keys.items():
            if key in columns:
                continue
            full = np.zeros(n)
            full[positions] = values
            mask = np.ones(n, dtype=bool)
            mask[positions] = False
            columns[key] = pa.array(full, type=pa.float64(), mask=mask)
        tables.append(pa.table(columns))
    if not tables:
        return pa.table({"run_id": pa.array([], pa.string()), "row": pa.array([], pa.int64()),
                         "step": pa.array([], pa.int64()), "time": pa.array([], pa.float64())})  # fmt: skip
    return pa.concat_tables(tables, promote_options="default")


def _sweeps_table(_runs: Sequence[RunView], sweeps: Callable[[], list[SweepView]]) -> Any:
    import pyarrow as pa  # noqa: PLC0415

    rows: dict[str, list[Any]] = {
        k: [] for k in ("id", "project", "name", "method", "metric", "goal", "runs", "config")
    }
    for sweep in sweeps():
        metric = sweep.metric
        method = sweep.config.get("method")
        rows["id"].append(sweep.id)
        rows["project"].append(sweep.project)
        rows["name"].append(sweep.name)
        rows["method"].append(method if isinstance(method, str) else None)
        rows["metric"].append(metric[0] if metric else None)
        rows["goal"].append(metric[1] if metric else None)
        rows["runs"].append(len(sweep.runs))
        rows["config"].append(_json_text(sweep.config))
    types = {"runs": pa.int64()}
    return pa.table({k: pa.array(v, type=types.get(k, pa.string())) for k, v in rows.items()})


_BUILDERS: dict[str, Callable[[Sequence[RunView], Callable[[], list[SweepView]]], Any]] = {
    "runs": _runs_table,
    "metrics": _metrics,
    "metrics_wide": _metrics_wide,
    "system": _system,
    "sweeps": _sweeps_table,
}
