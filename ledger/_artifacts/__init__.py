"""Artifacts: versioned files (datasets, checkpoints, results) kept once per content in a
project's ``artifacts/`` folder, with their aliases and the runs that made and used them.

It writes files of the root but is not a run, and both sides above use it, so it sits with
the root and the reader (L2): the run logs and uses versions through it, the query side reads
them and their lineage through it. The reading modules are:

- :mod:`._read`: names, versions, aliases, resolving ``name:v3`` / ``name:best``, and the
  :class:`ArtifactVersion`;
- :mod:`._cache`: the local cache where a version's files are handed out, checked by hash.

:mod:`._write` (blobs by exclusive create, version numbers, alias moves) is imported by the
run alone: the read side never imports it.
"""

from ledger._artifacts._cache import cache_base, copy_to, materialise, sha256_file
from ledger._artifacts._read import (
    ArtifactVersion,
    VersionFiles,
    alias_move_path,
    alias_moves,
    aliases,
    named_by,
    names,
    open_version,
    read_version,
    resolve,
    version_files,
    version_path,
    versions,
    with_aliases,
)

__all__ = [
    "ArtifactVersion",
    "VersionFiles",
    "alias_move_path",
    "alias_moves",
    "aliases",
    "cache_base",
    "copy_to",
    "materialise",
    "named_by",
    "names",
    "open_version",
    "read_version",
    "resolve",
    "sha256_file",
    "version_files",
    "version_path",
    "versions",
    "with_aliases",
]
