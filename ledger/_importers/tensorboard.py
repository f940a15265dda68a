"""TensorBoard: event files, read with the tensorboard package's own event reader.

As TensorBoard itself sees a log folder, every folder below SOURCE that holds event files
(``*tfevents*``) is one run, named by its path below SOURCE. Scalars become metrics under
their tags (``train/loss``), with each event's step and wall time; the run starts and ends
with its data's wall times (not with the file header's, which is when the file was written); hparams (the HParams
plugin's session info) become the config. ``add_hparams`` of tensorboardX and PyTorch
writes them into a sub-folder named by a timestamp: one such sub-folder is folded into
the run above it, so the run has its config and the hparam metrics.
"""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING, Any

from ledger._importers._common import (
    Found,
    ImportedRun,
    ImportSourceError,
    Point,
    keep_metric_name,
    missing_package,
    open_source,
    records_from_points,
    walk_files,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

    from ledger._storage import Storage

KIND = "tensorboard"
_WHAT = "a TensorBoard log folder (holding event files, events.out.tfevents.*)"
_HPARAMS_RUN = re.compile(r"\d+(\.\d+)?")  # the sub-folder add_hparams() writes: str(time.time())


def _loader() -> Any:
    try:
        from tensorboard.backend.event_processing import event_file_loader  # noqa: PLC0415
    except ImportError:
        raise missing_package("reading TensorBoard event files", "tensorboard") from None
    return event_file_loader.EventFileLoader


def _events(path: str) -> Iterator[Any]:
    yield from _loader()(path).Load()


def find(source: str) -> list[Found]:
    """One run per folder with event files; a lone add_hparams sub-folder joins its parent."""
    store = open_source(source, _WHAT)
    if store.local_path() is None:
        msg = f"{source}: TensorBoard event files are read from a local folder; copy them here first"
        raise ImportSourceError(msg)
    folders: dict[str, list[str]] = {}
    for rel in walk_files(store, ""):
        folder, _, name = rel.rpartition("/")
        if "tfevents" in name:
            folders.setdefault(folder, []).append(rel)
    if not folders:
        msg = f"{source}: no TensorBoard event files (events.out.tfevents.*) in it or below it; give the log folder"
        raise ImportSourceError(msg)
    children: dict[str, list[str]] = {}
    for folder in folders:
        parent, _, name = folder.rpartition("/")
        if folder and parent in folders and _HPARAMS_RUN.fullmatch(name):
            children.setdefault(parent, []).append(folder)
    folded = {kids[0]: parent for parent, kids in children.items() if len(kids) == 1}
    found = []
    base = store.root.rstrip("/").rsplit("/", 1)[-1]
    for folder in sorted(folders):
        if folder in folded:
            continue
        files = sorted(folders[folder])
        extra = [sorted(folders[kid]) for kid, parent in folded.items() if parent == folder]
        first = next(iter(_events(store.full(files[0]))), None)
        first_time = repr(float(first.wall_time)) if first is not None else "empty"
        source_id = f"{files[0].rpartition('/')[2]}@{first_time}"
        name = folder or base
        load = functools.partial(_load, store, name, source_id, [files, *extra])
        found.append(Found(source_id, f'tensorboard run "{name}"', load))
    return found


def _hparams(content: bytes) -> dict[str, Any]:
    from tensorboard.plugins.hparams import plugin_data_pb2  # noqa: PLC0415

    data = plugin_data_pb2.HParamsPluginData.FromString(content)
    out: dict[str, Any] = {}
    for key, value in data.session_start_info.hparams.items():
        kind = value.WhichOneof("kind")
        v: Any = getattr(value, kind) if kind is not None else None
        if isinstance(v, float) and v.is_integer():
            v = int(v)  # HParams hold every number as a double: 3 comes back as 3.0
        out[key] = v
    return out


def _load(store: Storage, name: str, source_id: str, groups: list[list[str]]) -> ImportedRun:
    from tensorboard.util import tensor_util  # noqa: PLC0415

    points: list[Point] = []
    config: dict[str, Any] = {}
    left_out: dict[str, set[str]] = {}
    skipped: list[str] = []
    times: list[float] = []  # of the run's own events that hold data: their own wall times
    hparams_times: list[float] = []  # of a folded add_hparams folder: written when add_hparams ran
    other_times: list[float] = []  # file headers and the like: when the file was written
    own = set(groups[0])
    for rel in [f for files in groups for f in files]:
        for event in _events(store.full(rel)):
            if not event.HasField("summary"):
                other_times.append(float(event.wall_time))
                continue
            (times if rel in own else hparams_times).append(float(event.wall_time))
            for value in event.summary.value:
                plugin = value.metadata.plugin_data.plugin_name
                if plugin == "hparams":
                    if value.tag.endswith("session_start_info"):
                        config.update(_hparams(value.metadata.plugin_data.content))
                    continue
                if plugin != "scalars" or not value.HasField("tensor"):
                    left_out.setdefault(plugin or "other", set()).add(value.tag)
                    continue
                key = keep_metric_name(value.tag, skipped)
                if key is not None:
                    number = tensor_util.make_ndarray(value.tensor).item()
                    points.append(Point(int(event.step), float(event.wall_time), key, number))
    skipped += [
        f"{plugin!r} summaries (tags {', '.join(sorted(tags))}): only scalars are imported"
        for plugin, tags in sorted(left_out.items())
    ]
    # A writer given explicit wall times (add_scalar(walltime=...)) writes its file header, and
    # add_hparams its folder, at the time it ran: the run's times are its data's, the others'
    # only when it has no data.
    times = times or hparams_times or other_times
    created = min(times) if times else 0.0
    return ImportedRun(
        kind=KIND,
        source_id=source_id,
        source=store.full(groups[0][0].rpartition("/")[0]),
        name=name,
        created=created,
        ended=max(times) if times else None,
        config=config,
        records=records_from_points(points, default_time=created),
        skipped=skipped,
    )
