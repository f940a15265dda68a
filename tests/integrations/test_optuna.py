"""Optuna: real studies; each trial read back as a run."""

from __future__ import annotations

import pytest

optuna = pytest.importorskip("optuna")

import ledger  # noqa: E402
from ledger.integrations.optuna import LedgerCallback  # noqa: E402

QUIET = {"capture_output": False, "system_metrics": False}


@pytest.fixture(autouse=True)
def _quiet_optuna():
    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    yield
    optuna.logging.set_verbosity(level)


def objective(trial):
    x = trial.suggest_float("x", -4.0, 4.0)
    kind = trial.suggest_categorical("kind", ["a", "b"])
    for step in range(3):
        trial.report((x - 2) ** 2 + step, step)
    if trial.number == 2:
        raise optuna.TrialPruned
    if trial.number == 3:
        msg = "diverged"
        raise ValueError(msg)
    trial.set_user_attr("note", f"kind {kind}")
    return (x - 2) ** 2


def test_each_trial_is_a_run_in_the_study_group_with_its_state(tmp_path):
    study = optuna.create_study(study_name="quad", sampler=optuna.samplers.RandomSampler(seed=0))
    cb = LedgerCallback(metric_name="loss", project="opt", root=tmp_path, job_type="trial", config={"budget": 3})
    study.optimize(objective, n_trials=5, callbacks=[cb], catch=(ValueError,))

    views = ledger.open(tmp_path).runs(order_by="config.optuna.trial")
    assert [v.name for v in views] == [f"trial-{n}" for n in range(5)]
    assert {(v.group, v.job_type) for v in views} == {("quad", "trial")}
    assert [v.status for v in views] == ["finished", "finished", "killed", "failed", "finished"]
    assert views[2].doc["error"] == "pruned by Optuna at step 2"
    assert "trial 3 failed" in views[3].doc["error"]
    for view, trial in zip(views, study.trials, strict=True):
        assert view.config["x"] == trial.params["x"]
        assert view.config["kind"] == trial.params["kind"]
        assert view.config["budget"] == 3
        assert view.config["optuna"]["study"] == "quad"
        assert view.config["optuna"]["trial"] == trial.number
        assert [(r["_step"], r["loss"]) for r in view.records()] == sorted(trial.intermediate_values.items())
        assert view.duration_s >= trial.duration.total_seconds() - 0.002  # the trial's time, not the logging's
        if trial.state == optuna.trial.TrialState.COMPLETE:
            assert view.summary["loss"] == trial.value  # the objective, not the last reported value
            assert view.config["optuna"]["user_attrs"] == {"note": f"kind {trial.params['kind']}"}


def test_track_in_ledger_runs_the_objective_inside_its_run(tmp_path):
    study = optuna.create_study(
        study_name="tracked", direction="maximize", sampler=optuna.samplers.RandomSampler(seed=1)
    )
    cb = LedgerCallback(metric_name="acc", project="opt", root=tmp_path, **QUIET)

    @cb.track_in_ledger()
    def train(trial):
        lr = trial.suggest_float("lr", 1e-3, 1e-1, log=True)
        for epoch in range(3):
            ledger.log({"epoch": epoch, "train/acc": 0.5 + 0.1 * epoch})
        if trial.number == 1:
            raise optuna.TrialPruned
        return 0.7 + lr

    study.optimize(train, n_trials=3, callbacks=[cb])
    views = ledger.open(tmp_path).runs(order_by="name")
    assert [v.status for v in views] == ["finished", "killed", "finished"]
    for view, trial in zip(views, study.trials, strict=True):
        assert [r["epoch"] for r in view.records()] == [0, 1, 2]  # logged by the objective itself
        assert view.config["lr"] == trial.params["lr"]
    assert views[0].summary["acc"] == study.trials[0].value


def test_an_exception_optuna_re_raises_still_fails_the_tracked_run(tmp_path):
    study = optuna.create_study(study_name="crash")
    cb = LedgerCallback(project="opt", root=tmp_path, **QUIET)

    @cb.track_in_ledger()
    def train(trial):
        trial.suggest_int("width", 8, 64)
        msg = "out of memory"
        raise MemoryError(msg)

    with pytest.raises(MemoryError):
        study.optimize(train, n_trials=3, callbacks=[cb])
    (view,) = ledger.open(tmp_path).runs()
    assert view.status == "failed"
    assert "MemoryError: out of memory" in view.doc["error"]
    assert "width" in view.config


def test_several_objectives_need_one_name_each(tmp_path):
    study = optuna.create_study(study_name="multi", directions=["minimize", "maximize"])
    study.optimize(
        lambda t: (t.suggest_float("x", 0, 1), 1.0),
        n_trials=1,
        callbacks=[LedgerCallback(metric_name=["loss", "acc"], project="opt", root=tmp_path)],
    )
    study.optimize(
        lambda t: (t.suggest_float("x", 0, 1), 2.0),
        n_trials=1,
        callbacks=[LedgerCallback(project="opt", root=tmp_path)],
    )
    first, second = ledger.open(tmp_path).runs(order_by="config.optuna.trial")
    assert first.summary["acc"] == 1.0
    assert second.summary["value_1"] == 2.0
    bad = LedgerCallback(metric_name=["a", "b", "c"], project="opt", root=tmp_path)
    with pytest.raises(ValueError, match="the study has 2 objectives but metric_name names 3"):
        study.optimize(lambda t: (0.0, 0.0), n_trials=1, callbacks=[bad])


def test_arguments_the_callback_sets_itself_are_refused():
    with pytest.raises(TypeError, match=r"name is set per trial \(trial-<number>\)"):
        LedgerCallback(name="x")
