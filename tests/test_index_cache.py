"""The index cache at scale: an append-only log of immutable files under ``.cache/index/``
(a new run adds one segment, never rewrites the base), compaction, concurrent writers, torn
files, the parallel cold build, and the table built column by column from the index."""

from __future__ import annotations

import math
import random
import shutil
import time
from pathlib import Path

import pandas as pd
import pytest

import ledger
from ledger import _format
from ledger._query import _index, _runset
from ledger._storage import Listing, Stat, open_storage
from tests.helpers import run_python, start_python


def write_run(root: Path, i: int, project: str = "p", **extra) -> str:
    """A finished run's manifest written directly with the format's writer; its id."""
    run_id = f"20261101-{i // 3600:02d}{i // 60 % 60:02d}{i % 60:02d}-{i:06x}"
    doc = {
        "id": run_id, "name": f"run-{i}", "project": project, "status": "finished",
        "created": _format.iso(1_790_000_000 + i), "ended": _format.iso(1_790_000_100 + i), "duration_s": 100.0,
        "config": {"lr": 0.1 * (i + 1), "model": {"depth": 18 + i}}, "summary": {"acc": i / 10},
    }  # fmt: skip
    doc.update(extra)
    folder = root / project / "runs" / run_id
    folder.mkdir(parents=True, exist_ok=True)
    (folder / _format.MANIFEST).write_bytes(_format.Manifest(**doc).to_yaml())
    return run_id


def a_ledger(root: Path, n: int) -> list[str]:
    root.mkdir(parents=True, exist_ok=True)
    (root / _format.ROOT_MARKER).write_bytes(_format.root_marker())
    return [write_run(root, i) for i in range(n)]


def cache_files(root: Path) -> dict[str, bytes]:
    folder = root / ".cache" / "index"
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())} if folder.exists() else {}


def parsed_paths(monkeypatch) -> list[str]:
    """The manifest paths parsed from now on (in this process)."""
    parsed: list[str] = []
    real = _index._parse
    monkeypatch.setattr(_index, "_parse", lambda path, data, storage: parsed.append(path) or real(path, data, storage))
    return parsed


def rows_one_by_one(runs: ledger.RunSet) -> pd.DataFrame:
    """The frame as it was built before the index kept rows: one dict per run, from_records."""
    rows = [{**_runset.doc_row(r.doc), "status": r.status} for r in runs]
    columns = dict.fromkeys(_runset.BASE_COLUMNS)
    for row in rows:
        columns.update(dict.fromkeys(row))
    frame = pd.DataFrame.from_records(rows, columns=list(columns))
    for col in _format.TIMESTAMP_FIELDS:
        frame[col] = pd.to_datetime(frame[col], utc=True, errors="coerce", format="ISO8601")
    return frame


class TestLog:
    def test_a_new_run_adds_one_segment_and_leaves_the_base_as_it_was(self, tmp_path, monkeypatch):
        root = tmp_path / "results"
        a_ledger(root, 5)
        ledger.open(root)
        (base,) = (root / ".cache/index").iterdir()
        before = base.stat()
        content = base.read_bytes()
        new = write_run(root, 5)
        parsed = parsed_paths(monkeypatch)
        lg = ledger.open(root)
        assert parsed == [f"p/runs/{new}/run.yaml"]  # one manifest parsed
        assert len(lg) == 6
        after = base.stat()
        assert (after.st_ino, after.st_mtime_ns, base.read_bytes()) == (before.st_ino, before.st_mtime_ns, content)
        files = cache_files(root)
        (segment,) = [name for name in files if name.startswith("seg-")]
        assert new.encode() in files[segment]
        assert files[segment].count(b"\n") == 3  # header, the row's shape, the one entry
        parsed.clear()
        assert len(ledger.open(root)) == 6
        assert parsed == []  # warm again

    def test_refresh_adds_what_it_read_to_the_cache(self, tmp_path, monkeypatch):
        root = tmp_path / "results"
        a_ledger(root, 3)
        lg = ledger.open(root)
        new = write_run(root, 3)
        parsed = parsed_paths(monkeypatch)
        fresh = lg.refresh()
        assert parsed == [f"p/runs/{new}/run.yaml"]
        assert fresh.run(new).name == "run-3"
        assert len([n for n in cache_files(root) if n.startswith("seg-")]) == 1
        parsed.clear()
        assert len(ledger.open(root)) == 4
        assert parsed == []  # the next open found it in the cache
        assert len(ledger.open(root, cache=False).refresh()) == 4
        assert len([n for n in cache_files(root) if n.startswith("seg-")]) == 1  # cache=False leaves it alone

    def test_a_changed_manifest_is_read_again_and_a_deleted_run_disappears(self, tmp_path, monkeypatch):
        root = tmp_path / "results"
        ids = a_ledger(root, 4)
        ledger.open(root)
        write_run(root, 0, config={"lr": 5.0})  # rewritten: another size and mtime
        shutil.rmtree(root / "p" / "runs" / ids[1])
        parsed = parsed_paths(monkeypatch)
        lg = ledger.open(root)
        assert parsed == [f"p/runs/{ids[0]}/run.yaml"]
        assert sorted(lg.runs().ids) == sorted([ids[0], *ids[2:]])
        assert lg.run(ids[0]).config == {"lr": 5.0}
        assert lg.runs(order_by="name").to_pandas()["config.lr"].tolist() == [5.0, 0.30000000000000004, 0.4]
        monkeypatch.setattr(_index, "_COMPACT_MIN", 0)
        ledger.open(root)  # compacts: the deleted run's entry goes
        (name,) = cache_files(root)
        assert name == "base-000000000002.jsonl"
        assert ids[1].encode() not in cache_files(root)[name]

    def test_compaction_keeps_the_same_answers(self, tmp_path, monkeypatch):
        root = tmp_path / "results"
        a_ledger(root, 3)
        ledger.open(root)
        for i in range(3, 8):  # five opens, five segments
            write_run(root, i, project="q", config={"other": i, "nested": {"x": [i]}})
            ledger.open(root)
        assert len([n for n in cache_files(root) if n.startswith("seg-")]) == 5
        before = ledger.open(root).runs().to_pandas()
        monkeypatch.setattr(_index, "_COMPACT_MIN", 0)
        parsed = parsed_paths(monkeypatch)
        ledger.open(root)
        assert list(cache_files(root)) == ["base-000000000002.jsonl"]
        after = ledger.open(root).runs().to_pandas()
        assert parsed == []
        pd.testing.assert_frame_equal(before, after)
        pd.testing.assert_frame_equal(after, ledger.open(root, cache=False).runs().to_pandas())

    def test_a_torn_last_line_is_ignored_and_a_torn_line_alone_is_read_again(self, tmp_path, monkeypatch, caplog):
        root = tmp_path / "results"
        ids = a_ledger(root, 3)
        ledger.open(root)
        (base,) = (root / ".cache/index").iterdir()
        lines = base.read_bytes().split(b"\n")
        last = len(lines) - 2  # the last entry (lines[-1] is empty: the file ends with a newline)
        (torn,) = [i for i in ids if i.encode() in lines[last]]
        base.write_bytes(b"\n".join(lines[:last]) + b"\n" + lines[last][: len(lines[last]) // 2])
        parsed = parsed_paths(monkeypatch)
        lg = ledger.open(root)
        assert parsed == [f"p/runs/{torn}/run.yaml"]  # only the torn one
        assert sorted(lg.runs().ids) == sorted(ids)
        assert "index cache" not in caplog.text  # a torn tail is expected after a crash: no alarm
        parsed.clear()
        first = next(i for i, line in enumerate(lines) if ids[0].encode() in line)
        corrupt = lines[first].replace(b'"run-0"', b'"run-X"')  # its checksum no longer matches
        assert corrupt != lines[first]
        (root / ".cache/index" / "seg-00000000000000000001-0000000000000000.jsonl").write_bytes(
            lines[0] + b"\n" + corrupt + b"\n"
        )
        lg = ledger.open(root)
        assert lg.run(ids[0]).name == "run-0"

    def test_a_live_run_is_not_cached_but_a_dead_one_is(self, tmp_path, monkeypatch):
        root = tmp_path / "results"
        a_ledger(root, 1)
        now = _format.iso(time.time())
        live = write_run(root, 1, status="running", ended=None, heartbeat=now, heartbeat_s=60.0)
        dead = write_run(root, 2, status="running", ended=None, heartbeat=_format.iso(1_790_000_000), heartbeat_s=60.0)
        ledger.open(root)
        text = b"".join(cache_files(root).values())
        assert live.encode() not in text  # rewritten at every heartbeat: parsed at each open instead
        assert dead.encode() in text
        parsed = parsed_paths(monkeypatch)
        assert ledger.open(root).run(dead).status == "crashed"
        assert parsed == [f"p/runs/{live}/run.yaml"]

    def test_two_processes_updating_at_once_lose_nothing(self, tmp_path, monkeypatch):
        root = tmp_path / "results"
        a_ledger(root, 20)
        ledger.open(root)
        code = """
            import os, sys, time
            sys.path.insert(0, {repo!r})
            from pathlib import Path
            import ledger
            from ledger._query import _index
            from tests.test_index_cache import write_run
            _index._COMPACT_MIN = 3  # compact often: compactions race too
            root = Path({root!r})
            while not (root.parent / "go").exists():
                time.sleep(0.001)
            for i in range({start}, {start} + 25):
                write_run(root, i, project={project!r})
                assert len(ledger.open(root)) >= 21
            print("done")
        """
        repo = str(Path(__file__).parent.parent)
        procs = [
            start_python(code.format(repo=repo, root=str(root), start=start, project=project), tmp_path)
            for start, project in ((100, "a"), (200, "b"))
        ]
        (tmp_path / "go").write_text("go")
        for proc in procs:
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
            assert out.strip() == "done"
        parsed = parsed_paths(monkeypatch)
        monkeypatch.setattr(_index, "_COMPACT_MIN", 10**9)
        lg = ledger.open(root)
        assert len(lg) == 70
        assert parsed == []  # every entry either process wrote is in the cache
        assert sorted(lg.projects()) == ["a", "b", "p"]


class TestColdBuild:
    def test_the_parallel_build_gives_the_same_frame_as_the_serial_one(self, tmp_path):
        root = tmp_path / "results"
        a_ledger(root, 30)
        for i in range(30, 40):
            write_run(root, i, project="q", config={"other": True, "deep": {"a": {"b": math.inf}}}, tags=["x"])
        (root / "p/runs/broken").mkdir()
        (root / "p/runs/broken/run.yaml").write_text("format: 1\nid: [unclosed\n")
        # In a fresh interpreter: the pool forks only a process with no other thread.
        code = """
            import os, sys, math
            sys.path.insert(0, {repo!r})
            import pandas as pd
            import ledger
            from ledger._query import _index
            root = {root!r}
            _index._POOL_MIN = 10**9
            serial = ledger.open(root, cache=False)
            pools = []
            real = _index._in_pool
            _index._in_pool = lambda *a: pools.append(os.getpid()) or real(*a)
            _index._POOL_MIN, _index._BATCH = 1, 7
            os.sched_getaffinity = lambda _pid: {{0, 1}}  # two workers even on one core
            progress = []
            parallel = ledger.open(root, progress=lambda done, total: progress.append((done, total)))
            assert pools == [os.getpid()], pools
            assert progress[-1] == (41, 41), progress
            pd.testing.assert_frame_equal(parallel.runs().to_pandas(), serial.runs().to_pandas())
            assert parallel.skipped == serial.skipped
            assert "not valid YAML" in parallel.skipped[0]
            warm = ledger.open(root)  # from the cache the pool's rows were written to
            pd.testing.assert_frame_equal(warm.runs().to_pandas(), serial.runs().to_pandas())
            assert warm.run("20261101-000031-00001f").config["deep"] == {{"a": {{"b": math.inf}}}}
            print("same")
        """
        repo = str(Path(__file__).parent.parent)
        result = run_python(code.format(repo=repo, root=str(root)), tmp_path)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "same"


class TestFrame:
    def test_columns_from_the_index_equal_rows_built_one_by_one(self, tmp_path):
        root = tmp_path / "results"
        a_ledger(root, 3)
        write_run(root, 3, config={"flag": True, "lr": None}, summary={"acc": math.nan, "text": "x"})
        write_run(root, 4, project="q", config={"only": [1, 2]}, tags=["a", "b"], group="g")
        source = write_run(root, 5)
        write_run(root, 6, config={"lr": 3}, attach={source: {"late": 1.5}})
        for cache in (False, True, True):  # cold, cold with the cache written, warm
            runs = ledger.open(root, cache=cache).runs()
            frame = runs.to_pandas()
            pd.testing.assert_frame_equal(frame, rows_one_by_one(runs))
            assert frame.set_index("id").loc[source, "summary.late"] == 1.5  # attached after indexing
            assert list(frame.columns[: len(_runset.BASE_COLUMNS)]) == list(_runset.BASE_COLUMNS)

    def test_filters_on_indexed_fields_parse_no_manifest(self, tmp_path, monkeypatch):
        root = tmp_path / "results"
        a_ledger(root, 6)
        ledger.open(root)
        parsed = parsed_paths(monkeypatch)
        storage_reads: list[str] = []
        lg = ledger.open(root)
        real = type(lg._storage).read_bytes
        monkeypatch.setattr(
            type(lg._storage), "read_bytes", lambda self, rel, **kw: storage_reads.append(rel) or real(self, rel, **kw)
        )
        picked = lg.runs(where="config.lr > 0.35 and summary.acc < 0.5 and status = 'finished'", order_by="-config.lr")
        assert [r.name for r in picked] == ["run-4", "run-3"]
        assert picked.to_pandas()["name"].tolist() == ["run-4", "run-3"]
        assert parsed == []
        assert storage_reads == []


def test_an_s3_root_keeps_its_index_as_immutable_objects(s3_root, tmp_path, monkeypatch):
    local = tmp_path / "local"
    ids = a_ledger(local, 3)
    storage = open_storage(s3_root)
    storage.write_atomic(_format.ROOT_MARKER, _format.root_marker())
    for run_id in ids:
        path = f"p/runs/{run_id}/run.yaml"
        storage.write_atomic(path, (local / path).read_bytes())
    first = ledger.open(s3_root)
    (base,) = [e.name for e in storage.list_dir(_index.CACHE_FOLDER)]
    etag = storage.stat(f"{_index.CACHE_FOLDER}/{base}").version
    new = write_run(local, 3)
    path = f"p/runs/{new}/run.yaml"
    storage.write_atomic(path, (local / path).read_bytes())
    parsed = parsed_paths(monkeypatch)
    second = ledger.open(s3_root)
    assert parsed == [path]
    names = [e.name for e in storage.list_dir(_index.CACHE_FOLDER)]
    assert len(names) == 2
    assert storage.stat(f"{_index.CACHE_FOLDER}/{base}").version == etag  # the base object untouched
    parsed.clear()
    third = ledger.open(s3_root)
    assert parsed == []
    pd.testing.assert_frame_equal(third.runs().to_pandas(), second.runs().to_pandas())
    assert len(first) == 3
    assert len(third) == 4
    pd.testing.assert_frame_equal(third.runs().to_pandas(), ledger.open(local).runs().to_pandas())


@pytest.mark.parametrize("n", [0, 1])
def test_an_empty_or_tiny_ledger_opens(tmp_path, n):
    root = tmp_path / "results"
    a_ledger(root, n)
    assert len(ledger.open(root).runs().to_pandas()) == n
    assert len(ledger.open(root).runs().to_pandas()) == n


@pytest.mark.parametrize("seed", range(20))
def test_changed_finds_exactly_the_new_and_changed_paths(seed):
    """The listings compared by their marks give what comparing every (path, Stat) pair gives,
    for listings with their marks (as storage makes them) and for plain mappings."""
    rng = random.Random(seed)
    listed = Listing()
    for i in range(rng.randint(0, 300)):
        listed.add(f"p/runs/{i:04d}/run.yaml", Stat(rng.randint(1, 5000), str(rng.randint(1, 10**18)), 1.5))
    found = Listing()
    for path, was in listed.items():
        roll = rng.random()
        if roll < 0.1:
            continue  # removed
        st = was
        if roll < 0.15:
            st = Stat(was.size + 1, was.version, was.mtime)  # rewritten, another size
        elif roll < 0.2:
            st = Stat(was.size, was.version + "1", was.mtime)  # rewritten, the same size
        found.add(path, st)
    for j in range(rng.randint(0, 5)):
        found.add(f"q/runs/new{j}/run.yaml", Stat(10, "1", None))
    expected = [path for path, st in found.items() if listed.get(path) != st]
    stale, ranked = _index.changed(listed, found)
    assert stale == expected
    assert _index.changed(dict(listed), dict(found))[0] == expected
    # The sorted marks handed to the next comparison give the same answer as made afresh.
    again = Listing()
    for path, st in found.items():
        again.add(path, st if rng.random() < 0.9 else Stat(st.size, st.version + "2", st.mtime))
    expected = [path for path, st in again.items() if found.get(path) != st]
    assert _index.changed(found, again, ranked)[0] == _index.changed(found, again)[0] == expected
