"""XGBoost: log ``xgboost.train`` (or the scikit-learn API's ``fit``) with one callback.

    from ledger.integrations.xgboost import LedgerCallback

    booster = xgb.train(params, dtrain, num_boost_round=200, evals=[(dtrain, "train"), (dval, "val")],
                        early_stopping_rounds=20, callbacks=[LedgerCallback(project="higgs", group="xgb")])

    model = xgb.XGBClassifier(n_estimators=200, callbacks=[LedgerCallback(project="higgs")])
    model.fit(X, y, eval_set=[(X_val, y_val)])          # validation_0/logloss, ...

One record per boosting round with the evaluation results XGBoost computed for each eval
set, named ``<eval set>/<metric>`` (``val/auc``; ``validation_0/logloss`` with the
scikit-learn API). Into config, under ``xgboost``: every parameter of the booster, as the
booster itself reports it (``save_config``). At the end: ``best_iteration`` and
``best_score`` in the summary (when early stopping ran), the feature importance as a table
(``feature_importance``: gain, weight, cover, total_gain, total_cover per feature) and,
with ``log_model=True``, the model as ``files/model.json``. The run finishes with the
training.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

from ledger.integrations._common import RunHolder, importance_table, number, save_model_file

try:
    import xgboost
    from xgboost.callback import TrainingCallback
except ImportError as exc:  # pragma: no cover (the tests install xgboost)
    msg = "ledger.integrations.xgboost needs XGBoost: pip install xgboost (or xgboost-cpu)"
    raise ImportError(msg) from exc

if TYPE_CHECKING:
    from ledger._run import Run

__all__ = ["LedgerCallback"]

_IMPORTANCE = ("gain", "weight", "cover", "total_gain", "total_cover")  # sorted by gain


class LedgerCallback(TrainingCallback):
    """An XGBoost training callback that logs a training into a ledger run.

    Args:
        run: a run to write to (you finish it). Without it, each training makes its own
            run from ``init_kwargs`` and finishes it when the training ends.
        log_model: also save the trained model into the run as ``files/model.json``
            (XGBoost's own JSON format: ``xgboost.Booster(model_file=...)`` loads it).
        **init_kwargs: passed to :func:`ledger.init` (``project``, ``config``, ``group``,
            ``job_type``, ``root``, ...).

    A training that raises leaves its run ``failed`` (``killed`` on Ctrl-C): XGBoost tells
    callbacks nothing about exceptions, so this happens in a script through ledger's
    exception hook, in Jupyter when the cell ends, or at the callback's next training.
    """

    def __init__(self, run: Run | None = None, *, log_model: bool = False, **init_kwargs: Any) -> None:
        super().__init__()
        self._holder = RunHolder("xgboost LedgerCallback", run, init_kwargs)
        self._log_model = bool(log_model)
        self._base = 0  # the run's next step when the training began
        self._first: int | None = None  # the first round of this training (later ones continue a model)

    @property
    def run(self) -> Run | None:
        """The run being written (None before the first training when the callback makes its runs)."""
        return self._holder.run

    def __deepcopy__(self, memo: dict[int, Any]) -> LedgerCallback:
        # scikit-learn's clone (GridSearchCV, cross_validate) deep-copies an estimator's
        # callbacks: a copy writes to the same given run, or makes runs of its own.
        copy = type(self).__new__(type(self))
        copy.__dict__.update(self.__dict__)
        copy._holder = self._holder.copy()  # noqa: SLF001
        return copy

    def before_training(self, model: Any) -> Any:
        run = self._holder.begin()
        self._base = run.step
        self._first = None
        if isinstance(model, xgboost.Booster):  # xgboost.cv hands a pack of folds instead
            run.config.update({"xgboost": booster_params(model)})
        return model

    def after_iteration(self, model: Any, epoch: int, evals_log: dict[str, Any]) -> bool:
        if self._first is None:
            self._first = epoch
        record: dict[str, float] = {}
        for data, metrics in evals_log.items():
            for metric, history in metrics.items():
                if not history:
                    continue
                last = history[-1]
                if isinstance(last, tuple):  # xgboost.cv: (mean, std) over the folds
                    record[f"{data}/{metric}"] = float(last[0])
                    record[f"{data}/{metric}_std"] = float(last[1])
                elif (n := number(last)) is not None:
                    record[f"{data}/{metric}"] = n
        run = self._holder.get()
        run.log(record, step=max(self._base + epoch - self._first, run.step - 1))
        return False

    def after_training(self, model: Any) -> Any:
        run = self._holder.get()
        if isinstance(model, xgboost.Booster):
            best_iteration, best_score = model.attr("best_iteration"), model.attr("best_score")
            if best_iteration is not None:
                run.summary["best_iteration"] = int(best_iteration)
            if best_score is not None:
                run.summary["best_score"] = float(best_score)
            table = _importance(model)
            if table is not None:
                run.log({"feature_importance": table}, step=max(run.step - 1, 0))
            if self._log_model:
                save_model_file(run, "model.json", model.save_model)
        self._holder.end("finished")
        return model


def booster_params(booster: Any) -> dict[str, Any]:
    """Every training parameter of ``booster``, from its own configuration (``save_config``):
    the learner's, the booster's, the objective's; numbers as numbers, ``eval_metric`` as the
    list of metric names, and XGBoost's ``version``."""
    config = json.loads(booster.save_config())
    learner = config.get("learner", {})
    out: dict[str, Any] = {}
    sections = [learner.get("learner_train_param"), learner.get("generic_param"), learner.get("learner_model_param")]
    gradient_booster = learner.get("gradient_booster", {})
    sections += [v for k, v in gradient_booster.items() if k.endswith("_param") and isinstance(v, dict)]
    sections += [v for k, v in learner.get("objective", {}).items() if k.endswith("_param") and isinstance(v, dict)]
    for section in sections:
        for key, value in (section or {}).items():
            out.setdefault(str(key), _param_value(value))
    metrics = [m.get("name") for m in learner.get("metrics", []) if isinstance(m, dict)]
    if metrics:
        out["eval_metric"] = metrics
    if "version" in config:
        out["version"] = ".".join(str(v) for v in config["version"])
    return dict(sorted(out.items()))


def _param_value(value: Any) -> Any:
    """A parameter as XGBoost prints it ("0.300000012", "3", "1") as the number it stands for:
    floats XGBoost keeps in single precision come back as the value the user wrote (0.3)."""
    if not isinstance(value, str):
        return value
    try:
        return int(value)
    except ValueError:
        pass
    try:
        as_float = float(value)
    except ValueError:
        return value
    if not math.isfinite(as_float):
        return as_float
    digits = len(value.lower().split("e")[0].replace("-", "").replace(".", "").lstrip("0"))
    if digits <= 9:  # printed from a float32: its shortest decimal form is what was set
        import numpy as np  # noqa: PLC0415 (XGBoost needs numpy: it is there)

        return float(str(np.float32(as_float)))
    return as_float


def _importance(booster: Any) -> Any:
    """The booster's feature importance of every kind it can compute, as a table."""
    scores: dict[str, dict[str, float]] = {}
    for kind in _IMPORTANCE:
        try:
            by_feature = booster.get_score(importance_type=kind)
        except (ValueError, xgboost.core.XGBoostError):  # gblinear has only "weight"
            continue
        numeric = {str(k): n for k, v in by_feature.items() if (n := number(v)) is not None}
        if numeric:
            scores[kind] = numeric
    features = booster.feature_names or [f"f{i}" for i in range(booster.num_features())]
    return importance_table(features, scores)
