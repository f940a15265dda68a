"""`ledger import KIND SOURCE`: copy runs recorded by MLflow, TensorBoard, DVCLive or W&B.

Each kind's module finds the runs in SOURCE (:func:`find` returns them as :class:`Found`,
cheap to list) and reads one on demand into an :class:`~ledger._importers._common.ImportedRun`;
:func:`import_runs` skips those already imported into the root (the source id is recorded
in each manifest's ``imported_from``) and writes the others with
:func:`~ledger._importers._common.write_run`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ledger import _format
from ledger._errors import LedgerError
from ledger._importers._common import Found, ImportedRun, ImportSourceError, write_run
from ledger._maintenance import rewrite_manifest
from ledger._query import _index

if TYPE_CHECKING:
    from collections.abc import Callable

    from ledger._format import Manifest
    from ledger._storage import Storage

KINDS = ("mlflow", "tensorboard", "dvclive", "wandb")

__all__ = ["KINDS", "Found", "ImportSourceError", "ImportedRun", "Outcome", "find", "import_runs"]


@dataclass
class Outcome:
    """What happened to one source run: imported (``manifest``), skipped because an earlier
    import has it (``existing``), or failed (``error``, why it could not be read or written)."""

    label: str
    manifest: Manifest | None = None  # the run written, or None if skipped or failed
    existing: str | None = None  # <project>/<id> of the copy made by an earlier import
    run: ImportedRun | None = None
    notes: list[str] = field(default_factory=list)
    error: str | None = None


def find(kind: str, source: str) -> list[Found]:
    """The runs in ``source``, as the ``kind`` importer sees them (its module is imported
    only now: each may need a package of its own)."""
    if kind not in KINDS:
        msg = f"unknown import kind {kind!r}; kinds: {', '.join(KINDS)}"
        raise ImportSourceError(msg)
    finder: Callable[[str], list[Found]] = importlib.import_module(f"ledger._importers.{kind}").find
    return finder(source)


def already_imported(storage: Storage) -> dict[tuple[str, str], str]:
    """(kind, source id) -> '<project>/<run id>' of every imported run under the root."""
    out: dict[tuple[str, str], str] = {}
    for item in _index.load(storage).entries.values():
        origin = item.doc.get("imported_from") if item.doc is not None else None
        if isinstance(origin, dict) and item.doc is not None:
            out[str(origin.get("kind")), str(origin.get("id"))] = f"{item.doc.get('project')}/{item.doc.get('id')}"
    return out


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if not isinstance(exc, LedgerError) or not text else text


def import_runs(
    storage: Storage,
    kind: str,
    found: list[Found],
    *,
    project: str | None,
    default_project: Callable[[], str],
) -> list[Outcome]:
    """Import every run ``found`` (by :func:`find`) that was not imported before.
    ``project`` (if given) takes all runs; else each goes to its source's own project
    (MLflow experiment, W&B project), else to ``default_project()``.

    A run that cannot be read or written does not stop the others: its outcome says why
    (``error``). A run whose source names a parent run (MLflow's ``mlflow.parentRunId``)
    gets ``parent``: the ledger id of that run's copy, once both are imported."""
    done = already_imported(storage)
    outcomes: list[Outcome] = []
    orphans: list[tuple[Manifest, str]] = []  # (child, parent's source id) imported before the parent
    for item in found:
        existing = done.get((kind, item.source_id))
        if existing is not None:
            outcomes.append(Outcome(item.label, existing=existing))
            continue
        try:
            run = item.load()
            target = project or (_format.sanitize_name(run.project) if run.project else None) or default_project()
            parent = done.get((kind, run.parent_source_id)) if run.parent_source_id else None
            manifest = write_run(storage, run, target, parent=parent.split("/", 1)[1] if parent else None)
        except Exception as exc:
            outcomes.append(Outcome(item.label, error=_reason(exc)))
            continue
        if run.parent_source_id and parent is None:
            orphans.append((manifest, run.parent_source_id))
        done[kind, item.source_id] = f"{manifest.project}/{manifest.id}"
        outcomes.append(Outcome(item.label, manifest=manifest, run=run, notes=list(run.skipped)))
    for child, parent_source in orphans:
        parent = done.get((kind, parent_source))
        outcome = next(o for o in outcomes if o.manifest is child)
        if parent is None:
            outcome.notes.append(f"its parent run {parent_source} is not in the source: no parent link")
            continue
        child.parent = parent.split("/", 1)[1]
        rewrite_manifest(storage, child.project, child.id, parent=child.parent)
    return outcomes
