"""The viewer's tables as plain functions (no Streamlit): display-safe columns, default
columns, groups and their summaries, side-by-side comparison, compute by month, the log
tail and package lists."""

from __future__ import annotations

import io
import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

import ledger
from ledger import _format
from ledger._query import Cell, cell, describe

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

NONE = "(none)"

_NUMERIC_KINDS = frozenset({"integer", "floating", "mixed-integer-float", "decimal", "boolean", "empty"})


def text(value: Any) -> str:
    """A value as the text a table shows: '' for missing, lists joined, floats as Python writes them."""
    if value is None:
        return ""
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    if isinstance(value, (list, tuple)):
        return ", ".join(text(v) for v in value)
    return str(value)


def status_label(status: str) -> str:
    """The status with its colour dot: ``🟢 finished``."""
    return f"{_format.STATUS_SYMBOLS.get(status, '⚪')} {status}"


def display_column(column: pd.Series) -> pd.Series:
    """A column Arrow (and the browser table) can show: numbers stay numbers; a column that
    mixes kinds (numbers and text, lists) becomes text."""
    if column.dtype != object:
        return column
    kind = pd.api.types.infer_dtype(column, skipna=True)
    if kind in _NUMERIC_KINDS:
        if kind == "boolean":
            return column
        return pd.to_numeric(column, errors="coerce")
    if kind == "string":
        return column.where(column.notna(), None)
    return column.map(lambda v: None if v is None or (isinstance(v, float) and math.isnan(v)) else text(v))


def mean_std(values: pd.Series) -> str:
    """``mean ± std`` of the finite numbers, as the group table shows it."""
    return cell_text(cell(values.tolist()), len(values))


# ---- columns ---------------------------------------------------------------------------------------

BASE = ("status", "project", "group", "job_type", "created", "duration")  # shown by default where they vary
GROUPABLE = ("group", "job_type", "user", "tags", "sweep.id", "project", "status", "host.hostname")
# Summary metrics that count rather than measure: never picked as default columns.
COUNTERS = frozenset(
    {"epoch", "epochs", "step", "steps", "global_step", "iteration", "iter", "lr", "learning_rate", "runtime",
     "_runtime", "time", "timestamp", "_timestamp", "n", "count"}
)  # fmt: skip
MAX_CONFIG_DEFAULTS = 8
MAX_SUMMARY_DEFAULTS = 6
_SAMPLE = 2000  # rows looked at to tell whether a column varies


def varies(column: pd.Series) -> bool:
    """Whether a column holds more than one value (missing counts as a value)."""
    text = column.astype(str)
    return bool((text != text.iloc[0]).any()) if len(text) else False


def default_columns(frame: pd.DataFrame, *, sort_key: str | None = None, key_metrics: Sequence[str] = ()) -> list[str]:
    """The columns to show when the user has not chosen any (name is always shown, pinned):
    status, project, group, job type where they vary, created and duration; the sort key; the
    metrics the project says matter (sweep metrics); config keys that vary among these runs
    (constant ones say nothing); summary metrics that vary (counters such as epoch left out)."""
    sample = frame if len(frame) <= _SAMPLE else frame.sample(_SAMPLE, random_state=0)
    out: dict[str, None] = {}
    for column in BASE:
        if column in frame.columns and (column in ("status", "created", "duration") or varies(sample[column])):
            out[column] = None
    if sort_key and sort_key in frame.columns and sort_key != "name":
        out[sort_key] = None
    out.update(dict.fromkeys(m for m in key_metrics if m in frame.columns))
    config = [c for c in frame.columns if c.startswith("config.") and sample[c].notna().any() and varies(sample[c])]
    out.update(dict.fromkeys(config[:MAX_CONFIG_DEFAULTS]))
    summary = [
        c
        for c in frame.columns
        if c.startswith("summary.")
        and re.split(r"[/.]", c)[-1].lower() not in COUNTERS
        and sample[c].notna().any()
        and varies(sample[c])
    ]
    out.update(dict.fromkeys(summary[:MAX_SUMMARY_DEFAULTS]))
    return list(out)


def groupable(columns: Iterable[str]) -> list[str]:
    """The columns runs can be grouped by: group, job type, user, tags, sweep, project, status,
    host, and every config key."""
    present = list(columns)
    return [c for c in GROUPABLE if c in present] + [c for c in present if c.startswith("config.")]


# ---- groups ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Group:
    """Runs that share the values of the grouping fields."""

    fields: tuple[str, ...]
    key: tuple[Any, ...]
    runs: ledger.RunSet

    @property
    def label(self) -> str:
        """``value`` or ``value / value`` (missing values read ``(none)``)."""
        return " / ".join(NONE if v is None else text(v) for v in self.key)


def grouped(runs: ledger.RunSet, by: Sequence[str]) -> list[Group]:
    """``RunSet.groups(by)`` as :class:`Group` s, in key order; runs of several projects are
    keyed by project first, so that the same group name in two projects stays two groups."""
    fields = list(by)
    if fields and "project" not in fields and len({r.project for r in runs}) > 1:
        fields = ["project", *fields]
    if not fields:
        return []
    parts = runs.groups(fields)
    return [Group(tuple(fields), key if isinstance(key, tuple) else (key,), members) for key, members in parts.items()]


def group_table(groups: Sequence[Group], metrics: Sequence[str], values: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per group: its key columns, ``runs``, ``mean ± std`` of each metric (the
    library's aggregate cell: finite numbers only, sample std, ``mean ± —`` for a single value;
    ``(n=k)`` when only k runs have it), and the hidden ``label`` and ``ids``. ``values``, if
    given, holds the metrics by run id (the runs table: nothing is read again). Every run the
    filters select counts, whatever its status (the Runs page's status filter decides)."""
    fields = list(groups[0].fields) if groups else []
    ids = [i for g in groups for i in g.runs.ids]
    columns: dict[str, list[Any]] = {}
    for metric in metrics:  # each metric's values for all groups at once, sliced per group below
        if values is not None and metric in values.columns:
            columns[metric] = values.loc[ids, metric].tolist()
        else:
            columns[metric] = [r.get(metric) for g in groups for r in g.runs]
    rows: list[dict[str, Any]] = []
    start = 0
    for group in groups:
        size = len(group.runs)
        row: dict[str, Any] = {f: NONE if v is None else text(v) for f, v in zip(fields, group.key, strict=True)}
        row["runs"] = size
        row["label"] = group.label
        row["ids"] = group.runs.ids
        for metric in metrics:
            row[metric] = cell_text(cell(columns[metric][start : start + size]), size)
        rows.append(row)
        start += size
    return pd.DataFrame(rows, columns=[*fields, "runs", *metrics, "label", "ids"])


def cell_text(stat: Cell, size: int) -> str:
    """An aggregate cell as the tables show it, with ``(n=k)`` when k of ``size`` runs count."""
    out = stat.text()
    return out if not out or stat.n == size else f"{out} (n={stat.n})"


def compare(values: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """Runs side by side: one row per key (union of all runs' keys, in first-seen order),
    one text column per run, and ``differs`` when the runs disagree (a key only some runs
    have differs)."""
    labels = list(values)
    keys: dict[str, None] = {}
    for flat in values.values():
        keys.update(dict.fromkeys(flat))
    rows = []
    for key in keys:
        raw = [values[label].get(key, _ABSENT) for label in labels]
        differs = any(not _same(raw[0], v) for v in raw[1:])
        rows.append([key, *("" if v is _ABSENT else text(v) for v in raw), differs])
    frame = pd.DataFrame(rows, columns=["key", *labels, "differs"])
    return frame.set_index("key")


_ABSENT = object()


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b


def tail(log: str, lines: int, search: str = "") -> tuple[str, int, int]:
    """The last ``lines`` lines of a log (only those containing ``search``, any case), each
    prefixed with its line number; returns (text, lines shown, lines matched)."""
    all_lines = log.splitlines()
    numbered = list(enumerate(all_lines, 1))
    if search:
        needle = search.casefold()
        numbered = [(i, line) for i, line in numbered if needle in line.casefold()]
    shown = numbered[-lines:] if lines > 0 else []
    width = len(str(len(all_lines)))
    return "\n".join(f"{i:>{width}}  {line}" for i, line in shown), len(shown), len(numbered)


_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*(.*?)\s*$")


def requirements(content: str) -> dict[str, str]:
    """``name -> version spec`` of a requirements.txt (comments, options and blank lines skipped)."""
    out: dict[str, str] = {}
    for raw in content.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        m = _REQUIREMENT.match(line)
        if m:
            spec = m.group(2)
            out[m.group(1).lower().replace("_", "-")] = spec.removeprefix("==").strip() or spec
    return out


def trials(sweep_runs: Iterable[ledger.RunView], params: Sequence[str], metric: str | None) -> pd.DataFrame:
    """One row per trial of a sweep, in trial order: runs (its cv folds), statuses, the run
    (or ``k folds``), each parameter's value, the metric averaged over folds and its std."""
    by_trial: dict[object, list[ledger.RunView]] = {}
    for run in sweep_runs:
        info = run.doc.get("sweep") or {}
        by_trial.setdefault(info.get("trial") if isinstance(info, dict) else None, []).append(run)
    rows = []
    for trial, runs in sorted(by_trial.items(), key=lambda kv: (kv[0] is None, str(kv[0]).zfill(12))):
        first = runs[0]
        statuses: dict[str, int] = {}
        for r in runs:
            statuses[r.status] = statuses.get(r.status, 0) + 1
        row: dict[str, Any] = {
            "trial": trial,
            "runs": len(runs),
            "status": ", ".join(s if n == 1 else f"{s} x{n}" for s, n in statuses.items()),
            "run": (first.name or first.id) if len(runs) == 1 else f"{len(runs)} folds",
        }
        for p in params:
            row[p] = first.get(f"config.{p}")
        if metric:
            stat = describe(r.summary.get(metric) for r in runs)
            row[metric] = math.nan if stat.mean is None else stat.mean
            if len(runs) > 1:
                row[f"{metric} std"] = math.nan if stat.std is None else stat.std
        rows.append(row)
    return pd.DataFrame(rows)


def cumulative_best(values: Iterable[float], goal: str) -> list[float]:
    """The best value so far at each position (NaN until a first number; ``goal`` is
    ``maximize`` or ``minimize``); NaN values never become the best."""
    best = math.nan
    out = []
    for v in values:
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
            better = v > best if goal == "maximize" else v < best
            if math.isnan(best) or better:
                best = float(v)
        out.append(best)
    return out


def media_table(data: bytes, needle: str = "") -> pd.DataFrame:
    """A logged table (CSV bytes) as a frame, keeping the rows where any cell contains ``needle``."""
    frame = pd.read_csv(io.BytesIO(data))
    if needle:
        text = frame.astype(str)
        keep = text.apply(lambda col: col.str.contains(needle, case=False, regex=False)).any(axis=1)
        frame = frame[keep]
    return frame
