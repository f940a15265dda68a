"""The example project: its main job (run_all.py) end to end, its notebook, its committed results."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys

import pytest

import ledger
from tests.helpers import REPO, run_ledger
from tests.integrations.notebooks import cell_text

pytest.importorskip("sklearn")
torch = pytest.importorskip("torch")
pytest.importorskip("pandas")
pytest.importorskip("xgboost")

EXAMPLE = REPO / "example_project"
FAMILIES = ("logreg", "random-forest")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def example_results(tmp_path_factory):
    """What `python example_project/run_all.py --root ...` writes, run once for this module
    from a folder outside any git repository (as a fresh tmp folder is)."""
    where = tmp_path_factory.mktemp("example")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    proc = subprocess.run(
        [sys.executable, str(EXAMPLE / "run_all.py"), "--root", str(where / "results")],
        cwd=where,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return where, proc.stdout


def test_run_all_writes_the_complete_example(example_results):
    where, stdout = example_results
    assert "24 runs in" in stdout
    lg = ledger.open(where / "results", cache=False)
    assert lg.skipped == []
    runs = lg.runs(project="digits")
    (sweep,) = lg.sweeps("digits")
    counts: dict[tuple[str | None, str | None], int] = {}
    for run in runs:
        counts[run.group, run.job_type] = counts.get((run.group, run.job_type), 0) + 1
    assert counts == {
        ("logreg", "train"): 3,
        ("logreg", "eval"): 3,
        ("random-forest", "train"): 3,
        ("random-forest", "eval"): 3,
        ("mlp", "train"): 3,
        ("xgboost", "train"): 3,
        (f"mlp-lr-width-{sweep.id}-trial-1", "train"): 3,  # the example sweep: 2 trials x 3 folds
        (f"mlp-lr-width-{sweep.id}-trial-2", "train"): 3,
    }
    assert sorted(r.config["fold"] for r in sweep.runs) == [0, 0, 1, 1, 2, 2]
    assert {r.status for r in runs if r.doc.get("sweep") is None} == {"finished"}
    assert {r.status for r in sweep.runs} <= {"finished", "killed"}  # hyperband may stop a trial
    assert all(r.duration_s > 0 for r in runs)


@pytest.mark.parametrize("family", FAMILIES)
def test_sklearn_train_and_eval_jobs(example_results, family):
    where, _ = example_results
    lg = ledger.open(where / "results", cache=False)
    train = lg.runs(project="digits", group=family, job_type="train", order_by="config.seed")
    evals = lg.runs(project="digits", group=family, job_type="eval", order_by="config.seed")
    assert [r.config["seed"] for r in train] == [0, 1, 2] == [r.config["seed"] for r in evals]
    for run in train:
        assert run.config["estimator"]["class"] in ("Pipeline", "RandomForestClassifier")
        records = run.records()
        assert [r["_step"] for r in records] == [0, 1, 2, 3, 4]  # the 5 cross-validation folds
        assert {"test_accuracy", "train_accuracy", "test_f1_macro", "fit_time"} <= set(records[0])
        assert 0.85 < run.summary["test_accuracy"] <= 1.0
        assert run.summary["test_accuracy_std"] >= 0
        assert (where / "results" / "digits" / "runs" / run.id / "files" / "model.pkl.gz").is_file()
    for run, trained in zip(evals, train, strict=True):
        assert run.doc["parent"] == trained.id  # the eval job names the run it evaluated
        assert run.doc["links"] == {"evaluates": trained.id}
        assert 0.85 < run.summary["test_acc"] <= 1.0
        assert trained.summary["test_acc"] == run.summary["test_acc"]  # attached to the train run
        (record,) = run.records()
        assert record["confusion"]["_type"] == "table"


def test_torch_mlp_runs(example_results):
    where, _ = example_results
    runs = ledger.open(where / "results", cache=False).runs(project="digits", group="mlp")
    assert [r.config["seed"] for r in runs] == [0, 1, 2]
    for run in runs:
        assert {"lr", "width", "epochs", "batch_size", "seed", "folds", "params"} <= set(run.config)  # argparse
        history = run.history()
        assert list(history["epoch"]) == list(range(run.config["epochs"]))
        assert {"train/loss", "train/acc", "val/loss", "val/acc", "lr"} <= set(history.columns)
        assert run.summary["val/acc"] == history["val/acc"].max()  # define_metric(summary="max")
        assert 0.8 < run.summary["test/acc"] <= 1.0
        weights = torch.load(where / "results" / "digits" / "runs" / run.id / "files" / "model.pt", weights_only=True)
        assert weights["0.weight"].shape == (run.config["width"], 64)


def test_xgboost_runs(example_results):
    where, _ = example_results
    runs = ledger.open(where / "results", cache=False).runs(project="digits", group="xgboost")
    assert [r.config["seed"] for r in runs] == [0, 1, 2]
    for run in runs:
        assert run.status == "finished"
        params = run.config["xgboost"]
        assert (params["objective"], params["num_class"], params["max_depth"]) == ("multi:softprob", 10, 4)
        assert params["eval_metric"] == ["mlogloss", "merror"]
        rounds = [r for r in run.records() if "validation_1/merror" in r]
        assert [r["_step"] for r in rounds] == list(range(len(rounds)))
        assert run.summary["best_iteration"] == len(rounds) - 11  # early stopping waited 10 rounds
        assert run.summary["best_score"] == rounds[run.summary["best_iteration"]]["validation_1/merror"]
        assert 0.85 < run.summary["test/acc"] <= 1.0
        importance = run.table("feature_importance")
        assert len(importance) == 64
        assert importance["feature"][0].startswith("pixel_")


def test_the_notebook_answers_its_questions(example_results, run_notebook, tmp_path):
    where, _ = example_results
    shutil.copy(EXAMPLE / "explore.ipynb", where / "explore.ipynb")
    nb = run_notebook(where / "explore.ipynb", where)
    texts = [cell_text(c) for c in nb.cells if c.cell_type == "code"]
    assert re.fullmatch(
        r"24 runs in groups \['logreg', 'mlp', 'mlp-lr-width-(\S+)-trial-1', 'mlp-lr-width-\1-trial-2', "
        r"'random-forest', 'xgboost'\]",
        texts[0].strip(),
    )  # the sweep's cv groups carry its id: unique to the sweep
    hours = texts[2]
    assert all(group in hours for group in ("logreg", "mlp", "random-forest"))
    assert "cost" in hours
    assert "summary.test_acc" in texts[3]
    for family in FAMILIES:
        assert f"{family}: test accuracy 0." in texts[4]
        assert "over 3 seeds (95% CI ± 0." in texts[4]
    assert texts[5].startswith("best MLP: ")
    assert "val/acc" in texts[5]


def test_train_torch_validates_on_the_fold_a_sweep_trial_names():
    spec = importlib.util.spec_from_file_location("train_torch", EXAMPLE / "train_torch.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    folds = [module.load(fold, 3, seed=0) for fold in range(3)]
    (_, test_a), (_, test_b) = folds[0][2], folds[1][2]
    assert torch.equal(test_a, test_b)  # the test split never moves
    sizes = [len(val[1]) for _train, val, _test in folds]
    rest = len(folds[0][0][1]) + sizes[0]
    assert sum(sizes) == rest  # the folds' validation parts cover the training split once
    assert all(abs(s - rest / 3) <= 3 for s in sizes)


def test_the_committed_results_are_a_valid_ledger():
    root = EXAMPLE / "results"
    lg = ledger.open(root, cache=False)  # reads only: the committed folder stays as it is
    assert lg.skipped == []
    groups = {r.group for r in lg.runs(project="digits")}
    assert {"logreg", "random-forest", "mlp"} <= groups
    proc = run_ledger("verify", "--root", str(root), cwd=REPO)
    assert proc.returncode == 0, proc.stdout + proc.stderr
