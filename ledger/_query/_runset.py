"""RunSet: an ordered selection of runs, and what is computed over one: sorting, table rows
and columns (derived from the format's schema), groups, the best run, compute hours, and
group curves (through the series engine)."""

from __future__ import annotations

import contextlib
import gc
import math
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, overload

from ledger import _format
from ledger._query import _aggregate, _filter, _frame, _importance, _series
from ledger._query._aggregate import check_by, group_order, key_of
from ledger._query._views import RunView, require_pandas

if TYPE_CHECKING:
    from pandas import DataFrame

_GOALS = ("max", "min")


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


def doc_row(doc: Mapping[str, Any]) -> dict[str, Any]:
    """A manifest as one flat row: every manifest field (``status`` as written), mappings as
    ``host.hostname`` columns, config and summary flattened at every depth. The index keeps
    this row of every run, so a table is built column by column without walking manifests."""
    out: dict[str, Any] = {k: doc.get(k) for k in BASE_COLUMNS}
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


def row(run: RunView) -> dict[str, Any]:
    """A run as one flat row (:func:`doc_row`), ``status`` as readers show it."""
    keys, values = _flat(run)
    out = dict(zip(keys, values, strict=True))
    out["status"] = run.status
    return out


def _flat(run: RunView) -> tuple[tuple[str, ...], list[Any]]:
    """A run's row as (column names, values): the index's, else made from its manifest now."""
    flat = run._flat  # noqa: SLF001 (set by the index; None once a link changed the manifest)
    if flat is None:
        made = doc_row(run.doc)
        flat = run._flat = (tuple(made), list(made.values()))  # noqa: SLF001
    return flat


def column_order(runs: Sequence[RunView]) -> list[str]:
    """The columns of :meth:`RunSet.to_pandas` in order (those of :func:`frame_columns`)."""
    shapes: dict[int, tuple[str, ...]] = {}
    for run in runs:
        keys = (run._flat or _flat(run))[0]  # noqa: SLF001
        shapes.setdefault(id(keys), keys)
    order: dict[str, None] = dict.fromkeys(BASE_COLUMNS)
    for keys in shapes.values():
        for k in keys:
            order.setdefault(k, None)
    return list(order)


def frame_columns(runs: Sequence[RunView]) -> dict[str, list[Any]]:
    """The columns of :meth:`RunSet.to_pandas`, column by column: runs with the same column
    names (most of a project's) are transposed together; a column a run lacks holds NaN
    there (as a frame built row by row has). Order: :data:`BASE_COLUMNS`, then by first use
    (:func:`column_order`)."""
    import numpy as np  # noqa: PLC0415

    n = len(runs)
    by_shape: dict[int, tuple[tuple[str, ...], list[int], list[list[Any]]]] = {}
    for i, run in enumerate(runs):
        keys, values = run._flat or _flat(run)  # noqa: SLF001 (the index's row, else one made now)
        group = by_shape.get(id(keys))
        if group is None:
            group = by_shape[id(keys)] = (keys, [], [])
        group[1].append(i)
        group[2].append(values)
    if len(by_shape) > 1:  # equal names held by different tuples (rows made apart) are one shape
        merged: dict[tuple[str, ...], tuple[tuple[str, ...], list[int], list[list[Any]]]] = {}
        for keys, rows, values in by_shape.values():
            same = merged.get(keys)
            if same is None:
                merged[keys] = (keys, rows, values)
            else:
                same[1].extend(rows)
                same[2].extend(values)
        by_shape = {id(k): g for k, g in merged.items()}
    order: dict[str, None] = dict.fromkeys(BASE_COLUMNS)
    for keys, _rows, _values in by_shape.values():
        for k in keys:
            order.setdefault(k, None)
    if len(by_shape) == 1:
        ((keys, _rows, values),) = by_shape.values()
        columns = {k: list(c) for k, c in zip(keys, zip(*values, strict=True), strict=True)}
        for k in order:
            columns.setdefault(k, [np.nan] * n)
    else:
        arrays: dict[str, Any] = {}
        for keys, rows, values in by_shape.values():
            where = np.array(rows, dtype=np.intp)
            for k, c in zip(keys, zip(*values, strict=True), strict=True):
                array = arrays.get(k)
                if array is None:
                    array = arrays[k] = np.full(n, np.nan, dtype=object)
                array[where] = np.fromiter(c, dtype=object, count=len(c))
        columns = {k: arrays[k].tolist() if k in arrays else [np.nan] * n for k in order}
    columns["status"] = [r.status for r in runs]
    return {k: columns[k] for k in order}


def table(runs: Sequence[RunView]) -> DataFrame:
    """The frame of :meth:`RunSet.to_pandas`, built from the runs' rows."""
    import pandas as pd  # noqa: PLC0415

    frame = pd.DataFrame(frame_columns(runs))
    for col in _format.TIMESTAMP_FIELDS:
        frame[col] = pd.to_datetime(frame[col], utc=True, errors="coerce", format="ISO8601")
    return frame


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Building an index or a table allocates millions of small objects, none of them
    garbage; the cyclic collector would walk the growing graph again and again (a quarter
    of a warm open, a third of a 100,000-run frame)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


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

    @overload
    def best(self, key: str, goal: str = "max") -> RunView | None: ...
    @overload
    def best(self, key: None = None, goal: str = "max", *, per: str | Sequence[str], metric: str) -> RunSet: ...
    @overload
    def best(self, key: None = None, goal: str = "max", *, metric: str) -> RunView | None: ...
    def best(
        self,
        key: str | None = None,
        goal: str = "max",
        *,
        per: str | Sequence[str] | None = None,
        metric: str | None = None,
    ) -> RunView | RunSet | None:
        """The run with the highest (``goal="max"``) or lowest (``"min"``) value of ``metric``
        (or ``key``, the same); runs without a number there (missing, NaN, infinite) are
        ignored. None if no run has one.

        With ``per`` (a field, or several), the best run of each group instead, as a RunSet
        in group order (groups where no run has a number are left out):
        ``runs.best(per="group", metric="summary.val_acc", goal="max")``.
        """
        if goal not in _GOALS:
            msg = f"goal must be 'max' or 'min', got {goal!r}"
            raise ValueError(msg)
        if key is not None and metric is not None and key != metric:
            msg = f"best: give the metric once (key={key!r}, metric={metric!r})"
            raise ValueError(msg)
        name = metric if metric is not None else key
        if name is None:
            msg = "best needs the metric to compare, e.g. best(metric='summary.acc', goal='max')"
            raise ValueError(msg)
        if per is not None:
            picked = [b for members in self.groups(per).values() if (b := members.best(name, goal)) is not None]
            return RunSet(picked)
        get = _filter.getter(_filter.parse_field(name))
        scored = [(v, r) for r in self._runs if (v := _aggregate.finite_number(get(r))) is not None]
        if not scored:
            return None
        pick = max if goal == "max" else min
        return pick(scored, key=lambda item: item[0])[1]

    def aggregate(
        self,
        by: str | Sequence[str] = ("group",),
        metrics: str | Sequence[str] = (),
        *,
        stat: str | Sequence[str] = ("mean", "std", "n"),
        status: str | Sequence[str] | None = "finished",
        best_per: str | None = None,
        goal: str = "max",
    ) -> DataFrame:
        """The numbers of a paper's table: per group, statistics of each metric.

        Rows are keyed by ``project`` and the ``by`` fields (``"group"``, ``"config.model"``,
        several: ``["config.model", "config.lr"]``): the index of the DataFrame. Columns are
        ``(metric, stat)`` pairs (``df["summary.acc", "mean"]``) plus ``"runs"``, the runs
        counted in the row. ``stat`` takes any of ``mean, std, n, sem, ci95`` (half-width of
        the 95% confidence interval of the mean, Student's t), ``ci95_low, ci95_high, median,
        q1, q3, iqr, min, max``, and ``text`` (``"0.92 ± 0.01"``, ``"0.92 ± —"`` for one value).

        Only finite numbers count, and ``n`` is per cell: the runs that have that metric. A
        single value has no std or confidence interval (NaN). Only ``finished`` runs count
        unless ``status`` says otherwise (a status, a list, or None for all); what was counted
        and left out is in ``df.attrs["counted"]`` and ``df.attrs["left_out"]`` (by status).

        ``best_per`` (one of the ``by`` fields) keeps, per value of it, only the row with the
        best mean of the first metric (``goal`` max or min): the best configuration per group,
        e.g. ``aggregate(by=["config.model", "config.lr"], metrics=["summary.acc"],
        best_per="config.model")``.
        """
        require_pandas()
        names = [metrics] if isinstance(metrics, str) else list(metrics)
        stats = [stat] if isinstance(stat, str) else list(stat)
        table = _aggregate.aggregate_runs(self._runs, by, names, status=status)
        if best_per is not None:
            if not names:
                msg = "best_per needs a metric to compare groups by"
                raise ValueError(msg)
            table = _aggregate.best_rows(table, best_per, names[0], goal)
        frame: DataFrame = _aggregate.frame(table, stats)
        return frame

    def groups(self, by: str | Sequence[str]) -> dict[Any, RunSet]:
        """The runs grouped by the value of a field (``"group"``, ``"config.batch_size"``,
        ``"month"``), or by several (keys are then tuples), in key order (missing values last),
        each group keeping this set's order."""
        fields = check_by(by)  # an unknown field is an error, not one big group
        getters = [key_of(f) for f in fields]  # each field parsed once
        out: dict[Any, list[RunView]] = {}
        for run in self._runs:
            keys = tuple(get(run) for get in getters)
            out.setdefault(keys[0] if len(keys) == 1 else keys, []).append(run)
        return {k: RunSet(out[k]) for k in sorted(out, key=group_order)}

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
        with collector_paused():
            frame = _frame.cached(self._runs, table, frame_columns, column_order)  # every run of a large ledger
            return frame if frame is not None else table(self._runs)

    def compute_hours(self, by: str = "group", *, price: Mapping[str, float] | None = None) -> DataFrame:
        """Compute used, per ``by`` (group, job_type, user, host, month, project, gpu: the
        GPU model, or any field): runs, hours (active time), gpu_hours (active time x GPUs: those the job
        scheduler allocated where the run recorded an allocation, else those it saw),
        allocated_runs (how many runs counted their allocation) and, with ``price``, cost.

        ``price`` maps what an hour costs: ``"gpu"`` per GPU hour, GPU model names per GPU
        hour of that model (``{"A100": 3.0, "H100": 4.5}``, matched case-insensitively as a
        part of the GPU name the run recorded, ``NVIDIA A100-SXM4-80GB``; the longest match
        wins, ``"gpu"`` prices the others), ``"cpu"`` per hour of a run without GPUs. A row
        with GPU hours no price covers has no cost (NaN), and a warning names the GPUs.
        A crashed run counts until its last record or heartbeat.
        """
        require_pandas()
        import pandas as pd  # noqa: PLC0415

        table = compute_table(self._runs, by, price=price)
        columns = [by, "runs", "hours", "gpu_hours", "allocated_runs"] + (["cost"] if price is not None else [])
        rows = [
            [r.key, r.runs, r.hours, r.gpu_hours, r.allocated]
            + ([math.nan if r.cost is None else r.cost] if price else [])
            for r in table
        ]
        return pd.DataFrame(rows, columns=columns)


@dataclass(frozen=True)
class ComputeRow:
    """Compute of one group: runs, hours, GPU hours, cost (None without a price, or when
    some GPU hours have none) and the GPU models whose hours no price covers."""

    key: Any
    runs: int
    hours: float
    gpu_hours: float
    cost: float | None = None
    unpriced: tuple[str, ...] = ()
    allocated: int = 0
    """Runs whose GPU hours count what their job scheduler allocated (the others: the GPUs they saw)."""


_PRICE_CPU, _PRICE_GPU = "cpu", "gpu"


def check_price(price: Mapping[str, Any]) -> dict[str, float]:
    """A price mapping with its keys as given and values as floats; ValueError naming a bad one."""
    if not isinstance(price, Mapping) or not price:
        msg = f"price must be a mapping such as {{'gpu': 2.5, 'cpu': 0.1}} or {{'A100': 3.0}}, got {price!r}"
        raise ValueError(msg)
    out: dict[str, float] = {}
    for key, value in price.items():
        number = _aggregate.finite_number(value)
        if not isinstance(key, str) or not key.strip() or number is None or number < 0:
            msg = (
                f"price {key!r}: {value!r} is not a price per hour (a number >= 0); keys are 'gpu' (per GPU hour), "
                f"'cpu' (per hour of a run without GPUs) or a GPU model such as 'A100'"
            )
            raise ValueError(msg)
        out[key.strip()] = number
    return out


def parse_price(texts: str | Iterable[str]) -> dict[str, float]:
    """Prices written as text, ``"gpu=2.5, cpu=0.1"`` or ``["A100=3", "cpu=0.1"]`` (the CLI's
    ``--price``, a viewer's text box), as the mapping ``price=`` takes; ValueError naming a
    part that is not ``NAME=PRICE``."""
    out: dict[str, float] = {}
    for text in [texts] if isinstance(texts, str) else list(texts):
        for part in (p.strip() for p in text.split(",")):
            if not part:
                continue
            key, sep, number = part.partition("=")
            try:
                value = float(number)
            except ValueError:
                sep = ""
            if not sep or not key.strip():
                msg = (
                    f"price {part!r}: give NAME=PRICE per hour: gpu=2.5 (per GPU hour), cpu=0.1 (per hour of a run "
                    f"without GPUs) or a GPU model, A100=3.0"
                )
                raise ValueError(msg)
            out[key.strip()] = value
    return check_price(out)


def gpu_price(model: str | None, price: Mapping[str, float]) -> float | None:
    """What an hour of GPU ``model`` costs: the longest model key found in its name, else
    the ``gpu`` price, else None."""
    if model:
        name = model.lower()
        found = [k for k in price if k.lower() not in (_PRICE_CPU, _PRICE_GPU) and k.lower() in name]
        if found:
            return price[max(found, key=len)]
    return price.get(_PRICE_GPU)


def compute_table(runs: Iterable[RunView], by: str, *, price: Mapping[str, float] | None = None) -> list[ComputeRow]:
    """One :class:`ComputeRow` per value of ``by``, sorted by key (None last)."""
    prices = check_price(price) if price is not None else None
    groups = RunSet(runs).groups(by)
    out = []
    unpriced_all: dict[str, float] = {}
    for key, members in sorted(groups.items(), key=lambda kv: (kv[0] is None, str(kv[0]))):
        hours = gpu_hours = cost = 0.0
        allocated = 0
        unpriced: dict[str, float] = {}
        for run in members:
            h, g, basis = _format.compute_hours(
                run.active_seconds(), run.doc.get("gpu_count"), run.doc.get("allocation")
            )
            hours += h
            gpu_hours += g
            allocated += basis == _format.ALLOCATION_BASIS
            if prices is None:
                continue
            models = _format.gpu_models(run.doc)
            if not models:
                cost += h * prices.get(_PRICE_CPU, 0.0)
                continue
            for model in models:
                each = gpu_price(model, prices)
                if each is None:
                    unpriced[model or "unknown GPU"] = unpriced.get(model or "unknown GPU", 0.0) + h
                else:
                    cost += h * each
        for model, h in unpriced.items():
            unpriced_all[model] = unpriced_all.get(model, 0.0) + h
        out.append(
            ComputeRow(
                key, len(members), round(hours, 6), round(gpu_hours, 6),
                None if prices is None or unpriced else round(cost, 6), tuple(sorted(unpriced)), allocated,
            )
        )  # fmt: skip
    if unpriced_all:
        listed = ", ".join(f"{m} ({h:.3g} GPU hours)" for m, h in sorted(unpriced_all.items()))
        warnings.warn(
            f"no price for {listed}: add the model or 'gpu' to price=; those rows have no cost",
            UserWarning,
            stacklevel=3,
        )
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
