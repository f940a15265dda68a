"""What the viewer reads besides manifests and metrics: saved files, the run folder's other
files, and a cheap token of the index's state for caching."""

from __future__ import annotations

import pytest
import yaml

import ledger
from ledger._query import index_state
from tests.helpers import quiet_init


class TestRunFiles:
    def test_saved_files_are_listed_and_read(self, tmp_dir):
        (tmp_dir / "ckpt").mkdir()
        (tmp_dir / "ckpt" / "model.pt").write_bytes(b"\x00" * 10)
        (tmp_dir / "plot.png").write_bytes(b"png")
        with quiet_init("p", root="results") as run:
            run.save("ckpt/model.pt")
            run.save("plot.png")
        view_ = ledger.open("results").run(run.id)
        assert view_.files() == {"ckpt/model.pt": 10, "plot.png": 3}
        assert view_.read_file("files/plot.png") == b"png"

    def test_missing_and_outside_files(self, tmp_dir):
        with quiet_init("p", root="results") as run:
            pass
        view_ = ledger.open("results").run(run.id)
        assert view_.files() == {}
        with pytest.raises(FileNotFoundError):
            view_.read_file("code.patch")
        for bad in ("../other/run.yaml", "/etc/passwd", "files//x", ""):
            with pytest.raises(ValueError, match="not a path inside the run folder"):
                view_.read_file(bad)


class TestIndexState:
    def test_changes_with_new_and_rewritten_runs_only(self, tmp_dir):
        with quiet_init("p", root="results") as run:
            pass
        first = index_state("results")
        assert index_state("results") == first
        ledger.open("results")  # writing the index cache is not a change of the runs
        assert index_state("results") == first
        with quiet_init("p", root="results"):
            pass
        second = index_state("results")
        assert second != first
        path = tmp_dir / "results/p/runs" / run.id / "run.yaml"
        doc = yaml.safe_load(path.read_text())
        doc["notes"] = "edited"
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        assert index_state("results") != second
