"""The `ledger` command, as a user runs it."""

from __future__ import annotations

import subprocess
import sys

from tests.helpers import quiet_init


def ledger_cmd(*args, cwd):
    exe = [sys.executable, "-c", "from ledger._cli import main; main()"]
    return subprocess.run([*exe, *args], cwd=cwd, capture_output=True, text=True, check=False)


def test_ls_lists_runs_with_status(tmp_dir):
    with quiet_init("mnist", root="results", name="first", group="resnet", job_type="train"):
        pass
    live = quiet_init("mnist", root="results", name="second")
    proc = ledger_cmd("ls", "--root", "results", cwd=tmp_dir)
    live.finish()
    assert proc.returncode == 0, proc.stderr
    header, *rows = proc.stdout.splitlines()
    assert header.split() == ["id", "name", "project", "group", "job_type", "status", "created", "duration"]
    assert len(rows) == 2
    assert rows[0].split()[1:6] == ["first", "mnist", "resnet", "train", "finished"]
    assert rows[1].split()[1:4] == ["second", "mnist", "running"]


def test_ls_without_a_ledger_is_a_one_line_error(tmp_dir):
    proc = ledger_cmd("ls", "--root", "nowhere", cwd=tmp_dir)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"Error: no ledger at {tmp_dir / 'nowhere'} (no ledger.yaml); pass --root or set $LEDGER_ROOT"
    ]


def test_bad_usage_exits_2(tmp_dir):
    proc = ledger_cmd("ls", "--no-such-flag", cwd=tmp_dir)
    assert proc.returncode == 2
    assert "No such option" in proc.stderr


def test_format_2_root_is_refused(tmp_dir):
    (tmp_dir / "results").mkdir()
    (tmp_dir / "results/ledger.yaml").write_text("format: 2\n")
    proc = ledger_cmd("ls", "--root", "results", cwd=tmp_dir)
    assert proc.returncode == 1
    assert "format 2 is not supported" in proc.stderr
