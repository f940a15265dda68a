"""Hugging Face Transformers: a ``TrainerCallback`` that logs a ``Trainer`` into the ledger.

    from ledger.integrations.transformers import LedgerCallback

    trainer = Trainer(model=model, args=args, train_dataset=train, eval_dataset=val,
                      callbacks=[LedgerCallback(project="sst2", group="bert-tiny")])
    trainer.train()
    trainer.evaluate()   # the same run, reopened: eval metrics join it

Into config: the TrainingArguments (``training_args``, tokens masked as Transformers masks
them) and the model's config (``model_config``). Every ``on_log`` becomes a record at the
trainer's global step, named as W&B's integration names them: ``train/loss``,
``train/learning_rate``, ``eval/loss``, ``test/...``, and ``epoch``; the end-of-training
figures (``train_runtime``, ``train_loss``, ``total_flos``, ...) go into the summary. The
run finishes with ``train()``. With ``log_model=True`` each checkpoint folder the Trainer saves
(``checkpoint-<step>``) becomes a version of the artifact ``model-<run id>``, its epoch, step
and monitored metric (``metric_for_best_model``, else ``eval_loss``) in the metadata and the
``best`` alias on the best one; ``log_model="best"`` logs only those that improve the metric.
Only the world process zero writes.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from ledger.integrations._common import BestTracker, RunHolder, check_log_model, log_model, number, plain

try:
    from transformers import TrainerCallback
except ImportError as exc:  # pragma: no cover (the tests install transformers)
    msg = "ledger.integrations.transformers needs Hugging Face Transformers: pip install transformers accelerate"
    raise ImportError(msg) from exc

if TYPE_CHECKING:
    from ledger._run import Run

__all__ = ["LedgerCallback"]

# What Trainer.train() logs once at its end: figures about the whole training, not a curve.
_SUMMARY_ONLY = frozenset(
    {
        "train_runtime",
        "train_samples_per_second",
        "train_steps_per_second",
        "total_flos",
        "train_loss",
    }
)
_PREFIXES = ("eval", "test")


def _metric_name(key: str) -> str:
    for prefix in _PREFIXES:
        if key.startswith(prefix + "_"):
            return f"{prefix}/{key[len(prefix) + 1 :]}"
    return key if key == "epoch" else f"train/{key}"


def _monitor(args: Any) -> tuple[str, bool]:
    """(the logged name of the metric that decides the best checkpoint, whether higher is
    better), as the Trainer decides it: ``metric_for_best_model`` (``eval_`` added), else
    ``eval_loss``; ``greater_is_better``, else higher is better unless it is a loss."""
    name = getattr(args, "metric_for_best_model", None) or "loss"
    key = name if name.startswith("eval_") else f"eval_{name}"
    greater = getattr(args, "greater_is_better", None)
    return key, bool(greater) if greater is not None else not name.endswith("loss")


class LedgerCallback(TrainerCallback):
    """A Trainer callback that logs training into a ledger run.

    Args:
        run: a run to write to (you finish it). Without it, each ``train()`` makes its
            own run from ``init_kwargs`` and finishes it when training ends.
        log_model: ``True`` logs every checkpoint folder the Trainer saves as a version of
            the artifact ``model-<run id>`` (metadata: ``epoch``, ``step``, ``monitor``,
            ``mode``, ``score``), moving the ``best`` alias to the best one by the Trainer's
            ``metric_for_best_model`` (``eval_loss`` when unset); ``"best"`` logs only the
            checkpoints that improve it; ``False`` (default) none.
        **init_kwargs: passed to :func:`ledger.init` (``project``, ``config``, ``group``, ...).

    A ``train()`` that raises leaves its run ``failed`` (``killed`` on Ctrl-C): in a script
    through ledger's exception hook, in Jupyter when the cell ends.
    """

    def __init__(self, run: Run | None = None, *, log_model: bool | str = False, **init_kwargs: Any) -> None:
        self._holder = RunHolder("LedgerCallback", run, init_kwargs)
        self._log_model = check_log_model("LedgerCallback", log_model)
        self._best = BestTracker("min")

    @property
    def run(self) -> Run | None:
        """The run being written (None before the first ``train()`` when the callback makes its runs)."""
        return self._holder.run

    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        if not state.is_world_process_zero:
            return
        run = self._holder.begin()
        self._best = BestTracker("max" if _monitor(args)[1] else "min")
        config: dict[str, Any] = {"training_args": plain(args.to_dict())}
        model_config = getattr(model, "config", None)
        if model_config is not None and callable(getattr(model_config, "to_dict", None)):
            config["model_config"] = plain(model_config.to_dict())
        if model is not None and callable(getattr(model, "parameters", None)):
            config["model_params"] = sum(int(p.numel()) for p in model.parameters())
        run.config.update(config)

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        if not state.is_world_process_zero or not logs:
            return
        record: dict[str, float] = {}
        summary: dict[str, float] = {}
        for key, value in logs.items():
            n = number(value)
            if n is None:
                continue
            if key in _SUMMARY_ONLY:
                summary[key] = n
            else:
                record[_metric_name(key)] = n
        run = self._holder.get()
        if record:
            run.log(record, step=max(int(state.global_step), run.step - 1))
        for key, n in summary.items():
            run.summary[key] = n

    def on_evaluate(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        # Inside train() the eval metrics arrived through on_log; after it, the reopened
        # run (trainer.evaluate()) ends again.
        if state.is_world_process_zero and not self._holder.in_work:
            self._holder.end("finished")

    def on_predict(self, args: Any, state: Any, control: Any, metrics: dict[str, Any], **kwargs: Any) -> None:
        if not state.is_world_process_zero or self._holder.in_work:
            return
        self.on_log(args, state, control, logs=metrics)  # predict() does not log its metrics itself
        self._holder.end("finished")

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if not state.is_world_process_zero or not self._log_model:
            return
        folder = os.path.join(args.output_dir, f"checkpoint-{state.global_step}")
        if not os.path.isdir(folder):
            return
        monitor, _greater = _monitor(args)
        scores = [entry[monitor] for entry in state.log_history if isinstance(entry.get(monitor), (int, float))]
        score = number(scores[-1]) if scores else None
        best = self._best.improves(score)
        if self._log_model == "best" and not best:
            return
        metadata = {"epoch": state.epoch, "step": state.global_step, "monitor": monitor, "mode": self._best.mode,
                    "score": score}  # fmt: skip
        log_model(self._holder.get(), folder, best=best, metadata=metadata)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.is_world_process_zero:
            self._holder.end("finished")
