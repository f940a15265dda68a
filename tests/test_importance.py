"""Parameter importance (RunSet.importance, `ledger importance`): W&B's panel, a random forest's
feature importance and the linear correlation of each config parameter with a metric."""

from __future__ import annotations

import json
import math
import random
import sys

import numpy as np
import pytest
import yaml

import ledger
from tests.helpers import quiet_init

pytest.importorskip("sklearn")


@pytest.fixture
def sweep_root(tmp_dir):
    """30 trials of a sweep: val_loss is driven by log10(lr), a little by the optimizer, not at
    all by the seed; batch is constant; two runs have no val_loss; one run is outside the sweep."""
    rng = random.Random(0)
    root = tmp_dir / "results"
    for trial in range(30):
        lr = 10 ** rng.uniform(-4, -1)
        optimizer = ["adam", "sgd"][trial % 2]
        config = {"lr": lr, "optimizer": optimizer, "seed": rng.randint(0, 1000), "batch": 64, "model": {"depth": 18}}
        with quiet_init("p", root=root, config=config) as run:
            if trial < 28:
                loss = 2.0 + 0.5 * math.log10(lr) + (0.1 if optimizer == "sgd" else 0.0) + rng.gauss(0, 0.01)
                run.summary["val_loss"] = loss
        path = root / "p/runs" / run.id / "run.yaml"
        doc = yaml.safe_load(path.read_text())
        doc["sweep"] = {"id": "s1", "trial": trial, "fold": None}
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
    (root / "p/sweeps/s1").mkdir(parents=True)
    (root / "p/sweeps/s1/sweep.yaml").write_text("method: random\nmetric: {name: val_loss, goal: minimize}\n")
    with quiet_init("p", root=root, config={"lr": 5.0, "optimizer": "adam"}) as run:
        run.summary["val_loss"] = 100.0
    return root


class TestRunSetImportance:
    def test_the_parameter_that_drives_the_metric_ranks_first(self, sweep_root):
        runs = ledger.open(sweep_root).runs(where="sweep.id == 's1'")
        table = runs.importance("val_loss")
        assert list(table.columns) == ["parameter", "importance", "correlation", "runs"]
        assert table["parameter"].iloc[0] == "config.lr"
        assert table["importance"].iloc[0] > 0.5
        assert table["importance"].sum() == pytest.approx(1.0)
        # batch and model.depth never vary: they cannot explain anything and are left out
        assert set(table["parameter"]) == {"config.lr", "config.seed", "config.optimizer=adam", "config.optimizer=sgd"}
        assert set(table["runs"]) == {28}  # the two runs without val_loss do not count

    def test_correlation_is_pearsons_with_text_values_one_hot(self, sweep_root):
        runs = ledger.open(sweep_root).runs(where="sweep.id == 's1' and summary.val_loss > -100")
        table = runs.importance("summary.val_loss").set_index("parameter")
        lrs = np.array([r.config["lr"] for r in runs])
        losses = np.array([r.summary["val_loss"] for r in runs])
        sgd = np.array([r.config["optimizer"] == "sgd" for r in runs], dtype=float)
        assert table.loc["config.lr", "correlation"] == pytest.approx(np.corrcoef(lrs, losses)[0, 1])
        assert table.loc["config.optimizer=sgd", "correlation"] == pytest.approx(np.corrcoef(sgd, losses)[0, 1])
        assert table.loc["config.optimizer=adam", "correlation"] == pytest.approx(-np.corrcoef(sgd, losses)[0, 1])
        assert table.loc["config.lr", "correlation"] > 0.6  # the loss grows with log10(lr)

    def test_chosen_parameters_and_correlations_alone(self, sweep_root):
        runs = ledger.open(sweep_root).runs(where="sweep.id == 's1'")
        table = runs.importance("val_loss", params=["lr", "seed"], forest=False)
        assert list(table["parameter"]) == ["config.lr", "config.seed"]  # by |correlation|
        assert table["importance"].isna().all()
        with pytest.raises(ValueError, match=r"no run with the metric has the parameter .config\.nope."):
            runs.importance("val_loss", params=["nope"])

    def test_the_same_seed_gives_the_same_importances(self, sweep_root):
        runs = ledger.open(sweep_root).runs(where="sweep.id == 's1'")
        assert runs.importance("val_loss").equals(runs.importance("val_loss"))

    def test_too_few_runs_with_the_metric(self, sweep_root):
        runs = ledger.open(sweep_root).runs()
        with pytest.raises(ValueError, match=r"at least 3 runs with a number for 'val_acc'; 0 of 31 have one"):
            runs.importance("val_acc")

    def test_without_scikit_learn_it_says_what_to_install(self, sweep_root, monkeypatch):
        runs = ledger.open(sweep_root).runs(where="sweep.id == 's1'")
        monkeypatch.setitem(sys.modules, "sklearn.ensemble", None)  # what `import` meets when it is not installed
        with pytest.raises(ImportError, match=r"pip install 'experiment-ledger\[analysis\]'"):
            runs.importance("val_loss")
        assert runs.importance("val_loss", forest=False)["parameter"].iloc[0] == "config.lr"


class TestCommand:
    def test_a_sweep_with_its_own_metric(self, sweep_root, ledger_cli):
        code, out, _ = ledger_cli("importance", "--root", str(sweep_root), "--sweep", "s1", "--format", "json")
        assert code == 0
        rows = json.loads(out)
        assert rows[0]["parameter"] == "config.lr"
        assert sum(r["importance"] for r in rows) == pytest.approx(1.0)
        assert {r["runs"] for r in rows} == {28}

    def test_selected_runs_and_the_table(self, sweep_root, ledger_cli):
        code, out, _ = ledger_cli(
            "importance", "--root", str(sweep_root), "--metric", "val_loss", "--where", "config.lr < 1", "--no-forest"
        )
        assert code == 0
        header, first, *_ = out.splitlines()
        assert header.split() == ["parameter", "correlation", "runs"]
        assert first.split()[0] == "config.lr"

    def test_errors_are_one_line(self, sweep_root, ledger_cli):
        code, _, err = ledger_cli("importance", "--root", str(sweep_root))
        assert code == 2
        assert "give the metric: --metric NAME" in err
        code, _, err = ledger_cli("importance", "--root", str(sweep_root), "--metric", "nope")
        assert code == 1
        assert "needs at least 3 runs with a number for 'nope'; 0 of 31 have one" in err
