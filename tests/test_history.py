"""The columnar history cache (ledger/_query/_history.py): its answer is exactly the JSON
lines' answer (records_frame of the decoded records), before and after the cache exists, and
after every way a run's files change: an append to a running run, a resume, a compaction."""

from __future__ import annotations

import math
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ledger
from ledger import _format
from ledger._maintenance import compact
from ledger._query import _history
from ledger._query._views import records_frame
from ledger._storage import open_storage

GOLDEN = Path(__file__).parent / "data" / "format-v1"


def reference(run: ledger.RunView, keys=None, stream: str = "metrics") -> pd.DataFrame:
    """What the JSON lines say, without the cache."""
    return records_frame(run.records(stream), keys)


def cache_file(root: Path, run: ledger.RunView, stream: str = "metrics") -> Path:
    return root / _history.cache_path(run.project, run.id, stream)


def fresh(root, run_id: str) -> ledger.RunView:
    return ledger.open(str(root), cache=False).run(run_id)


def write_run(root: Path, lines: list[bytes], *, name: str = "metrics.jsonl", status: str = "finished") -> str:
    """A run whose metrics file holds exactly ``lines`` (for what log() never writes)."""
    with ledger.init("p", root=str(root), capture_output=False, system_metrics=False) as run:
        run_id = run.id
    folder = root / "p" / "runs" / run_id
    (folder / _format.METRICS).unlink(missing_ok=True)
    (folder / name).write_bytes(b"".join(lines))
    if status != "finished":
        text = (folder / "run.yaml").read_text().replace("status: finished", f"status: {status}")
        (folder / "run.yaml").write_text(text)
    return run_id


class TestSameAnswer:
    def test_a_logged_run_reads_the_same_from_the_cache(self, tmp_dir):
        """Ints, floats, NaN, infinities, booleans, sparse keys and media: the first read
        (which builds the cache) and the cached read both equal the JSON lines' table,
        dtypes included."""
        root = tmp_dir / "results"
        with ledger.init("p", root=str(root), capture_output=False, system_metrics=False) as run:
            for i in range(40):
                rec = {"loss": 1 / (i + 1), "epoch": i // 10, "ok": i % 2 == 0}
                if i % 7 == 0:
                    rec["sparse"] = i
                if i == 5:
                    rec["loss"] = math.nan
                if i == 6:
                    rec["loss"] = -math.inf
                run.log(rec)
            run.log({"img": ledger.Image(np.zeros((4, 4, 3), dtype="uint8"))})
            run_id = run.id
        view = fresh(root, run_id)
        assert not cache_file(root, view).exists()
        for keys in (None, ["loss"], ["ok", "sparse", "never"], ["img"]):
            pd.testing.assert_frame_equal(view.history(keys), reference(view, keys))
        assert cache_file(root, view).exists()
        view = fresh(root, run_id)
        for keys in (None, ["loss"], ["ok", "sparse", "never"], ["img"], ["epoch"]):
            pd.testing.assert_frame_equal(view.history(keys), reference(view, keys))
        assert view.history(["epoch"])["_step"].dtype == np.int64
        assert view.history(["epoch"])["epoch"].dtype == np.float64  # missing from the image's record
        assert view.history(["sparse"])["sparse"].dtype == np.float64
        assert view.history(["ok"])["ok"].dtype == object  # booleans with a gap, as pandas makes them

    def test_the_golden_corpus_reads_the_same(self, tmp_path):
        """Every run of the format's corpus: segments, a torn segment, long integers, minus
        zero, unicode keys, system records."""
        root = tmp_path / "corpus"
        shutil.copytree(GOLDEN, root)
        for _ in range(2):  # building, then cached
            for view in ledger.open(str(root), cache=False).runs():
                pd.testing.assert_frame_equal(view.history(), reference(view))
                pd.testing.assert_frame_equal(view.system(), reference(view, stream="system"))
        assert any((root / _format.CACHE_DIR / "history").rglob("*.arrow"))

    def test_samples_keep_each_metrics_extremes_and_match_the_reference_rows(self, tmp_dir):
        root = tmp_dir / "results"
        rng = np.random.default_rng(0)
        with ledger.init("p", root=str(root), capture_output=False, system_metrics=False) as run:
            for i, v in enumerate(rng.normal(size=3000)):
                run.log({"a": float(v), "b": float(-v) if i % 3 else math.nan})
            run_id = run.id
        view = fresh(root, run_id)
        full = reference(view)
        for _ in range(2):
            sampled = view.history(["a", "b"], samples=100)
            assert len(sampled) < 400
            assert sampled["a"].max() == full["a"].max()
            assert sampled["a"].min() == full["a"].min()
            assert sampled["b"].max() == full["b"].max()
            assert sampled["b"].isna().any()  # the first gap of a bucket is kept
            assert sampled["_step"].is_monotonic_increasing
            # the rows are records of the full table, as they were
            expected = full.set_index("_step").loc[sampled["_step"].to_numpy()].reset_index()[sampled.columns]
            pd.testing.assert_frame_equal(sampled.reset_index(drop=True), expected)
        with pytest.raises(ValueError, match="samples must be a whole number >= 2"):
            view.history(samples=1)

    def test_tail_reads_the_last_records_only(self, tmp_dir):
        root = tmp_dir / "results"
        with ledger.init("p", root=str(root), capture_output=False, system_metrics=False) as run:
            for i in range(100):
                run.log({"x": i})
            run_id = run.id
        view = fresh(root, run_id)
        view.history()  # a cache exists: tail still answers from the end of the file
        tail = view.history(["x"], tail=3)
        assert tail["x"].tolist() == [97, 98, 99]
        pd.testing.assert_frame_equal(tail, reference(view, ["x"]).iloc[-3:].reset_index(drop=True))

    def test_series_come_from_the_cache_too(self, tmp_dir):
        root = tmp_dir / "results"
        with ledger.init("p", root=str(root), capture_output=False, system_metrics=False) as run:
            for i in range(30):
                run.log({"x": i * 0.5, "flag": i % 2 == 0})
            run_id = run.id
        view = fresh(root, run_id)
        from ledger._query import _series

        expected = _series.columns(view.records())
        view.history()  # builds the cache
        got = _history.series_columns(_history.Source(_history.read_cache(open_storage(str(root)),
                                      _history.cache_path("p", run_id, "metrics")), None))  # fmt: skip
        np.testing.assert_array_equal(got.steps, expected.steps)
        np.testing.assert_array_equal(got.times, expected.times)
        assert list(got.keys) == list(expected.keys)
        for key in expected.keys:
            np.testing.assert_array_equal(got.keys[key][0], expected.keys[key][0])
            np.testing.assert_array_equal(got.keys[key][1], expected.keys[key][1])
        series = fresh(root, run_id).series("flag")
        assert series.y.tolist() == [float(i % 2 == 0) for i in range(30)]


# Values a record may hold on disk, hostile ones included: what log() writes, and what only a
# hand-written (or forged) file holds: strings, nulls, lists, long integers, nested objects.
_VALUES = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.integers(min_value=2**63, max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.sampled_from(["NaN", "Infinity", "-Infinity", "text", ""]),
    st.none(),
    st.lists(st.integers(0, 3), max_size=2),
    st.fixed_dictionaries({"_type": st.just("image"), "path": st.just("media/x.png")}),
)
_RECORDS = st.lists(
    st.dictionaries(st.sampled_from(["_step", "_time", "a", "b", "c/d", "ü"]), _VALUES, max_size=5),
    max_size=30,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records=_RECORDS, split=st.integers(0, 30), keys=st.sampled_from([None, ["a"], ["b", "zz"], ["_step"]]))
def test_any_records_read_the_same_through_the_cache(tmp_path_factory, records, split, keys):
    """Property: for any records (and a file cut into a cached part and a part beyond it),
    the cached answer equals the JSON lines' answer, dtypes and all."""
    root = tmp_path_factory.mktemp("prop") / "results"
    encoded = [_format.encode_records([r]) for r in records]
    run_id = write_run(root, encoded[:split], status="running")
    view = fresh(root, run_id)
    pd.testing.assert_frame_equal(view.history(keys), reference(view, keys))  # builds a cache of the first part
    with (root / "p" / "runs" / run_id / _format.METRICS).open("ab") as f:
        f.write(b"".join(encoded[split:]))
    view = fresh(root, run_id)
    pd.testing.assert_frame_equal(view.history(keys), reference(view, keys))
    pd.testing.assert_frame_equal(view.history(keys, samples=4), _sampled_reference(view, keys, 4))


def _sampled_reference(view, keys, samples):
    """history(samples=N): the whole table's rows the downsampler keeps, dtypes unchanged."""
    from ledger._query import _series

    records = view.records()
    table = records_frame(records, keys)
    wanted = [k for k in table.columns if k not in _format.RESERVED]
    rows = _series.sample_rows(_series.columns(records).keys, wanted, samples)
    return table.iloc[rows].reset_index(drop=True)


class TestInvalidation:
    def test_an_append_to_a_running_run_is_read_beyond_the_cache(self, tmp_dir):
        """A running run's cache covers what was there; new lines are decoded from the JSON
        lines and joined on (the cache file itself is not rewritten for a small tail)."""
        root = tmp_dir / "results"
        run_id = write_run(root, [_format.encode_records([{"_step": i, "x": i}]) for i in range(10)], status="running")
        view = fresh(root, run_id)
        assert view.status == "running"
        assert view.history()["x"].tolist() == list(range(10))
        cached = cache_file(root, view)
        before = cached.stat().st_mtime_ns
        with (root / "p" / "runs" / run_id / _format.METRICS).open("ab") as f:
            f.write(_format.encode_records([{"_step": 10, "x": 10.5}, {"_step": 11, "y": True}]))
        view = fresh(root, run_id)
        got = view.history()
        pd.testing.assert_frame_equal(got, reference(view))
        assert got["x"].tolist()[-2:] == [10.5, 10.0] or math.isnan(got["x"].tolist()[-1])
        assert got["x"].dtype == np.float64  # int + float: float, as the JSON lines give
        assert cached.stat().st_mtime_ns == before  # the tail was joined on, the cache kept

    def test_a_torn_line_then_an_append_reads_as_the_json_lines_do(self, tmp_dir):
        root = tmp_dir / "results"
        run_id = write_run(root, [b'{"_step":0,"x":1}\n', b'{"_step":1,"x":'], status="running")
        view = fresh(root, run_id)
        assert view.history()["x"].tolist() == [1]
        with (root / "p" / "runs" / run_id / _format.METRICS).open("ab") as f:
            f.write(b'2}\n{"_step":2,"x":3}\n')  # the torn line completed by the next write
        view = fresh(root, run_id)
        pd.testing.assert_frame_equal(view.history(), reference(view))
        assert view.history()["x"].tolist() == [1, 2, 3]

    def test_a_resumed_run_reads_every_record_after_it_finishes_again(self, tmp_dir):
        root = tmp_dir / "results"
        with ledger.init("p", root=str(root), capture_output=False, system_metrics=False) as run:
            for i in range(5):
                run.log({"loss": 1.0 / (i + 1)})
            run_id = run.id
        view = fresh(root, run_id)
        assert len(view.history()) == 5
        cached = cache_file(root, view)
        assert _history.read_cache(open_storage(str(root)), _history.cache_path("p", run_id, "metrics")).rows == 5
        with ledger.init("p", root=str(root), resume=run_id, capture_output=False, system_metrics=False) as run:
            for _ in range(3):
                run.log({"loss": 0.1, "acc": 0.5})
        view = fresh(root, run_id)
        got = view.history()
        pd.testing.assert_frame_equal(got, reference(view))
        assert len(got) == 8
        assert got["acc"].isna().sum() == 5
        # the ended run's cache now covers every record
        assert _history.read_cache(open_storage(str(root)), _history.cache_path("p", run_id, "metrics")).rows == 8
        assert cached.exists()

    def test_a_compaction_rebuilds_the_cache(self, tmp_dir):
        """Segments (as object stores write them) cached, then compacted into one file: new
        file names, so the cache is rebuilt, and the records are exactly the same."""
        root = tmp_dir / "results"
        seg0 = _format.encode_records([{"_step": 0, "x": 1}, {"_step": 1, "x": 2}])
        seg1 = _format.encode_records([{"_step": 2, "x": 3.5, "y": "NaN"}])
        run_id = write_run(root, [seg0], name="metrics.0.jsonl")
        (root / "p" / "runs" / run_id / "metrics.1.jsonl").write_bytes(seg1)
        view = fresh(root, run_id)
        before = view.history()
        pd.testing.assert_frame_equal(before, reference(view))
        meta = _history.read_cache(open_storage(str(root)), _history.cache_path("p", run_id, "metrics"))
        assert [p.name for p in meta.pieces] == ["metrics.0.jsonl", "metrics.1.jsonl"]
        assert compact(open_storage(str(root)), "p", run_id) == 2
        view = fresh(root, run_id)
        after = view.history()
        pd.testing.assert_frame_equal(after, reference(view))
        pd.testing.assert_frame_equal(after, before)
        meta = _history.read_cache(open_storage(str(root)), _history.cache_path("p", run_id, "metrics"))
        assert [p.name for p in meta.pieces] == ["metrics.jsonl"]

    def test_a_rewritten_file_of_the_same_length_is_not_taken_from_the_cache(self, tmp_dir):
        root = tmp_dir / "results"
        run_id = write_run(root, [b'{"_step":0,"x":1}\n'])
        view = fresh(root, run_id)
        assert view.history()["x"].tolist() == [1]
        path = root / "p" / "runs" / run_id / _format.METRICS
        path.write_bytes(b'{"_step":0,"x":7}\n')
        os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
        assert fresh(root, run_id).history()["x"].tolist() == [7]

    def test_other_record_limits_rebuild_the_cache(self, tmp_dir, monkeypatch):
        """The limits decide which lines count: a cache made under others is not used."""
        root = tmp_dir / "results"
        run_id = write_run(root, [b'{"_step":0,"x":1}\n', b'{"_step":1,"x":2,"pad":"' + b"p" * 200 + b'"}\n'])
        assert len(fresh(root, run_id).history()) == 2
        monkeypatch.setenv("LEDGER_MAX_RECORD_BYTES", "100")
        view = fresh(root, run_id)
        pd.testing.assert_frame_equal(view.history(), reference(view))
        assert len(view.history()) == 1


class TestHostile:
    @pytest.mark.parametrize("content", [b"", b"not arrow at all", b"ARROW1\x00\x00" + b"\xff" * 64])
    def test_a_forged_or_broken_cache_is_rebuilt(self, tmp_dir, content):
        root = tmp_dir / "results"
        run_id = write_run(root, [b'{"_step":0,"x":1}\n'])
        view = fresh(root, run_id)
        path = cache_file(root, view)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        pd.testing.assert_frame_equal(view.history(), reference(view))
        assert _history.read_cache(open_storage(str(root)), _history.cache_path("p", run_id, "metrics")) is not None

    @pytest.mark.parametrize("kind", ["symlink", "fifo"])
    def test_a_cache_that_is_a_link_or_a_fifo_is_never_opened(self, tmp_dir, kind):
        """A hostile ledger's cache path pointing elsewhere (or a FIFO, whose open would
        block): refused unopened, the answer comes from the JSON lines."""
        root = tmp_dir / "results"
        run_id = write_run(root, [b'{"_step":0,"x":1}\n'])
        view = fresh(root, run_id)
        path = cache_file(root, view)
        path.parent.mkdir(parents=True, exist_ok=True)
        if kind == "symlink":
            view.history()
            elsewhere = tmp_dir / "elsewhere.arrow"
            path.rename(elsewhere)
            path.symlink_to(elsewhere)
        else:
            os.mkfifo(path)
        assert _history.read_cache(open_storage(str(root)), _history.cache_path("p", run_id, "metrics")) is None
        pd.testing.assert_frame_equal(fresh(root, run_id).history(), reference(view))

    def test_a_cache_of_another_run_claiming_these_files_still_checks_their_bytes(self, tmp_dir):
        """A cache copied from another run whose file has the same name and length but other
        bytes: the digest of the covered bytes differs once the file grows, so it is rebuilt."""
        root = tmp_dir / "results"
        a = write_run(root, [b'{"_step":0,"x":1}\n'], status="running")
        b = write_run(root, [b'{"_step":0,"x":9}\n'], status="running")
        fresh(root, a).history()
        path_b = root / _history.cache_path("p", b, "metrics")
        path_b.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(root / _history.cache_path("p", a, "metrics"), path_b)
        with (root / "p" / "runs" / b / _format.METRICS).open("ab") as f:
            f.write(b'{"_step":1,"x":10}\n')
        assert fresh(root, b).history()["x"].tolist() == [9, 10]

    def test_a_stream_of_ever_new_keys_is_read_as_records(self, tmp_dir):
        """Columns of a file whose every record names new keys would be almost all holes (a
        cell per key and record): such a stream is read as records, never as columns."""
        root = tmp_dir / "results"
        run_id = write_run(root, [_format.encode_records([{"_step": i, f"k{i}": i}]) for i in range(1100)])
        view = fresh(root, run_id)
        pd.testing.assert_frame_equal(view.history(["k5", "k1000"]), reference(view, ["k5", "k1000"]))
        assert view.series("k7").y.tolist() == [7.0]
        assert not cache_file(root, view).exists()
        with pytest.raises(_history.TooWide):
            _history.columns_of(view.records())

    def test_a_line_over_the_record_limit_is_skipped_without_being_held(self, tmp_dir, monkeypatch):
        monkeypatch.setenv("LEDGER_MAX_RECORD_BYTES", "1000")
        monkeypatch.setattr(_history, "_SLICE_BYTES", 256)  # the long line spans many slices
        root = tmp_dir / "results"
        long_line = b'{"_step":1,"x":"' + b"a" * 5000 + b'"}\n'
        run_id = write_run(root, [b'{"_step":0,"x":1}\n', long_line, b'{"_step":2,"x":3}\n'])
        view = fresh(root, run_id)
        got = view.history()
        pd.testing.assert_frame_equal(got, reference(view))
        assert got["x"].tolist() == [1, 3]


def test_without_pyarrow_the_json_lines_answer(tmp_dir, monkeypatch):
    """pyarrow is optional: without it, history reads the JSON lines and writes no cache."""
    root = tmp_dir / "results"
    run_id = write_run(root, [b'{"_step":0,"x":1}\n', b'{"_step":1,"x":2.5}\n'])
    monkeypatch.setattr(_history, "arrow", lambda: None)
    view = fresh(root, run_id)
    pd.testing.assert_frame_equal(view.history(), reference(view))
    assert not (root / _format.CACHE_DIR / "history").exists()


def test_the_cache_is_neither_committed_nor_published(tmp_dir):
    """It lives in the root's .cache/ (ignored by the root's .gitignore), never in a run folder."""
    root = tmp_dir / "results"
    run_id = write_run(root, [b'{"_step":0,"x":1}\n'])
    view = fresh(root, run_id)
    view.history()
    assert cache_file(root, view).is_relative_to(root / _format.CACHE_DIR)
    assert f"{_format.CACHE_DIR}/" in (root / _format.ROOT_GITIGNORE).read_text().splitlines()
    assert not list((root / "p").rglob("*.arrow"))


def test_an_s3_root_reads_the_same_through_the_cache(s3_root):
    """On a real S3 server (SeaweedFS): segments, the cache written to the bucket, and read back."""
    with ledger.init("p", root=s3_root, capture_output=False, system_metrics=False) as run:
        for i in range(20):
            run.log({"x": i, "y": math.nan if i == 3 else i / 2})
        run_id = run.id
    view = ledger.open(s3_root).run(run_id)
    first = view.history()
    pd.testing.assert_frame_equal(first, reference(view))
    storage = open_storage(s3_root)
    assert storage.exists(_history.cache_path("p", run_id, "metrics"))
    pd.testing.assert_frame_equal(ledger.open(s3_root).run(run_id).history(["y"]), reference(view, ["y"]))
