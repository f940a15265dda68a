"""Media references in metric records: what an image, table or histogram record value looks
like, and where its file lives in the run folder.

    {"_type": "image", "path": "media/images/<key>/<step>.png", "width": W, "height": H, "caption": ...}
    {"_type": "table", "path": "media/tables/<key>/<step>.csv", "rows": N, "columns": [...]}
    {"_type": "histogram", "edges": [...], "counts": [...]}          (inline, no file)

A list of image references under one key is allowed. A key holds numbers or media, never both.
"""

from __future__ import annotations

import re
from typing import Any

from ledger._format._names import MEDIA_DIR

TYPE_KEY = "_type"
# kind -> (folder under media/, file extension); histograms are inline (no file).
MEDIA_FILES = {"image": ("images", "png"), "table": ("tables", "csv")}
MEDIA_KINDS = ("image", "table", "histogram")
_UNSAFE = re.compile(r"[^A-Za-z0-9._/-]+")


def media_key_path(key: str) -> str:
    """A metric name as a folder under media/ ('val/samples' stays nested; odd characters become '_')."""
    parts = [p for p in _UNSAFE.sub("_", key).split("/") if p not in ("", ".", "..")]
    return "/".join(parts) or "_"


def media_file(kind: str, key: str, stem: str) -> str:
    """The path in the run folder of the ``kind`` file of ``key`` named ``stem`` (a step, and
    its index within a list or repeat count): ``media/images/val/samples/12.png``."""
    folder, ext = MEDIA_FILES[kind]
    return f"{MEDIA_DIR}/{folder}/{media_key_path(key)}/{stem}.{ext}"


def is_reference(value: Any) -> bool:
    """Whether a record value is a media reference, or a list of them."""
    if isinstance(value, list):
        return bool(value) and all(is_reference(v) for v in value)
    return isinstance(value, dict) and value.get(TYPE_KEY) in MEDIA_KINDS


def references(value: Any, kind: str) -> list[dict[str, Any]]:
    """The references of one ``kind`` in a record value (a reference, or a list of them)."""
    items = value if isinstance(value, list) else [value]
    return [r for r in items if isinstance(r, dict) and r.get(TYPE_KEY) == kind]
