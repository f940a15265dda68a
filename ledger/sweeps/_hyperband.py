"""Hyperband early termination, decided as W&B's sweep engine decides it
(``sweeps.hyperband_stopping.hyperband_stop_runs``, the reference in the tests).

Bands are counts of logged values of the sweep's metric (the step numbers do not matter);
non-finite values are not counted. At band ``b`` the threshold is computed from the
``b``-th value of every run of the sweep that logged at least ``b`` values (finished,
stopped and running ones, this one included): sorted from best to worst, the one at index
``int(len / eta)`` (as ``int((1 / eta) * len)``). A running run is judged at the latest band
it has reached: with ``strict`` (W&B's default) its own ``b``-th value, without it the best
value it ever logged, is compared with that threshold, and a run worse than it is stopped.
So with ``eta: 3`` the top third go on. With ``cv`` (ledger's own), the monitor judges a
fold's run among the runs of the same fold only (``_monitor.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ledger._query import Series
    from ledger.sweeps._config import Hyperband


@dataclass(frozen=True)
class Verdict:
    """Why a run is stopped: at ``band`` (a count of logged values) its value was worse
    than ``threshold``."""

    band: int
    value: float
    threshold: float

    def explain(self, metric: str, goal: str, eta: float) -> str:
        return (
            f"early terminated by the sweep's hyperband: {metric} = {self.value:.6g} after {self.band} "
            f"logged values is worse than {self.threshold:.6g}, the threshold for the top 1/{eta:g} ({goal})"
        )


def history_of(series: Series) -> list[float]:
    """A run's logged values of the metric as hyperband counts them: its series (the series
    engine's, ``RunView.series``) in order, non-finite values skipped as W&B does."""
    return [v for v in series.y.tolist() if math.isfinite(v)]


def reached_band(hb: Hyperband, count: int) -> int | None:
    """The latest band a run with ``count`` logged values has reached, or None."""
    reached = [b for b in hb.bands if b <= count]
    return reached[-1] if reached else None


def threshold(hb: Hyperband, band: int, signed: Sequence[Sequence[float]]) -> float:
    """The threshold at ``band`` over histories already signed so that lower is better."""
    values = sorted(h[band - 1] for h in signed if len(h) >= band)
    if not values:
        return math.inf
    return values[int((1.0 / hb.eta) * len(values))]


def judge(hb: Hyperband, goal: str, mine: list[float], everyone: list[list[float]]) -> Verdict | None:
    """A Verdict if the running run with history ``mine`` should stop; ``everyone`` holds
    the histories of all runs of the sweep, this one included."""
    band = reached_band(hb, len(mine))
    if band is None:
        return None
    sign = 1.0 if goal == "minimize" else -1.0  # compare as "lower is better"
    signed = [[sign * v for v in h] for h in everyone if h]
    limit = threshold(hb, band, signed)
    own = [sign * v for v in mine]
    value = own[band - 1] if hb.strict else min(own)
    if value > limit:
        return Verdict(band, sign * value, sign * limit)
    return None
