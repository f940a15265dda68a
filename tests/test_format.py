"""The on-disk format v1: manifests, JSON-lines streams, versioning."""

from __future__ import annotations

import math

import pytest
import yaml

import ledger
from ledger import _format
from ledger._format import Manifest
from tests.helpers import REPO, all_runs, history, manifest, quiet_init

KEY_ORDER = [
    "format", "id", "name", "project", "group", "job_type", "tags", "notes", "status", "created", "ended",
    "duration_s", "gpu_count", "heartbeat", "heartbeat_s", "intervals", "user", "host", "command", "git", "config",
    "summary", "sweep", "resumed_from", "reproduces", "parent",
]  # fmt: skip


class TestManifest:
    def test_keys_are_written_in_the_normative_order(self, tmp_dir):
        run = quiet_init("p", root="results", config={"b": 1, "a": {"z": 1, "y": 2}})
        run.log({"m": 1.0, "a": 2.0})
        run.finish()
        text = (tmp_dir / "results/p/runs" / run.id / "run.yaml").read_text()
        doc = yaml.safe_load(text)
        assert list(doc) == KEY_ORDER
        assert list(doc["config"]) == ["a", "b"]
        assert list(doc["config"]["a"]) == ["y", "z"]
        assert list(doc["summary"]) == ["a", "m"]
        assert "{" not in text.split("config:")[1]  # block style, not flow style

    def test_timestamps_stay_strings_for_yaml_readers(self, tmp_dir):
        run = quiet_init("p", root="results")
        run.finish()
        doc = yaml.safe_load((tmp_dir / "results/p/runs" / run.id / "run.yaml").read_text())
        for key in ("created", "ended", "heartbeat"):
            assert isinstance(doc[key], str)
            assert doc[key].endswith("Z")

    def test_format_2_manifest_fails_with_a_clear_message(self):
        doc = {"format": 2, "id": "x", "project": "p"}
        with pytest.raises(
            ledger.FormatVersionError, match=r"run\.yaml: format 2 is not supported.*reads format 1.*upgrade"
        ):
            Manifest.from_yaml(yaml.safe_dump(doc).encode(), "somewhere/run.yaml")

    def test_missing_format_is_corrupt_not_a_guess(self):
        with pytest.raises(ledger.CorruptFileError, match="missing 'format' key"):
            Manifest.from_yaml(b"id: x\nproject: p\n", "r/run.yaml")

    def test_python_tags_are_refused_not_executed(self):
        evil = b"format: 1\nid: x\nproject: p\nconfig: !!python/object/apply:os.system ['echo pwned']\n"
        with pytest.raises(ledger.CorruptFileError, match="not valid YAML"):
            Manifest.from_yaml(evil, "r/run.yaml")

    def test_unknown_keys_survive_a_rewrite(self):
        m = Manifest.from_yaml(b"format: 1\nid: x\nproject: p\nfuture_key: {a: 1}\n", "r")
        again = Manifest.from_yaml(m.to_yaml(), "r")
        assert again.extra == {"future_key": {"a": 1}}

    def test_checked_in_manifest_keeps_loading(self):
        """A run.yaml written by version 0.1 (tests/data): the format promise to old ledgers."""
        m = Manifest.from_yaml((REPO / "tests/data/run-v1.yaml").read_bytes(), "run-v1.yaml")
        assert m.id == "20261127-020304-3f9a1c"
        assert m.status == "finished"
        assert m.config["optimizer"]["lr"] == 0.001
        assert math.isnan(m.summary["diverged_loss"])
        assert m.duration_s == 61.5


class TestRootMarker:
    def test_first_init_marks_the_root_and_ignores_the_cache(self, tmp_dir):
        quiet_init("p", root="results").finish()
        assert yaml.safe_load((tmp_dir / "results/ledger.yaml").read_text()) == {"format": 1}
        assert (tmp_dir / "results/.gitignore").read_text() == ".cache/\n"

    def test_root_of_a_newer_format_is_refused_before_writing(self, tmp_dir):
        (tmp_dir / "results").mkdir()
        (tmp_dir / "results/ledger.yaml").write_text("format: 2\n")
        with pytest.raises(ledger.FormatVersionError, match="format 2"):
            quiet_init("p", root="results")
        assert sorted(p.name for p in (tmp_dir / "results").iterdir()) == ["ledger.yaml"]


class TestRecords:
    def test_torn_last_line_is_skipped_and_reported(self):
        data = b'{"_step":0,"a":1}\n{"_step":1,"a":2}\n{"_step":2,"a'
        decoded = _format.decode_records(data, "m.jsonl")
        assert [r["a"] for r in decoded.records] == [1, 2]
        assert decoded.torn is not None
        assert "m.jsonl: skipped a torn last line" in decoded.torn

    def test_complete_last_line_without_newline_is_kept(self):
        decoded = _format.decode_records(b'{"_step":0,"a":1}\n{"_step":1,"a":2}', "m")
        assert [r["a"] for r in decoded.records] == [1, 2]
        assert decoded.torn is None

    def test_corruption_in_the_middle_is_skipped_and_reported_apart_from_torn(self):
        data = b'{"_step":0}\n{garbage\n{"_step":2}\n[1]\n{"_step":4}\n{"_st'
        decoded = _format.decode_records(data, "m.jsonl")
        assert [r["_step"] for r in decoded.records] == [0, 2, 4]
        assert len(decoded.corrupt) == 2
        assert decoded.corrupt[0].startswith("m.jsonl: skipped line 2 of 6, not a JSON object")
        assert decoded.corrupt[1].startswith("m.jsonl: skipped line 4 of 6, not a JSON object")
        assert decoded.torn == "m.jsonl: skipped a torn last line (5 bytes) at line 6"

    def test_torn_file_on_disk_reads_through_the_run_reader(self, tmp_dir):
        run = quiet_init("p", root="results")
        for i in range(3):
            run.log({"a": i})
        run.finish()
        path = tmp_dir / "results/p/runs" / run.id / "metrics.jsonl"
        with path.open("ab") as f:
            f.write(b'{"_step":3,"_ti')
        assert [r["a"] for r in history(tmp_dir / "results", "p", run.id)] == [0, 1, 2]

    def test_encode_is_one_compact_object_per_line(self):
        out = _format.encode_records([{"_step": 0, "a": 1.5}, {"_step": 1, "a": math.nan}])
        assert out == b'{"_step":0,"a":1.5}\n{"_step":1,"a":"NaN"}\n'


class TestNames:
    @pytest.mark.parametrize("bad", ["", "../x", "a/b", ".hidden", "has space", "x" * 129, "..", "a\\b"])
    def test_bad_project_names_are_refused(self, tmp_dir, bad):
        with pytest.raises(ledger.InvalidNameError, match=r"project .* cannot be used"):
            quiet_init(bad, root="results")

    def test_resume_id_with_path_parts_is_refused(self, tmp_dir):
        quiet_init("p", root="results").finish()
        with pytest.raises(ledger.InvalidNameError, match=r"run id '../../etc' cannot be used"):
            quiet_init("p", root="results", resume="../../etc")

    def test_run_ids_have_the_documented_shape(self, tmp_dir):
        run = quiet_init("p", root="results")
        run.finish()
        assert _format._names._NAME_RE.fullmatch(run.id)
        date, clock, rand = run.id.split("-")
        assert len(date) == 8
        assert len(clock) == 6
        assert len(rand) == 6
        assert manifest(tmp_dir / "results", "p", run.id).created.startswith(f"{date[:4]}-{date[4:6]}-{date[6:]}T")
        assert all_runs(tmp_dir / "results")[0].id == run.id
