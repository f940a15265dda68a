"""Numbers for a paper: one value from many runs (mean, sample std, n, a 95% confidence
interval, median and IQR) and the group table built from them.

This is the one aggregation of the library: ``RunSet.aggregate`` (a DataFrame), ``ledger
export``, the publication report, the viewer's group table and the sweeps' fold means all
come through :func:`describe` and :func:`aggregate_runs`. The rules:

- only finite numbers count (NaN, infinities, text, booleans and missing values do not);
  ``n`` is per cell: the number of runs that have a number for that metric;
- by default only ``finished`` runs count (``status=`` changes it); the runs left out are
  counted by status, so a table can say what it left out;
- rows are keyed by the project first, then the ``by`` fields: a group name (or no group)
  shared by two projects is two rows;
- the standard deviation is the sample one (n - 1); one value has none (``None``, shown
  ``—``), and neither has its confidence interval;
- the 95% confidence interval of the mean is Student's t: ``mean ± t(0.975, n - 1) · s / √n``;
- quartiles are linear interpolation between order statistics (numpy's and pandas' default).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ledger import _format
from ledger._query import _filter

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

    from ledger._query._views import RunView

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


def _betacf(a: float, b: float, x: float) -> float:
    """The continued fraction of the regularised incomplete beta function (Lentz's method)."""
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 400):
        m2 = 2 * m
        for num in (
            m * (b - m) * x / ((a + m2 - 1) * (a + m2)),
            -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1)),
        ):
            d = 1.0 + num * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + num / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return h


def incomplete_beta(a: float, b: float, x: float) -> float:
    """I_x(a, b), the regularised incomplete beta function."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _betacf(a, b, x) / a
    return 1.0 - math.exp(log_front) * _betacf(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with ``df`` degrees of freedom."""
    tail = 0.5 * incomplete_beta(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t >= 0 else tail


def t_quantile(p: float, df: float) -> float:
    """The ``p`` quantile of Student's t with ``df`` degrees of freedom (0 < p < 1)."""
    if not 0.0 < p < 1.0 or df <= 0:
        msg = f"t_quantile needs 0 < p < 1 and df > 0, got p={p!r}, df={df!r}"
        raise ValueError(msg)
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    low, high = 0.0, 1.0
    while t_cdf(high, df) < p:
        low, high = high, high * 2.0
    for _ in range(200):  # bisection to the last bit
        mid = (low + high) / 2.0
        if mid in (low, high):
            break
        if t_cdf(mid, df) < p:
            low = mid
        else:
            high = mid
    return (low + high) / 2.0


def _quantile(ordered: list[float], q: float) -> float:
    """Linear interpolation between order statistics (numpy's default percentile)."""
    pos = (len(ordered) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


# Every statistic a cell has, in the order tables list them.
STATS = ("mean", "std", "n", "sem", "ci95", "ci95_low", "ci95_high", "median", "q1", "q3", "iqr", "min", "max")
STAT_MEANINGS = {
    "mean": "the mean of the finite values",
    "std": "their sample standard deviation (n - 1); none for one value",
    "n": "how many runs have a finite value (per cell)",
    "sem": "the standard error of the mean, std / sqrt(n)",
    "ci95": "half the width of the 95% confidence interval of the mean (Student's t, n - 1 df)",
    "ci95_low": "mean - ci95",
    "ci95_high": "mean + ci95",
    "median": "the median",
    "q1": "the first quartile (linear interpolation)",
    "q3": "the third quartile (linear interpolation)",
    "iqr": "q3 - q1",
    "min": "the smallest value",
    "max": "the largest value",
}


@dataclass(frozen=True)
class Cell:
    """One metric over one group of runs: every statistic of :data:`STATS` (None where it
    does not exist: no values, or a spread of a single value)."""

    n: int
    mean: float | None = None
    std: float | None = None
    sem: float | None = None
    ci95: float | None = None
    median: float | None = None
    q1: float | None = None
    q3: float | None = None
    min: float | None = None
    max: float | None = None

    @property
    def ci95_low(self) -> float | None:
        return None if self.mean is None or self.ci95 is None else self.mean - self.ci95

    @property
    def ci95_high(self) -> float | None:
        return None if self.mean is None or self.ci95 is None else self.mean + self.ci95

    @property
    def iqr(self) -> float | None:
        return None if self.q1 is None or self.q3 is None or self.n < 2 else self.q3 - self.q1

    def get(self, stat: str) -> float | int | None:
        """A statistic by its name in :data:`STATS`."""
        if stat not in STATS:
            msg = f"unknown statistic {stat!r}; statistics: {', '.join(STATS)}"
            raise ValueError(msg)
        value: float | int | None = getattr(self, stat)
        return value

    def text(self, *, digits: int | None = None, spread: str = "std", sep: str = " ± ", none: str = "—") -> str:
        """``mean ± std`` (or ``± ci95``) as a table shows it: ``digits`` decimals (None: 4
        significant digits, 2 for the spread); ``mean ± —`` for a single value; '' for no value."""
        if self.mean is None:
            return ""
        value = self.ci95 if spread == "ci95" else self.std
        if digits is None:
            mean, rest = f"{self.mean:.4g}", none if value is None else f"{value:.2g}"
        else:
            mean, rest = f"{self.mean:.{digits}f}", none if value is None else f"{value:.{digits}f}"
        return f"{mean}{sep}{rest}"


def cell(values: Iterable[Any]) -> Cell:
    """Every statistic of the finite numbers among ``values``."""
    numbers = sorted(v for v in map(finite_number, values) if v is not None)
    stat = describe(numbers)
    if stat.mean is None:
        return Cell(0)
    n = stat.n
    sem = ci = None
    if stat.std is not None:
        sem = stat.std / math.sqrt(n)
        ci = t_quantile(0.975, n - 1) * sem
    return Cell(
        n, stat.mean, stat.std, sem, ci, statistics.median(numbers), _quantile(numbers, 0.25),
        _quantile(numbers, 0.75), numbers[0], numbers[-1],
    )  # fmt: skip


# ---- groups --------------------------------------------------------------------------------------

BY_ALIASES = {"host": "host.hostname", "month": "created"}
NO_GPU = "(no GPU)"


def gpu_key(run: RunView) -> str:
    """The GPU model(s) a run used (``NVIDIA A100-SXM4-80GB``; several joined with commas;
    ``unknown GPU`` where the model was not recorded), ``(no GPU)`` without GPUs."""
    models = _format.gpu_models(run.doc)
    if not models:
        return NO_GPU
    return ", ".join(sorted({m or "unknown GPU" for m in models}))


# Grouping keys that are not a field of the manifest but computed from several.
COMPUTED_KEYS: dict[str, Callable[[RunView], Any]] = {"gpu": gpu_key}


def group_key(run: RunView, by: str) -> Any:
    """The value a run is grouped under for ``by`` (any field; ``month`` is YYYY-MM of
    creation, ``host`` the hostname, ``gpu`` the GPU model); lists (tags) are joined with commas."""
    return key_of(by)(run)


def key_of(by: str) -> Callable[[RunView], Any]:
    """:func:`group_key` for one field, the field parsed once (grouping 10,000 runs)."""
    if by in COMPUTED_KEYS:
        return COMPUTED_KEYS[by]
    get = _filter.getter(_filter.parse_field(BY_ALIASES.get(by, by)))

    def key(run: RunView) -> Any:
        value = get(run)
        if by == "month" and isinstance(value, str):
            return value[:7]
        if isinstance(value, list):
            return ",".join(map(str, value))
        return value

    return key


def group_order(key: Any) -> tuple[int, int, Any]:
    """Sort key of group keys: None last; numbers by value before text; tuples item by item."""
    if isinstance(key, tuple):
        return (0, 0, tuple(group_order(k) for k in key))
    if key is None:
        return (1, 0, "")
    if isinstance(key, (int, float)) and not isinstance(key, bool):
        return (0, 0, key)
    return (0, 1, str(key))


def check_by(by: str | Sequence[str]) -> list[str]:
    """The ``by`` fields as a list; FilterError (with suggestions) for a field that is not one."""
    fields = [by] if isinstance(by, str) else list(by)
    if not fields:
        msg = "by= needs at least one field, e.g. 'group'"
        raise ValueError(msg)
    for f in fields:
        if f not in COMPUTED_KEYS:
            _filter.parse_field(BY_ALIASES.get(f, f))
    return fields


def check_statuses(status: str | Sequence[str] | None) -> tuple[str, ...] | None:
    """``status=`` as a tuple (None: every status); ValueError for one that is not a status."""
    if status is None:
        return None
    statuses = (status,) if isinstance(status, str) else tuple(status)
    bad = [s for s in statuses if s not in _format.STATUSES]
    if bad:
        msg = f"status {bad[0]!r} is not one of {', '.join(_format.STATUSES)}"
        raise ValueError(msg)
    return statuses


@dataclass
class GroupRow:
    """One row of an aggregate table: the key (project first, then one value per ``by``
    field), the runs counted, and a :class:`Cell` per metric."""

    key: tuple[Any, ...]
    runs: list[RunView]
    cells: dict[str, Cell]


@dataclass
class Aggregate:
    """A group table: the key columns (``project`` and the ``by`` fields), the metrics, one
    :class:`GroupRow` per group in key order, and what was left out (by status)."""

    keys: list[str]
    metrics: list[str]
    rows: list[GroupRow]
    statuses: tuple[str, ...] | None
    left_out: dict[str, int] = field(default_factory=dict)

    @property
    def counted(self) -> int:
        """How many runs the table counts."""
        return sum(len(r.runs) for r in self.rows)

    def describe_counts(self) -> str:
        """One line saying what was counted and what was left out, for people."""
        which = "" if self.statuses is None else " " + "/".join(self.statuses)
        text = f"counted {self.counted}{which} run{'s' if self.counted != 1 else ''} in {len(self.rows)} group"
        text += "s" if len(self.rows) != 1 else ""
        if self.left_out:
            total = sum(self.left_out.values())
            parts = ", ".join(f"{n} {s}" for s, n in sorted(self.left_out.items()))
            text += f"; left out {total} ({parts})"
        return text


def aggregate_runs(
    runs: Iterable[RunView],
    by: str | Sequence[str],
    metrics: Sequence[str],
    *,
    status: str | Sequence[str] | None = "finished",
) -> Aggregate:
    """The group table of ``runs``: rows keyed by (project, *by), a :class:`Cell` per metric
    (``summary.acc``, or any field), counting only runs whose status is in ``status``."""
    fields = check_by(by)
    getters = {m: _filter.getter(_filter.parse_field(m)) for m in metrics}
    statuses = check_statuses(status)
    keys = fields if "project" in fields else ["project", *fields]
    grouped: dict[tuple[Any, ...], list[RunView]] = {}
    left_out: dict[str, int] = {}
    for run in runs:
        if statuses is not None and run.status not in statuses:
            left_out[run.status] = left_out.get(run.status, 0) + 1
            continue
        key = tuple(run.project if k == "project" else group_key(run, k) for k in keys)
        grouped.setdefault(key, []).append(run)
    rows = [
        GroupRow(key, members, {m: cell(get(r) for r in members) for m, get in getters.items()})
        for key, members in sorted(grouped.items(), key=lambda kv: group_order(kv[0]))
    ]
    return Aggregate(keys, list(metrics), rows, statuses, left_out)


def best_rows(table: Aggregate, per: str, metric: str, goal: str) -> Aggregate:
    """Only the row with the best mean of ``metric`` per value of ``per`` (a key column)
    and project: the best configuration per group. Rows without a mean are dropped."""
    if goal not in ("max", "min"):
        msg = f"goal must be 'max' or 'min', got {goal!r}"
        raise ValueError(msg)
    if per not in table.keys:
        msg = f"best per {per!r}: it must be one of the fields grouped by ({', '.join(table.keys)})"
        raise ValueError(msg)
    if metric not in table.metrics:
        msg = f"best by {metric!r}: it must be one of the metrics ({', '.join(table.metrics)})"
        raise ValueError(msg)
    at = [table.keys.index("project"), table.keys.index(per)]
    best: dict[tuple[Any, ...], GroupRow] = {}
    for row in table.rows:
        mean = row.cells[metric].mean
        if mean is None:
            continue
        slot = tuple(row.key[i] for i in at)
        held = best.get(slot)
        if held is None or (mean > held.cells[metric].mean if goal == "max" else mean < held.cells[metric].mean):  # type: ignore[operator]
            best[slot] = row
    kept = [r for r in table.rows if any(r is b for b in best.values())]
    return Aggregate(table.keys, table.metrics, kept, table.statuses, table.left_out)


def frame(table: Aggregate, stats: Sequence[str]) -> Any:
    """The table as a pandas DataFrame: the index is the key columns, the columns are
    ``(metric, stat)`` pairs, plus ``("runs", "")`` (runs counted per row)."""
    import pandas as pd  # noqa: PLC0415 (pandas only for DataFrames)

    for s in stats:
        if s not in (*STATS, "text"):
            msg = f"unknown statistic {s!r}; statistics: {', '.join(STATS)}, text"
            raise ValueError(msg)
    columns = [("runs", ""), *((m, s) for m in table.metrics for s in stats)]
    data: list[list[Any]] = []
    for row in table.rows:
        values: list[Any] = [len(row.runs)]
        for m in table.metrics:
            c = row.cells[m]
            for s in stats:
                if s == "text":
                    values.append(c.text())
                else:
                    v = c.get(s)
                    values.append(math.nan if v is None else v)
        data.append(values)
    index = pd.MultiIndex.from_tuples([r.key for r in table.rows], names=table.keys) if table.rows else None
    out = pd.DataFrame(data, columns=pd.MultiIndex.from_tuples(columns), index=index)
    if not table.rows:
        out.index = pd.MultiIndex.from_arrays([[] for _ in table.keys], names=table.keys)
    for m in table.metrics:
        if "n" in stats:
            out[m, "n"] = out[m, "n"].astype(int)
    out.attrs["counted"] = table.counted
    out.attrs["left_out"] = dict(table.left_out)
    out.attrs["statuses"] = None if table.statuses is None else list(table.statuses)
    return out


def ids(table: Aggregate) -> Mapping[tuple[Any, ...], list[str]]:
    """The ids of the runs counted in each row, by row key."""
    return {row.key: [r.id for r in row.runs] for row in table.rows}
