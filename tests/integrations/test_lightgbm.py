"""LightGBM: real lightgbm.train and LGBMClassifier.fit on tiny CPU data, read back from the files."""

from __future__ import annotations

import pytest

np = pytest.importorskip("numpy")
lgb = pytest.importorskip("lightgbm")

import ledger  # noqa: E402
from ledger.integrations.lightgbm import LedgerCallback, ledger_callback  # noqa: E402
from tests.helpers import run_python  # noqa: E402
from tests.integrations import tabular  # noqa: E402
from tests.integrations.notebooks import cell_text  # noqa: E402
from tests.integrations.stops import run_stopped_script, stop_params  # noqa: E402

QUIET = {"capture_output": False, "system_metrics": False}
PARAMS = {"objective": "binary", "metric": ["binary_logloss", "auc"], "num_leaves": 7, "verbose": -1, "seed": 0}

DATA = (
    tabular.SOURCE
    + """
import lightgbm as lgb

def datasets():
    x, y = data(300)
    train = lgb.Dataset(x[:200], label=y[:200], feature_name=FEATURES, free_raw_data=False)
    return train, lgb.Dataset(x[200:], label=y[200:], reference=train)
"""
)
namespace: dict = {}
exec(DATA, namespace)  # the same data in the scripts run below
data, datasets = namespace["data"], namespace["datasets"]


def stop_at(round_: int, exc: BaseException):
    def callback(env):
        if env.iteration == round_:
            raise exc

    callback.order = 40  # after ledger's
    return callback


def train(cb, *, rounds=40, early_stopping=True, evals=None, **params):
    dtrain, dval = datasets()
    callbacks = [cb, lgb.record_evaluation(evals if evals is not None else {})]
    if early_stopping:
        callbacks.append(lgb.early_stopping(3, verbose=False))
    return lgb.train(
        {**PARAMS, **params},
        dtrain,
        num_boost_round=rounds,
        valid_sets=[dtrain, dval],
        valid_names=["train", "val"],
        callbacks=callbacks,
    )


def test_each_round_is_logged_as_lightgbm_records_it_and_the_run_ends_with_the_booster(tmp_path):
    evals: dict = {}
    cb = ledger_callback(project="lgb", root=tmp_path / "results", group="gbm", **QUIET)
    booster = train(cb, evals=evals)
    assert cb.run.status == "running"  # LightGBM does not tell callbacks that training ended
    cb.finish()

    (run,) = ledger.open(tmp_path / "results").runs()
    assert (run.id, run.status, run.group) == (cb.run.id, "finished", "gbm")
    rounds = [r for r in run.records() if "val/auc" in r]
    assert [r["_step"] for r in rounds] == list(range(len(evals["val"]["auc"])))
    for data_name in ("train", "val"):
        for metric in ("binary_logloss", "auc"):
            assert [r[f"{data_name}/{metric}"] for r in rounds] == evals[data_name][metric]
    assert 0 < booster.best_iteration < len(rounds)  # early stopping stopped it
    assert run.summary["best_iteration"] == booster.best_iteration
    for data_name, metrics in booster.best_score.items():
        for metric, value in metrics.items():
            assert run.summary[f"best_score/{data_name}/{metric}"] == value
    params = run.config["lightgbm"]
    assert (params["objective"], params["num_leaves"], params["num_boost_round"]) == ("binary", 7, 40)
    assert params["metric"] == ["binary_logloss", "auc"]


def test_feature_importance_table_and_model_file(tmp_path):
    cb = ledger_callback(project="lgb", root=tmp_path, log_model=True, **QUIET)
    booster = train(cb, rounds=10, early_stopping=False)
    cb.finish()

    run = ledger.open(tmp_path).run(cb.run.id)
    assert run.status == "finished"
    assert "best_iteration" not in run.summary  # no early stopping: LightGBM chose none
    table = run.table("feature_importance")
    assert list(table.columns) == ["feature", "gain", "split"]
    for kind in ("gain", "split"):
        expected = dict(zip(booster.feature_name(), booster.feature_importance(importance_type=kind), strict=True))
        assert dict(zip(table["feature"], table[kind], strict=True)) == pytest.approx(expected)
    assert table["feature"][0] == "age"
    saved = tmp_path / "lgb" / "runs" / run.id / "files" / "model.txt"
    x, _ = data(300)
    np.testing.assert_allclose(lgb.Booster(model_file=str(saved)).predict(x), booster.predict(x))


def test_a_second_training_with_the_callback_ends_the_first(tmp_path):
    cb = ledger_callback(project="lgb", root=tmp_path, **QUIET)
    train(cb, rounds=5, early_stopping=False)
    first = cb.run
    train(cb, rounds=3, early_stopping=False)
    second = cb.run
    cb.finish()
    assert first.id != second.id
    runs = ledger.open(tmp_path).runs()
    assert [(r.id, r.status) for r in runs] == [(first.id, "finished"), (second.id, "finished")]
    assert [len([r for r in v.records() if "val/auc" in r]) for v in runs] == [5, 3]


def test_the_scikit_learn_api_and_the_end_of_the_script(tmp_path):
    script = (
        DATA
        + """
from ledger.integrations.lightgbm import ledger_callback
x, y = data(300)
model = lgb.LGBMClassifier(n_estimators=6, num_leaves=5, learning_rate=0.3, verbose=-1)
model.fit(x[:200], y[:200], eval_set=[(x[200:], y[200:])], eval_names=["val"],
          callbacks=[ledger_callback(project="lgb", root="results", system_metrics=False)])
import json
print(json.dumps(model.evals_result_["val"]["binary_logloss"]))
"""
    )
    proc = run_python(script, tmp_path)
    assert proc.returncode == 0, proc.stderr
    (run,) = ledger.open(tmp_path / "results").runs()
    assert run.status == "finished"  # at the end of the script, with what the booster says
    expected = [float(v) for v in proc.stdout.strip().splitlines()[-1].strip("[]").split(",")]
    assert [r["val/binary_logloss"] for r in run.records() if "val/binary_logloss" in r] == expected
    assert run.config["lightgbm"]["num_leaves"] == 5
    assert list(run.table("feature_importance").columns) == ["feature", "gain", "split"]


def test_cross_validation_logs_mean_and_std_over_folds(tmp_path):
    dtrain, _ = datasets()
    cb = ledger_callback(project="lgb", root=tmp_path, **QUIET)
    result = lgb.cv({**PARAMS, "metric": "auc"}, dtrain, num_boost_round=4, nfold=3, stratified=False, callbacks=[cb])
    cb.finish()

    run = ledger.open(tmp_path).run(cb.run.id)
    assert run.status == "finished"
    records = run.records()
    assert [r["valid/auc"] for r in records] == pytest.approx(result["valid auc-mean"])
    assert [r["valid/auc_std"] for r in records] == pytest.approx(result["valid auc-stdv"])


def test_a_given_run_is_written_but_left_to_its_owner(tmp_path):
    with ledger.init("lgb", root=tmp_path, **QUIET) as run:
        run.log({"before": 1.0})
        cb = ledger_callback(run=run)
        train(cb, rounds=3, early_stopping=False)
        cb.finish()
        assert run.status == "running"
        assert run.summary["best_score/val/auc"] > 0.5
    records = ledger.open(tmp_path).run(run.id).records()
    assert [r["_step"] for r in records if "val/auc" in r] == [1, 2, 3]


@pytest.mark.parametrize("exc", [FloatingPointError("loss diverged"), KeyboardInterrupt()])
def test_a_training_that_raised_is_failed_when_its_end_is_seen(tmp_path, exc):
    cb = ledger_callback(project="lgb", root=tmp_path, **QUIET)
    dtrain, dval = datasets()
    with pytest.raises(type(exc)):
        lgb.train(PARAMS, dtrain, num_boost_round=10, valid_sets=[dval], callbacks=[cb, stop_at(2, exc)])
    cb.finish()
    run = ledger.open(tmp_path).run(cb.run.id)
    assert run.status == "failed"
    assert "stopped after round 3 of 10 without early stopping" in run.doc["error"]
    assert [r["_step"] for r in run.records()] == [0, 1, 2]


@pytest.mark.slow
@stop_params
def test_a_script_whose_training_stops_records_how(tmp_path, status):
    script = (
        DATA
        + """
from ledger.integrations.lightgbm import ledger_callback

def stop(env):
    if env.iteration == 2:
        {stop}
stop.order = 40

dtrain, dval = datasets()
lgb.train({"objective": "binary", "verbose": -1}, dtrain, num_boost_round=10, valid_sets=[dval], valid_names=["val"],
          callbacks=[ledger_callback(project="lgb", root="results", system_metrics=False), stop])
"""
    )
    run = run_stopped_script(tmp_path, script, status)
    assert [r["_step"] for r in run.records()] == [0, 1, 2]


def test_the_callback_is_a_lightgbm_callback_with_checked_arguments():
    cb = ledger_callback(project="lgb")
    assert isinstance(cb, LedgerCallback)
    assert (cb.order, cb.before_iteration) == (25, False)  # before early_stopping (30)
    with pytest.raises(TypeError, match=r"unexpected keyword argument\(s\) projet; .* ledger.init, which takes"):
        ledger_callback(projet="lgb")


@pytest.mark.slow
def test_in_jupyter_the_run_ends_with_the_cell_that_trained(tmp_path, run_notebook):
    nbformat = pytest.importorskip("nbformat")
    cells = [
        DATA
        + """
from ledger.integrations.lightgbm import ledger_callback
dtrain, dval = datasets()
cb = ledger_callback(project="lgb", root="results", system_metrics=False)
booster = lgb.train({"objective": "binary", "verbose": -1}, dtrain, num_boost_round=20, valid_sets=[dval],
                    valid_names=["val"], callbacks=[lgb.early_stopping(2, verbose=False), cb])
""",
        """
import ledger
view = ledger.open("results", cache=False).run(cb.run.id)
print(view.status, view.summary.get("best_iteration") == booster.best_iteration)
""",
        """
def stop(env):
    if env.iteration == 1:
        raise FloatingPointError("loss diverged")
stop.order = 40
lgb.train({"objective": "binary", "verbose": -1}, dtrain, num_boost_round=5, valid_sets=[dval], callbacks=[cb, stop])
""",
        """
view = ledger.open("results", cache=False).run(cb.run.id)
print(view.status, "FloatingPointError: loss diverged" in view.doc["error"])
""",
    ]
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c.strip()) for c in cells]
    nb.cells[2].metadata["tags"] = ["raises-exception"]
    nb = run_notebook(nb, tmp_path)
    assert cell_text(nb.cells[1]).split() == ["finished", "True"]  # ended with the cell, booster's best in it
    assert cell_text(nb.cells[3]).split() == ["failed", "True"]  # the cell's exception, with its traceback
