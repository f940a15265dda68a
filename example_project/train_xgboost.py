"""Gradient-boosted trees (XGBoost) on scikit-learn's digits, logged with ledger's XGBoost callback.

    python example_project/train_xgboost.py                   # seeds 0 1 2
    python example_project/train_xgboost.py --seeds 3 --max-depth 6 --learning-rate 0.1

One run per seed in the group ``xgboost`` (job_type=train). The callback logs, per boosting
round, the multi-class log loss and error on the training and validation splits
(``validation_0/mlogloss`` is the training split, ``validation_1/...`` the validation
split, as XGBoost names its eval sets), puts every parameter of the booster into the
config under ``xgboost``, and at the end records the best round chosen by early stopping
and the feature importance of the 64 pixels as a table (``LedgerCallback(log_model=True)``
would also save the model, about 300 KB of JSON here: left out to keep the committed
results small). The script adds the accuracies on the validation and the held-out test splits
(``val/acc``, ``test/acc``: the same test split as the MLP's). Runs go to $LEDGER_ROOT,
else example_project/results.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import xgboost as xgb
from sklearn.datasets import load_digits
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split

import ledger
from ledger.integrations.xgboost import LedgerCallback

PROJECT = "digits"
ROOT = os.environ.get("LEDGER_ROOT") or str(Path(__file__).resolve().parent / "results")
TEST_SIZE = 0.25  # the same held-out split as train_torch.py


def split(seed: int):
    """(train, val, test) as DataFrames with the pixels' names: the test split is fixed, the
    validation split (20% of the rest) is drawn with the seed."""
    digits = load_digits(as_frame=True)
    x, y = digits.data, digits.target
    x_rest, x_test, y_rest, y_test = train_test_split(x, y, test_size=TEST_SIZE, random_state=0, stratify=y)
    x_train, x_val, y_train, y_val = train_test_split(x_rest, y_rest, test_size=0.2, random_state=seed, stratify=y_rest)
    return (x_train, y_train), (x_val, y_val), (x_test, y_test)


def train(args: argparse.Namespace, seed: int) -> str:
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = split(seed)
    config = {"model": "xgboost", "seed": seed, "test_size": TEST_SIZE}
    with ledger.init(PROJECT, root=ROOT, config=config, group="xgboost", job_type="train", tags=["digits"]) as run:
        model = xgb.XGBClassifier(
            n_estimators=args.rounds,
            max_depth=args.max_depth,
            learning_rate=args.learning_rate,
            subsample=0.8,
            eval_metric=["mlogloss", "merror"],
            early_stopping_rounds=10,
            random_state=seed,
            n_jobs=1,
            callbacks=[LedgerCallback(run=run)],
        )
        model.fit(x_train, y_train, eval_set=[(x_train, y_train), (x_val, y_val)], verbose=False)
        run.summary["val/acc"] = accuracy_score(y_val, model.predict(x_val))
        run.summary["test/acc"] = accuracy_score(y_test, model.predict(x_test))
        print(
            f"xgboost seed {seed}: best round {model.best_iteration}, val accuracy {run.summary['val/acc']:.3f}, "
            f"test accuracy {run.summary['test/acc']:.3f} -> run {run.id}"
        )
        return run.id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--rounds", type=int, default=200, help="boosting rounds at most (early stopping ends sooner)")
    parser.add_argument("--max-depth", type=int, default=4)
    parser.add_argument("--learning-rate", type=float, default=0.3)
    args = parser.parse_args()
    for seed in args.seeds:
        train(args, seed)


if __name__ == "__main__":
    main()
