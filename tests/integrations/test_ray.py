"""Ray Tune: a real local Ray (ray.init(num_cpus=2)), Tuner.fit() with ASHA, each trial read back as a run."""

from __future__ import annotations

import shutil
import tempfile

import pytest

ray = pytest.importorskip("ray")
pytest.importorskip("ray.tune")

from ray import tune  # noqa: E402
from ray.tune.schedulers import ASHAScheduler  # noqa: E402

import ledger  # noqa: E402
from ledger.integrations.ray import LedgerLoggerCallback  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray for the module: starting it costs seconds. Its folder is short: Ray's
    socket paths must fit in 107 bytes."""
    folder = tempfile.mkdtemp(prefix="ray-")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False, _temp_dir=folder)
    yield
    ray.shutdown()
    shutil.rmtree(folder, ignore_errors=True)


def train(config):
    for i in range(8):
        score = config["lr"] * (i + 1)
        tune.report({"score": score, "nested": {"half": score / 2}, "label": "text is left out"})


def failing(config):
    tune.report({"score": 1.0})
    if config["lr"] > 0.5:
        msg = "diverged"
        raise ValueError(msg)
    tune.report({"score": 2.0})


def _fit(trainable, param_space, tmp_path, callback, **tune_config):
    tuner = tune.Tuner(
        trainable,
        param_space=param_space,
        tune_config=tune.TuneConfig(**tune_config),
        run_config=tune.RunConfig(
            name="exp",
            storage_path=str(tmp_path / "ray_results"),
            callbacks=[callback],
            verbose=0,
            failure_config=tune.FailureConfig(fail_fast=False),
        ),
    )
    return tuner.fit()


def _by_trial(results):
    return {r.metrics["trial_id"]: r for r in results}


def test_asha_trials_are_runs_in_one_group_with_the_stopped_ones_marked(local_ray, tmp_path):
    callback = LedgerLoggerCallback(project="tune", root=tmp_path / "results", tags=["asha"])
    lrs = [0.6, 0.5, 0.4, 0.3, 0.2, 0.1]  # later trials are worse: ASHA stops them at a rung
    results = _fit(
        train, {"lr": tune.grid_search(lrs)}, tmp_path, callback,
        metric="score", mode="max", scheduler=ASHAScheduler(max_t=8, grace_period=1, reduction_factor=2),
    )  # fmt: skip
    assert not results.errors
    runs = ledger.open(tmp_path / "results").runs(project="tune")
    assert len(runs) == 6
    assert {r.group for r in runs} == {"exp"}
    assert sorted(r.config["lr"] for r in runs) == sorted(lrs)
    assert {r.doc["tags"][0] for r in runs} == {"asha"}
    by_trial = _by_trial(results)
    stopped = 0
    for run in runs:
        result = by_trial[run.config["ray"]["trial_id"]]
        assert result.path.rsplit("/", 1)[-1].startswith(run.name)  # train_<experiment>_<n>
        iterations = result.metrics["training_iteration"]
        if iterations < 8:  # ASHA cut it at a rung
            stopped += 1
            assert (run.status, run.doc["stop_reason"]) == ("killed", "early_terminated")
            assert (
                f"stopped early by Ray Tune's AsyncHyperBandScheduler at training_iteration {iterations}"
                in (run.doc["error"])
            )
        else:  # reached max_t: its end, not an early stop
            assert run.status == "finished"
            assert "stop_reason" not in run.doc
        # the run's metrics are the reported results, step by step
        reported = result.metrics_dataframe
        history = run.history()
        assert history["_step"].tolist() == reported["training_iteration"].tolist()
        assert history["score"].tolist() == pytest.approx(reported["score"].tolist())
        assert history["nested/half"].tolist() == pytest.approx(reported["nested/half"].tolist())
        assert "label" not in history.columns
        assert "time_total_s" in history.columns
        assert run.summary["score"] == pytest.approx(result.metrics["score"])
    assert 1 <= stopped < 6


def test_stop_criteria_finish_and_a_raising_trial_fails(local_ray, tmp_path):
    callback = LedgerLoggerCallback(project="tune", root=tmp_path / "results")
    results = _fit(
        failing, {"lr": tune.grid_search([0.1, 0.9])}, tmp_path, callback, metric="score", mode="max",
    )  # fmt: skip
    assert len(results.errors) == 1
    runs = {r.config["lr"]: r for r in ledger.open(tmp_path / "results").runs(project="tune")}
    assert runs[0.1].status == "finished"
    assert runs[0.9].status == "failed"
    assert "diverged" in runs[0.9].doc["error"]
    assert runs[0.9].history()["score"].tolist() == [1.0]

    callback = LedgerLoggerCallback(project="stopped", root=tmp_path / "results")
    tuner = tune.Tuner(
        train,
        param_space={"lr": tune.grid_search([0.1, 0.2])},
        tune_config=tune.TuneConfig(metric="score", mode="max", scheduler=ASHAScheduler(max_t=8, grace_period=4)),
        run_config=tune.RunConfig(
            name="exp2",
            storage_path=str(tmp_path / "ray_results"),
            callbacks=[callback],
            verbose=0,
            stop={"training_iteration": 3},
        ),
    )
    tuner.fit()
    runs = ledger.open(tmp_path / "results").runs(project="stopped")
    assert [r.status for r in runs] == ["finished", "finished"]  # the user's stop criterion is their end
    assert [len(r.history()) for r in runs] == [3, 3]


def test_a_root_on_s3_from_the_tune_driver(local_ray, tmp_path, s3_root):
    callback = LedgerLoggerCallback(project="tune", root=s3_root)
    _fit(train, {"lr": tune.grid_search([0.1, 0.2, 0.3])}, tmp_path, callback, metric="score", mode="max")
    runs = ledger.open(s3_root).runs(project="tune")
    assert len(runs) == 3
    assert {r.status for r in runs} == {"finished"}  # FIFO: nothing stops a trial early
    assert all(len(r.history()) == 8 for r in runs)


def test_bad_arguments_say_what_to_do():
    with pytest.raises(TypeError, match="name is set per trial"):
        LedgerLoggerCallback(name="x")
    with pytest.raises(TypeError, match="unexpected keyword argument"):
        LedgerLoggerCallback(projekt="x")
    with pytest.raises(TypeError, match="excludes must be a list"):
        LedgerLoggerCallback(excludes="loss")


def test_the_cluster_guide_example_runs(tmp_path):
    """docs/clusters.md's Ray Tune example, as the script it is (its own ray.init)."""
    import re

    from tests.helpers import REPO, run_python

    section = (REPO / "docs" / "clusters.md").read_text().split("\n## Ray Tune\n", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)
    ray_tmp = tempfile.mkdtemp(prefix="ray-")  # short: Ray's socket paths must fit in 107 bytes
    try:
        proc = run_python(code, tmp_path, env={"RAY_TMPDIR": ray_tmp}, timeout=300)
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
    assert proc.returncode == 0, proc.stderr
    runs = ledger.open(tmp_path / "results").runs(project="mnist")
    assert len(runs) == 4
    assert {r.group for r in runs} == {"asha-lr"}
    assert {(r.status, r.doc.get("stop_reason")) for r in runs} <= {("finished", None), ("killed", "early_terminated")}
