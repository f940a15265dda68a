"""Two model families on scikit-learn's digits, three seeds each, logged with ledger.

    python example_project/train_sklearn.py                 # all families, seeds 0 1 2
    python example_project/train_sklearn.py --seeds 3 4 --families logreg

For every family and seed, two runs in the family's group:

- a **train** job (job_type=train): 5-fold cross-validation on the training split (one
  record per fold, mean and std in the summary), then a fit on the whole training split,
  saved into the run as files/model.pkl.gz (a gzipped pickle);
- an **eval** job (job_type=eval), a separate run as a later evaluation would be: it finds
  the train run in the ledger, loads its model file, scores it on the held-out test split,
  logs a confusion table, names the train run as its parent, and attaches the test scores
  to the train run's summary (stored in the eval run's own files: one writer per folder).

The seed chooses the train/test split and the model's randomness. Runs go to
$LEDGER_ROOT, else example_project/results.
"""

from __future__ import annotations

import argparse
import gzip
import os
import pickle
import tempfile
from pathlib import Path

from sklearn.datasets import load_digits
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score
from sklearn.model_selection import StratifiedKFold, cross_validate, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

import ledger
from ledger.integrations.sklearn import log_cv, log_estimator

PROJECT = "digits"
ROOT = os.environ.get("LEDGER_ROOT") or str(Path(__file__).resolve().parent / "results")
TEST_SIZE = 0.25
CV_FOLDS = 5


FAMILIES = ("logreg", "random-forest")


def make_model(family: str, seed: int):
    if family == "logreg":
        return Pipeline(
            [
                ("scale", StandardScaler()),
                ("clf", LogisticRegression(C=0.5, max_iter=2000, random_state=seed)),
            ]
        )
    if family == "random-forest":
        return RandomForestClassifier(n_estimators=30, max_depth=8, random_state=seed, n_jobs=1)
    msg = f"unknown model family {family!r}; choose one of {', '.join(FAMILIES)}"
    raise ValueError(msg)


def split(seed: int):
    x, y = load_digits(return_X_y=True)
    return train_test_split(x, y, test_size=TEST_SIZE, random_state=seed, stratify=y)


def train(family: str, seed: int) -> str:
    """The train job: cross-validate, fit, save the model. Returns the run id."""
    x_train, _x_test, y_train, _y_test = split(seed)
    model = make_model(family, seed)
    config = {"model": family, "seed": seed, "test_size": TEST_SIZE, "cv_folds": CV_FOLDS}
    with ledger.init(PROJECT, root=ROOT, config=config, group=family, job_type="train", tags=["digits"]) as run:
        log_estimator(run, model)  # config.estimator: the class and every parameter
        folds = StratifiedKFold(n_splits=CV_FOLDS, shuffle=True, random_state=seed)
        cv = cross_validate(
            model, x_train, y_train, cv=folds, scoring=["accuracy", "f1_macro"], return_train_score=True
        )
        log_cv(run, cv)  # per fold: test_accuracy, train_accuracy, ...; summary: mean and _std
        model.fit(x_train, y_train)
        run.summary["train_acc"] = accuracy_score(y_train, model.predict(x_train))
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "model.pkl.gz"
            path.write_bytes(gzip.compress(pickle.dumps(model)))
            run.save(path, name="model.pkl.gz")
        print(f"{family} seed {seed}: cv accuracy {run.summary['test_accuracy']:.3f} -> run {run.id}")
        return run.id


def evaluate(train_run_id: str) -> str:
    """The eval job: load the train run's model from the ledger and score it on the test split."""
    trained = ledger.open(ROOT).run(train_run_id)
    family, seed = trained.config["model"], trained.config["seed"]
    _x_train, x_test, _y_train, y_test = split(seed)
    model = pickle.loads(gzip.decompress(Path(trained.dir, "files", "model.pkl.gz").read_bytes()))
    config = {"model": family, "seed": seed}
    with ledger.init(
        PROJECT,
        root=ROOT,
        config=config,
        group=family,
        job_type="eval",
        tags=["digits"],
        parent=trained.id,
        links={"evaluates": trained.id},
    ) as run:
        predicted = model.predict(x_test)
        scores = {
            "test_acc": accuracy_score(y_test, predicted),
            "test_f1_macro": f1_score(y_test, predicted, average="macro"),
        }
        for key, value in scores.items():
            run.summary[key] = value
        trained.update_summary(scores, by=run)  # the train run now shows its test scores too
        matrix = confusion_matrix(y_test, predicted)
        rows = [[int(label), *map(int, counts)] for label, counts in enumerate(matrix)]
        run.log({"confusion": ledger.Table(rows, columns=["label", *[f"pred_{i}" for i in range(10)]])})
        print(f"{family} seed {seed}: test accuracy {run.summary['test_acc']:.3f} -> run {run.id}")
        return run.id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--families", nargs="+", choices=FAMILIES, default=list(FAMILIES))
    args = parser.parse_args()
    trained = [train(family, seed) for family in args.families for seed in args.seeds]
    for run_id in trained:  # later, separately: the eval jobs find their train runs in the ledger
        evaluate(run_id)


if __name__ == "__main__":
    main()
