"""What a run records about itself: console, system utilisation, code state, command, host, packages."""

from __future__ import annotations

import importlib.metadata
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import ledger
from ledger._capture import _git as git_capture
from ledger._capture._host import parse_nvidia_smi, visible_gpu_count
from ledger._capture._packages import parse_requirements
from ledger._capture._redact import redact_argv, strip_url_credentials
from tests.helpers import git, history, manifest, new_repo, quiet_init, run_python


@pytest.fixture
def repo(tmp_path, monkeypatch):
    path = new_repo(tmp_path / "proj")
    (path / "train.py").write_text("print('hi')\n")
    (path / ".gitignore").write_text("*.log\n")
    git(path, "add", "train.py", ".gitignore")
    git(path, "commit", "-qm", "first")
    monkeypatch.chdir(path)
    return path


def _record(repo: Path, **kwargs):
    """One quiet run with the default root (<repo>/results): its manifest and its folder."""
    run = quiet_init("p", **kwargs)
    run.finish()
    return manifest(repo / "results", "p", run.id), repo / "results/p/runs" / run.id


def _apply_to_fresh_clone(repo: Path, patch: Path, dest: Path) -> Path:
    """Clone the repository at its HEAD and `git apply` the run's patch there, as reproduce does."""
    subprocess.run(["git", "clone", "-q", str(repo), str(dest)], check=True, capture_output=True)
    subprocess.run(["git", "apply", str(patch)], cwd=dest, check=True, capture_output=True)
    return dest


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
        from ledger._storage import open_storage

        system = _reader.read_stream(open_storage(str(tmp_dir / "results")), _format.run_dir("p", run.id), "system")
        assert len(system.records) >= 3
        first = system.records[0]
        assert [r["_step"] for r in system.records] == list(range(len(system.records)))
        for key in ("cpu/percent", "memory/percent", "memory/process_rss_gb"):
            assert isinstance(first[key], (int, float))
        assert first["memory/process_rss_gb"] > 0

    def test_gpu_records_leave_out_what_a_card_does_not_report(self):
        # No GPU on the test machines: a stand-in with NVML's call shapes, where power is
        # "not supported" as on many cards.
        from types import SimpleNamespace

        from ledger._capture._system import _Nvml

        class CardWithoutPower:
            NVML_TEMPERATURE_GPU = 0

            def nvmlDeviceGetUtilizationRates(self, h):
                return SimpleNamespace(gpu=50 + h)

            def nvmlDeviceGetMemoryInfo(self, h):
                return SimpleNamespace(used=2**30, total=4 * 2**30)

            def nvmlDeviceGetPowerUsage(self, h):
                raise RuntimeError("NVMLError_NotSupported")

            def nvmlDeviceGetTemperature(self, h, sensor):
                return 61

        rec: dict = {}
        assert _Nvml(CardWithoutPower(), [0, 1]).sample(rec) is True
        assert rec["gpu/1/utilization_percent"] == 51.0
        assert rec["gpu/0/memory_used_gb"] == 1.0
        assert rec["gpu/0/memory_percent"] == 25.0
        assert rec["gpu/1/temperature_c"] == 61.0
        assert not any(k.endswith("power_w") for k in rec)
        assert len(rec) == 8

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

    def test_outside_a_repository_git_is_null_with_one_warning(self, tmp_dir, caplog):
        caplog.set_level(logging.WARNING, logger="ledger")
        for _ in range(2):
            run = quiet_init("p", root="results")
            run.finish()
            assert manifest(tmp_dir / "results", "p", run.id).git is None
        assert [r.getMessage() for r in caplog.records].count(
            f"ledger: {tmp_dir} is not inside a git repository; code state not recorded (git: null)"
        ) == 1


class TestCodeState:
    def test_clean_repo(self, repo):
        m, folder = _record(repo)  # the root, <repo>/results, is inside the repository
        assert m.git["root"] == str(repo)
        assert m.git["commit"] == git(repo, "rev-parse", "HEAD")
        assert m.git["branch"] == "main"
        assert m.git["remote"] is None
        assert m.git["dirty"] is False  # the runs being written under results/ do not count
        assert m.git["untracked"] == []
        assert m.git["patch"] is None
        assert not (folder / "code.patch").exists()
        assert (m.git["binary_files"], m.git["skipped_files"], m.git["submodules"]) == ([], [], [])

    def test_dirty_tracked_file_is_in_a_patch_that_applies(self, repo, tmp_path):
        (repo / "train.py").write_text("print('changed')\n")
        m, folder = _record(repo)
        assert m.git["dirty"] is True
        assert m.git["untracked"] == []
        assert m.git["patch"] == "code.patch"
        patch = (folder / "code.patch").read_text()
        assert "-print('hi')\n+print('changed')\n" in patch
        clone = _apply_to_fresh_clone(repo, folder / "code.patch", tmp_path / "clone")
        assert (clone / "train.py").read_text() == "print('changed')\n"

    def test_untracked_files_are_in_the_patch_byte_for_byte_and_ignored_ones_are_not(self, repo, tmp_path):
        odd = {
            "notes.txt": b"new\n",
            "src/no_newline.py": b"x = 1\ny = 2",
            "crlf.txt": b"a\r\nb\r\n",
            "empty.txt": b"",
            "with space.txt": b"spaced\n",
            "\u00fcnicode.txt": "\u00e9t\u00e9\n".encode(),
        }
        for name, data in odd.items():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            (repo / name).write_bytes(data)
        (repo / "run.sh").write_text("echo hi\n")
        (repo / "run.sh").chmod(0o755)
        (repo / "debug.log").write_text("ignored by .gitignore\n")
        m, folder = _record(repo)
        assert m.git["untracked"] == sorted([*odd, "run.sh"])
        patch = (folder / "code.patch").read_bytes()
        assert b"debug.log" not in patch
        assert "debug.log" not in m.git["untracked"]
        clone = _apply_to_fresh_clone(repo, folder / "code.patch", tmp_path / "clone")
        for name, data in odd.items():
            assert (clone / name).read_bytes() == data, name
        assert os.access(clone / "run.sh", os.X_OK)
        assert not (clone / "debug.log").exists()
        # The patch says exactly what the working tree holds: reversing it there is clean.
        subprocess.run(["git", "apply", "-R", "--check", str(folder / "code.patch")], cwd=repo, check=True)

    def test_user_diff_settings_do_not_change_the_patch(self, repo, tmp_path):
        (repo / "train.py").write_text("a\n\nb\nc\nd\ne\n")
        git(repo, "commit", "-qam", "more lines")
        for key, value in [
            ("diff.noprefix", "true"),
            ("diff.mnemonicPrefix", "true"),
            ("diff.context", "0"),
            ("color.ui", "always"),
            ("diff.renames", "copies"),
            ("diff.external", "false"),
            ("diff.suppressBlankEmpty", "true"),
            ("core.quotePath", "false"),
        ]:
            git(repo, "config", key, value)
        (repo / "train.py").write_text("a\n\nB\nc\nd\ne\n")
        (repo / "\u00e9.py").write_text("x = 1\n")
        _, folder = _record(repo)
        clone = _apply_to_fresh_clone(repo, folder / "code.patch", tmp_path / "clone")
        assert (clone / "train.py").read_text() == "a\n\nB\nc\nd\ne\n"
        assert (clone / "\u00e9.py").read_text() == "x = 1\n"
        assert b"\x1b[" not in (folder / "code.patch").read_bytes()  # no colour codes

    def test_binary_untracked_file_is_listed_not_inlined(self, repo):
        (repo / "weights.bin").write_bytes(b"\x00\x01\x02" * 100)
        (repo / "notes.txt").write_text("text\n")
        m, folder = _record(repo)
        assert m.git["binary_files"] == ["weights.bin"]
        assert m.git["untracked"] == ["notes.txt", "weights.bin"]
        patch = (folder / "code.patch").read_bytes()
        assert b"weights.bin" not in patch
        assert b"notes.txt" in patch

    def test_large_files_are_skipped_and_the_cap_is_noted(self, repo, monkeypatch, tmp_path):
        monkeypatch.setenv("LEDGER_PATCH_MAX_FILE_BYTES", "1000")
        monkeypatch.setenv("LEDGER_PATCH_MAX_BYTES", "300")
        (repo / "huge.csv").write_text("1,2,3\n" * 500)  # 3000 bytes: above the per-file limit
        (repo / "a.py").write_text("a = 1\n")
        (repo / "b.py").write_text("b = 2\n")
        (repo / "c.py").write_text("# " + "c" * 400 + "\n")  # fits alone, not with the others
        m, folder = _record(repo)
        assert m.git["skipped_files"] == ["c.py", "huge.csv"]
        assert m.git["patch_note"] == (
            "cut at 300 bytes ($LEDGER_PATCH_MAX_BYTES): 1 file(s) left out, listed in skipped_files"
        )
        patch = (folder / "code.patch").read_bytes()
        assert len(patch) <= 300
        clone = _apply_to_fresh_clone(repo, folder / "code.patch", tmp_path / "clone")
        assert (clone / "a.py").read_text() == "a = 1\n"
        assert (clone / "b.py").read_text() == "b = 2\n"
        assert not (clone / "c.py").exists()

    def test_files_under_the_ledger_root_are_never_code(self, repo):
        (repo / "train.py").write_text("print('changed')\n")
        first, first_dir = _record(repo)
        second, second_dir = _record(repo)  # the first run's folder now exists under results/
        assert second.git["untracked"] == first.git["untracked"] == []
        assert (second_dir / "code.patch").read_bytes() == (first_dir / "code.patch").read_bytes()
        assert b"results/" not in (second_dir / "code.patch").read_bytes()

    def test_a_root_at_the_top_of_the_repository_is_not_code_either(self, repo):
        (repo / "train.py").write_text("print('changed')\n")
        first = quiet_init("p", root=str(repo))
        first.finish()
        second = quiet_init("p", root=str(repo))
        second.finish()
        m = manifest(repo, "p", second.id)
        assert m.git["untracked"] == []
        patch = (repo / "p/runs" / second.id / "code.patch").read_bytes()
        assert patch == (repo / "p/runs" / first.id / "code.patch").read_bytes()
        assert b"ledger.yaml" not in patch

    def test_detached_head(self, repo):
        (repo / "train.py").write_text("print('v2')\n")
        git(repo, "commit", "-qam", "second")
        first = git(repo, "rev-parse", "HEAD~1")
        git(repo, "checkout", "-q", "--detach", first)
        m, _ = _record(repo)
        assert m.git["branch"] is None
        assert m.git["commit"] == first
        assert m.git["dirty"] is False

    def test_remote_credentials_are_stripped(self, repo):
        git(repo, "remote", "add", "origin", "https://ada:ghp_s3cret@github.com/ada/mnist.git")
        git(repo, "remote", "add", "backup", "ssh://git:hunter2@example.com/ada/mnist.git")
        m, folder = _record(repo)
        assert m.git["remote"] == "https://github.com/ada/mnist.git"
        text = (folder / "run.yaml").read_text()
        assert "ghp_s3cret" not in text
        assert "hunter2" not in text

    def test_remote_is_found_from_a_linked_worktree(self, repo, tmp_path, monkeypatch):
        git(repo, "remote", "add", "backup", "ssh://git:hunter2@example.com/ada/mnist.git")
        git(repo, "worktree", "add", "-q", "--detach", str(tmp_path / "linked"))
        monkeypatch.chdir(tmp_path / "linked")
        m, _ = _record(tmp_path / "linked")
        assert m.git["root"] == str(tmp_path / "linked")
        assert m.git["remote"] == "ssh://git@example.com/ada/mnist.git"  # the first remote: no origin
        assert m.git["branch"] is None

    def test_submodule_and_nested_repository_are_recorded(self, repo, tmp_path):
        lib = new_repo(tmp_path / "lib")
        (lib / "lib.py").write_text("VALUE = 1\n")
        git(lib, "add", "lib.py")
        git(lib, "commit", "-qm", "lib")
        git(repo, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(lib), "vendor/lib")
        git(repo, "commit", "-qm", "add submodule")
        nested = new_repo(repo / "third_party/tool")
        (nested / "tool.py").write_text("pass\n")
        git(nested, "add", "tool.py")
        git(nested, "commit", "-qm", "tool")
        (repo / "vendor/lib/lib.py").write_text("VALUE = 2\n")  # a dirty submodule
        m, folder = _record(repo)
        assert m.git["submodules"] == [{"path": "vendor/lib", "commit": git(lib, "rev-parse", "HEAD"), "dirty": True}]
        assert m.git["nested_repos"] == [{"path": "third_party/tool", "commit": git(nested, "rev-parse", "HEAD")}]
        assert m.git["untracked"] == ["third_party/tool/"]
        assert m.git["dirty"] is True
        assert not (folder / "code.patch").exists()  # neither is inlined into the patch

    def test_repository_without_commits(self, tmp_path, monkeypatch):
        path = new_repo(tmp_path / "fresh")
        (path / "a.py").write_text("a = 1\n")
        monkeypatch.chdir(path)
        m, folder = _record(path)
        assert m.git["commit"] is None
        assert m.git["untracked"] == ["a.py"]
        assert m.git["patch_note"] == "no commit yet"
        assert not (folder / "code.patch").exists()

    def test_without_a_git_program_the_run_goes_on_with_one_warning(self, repo, monkeypatch, caplog, tmp_path):
        monkeypatch.setattr(git_capture, "_warned", set())
        empty = tmp_path / "empty-bin"
        empty.mkdir()
        monkeypatch.setenv("PATH", str(empty))
        caplog.set_level(logging.WARNING, logger="ledger")
        m, _ = _record(repo)
        assert m.git is None
        assert "the git program is not installed" in caplog.text


class TestCommand:
    def test_secret_values_are_redacted(self):
        argv = [
            "train.py", "--api-key", "k1", "--token=k2", "WANDB_API_KEY=k3", "--db-password", "k4",
            "model.client_secret=k5", "--apiKey", "k6", "--max-tokens", "512", "--tokenizer", "gpt2",
            "--secret-file", "s.txt", "--lr", "0.1", "--data", "https://u:k7@host/d", "--verbose",
        ]  # fmt: skip
        out = redact_argv(argv)
        assert out == [
            "train.py", "--api-key", "***", "--token=***", "WANDB_API_KEY=***", "--db-password", "***",
            "model.client_secret=***", "--apiKey", "***", "--max-tokens", "512", "--tokenizer", "gpt2",
            "--secret-file", "s.txt", "--lr", "0.1", "--data", "https://host/d", "--verbose",
        ]  # fmt: skip
        assert redact_argv(["x.py", "--token", "--verbose"]) == ["x.py", "--token", "--verbose"]

    @pytest.mark.parametrize(
        ("url", "clean"),
        [
            ("https://user:token@github.com/a/b.git", "https://github.com/a/b.git"),
            ("https://ghp_token@github.com/a/b.git", "https://github.com/a/b.git"),
            ("ssh://git:pw@example.com:2222/a/b.git", "ssh://git@example.com:2222/a/b.git"),
            ("ssh://git@example.com/a/b.git", "ssh://git@example.com/a/b.git"),
            ("git@github.com:a/b.git", "git@github.com:a/b.git"),
            ("/srv/git/b.git", "/srv/git/b.git"),
        ],
    )
    def test_url_credentials(self, url, clean):
        assert strip_url_credentials(url) == clean

    def test_script_relative_to_the_repository_and_secrets_kept_out(self, repo):
        (repo / "src").mkdir()
        (repo / "src/train.py").write_text(
            "import ledger\nledger.init('p', capture_output=False, system_metrics=False).finish()\n"
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
        proc = subprocess.run(
            [sys.executable, "src/train.py", "--api-key", "sk-live-123", "--lr", "0.1"],
            cwd=repo / "src" / "..",
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        (folder,) = (repo / "results/p/runs").iterdir()
        m = manifest(repo / "results", "p", folder.name)
        assert m.command["script"] == "src/train.py"
        assert m.command["module"] is None
        assert m.command["argv"] == ["src/train.py", "--api-key", "***", "--lr", "0.1"]
        assert "sk-live-123" not in (folder / "run.yaml").read_text()

    def test_module_entry_point(self, repo):
        (repo / "pkg").mkdir()
        (repo / "pkg/__init__.py").write_text("")
        (repo / "pkg/train.py").write_text(
            "import ledger\nledger.init('p', capture_output=False, system_metrics=False).finish()\n"
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
        proc = subprocess.run(
            [sys.executable, "-m", "pkg.train"], cwd=repo, env=env, capture_output=True, text=True, check=False
        )
        assert proc.returncode == 0, proc.stderr
        (folder,) = (repo / "results/p/runs").iterdir()
        m = manifest(repo / "results", "p", folder.name)
        assert m.command["module"] == "pkg.train"
        assert m.command["script"] == "pkg/train.py"


class TestHost:
    def test_scheduler_context_comes_from_an_allowlist_only(self, tmp_dir, monkeypatch):
        monkeypatch.setenv("SLURM_JOB_ID", "4242")
        monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "7")
        monkeypatch.setenv("SLURM_JOB_NODELIST", "gpu[01-02]")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "never-recorded")
        run = quiet_init("p", root="results")
        run.finish()
        m = manifest(tmp_dir / "results", "p", run.id)
        assert m.host["scheduler"] == {
            "SLURM_ARRAY_TASK_ID": "7",
            "SLURM_JOB_ID": "4242",
            "SLURM_JOB_NODELIST": "gpu[01-02]",
        }
        assert "never-recorded" not in (tmp_dir / "results/p/runs" / run.id / "run.yaml").read_text()

    def test_a_run_in_a_slurm_job_records_its_allocation(self, tmp_dir, monkeypatch):
        for key, value in {
            "SLURM_JOB_ID": "4242", "SLURM_ARRAY_JOB_ID": "4240", "SLURM_ARRAY_TASK_ID": "2",
            "SLURM_JOB_NODELIST": "gpu[01-03]", "SLURM_JOB_NUM_NODES": "3", "SLURM_JOB_CPUS_PER_NODE": "8(x2),4",
            "SLURM_GPUS_ON_NODE": "2", "SLURM_MEM_PER_NODE": "16384", "SLURM_JOB_PARTITION": "gpu",
            "SLURM_RESTART_COUNT": "1",
        }.items():  # fmt: skip
            monkeypatch.setenv(key, value)
        run = quiet_init("p", root="results")
        run.finish()
        assert manifest(tmp_dir / "results", "p", run.id).allocation == {
            "scheduler": "slurm", "job_id": "4242", "array_job_id": "4240", "array_task_id": 2, "restart_count": 1,
            "partition": "gpu", "nodes": "gpu[01-03]", "node_count": 3, "cpus": 20, "gpus": 6, "memory_gb": 48.0,
        }  # fmt: skip
        doc = yaml.safe_load((tmp_dir / "results/p/runs" / run.id / "run.yaml").read_text())
        assert list(doc)[-1] == "allocation"

    @pytest.mark.parametrize(
        ("env", "expected"),
        [
            ({}, None),
            (
                {"SLURM_JOB_ID": "9", "SLURM_CPUS_ON_NODE": "4", "SLURM_NNODES": "2", "SLURM_GPUS": "a100:3"},
                {"scheduler": "slurm", "job_id": "9", "node_count": 2, "cpus": 8, "gpus": 3},
            ),
            (
                {"SLURM_JOB_ID": "9", "SLURM_JOB_GPUS": "0,1", "SLURM_MEM_PER_CPU": "2048", "SLURM_CPUS_ON_NODE": "2"},
                {"scheduler": "slurm", "job_id": "9", "node_count": 1, "cpus": 2, "gpus": 2, "memory_gb": 4.0},
            ),
            (
                {
                    "PBS_JOBID": "77.pbs",
                    "PBS_NUM_NODES": "2",
                    "PBS_NP": "16",
                    "CUDA_VISIBLE_DEVICES": "0,1",
                    "PBS_QUEUE": "q",
                },
                {"scheduler": "pbs", "job_id": "77.pbs", "partition": "q", "node_count": 2, "cpus": 16, "gpus": 2},
            ),
            (
                {"LSB_JOBID": "5", "LSB_JOBINDEX": "3", "LSB_MCPU_HOSTS": "n1 4 n2 4", "LSB_DJOB_NUMPROC": "8"},
                {
                    "scheduler": "lsf",
                    "job_id": "5",
                    "array_task_id": 3,
                    "nodes": "n1,n2",
                    "node_count": 2,
                    "cpus": 8,
                    "gpus": 0,
                },
            ),
        ],
    )
    def test_allocations_of_slurm_pbs_and_lsf(self, env, expected):
        from ledger._capture import capture_allocation

        assert capture_allocation(env) == expected

    def test_gpu_count_without_gpus_is_zero_and_follows_duration(self, tmp_dir):
        run = quiet_init("p", root="results")
        run.finish()
        doc = yaml.safe_load((tmp_dir / "results/p/runs" / run.id / "run.yaml").read_text())
        keys = list(doc)
        assert keys[keys.index("duration_s") + 1] == "gpu_count"
        assert doc["gpu_count"] == len(doc["host"]["gpus"]) == 0

    @pytest.mark.parametrize(
        ("visible", "count"),
        [(None, 4), ("0,1", 2), ("", 0), ("-1", 0), ("1,-1,2", 1), ("GPU-aaaa,GPU-bbbb", 2), ("0,1,2,3,4,5", 4)],
    )
    def test_visible_gpu_count(self, visible, count):
        assert visible_gpu_count([{"index": i} for i in range(4)], visible) == count

    def test_nvidia_smi_output_is_parsed(self):
        query = "0, NVIDIA A100-SXM4-80GB, 81920, GPU-1111, 535.104.05\n1, NVIDIA A100-SXM4-80GB, 81920, GPU-2222, 535.104.05\n"
        banner = "| NVIDIA-SMI 535.104.05   Driver Version: 535.104.05   CUDA Version: 12.2     |\n"
        gpus = parse_nvidia_smi(query, banner)
        assert gpus[1] == {
            "index": 1,
            "name": "NVIDIA A100-SXM4-80GB",
            "memory_gb": 80.0,
            "uuid": "GPU-2222",
            "driver": "535.104.05",
            "cuda": "12.2",
        }
        assert len(gpus) == 2


class TestPackages:
    def test_requirements_txt_lists_installed_distributions(self, tmp_dir):
        run = quiet_init("p", root="results")
        run.finish()
        text = (tmp_dir / "results/p/runs" / run.id / "requirements.txt").read_text()
        lines = text.splitlines()
        assert all(line.count("==") == 1 for line in lines)
        names = [line.split("==")[0] for line in lines]
        assert names == sorted(names)
        pins = parse_requirements(text.encode())
        assert pins["pyyaml"] == importlib.metadata.version("PyYAML")
        assert pins["experiment-ledger"] == importlib.metadata.version("experiment-ledger")
        assert pins["pandas-stubs"] == importlib.metadata.version("pandas-stubs")  # a name to normalise
        assert len(pins) == len(lines)  # one line per distribution, names normalised


class TestUser:
    def test_ledger_user_wins(self, tmp_dir, monkeypatch):
        monkeypatch.setenv("LEDGER_USER", "grace")
        with quiet_init("p", root="results") as run:
            pass
        assert manifest(tmp_dir / "results", "p", run.id).user == "grace"

    def test_git_user_name_of_the_repository(self, tmp_path, monkeypatch):
        repo = new_repo(tmp_path / "proj")
        git(repo, "config", "user.name", "Ada Lovelace")
        monkeypatch.chdir(repo)
        with quiet_init("p", root="results") as run:
            pass
        assert manifest(repo / "results", "p", run.id).user == "Ada Lovelace"

    def test_global_git_config_then_login_name(self, tmp_dir, monkeypatch):
        import getpass

        monkeypatch.setenv("HOME", str(tmp_dir / "home"))
        monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_dir / "xdg"))
        (tmp_dir / "home").mkdir()
        with quiet_init("p", root="results") as run:
            pass
        assert manifest(tmp_dir / "results", "p", run.id).user == getpass.getuser()
        (tmp_dir / "home/.gitconfig").write_text(
            '[core]\n\tname = no\n[user]\n\temail = a@b\n\tname = "Grace Hopper"\n'
        )
        with quiet_init("p", root="results") as run:
            pass
        assert manifest(tmp_dir / "results", "p", run.id).user == "Grace Hopper"
