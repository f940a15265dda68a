"""fastai: log ``Learner.fit`` (``fit_one_cycle``, ``fine_tune``, ...) with one callback.

    from ledger.integrations.fastai import LedgerCallback

    learn = Learner(dls, model, metrics=accuracy, cbs=[LedgerCallback(project="pets", group="resnet")])
    learn.fit_one_cycle(5, 1e-3)

Per training batch, what fastai's Recorder records: the smoothed loss as ``train/loss``
(``recorder.losses``), the raw loss as ``train/raw_loss``, and the optimizer's schedule:
``lr``, ``mom`` and the other hyperparameters of the last parameter group (``recorder.lrs``
and ``recorder.hps``; with several groups also ``lr_0``, ``lr_1``, ...). Per epoch, the row
fastai prints (``recorder.values``: ``train_loss``, ``valid_loss``, the metrics) with
``epoch``, at the step of the epoch's last batch. Into config, under ``fastai``: the
learner's hyperparameters (epochs, batch size, batches per epoch, model, parameter counts,
optimizer, loss, metrics, wd, moms) and the learning rate: ``lr`` for a constant one, or
``schedule`` (start, end, min and max of ``lr`` and ``mom``) under ``fit_one_cycle`` and the
other scheduled fits. The run finishes with the fit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ledger.integrations._common import RunHolder, number, plain

try:
    from fastai.callback.core import Callback
    from fastai.learner import Recorder
except ImportError as exc:  # pragma: no cover (the tests install fastai)
    msg = "ledger.integrations.fastai needs fastai 2: pip install fastai"
    raise ImportError(msg) from exc

if TYPE_CHECKING:
    from ledger._run import Run

__all__ = ["LedgerCallback"]


class LedgerCallback(Callback):
    """A fastai callback that logs a fit into a ledger run (``learn.ledger`` once added).

    Args:
        run: a run to write to (you finish it). Without it, each ``fit`` makes its own run
            from ``init_kwargs`` and finishes it when the fit ends.
        **init_kwargs: passed to :func:`ledger.init` (``project``, ``config``, ``group``,
            ``job_type``, ``root``, ...).

    The run is ``ledger_run`` (fastai's callbacks already use ``run`` for "is it on"). A fit
    that raises leaves its run ``failed`` (``killed`` on Ctrl-C): fastai tells callbacks
    nothing about exceptions, so this happens in a script through ledger's exception hook,
    in Jupyter when the cell ends, or at the callback's next fit.
    """

    order = Recorder.order + 1  # after the Recorder: its values for this batch and epoch are there

    def __init__(self, run: Run | None = None, **init_kwargs: Any) -> None:
        super().__init__()
        self._holder = RunHolder("fastai LedgerCallback", run, init_kwargs)
        self._base = 0  # the run's next step when the fit began

    @property
    def ledger_run(self) -> Run | None:
        """The run being written (None before the first fit when the callback makes its runs)."""
        return self._holder.run

    def before_fit(self) -> None:
        run = self._holder.begin()
        self._base = run.step
        run.config.update({"fastai": self._describe()})

    def after_batch(self) -> None:
        if not self.training or len(self.yb) == 0:
            return
        record: dict[str, float] = {}
        smooth = number(getattr(self.learn, "smooth_loss", None))
        if smooth is not None:
            record["train/loss"] = smooth
        raw = number(getattr(self.learn, "loss", None))
        if raw is not None:
            record["train/raw_loss"] = raw
        hypers = list(getattr(self.learn.opt, "hypers", []) or [])
        if hypers:
            record.update(_hypers(hypers[-1], ""))  # the group fastai's Recorder follows
            if len(hypers) > 1:
                for i, group in enumerate(hypers):
                    record.update(_hypers(group, f"_{i}"))
        run = self._holder.get()
        run.log(record, step=self._step(run))

    def after_epoch(self) -> None:
        recorder = getattr(self.learn, "recorder", None)
        if recorder is None or not recorder.values:
            return
        names = [n for n in recorder.metric_names if n not in ("epoch", "time")]
        values = recorder.values[-1]  # shorter when a validation was cancelled: its values are left out
        record = {name: n for name, value in zip(names, values, strict=False) if (n := number(value)) is not None}
        record["epoch"] = int(self.epoch)
        run = self._holder.get()
        run.log(record, step=self._step(run))

    def after_fit(self) -> None:
        self._holder.end("finished")

    # -- helpers ----------------------------------------------------------------------------

    def _step(self, run: Run) -> int:
        # Training batches of this fit so far; never behind the run's last step.
        done = int(getattr(self.learn, "train_iter", 0) or 0)
        return max(self._base + done - 1, run.step - 1, 0)

    def _describe(self) -> dict[str, Any]:
        learn = self.learn
        info: dict[str, Any] = {"n_epoch": getattr(learn, "n_epoch", None)}
        dls = getattr(learn, "dls", None)
        if dls is not None:
            info["batch_size"] = getattr(dls, "bs", None)
            try:
                info["batches_per_epoch"] = len(dls.train)
            except TypeError:  # a data loader without a length
                pass
        model = learn.model
        info["model"] = type(model).__name__
        if callable(getattr(model, "parameters", None)):
            params = list(model.parameters())
            info["params"] = sum(int(p.numel()) for p in params)
            info["trainable_params"] = sum(int(p.numel()) for p in params if p.requires_grad)
        info["opt_func"] = plain(getattr(learn, "opt_func", None))
        loss = getattr(learn, "loss_func", None)
        info["loss_func"] = plain(loss)
        inner = getattr(loss, "func", None)  # fastai wraps torch losses in BaseLoss
        if inner is not None:
            info["loss_func"] = type(inner).__name__
        info["metrics"] = [str(getattr(m, "name", m)) for m in (getattr(learn, "metrics", None) or [])]
        for key in ("wd", "moms", "wd_bn_bias", "train_bn"):
            info[key] = plain(getattr(learn, key, None))
        hypers = list(getattr(learn.opt, "hypers", []) or []) if getattr(learn, "opt", None) is not None else []
        if hypers:
            info["param_groups"] = len(hypers)
        schedule = _schedule(learn)
        if schedule:
            info["schedule"] = schedule  # fit_one_cycle, fit_flat_cos, ...: each hyperparameter's course
        elif hypers:
            info["lr"] = number(hypers[-1].get("lr"))  # fit(n, lr): constant
        return info


def _schedule(learn: Any) -> dict[str, dict[str, float]]:
    """What a ParamScheduler (``fit_one_cycle`` and friends) will do to each hyperparameter
    of the last parameter group: its value at the start and the end of the fit, its min and max."""
    out: dict[str, dict[str, float]] = {}
    for cb in getattr(learn, "cbs", None) or []:
        scheds = getattr(cb, "scheds", None)
        if type(cb).__name__ != "ParamScheduler" or not isinstance(scheds, dict):
            continue
        for name, sched in scheds.items():
            try:
                values = [_last(sched(i / 100)) for i in range(101)]
            except Exception:  # a schedule that cannot be sampled: its curve is in the history
                values = [None]
            if all(v is not None for v in values):
                vs = [v for v in values if v is not None]
                out[str(name)] = {"start": vs[0], "end": vs[-1], "min": min(vs), "max": max(vs)}
    return out


def _last(value: Any) -> float | None:
    """A scheduled value of the last parameter group (fastai gives one per group as an array)."""
    n = number(value)
    if n is None and getattr(value, "ndim", 0) == 1 and len(value):
        n = number(value[-1])
    return n


def _hypers(group: Any, suffix: str) -> dict[str, float]:
    return {f"{k}{suffix}": n for k, v in dict(group).items() if (n := number(v)) is not None}
