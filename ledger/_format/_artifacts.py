"""Artifacts in format 1: references (``name:v3``), version manifests and alias moves.

A project's artifacts live in ``<project>/artifacts/`` (the names are in :mod:`._names`):
content-addressed blobs, one immutable YAML manifest per version (``<name>/v<N>.yaml``), and
per alias one file per move (``<name>/aliases/<alias>/<k>.yaml``, the highest k is where the
alias points now). Every file is made once by exclusive create and never rewritten, so
many writers share a root without locks. docs/format.md (section 11) is the normative text.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

from ledger._errors import CorruptFileError, FormatVersionError, InvalidNameError
from ledger._format._names import (
    ARTIFACT_BLOBS,
    FORMAT_VERSION,
    check_name,
    check_relative_file,
)
from ledger._format._yaml import sorted_tree, yaml_dump, yaml_load

LATEST = "latest"  # the alias every new version takes: always the highest version
BEST = "best"  # the alias integrations move to the best checkpoint
_VERSION_RE = re.compile(r"v(\d{1,9})")
_SHA256_RE = re.compile(r"[0-9a-f]{64}")
SOURCES = ("file", "folder")  # what was logged: one file, or a folder of files


def check_artifact_name(value: object) -> str:
    """An artifact name: a path component (as a project or run id) other than ``blobs``."""
    name = check_name("artifact name", value)
    if name == ARTIFACT_BLOBS:
        msg = f"artifact name {name!r} is reserved (the folder of the blobs); choose another name"
        raise InvalidNameError(msg)
    return name


def check_alias(value: object) -> str:
    """An alias: a name that is not a version (``v3``)."""
    alias = check_name("alias", value)
    if _VERSION_RE.fullmatch(alias):
        msg = f"alias {alias!r} looks like a version; aliases are names such as 'best' or 'production'"
        raise InvalidNameError(msg)
    return alias


def is_sha256(value: object) -> bool:
    """Whether ``value`` is a sha256 digest as the format spells it (64 lowercase hex digits)."""
    return isinstance(value, str) and _SHA256_RE.fullmatch(value) is not None


@dataclass(frozen=True)
class Ref:
    """A reference to an artifact version: ``[project/]name[:v<N> | :alias]`` (``latest``
    when neither is given). ``version`` is set for ``v<N>``, ``alias`` otherwise."""

    project: str | None
    name: str
    version: int | None = None
    alias: str | None = None

    def __str__(self) -> str:
        head = f"{self.project}/{self.name}" if self.project else self.name
        return f"{head}:v{self.version}" if self.version is not None else f"{head}:{self.alias}"


def parse_ref(text: object) -> Ref:
    """``"mnist"``, ``"mnist:v3"``, ``"mnist:best"``, ``"vision/mnist:latest"`` as a :class:`Ref`;
    InvalidNameError naming what is wrong otherwise."""
    if not isinstance(text, str) or not text:
        msg = f"artifact reference {text!r}: give 'name', 'name:v3', 'name:latest' or 'project/name:alias'"
        raise InvalidNameError(msg)
    head, _, selector = text.partition(":")
    project, _, name = head.rpartition("/")
    if project:
        check_name("project", project)
    check_artifact_name(name)
    if not selector:
        return Ref(project or None, name, alias=LATEST)
    found = _VERSION_RE.fullmatch(selector)
    if found:
        version = int(found.group(1))
        if version < 1:
            msg = f"artifact reference {text!r}: versions count from v1"
            raise InvalidNameError(msg)
        return Ref(project or None, name, version=version)
    return Ref(project or None, name, alias=check_alias(selector))


def version_file_name(version: int) -> str:
    """``v3.yaml``."""
    return f"v{version}.yaml"


def version_of_file(name: str) -> int | None:
    """The N of ``v<N>.yaml`` (N >= 1), None for any other name."""
    if not name.endswith(".yaml"):
        return None
    found = _VERSION_RE.fullmatch(name[: -len(".yaml")])
    return int(found.group(1)) if found and int(found.group(1)) >= 1 else None


def move_of_file(name: str) -> int | None:
    """The k of an alias move ``<k>.yaml`` (k >= 1), None for any other name."""
    stem = name[: -len(".yaml")] if name.endswith(".yaml") else ""
    return int(stem) if stem.isdigit() and len(stem) <= 9 and int(stem) >= 1 else None


# ---- version manifests ----------------------------------------------------------------------


@dataclass(frozen=True)
class ArtifactFile:
    """One file of an artifact version: its path inside the version, size and sha256."""

    path: str
    size: int
    sha256: str


# The keys of a version manifest, in the order written: (key, meaning), for docs/format.md.
VERSION_KEYS = (
    ("format", "`1`"),
    ("name", "the artifact's name (= its folder)"),
    ("version", "N (= the file's name, `v<N>.yaml`)"),
    ("type", "`model`, `dataset`, ... as given, or null"),
    ("created", "when the version was made (timestamp)"),
    ("run", "the id of the run that logged it (a run of the same project), or null"),
    ("source", "`file` (one file was logged) or `folder`"),
    ("size", "the bytes of its files, added up"),
    ("digest", "sha256 of its file list (below): equal digests, equal contents"),
    ("metadata", "a mapping given by the logger (epoch, score, ...), keys sorted"),
    ("files", "one `{path, size, sha256}` per file, sorted by path"),
)


def files_digest(files: list[ArtifactFile]) -> str:
    """The digest of a version's contents: sha256 of its ``path<TAB>sha256`` lines, sorted by path."""
    lines = "".join(f"{f.path}\t{f.sha256}\n" for f in sorted(files, key=lambda f: f.path))
    return hashlib.sha256(lines.encode("utf-8")).hexdigest()


@dataclass
class VersionManifest:
    """The content of ``<name>/v<N>.yaml``."""

    name: str
    version: int
    type: str | None
    created: str
    run: str | None
    source: str
    files: list[ArtifactFile]
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def size(self) -> int:
        """The bytes of its files, added up."""
        return sum(f.size for f in self.files)

    @property
    def digest(self) -> str:
        """sha256 of its file list (:func:`files_digest`)."""
        return files_digest(self.files)

    def to_yaml(self) -> bytes:
        """Serialise in the order of :data:`VERSION_KEYS`."""
        doc = {
            "format": FORMAT_VERSION, "name": self.name, "version": self.version, "type": self.type,
            "created": self.created, "run": self.run, "source": self.source, "size": self.size,
            "digest": self.digest, "metadata": sorted_tree(self.metadata),
            "files": [{"path": f.path, "size": f.size, "sha256": f.sha256} for f in self.files],
        }  # fmt: skip
        return yaml_dump(doc)

    @classmethod
    def from_yaml(cls, data: bytes, where: str) -> VersionManifest:
        """Parse and check a version manifest: CorruptFileError naming the first key that is
        not what the format says (FormatVersionError for another format)."""
        doc = yaml_load(data, where)
        if not isinstance(doc, dict):
            msg = f"{where}: an artifact version must be a YAML mapping, found {type(doc).__name__}"
            raise CorruptFileError(msg)
        if doc.get("format") != FORMAT_VERSION:
            if doc.get("format") is None:
                msg = f"{where}: missing 'format' key; this is not an artifact version"
                raise CorruptFileError(msg)
            raise FormatVersionError(where, doc.get("format"), FORMAT_VERSION)
        name = _checked(doc, "name", str, where)
        version = _checked(doc, "version", int, where)
        files = []
        paths: set[str] = set()
        for i, entry in enumerate(_checked(doc, "files", list, where)):
            if not isinstance(entry, dict):
                msg = f"{where}: files[{i}] must be a mapping {{path, size, sha256}}"
                raise CorruptFileError(msg)
            path, size, sha = entry.get("path"), entry.get("size"), entry.get("sha256")
            try:
                ok_path = isinstance(path, str) and check_relative_file(path) == path
            except InvalidNameError:
                ok_path = False
            ok_size = isinstance(size, int) and not isinstance(size, bool) and size >= 0
            if not (ok_path and ok_size and is_sha256(sha)) or path in paths:
                msg = (
                    f"{where}: files[{i}] is not a file of this format (a relative path met once, a size "
                    f"in bytes, a sha256 of 64 lowercase hex digits): {entry!r}"
                )
                raise CorruptFileError(msg)
            paths.add(str(path))
            files.append(ArtifactFile(str(path), int(size), str(sha)))  # type: ignore[arg-type]
        folders = {p.rsplit("/", i)[0] for p in paths for i in range(1, p.count("/") + 1)}
        if folders & paths:
            msg = f"{where}: {min(folders & paths)!r} is both a file and a folder of this version"
            raise CorruptFileError(msg)
        source = doc.get("source")
        if source not in SOURCES:
            msg = f"{where}: 'source' must be one of {', '.join(SOURCES)}, found {source!r}"
            raise CorruptFileError(msg)
        metadata = doc.get("metadata")
        if metadata is not None and not isinstance(metadata, dict):
            msg = f"{where}: 'metadata' must be a mapping, found {metadata!r}"
            raise CorruptFileError(msg)
        manifest = cls(
            name=name, version=version, type=_optional(doc, "type", where),
            created=_checked(doc, "created", str, where), run=_optional(doc, "run", where), source=str(source),
            files=files, metadata=metadata or {},
        )  # fmt: skip
        if version < 1:
            msg = f"{where}: 'version' must be 1 or more, found {version}"
            raise CorruptFileError(msg)
        return manifest


def _checked(doc: dict[str, Any], key: str, kind: type, where: str) -> Any:
    value = doc.get(key)
    if not isinstance(value, kind) or isinstance(value, bool):
        msg = f"{where}: '{key}' must be {'an' if kind is int else 'a'} {kind.__name__}, found {value!r}"
        raise CorruptFileError(msg)
    return value


def _optional(doc: dict[str, Any], key: str, where: str) -> str | None:
    value = doc.get(key)
    if value is not None and not isinstance(value, str):
        msg = f"{where}: '{key}' must be a str or null, found {value!r}"
        raise CorruptFileError(msg)
    return value


# ---- alias moves ----------------------------------------------------------------------------

# The keys of an alias move, in the order written: (key, meaning), for docs/format.md.
ALIAS_KEYS = (
    ("format", "`1`"),
    ("alias", "the alias (= its folder)"),
    ("version", "the version it points to from now on"),
    ("moved", "when (timestamp)"),
    ("run", "the id of the run that moved it, or null"),
)


@dataclass(frozen=True)
class AliasMove:
    """The content of ``<name>/aliases/<alias>/<k>.yaml``: the alias points to ``version``
    from this move on (until a move with a higher k)."""

    alias: str
    version: int
    moved: str
    run: str | None

    def to_yaml(self) -> bytes:
        """Serialise in the order of :data:`ALIAS_KEYS`."""
        doc = {"format": FORMAT_VERSION, "alias": self.alias, "version": self.version, "moved": self.moved,
               "run": self.run}  # fmt: skip
        return yaml_dump(doc)

    @classmethod
    def from_yaml(cls, data: bytes, where: str) -> AliasMove:
        """Parse and check an alias move (CorruptFileError naming what is wrong)."""
        doc = yaml_load(data, where)
        if not isinstance(doc, dict) or doc.get("format") != FORMAT_VERSION:
            if isinstance(doc, dict) and doc.get("format") is not None:
                raise FormatVersionError(where, doc.get("format"), FORMAT_VERSION)
            msg = f"{where}: not an alias move of format {FORMAT_VERSION}"
            raise CorruptFileError(msg)
        version = _checked(doc, "version", int, where)
        if version < 1:
            msg = f"{where}: 'version' must be 1 or more, found {version}"
            raise CorruptFileError(msg)
        alias = _checked(doc, "alias", str, where)
        return cls(alias, version, _checked(doc, "moved", str, where), _optional(doc, "run", where))


# ---- lineage entries in run.yaml ------------------------------------------------------------


def lineage_entry(project: str, manifest: VersionManifest) -> dict[str, Any]:
    """How run.yaml's ``used_artifacts`` and ``logged_artifacts`` name a version:
    ``{project, name, version, type, digest}``."""
    return {"project": project, "name": manifest.name, "version": manifest.version, "type": manifest.type,
            "digest": manifest.digest}  # fmt: skip


def entry_key(entry: object) -> tuple[str, str, int] | None:
    """(project, name, version) of a lineage entry read from a run.yaml, or None when it is not one."""
    if not isinstance(entry, dict):
        return None
    project, name, version = entry.get("project"), entry.get("name"), entry.get("version")
    if isinstance(project, str) and isinstance(name, str) and type(version) is int:
        return project, name, version
    return None
