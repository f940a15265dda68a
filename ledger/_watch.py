"""ledger.watch: histograms of a PyTorch model's gradients and parameters every N steps.

Between watched steps the only cost is one forward pre-hook that counts. On a watched step
the parameters are histogrammed before the forward pass, and one-shot hooks catch each
gradient during that step's backward pass; those are logged at the next forward (on the
training thread, where ``run.log`` belongs), at the step the user logged last.
"""

from __future__ import annotations

from typing import Any

from ledger import _lifecycle
from ledger._errors import RunStateError
from ledger._media import Histogram

_KINDS = ("gradients", "parameters", "all")


class Watcher:
    """What :func:`ledger.watch` returns; ``remove()`` stops watching (and logs what it holds)."""

    def __init__(self, run: Any, model: Any, log: str, every: int, bins: int) -> None:
        self._run = run
        self._every = every
        self._bins = bins
        self._grads = log in ("gradients", "all")
        self._params = log in ("parameters", "all")
        self._named = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
        self._calls = 0
        self._pending: dict[str, Histogram] = {}
        self._grad_hooks: list[Any] = []
        self._handle = model.register_forward_pre_hook(self._before_forward)

    def _log(self, values: dict[str, Histogram]) -> None:
        # At the step the user logged last, without moving the user's own step count.
        self._run._log_beside(values)  # noqa: SLF001

    def _before_forward(self, _module: Any, _args: Any) -> None:
        self._flush_pending()
        self._calls += 1
        if (self._calls - 1) % self._every:
            return
        if self._params:
            self._log({f"parameters/{name}": Histogram(p, bins=self._bins) for name, p in self._named})
        if self._grads:
            self._grad_hooks = [p.register_hook(self._catch(name)) for name, p in self._named]

    def _catch(self, name: str) -> Any:
        def hook(grad: Any) -> None:
            self._pending[f"gradients/{name}"] = Histogram(grad, bins=self._bins)

        return hook

    def _flush_pending(self) -> None:
        for handle in self._grad_hooks:
            handle.remove()
        self._grad_hooks = []
        if self._pending:
            pending, self._pending = self._pending, {}
            if not self._run._closed:  # noqa: SLF001
                self._log(pending)

    def remove(self) -> None:
        """Stop watching; gradients caught on the last watched step are logged now."""
        self._handle.remove()
        self._flush_pending()


def watch(model: Any, log: str = "gradients", every: int = 100, *, run: Any = None, bins: int = 64) -> Watcher:
    """Log histograms of a PyTorch module's gradients (``log="gradients"``), parameters
    (``"parameters"``) or both (``"all"``) every ``every`` forward passes, into ``run`` (the
    active run by default), as ``gradients/<name>`` and ``parameters/<name>``."""
    if log not in _KINDS:
        msg = f"watch: log={log!r} is not one of {', '.join(_KINDS)}"
        raise ValueError(msg)
    if not isinstance(every, int) or isinstance(every, bool) or every < 1:
        msg = f"watch: every must be a positive int, got {every!r}"
        raise ValueError(msg)
    if not hasattr(model, "register_forward_pre_hook") or not hasattr(model, "named_parameters"):
        msg = f"watch: expected a torch.nn.Module, got {type(model).__name__}"
        raise TypeError(msg)
    target = run if run is not None else _lifecycle.active()
    if target is None:
        msg = "watch: no active run; call ledger.init() first or pass run="
        raise RunStateError(msg)
    return Watcher(target, model, log, every, bins)
