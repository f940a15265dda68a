"""scikit-learn: estimators' parameters, cross-validation results and hyperparameter searches.

    from ledger.integrations.sklearn import log_cv, log_estimator, log_search

    with ledger.init(project="digits", group="svc") as run:
        log_estimator(run, model)                    # config.estimator.{class, C, kernel, ...}
        log_cv(run, cross_validate(model, X, y, cv=5, return_train_score=True))

    search = GridSearchCV(model, {"C": [0.1, 1, 10]}, cv=5).fit(X, y)
    runs = log_search(search, project="digits", group="svc-grid")   # one run per candidate

Names follow ``cross_validate``: per fold ``test_score`` (or ``test_<scorer>``),
``train_<scorer>``, ``fit_time``, ``score_time`` as steps; in the summary the mean over
the folds under the same name and the standard deviation as ``<name>_std``. This module
needs no import of scikit-learn until :func:`log_search` clones an estimator.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ledger._run import init
from ledger.integrations._common import number, plain

if TYPE_CHECKING:
    from ledger._run import Run

__all__ = ["log_cv", "log_estimator", "log_search"]

_SPLIT_KEY = re.compile(r"^split(\d+)_(test|train)_(.+)$")


# ---- estimators -----------------------------------------------------------------------------


def _is_estimator(value: Any) -> bool:
    return not isinstance(value, type) and callable(getattr(value, "get_params", None))


def _param_value(value: Any) -> Any:
    """A parameter as YAML data: estimators by class name (their parameters appear beside them)."""
    if _is_estimator(value):
        return type(value).__name__
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, (list, tuple)) for v in value):
        return [[_param_value(x) for x in item] for item in value]  # Pipeline steps: [[name, class], ...]
    return plain(value)


def describe_estimator(estimator: Any) -> dict[str, Any]:
    """The estimator's class and parameters as a nested mapping: a Pipeline's
    ``clf__C`` becomes ``{"clf": {"class": "SVC", "C": 1.0}}``."""
    if not _is_estimator(estimator):
        msg = f"expected a scikit-learn estimator (an object with get_params()), got {type(estimator).__name__}"
        raise TypeError(msg)
    tree: dict[str, Any] = {"class": type(estimator).__name__}
    params = estimator.get_params(deep=True)
    for name in sorted(params, key=lambda n: (n.count("__"), n)):  # parents before their parameters
        value = params[name]
        *parents, leaf = name.split("__")
        node = tree
        for part in parents:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {"class": child} if isinstance(child, str) else {}
                node[part] = child
            node = child
        node[leaf] = {"class": type(value).__name__} if _is_estimator(value) else _param_value(value)
    return tree


def log_estimator(run: Run, estimator: Any, *, key: str = "estimator") -> None:
    """Put ``estimator``'s class and parameters into ``run.config[key]`` (nested for
    pipelines and meta-estimators: ``config.estimator.clf.C``)."""
    run.config.update({key: describe_estimator(estimator)})


# ---- cross-validation -----------------------------------------------------------------------


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and population standard deviation (as numpy and cv_results_ compute them);
    NaN if any value is NaN (a failed fold must not pass unnoticed)."""
    n = len(values)
    mean = math.fsum(values) / n
    return mean, math.sqrt(math.fsum((v - mean) ** 2 for v in values) / n)


def _per_fold(cv_results: Mapping[str, Any]) -> dict[str, list[float]]:
    """The per-fold numeric arrays of ``cross_validate`` output (skips estimators and indices)."""
    out: dict[str, list[float]] = {}
    for key, values in cv_results.items():
        if key in ("estimator", "indices") or isinstance(values, (str, bytes, Mapping)):
            continue
        try:
            numbers = [number(v) for v in values]
        except TypeError:  # not a sequence
            continue
        if numbers and all(n is not None for n in numbers):
            out[str(key)] = [float(n) for n in numbers if n is not None]
    return out


def _log_folds(run: Run, folds: Mapping[str, Sequence[float]]) -> int:
    """One record per fold, from the run's next step on; returns the number of folds."""
    n = max((len(v) for v in folds.values()), default=0)
    first = run.step
    for i in range(n):
        run.log({k: v[i] for k, v in folds.items() if i < len(v)}, step=first + i)
    return n


def log_cv(run: Run, cv_results: Any) -> None:
    """Log the output of ``sklearn.model_selection.cross_validate``: one record per fold
    (step = fold for a run without earlier records), and per metric the mean over folds
    in the summary under the metric's name and the standard deviation as ``<name>_std``."""
    if not isinstance(cv_results, Mapping):
        msg = f"log_cv expects the dict that cross_validate returns, got {type(cv_results).__name__}"
        raise TypeError(msg)
    folds = _per_fold(cv_results)
    if not folds:
        msg = (
            f"log_cv: no per-fold numbers in cv_results (keys: {', '.join(map(str, cv_results)) or 'none'}); "
            f"pass the dict that cross_validate returns"
        )
        raise ValueError(msg)
    _log_folds(run, folds)
    for key, values in folds.items():
        mean, std = _mean_std(values)
        run.summary[key] = mean
        run.summary[f"{key}_std"] = std


# ---- searches -------------------------------------------------------------------------------


def _candidate_folds(cv: Mapping[str, Any], i: int) -> dict[str, list[float]]:
    """The per-fold scores of candidate ``i``, named as cross_validate names them."""
    by_name: dict[str, dict[int, float]] = {}
    for key, values in cv.items():
        m = _SPLIT_KEY.match(str(key))
        if m is None:
            continue
        value = number(values[i])
        if value is None:
            continue
        by_name.setdefault(f"{m.group(2)}_{m.group(3)}", {})[int(m.group(1))] = value
    return {name: [scores[k] for k in sorted(scores)] for name, scores in by_name.items()}


def _candidate_summary(cv: Mapping[str, Any], i: int) -> dict[str, float]:
    """Means, standard deviations and ranks of candidate ``i`` under cross_validate's names."""
    out: dict[str, float] = {}
    for name, values in cv.items():
        key = str(name)
        value = number(values[i]) if not isinstance(values, (str, bytes, Mapping)) else None
        if value is None:
            continue
        if key.startswith(("mean_test_", "mean_train_")):
            out[key[len("mean_") :]] = value
        elif key.startswith(("std_test_", "std_train_")):
            out[f"{key[len('std_') :]}_std"] = value
        elif key.startswith("rank_test_"):
            out[key] = int(value)
        elif key in ("mean_fit_time", "mean_score_time"):
            out[key[len("mean_") :]] = value
        elif key in ("std_fit_time", "std_score_time"):
            out[f"{key[len('std_') :]}_std"] = value
    return out


def log_search(search: Any, *, group: str | None = None, **init_kwargs: Any) -> list[Run]:
    """Turn a fitted ``GridSearchCV`` / ``RandomizedSearchCV`` (or any search with
    ``cv_results_``) into one finished run per candidate, all in one group.

    Each run is named ``candidate-<i>``; its config holds the estimator with the
    candidate's parameters set (``config.estimator``) and ``search: {class, candidate,
    n_splits}``; its history the per-fold scores (step = fold); its summary the mean,
    ``_std`` and ``rank_test_*`` per scorer, and ``fit_time``/``score_time``. The run the
    search picked is tagged ``best``. A candidate with a NaN score in any fold (a failed
    fit, ``error_score=nan``) is ``failed``. Durations are the candidate's fit and score
    times summed over folds, so ``compute_hours()`` counts the search.

    Args:
        search: the fitted search.
        group: the runs' group; default ``<Search>-<Estimator>-<UTC time>``.
        **init_kwargs: passed to :func:`ledger.init` (``project``, ``root``, ``job_type``,
            ``tags``, ``config`` as a base, ...); no console or system capture unless asked.

    Returns:
        The runs, finished, in candidate order.
    """
    from sklearn.base import clone  # noqa: PLC0415 (scikit-learn is needed only here)

    cv = getattr(search, "cv_results_", None)
    if not isinstance(cv, Mapping) or "params" not in cv:
        msg = (
            f"log_search: {type(search).__name__} has no cv_results_; fit it first "
            f"(search.fit(X, y)), then call log_search(search, ...)"
        )
        raise ValueError(msg)
    for own in ("name", "resume"):
        if own in init_kwargs:
            msg = f"log_search: {own} is set per candidate (runs are named candidate-<i>); leave it out"
            raise TypeError(msg)
    estimator = getattr(search, "estimator", None)
    if group is None:
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        group = f"{type(search).__name__}-{type(estimator).__name__}-{stamp}"
    base_config = dict(init_kwargs.pop("config", None) or {})
    base_tags = list(init_kwargs.pop("tags", None) or [])
    kwargs = {"capture_output": False, "system_metrics": False, **init_kwargs}
    best = getattr(search, "best_index_", None)
    n_splits = getattr(search, "n_splits_", None)
    runs: list[Run] = []
    for i, params in enumerate(cv["params"]):
        config = dict(base_config)
        if estimator is not None:
            config["estimator"] = describe_estimator(clone(estimator).set_params(**params))
        config["search"] = {"class": type(search).__name__, "candidate": i, "n_splits": n_splits}
        tags = [*base_tags, "best"] if i == best else base_tags
        run = init(name=f"candidate-{i}", group=group, config=config, tags=tags, **kwargs)
        folds = _candidate_folds(cv, i)
        summary = _candidate_summary(cv, i)
        splits = n_splits or max((len(v) for v in folds.values()), default=1)
        seconds = (summary.get("fit_time", 0.0) + summary.get("score_time", 0.0)) * splits
        run._backdate(time.time() - seconds)  # noqa: SLF001 (written after the search ran)
        n = _log_folds(run, folds)
        for key, value in summary.items():
            run.summary[key] = value
        test_scores = [v for name, v in folds.items() if name.startswith("test_")]
        failed = sum(1 for k in range(n) if any(k < len(v) and math.isnan(v[k]) for v in test_scores))
        if failed:
            run.finish(status="failed", error=f"the fit failed in {failed} of {n} folds (their scores are NaN)")
        else:
            run.finish()
        runs.append(run)
    return runs
