"""Parallel coordinates of a sweep's trials, as plain functions (no Streamlit): one vertical
axis per parameter that varies (and the metric last), each with its own labelled scale:
linear, logarithmic for log-distributed parameters, or its sorted categories. A brush drawn
across an axis becomes a constraint on that parameter (a value range, or a set of
categories); the trials that meet every constraint are the ones the page lists.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from viewer import tables

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

LOG_DISTRIBUTIONS = frozenset(
    {"log_uniform", "log_uniform_values", "q_log_uniform", "q_log_uniform_values", "inv_log_uniform",
     "inv_log_uniform_values", "log_normal", "q_log_normal"}
)  # fmt: skip
EDGE = 0.04  # positions of an axis span [EDGE, 1 - EDGE]
HEIGHT = 320


def sweep_params(parameters: Mapping[str, Any], prefix: str = "") -> dict[str, Mapping[str, Any]]:
    """A sweep config's ``parameters``, nested ones flattened to dotted names (as the trial's
    config holds them): name -> its spec."""
    out: dict[str, Mapping[str, Any]] = {}
    for name, spec in parameters.items():
        if isinstance(spec, dict) and isinstance(spec.get("parameters"), dict):
            out.update(sweep_params(spec["parameters"], f"{prefix}{name}."))
        else:
            out[f"{prefix}{name}"] = spec if isinstance(spec, dict) else {}
    return out


def is_log(spec: Mapping[str, Any]) -> bool:
    """Whether a parameter is drawn on a log scale: its distribution is log-distributed."""
    return str(spec.get("distribution", "")) in LOG_DISTRIBUTIONS


@dataclass(frozen=True)
class Axis:
    """One axis: a linear or log range of numbers, or sorted categories (as text)."""

    name: str
    kind: str  # linear, log, categorical
    lo: float = 0.0
    hi: float = 1.0
    categories: tuple[str, ...] = ()

    def position(self, value: Any) -> float:
        """Where a value sits on the axis, in [0, 1] (NaN for a value the axis cannot place)."""
        if self.kind == "categorical":
            label = tables.text(value)
            if label not in self.categories:
                return math.nan
            return EDGE + (1 - 2 * EDGE) * (self.categories.index(label) + 0.5) / len(self.categories)
        number = _number(value)
        if number is None or (self.kind == "log" and number <= 0):
            return math.nan
        x = math.log10(number) if self.kind == "log" else number
        return EDGE + (1 - 2 * EDGE) * ((x - self.lo) / (self.hi - self.lo) if self.hi > self.lo else 0.5)

    def value(self, position: float) -> float:
        """The number at a position of a numeric axis (the inverse of :meth:`position`)."""
        share = (position - EDGE) / (1 - 2 * EDGE)
        x = self.lo + share * (self.hi - self.lo) if self.hi > self.lo else self.lo
        return 10**x if self.kind == "log" else x

    def ticks(self) -> list[tuple[float, str]]:
        """(position, label) of the axis's tick marks."""
        if self.kind == "categorical":
            return [(self.position(c), c) for c in self.categories]
        if self.hi <= self.lo:
            return [(0.5, _fmt(self.value(0.5)))]
        if self.kind == "log":
            decades = range(math.floor(self.lo), math.ceil(self.hi) + 1)
            steps = (1, 2, 5) if self.hi - self.lo < 2.5 else (1,)
            values = [m * 10.0**d for d in decades for m in steps]
            values = [v for v in values if self.lo - 1e-9 <= math.log10(v) <= self.hi + 1e-9]
        else:
            values = [float(v) for v in _nice(self.lo, self.hi)]
        ends = (self.value(EDGE), self.value(1 - EDGE))
        if len(values) < 3:  # too few round values inside: label the ends too
            values = sorted({*values, *ends})
        return [(self.position(v), _fmt(v)) for v in values]


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _fmt(value: float) -> str:
    return f"{value:.3g}"


def _nice(lo: float, hi: float, count: int = 5) -> np.ndarray:
    raw = (hi - lo) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    return np.arange(math.ceil(lo / step) * step, hi + step * 1e-9, step)


def axis_of(name: str, values: Sequence[Any], *, log: bool = False) -> Axis:
    """The axis of a column of values: numbers (log if asked and all positive), else categories."""
    numbers = [_number(v) for v in values]
    present = [n for n in numbers if n is not None]
    if present and len(present) == sum(v is not None and v != "" for v in values):
        if log and min(present) > 0:
            return Axis(name, "log", math.log10(min(present)), math.log10(max(present)))
        return Axis(name, "linear", min(present), max(present))
    return Axis(name, "categorical", categories=tuple(sorted({tables.text(v) for v in values})))


def varying(trials: pd.DataFrame, params: Sequence[str]) -> list[str]:
    """The parameters that take more than one value among the trials (constant ones say nothing)."""
    return [p for p in params if p in trials.columns and len(set(trials[p].map(tables.text))) > 1]


def long_frame(trials: pd.DataFrame, axes: Sequence[Axis], metric: str, inside: Sequence[bool]) -> pd.DataFrame:
    """Rows (trial, axis index, position, value text, score, inside) for the lines."""
    rows = []
    for (_, trial), keep in zip(trials.iterrows(), inside, strict=True):
        for i, axis in enumerate(axes):
            pos = axis.position(trial[axis.name])
            if math.isnan(pos):
                continue
            rows.append((str(trial["trial"]), i, pos, tables.text(trial[axis.name]), float(trial[metric]), bool(keep)))
    return pd.DataFrame(rows, columns=["trial", "axis", "position", "value", "score", "inside"])


def spec(axes: Sequence[Axis], lines: pd.DataFrame, *, metric: str, goal: str, width: int = 700) -> dict[str, Any]:
    """The Vega-Lite spec: trial lines coloured by the metric (trials outside the brushes
    grey), an axis line per parameter with its tick labels, and a ``brush`` interval selection."""
    names = [a.name for a in axes]
    ticks = pd.DataFrame(
        [(i, pos, label) for i, axis in enumerate(axes) for pos, label in axis.ticks()],
        columns=["axis", "position", "label"],
    )
    x = {
        "field": "axis",
        "type": "quantitative",
        "scale": {"domain": [-0.35, len(axes) - 0.65]},
        "axis": {"values": list(range(len(axes))), "labelExpr": f"{json.dumps(names)}[datum.value]", "orient": "top",
                 "title": None, "grid": False, "labelFontWeight": "bold", "labelFontSize": 12, "labelLimit": 160},
    }  # fmt: skip
    y = {"field": "position", "type": "quantitative", "scale": {"domain": [0, 1]}, "axis": None}
    scheme = "viridis" if goal == "maximize" else {"scheme": "viridis", "reverse": True}
    colour = {
        "condition": {"test": "datum.inside", "field": "score", "type": "quantitative", "title": metric,
                      "scale": scheme if isinstance(scheme, dict) else {"scheme": scheme}},
        "value": "#d0d0d0",
    }  # fmt: skip
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v6.json",
        "width": width,
        "height": HEIGHT,
        "datasets": {"lines": lines, "ticks": ticks, "axes": pd.DataFrame({"axis": range(len(axes))})},
        "layer": [
            {
                "data": {"name": "axes"},
                "mark": {"type": "rule", "color": "#888"},
                "encoding": {"x": x, "y": {"datum": 0, "type": "quantitative", "scale": {"domain": [0, 1]},
                                           "axis": None}, "y2": {"datum": 1}},
            },
            {
                "data": {"name": "lines"},
                "mark": {"type": "line", "strokeWidth": 1.6},
                "params": [{"name": "brush", "select": {"type": "interval", "encodings": ["x", "y"]}}],
                "encoding": {
                    "x": x, "y": y, "detail": {"field": "trial", "type": "nominal"}, "color": colour,
                    "opacity": {"condition": {"test": "datum.inside", "value": 0.85}, "value": 0.35},
                    "order": {"field": "inside", "type": "quantitative"},
                    "tooltip": [{"field": "trial", "title": "trial"}, {"field": "value", "title": "value"},
                                {"field": "score", "title": metric, "format": ".5~g"}],
                },
            },
            {
                "data": {"name": "ticks"},
                "mark": {"type": "tick", "orient": "horizontal", "size": 8, "color": "#555"},
                "encoding": {"x": x, "y": y},
            },
            {
                "data": {"name": "ticks"},
                "mark": {"type": "text", "align": "left", "dx": 6, "fontSize": 10, "color": "#333"},
                "encoding": {"x": x, "y": y, "text": {"field": "label"}},
            },
        ],
    }  # fmt: skip


Constraint = tuple[float, float] | frozenset[str]


def constraints(axes: Sequence[Axis], brush: Mapping[str, Sequence[float]]) -> dict[str, Constraint]:
    """The constraints a brush makes: every axis the brush spans (the nearest one when it
    spans none) is limited to the brushed positions: a value range, or the categories there."""
    xs, ys = brush.get("axis"), brush.get("position")
    if not xs or not ys or not axes:
        return {}
    x0, x1 = sorted(float(v) for v in xs)
    y0, y1 = sorted(float(v) for v in ys)
    hit = [i for i in range(len(axes)) if x0 - 0.15 <= i <= x1 + 0.15]
    if not hit:
        hit = [min(max(round((x0 + x1) / 2), 0), len(axes) - 1)]
    out: dict[str, Constraint] = {}
    for i in hit:
        axis = axes[i]
        if axis.kind == "categorical":
            out[axis.name] = frozenset(c for c in axis.categories if y0 <= axis.position(c) <= y1)
        else:
            out[axis.name] = (axis.value(y0), axis.value(y1))
    return out


def meets(value: Any, constraint: Constraint) -> bool:
    """Whether a trial's value meets one constraint."""
    if isinstance(constraint, frozenset):
        return tables.text(value) in constraint
    number = _number(value)
    lo, hi = constraint
    tolerance = 1e-9 * max(abs(lo), abs(hi), 1e-300)  # the brush's ends, read back from positions
    return number is not None and lo - tolerance <= number <= hi + tolerance


def inside(trials: pd.DataFrame, limits: Mapping[str, Constraint]) -> list[bool]:
    """Per trial, whether it meets every constraint (on the columns it has)."""
    out = []
    for _, trial in trials.iterrows():
        out.append(all(meets(trial[name], c) for name, c in limits.items() if name in trials.columns))
    return out


def describe_constraint(name: str, constraint: Constraint) -> str:
    """``lr in [0.001, 0.01]`` or ``optimizer in {adam, sgd}``, for the page to list."""
    if isinstance(constraint, frozenset):
        return f"{name} in {{{', '.join(sorted(constraint))}}}"
    return f"{name} in [{_fmt(constraint[0])}, {_fmt(constraint[1])}]"
