"""Framework integrations: a few added lines log a Keras, PyTorch Lightning, Hugging Face
Transformers, scikit-learn, Optuna, XGBoost, LightGBM, Hugging Face Accelerate, fastai,
PyTorch Ignite or Ray Tune workload into the ledger.

Each lives in its own module and imports its framework only when that module is imported,
so ``import ledger`` and ``import ledger.integrations`` import no framework::

    from ledger.integrations.keras import LedgerCallback          # Keras 3
    from ledger.integrations.lightning import LedgerLogger        # PyTorch Lightning
    from ledger.integrations.transformers import LedgerCallback   # Hugging Face Trainer
    from ledger.integrations.sklearn import log_estimator, log_cv, log_search
    from ledger.integrations.optuna import LedgerCallback         # study.optimize(callbacks=...)
    from ledger.integrations.xgboost import LedgerCallback        # xgb.train(callbacks=...)
    from ledger.integrations.lightgbm import ledger_callback      # lgb.train(callbacks=...)
    from ledger.integrations.accelerate import LedgerTracker      # Accelerator(log_with=...)
    from ledger.integrations.fastai import LedgerCallback         # Learner(cbs=...)
    from ledger.integrations.ignite import LedgerLogger           # Ignite's logger style
    from ledger.integrations.ray import LedgerLoggerCallback      # tune.RunConfig(callbacks=...)

Every integration either writes to a run you give it (``run=``; you finish it) or makes
its own from the keyword arguments it does not know, passed on to :func:`ledger.init`
(``project=``, ``group=``, ``config=``, ...), and finishes it with the work: ``finished``,
``failed`` when the work raised, ``killed`` when it was interrupted.
"""

from __future__ import annotations

__all__: list[str] = []
