"""Non-finite floats on disk: one spelling in metric records, one in JSON copies of manifests.

JSON has no NaN or infinity (orjson would silently write null, and a diverged loss must
not become "no value"), so:

- **records** (``metrics.jsonl``, ``system.jsonl``) write them as the strings ``"NaN"``,
  ``"Infinity"``, ``"-Infinity"``; no other string is a valid record value, so the strings
  are unambiguous there;
- **JSON copies of manifests** (the index cache ``.cache/index.json``, a publication's
  ``index.json``), where a string is a legitimate config value, write them as
  ``{"$nonfinite": "NaN" | "Infinity" | "-Infinity"}``;
- manifests themselves are YAML, which has ``.nan``, ``.inf`` and ``-.inf``.

Each spelling is encoded and decoded here and nowhere else.
"""

from __future__ import annotations

import math
from typing import Any

NONFINITE_MARKER = "$nonfinite"
_BY_TEXT = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def nonfinite_text(value: float) -> str:
    """The spelling of a non-finite float: ``NaN``, ``Infinity`` or ``-Infinity``."""
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def finite_or_text(value: Any) -> Any:
    """A record value as JSON can hold it: non-finite floats as their spelling."""
    if type(value) is float and not math.isfinite(value):
        return nonfinite_text(value)
    return value


def json_ready(value: Any) -> Any:
    """Plain data for JSON output (the CLI's ``--format json``): non-finite floats spelt as in
    records, at any depth."""
    if isinstance(value, float) and not math.isfinite(value):
        return nonfinite_text(value)
    if isinstance(value, list):
        return [json_ready(v) for v in value]
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    return value


def restore_record_value(value: Any) -> Any:
    """A decoded record value with the non-finite spellings back as floats (at any depth)."""
    if type(value) is str:
        return _BY_TEXT.get(value, value)
    if type(value) is dict:
        return {k: restore_record_value(v) for k, v in value.items()}
    return value


def too_deep(value: Any, limit: int) -> bool:
    """Whether ``value`` nests mappings and lists more than ``limit`` levels deep (checked
    level by level, without recursion, so any depth can be measured: readers refuse such
    values before code that walks them recursively meets them)."""
    level = [value] if type(value) is dict or type(value) is list else []
    depth = 0
    while level:
        depth += 1
        if depth > limit:
            return True
        below: list[Any] = []
        for item in level:
            below += [c for c in (item.values() if type(item) is dict else item) if type(c) is dict or type(c) is list]
        level = below
    return False


class NotJsonExact(Exception):  # noqa: N818 (a signal to callers, not an error to users)
    """A manifest value JSON cannot carry exactly: a date, a non-text key, an int past 64 bits."""


def manifest_to_json(value: Any) -> tuple[Any, bool]:
    """A JSON-exact copy of manifest data, non-finite floats as ``{"$nonfinite": ...}``, and
    whether such a marker was needed. Raises :class:`NotJsonExact` for what JSON cannot hold."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        marked = False
        for k, v in value.items():
            if not isinstance(k, str):
                raise NotJsonExact
            out[k], m = manifest_to_json(v)
            marked = marked or m
        return out, marked
    if isinstance(value, list):
        items = [manifest_to_json(v) for v in value]
        return [v for v, _ in items], any(m for _, m in items)
    if isinstance(value, float):
        if math.isfinite(value):
            return value, False
        return {NONFINITE_MARKER: nonfinite_text(value)}, True
    if value is None or isinstance(value, (str, bool)):
        return value, False
    if isinstance(value, int):
        if abs(value) >= 2**63:
            raise NotJsonExact  # orjson cannot write it
        return value, False
    raise NotJsonExact


def manifest_from_json(value: Any) -> Any:
    """Undo :func:`manifest_to_json`'s markers."""
    if isinstance(value, dict):
        marker = value.get(NONFINITE_MARKER) if len(value) == 1 else None
        if isinstance(marker, str) and marker in _BY_TEXT:
            return _BY_TEXT[marker]
        return {k: manifest_from_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [manifest_from_json(v) for v in value]
    return value
