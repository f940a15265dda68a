"""The viewer's tables as plain functions (no Streamlit): display-safe columns, group
summaries, side-by-side comparison, the log tail and package lists."""

from __future__ import annotations

import io
import math
import re
from typing import TYPE_CHECKING, Any

import pandas as pd

from ledger import _format
from ledger._query import describe

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

ALL = "(all)"

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
    """``mean ± std`` of the finite numbers (the library's ``describe``: sample std, none for
    a single value; n shown when some are missing)."""
    stat = describe(values.tolist())
    if stat.mean is None:
        return ""
    out = f"{stat.mean:.4g}" if stat.std is None else f"{stat.mean:.4g} ± {stat.std:.2g}"
    return out if stat.n == len(values) else f"{out} (n={stat.n})"


def group_summary(frame: pd.DataFrame, metrics: Sequence[str], *, by_job_type: bool = True) -> pd.DataFrame:
    """One row per group (and, below it, one per job_type of a group that has several):
    the number of runs and ``mean ± std`` of each metric column. A group with a single job
    type is one row naming it. Missing groups and job types read ``(none)``."""
    keys = frame[["group", "job_type"]].astype(object).where(frame[["group", "job_type"]].notna(), "(none)")
    rows: list[dict[str, Any]] = []
    for group, members in frame.groupby(keys["group"], sort=True):
        sub_keys = keys.loc[members.index, "job_type"]
        if by_job_type and (sub_keys == sub_keys.iloc[0]).all():
            rows.append(_summary_row(str(group), str(sub_keys.iloc[0]), members, metrics))
            continue
        rows.append(_summary_row(str(group), ALL, members, metrics))
        if by_job_type:
            for job_type, sub in members.groupby(sub_keys, sort=True):
                rows.append(_summary_row(str(group), str(job_type), sub, metrics))
    return pd.DataFrame(rows, columns=["group", "job_type", "runs", *metrics, "ids"])


def _summary_row(group: str, job_type: str, members: pd.DataFrame, metrics: Sequence[str]) -> dict[str, Any]:
    row: dict[str, Any] = {"group": group, "job_type": job_type, "runs": len(members)}
    for metric in metrics:
        row[metric] = mean_std(members[metric]) if metric in members else ""
    row["ids"] = list(members["id"])
    return row


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
