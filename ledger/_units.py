"""Sizes and durations as people read them, for every face (CLI, viewer, warnings)."""

from __future__ import annotations

import math


def human_bytes(size: float) -> str:
    """A byte count for people: ``512 B``, ``12.3 MB``."""
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"  # pragma: no cover


def hms(seconds: object) -> str:
    """Seconds as ``h:mm:ss``; '' when unknown (None, NaN, not a number)."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds):
        return ""
    s = round(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"
