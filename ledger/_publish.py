"""`ledger publish`: a self-contained results folder for a paper, and reading one over http(s).

OUT holds the selected runs copied as they are (the same format, so ``ledger.open(OUT)``
works), ``index.json`` listing every run with its manifest and files (so the folder can be
read over plain HTTP, where listing is impossible), and ``index.html``, a report that opens
from the file system with no server and no network.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from ledger import _artifacts, _format, _settings
from ledger._errors import RefusedFileError

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from ledger._storage import Storage

log = logging.getLogger("ledger")

INDEX = _format.PUBLICATION_INDEX
REPORT = _format.PUBLICATION_REPORT

# Names of --strip/--keep that are run files (the others are dotted manifest fields).
_RUN_FILES = frozenset([f.name for f in _format.RUN_FILES] + [s.file for s in _format.STREAMS])


@dataclass
class Published:
    """What a publish did."""

    out: str
    copied: list[str] = field(default_factory=list)  # run ids written (new or changed)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)  # published before, not selected now
    versions: list[str] = field(default_factory=list)  # artifact versions published (project/name:vN)
    skipped: list[str] = field(default_factory=list)  # files not copied: symlinks, special files
    warnings: list[str] = field(default_factory=list)  # names --public could not replace safely


def strip_list(*, public: bool, strip: Iterable[str] = (), keep: Iterable[str] = ()) -> list[str]:
    """The fields and files to leave out: the public list (the format's non-public fields and
    files, if asked), plus ``strip``, minus ``keep``."""
    chosen = list(_format.PUBLIC_STRIP) if public else []
    chosen += [s for s in strip if s not in chosen]
    kept = set(keep)
    return [s for s in chosen if s not in kept]


# Home folders in any string: /home/<login>, /Users/<login>, C:\\Users\\<login>, /root.
_HOME = re.compile(
    r"(?<![\w.~/-])(?:/home/(?P<a>[^/\s'\"`:]+)|/Users/(?P<b>[^/\s'\"`:]+)|[A-Za-z]:\\Users\\(?P<c>[^\\\s'\"`:]+)|/root(?=/|\b))"
)
# Names that also are ordinary words or machine defaults: replacing them would corrupt data.
COMMON_NAMES = frozenset(
    {"user", "users", "admin", "root", "home", "data", "test", "model", "train", "main", "node", "local",
     "localhost", "server", "master", "worker", "debian", "ubuntu", "runner", "jovyan", "colab", "docker",
     "build", "linux", "guest", "default", "compute", "gpu", "cpu", "host", "login", "desktop", "laptop"}
)  # fmt: skip
MIN_NAME = 4  # shorter user or host names are not replaced in text (they would hit other words)


def _home(text: str, logins: set[str]) -> str:
    def repl(m: re.Match[str]) -> str:
        login = m.group("a") or m.group("b") or m.group("c")
        if login:
            logins.add(login)
        return "~"

    return _HOME.sub(repl, text)


def _walk_strings(value: Any, fn: Any) -> Any:
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, dict):
        return {k: _walk_strings(v, fn) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk_strings(v, fn) for v in value]
    return value


def _name_patterns(names: dict[str, str], warnings: list[str]) -> list[tuple[re.Pattern[str], str]]:
    """A pattern per user or host name that is safe to replace: at least MIN_NAME characters,
    not a common word, matched only as a whole word (a path component, a host name)."""
    out = []
    for name, placeholder in names.items():
        if len(name) < MIN_NAME or name.lower() in COMMON_NAMES:
            warnings.append(
                f"{placeholder.strip('<>')} name {name!r} is short or a common word: not replaced in text "
                f"(it would change other words); check the published notes and commands by hand"
            )
            continue
        out.append((re.compile(rf"(?<![A-Za-z0-9_]){re.escape(name)}(?![A-Za-z0-9_])", re.IGNORECASE), placeholder))
    return out


def _strip_manifest(doc: dict[str, Any], fields: Sequence[str], warnings: list[str] | None = None) -> dict[str, Any]:
    """The manifest as published: ``fields`` left out; when ``user`` is left out, home folders
    become ``~`` in every string and user names are replaced in free text; when
    ``host.hostname`` is, host names likewise (free text: the schema's ``scrub`` fields and
    unknown keys; never ids, project, config or metric names)."""
    warnings = warnings if warnings is not None else []
    out = dict(doc)
    names: dict[str, str] = {}
    if "user" in fields:
        logins: set[str] = set()
        out = {
            k: (v if k in ("id", "project") else _walk_strings(v, lambda t: _home(t, logins))) for k, v in out.items()
        }
        user = doc.get("user")
        for name in sorted({*logins, *([user] if isinstance(user, str) and user else [])}):
            names[name] = "<user>"
    hostname = (doc.get("host") or {}).get("hostname")
    if "host.hostname" in fields and isinstance(hostname, str) and hostname:
        names.setdefault(hostname, "<host>")
        names.setdefault(hostname.split(".", 1)[0], "<host>")
    patterns = _name_patterns(names, warnings)
    if patterns:

        def scrub(text: str) -> str:
            for pattern, placeholder in patterns:
                text = pattern.sub(placeholder, text)
            return text

        for key in out:
            if key in _format.PUBLIC_SCRUB or (key not in _format.KNOWN_FIELDS and key != "format"):
                out[key] = _walk_strings(out[key], scrub)
    for dotted in fields:
        head, _, rest = dotted.partition(".")
        if not rest:
            if head in out and head not in ("format", "id", "project"):
                out[head] = None if head != "tags" else []
            continue
        section = out.get(head)
        if isinstance(section, dict) and rest in section:
            out[head] = {k: v for k, v in section.items() if k != rest}
    return out


def _stripped(name: str, files_out: set[str]) -> bool:
    """A run file left out, with the segments of a left-out stream (output.3.log)."""
    if name in files_out:
        return True
    return any(
        stream.file in files_out and _format.segment_number(name, stream.stem, stream.ext) is not None
        for stream in _format.STREAMS
    )


def _signature(manifest: bytes, files: Mapping[str, int], fields: Sequence[str]) -> str:
    h = hashlib.sha256(manifest)
    h.update(orjson.dumps(sorted(files.items())))
    h.update(orjson.dumps(list(fields)))
    return h.hexdigest()[:20]


def publish(
    src: Storage,
    runs: Iterable[Any],
    out: Storage,
    *,
    strip: Sequence[str] = (),
    artifacts: bool = True,
) -> Published:
    """Copy ``runs`` (RunViews of ``src``) into ``out``, with the artifact versions they used
    or logged (unless ``artifacts`` is False); write index.json and index.html.

    Runs whose manifest and files did not change since the last publish to ``out`` are not
    copied again, nor are artifact files already there (they never change); runs and
    artifact files published before but not selected now are removed.
    """
    runs = list(runs)
    from ledger._report import render_report  # noqa: PLC0415 (only when publishing)

    report = Published(out.url)
    previous = _previous_entries(out)
    fields = [s for s in strip if s not in _RUN_FILES]
    files_out = {s for s in strip if s in _RUN_FILES}
    entries: list[dict[str, Any]] = []
    selected: set[tuple[str, str]] = set()
    for run in runs:
        folder = _format.run_dir(run.project, run.id)
        files = {name: size for name, size in src.files_under(folder).items() if not _stripped(name, files_out)}
        report.skipped += [f"{src.full(path)}: not copied (a symlink or special file)" for path in src.refused(folder)]
        manifest_bytes = src.read_bytes(f"{folder}/{_format.MANIFEST}")
        signature = _signature(manifest_bytes, files, list(strip))
        run_warnings: list[str] = []
        doc = _strip_manifest(run.doc, fields, run_warnings)
        report.warnings += [w for w in run_warnings if w not in report.warnings]
        selected.add((run.project, run.id))
        old = previous.get((run.project, run.id))
        if old is not None and old.get("signature") == signature:
            report.unchanged.append(run.id)
        else:
            manifest_out = _format.Manifest.from_dict(doc, src.full(folder)).to_yaml() if fields else manifest_bytes
            for name in sorted(files):
                if name == _format.MANIFEST:
                    continue
                out.write_atomic(f"{folder}/{name}", src.read_bytes(f"{folder}/{name}"))
            out.write_atomic(f"{folder}/{_format.MANIFEST}", manifest_out)
            report.copied.append(run.id)
        safe, marked = _format.manifest_to_json(doc)
        entries.append(
            {"project": run.project, "id": run.id, "signature": signature, "manifest": safe, "marked": marked,
             "files": dict(sorted(files.items()))}
        )  # fmt: skip
    artifact_files = _publish_artifacts(src, runs, out, report) if artifacts else {}
    for path in _previous_artifacts(out):
        if path not in artifact_files:
            out.remove(path)
    for (project, run_id), old in previous.items():
        if (project, run_id) not in selected:
            folder = _format.run_dir(project, run_id)
            for name in old.get("files", {}):
                out.remove(f"{folder}/{name}")
            report.removed.append(run_id)
    out.write_atomic(_format.ROOT_MARKER, _format.root_marker())
    index = {"kind": _format.PUBLICATION_KIND, "format": _format.FORMAT_VERSION, "generated": _format.iso(time.time()),
             "stripped": list(strip), "runs": entries}  # fmt: skip
    if artifact_files:
        index["artifacts"] = dict(sorted(artifact_files.items()))
    out.write_atomic(INDEX, orjson.dumps(index, option=orjson.OPT_INDENT_2))
    out.write_atomic(REPORT, render_report(out, entries).encode("utf-8"))
    return report


def _publish_artifacts(src: Storage, runs: list[Any], out: Storage, report: Published) -> dict[str, int]:
    """Copy the versions the runs used or logged, their blobs, and the moves of their aliases
    that point to them; returns every artifact file published (path -> size). Files already
    in ``out`` are not copied again: artifact files never change once made."""
    published: dict[str, int] = {}
    found, problems = _artifacts.version_files(src, _artifacts.named_by(r.doc for r in runs))
    report.skipped += [f"{problem}; not published" for problem in problems]
    for (project, name, version), files in found.items():
        if all(_copy_blob(src, out, rel, size, published, report) for rel, size in files.blobs.items()):
            for rel in [files.manifest, *files.moves]:
                _copy_small(src, out, rel, published)
            report.versions.append(f"{project}/{name}:v{version}")
    return published


def _copy_small(src: Storage, out: Storage, rel: str, published: dict[str, int]) -> None:
    """A version manifest or alias move: read whole (YAML files are bounded), written if absent."""
    data = src.read_bytes(rel, limit=_settings.get(_settings.MAX_YAML_BYTES))
    if not out.exists(rel) or out.stat(rel).size != len(data):
        out.write_atomic(rel, data)
    published[rel] = len(data)


def _copy_blob(src: Storage, out: Storage, rel: str, size: int, published: dict[str, int], report: Published) -> bool:
    """A blob, streamed through a local temporary file (it may be gigabytes); not copied again
    when ``out`` has it. A blob that is a symlink or special file is never followed."""
    if out.exists(rel) and out.stat(rel).size == size:
        published[rel] = size
        return True
    try:
        src.stat(rel)
    except RefusedFileError:
        report.skipped.append(f"{src.full(rel)}: not copied (a symlink or special file)")
        return False
    except FileNotFoundError:
        report.skipped.append(f"{src.full(rel)}: missing, so its version is not published (`ledger verify`)")
        return False
    fd, tmp = tempfile.mkstemp(prefix="ledger-publish-")
    os.close(fd)
    try:
        src.get_file(rel, tmp)
        out.put_file(tmp, rel)
    finally:
        os.unlink(tmp)
    published[rel] = size
    return True


def _previous_index(out: Storage) -> dict[str, Any]:
    try:
        doc = orjson.loads(out.read_bytes(INDEX))
    except (FileNotFoundError, orjson.JSONDecodeError):
        return {}
    if not isinstance(doc, dict) or doc.get("kind") != _format.PUBLICATION_KIND:
        return {}
    return doc


def _previous_artifacts(out: Storage) -> list[str]:
    found = _previous_index(out).get("artifacts")
    return [str(p) for p in found] if isinstance(found, dict) else []


def _previous_entries(out: Storage) -> dict[tuple[str, str], dict[str, Any]]:
    doc = _previous_index(out)
    if not doc:
        return {}
    return {
        (e["project"], e["id"]): e
        for e in doc.get("runs", [])
        if isinstance(e, dict) and isinstance(e.get("project"), str) and isinstance(e.get("id"), str)
    }
