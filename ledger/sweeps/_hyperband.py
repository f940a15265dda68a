"""Hyperband early termination, with W&B's semantics.

Bands are counts of logged values of the sweep's metric (the step numbers do not matter):
a run has reached band ``b`` once it has logged more than ``b`` values. At each band a
running run has reached, its value there is compared with the values of every run of the
sweep that got that far (finished, stopped and running ones, itself included): the
threshold is the value ranked ``int(len(values) / eta)`` from the best, and a run worse
than the threshold is stopped. So with ``eta: 3`` the top third go on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ledger._query import Series
    from ledger.sweeps._config import Hyperband


@dataclass(frozen=True)
class Verdict:
    """Why a run is stopped: at ``band`` its value was worse than ``threshold``."""

    band: int
    value: float
    threshold: float

    def explain(self, metric: str, goal: str, eta: float) -> str:
        return (
            f"early terminated by the sweep's hyperband: {metric} = {self.value:.6g} after {self.band + 1} "
            f"logged values is worse than {self.threshold:.6g}, the threshold for the top 1/{eta:g} ({goal})"
        )


def history_of(series: Series) -> list[float]:
    """A run's logged values of the metric as hyperband counts them: its series (the series
    engine's, ``RunView.series``) in order, NaN skipped as W&B does."""
    return [v for v in series.y.tolist() if not math.isnan(v)]


def reached_band(hb: Hyperband, count: int) -> int | None:
    """The latest band a run with ``count`` logged values has reached, or None."""
    reached = [b for b in hb.bands if b < count]
    return reached[-1] if reached else None


def judge(hb: Hyperband, goal: str, mine: list[float], everyone: list[list[float]]) -> Verdict | None:
    """A Verdict if the run with history ``mine`` should stop; ``everyone`` holds the
    histories of all runs of the sweep, this one included.

    Every band the run has reached is judged, not only the latest (W&B's controller looks at
    the latest when it polls, so a run faster than its polls can pass a band unjudged):
    the outcome does not depend on when the agent looked."""
    sign = 1.0 if goal == "minimize" else -1.0  # compare as "lower is better"
    for band in hb.bands:
        if band >= len(mine):
            break
        at_band = sorted(sign * h[band] for h in everyone if len(h) > band)
        threshold = at_band[int(len(at_band) / hb.eta)]
        if sign * mine[band] > threshold:
            return Verdict(band, mine[band], sign * threshold)
    return None
