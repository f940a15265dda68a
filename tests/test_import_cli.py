"""`ledger import` as a user meets it when something is wrong: one clear line, the right exit code."""

from __future__ import annotations

import pytest

from tests.helpers import run_ledger


@pytest.mark.parametrize(
    ("kind", "source", "words"),
    [
        ("mlflow", "nowhere", "nowhere: no such folder; give the path of an MLflow tracking folder"),
        ("mlflow", "empty", "empty: not an MLflow file store"),
        ("mlflow", "sqlite:///missing.db", "no such SQLite file"),
        ("mlflow", "missing.db", "no such SQLite file"),
        ("tensorboard", "nowhere", "no such folder; give the path of a TensorBoard log folder"),
        ("tensorboard", "empty", "no TensorBoard event files"),
        ("dvclive", "empty", "empty: not a DVCLive folder"),
        ("dvclive", "file.txt", "file.txt: is a file, not a folder"),
        ("wandb", "empty", "no W&B run files"),
    ],
)
def test_a_bad_source_fails_in_one_line(tmp_path, kind, source, words):
    pytest.importorskip({"mlflow": "yaml", "tensorboard": "tensorboard", "dvclive": "yaml", "wandb": "wandb"}[kind])
    (tmp_path / "empty").mkdir()
    (tmp_path / "file.txt").write_text("not a folder")
    proc = run_ledger("import", kind, source, "--root", "results", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.startswith("Error: ")
    assert words in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert not (tmp_path / "missing.db").exists(), "a missing SQLite DB is not created by looking at it"
    assert not (tmp_path / "results").exists(), "nothing is written for a bad source"


def test_a_bad_project_name_fails_before_anything_is_written(tmp_path):
    (tmp_path / "dvclive").mkdir()
    (tmp_path / "dvclive" / "params.yaml").write_text("lr: 0.1\n")
    proc = run_ledger("import", "dvclive", "dvclive", "--project", "my project", "--root", "results", cwd=tmp_path)
    assert proc.returncode == 1
    assert "project 'my project' cannot be used" in proc.stderr
    assert not (tmp_path / "results").exists()


def test_an_unknown_kind_exits_2_listing_the_kinds(tmp_path):
    proc = run_ledger("import", "neptune", "runs", cwd=tmp_path)
    assert proc.returncode == 2
    for kind in ("mlflow", "tensorboard", "dvclive", "wandb"):
        assert kind in proc.stderr
    assert "'neptune' is not one of" in proc.stderr
    assert not (tmp_path / "results").exists(), "bad usage writes nothing"


def test_help_names_every_kind(ledger_cli):
    code, out, _err = ledger_cli("import", "--help")
    assert code == 0
    for kind in ("mlflow", "tensorboard", "dvclive", "wandb"):
        assert kind in out
