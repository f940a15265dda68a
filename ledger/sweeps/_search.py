"""Choosing a trial's parameters: grid, random and bayes.

- grid: trial n is the n-th combination of a fixed order (parameters sorted by name, the
  last varying fastest, values as listed; shuffled by the sweep seed with
  ``randomize_order``), so agents agree on it without talking; the claim of trial n
  makes each combination run once.
- random: trial n draws from ``random.Random(f"{seed}:{n}")``: the same sweep seed and
  trial number give the same parameters on any machine.
- bayes: Optuna's TPE sampler, fed at every claim the trials read back from the ledger
  (finished ones with their objective, failed ones imputed as the worst, running ones
  as pending), then asked once.

Parameters are handled as flat ``{path: value}`` dicts (paths are tuples of names);
:func:`nest` builds the nested config a trial receives.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import statistics
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ledger._query._aggregate import incomplete_beta
from ledger.sweeps._errors import SweepConfigError

if TYPE_CHECKING:
    from ledger.sweeps._config import Param, SweepConfig

Flat = dict[tuple[str, ...], Any]

# Normal-family values are searched by TPE through their quantile, kept off 0 and 1.
_EDGE = 1e-6


def sweep_seed(config: SweepConfig, sweep_id: str) -> int:
    """The sweep's seed: the ``seed`` key, else one derived from the sweep id."""
    if config.seed is not None:
        return config.seed
    return int.from_bytes(hashlib.sha256(sweep_id.encode()).digest()[:8], "big")


def nest(flat: Flat) -> dict[str, Any]:
    """``{("optimizer", "lr"): 0.1}`` -> ``{"optimizer": {"lr": 0.1}}``."""
    out: dict[str, Any] = {}
    for path, value in flat.items():
        node = out
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = value
    return out


def lookup(config: Mapping[str, Any], path: tuple[str, ...]) -> tuple[bool, Any]:
    """(found, value) of a nested path in a config."""
    node: Any = config
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            return False, None
        node = node[key]
    return True, node


def _quantize(x: float, q: float) -> int | float:
    k = round(x / q)
    if isinstance(q, int):
        return int(k) * q
    return float(f"{k * q:.12g}")  # 0.30000000000000004 -> 0.3


def constants(config: SweepConfig) -> Flat:
    return {p.path: p.spec["value"] for p in config.params if p.distribution == "constant"}


# ---- grid ------------------------------------------------------------------------------------


def _grid_key(value: Any) -> str:
    """Equal grid values (W&B hashes each value's YAML, an integral float as an int)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return json.dumps(value, sort_keys=True, default=str)


def grid_values(param: Param) -> list[Any]:
    """The values method: grid enumerates for one parameter, as W&B's engine does:
    ``categorical`` values in the given order (repeats once), ``int_uniform`` min..max,
    ``q_uniform`` ``min + i*q`` below max (numpy's ``arange``, float noise rounded off)."""
    spec = param.spec
    if param.distribution == "constant":
        return [spec["value"]]
    if param.distribution == "categorical":
        seen: dict[str, Any] = {}
        for v in spec["values"]:
            seen.setdefault(_grid_key(v), v)
        return list(seen.values())
    if param.distribution == "int_uniform":
        return list(range(spec["min"], spec["max"] + 1))
    low, high, q = spec["min"], spec["max"], spec["q"]
    count = max(0, math.ceil((high - low) / q))
    if all(isinstance(v, int) for v in (low, high, q)):
        return [low + i * q for i in range(count)]
    return [float(f"{low + i * q:.12g}") for i in range(count)]


def grid_size(config: SweepConfig) -> int:
    return math.prod(len(grid_values(p)) for p in config.params)


def grid_point(config: SweepConfig, n: int, seed: int) -> Flat:
    """The parameters of trial ``n`` (1-based) of a grid sweep: the n-th combination of
    W&B's order (parameters sorted by name, the last varying fastest; constants set)."""
    columns = [grid_values(p) for p in config.params]
    size = math.prod(len(c) for c in columns)
    index = n - 1
    if config.randomize_order:
        order = list(range(size))
        random.Random(f"{seed}:grid").shuffle(order)  # noqa: S311 (a search order, not a secret)
        index = order[index]
    out: Flat = {}
    for param, values in reversed(list(zip(config.params, columns, strict=True))):
        index, i = divmod(index, len(values))
        out[param.path] = values[i]
    return dict(sorted(out.items()))


# ---- random ----------------------------------------------------------------------------------


def beta_cdf(x: float, a: float, b: float) -> float:
    """P(X <= x) for X ~ Beta(a, b)."""
    return incomplete_beta(a, b, min(max(x, 0.0), 1.0))


def beta_ppf(p: float, a: float, b: float) -> float:
    """The ``p`` quantile of Beta(a, b) (bisection on the CDF)."""
    low, high = 0.0, 1.0
    for _ in range(100):
        mid = (low + high) / 2
        if beta_cdf(mid, a, b) < p:
            low = mid
        else:
            high = mid
    return (low + high) / 2


def draw(param: Param, rng: random.Random) -> Any:
    """One value of a parameter, from the distribution W&B's engine samples (its inverse
    CDFs: ``exp(U)`` for ``log_uniform``, ``exp(-U)`` for ``inv_log_uniform``, a value's
    log uniform for ``*_values``, ``round(X / q) * q`` for the ``q_`` ones)."""
    spec = param.spec
    dist = param.distribution
    if dist == "constant":
        return spec["value"]
    if dist == "categorical":
        return spec["values"][rng.randrange(len(spec["values"]))]
    if dist == "categorical_w_probabilities":
        u, total = rng.random(), 0.0
        for value, p in zip(spec["values"], spec["probabilities"], strict=True):
            total += p
            if u < total:
                return value
        return spec["values"][-1]
    if dist == "int_uniform":
        return rng.randint(spec["min"], spec["max"])
    if dist in ("uniform", "q_uniform"):
        x = rng.uniform(spec["min"], spec["max"])
    elif dist in ("log_uniform", "q_log_uniform"):
        x = math.exp(rng.uniform(spec["min"], spec["max"]))
    elif dist in ("log_uniform_values", "q_log_uniform_values", "inv_log_uniform_values"):
        x = math.exp(rng.uniform(math.log(spec["min"]), math.log(spec["max"])))
    elif dist == "inv_log_uniform":
        x = math.exp(-rng.uniform(spec["min"], spec["max"]))
    elif dist in ("normal", "q_normal"):
        x = rng.gauss(spec["mu"], spec["sigma"])
    elif dist in ("beta", "q_beta"):
        x = rng.betavariate(spec["a"], spec["b"])
    else:  # log_normal, q_log_normal
        x = math.exp(rng.gauss(spec["mu"], spec["sigma"]))
    return _quantize(x, spec["q"]) if dist.startswith("q_") else x


def random_point(config: SweepConfig, n: int, seed: int) -> Flat:
    """The parameters of trial ``n`` of a random sweep: a function of the seed and n only."""
    rng = random.Random(f"{seed}:{n}")  # noqa: S311 (reproducible draws, not secrets)
    return {p.path: draw(p, rng) for p in config.params}


# ---- bayes -----------------------------------------------------------------------------------


@dataclass
class Observation:
    """A trial as the search sees it: its parameters and objective.

    ``value`` is None for a trial that failed, was killed or has no metric: it is imputed as
    the sweep's ``metric.impute`` says (``worst`` or ``best`` objective seen, or ``latest``:
    its own last value of the metric, ``latest``, where it has one); ``pending`` marks a
    trial that is still running (told to the sampler as running)."""

    params: Flat
    value: float | None
    pending: bool = False
    latest: float | None = None
    impute: str | None = None  # how to impute this one (default: the sweep's metric.impute)


def _optuna() -> Any:
    try:
        import optuna  # noqa: PLC0415 (an optional dependency, loaded by bayes sweeps only)
    except ImportError:
        msg = "method: bayes needs optuna: pip install 'experiment-ledger[sweeps]' (or pip install optuna)"
        raise SweepConfigError(msg) from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def check_bayes_available() -> None:
    """Fail at sweep creation, not at the first claim, when optuna is missing."""
    _optuna()


_QUANTILE = ("normal", "q_normal", "log_normal", "q_log_normal", "beta", "q_beta")  # searched through their CDF


def _distribution(param: Param, optuna: Any) -> Any:
    d = optuna.distributions
    spec = param.spec
    dist = param.distribution
    if dist.startswith("categorical"):
        return d.CategoricalDistribution(list(range(len(spec["values"]))))
    if dist == "int_uniform":
        return d.IntDistribution(spec["min"], spec["max"])
    if dist in ("uniform", "q_uniform"):
        return d.FloatDistribution(spec["min"], spec["max"])
    if dist in ("log_uniform", "q_log_uniform"):
        return d.FloatDistribution(math.exp(spec["min"]), math.exp(spec["max"]), log=True)
    if dist == "inv_log_uniform":
        return d.FloatDistribution(math.exp(-spec["max"]), math.exp(-spec["min"]), log=True)
    if dist in ("log_uniform_values", "q_log_uniform_values", "inv_log_uniform_values"):
        return d.FloatDistribution(spec["min"], spec["max"], log=True)
    return d.FloatDistribution(_EDGE, 1 - _EDGE)  # normal and beta families: the quantile


def _normal(param: Param) -> statistics.NormalDist:
    return statistics.NormalDist(param.spec["mu"], max(param.spec["sigma"], 1e-12))


def _to_internal(param: Param, value: Any, dist: Any) -> Any:
    """A config value in the sampler's space, or None if it cannot be one (then the
    observation is left out)."""
    if param.distribution.startswith("categorical"):
        for i, choice in enumerate(param.spec["values"]):
            if value == choice and type(value) is type(choice):
                return i
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    if param.distribution in ("normal", "q_normal"):
        value = _normal(param).cdf(value)
    elif param.distribution in ("log_normal", "q_log_normal"):
        if value <= 0:
            return None
        value = _normal(param).cdf(math.log(value))
    elif param.distribution in ("beta", "q_beta"):
        value = beta_cdf(value, param.spec["a"], param.spec["b"])
    low, high = dist.low, dist.high
    clamped = min(max(value, low), high)  # a quantized value may fall just outside
    return int(clamped) if param.distribution == "int_uniform" else float(clamped)


def _from_internal(param: Param, x: Any) -> Any:
    dist = param.distribution
    if dist.startswith("categorical"):
        return param.spec["values"][x]
    if dist == "int_uniform":
        return int(x)
    if dist in ("normal", "q_normal", "log_normal", "q_log_normal"):
        x = _normal(param).inv_cdf(x)
        if dist in ("log_normal", "q_log_normal"):
            x = math.exp(x)
    elif dist in ("beta", "q_beta"):
        x = beta_ppf(x, param.spec["a"], param.spec["b"])
    return _quantize(x, param.spec["q"]) if dist.startswith("q_") else float(x)


def told_values(goal: str, impute: str, observations: list[Observation]) -> list[float | None]:
    """The objective the sampler is told for each observation (None: pending, or nothing to
    impute from yet): its value, else as ``impute`` (or its own ``impute``) says: ``worst``
    or ``best`` objective of the finished trials, or ``latest``, its own latest value (the
    worst where it has none)."""
    done = [o.value for o in observations if o.value is not None and not o.pending and math.isfinite(o.value)]
    worst = (max(done) if goal == "minimize" else min(done)) if done else None
    best = (min(done) if goal == "minimize" else max(done)) if done else None
    out: list[float | None] = []
    for obs in observations:
        if obs.pending:
            out.append(None)
            continue
        if obs.value is not None and math.isfinite(obs.value):
            out.append(obs.value)
            continue
        latest = obs.latest if obs.latest is not None and math.isfinite(obs.latest) else None
        mode = obs.impute or impute
        out.append({"best": best, "latest": latest if latest is not None else worst}.get(mode, worst))
    return out


def bayes_point(config: SweepConfig, observations: list[Observation], seed: int) -> Flat:
    """Ask TPE for the next parameters, after telling it every observation."""
    optuna = _optuna()
    goal = config.metric.goal if config.metric is not None else "minimize"  # bayes configs have one
    impute = config.metric.impute if config.metric is not None else "worst"
    searched = config.searched
    dists = {"/".join(p.path): _distribution(p, optuna) for p in searched}
    state = optuna.trial.TrialState
    trials = []
    for obs, value in zip(observations, told_values(goal, impute, observations), strict=True):
        internal = {}
        for p in searched:
            key = "/".join(p.path)
            x = _to_internal(p, obs.params[p.path], dists[key]) if p.path in obs.params else None
            if x is None:
                break
            internal[key] = x
        else:
            if obs.pending:
                trials.append(optuna.trial.create_trial(params=internal, distributions=dists, state=state.RUNNING))
            elif value is None:
                trials.append(optuna.trial.create_trial(params=internal, distributions=dists, state=state.FAIL))
            else:
                trials.append(optuna.trial.create_trial(params=internal, distributions=dists, value=value))
    sampler = optuna.samplers.TPESampler(seed=seed % 2**32, constant_liar=True)
    study = optuna.create_study(direction=goal, sampler=sampler)
    study.add_trials(trials)
    asked = study.ask(dists).params
    out = constants(config)
    for p in searched:
        out[p.path] = _from_internal(p, asked["/".join(p.path)])
    return dict(sorted(out.items()))


def observed_params(config: SweepConfig, run_config: Mapping[str, Any]) -> Flat:
    """The searched parameters as a run's config holds them (missing ones left out)."""
    out: Flat = {}
    for p in config.searched:
        found, value = lookup(run_config, p.path)
        if found:
            out[p.path] = value
    return out
