"""Parameter importance: which config values predict a metric, as W&B's parameter-importance
panel computes it.

For the runs that have a finite number for the metric, each config parameter (a flattened
``config.*`` key) that varies among them becomes one or more inputs: a number (or a bool, as
0/1) is one input; any other value (text, lists) is one-hot encoded, one input per value
(``config.optimizer=sgd``), as W&B does. Then, per input:

- ``correlation``: Pearson's linear correlation between the input and the metric, over the
  runs that have both (NaN where either is constant there);
- ``importance``: the impurity-based feature importance of a random forest (scikit-learn's
  ``RandomForestRegressor``, 100 trees, a fixed seed) trained to predict the metric from all
  inputs at once; missing numbers are filled with the input's median first. The importances
  sum to 1.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from ledger._query import _filter
from ledger._query._views import require_pandas

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from pandas import DataFrame

COLUMNS = ("parameter", "importance", "correlation", "runs")
MIN_RUNS = 3
_TREES = 100
_MISSING = "(none)"


def metric_field(metric: str) -> str:
    """The field a metric names: ``summary.<metric>`` unless it names a field already
    (``summary.acc``, ``config.lr``, ``duration_s``)."""
    head = metric.split(".", 1)[0]
    if head in _filter.TOP_LEVEL or head in _filter.NESTED:
        return metric
    return f"summary.{metric}"


def number(value: Any) -> float | None:
    """A finite number (a bool as 0 or 1) as a float, else None."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)) and math.isfinite(value):
        return float(value)
    return None


def _text(value: Any) -> str:
    if value is None:
        return _MISSING
    return str(value)


def inputs(rows: Sequence[Mapping[str, Any]], params: Sequence[str] | None) -> dict[str, list[float | None]]:
    """The forest's inputs from the runs' flattened configs (``config.*`` keys): one column
    per numeric parameter, one per value of the others; constant parameters are left out."""
    if params is None:
        names = sorted({k for row in rows for k in row})
    else:
        names = [p if p.startswith("config.") else f"config.{p}" for p in params]
        unknown = [n for n in names if all(n not in row for row in rows)]
        if unknown:
            msg = f"no run with the metric has the parameter {unknown[0]!r}"
            raise ValueError(msg)
    out: dict[str, list[float | None]] = {}
    for name in names:
        values = [row.get(name) for row in rows]
        present = [v for v in values if v is not None]
        if len({_text(v) for v in values}) < 2 or not present:
            continue  # constant among these runs: it cannot explain anything
        if all(number(v) is not None for v in present):
            out[name] = [number(v) for v in values]
            continue
        for level in sorted({_text(v) for v in values}):
            out[f"{name}={level}"] = [1.0 if _text(v) == level else 0.0 for v in values]
    return out


def correlation(xs: Sequence[float | None], ys: Sequence[float]) -> float:
    """Pearson's correlation over the pairs where x is known; NaN if either side is constant."""
    pairs = [(x, y) for x, y in zip(xs, ys, strict=True) if x is not None]
    if len(pairs) < 2:
        return math.nan
    mx = sum(x for x, _ in pairs) / len(pairs)
    my = sum(y for _, y in pairs) / len(pairs)
    sxy = sum((x - mx) * (y - my) for x, y in pairs)
    sxx = sum((x - mx) ** 2 for x, _ in pairs)
    syy = sum((y - my) ** 2 for _, y in pairs)
    if sxx == 0 or syy == 0:
        return math.nan
    return max(-1.0, min(1.0, sxy / math.sqrt(sxx * syy)))


def _forest(columns: dict[str, list[float | None]], ys: list[float], seed: int) -> list[float]:
    try:
        from sklearn.ensemble import RandomForestRegressor  # noqa: PLC0415 (an optional dependency)
    except ImportError:
        msg = (
            "parameter importance trains a random forest with scikit-learn: "
            "pip install 'experiment-ledger[analysis]' (or pip install scikit-learn); "
            "importance(..., forest=False) gives the correlations alone"
        )
        raise ImportError(msg) from None
    import numpy as np  # noqa: PLC0415

    matrix = np.empty((len(ys), len(columns)), dtype=float)
    for j, values in enumerate(columns.values()):
        known = [v for v in values if v is not None]
        fill = float(np.median(known)) if known else 0.0
        matrix[:, j] = [fill if v is None else v for v in values]
    model = RandomForestRegressor(n_estimators=_TREES, random_state=seed)
    model.fit(matrix, np.asarray(ys, dtype=float))
    return [float(v) for v in model.feature_importances_]


def ranked(
    rows: Sequence[Mapping[str, Any]],
    ys: Sequence[float],
    *,
    params: Sequence[str] | None = None,
    forest: bool = True,
    seed: int = 0,
) -> list[tuple[str, float, float, int]]:
    """(parameter, importance, correlation, runs) per input (see the module's docstring),
    most important first (by |correlation| without a forest, whose importance is then NaN)."""
    columns = inputs(rows, params)
    if not columns:
        return []
    weights = _forest(columns, list(ys), seed) if forest else [math.nan] * len(columns)
    out = [
        (name, weight, correlation(values, ys), sum(v is not None for v in values))
        for (name, values), weight in zip(columns.items(), weights, strict=True)
    ]

    def key(row: tuple[str, float, float, int]) -> float:
        value = row[1] if forest else abs(row[2])
        return -1.0 if math.isnan(value) else value

    return sorted(out, key=key, reverse=True)  # stable: ties keep the parameters' order


def table(
    rows: Sequence[Mapping[str, Any]],
    ys: Sequence[float],
    *,
    params: Sequence[str] | None = None,
    forest: bool = True,
    seed: int = 0,
) -> DataFrame:
    """:func:`ranked` as a DataFrame with the columns parameter, importance, correlation, runs."""
    require_pandas()
    import pandas as pd  # noqa: PLC0415

    return pd.DataFrame(ranked(rows, ys, params=params, forest=forest, seed=seed), columns=list(COLUMNS))
