"""Where a run's bytes go when things go wrong or grow: the spill folder that keeps what its
storage did not take, and the media budget warning."""

from __future__ import annotations

import os
import re
import tempfile
import time
from typing import TYPE_CHECKING

from ledger import _format, _settings
from ledger._storage import LocalStorage
from ledger._units import human_bytes as human

if TYPE_CHECKING:
    from collections.abc import Iterable

SPILL_INFO = "spill.yaml"
_USERINFO = re.compile(r"^([a-z][a-z0-9+.-]*://)[^/@]*@", re.IGNORECASE)


def spill_base() -> str:
    """Where runs keep what their storage did not take: $LEDGER_SPILL_DIR, else
    ~/.cache/ledger/spill, else the temporary folder."""
    env = _settings.get(_settings.SPILL_DIR)
    if env:
        return env
    home = os.path.expanduser("~")
    if home != "~" and os.access(home, os.W_OK):
        return os.path.join(home, ".cache", "ledger", "spill")
    return os.path.join(tempfile.gettempdir(), "ledger-spill")


def spill(
    root_url: str,
    project: str,
    run_id: str,
    streams: dict[str, bytes],
    manifest: bytes,
    *,
    files: dict[str, bytes] | None = None,
) -> str:
    """Write a run's unwritten data into a local spill folder; returns the folder. ``streams``
    are keyed by their file name (``metrics.jsonl``), ``files`` (media) by their path in the
    run folder. ``ledger recover`` uploads it later."""
    folder = os.path.join(spill_base(), project, run_id)
    local = LocalStorage(folder)
    for name, data in streams.items():
        if data:
            local.append(name, data, durable=True)
    for path, data in (files or {}).items():
        local.write_atomic(path, data, durable=True)
    local.write_atomic(_format.MANIFEST, manifest, durable=True)
    info = {
        "root": _USERINFO.sub(r"\1", root_url),
        "project": project,
        "id": run_id,
        "spilled": _format.iso(time.time()),
    }
    local.write_atomic(SPILL_INFO, _format.yaml_dump(info), durable=True)
    return folder


def budget_warning(run_id: str, sizes: Iterable[tuple[str, int]]) -> str | None:
    """The warning for a run whose media and saved files exceed $LEDGER_MEDIA_BUDGET_MB, or None."""
    budget = _settings.get(_settings.MEDIA_BUDGET_MB) * 2**20
    items = sorted(sizes, key=lambda item: -item[1])
    total = sum(size for _, size in items)
    if total <= budget:
        return None
    largest = ", ".join(f"{path} ({human(size)})" for path, size in items[:5])
    exts = sorted({path.rsplit(".", 1)[-1] for path, _ in items[:5] if "." in path.rsplit("/", 1)[-1]})
    lines = "\n".join(f"  **/runs/*/**/*.{ext} filter=lfs diff=lfs merge=lfs -text" for ext in exts)
    return (
        f"ledger: run {run_id} holds {human(total)} of media and files, over its budget of {human(budget)} "
        f"(${_settings.MEDIA_BUDGET_MB.name}); largest: {largest}. Keep them out of plain git with Git LFS, "
        f"e.g. these .gitattributes lines:\n{lines}"
    )
