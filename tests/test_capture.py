"""What a run records about itself: console, system utilisation, code state, host."""

from __future__ import annotations

import subprocess
import sys

import pytest

import ledger
from tests.helpers import history, manifest, quiet_init, run_python


def _git(cwd, *args):
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path, monkeypatch):
    path = tmp_path / "proj"
    path.mkdir()
    _git(path, "init", "-q", "-b", "main")
    _git(path, "config", "user.email", "t@example.com")
    _git(path, "config", "user.name", "T")
    (path / "train.py").write_text("print('hi')\n")
    _git(path, "add", "train.py")
    _git(path, "commit", "-qm", "first")
    monkeypatch.chdir(path)
    return path


class TestConsole:
    def test_output_is_teed_and_tqdm_bars_collapse_to_their_last_state(self, tmp_path):
        pytest.importorskip("tqdm")
        code = """
import sys, ledger
from tqdm import tqdm
run = ledger.init("p", root="results", system_metrics=False)
print("epoch 1 starting")
for _ in tqdm(range(10_000), mininterval=0, miniters=1, desc="train"):
    pass
print("warning: to stderr", file=sys.stderr)
print("done")
run.finish()
print("after finish is not captured")
"""
        proc = run_python(code, tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert "epoch 1 starting" in proc.stdout  # the terminal still shows everything
        assert proc.stderr.count("train:") > 5_000  # every redraw reached the terminal
        (run_dir,) = (tmp_path / "results/p/runs").iterdir()
        lines = (run_dir / "output.log").read_text().splitlines()
        assert lines[0] == "epoch 1 starting"
        assert len(lines) == 4
        assert lines[1].startswith("train: 100%")
        assert "10000/10000" in lines[1]
        assert lines[2:] == ["warning: to stderr", "done"]

    def test_capture_output_false_writes_no_log_and_leaves_streams(self, tmp_dir):
        before = sys.stdout
        run = ledger.init("p", root="results", capture_output=False, system_metrics=False)
        assert sys.stdout is before
        print("not captured")
        run.finish()
        assert not (tmp_dir / "results/p/runs" / run.id / "output.log").exists()

    def test_two_runs_capture_and_finish_in_any_order(self, tmp_dir, capsys):
        a = ledger.init("p", root="results", system_metrics=False)
        print("to a")
        b = ledger.init("p", root="results", system_metrics=False)
        print("to both")
        a.finish()
        print("to b")
        b.finish()
        print("to none")
        folder = tmp_dir / "results/p/runs"
        assert (folder / a.id / "output.log").read_text() == "to a\nto both\n"
        assert (folder / b.id / "output.log").read_text() == "to both\nto b\n"
        assert capsys.readouterr().out == "to a\nto both\nto b\nto none\n"

    def test_unfinished_last_line_is_kept_at_finish(self, tmp_dir):
        run = ledger.init("p", root="results", system_metrics=False)
        sys.stdout.write("progress 10%\rprogress 90%")
        run.finish()
        sys.stdout.write("\n")
        assert (tmp_dir / "results/p/runs" / run.id / "output.log").read_text() == "progress 90%\n"


class TestSystemMetrics:
    def test_sampler_writes_system_jsonl(self, tmp_dir):
        import time

        run = ledger.init("p", root="results", capture_output=False, system_metrics=0.05)
        time.sleep(0.4)
        run.finish()
        recs = history(tmp_dir / "results", "p", run.id)
        assert recs == []  # system samples never mix with metrics
        from ledger import _format, _reader
        from ledger._storage import Storage

        system = _reader.read_stream(Storage(str(tmp_dir / "results")), _format.run_dir("p", run.id), "system")
        assert len(system.records) >= 3
        first = system.records[0]
        assert [r["_step"] for r in system.records] == list(range(len(system.records)))
        for key in ("cpu/percent", "memory/percent", "memory/process_rss_gb"):
            assert isinstance(first[key], (int, float))
        assert first["memory/process_rss_gb"] > 0

    @pytest.mark.parametrize("bad", [-1, 0, "often"])
    def test_bad_interval_is_refused(self, tmp_dir, bad):
        with pytest.raises(ValueError, match="system_metrics must be True, False or a positive number"):
            ledger.init("p", root="results", system_metrics=bad)


class TestProvenance:
    def test_host_command_user(self, tmp_dir):
        run = quiet_init("p", root="results")
        run.finish()
        m = manifest(tmp_dir / "results", "p", run.id)
        assert m.host["python"] == ".".join(map(str, sys.version_info[:3]))
        assert m.host["cpu_count"] >= 1
        assert m.host["memory_gb"] > 0
        assert m.host["gpus"] == []
        assert m.command["executable"] == sys.executable
        assert m.command["cwd"] == str(tmp_dir)
        assert m.user

    def test_git_state_of_a_clean_repo(self, repo):
        run = quiet_init("p")  # root defaults to <repo>/results
        run.finish()
        m = manifest(repo / "results", "p", run.id)
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True)
        assert m.git["commit"] == head.stdout.strip()
        assert m.git["branch"] == "main"
        assert m.git["dirty"] is False  # the runs being written under results/ do not count
        assert m.git["untracked"] == []

    def test_git_state_of_a_dirty_repo(self, repo):
        (repo / "train.py").write_text("print('changed')\n")
        (repo / "notes.txt").write_text("new\n")
        run = quiet_init("p")
        run.finish()
        m = manifest(repo / "results", "p", run.id)
        assert m.git["dirty"] is True
        assert m.git["untracked"] == ["notes.txt"]

    def test_outside_a_repository_git_is_null(self, tmp_dir):
        run = quiet_init("p", root="results")
        run.finish()
        assert manifest(tmp_dir / "results", "p", run.id).git is None
