"""Keras 3 on the torch backend: real model.fit calls, read back from the files."""

from __future__ import annotations

import importlib.util
import json
import os
import textwrap

import pytest

os.environ["KERAS_BACKEND"] = "torch"  # before keras is imported: no TensorFlow needed
keras = pytest.importorskip("keras")
np = pytest.importorskip("numpy")

import ledger  # noqa: E402
from ledger.integrations.keras import LedgerCallback  # noqa: E402
from tests.helpers import run_python  # noqa: E402

QUIET = {"capture_output": False, "system_metrics": False}


def tiny_model(lr: float = 0.01):
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(2, activation="softmax")],
        name="tiny",
    )
    model.compile(optimizer=keras.optimizers.Adam(lr), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def data(n: int = 64):
    rng = np.random.default_rng(0)
    x = rng.random((n, 4)).astype("float32")
    return x, (x.sum(axis=1) > 2).astype("int32")


class Boom(keras.callbacks.Callback):
    """Raises inside fit, at the end of the given epoch."""

    def __init__(self, epoch: int) -> None:
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            msg = "boom inside fit"
            raise RuntimeError(msg)


def test_fit_logs_epochs_config_and_finishes(tmp_path):
    x, y = data()
    model = tiny_model(lr=0.01)
    cb = LedgerCallback(project="k", root=tmp_path / "results", config={"batch_size": 16}, group="g", **QUIET)
    model.fit(x, y, epochs=3, batch_size=16, validation_split=0.25, verbose=0, callbacks=[cb])

    (run,) = ledger.open(tmp_path / "results").runs()
    assert run.id == cb.run.id
    assert (run.status, run.group, run.project) == ("finished", "g", "k")
    records = run.records()
    assert [r["_step"] for r in records] == [0, 1, 2]
    assert [r["epoch"] for r in records] == [0, 1, 2]
    assert set(records[0]) == {
        "_step",
        "_time",
        "epoch",
        "loss",
        "accuracy",
        "val_loss",
        "val_accuracy",
        "learning_rate",
    }
    assert records[-1]["learning_rate"] == pytest.approx(0.01)
    keras_config = run.config["keras"]
    assert run.config["batch_size"] == 16
    assert keras_config["model"] == "tiny"
    assert keras_config["params"] == model.count_params() == 4 * 8 + 8 + 8 * 2 + 2
    assert keras_config["trainable_params"] == keras_config["params"]
    assert keras_config["optimizer"]["name"] == "adam"
    assert keras_config["optimizer"]["learning_rate"] == pytest.approx(0.01)
    assert (keras_config["epochs"], keras_config["steps_per_epoch"]) == (3, 3)
    assert run.summary["val_loss"] == pytest.approx(records[-1]["val_loss"])


def test_batch_metrics_every_n_batches_count_steps_in_batches(tmp_path):
    x, y = data()
    cb = LedgerCallback(project="k", root=tmp_path, log_every_n_batches=2, **QUIET)
    tiny_model().fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[cb])  # 4 batches per epoch

    records = ledger.open(tmp_path).run(cb.run.id).records()
    batch = [(r["_step"], sorted(k for k in r if k.startswith("batch/"))) for r in records if "batch/loss" in r]
    assert batch == [(s, ["batch/accuracy", "batch/loss"]) for s in (2, 4, 6, 8)]
    assert [(r["_step"], r["epoch"]) for r in records if "epoch" in r] == [(4, 0), (8, 1)]


def test_evaluate_after_fit_reopens_the_same_run(tmp_path):
    x, y = data()
    model = tiny_model()
    cb = LedgerCallback(project="k", root=tmp_path, **QUIET)
    model.fit(x, y, epochs=2, verbose=0, callbacks=[cb])
    model.evaluate(x, y, verbose=0, callbacks=[cb])

    (run,) = ledger.open(tmp_path).runs()
    assert run.status == "finished"
    last = run.records()[-1]
    assert last["_step"] == 1  # the step of the last epoch
    assert set(last) == {"_step", "_time", "test/loss", "test/accuracy"}
    assert "test/accuracy" in run.summary
    assert len(run.doc["intervals"]) == 2  # fit, then the evaluation


def test_a_given_run_is_written_but_left_to_its_owner(tmp_path):
    x, y = data()
    with ledger.init("k", root=tmp_path, **QUIET) as run:
        run.log({"before": 1.0})
        tiny_model().fit(x, y, epochs=2, verbose=0, callbacks=[LedgerCallback(run=run)])
        assert run.status == "running"
        run.log({"after": 1.0})
    records = ledger.open(tmp_path).run(run.id).records()
    assert [r["_step"] for r in records] == [0, 1, 2, 3]  # the epochs follow the run's steps
    assert [r.get("epoch") for r in records] == [None, 0, 1, None]


def test_each_fit_is_a_run_and_one_that_raised_is_failed_at_the_next(tmp_path):
    x, y = data()
    model = tiny_model()
    cb = LedgerCallback(project="k", root=tmp_path, **QUIET)
    with pytest.raises(RuntimeError, match="boom inside fit"):
        model.fit(x, y, epochs=3, verbose=0, callbacks=[cb, Boom(epoch=1)])
    first = cb.run
    assert first.status == "running"  # Keras tells callbacks nothing about exceptions
    model.fit(x, y, epochs=1, verbose=0, callbacks=[cb])

    first_view, second_view = ledger.open(tmp_path).runs()
    assert first_view.id == first.id
    assert first_view.status == "failed"
    assert "stopped before its end" in first_view.doc["error"]
    assert [r["epoch"] for r in first_view.records()] == [0, 1]
    assert second_view.status == "finished"
    assert [r["_step"] for r in second_view.records()] == [0]


@pytest.mark.slow
def test_a_script_whose_fit_raises_leaves_a_failed_run_with_the_traceback(tmp_path):
    script = textwrap.dedent(
        """
        import os
        os.environ["KERAS_BACKEND"] = "torch"
        import keras, numpy as np
        from ledger.integrations.keras import LedgerCallback

        class Boom(keras.callbacks.Callback):
            def on_train_batch_end(self, batch, logs=None):
                if batch == 2:
                    raise ValueError("diverged at batch 2")

        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
        x = np.zeros((64, 4), "float32"); y = np.zeros(64, "int32")
        model.fit(x, y, epochs=2, batch_size=8, verbose=0,
                  callbacks=[LedgerCallback(project="k", root="results", system_metrics=False), Boom()])
        """
    )
    proc = run_python(script, tmp_path, env={"KERAS_BACKEND": "torch"})
    assert proc.returncode == 1
    assert "ValueError: diverged at batch 2" in proc.stderr  # the script's own traceback still shows

    (run,) = ledger.open(tmp_path / "results").runs()
    assert run.status == "failed"
    assert "ValueError: diverged at batch 2" in run.doc["error"]


def test_arguments_are_checked_with_a_clear_error(tmp_path):
    with (
        ledger.init("k", root=tmp_path, **QUIET) as run,
        pytest.raises(TypeError, match="pass either an existing run or the arguments for a new one"),
    ):
        LedgerCallback(run=run, project="k")
    with pytest.raises(TypeError, match=r"unexpected keyword argument\(s\) projet; .* ledger.init, which takes"):
        LedgerCallback(projet="k")
    with pytest.raises(ValueError, match="log_every_n_batches must be a positive int"):
        LedgerCallback(log_every_n_batches=0)


@pytest.mark.slow
def test_the_callback_on_the_tensorflow_backend(tmp_path):
    """Keras picks its backend once, at import: TensorFlow gets a fresh interpreter (and this
    process, which runs Keras on torch, never imports it)."""
    if importlib.util.find_spec("tensorflow") is None:
        pytest.skip("TensorFlow is not installed (pip install tensorflow-cpu)")
    script = textwrap.dedent(
        """
        import json, os
        import keras, numpy as np
        from ledger.integrations.keras import LedgerCallback

        assert keras.backend.backend() == "tensorflow", keras.backend.backend()
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
                                  keras.layers.Dense(2, activation="softmax")], name="tiny")
        model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        rng = np.random.default_rng(0)
        x = rng.random((64, 4)).astype("float32")
        y = (x.sum(axis=1) > 2).astype("int32")
        cb = LedgerCallback(project="k", root="results", system_metrics=False, log_every_n_batches=2)
        history = model.fit(x, y, epochs=3, batch_size=16, validation_split=0.25, verbose=0, callbacks=[cb])
        test = model.evaluate(x, y, verbose=0, callbacks=[cb], return_dict=True)
        print(json.dumps({"history": history.history, "test": test, "params": model.count_params()}))
        """
    )
    proc = run_python(script, tmp_path, env={"KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "2"}, timeout=300)
    assert proc.returncode == 0, proc.stderr
    reported = json.loads(proc.stdout.strip().splitlines()[-1])

    (run,) = ledger.open(tmp_path / "results").runs()
    assert run.status == "finished"
    records = run.records()
    epochs = [r for r in records if "epoch" in r]
    assert [(r["_step"], r["epoch"]) for r in epochs] == [(3, 0), (6, 1), (9, 2)]  # 3 batches per epoch
    for name, values in reported["history"].items():
        assert [r[name] for r in epochs] == pytest.approx(values), name
    assert [r["_step"] for r in records if "batch/loss" in r] == [2, 4, 6, 8]
    assert records[-1]["test/accuracy"] == pytest.approx(reported["test"]["accuracy"])
    assert run.config["keras"]["params"] == reported["params"]
    assert run.config["keras"]["optimizer"]["name"] == "adam"


@pytest.mark.parametrize("log_model", [True, "best"])
def test_log_model_saves_epochs_as_versions_with_best_on_the_best(tmp_path, monkeypatch, log_model):
    monkeypatch.setenv("LEDGER_ARTIFACT_CACHE", str(tmp_path / "cache"))
    x, y = data()
    model = tiny_model(lr=0.5)  # a rate high enough for val_loss to go up and down
    cb = LedgerCallback(project="k", root=tmp_path / "results", log_model=log_model, **QUIET)
    model.fit(x, y, epochs=5, batch_size=16, validation_split=0.25, verbose=0, callbacks=[cb])

    lg = ledger.open(tmp_path / "results")
    (run,) = lg.runs()
    val = [r["val_loss"] for r in run.records()]
    improving = [i for i, v in enumerate(val) if v < min(val[:i], default=float("inf"))]
    assert improving != list(range(5))  # the best is not simply the last epoch
    versions = lg.artifacts(name=f"model-{run.id}")
    assert [v.metadata["epoch"] for v in versions] == (list(range(5)) if log_model is True else improving)
    assert {(v.metadata["monitor"], v.metadata["mode"], v.type) for v in versions} == {("val_loss", "min", "model")}
    best = lg.artifact(f"model-{run.id}:best")
    assert best.metadata["epoch"] == improving[-1]
    assert best.metadata["score"] == pytest.approx(min(val))
    assert list(best.files) == ["model.keras"]
    restored = keras.saving.load_model(best.download())
    assert restored.count_params() == model.count_params()


def test_log_model_watches_loss_without_validation_and_accuracy_goes_up(tmp_path):
    from ledger.integrations.keras import _direction

    assert _direction("val_accuracy", "auto") == "max"
    assert _direction("val_loss", "auto") == "min"
    x, y = data()
    cb = LedgerCallback(project="k", root=tmp_path / "results", log_model="best", **QUIET)
    tiny_model().fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[cb])
    versions = ledger.open(tmp_path / "results").artifacts()
    assert versions
    assert {v.metadata["monitor"] for v in versions} == {"loss"}
    with pytest.raises(ValueError, match="log_model must be False, True"):
        LedgerCallback(log_model="every")
