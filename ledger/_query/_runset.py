"""RunSet: an ordered selection of runs, and what is computed over one: sorting, table rows
and columns (derived from the format's schema), groups, the best run, compute hours, and
group curves (through the series engine)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, overload

from ledger import _format
from ledger._query import _filter, _importance, _series
from ledger._query._views import RunView, require_pandas

if TYPE_CHECKING:
    from pandas import DataFrame

_GOALS = ("max", "min")


# ---- one number from many -----------------------------------------------------------------------


def finite_number(value: Any) -> float | None:
    """``value`` as a float if it is a finite number (not a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


@dataclass(frozen=True)
class Described:
    """Mean, sample standard deviation and count of the finite numbers among some values;
    ``std`` is None below two values, ``mean`` None without any."""

    mean: float | None
    std: float | None
    n: int


def describe(values: Iterable[Any]) -> Described:
    """The one mean ± std of the library (tables, reports, sweeps): finite numbers only."""
    numbers = [v for v in map(finite_number, values) if v is not None]
    if not numbers:
        return Described(None, None, 0)
    return Described(statistics.fmean(numbers), statistics.stdev(numbers) if len(numbers) > 1 else None, len(numbers))


# ---- rows and columns -----------------------------------------------------------------------------


def flatten(prefix: str, mapping: Mapping[str, Any], out: dict[str, Any]) -> None:
    """Nested mappings as dotted keys under ``prefix`` (``config.`` -> ``config.model.lr``);
    lists and empty mappings stay values."""
    for k, v in mapping.items():
        if type(v) is dict and v:  # manifests hold plain dicts; the exact check is fast
            flatten(f"{prefix}{k}.", v, out)
        else:
            out[prefix + str(k)] = v


# Columns every row has, in order: the manifest's single-value fields (mappings follow,
# flattened, after them).
BASE_COLUMNS = tuple(spec.name for spec in _format.FIELDS if spec.column == "value")
_FLAT = tuple(spec.name for spec in _format.FIELDS if spec.column == "flat")
_DEEP = tuple(spec.name for spec in _format.FIELDS if spec.column == "deep")


def row(run: RunView) -> dict[str, Any]:
    """A run as one flat row: every manifest field (``status`` as readers show it), mappings
    as ``host.hostname`` columns, config and summary flattened at every depth."""
    doc = run.doc
    out: dict[str, Any] = {k: doc.get(k) for k in BASE_COLUMNS}
    out["status"] = run.status
    out["tags"] = list(doc.get("tags") or [])
    for section in _FLAT:
        value = doc.get(section)
        if type(value) is dict:
            for k, v in value.items():
                out[f"{section}.{k}"] = v
    for section in _DEEP:
        value = doc.get(section)
        if type(value) is dict:
            flatten(section + ".", value, out)
    return out


# ---- sorting --------------------------------------------------------------------------------------


def _sort_key(value: Any) -> tuple[int, Any]:
    # Missing and NaN values sort last whatever the direction; numbers before text.
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return (2, 0)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (0, value)
    return (1, str(value))


def order(runs: list[RunView], order_by: str | Sequence[str]) -> list[RunView]:
    """``runs`` sorted by fields, ``-`` for descending; missing values last."""
    specs = [s.strip() for s in order_by.split(",")] if isinstance(order_by, str) else list(order_by)
    for spec in reversed([s for s in specs if s]):  # stable sorts, last key first
        descending = spec.startswith("-")
        get = _filter.getter(_filter.parse_field(spec.lstrip("+-")))
        present = [r for r in runs if _sort_key(get(r))[0] < 2]
        absent = [r for r in runs if _sort_key(get(r))[0] == 2]
        present.sort(key=lambda r: _sort_key(get(r)), reverse=descending)
        runs = present + absent
    return runs


# ---- groups --------------------------------------------------------------------------------------

_BY_ALIASES = {"host": "host.hostname", "month": "created"}


def group_key(run: RunView, by: str) -> Any:
    """The value a run is grouped under for ``by`` (any field; ``month`` is YYYY-MM of
    creation, ``host`` the hostname); lists (tags) are joined with commas."""
    return _key_of(by)(run)


def _key_of(by: str) -> Callable[[RunView], Any]:
    """:func:`group_key` for one field, the field parsed once (grouping 10,000 runs)."""
    get = _filter.getter(_filter.parse_field(_BY_ALIASES.get(by, by)))

    def key(run: RunView) -> Any:
        value = get(run)
        if by == "month" and isinstance(value, str):
            return value[:7]
        if isinstance(value, list):
            return ",".join(map(str, value))
        return value

    return key


def _group_order(key: Any) -> tuple[int, int, Any]:
    # None last; numbers by value before text.
    if isinstance(key, tuple):
        return (0, 0, tuple(_group_order(k) for k in key))
    if key is None:
        return (1, 0, "")
    if isinstance(key, (int, float)) and not isinstance(key, bool):
        return (0, 0, key)
    return (0, 1, str(key))


class RunSet(Sequence[RunView]):
    """An ordered selection of runs (what :meth:`Ledger.runs` returns)."""

    def __init__(self, runs: Iterable[RunView]) -> None:
        self._runs = list(runs)

    @overload
    def __getitem__(self, index: int) -> RunView: ...
    @overload
    def __getitem__(self, index: slice) -> RunSet: ...
    def __getitem__(self, index: int | slice) -> RunView | RunSet:
        if isinstance(index, slice):
            return RunSet(self._runs[index])
        return self._runs[index]

    def __len__(self) -> int:
        return len(self._runs)

    def __iter__(self) -> Iterator[RunView]:
        return iter(self._runs)

    def __repr__(self) -> str:
        return f"<RunSet of {len(self._runs)} runs>"

    @property
    def ids(self) -> list[str]:
        """The run ids, in order."""
        return [r.id for r in self._runs]

    def filter(self, where: str | Mapping[str, Any]) -> RunSet:
        """The runs that match a filter (the ``where`` language or a dict filter)."""
        pred = _filter.compile_filter(where)
        return self if pred is None else RunSet(r for r in self._runs if pred(r))

    def order_by(self, order_by: str | Sequence[str]) -> RunSet:
        """Sorted by fields, ``-`` for descending (``"-summary.acc,name"``); missing values last."""
        return RunSet(order(self._runs, order_by))

    def best(self, key: str, goal: str = "max") -> RunView | None:
        """The run with the highest (``goal="max"``) or lowest (``"min"``) value of ``key``;
        runs without a number there (missing, NaN) are ignored. None if no run has one."""
        if goal not in _GOALS:
            msg = f"goal must be 'max' or 'min', got {goal!r}"
            raise ValueError(msg)
        get = _filter.getter(_filter.parse_field(key))
        scored = [
            (v, r)
            for r in self._runs
            if isinstance(v := get(r), (int, float)) and not isinstance(v, bool) and not math.isnan(v)
        ]
        if not scored:
            return None
        pick = max if goal == "max" else min
        return pick(scored, key=lambda item: item[0])[1]

    def groups(self, by: str | Sequence[str]) -> dict[Any, RunSet]:
        """The runs grouped by the value of a field (``"group"``, ``"config.batch_size"``,
        ``"month"``), or by several (keys are then tuples), in key order (missing values last),
        each group keeping this set's order."""
        fields = [by] if isinstance(by, str) else list(by)
        getters = [_key_of(f) for f in fields]  # an unknown field is an error, not one big group
        out: dict[Any, list[RunView]] = {}
        for run in self._runs:
            keys = tuple(get(run) for get in getters)
            out.setdefault(keys[0] if len(keys) == 1 else keys, []).append(run)
        return {k: RunSet(out[k]) for k in sorted(out, key=_group_order)}

    def band(
        self,
        key: str,
        *,
        by: str | Sequence[str] | None = None,
        x: str = "step",
        samples: int | None = None,
        smoothing: float = 0.0,
    ) -> list[_series.Band]:
        """The mean curve of metric ``key`` with its band (std, min, max and the number of
        runs at each point), one :class:`Band` per group of ``by`` (one for the whole set
        without ``by``). Runs are put on a shared x grid first (``x`` is ``step`` or
        ``relative``), so runs that log at different steps give a smooth mean; see
        ``ledger._query._series`` for the exact rules."""
        if x not in ("step", "relative"):
            msg = f"a band's x must be 'step' or 'relative' (runs do not share wall times), got {x!r}"
            raise ValueError(msg)
        parts = self.groups(by) if by is not None else {None: self}
        return [
            _series.band([r.series(key, x=x, smoothing=smoothing) for r in runs], group=group, samples=samples)
            for group, runs in parts.items()
        ]

    def importance(
        self,
        metric: str,
        *,
        params: Sequence[str] | None = None,
        forest: bool = True,
        seed: int = 0,
    ) -> DataFrame:
        """Which config parameters matter for ``metric`` (a summary metric such as
        ``"val/loss"``, or any field: ``"summary.acc"``), as W&B's parameter-importance panel:
        one row per parameter (text values one-hot, ``config.optimizer=sgd``) with
        ``importance`` (a random forest's feature importance, predicting the metric from every
        parameter at once; they sum to 1), ``correlation`` (Pearson, with the metric) and
        ``runs``, most important first. Only runs with a finite number for the metric count,
        and only parameters that vary among them (all ``config.*`` keys, or ``params``).

        The forest needs scikit-learn (``pip install 'experiment-ledger[analysis]'``);
        ``forest=False`` gives the correlations alone. Needs at least 3 runs with the metric.
        """
        rows, ys = scored_configs(self._runs, metric)
        return _importance.table(rows, ys, params=params, forest=forest, seed=seed)

    def rows(self) -> list[dict[str, Any]]:
        """One flat dict per run (the columns of :meth:`to_pandas`), no pandas needed."""
        return [row(r) for r in self._runs]

    def to_pandas(self) -> DataFrame:
        """One row per run: every manifest field (id, name, project, group, job_type, tags,
        status, created, ended, duration_s, gpu_count, ...), mappings as ``host.*``, ``git.*``,
        ``command.*``, ``sweep.*`` columns, and ``config.*`` and ``summary.*`` flattened."""
        require_pandas()
        import pandas as pd  # noqa: PLC0415

        rows = self.rows()
        columns: dict[str, None] = dict.fromkeys(BASE_COLUMNS)
        for r in rows:
            for k in r:
                columns.setdefault(k, None)
        frame = pd.DataFrame.from_records(rows, columns=list(columns))
        for col in _format.TIMESTAMP_FIELDS:
            frame[col] = pd.to_datetime(frame[col], utc=True, errors="coerce", format="ISO8601")
        return frame

    def compute_hours(self, by: str = "group") -> DataFrame:
        """Compute used, per ``by`` (group, job_type, user, host, month, project, or any
        field): runs, hours (active time) and gpu_hours (active time x GPUs)."""
        require_pandas()
        import pandas as pd  # noqa: PLC0415

        table = compute_table(self._runs, by)
        return pd.DataFrame(table, columns=[by, "runs", "hours", "gpu_hours"])


def compute_table(runs: Iterable[RunView], by: str) -> list[tuple[Any, int, float, float]]:
    """(key, runs, hours, gpu_hours) per value of ``by``, sorted by key (None last)."""
    groups = RunSet(runs).groups(by)
    out = []
    for key, members in sorted(groups.items(), key=lambda kv: (kv[0] is None, str(kv[0]))):
        hours = gpu_hours = 0.0
        for run in members:
            h, g = _format.compute_hours(run.doc.get("duration_s"), run.doc.get("gpu_count"))
            hours += h
            gpu_hours += g
        out.append((key, len(members), round(hours, 6), round(gpu_hours, 6)))
    return out


def scored_configs(runs: Sequence[RunView], metric: str) -> tuple[list[dict[str, Any]], list[float]]:
    """The flattened configs of the runs with a finite number for ``metric``, and those numbers
    (what parameter importance is computed from)."""
    get = _filter.getter(_filter.parse_field(_importance.metric_field(metric)))
    rows: list[dict[str, Any]] = []
    ys: list[float] = []
    for run in runs:
        y = _importance.number(get(run))
        if y is None:
            continue
        flat: dict[str, Any] = {}
        flatten("config.", run.doc.get("config") or {}, flat)
        rows.append(flat)
        ys.append(y)
    if len(ys) < _importance.MIN_RUNS:
        msg = (
            f"parameter importance needs at least {_importance.MIN_RUNS} runs with a number for "
            f"{metric!r}; {len(ys)} of {len(runs)} have one"
        )
        raise ValueError(msg)
    return rows, ys
