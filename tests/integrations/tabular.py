"""A tiny tabular problem for the gradient-boosting tests, as source code: the tests exec it,
and the scripts they run in fresh interpreters start with it."""

from __future__ import annotations

SOURCE = """
import numpy as np

FEATURES = ["age", "dose", "weight", "noise"]

def data(n):
    rng = np.random.default_rng(0)
    x = rng.random((n, 4))
    y = (x[:, 0] + 0.5 * x[:, 1] + 0.1 * rng.standard_normal(n) > 0.75).astype(int)
    return x, y
"""
