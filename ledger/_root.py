"""Finding and opening a ledger, claiming ids in it, and finding a run or sweep in it.

- where the root is: ``root=``, else ``$LEDGER_ROOT``, else ``results/`` at the top of the
  git repository, else ``./results`` (:func:`default_root`); the project likewise
  (:func:`default_project`);
- :func:`open_root` opens it for reading (one error when there is no ledger) or creates it;
- :func:`claim_id` makes a new run or sweep id by exclusive create;
- :func:`spill_folder`: where a run keeps what its storage did not take, on this machine;
- :func:`pick` finds one item by exact id, unique id prefix or exact name, with one
  ambiguity message that lists the candidates; :func:`find_run` uses it on run folders.

The query layer, the CLI, sweeps, importers and the viewer open ledgers through here;
nothing here writes runs.
"""

from __future__ import annotations

import os
import tempfile
from typing import TYPE_CHECKING, Any, TypeVar

from ledger import _format, _reader, _settings
from ledger._errors import InvalidNameError, LedgerNotFoundError, RunNotFoundError, StorageError
from ledger._storage import Storage, open_storage, retrying

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from ledger._format import Manifest

T = TypeVar("T")

_SHOWN = 8  # candidates listed in an ambiguity message


SPILL_INFO = "spill.yaml"


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


def spill_folder(project: str, run_id: str) -> str:
    """The spill folder of one run: ``<spill base>/<project>/<run id>``."""
    return os.path.join(spill_base(), project, run_id)


def find_git_top(start: str) -> str | None:
    """The top folder of the git work tree containing ``start`` (no git process, no import)."""
    path = os.path.abspath(start)
    while True:
        if os.path.exists(os.path.join(path, ".git")):
            return path
        parent = os.path.dirname(path)
        if parent == path:
            return None
        path = parent


def default_root() -> str:
    """``$LEDGER_ROOT``, else ``results/`` at the top of the git repository, else ``./results``."""
    env = _settings.get(_settings.ROOT)
    if env:
        return env
    top = find_git_top(os.getcwd())
    return os.path.join(top if top is not None else os.getcwd(), "results")


def default_project() -> str:
    """``$LEDGER_PROJECT``, else the name of the git repository's (or the current) folder."""
    env = _settings.get(_settings.PROJECT)
    if env:
        return _format.check_name(f"project (${_settings.PROJECT.name})", env)
    top = find_git_top(os.getcwd())
    return _format.sanitize_name(os.path.basename(top if top is not None else os.getcwd()))


def open_root(
    root: str | os.PathLike[str] | None = None,
    storage_options: Mapping[str, Any] | None = None,
    *,
    create: bool = False,
) -> Storage:
    """The ledger at ``root`` (default: :func:`default_root`).

    Without ``create``, a missing ledger is a :class:`LedgerNotFoundError`; with it, the root
    is made (``ledger.yaml`` and a ``.gitignore`` for the derived cache), safely when many
    processes start at once. Either way a root of another format is a FormatVersionError.
    """
    storage = open_storage(root if root is not None else default_root(), storage_options)
    if create and not storage.caps.writes:
        msg = (
            f"{storage.url} is read-only (a published ledger over http(s)); runs and sweeps go into a folder or a store"
        )
        raise StorageError(msg)
    try:
        marker = retrying(lambda: storage.read_bytes(_format.ROOT_MARKER))
    except FileNotFoundError:
        if not create:
            msg = (
                f"no ledger at {storage.url} (no {_format.ROOT_MARKER}); pass the root the runs were logged to "
                f"(root=, --root, or ${_settings.ROOT.name})"
            )
            raise LedgerNotFoundError(msg) from None
        _make_root(storage)
    else:
        _format.check_root_marker(marker, storage.full(_format.ROOT_MARKER))
    return storage


def _make_root(storage: Storage) -> None:
    storage.makedirs("")
    try:
        storage.create_exclusive(_format.ROOT_MARKER, _format.root_marker())
    except FileExistsError:  # another process made it first
        _format.check_root_marker(storage.read_bytes(_format.ROOT_MARKER), storage.full(_format.ROOT_MARKER))
    if not storage.exists(_format.ROOT_GITIGNORE):
        try:
            storage.create_exclusive(_format.ROOT_GITIGNORE, f"{_format.CACHE_DIR}/\n".encode())
        except FileExistsError:
            pass


def projects(storage: Storage) -> list[str]:
    """The project folders under the root (every visible folder with a valid name), sorted."""
    out = []
    for entry in storage.list_dir(""):
        if entry.is_dir and not entry.name.startswith("."):
            try:
                out.append(_format.check_name("project", entry.name))
            except InvalidNameError:
                continue
    return out


# ---- storage quota -------------------------------------------------------------------------------


def quota_bytes(storage: Storage) -> int | None:
    """The root's quota in bytes: ``$LEDGER_QUOTA_GB``, else ``quota_gb`` in its ledger.yaml;
    None without one (gigabytes of 2^30 bytes, as sizes are shown)."""
    gb = _settings.get(_settings.QUOTA_GB)
    if gb is None:
        try:
            marker = _format.check_root_marker(
                retrying(lambda: storage.read_bytes(_format.ROOT_MARKER)), storage.full(_format.ROOT_MARKER)
            )
        except FileNotFoundError:
            return None
        gb = marker.get("quota_gb")
    return round(float(gb) * 2**30) if gb else None


def used_bytes(storage: Storage) -> int:
    """The bytes of every file under the root (the derived ``.cache/`` left out): what a quota counts."""
    cache = f"{_format.CACHE_DIR}/"
    return sum(size for path, size in storage.files_under("").items() if not path.startswith(cache))


# ---- new ids ------------------------------------------------------------------------------------


def claim_id(storage: Storage, t: float, make: Callable[[str], tuple[str, bytes]], what: str = "run") -> str:
    """A new id made from time ``t`` whose file ``make(id)`` -> (path, content) this call
    created. Ids are random, but 8 processes starting in the same second could still meet:
    the exclusive create decides, and the loser draws again."""
    if not storage.caps.conditional_create:
        msg = f"{storage.url} cannot create files only-if-absent, so it cannot take new {what}s safely"
        raise StorageError(msg)
    for _attempt in range(20):
        new_id = _format.new_run_id(t)
        path, data = make(new_id)
        try:
            retrying(lambda: storage.create_exclusive(path, data))  # noqa: B023
        except FileExistsError:
            continue
        return new_id
    msg = f"could not find a free {what} id after 20 attempts"  # pragma: no cover (20 collisions of 24 random bits)
    raise InvalidNameError(msg)  # pragma: no cover


def claim_run(storage: Storage, manifest: Manifest, t: float, *, named: bool) -> None:
    """Give ``manifest`` a new id made from time ``t`` (and the default name, unless
    ``named``) and create its run.yaml."""

    def make(run_id: str) -> tuple[str, bytes]:
        manifest.id = run_id
        if not named:
            manifest.name = _format.default_run_name(run_id)
        return f"{_format.run_dir(manifest.project, run_id)}/{_format.MANIFEST}", manifest.to_yaml()

    claim_id(storage, t, make)


# ---- finding one run or sweep ------------------------------------------------------------------


def pick(
    ref: str,
    candidates: Sequence[T],
    *,
    id_of: Callable[[T], str],
    name_of: Callable[[T], str | None] = lambda _c: None,
    what: str = "run",
    where: str,
    error: Callable[[str], Exception] = RunNotFoundError,
    hint: str = "",
) -> T:
    """The one candidate ``ref`` names: its exact id; else the one whose id starts with
    ``ref`` or whose name is exactly ``ref``. None found or several: ``error(message)``,
    the message listing the candidates (id and name) so that the caller can say more."""
    exact = [c for c in candidates if id_of(c) == ref]
    matches = exact or [c for c in candidates if id_of(c).startswith(ref) or name_of(c) == ref]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        msg = f"no {what} {ref!r} in {where} (give a {what} id, a unique start of one, or its exact name){hint}"
        raise error(msg)
    shown = ", ".join(f"{id_of(c)}" + (f" ({name_of(c)})" if name_of(c) else "") for c in matches[:_SHOWN]) + (
        f", ... ({len(matches) - _SHOWN} more)" if len(matches) > _SHOWN else ""
    )
    msg = f"{what} {ref!r} is ambiguous: {len(matches)} {what}s match: {shown}; give more of the id"
    raise error(msg)


def find_run(storage: Storage, ref: str, project: str | None = None) -> Manifest:
    """The manifest of the run whose id is ``ref`` or starts with it (in ``project``, else in
    any project), from a listing of the run folders: for writers that continue or tidy a run
    (resume, compact). Readers find runs by name too, through ``Ledger.run``."""
    _format.check_name("run id", ref)
    names = [_format.check_name("project", project)] if project is not None else projects(storage)
    folders = [(p, e.name) for p in names for e in storage.list_dir(_format.runs_dir(p)) if e.is_dir]
    where = f"{storage.url} (looked in project{'s' if len(names) != 1 else ''}: {', '.join(names) or 'none'})"
    project_, run_id = pick(ref, folders, id_of=lambda f: f[1], where=where)
    return _reader.read_manifest(storage, project_, run_id)
