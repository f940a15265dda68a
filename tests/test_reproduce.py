"""`ledger reproduce` and `ledger diff` on real repositories, run as a user runs them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.helpers import all_runs, git, manifest, new_repo, quiet_init, run_ledger

TRAIN = """\
import argparse
import random

import ledger
from helper import step_size

parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, default=0.1)
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()
random.seed(args.seed)
with ledger.init(config=vars(args), capture_output=False, system_metrics=False) as run:
    w = 0.0
    for _ in range(50):
        w += step_size(args.lr) * random.random()
        run.log({"w": w})
print("final", w)
"""

# An untracked module the script needs, with bytes a careless patch would lose.
HELPER = b"# helper\r\ndef step_size(lr):\r\n    return lr * SCALE\r\n\r\nSCALE = 3"


def _python(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, check=False)


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A repository whose train.py is committed, then edited, with an untracked helper."""
    repo = new_repo(tmp_path / "proj")
    (repo / "train.py").write_text(TRAIN.replace("range(50)", "range(40)"))
    (repo / ".gitignore").write_text("results/\n")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "first")
    (repo / "train.py").write_text(TRAIN)  # dirty: the run must carry this edit
    (repo / "helper.py").write_bytes(HELPER)
    monkeypatch.chdir(repo)
    return repo


def _only_run(repo: Path):
    (m,) = all_runs(repo / "results")
    return m


class TestReproduce:
    def test_round_trip_reruns_the_dirty_tree_with_the_same_config_and_result(self, project, tmp_path):
        proc = _python(project, "train.py", "--lr", "0.05", "--seed", "3")
        assert proc.returncode == 0, proc.stderr
        original = _only_run(project)
        assert original.git["dirty"] is True
        assert original.git["untracked"] == ["helper.py"]

        wt = tmp_path / "rebuilt"
        rep = run_ledger("reproduce", original.id[:-2], "--root", "results", "--into", str(wt), "--run", cwd=project)
        assert rep.returncode == 0, rep.stderr
        assert (wt / "helper.py").read_bytes() == HELPER  # untracked file, byte for byte
        assert (wt / "train.py").read_text() == TRAIN  # the uncommitted edit
        config = yaml.safe_load((wt / ".ledger-reproduce/config.yaml").read_text())
        assert config == original.config == {"lr": 0.05, "seed": 3}
        assert f"LEDGER_REPRODUCES={original.id}" in rep.stdout
        assert f"{sys.executable} train.py --lr 0.05 --seed 3" in rep.stdout
        assert proc.stdout in rep.stdout  # the rerun printed the same final value

        runs = all_runs(project / "results")
        assert len(runs) == 2
        (new,) = [r for r in runs if r.id != original.id]
        assert f"new run: {new.id} (reproduces {original.id})" in rep.stdout
        assert new.reproduces == original.id
        assert new.project == original.project
        assert new.config == original.config
        assert new.summary["w"] == original.summary["w"]
        assert new.git["commit"] == original.git["commit"]
        assert new.git["root"] == str(wt)
        assert new.git["untracked"] == ["helper.py"]  # .ledger-reproduce/ ignores itself
        folder = project / "results" / original.project / "runs"
        assert (folder / new.id / "code.patch").read_bytes() == (folder / original.id / "code.patch").read_bytes()

        diff = run_ledger("diff", original.id, new.id, "--root", "results", cwd=project)
        assert diff.returncode == 0, diff.stderr
        out = diff.stdout.splitlines()
        assert "config: same" in out
        assert "summary: same" in out
        assert any(line.startswith("  = code.patch: identical") for line in out)
        assert "packages: same" in out

    def test_without_run_it_prints_the_command_and_leaves_a_temporary_worktree(self, project):
        assert _python(project, "train.py").returncode == 0
        original = _only_run(project)
        rep = run_ledger("reproduce", original.id, "--root", "results", cwd=project)
        assert rep.returncode == 0, rep.stderr
        worktree = Path(rep.stdout.splitlines()[0].split()[1])
        assert worktree.name == "proj"  # the repository's name: default project names match
        assert (worktree / "helper.py").read_bytes() == HELPER
        assert len(all_runs(project / "results")) == 1  # nothing was run
        command = rep.stdout.split("rerun with:\n", 1)[1].strip()
        assert command.startswith(f"cd {worktree} && LEDGER_REPRODUCES={original.id} ")
        listed = git(project, "worktree", "list")
        assert str(worktree) in listed
        git(project, "worktree", "remove", "--force", str(worktree))
        shutil.rmtree(worktree.parent)

    def test_commit_missing_locally_suggests_git_fetch(self, project):
        assert _python(project, "train.py").returncode == 0
        original = _only_run(project)
        path = project / "results" / original.project / "runs" / original.id / "run.yaml"
        path.write_text(path.read_text().replace(original.git["commit"], "0123456789abcdef" * 2 + "01234567"))
        rep = run_ledger("reproduce", original.id, "--root", "results", cwd=project)
        assert rep.returncode == 1
        assert rep.stderr.strip().splitlines() == [
            (
                f"Error: commit 0123456789ab of run {original.id} is not in {project}; ledger reproduce works "
                f"only in the repository it is run from (recorded in {project}): cd into a clone of it, fetch "
                f"the commit (git fetch --all) and run ledger reproduce again"
            )
        ]

    def test_patch_that_does_not_apply_is_a_clear_error_and_leaves_nothing(self, project, tmp_path):
        assert _python(project, "train.py").returncode == 0
        original = _only_run(project)
        patch = project / "results" / original.project / "runs" / original.id / "code.patch"
        patch.write_text(patch.read_text().replace("range(40)", "range(41)"))
        wt = tmp_path / "rebuilt"
        rep = run_ledger("reproduce", original.id, "--root", "results", "--into", str(wt), cwd=project)
        assert rep.returncode == 1
        (line,) = rep.stderr.strip().splitlines()
        assert line.startswith(f"Error: code.patch of run {original.id} does not apply at commit ")
        assert line.endswith("; the worktree was removed")
        assert not wt.exists()
        assert str(wt) not in git(project, "worktree", "list")

    def test_run_without_git_info_is_refused(self, tmp_dir):
        run = quiet_init("p", root="results")
        run.finish()
        rep = run_ledger("reproduce", run.id, "--root", "results", cwd=tmp_dir)
        assert rep.returncode == 1
        assert rep.stderr.strip() == (
            f"Error: run {run.id} has no git commit recorded (it was not started inside a git "
            f"repository); there is no code state to rebuild"
        )

    def test_into_a_folder_that_is_not_empty_is_refused(self, project, tmp_path):
        assert _python(project, "train.py").returncode == 0
        original = _only_run(project)
        busy = tmp_path / "busy"
        busy.mkdir()
        (busy / "keep.txt").write_text("mine\n")
        rep = run_ledger("reproduce", original.id, "--root", "results", "--into", str(busy), cwd=project)
        assert rep.returncode == 1
        assert "exists and is not an empty folder" in rep.stderr
        assert (busy / "keep.txt").read_text() == "mine\n"

    def test_redacted_arguments_block_run_it(self, project, tmp_path):
        assert _python(project, "train.py", "--lr", "0.1").returncode == 0
        original = _only_run(project)
        path = project / "results" / original.project / "runs" / original.id / "run.yaml"
        doc = yaml.safe_load(path.read_text())
        doc["command"]["argv"] += ["--api-key", "***"]
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        rep = run_ledger(
            "reproduce", original.id, "--root", "results", "--into", str(tmp_path / "w"), "--run", cwd=project
        )
        assert rep.returncode == 1
        assert "redacted secret values" in rep.stderr
        assert len(all_runs(project / "results")) == 1


class TestDiff:
    def test_config_packages_code_and_commit_differences(self, project):
        (project / "helper.py").unlink()
        with quiet_init("p", config={"lr": 0.1, "model": {"depth": 2, "act": "relu"}}) as a:
            a.log({"acc": 0.5})
        git(project, "commit", "-qam", "longer training")
        (project / "train.py").write_text(TRAIN.replace("random.seed(args.seed)", "random.seed(args.seed + 1)"))
        with quiet_init("p", config={"lr": 0.01, "model": {"depth": 4}, "dropout": 0.1}) as b:
            b.log({"acc": 0.75})
        reqs = project / "results/p/runs" / b.id / "requirements.txt"
        lines = reqs.read_text().splitlines()
        edited = [ln for ln in lines if not ln.startswith("pyyaml==")]
        edited = [("click==0.0.1" if ln.startswith("click==") else ln) for ln in edited] + ["zzz-new==1.0"]
        reqs.write_text("\n".join(edited) + "\n")
        click_version = next(ln for ln in lines if ln.startswith("click==")).split("==")[1]
        pyyaml = next(ln for ln in lines if ln.startswith("pyyaml=="))

        proc = run_ledger("diff", a.id, b.id, cwd=project)
        assert proc.returncode == 0, proc.stderr
        out = proc.stdout.splitlines()
        assert out[0] == f"ledger diff {a.id} ({a.name}) -> {b.id} ({b.name})"

        def section(title):
            start = out.index(f"{title}:")
            end = next((i for i in range(start + 1, len(out)) if not out[i].startswith(" ")), len(out))
            return out[start + 1 : end]

        assert section("config") == [
            "  + dropout: 0.1",
            "  ~ lr: 0.1 -> 0.01",
            '  - model.act: "relu"',
            "  ~ model.depth: 2 -> 4",
        ]
        assert section("summary") == ["  ~ acc: 0.5 -> 0.75"]
        assert section("packages") == [
            f"  ~ click: {click_version} -> 0.0.1",
            f"  - pyyaml: {pyyaml.split('==')[1]}",
            "  + zzz-new: 1.0",
        ]
        code = section("code")
        head_a = manifest(project / "results", "p", a.id).git["commit"]
        head_b = manifest(project / "results", "p", b.id).git["commit"]
        assert code[0] == f"  ~ commit: {head_a[:12]} (main) -> {head_b[:12]} (main)"
        assert code[1].split() == ["train.py", "|", "2", "+-"]  # git diff --stat between the commits
        assert any(line.startswith("  ~ code.patch: differs") for line in code)
        assert "    ++random.seed(args.seed + 1)" in code  # a line that B's patch adds
        assert "host: same" in out
