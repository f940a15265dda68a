"""scikit-learn: real estimators, cross_validate and a GridSearchCV on the digits data."""

from __future__ import annotations

import math
import warnings

import pytest

np = pytest.importorskip("numpy")
pytest.importorskip("sklearn")

from sklearn.datasets import load_digits  # noqa: E402
from sklearn.exceptions import FitFailedWarning  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_validate  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.tree import DecisionTreeClassifier  # noqa: E402

import ledger  # noqa: E402
from ledger.integrations.sklearn import log_cv, log_estimator, log_search  # noqa: E402

QUIET = {"capture_output": False, "system_metrics": False}


@pytest.fixture(scope="module")
def digits():
    x, y = load_digits(return_X_y=True)
    return x[:400], y[:400]  # small: the tests check what is logged, not accuracy


def test_log_estimator_nests_pipeline_parameters(tmp_path):
    model = Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression(C=0.5, max_iter=300))])
    with ledger.init("sk", root=tmp_path, **QUIET) as run:
        log_estimator(run, model)
    config = ledger.open(tmp_path).run(run.id).config["estimator"]
    assert config["class"] == "Pipeline"
    assert config["steps"] == [["scale", "StandardScaler"], ["clf", "LogisticRegression"]]
    assert config["clf"]["class"] == "LogisticRegression"
    assert (config["clf"]["C"], config["clf"]["max_iter"]) == (0.5, 300)
    assert config["scale"] == {"class": "StandardScaler", "copy": True, "with_mean": True, "with_std": True}


def test_log_cv_logs_folds_as_steps_and_mean_and_std_in_the_summary(tmp_path, digits):
    x, y = digits
    model = DecisionTreeClassifier(max_depth=4, random_state=0)
    cv = cross_validate(
        model, x, y, cv=3, scoring=["accuracy", "f1_macro"], return_train_score=True, return_estimator=True
    )
    with ledger.init("sk", root=tmp_path, **QUIET) as run:
        log_estimator(run, model)
        log_cv(run, cv)

    view = ledger.open(tmp_path).run(run.id)
    records = view.records()
    assert [r["_step"] for r in records] == [0, 1, 2]
    names = {"test_accuracy", "train_accuracy", "test_f1_macro", "train_f1_macro", "fit_time", "score_time"}
    assert set(records[0]) == {"_step", "_time", *names}
    assert [r["test_accuracy"] for r in records] == pytest.approx(list(cv["test_accuracy"]))
    for name in names:
        assert view.summary[name] == pytest.approx(float(np.mean(cv[name])))
        assert view.summary[f"{name}_std"] == pytest.approx(float(np.std(cv[name])))
    assert view.config["estimator"]["max_depth"] == 4


def test_log_cv_refuses_what_is_not_cross_validate_output(tmp_path):
    with ledger.init("sk", root=tmp_path, **QUIET) as run:
        with pytest.raises(ValueError, match="no per-fold numbers in cv_results"):
            log_cv(run, {"estimator": [object()]})
        with pytest.raises(TypeError, match="expects the dict that cross_validate returns"):
            log_cv(run, [0.9, 0.8])


def test_log_search_makes_one_run_per_candidate_in_one_group(tmp_path, digits):
    x, y = digits
    search = GridSearchCV(
        DecisionTreeClassifier(random_state=0), {"max_depth": [1, 3, 6]}, cv=3, return_train_score=True
    ).fit(x, y)
    runs = log_search(search, project="sk", root=tmp_path, group="tree-depth", job_type="search", tags=["grid"])

    views = ledger.open(tmp_path).runs(group="tree-depth", order_by="name")
    assert [v.id for v in views] == [r.id for r in runs]
    assert [v.name for v in views] == ["candidate-0", "candidate-1", "candidate-2"]
    assert {(v.status, v.job_type) for v in views} == {("finished", "search")}
    cv = search.cv_results_
    for i, view in enumerate(views):
        assert view.config["estimator"]["max_depth"] == [1, 3, 6][i]
        assert view.config["estimator"]["class"] == "DecisionTreeClassifier"
        assert view.config["search"] == {"class": "GridSearchCV", "candidate": i, "n_splits": 3}
        records = view.records()
        assert [r["_step"] for r in records] == [0, 1, 2]
        assert [r["test_score"] for r in records] == pytest.approx([cv[f"split{k}_test_score"][i] for k in range(3)])
        assert "train_score" in records[0]
        assert view.summary["test_score"] == pytest.approx(cv["mean_test_score"][i])
        assert view.summary["test_score_std"] == pytest.approx(cv["std_test_score"][i])
        assert view.summary["rank_test_score"] == cv["rank_test_score"][i]
        assert view.summary["fit_time"] == pytest.approx(cv["mean_fit_time"][i])
        assert view.duration_s >= 3 * (cv["mean_fit_time"][i] + cv["mean_score_time"][i]) - 0.002
        assert ("best" in view.tags) == (i == search.best_index_)
        assert "grid" in view.tags


def test_a_candidate_whose_fit_failed_is_failed(tmp_path, digits):
    x, y = digits
    search = GridSearchCV(
        LogisticRegression(max_iter=200), {"C": [1.0, -1.0]}, cv=2, error_score=math.nan
    )  # C must be positive: that candidate's fits raise, and scikit-learn scores them NaN
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitFailedWarning)
        warnings.filterwarnings("ignore", message="One or more of the test scores are non-finite")
        search.fit(x, y)
    ok, bad = log_search(search, project="sk", root=tmp_path)

    views = {v.id: v for v in ledger.open(tmp_path).runs()}
    assert views[ok.id].status == "finished"
    assert views[bad.id].status == "failed"
    assert views[bad.id].doc["error"] == "the fit failed in 2 of 2 folds (their scores are NaN)"
    assert math.isnan(views[bad.id].summary["test_score"])
    assert views[ok.id].group == views[bad.id].group
    assert views[ok.id].group.startswith("GridSearchCV-LogisticRegression-")


def test_log_search_needs_a_fitted_search():
    with pytest.raises(ValueError, match=r"has no cv_results_; fit it first \(search.fit\(X, y\)\)"):
        log_search(GridSearchCV(LogisticRegression(), {"C": [1.0]}), project="sk")
