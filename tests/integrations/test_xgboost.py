"""XGBoost: real xgboost.train and XGBClassifier.fit on tiny CPU data, read back from the files."""

from __future__ import annotations

import pytest

np = pytest.importorskip("numpy")
xgb = pytest.importorskip("xgboost")

import ledger  # noqa: E402
from ledger.integrations.xgboost import LedgerCallback  # noqa: E402
from tests.integrations import tabular  # noqa: E402
from tests.integrations.stops import run_stopped_script, stop_params  # noqa: E402

QUIET = {"capture_output": False, "system_metrics": False}
PARAMS = {"objective": "binary:logistic", "max_depth": 3, "eta": 0.3, "eval_metric": ["logloss", "auc"], "seed": 0}

DATA = (
    tabular.SOURCE
    + """
import xgboost as xgb

def matrices():
    x, y = data(200)
    train = xgb.DMatrix(x[:150], label=y[:150], feature_names=FEATURES)
    return train, xgb.DMatrix(x[150:], label=y[150:], feature_names=FEATURES)
"""
)
namespace: dict = {}
exec(DATA, namespace)  # the same data in the scripts run below
data, matrices, FEATURES = namespace["data"], namespace["matrices"], namespace["FEATURES"]


class StopAt(xgb.callback.TrainingCallback):
    """Raises ``exc`` after the given boosting round."""

    def __init__(self, round_: int, exc: BaseException) -> None:
        super().__init__()
        self.round, self.exc = round_, exc

    def after_iteration(self, model, epoch, evals_log):
        if epoch == self.round:
            raise self.exc
        return False


def test_train_logs_each_round_of_each_eval_set_as_xgboost_reports_it(tmp_path):
    dtrain, dval = matrices()
    evals_result: dict = {}
    cb = LedgerCallback(project="xgb", root=tmp_path / "results", group="gbt", **QUIET)
    booster = xgb.train(
        PARAMS,
        dtrain,
        num_boost_round=30,
        evals=[(dtrain, "train"), (dval, "val")],
        early_stopping_rounds=4,
        evals_result=evals_result,
        verbose_eval=False,
        callbacks=[cb],
    )

    (run,) = ledger.open(tmp_path / "results").runs()
    assert (run.id, run.status, run.group) == (cb.run.id, "finished", "gbt")
    rounds = [r for r in run.records() if "val/auc" in r]
    assert [r["_step"] for r in rounds] == list(range(len(evals_result["val"]["auc"])))
    for data_name in ("train", "val"):
        for metric in ("logloss", "auc"):
            assert [r[f"{data_name}/{metric}"] for r in rounds] == evals_result[data_name][metric]
    assert booster.best_iteration < len(rounds) - 1  # early stopping stopped it
    assert run.summary["best_iteration"] == booster.best_iteration
    assert run.summary["best_score"] == booster.best_score
    assert run.summary["val/auc"] == evals_result["val"]["auc"][-1]


def test_config_holds_the_boosters_parameters(tmp_path):
    dtrain, dval = matrices()
    cb = LedgerCallback(project="xgb", root=tmp_path, config={"dataset": "toy"}, **QUIET)
    booster = xgb.train(PARAMS, dtrain, num_boost_round=3, evals=[(dval, "val")], verbose_eval=False, callbacks=[cb])

    config = ledger.open(tmp_path).run(cb.run.id).config
    assert config["dataset"] == "toy"
    params = config["xgboost"]
    assert (params["objective"], params["max_depth"], params["eta"], params["seed"]) == ("binary:logistic", 3, 0.3, 0)
    assert params["eval_metric"] == ["logloss", "auc"]
    assert params["booster"] == "gbtree"
    assert params["num_feature"] == 4
    assert params["version"] == xgb.__version__
    assert params["lambda"] == float(booster.save_config().split('"lambda":"')[1].split('"')[0])


def test_feature_importance_table_and_model_file(tmp_path):
    dtrain, dval = matrices()
    cb = LedgerCallback(project="xgb", root=tmp_path, log_model=True, **QUIET)
    booster = xgb.train(PARAMS, dtrain, num_boost_round=8, evals=[(dval, "val")], verbose_eval=False, callbacks=[cb])

    run = ledger.open(tmp_path).run(cb.run.id)
    table = run.table("feature_importance")
    assert list(table.columns) == ["feature", "gain", "weight", "cover", "total_gain", "total_cover"]
    assert sorted(table["feature"]) == sorted(FEATURES)  # unused features too, with 0
    for kind in ("gain", "weight", "cover", "total_gain", "total_cover"):
        scores = booster.get_score(importance_type=kind)
        assert dict(zip(table["feature"], table[kind], strict=True)) == pytest.approx(
            {f: scores.get(f, 0.0) for f in FEATURES}
        )
    assert list(table["gain"]) == sorted(table["gain"], reverse=True)
    assert table["feature"][0] == "age"  # the feature the label depends on most
    (importance,) = [r for r in run.records() if "feature_importance" in r]
    assert importance["_step"] == 7  # beside the last round

    saved = tmp_path / "xgb" / "runs" / run.id / "files" / "model.json"
    loaded = xgb.Booster(model_file=str(saved))
    np.testing.assert_array_equal(loaded.predict(dval), booster.predict(dval))


def test_the_scikit_learn_api_logs_its_eval_sets(tmp_path):
    x, y = data(200)
    cb = LedgerCallback(project="xgb", root=tmp_path, **QUIET)
    model = xgb.XGBClassifier(n_estimators=5, max_depth=2, learning_rate=0.5, callbacks=[cb])
    model.fit(x[:150], y[:150], eval_set=[(x[:150], y[:150]), (x[150:], y[150:])], verbose=False)

    run = ledger.open(tmp_path).run(cb.run.id)
    assert run.status == "finished"
    history = model.evals_result()
    rounds = [r for r in run.records() if "validation_1/logloss" in r]
    assert [r["validation_0/logloss"] for r in rounds] == history["validation_0"]["logloss"]
    assert [r["validation_1/logloss"] for r in rounds] == history["validation_1"]["logloss"]
    assert (run.config["xgboost"]["max_depth"], run.config["xgboost"]["eta"]) == (2, 0.5)


def test_scikit_learn_clones_make_a_run_each(tmp_path):
    from sklearn.model_selection import cross_validate

    x, y = data(200)
    cb = LedgerCallback(project="xgb", root=tmp_path, group="cv", **QUIET)
    model = xgb.XGBClassifier(n_estimators=3, max_depth=2, callbacks=[cb])
    cross_validate(model, x, y, cv=2, params={"eval_set": [(x, y)], "verbose": False})

    runs = ledger.open(tmp_path).runs()  # clone() deep-copies the callback: one run per fold
    assert [(r.status, r.group, len(r.records())) for r in runs] == [("finished", "cv", 4)] * 2  # 3 rounds + importance
    assert cb.run is None  # the estimator given was never fitted itself


def test_cross_validation_logs_mean_and_std_over_folds(tmp_path):
    dtrain, _ = matrices()
    cb = LedgerCallback(project="xgb", root=tmp_path, **QUIET)
    result = xgb.cv(PARAMS, dtrain, num_boost_round=4, nfold=3, seed=0, callbacks=[cb], as_pandas=False)

    run = ledger.open(tmp_path).run(cb.run.id)
    assert run.status == "finished"
    records = run.records()
    assert [r["test/auc"] for r in records] == pytest.approx(result["test-auc-mean"])
    assert [r["test/auc_std"] for r in records] == pytest.approx(result["test-auc-std"])


def test_a_given_run_is_written_but_left_to_its_owner(tmp_path):
    dtrain, dval = matrices()
    with ledger.init("xgb", root=tmp_path, **QUIET) as run:
        run.log({"before": 1.0})
        xgb.train(PARAMS, dtrain, num_boost_round=3, evals=[(dval, "val")], callbacks=[LedgerCallback(run=run)])
        assert run.status == "running"
    records = ledger.open(tmp_path).run(run.id).records()
    assert [r["_step"] for r in records if "val/auc" in r] == [1, 2, 3]  # after the run's own steps


@pytest.mark.parametrize("exc", [FloatingPointError("loss diverged"), KeyboardInterrupt()])
def test_a_training_that_raised_is_failed_at_the_next_one(tmp_path, exc):
    dtrain, dval = matrices()
    cb = LedgerCallback(project="xgb", root=tmp_path, **QUIET)
    with pytest.raises(type(exc)):
        xgb.train(PARAMS, dtrain, num_boost_round=10, evals=[(dval, "val")], callbacks=[cb, StopAt(2, exc)])
    first = cb.run
    assert first.status == "running"  # XGBoost tells callbacks nothing about exceptions
    xgb.train(PARAMS, dtrain, num_boost_round=2, evals=[(dval, "val")], callbacks=[cb])

    first_view, second_view = ledger.open(tmp_path).runs()
    assert first_view.id == first.id
    assert first_view.status == "failed"
    assert "stopped before its end" in first_view.doc["error"]
    assert [r["_step"] for r in first_view.records()] == [0, 1, 2]
    assert second_view.status == "finished"


@pytest.mark.slow
@stop_params
def test_a_script_whose_training_stops_records_how(tmp_path, status):
    script = (
        DATA
        + """
from ledger.integrations.xgboost import LedgerCallback

class Stop(xgb.callback.TrainingCallback):
    def after_iteration(self, model, epoch, evals_log):
        if epoch == 2:
            {stop}
        return False

dtrain, dval = matrices()
xgb.train({"objective": "binary:logistic"}, dtrain, num_boost_round=10, evals=[(dval, "val")], verbose_eval=False,
          callbacks=[LedgerCallback(project="xgb", root="results", system_metrics=False), Stop()])
"""
    )
    run = run_stopped_script(tmp_path, script, status)
    assert [r["_step"] for r in run.records()] == [0, 1, 2]


def test_arguments_are_checked_with_a_clear_error(tmp_path):
    with pytest.raises(TypeError, match=r"unexpected keyword argument\(s\) projet; .* ledger.init, which takes"):
        LedgerCallback(projet="xgb")
    with (
        ledger.init("xgb", root=tmp_path, **QUIET) as run,
        pytest.raises(TypeError, match="pass either an existing run or the arguments for a new one"),
    ):
        LedgerCallback(run=run, group="g")
