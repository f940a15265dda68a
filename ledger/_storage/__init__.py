"""Storage backends behind one interface: the only layer that touches files.

- :class:`LocalStorage`: a local folder, through ``os``;
- :class:`FsspecStorage`: any fsspec filesystem (``memory://``, ``s3://``, ...); the only
  importer of fsspec;
- :class:`HttpStorage`: a published ledger over ``http(s)://``, read-only.

:func:`open_storage` picks the backend for a URL. Callers ask a backend's
:class:`Capabilities` (appends, lists, conditional create, writes, local), never its kind.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from ledger._storage._base import Capabilities, Entry, Listing, Stat, Storage, retrying
from ledger._storage._http import HttpStorage
from ledger._storage._local import LocalStorage

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "Capabilities",
    "Entry",
    "HttpStorage",
    "Listing",
    "LocalStorage",
    "Stat",
    "Storage",
    "open_storage",
    "retrying",
]


def open_storage(url: str | os.PathLike[str], storage_options: Mapping[str, Any] | None = None) -> Storage:
    """The backend for ``url``: a path (relative paths are taken from the current folder),
    a ``file://`` or other fsspec URL (``storage_options`` go to fsspec), or ``http(s)://``."""
    url = os.fspath(url)
    if url.startswith(("http://", "https://")):
        return HttpStorage(url)
    if "://" not in url and not url.startswith(("file:", "memory:")):
        return LocalStorage(os.path.abspath(url))
    from ledger._storage._fsspec import FsspecStorage, split_url  # noqa: PLC0415 (fsspec only when asked)

    fs, path, local = split_url(url, storage_options)
    return LocalStorage(path) if local else FsspecStorage(fs, path)
