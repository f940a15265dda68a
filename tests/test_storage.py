"""One storage contract, run on every backend (the fsspec habit: abstract tests bound to fixtures)."""

from __future__ import annotations

import errno
import os
import threading
from typing import TYPE_CHECKING

import pytest

from ledger import InvalidNameError
from ledger._storage import Storage, open_storage, retrying
from tests.helpers import run_python

if TYPE_CHECKING:
    from collections.abc import Callable


def race(n: int, attempt: Callable[[int], object]) -> tuple[list[int], list[int]]:
    """Run ``attempt(i)`` in ``n`` threads at once: (the i that succeeded, those that met FileExistsError)."""
    wins: list[int] = []
    losses: list[int] = []

    def one(i: int) -> None:
        try:
            attempt(i)
            wins.append(i)
        except FileExistsError:
            losses.append(i)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return wins, losses


class StorageContract:
    """Subclasses provide a ``store`` fixture: an empty Storage."""

    def test_missing_file_raises_file_not_found(self, store: Storage):
        with pytest.raises(FileNotFoundError):
            store.read_bytes("nope/run.yaml")
        assert not store.exists("nope/run.yaml")

    def test_atomic_write_creates_and_replaces(self, store: Storage):
        store.write_atomic("p/runs/a/run.yaml", b"one")
        store.write_atomic("p/runs/a/run.yaml", b"two", durable=True)
        assert store.read_bytes("p/runs/a/run.yaml") == b"two"
        assert [e.name for e in store.list_dir("p/runs/a")] == ["run.yaml"]  # no temp files left

    def test_exclusive_create_has_one_winner(self, store: Storage):
        wins, losses = race(8, lambda n: store.create_exclusive("claims/0", f"worker {n}".encode()))
        assert len(wins) == 1
        assert len(losses) == 7
        assert store.read_bytes("claims/0") == f"worker {wins[0]}".encode()

    def test_an_exclusively_created_file_is_never_seen_empty(self, store: Storage):
        content = b"format: 1\n" * 50
        names = [f"race/{i}" for i in range(40)]
        seen: list[bytes] = []
        done = threading.Event()

        def reader() -> None:
            while not done.is_set():
                for name in names:
                    try:
                        seen.append(store.read_bytes(name))
                    except FileNotFoundError:
                        pass

        t = threading.Thread(target=reader)
        t.start()
        for name in names:
            store.create_exclusive(name, content)
        done.set()
        t.join()
        assert seen  # the reader did meet files
        assert all(data == content for data in seen)

    def test_exclusive_create_refuses_empty_content(self, store: Storage):
        with pytest.raises(ValueError, match="needs content"):
            store.create_exclusive("claims/1", b"")

    def test_a_local_file_is_put_once_and_read_back_streamed(self, store: Storage, tmp_path):
        data = os.urandom(3 * 2**20 + 17)
        (tmp_path / "blob").write_bytes(data)
        store.put_file_exclusive(str(tmp_path / "blob"), "p/artifacts/blobs/ab/abc")
        (tmp_path / "other").write_bytes(b"something else")
        with pytest.raises(FileExistsError):
            store.put_file_exclusive(str(tmp_path / "other"), "p/artifacts/blobs/ab/abc")
        store.get_file("p/artifacts/blobs/ab/abc", str(tmp_path / "back"))
        assert (tmp_path / "back").read_bytes() == data
        assert [e.name for e in store.list_dir("p/artifacts/blobs/ab")] == ["abc"]  # no temporary files left
        with pytest.raises(FileNotFoundError):
            store.get_file("p/artifacts/blobs/ab/missing", str(tmp_path / "never"))

    def test_put_file_exclusive_has_one_winner(self, store: Storage, tmp_path):
        sources = []
        for n in range(8):
            sources.append(tmp_path / f"src{n}")
            sources[-1].write_bytes(bytes([n]) * 300_000)
        wins, losses = race(8, lambda n: store.put_file_exclusive(str(sources[n]), "blobs/x"))
        assert (len(wins), len(losses)) == (1, 7)
        assert store.read_bytes("blobs/x") == bytes([wins[0]]) * 300_000

    def test_put_file_exclusive_refuses_an_empty_file(self, store: Storage, tmp_path):
        (tmp_path / "empty").write_bytes(b"")
        with pytest.raises(ValueError, match="needs content"):
            store.put_file_exclusive(str(tmp_path / "empty"), "blobs/e")
        assert not store.exists("blobs/e")

    def test_list_dir_sorted_with_kinds(self, store: Storage):
        store.write_atomic("p/runs/b/run.yaml", b"x")
        store.write_atomic("p/runs/a/run.yaml", b"x")
        store.write_atomic("p/ledger.txt", b"x")
        assert [(e.name, e.is_dir) for e in store.list_dir("p")] == [("ledger.txt", False), ("runs", True)]
        assert [e.name for e in store.list_dir("p/runs")] == ["a", "b"]
        assert store.list_dir("missing") == []

    def test_find_lists_one_name_at_one_depth_with_marks(self, store: Storage):
        for rel in ("p/runs/a/run.yaml", "p/runs/b/run.yaml", "q/runs/c/run.yaml", "p/sweeps/s/run.yaml",
                    "p/runs/a/deeper/run.yaml", "p/runs/d/other.yaml", "top/run.yaml"):  # fmt: skip
            store.write_atomic(rel, b"x" * len(rel))
        found = store.find("run.yaml", 3, {1: "runs"})
        assert sorted(found) == ["p/runs/a/run.yaml", "p/runs/b/run.yaml", "q/runs/c/run.yaml"]
        assert found["p/runs/a/run.yaml"].size == len("p/runs/a/run.yaml")
        # Each entry's mark is the hash of (path, Stat), in the listing's order.
        assert list(found.marks) == [hash(item) for item in found.items()]
        assert sorted(store.find("run.yaml", 3)) == [*sorted(found)[:2], "p/sweeps/s/run.yaml", "q/runs/c/run.yaml"]

    def test_stat_changes_when_content_changes(self, store: Storage):
        store.write_atomic("f", b"one")
        first = store.stat("f")
        store.write_atomic("f", b"three")
        assert first.size == 3
        assert store.stat("f").size == 5

    @pytest.mark.parametrize("bad", ["../x", "/etc/passwd", "a/../../b", "a//b", "./a"])
    def test_paths_cannot_leave_the_root(self, store: Storage, bad):
        with pytest.raises(InvalidNameError, match="not a plain relative path"):
            store.write_atomic(bad, b"x")

    def test_reading_while_writing_sees_whole_versions(self, store: Storage):
        store.write_atomic("m", b"A" * 100_000)
        stop = threading.Event()
        seen: set[bytes] = set()

        def reader() -> None:
            while not stop.is_set():
                data = store.read_bytes("m")
                whole = data[:1] * len(data) == data
                seen.add(data[:1] if whole else b"MIXED")

        t = threading.Thread(target=reader)
        t.start()
        for i in range(50):
            store.write_atomic("m", (b"A" if i % 2 else b"B") * 100_000)
        stop.set()
        t.join()
        assert b"MIXED" not in seen


class AppendContract:
    """For stores that append in place (local folders, memory)."""

    def test_append_accumulates(self, store: Storage):
        assert store.caps.appends
        store.append("r/metrics.jsonl", b"a\n")
        store.append("r/metrics.jsonl", b"b\n", durable=True)
        assert store.read_bytes("r/metrics.jsonl") == b"a\nb\n"


class TestLocal(StorageContract, AppendContract):
    @pytest.fixture
    def store(self, tmp_path):
        return open_storage(str(tmp_path / "root"))

    def test_append_cut_short_by_a_full_disk_leaves_no_half_record(self, tmp_path):
        """RLIMIT_FSIZE makes the kernel stop the write part-way, like a disk filling up."""
        code = f"""
import resource, signal
from ledger._storage import open_storage
store = open_storage({str(tmp_path / "root")!r})
store.append("r/m.jsonl", b'{{"a":1}}\\n')
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (500, 500))
try:
    store.append("r/m.jsonl", b"x" * 999 + b"\\n")
except OSError as exc:
    print("refused", exc.errno)
"""
        proc = run_python(code, tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.split() == ["refused", str(errno.EFBIG)]
        assert (tmp_path / "root/r/m.jsonl").read_bytes() == b'{"a":1}\n'


class TestMemory(StorageContract, AppendContract):
    @pytest.fixture
    def store(self, memory_root):
        return open_storage(memory_root)


class TestS3(StorageContract):
    """The same contract on a real S3-compatible server (SeaweedFS)."""

    @pytest.fixture
    def store(self, s3_root):
        return open_storage(s3_root)

    def test_object_stores_write_segments_not_appends(self, store: Storage):
        assert not store.caps.appends
        with pytest.raises(NotImplementedError, match="cannot append in place"):
            store.append("r/metrics.jsonl", b"x\n")

    def test_a_large_file_goes_up_in_parts_and_still_only_once(self, store: Storage, tmp_path):
        """A multipart upload (parts of 5 MiB, the least S3 takes) whose completion is the
        conditional write: the second upload of the same key is refused."""
        store.part_size = 5 * 2**20  # type: ignore[attr-defined]
        data = os.urandom(11 * 2**20)
        (tmp_path / "big").write_bytes(data)
        store.put_file_exclusive(str(tmp_path / "big"), "blobs/big")
        (tmp_path / "big2").write_bytes(data[::-1])
        with pytest.raises(FileExistsError):
            store.put_file_exclusive(str(tmp_path / "big2"), "blobs/big")
        store.get_file("blobs/big", str(tmp_path / "back"))
        assert (tmp_path / "back").read_bytes() == data

    def test_a_lost_conditional_put_is_file_exists(self, store: Storage):
        store.create_exclusive("claims/7", b"first")
        with pytest.raises(FileExistsError):
            store.create_exclusive("claims/7", b"second")
        assert store.read_bytes("claims/7") == b"first"


class TestRetrying:
    def test_transient_errors_are_retried(self):
        calls = []

        def flaky() -> str:
            calls.append(1)
            if len(calls) < 3:
                raise ConnectionError("reset")
            return "ok"

        assert retrying(flaky, first_delay=0.001) == "ok"
        assert len(calls) == 3

    def test_permanent_errors_are_not(self):
        calls = []

        def missing() -> None:
            calls.append(1)
            raise FileNotFoundError("x")

        with pytest.raises(FileNotFoundError):
            retrying(missing, first_delay=0.001)
        assert len(calls) == 1

    def test_gives_up_with_the_last_error(self):
        with pytest.raises(TimeoutError, match="still down"):
            retrying(lambda: (_ for _ in ()).throw(TimeoutError("still down")), attempts=3, first_delay=0.001)
