"""LightGBM: log ``lightgbm.train`` (or the scikit-learn API's ``fit``) with a callback in
LightGBM's own style.

    from ledger.integrations.lightgbm import ledger_callback

    booster = lgb.train(params, dtrain, num_boost_round=200, valid_sets=[dtrain, dval], valid_names=["train", "val"],
                        callbacks=[lgb.early_stopping(20), ledger_callback(project="higgs", group="lgbm")])

    model = lgb.LGBMClassifier(n_estimators=200)
    model.fit(X, y, eval_set=[(X_val, y_val)], callbacks=[ledger_callback(project="higgs")])  # valid_0/binary_logloss

One record per boosting round with the evaluation results LightGBM computed, named
``<data set>/<metric>`` (``val/auc``). Into config, under ``lightgbm``: the parameters the
training ran with and ``num_boost_round``. When the run ends: LightGBM's
``best_iteration`` (when early stopping chose one) and ``best_score/<data set>/<metric>``
in the summary, the feature importance as a table (``feature_importance``: gain and split
count per feature) and, with ``log_model=True``, the model as ``files/model.txt``.

LightGBM tells a callback about each round but not that training ended (early stopping ends
it from inside its own callback, and sets the best iteration after the callbacks ran), so
the run ends at the first moment after the training that ledger can see: the next training
with the same callback, ``callback.finish()``, the end of the Jupyter cell, or the end of
the script. What it then records (best iteration and score, importance, model) is read
from the booster LightGBM returned, as LightGBM left it.
"""

from __future__ import annotations

import atexit
import threading
from typing import TYPE_CHECKING, Any

from ledger.integrations._common import (
    RunHolder,
    _ipython_shell,
    importance_table,
    number,
    plain,
    save_model_file,
)

try:
    import lightgbm
except ImportError as exc:  # pragma: no cover (the tests install lightgbm)
    msg = "ledger.integrations.lightgbm needs LightGBM: pip install lightgbm"
    raise ImportError(msg) from exc

if TYPE_CHECKING:
    from ledger._run import Run

__all__ = ["LedgerCallback", "ledger_callback"]

_pending: dict[int, LedgerCallback] = {}  # callbacks whose training's end nobody has seen yet
_pending_lock = threading.Lock()
_hook_installed = False


def ledger_callback(run: Run | None = None, *, log_model: bool = False, **init_kwargs: Any) -> LedgerCallback:
    """A LightGBM callback (``callbacks=[ledger_callback(...)]``) that logs a training into a
    ledger run.

    Args:
        run: a run to write to (you finish it). Without it, each training makes its own
            run from ``init_kwargs`` and finishes it when the training is seen to end.
        log_model: also save the trained model into the run as ``files/model.txt``
            (LightGBM's text format: ``lightgbm.Booster(model_file=...)`` loads it).
        **init_kwargs: passed to :func:`ledger.init` (``project``, ``config``, ``group``,
            ``job_type``, ``root``, ...).
    """
    return LedgerCallback(run, log_model=log_model, **init_kwargs)


class LedgerCallback:
    """What :func:`ledger_callback` returns: called by LightGBM after every boosting round."""

    before_iteration = False

    def __init__(self, run: Run | None = None, *, log_model: bool = False, **init_kwargs: Any) -> None:
        # After record_evaluation (20), before early_stopping (30), which may end the training.
        # On the instance: LightGBM gives callbacks without one of their own an order of its choosing.
        self.order = 25
        self._holder = RunHolder("lightgbm ledger_callback", run, init_kwargs)
        self._log_model = bool(log_model)
        self._booster: Any = None  # the model of the training under way, or ended but not yet recorded
        self._all_rounds = False  # the training ran its last round
        self._round = 0  # the last round seen
        self._rounds = 0
        self._base = 0  # the run's next step when the training began
        self._begin = 0  # LightGBM's first round of this training (a continued model starts later)

    @property
    def run(self) -> Run | None:
        """The run being written (None before the first training when the callback makes its runs)."""
        return self._holder.run

    def __call__(self, env: Any) -> None:
        """Log one round (LightGBM's ``CallbackEnv``)."""
        if env.model is not self._booster or env.iteration == env.begin_iteration:
            self._start(env)
        record: dict[str, float] = {}
        for item in env.evaluation_result_list or []:
            data, metric, value = str(item[0]), str(item[1]), number(item[2])
            if value is None:
                continue
            name = f"{data}/{metric.replace(' ', '/')}"  # lightgbm.cv: "valid binary_logloss"
            record[name] = value
            if len(item) > 4 and (std := number(item[4])) is not None:  # lightgbm.cv: mean and std over folds
                record[f"{name}_std"] = std
        run = self._holder.get()
        run.log(record, step=max(self._base + env.iteration - self._begin, run.step - 1))
        self._round = env.iteration
        if env.iteration >= env.end_iteration - 1:
            self._all_rounds = True

    def finish(self) -> None:
        """End the run of the last training now (if it has not ended yet): record the best
        iteration, the feature importance and the model (if asked) from the booster, and
        finish a run the callback made: ``finished`` when the training ran all its rounds
        or early stopping ended it, ``failed`` when it stopped before (an exception)."""
        with _pending_lock:
            _pending.pop(id(self), None)
        booster, self._booster = self._booster, None
        run = self._holder.run
        if booster is None or run is None or run.status != "running":
            return
        best = int(getattr(booster, "best_iteration", 0) or 0)
        if not (self._all_rounds or best > 0):
            self._holder.end(
                "failed",
                f"LightGBM's training stopped after round {self._round - self._begin + 1} of {self._rounds} "
                f"without early stopping (an exception?)",
            )
            return
        if isinstance(booster, lightgbm.Booster):
            self._record(run, booster, best)
        self._holder.end("finished")

    # -- helpers ----------------------------------------------------------------------------

    def _start(self, env: Any) -> None:
        self.finish()  # an earlier training with this callback is over
        run = self._holder.begin()
        self._booster = env.model
        self._all_rounds = False
        self._base = run.step
        self._begin = env.begin_iteration
        self._round = env.iteration
        self._rounds = env.end_iteration - env.begin_iteration
        run.config.update({"lightgbm": {**plain(dict(env.params or {})), "num_boost_round": self._rounds}})
        _watch(self)

    def _record(self, run: Run, booster: Any, best: int) -> None:
        if best > 0:
            run.summary["best_iteration"] = best
        for data, metrics in (getattr(booster, "best_score", None) or {}).items():
            for metric, value in metrics.items():
                if (n := number(value)) is not None:
                    run.summary[f"best_score/{data}/{metric}"] = n
        names = [str(n) for n in booster.feature_name()]
        scores = {}
        for kind in ("gain", "split"):
            values = booster.feature_importance(importance_type=kind)
            scores[kind] = {name: float(v) for name, v in zip(names, values, strict=True)}
        table = importance_table(names, scores)
        if table is not None:
            run.log({"feature_importance": table}, step=max(run.step - 1, 0))
        if self._log_model:
            save_model_file(run, "model.txt", booster.save_model)


def _watch(callback: LedgerCallback) -> None:
    """Finish ``callback``'s run at the latest when the process ends (before ledger's own exit
    hook, which would finish it without the booster's results), or when the notebook cell ends."""
    global _hook_installed  # noqa: PLW0603
    with _pending_lock:
        _pending[id(callback)] = callback
        install = not _hook_installed
        _hook_installed = True
    if install:
        atexit.register(_finish_pending)  # after ledger's hook (at the first init): runs before it
    shell = _ipython_shell()
    if shell is None:
        return

    def after_cell(result: Any) -> None:
        shell.events.unregister("post_run_cell", after_cell)
        exc = getattr(result, "error_in_exec", None)
        if isinstance(exc, BaseException) and not callback._all_rounds:  # noqa: SLF001
            with _pending_lock:
                _pending.pop(id(callback), None)
            callback._booster = None  # noqa: SLF001
            callback._holder.fail(exc)  # noqa: SLF001
        else:
            callback.finish()

    shell.events.register("post_run_cell", after_cell)


def _finish_pending() -> None:
    with _pending_lock:
        callbacks = list(_pending.values())
    for callback in callbacks:
        try:
            callback.finish()
        except Exception as exc:  # the process is ending: report, and let the other runs end
            import sys  # noqa: PLC0415

            sys.stderr.write(f"ledger: could not record the LightGBM training of run {callback.run}: {exc}\n")
