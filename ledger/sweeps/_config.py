"""The sweep config: W&B's sweep schema (all that runs without W&B's servers), plus ``cv``,
checked whole.

:func:`parse_config` turns the YAML mapping into a :class:`SweepConfig` or raises
:class:`SweepConfigError` naming the key and what is allowed there. Nothing is written
before a config parses, so a bad config never leaves half a sweep behind.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ledger import _format
from ledger._errors import InvalidNameError
from ledger.sweeps._errors import SweepConfigError

METHODS = ("grid", "random", "bayes")
GOALS = ("minimize", "maximize")

# Top-level keys, in the order the error message lists them. The informational ones are
# W&B's (its files carry them); cv, seed and randomize_order are ours.
TOP_KEYS = (
    "method",
    "metric",
    "parameters",
    "early_terminate",
    "run_cap",
    "program",
    "command",
    "cv",
    "seed",
    "randomize_order",
    "name",
    "description",
    "project",
    "entity",
    "controller",
    "apiVersion",
    "kind",
)
# W&B keys that need W&B's servers (Launch) or a custom controller: refused, saying what to do.
REFUSED_KEYS = {
    "job": "W&B Launch jobs need W&B's servers; give the script as `program:` (and `command:` if needed)",
    "image_uri": "W&B Launch images need W&B's servers; run the agent inside the image and give `program:`",
    "scheduler": "W&B Launch schedulers need W&B's servers; start `ledger agent` on each machine instead",
    "metrics": "several metrics need `method: custom`, which needs W&B's servers; optimise one `metric:` (and "
    "compare the others with `ledger export`)",
}
CUSTOM_METHOD = (
    "method: custom takes its trials from a controller you run against W&B's servers; use grid, random or bayes "
    "here, or drive trials yourself with ledger.init() (e.g. from an Optuna study with "
    "ledger.integrations.optuna.LedgerCallback)"
)

# distribution -> (required keys, optional keys with their defaults), as in W&B's sweep schema.
DISTRIBUTIONS: dict[str, tuple[tuple[str, ...], dict[str, float]]] = {
    "constant": (("value",), {}),
    "categorical": (("values",), {}),
    "categorical_w_probabilities": (("values", "probabilities"), {}),
    "int_uniform": (("min", "max"), {}),
    "uniform": (("min", "max"), {}),
    "q_uniform": (("min", "max"), {"q": 1.0}),
    "log_uniform": (("min", "max"), {}),
    "log_uniform_values": (("min", "max"), {}),
    "q_log_uniform": (("min", "max"), {"q": 1.0}),
    "q_log_uniform_values": (("min", "max"), {"q": 1.0}),
    "inv_log_uniform": (("min", "max"), {}),
    "inv_log_uniform_values": (("min", "max"), {}),
    "normal": ((), {"mu": 0.0, "sigma": 1.0}),
    "q_normal": ((), {"mu": 0.0, "sigma": 1.0, "q": 1.0}),
    "log_normal": ((), {"mu": 0.0, "sigma": 1.0}),
    "q_log_normal": ((), {"mu": 0.0, "sigma": 1.0, "q": 1.0}),
    "beta": ((), {"a": 1.0, "b": 1.0}),
    "q_beta": ((), {"a": 1.0, "b": 1.0, "q": 1.0}),
}
GRID_DISTRIBUTIONS = ("constant", "categorical", "int_uniform", "q_uniform")
IMPUTE = ("worst", "best", "latest")
IMPUTE_WHILE_RUNNING = ("false", "worst", "best", "latest")

MACROS = (
    "${env}",
    "${interpreter}",
    "${program}",
    "${args}",
    "${args_no_hyphens}",
    "${args_no_equals}",
    "${args_no_boolean_flags}",
    "${args_json}",
    "${args_json_file}",
    "${args_append_hydra}",
    "${args_override_hydra}",
)
DEFAULT_COMMAND = ("${env}", "${interpreter}", "${program}", "${args}")

_PARAM_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
_MACRO = re.compile(r"\$\{([^}]*)\}")
ENVVAR_MACRO = re.compile(r"\$\{envvar:([A-Z0-9_]*)\}")  # W&B's: the variable's value, or its name if unset


@dataclass(frozen=True)
class Param:
    """One searched (or constant) value: where it goes in the config, and how it is drawn."""

    path: tuple[str, ...]  # ("optimizer", "lr") for a nested parameter
    distribution: str
    spec: dict[str, Any]  # value / values / min, max, q, mu, sigma (defaults filled in)

    @property
    def name(self) -> str:
        return ".".join(self.path)


@dataclass(frozen=True)
class Metric:
    name: str
    goal: str  # minimize | maximize
    target: float | None
    impute: str = "worst"  # what bayes is told for failed, killed and crashed trials
    impute_while_running: str = "false"  # "false": running trials are pending; else imputed so

    def better(self, a: float, b: float) -> bool:
        """Whether objective ``a`` is strictly better than ``b``."""
        return a < b if self.goal == "minimize" else a > b

    def reached(self, value: float) -> bool:
        """Whether ``value`` reaches the target (no target: never)."""
        if self.target is None:
            return False
        return value <= self.target if self.goal == "minimize" else value >= self.target


@dataclass(frozen=True)
class Hyperband:
    bands: tuple[int, ...]  # counts of logged metric values at which runs are judged
    eta: float
    strict: bool = True  # W&B's default: judge the value at the band, not the best so far


@dataclass(frozen=True)
class SweepConfig:
    """A validated sweep config. ``raw`` is the mapping as given."""

    method: str
    params: tuple[Param, ...]
    metric: Metric | None
    hyperband: Hyperband | None
    run_cap: int | None
    program: str | None
    command: tuple[str, ...]
    folds: int | None
    seed: int | None
    randomize_order: bool
    name: str | None
    project: str | None
    raw: dict[str, Any]

    @property
    def searched(self) -> tuple[Param, ...]:
        """The parameters that are not constant."""
        return tuple(p for p in self.params if p.distribution != "constant")


def _fail(where: str, key: str, problem: str) -> SweepConfigError:
    place = f"{where}: {key}: " if key else f"{where}: "
    return SweepConfigError(place + problem)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _mapping(value: Any, where: str, key: str, example: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _fail(where, key, f"expected a mapping such as {example}, got {value!r}")
    return value


def _check_keys(given: Mapping[str, Any], allowed: tuple[str, ...], where: str, key: str, what: str) -> None:
    for k in given:
        if k not in allowed:
            name = f"{key}.{k}" if key else str(k)
            raise _fail(where, "", f"unknown key {name!r}{what}; allowed: {', '.join(allowed)}")


# ---- parameters ------------------------------------------------------------------------------


def _infer_distribution(spec: Mapping[str, Any], where: str, key: str) -> str:
    """W&B's rule: values -> categorical (with probabilities: categorical_w_probabilities),
    value -> constant, min/max -> int_uniform when both are integers, else uniform."""
    if "distribution" in spec:
        dist = spec["distribution"]
        if dist not in DISTRIBUTIONS:
            raise _fail(
                where,
                f"{key}.distribution",
                f"{dist!r} is not supported; use one of: {', '.join(DISTRIBUTIONS)}",
            )
        if dist == "categorical" and "probabilities" in spec:
            return "categorical_w_probabilities"
        return str(dist)
    if "values" in spec:
        return "categorical_w_probabilities" if "probabilities" in spec else "categorical"
    if "value" in spec:
        return "constant"
    if "min" in spec and "max" in spec:
        return "int_uniform" if _is_int(spec["min"]) and _is_int(spec["max"]) else "uniform"
    raise _fail(
        where,
        key,
        "say what to search: 'value', 'values', 'min' and 'max', a 'distribution' "
        "(with its keys), or nested 'parameters'",
    )


def _check_spec(dist: str, spec: dict[str, Any], where: str, key: str) -> None:
    if dist.startswith("categorical") and (not isinstance(spec["values"], list) or not spec["values"]):
        raise _fail(where, f"{key}.values", f"expected a non-empty list, got {spec['values']!r}")
    if dist == "categorical_w_probabilities":
        probs = spec["probabilities"]
        if not isinstance(probs, list) or not all(_is_number(p) and p >= 0 for p in probs):
            raise _fail(where, f"{key}.probabilities", f"expected a list of numbers >= 0, got {probs!r}")
        if len(probs) != len(spec["values"]):
            raise _fail(where, f"{key}.probabilities", f"has {len(probs)} numbers for {len(spec['values'])} values")
        if not math.isclose(sum(probs), 1.0, rel_tol=1e-5, abs_tol=1e-8):
            raise _fail(where, f"{key}.probabilities", f"must sum to 1, they sum to {sum(probs):g}")
    for k in ("min", "max", "mu", "sigma", "q", "a", "b"):
        if k in spec and not _is_number(spec[k]):
            raise _fail(where, f"{key}.{k}", f"expected a number, got {spec[k]!r}")
    if dist == "int_uniform" and not (_is_int(spec["min"]) and _is_int(spec["max"])):
        raise _fail(where, key, f"int_uniform needs integer min and max, got {spec['min']!r} and {spec['max']!r}")
    if "min" in spec and spec["min"] >= spec["max"]:
        raise _fail(where, key, f"min {spec['min']!r} is not less than max {spec['max']!r}")
    if dist.endswith("_values") and spec["min"] <= 0:
        raise _fail(where, f"{key}.min", f"{dist} needs min > 0 (it is a value, not an exponent), got {spec['min']!r}")
    if "q" in spec and spec["q"] <= 0:
        raise _fail(where, f"{key}.q", f"the quantization step must be > 0, got {spec['q']!r}")
    for k in ("sigma", "a", "b"):
        if k in spec and spec[k] < 0:
            raise _fail(where, f"{key}.{k}", f"must be >= 0, got {spec[k]!r}")


def _parse_parameters(node: Any, where: str, key: str, prefix: tuple[str, ...], out: list[Param]) -> None:
    params = _mapping(node, where, key, "{lr: {min: 0.0001, max: 0.1}}")
    if not params:
        raise _fail(where, key, "needs at least one parameter")
    for name, value in params.items():
        if not isinstance(name, str) or not _PARAM_NAME.fullmatch(name):
            raise _fail(where, key, f"parameter name {name!r} must match [A-Za-z_][A-Za-z0-9_.-]*")
        pkey = f"{key}.{name}"
        spec = _mapping(value, where, pkey, "{values: [16, 32]}, {value: 1} or {min: 0.0, max: 1.0}")
        if "parameters" in spec:
            _check_keys(spec, ("parameters",), where, pkey, " next to nested 'parameters'")
            _parse_parameters(spec["parameters"], where, f"{pkey}.parameters", (*prefix, name), out)
            continue
        dist = _infer_distribution(spec, where, pkey)
        required, optional = DISTRIBUTIONS[dist]
        _check_keys(spec, ("distribution", *required, *optional), where, pkey, f" for distribution {dist!r}")
        missing = [k for k in required if k not in spec]
        if missing:
            raise _fail(where, pkey, f"distribution {dist!r} needs {' and '.join(repr(k) for k in missing)}")
        filled = {**optional, **{k: v for k, v in spec.items() if k != "distribution"}}
        _check_spec(dist, filled, where, pkey)
        out.append(Param((*prefix, name), dist, filled))


# ---- the other sections ---------------------------------------------------------------------------


def _parse_metric(node: Any, where: str) -> Metric:
    metric = _mapping(node, where, "metric", "{name: val_loss, goal: minimize}")
    _check_keys(metric, ("name", "goal", "target", "impute", "impute_while_running"), where, "metric", "")
    name = metric.get("name")
    if not isinstance(name, str) or not name:
        raise _fail(where, "metric.name", f"expected the name of a logged metric, e.g. val_loss, got {name!r}")
    goal = metric.get("goal", "minimize")
    if goal not in GOALS:
        raise _fail(where, "metric.goal", f"{goal!r} is not one of: {', '.join(GOALS)}")
    target = metric.get("target")
    if target is not None and not _is_number(target):
        raise _fail(where, "metric.target", f"expected a number, got {target!r}")
    impute = metric.get("impute", "worst")
    if impute not in IMPUTE:
        raise _fail(where, "metric.impute", f"{impute!r} is not one of: {', '.join(IMPUTE)}")
    running = metric.get("impute_while_running", "false")
    running = "false" if running is False else running
    if running not in IMPUTE_WHILE_RUNNING:
        raise _fail(
            where, "metric.impute_while_running", f"{running!r} is not one of: {', '.join(IMPUTE_WHILE_RUNNING)}"
        )
    return Metric(name, str(goal), None if target is None else float(target), str(impute), str(running))


def hyperband_bands(min_iter: int | None, max_iter: int | None, s: int | None, eta: float) -> tuple[int, ...]:
    """W&B's bands (counts of logged values): ``int(max_iter / eta**k)`` for k = 1..s (while at
    least 1), or ``int(min_iter * eta**k)`` for k = 0..99. Given ``min_iter`` and ``max_iter``
    without ``s`` (where W&B's engine fails), the ``min_iter`` bands up to ``max_iter``."""
    bands: list[int] = []
    if max_iter is not None and s is not None:
        band: float = max_iter
        for _ in range(s):
            band /= eta
            if band < 1:
                break
            bands.append(int(band))
    elif min_iter is not None:
        band = min_iter
        for _ in range(100):  # W&B's count
            if max_iter is not None and band > max_iter:
                break
            bands.append(int(band))
            band *= eta
    return tuple(sorted(bands))


def _parse_early_terminate(node: Any, where: str) -> Hyperband:
    et = _mapping(node, where, "early_terminate", "{type: hyperband, min_iter: 3}")
    _check_keys(et, ("type", "min_iter", "max_iter", "s", "eta", "strict"), where, "early_terminate", "")
    if et.get("type") != "hyperband":
        raise _fail(where, "early_terminate.type", f"{et.get('type')!r} is not supported; use: hyperband")
    for k in ("min_iter", "max_iter", "s"):
        if k in et and not (_is_int(et[k]) and et[k] >= 1):
            raise _fail(where, f"early_terminate.{k}", f"expected an integer >= 1, got {et[k]!r}")
    eta = et.get("eta", 3)
    if not _is_number(eta) or eta <= 1:
        raise _fail(where, "early_terminate.eta", f"expected a number > 1, got {eta!r}")
    strict = et.get("strict", True)
    if not isinstance(strict, bool):
        raise _fail(where, "early_terminate.strict", f"expected true or false, got {strict!r}")
    if "min_iter" not in et and not ("max_iter" in et and "s" in et):
        raise _fail(where, "early_terminate", "give min_iter, or max_iter together with s (W&B's two forms)")
    bands = hyperband_bands(et.get("min_iter"), et.get("max_iter"), et.get("s"), eta)  # an int eta stays exact
    if not bands:
        raise _fail(where, "early_terminate", "these settings give no band; increase max_iter or lower s or eta")
    return Hyperband(bands, float(eta), strict)


def _parse_command(node: Any, where: str, program: str | None, params: list[Param]) -> tuple[str, ...]:
    if not isinstance(node, list) or not node:
        raise _fail(where, "command", f"expected a non-empty list of arguments, got {node!r}")
    names = {p.name for p in params}
    out = []
    for i, item in enumerate(node):
        if isinstance(item, bool) or not isinstance(item, (str, int, float)):
            raise _fail(where, f"command[{i}]", f"expected a string, got {item!r}")
        text = str(item)
        for macro in _MACRO.findall(ENVVAR_MACRO.sub("", text)):
            whole = "${" + macro + "}"
            if whole in MACROS:
                if text != whole:
                    raise _fail(where, f"command[{i}]", f"{whole} must be a whole item, not part of {text!r}")
                if whole == "${program}" and program is None:
                    raise _fail(where, f"command[{i}]", "${program} is used but the sweep has no 'program' key")
            elif macro not in names:
                raise _fail(
                    where,
                    f"command[{i}]",
                    f"unknown macro {whole}; use {', '.join(MACROS)}, ${{envvar:NAME}}, or ${{name}} of a parameter",
                )
        out.append(text)
    return tuple(out)


def _parse_cv(node: Any, where: str) -> int:
    cv = _mapping(node, where, "cv", "{folds: 5}")
    _check_keys(cv, ("folds",), where, "cv", "")
    folds: Any = cv.get("folds")
    if not (_is_int(folds) and folds >= 2):
        raise _fail(where, "cv.folds", f"expected an integer >= 2, got {folds!r}")
    return int(folds)


def _optional_str(doc: Mapping[str, Any], key: str, where: str) -> str | None:
    value = doc.get(key)
    if value is not None and not isinstance(value, str):
        raise _fail(where, key, f"expected a string, got {value!r}")
    return value


def parse_config(doc: Any, where: str = "sweep config") -> SweepConfig:
    """Check a whole sweep config; :class:`SweepConfigError` names the first wrong key."""
    if not isinstance(doc, Mapping):
        raise _fail(where, "", f"a sweep config is a mapping with at least 'method' and 'parameters', got {doc!r}")
    for key, why in REFUSED_KEYS.items():
        if key in doc:
            raise _fail(where, key, f"not supported: {why}")
    _check_keys(doc, TOP_KEYS, where, "", "")
    method = doc.get("method")
    if method == "custom":
        raise _fail(where, "method", CUSTOM_METHOD)
    if method not in METHODS:
        what = "missing" if method is None else f"{method!r} is not supported"
        raise _fail(where, "method", f"{what}; use one of: {', '.join(METHODS)}")
    if "parameters" not in doc:
        raise _fail(where, "parameters", "missing; say what to search, e.g. parameters: {lr: {min: 0.0001, max: 0.1}}")
    params: list[Param] = []
    _parse_parameters(doc["parameters"], where, "parameters", (), params)
    params.sort(key=lambda p: p.path)
    metric = _parse_metric(doc["metric"], where) if "metric" in doc else None
    hyperband = _parse_early_terminate(doc["early_terminate"], where) if "early_terminate" in doc else None
    for needs, present in (("method: bayes", method == "bayes"), ("early_terminate", hyperband is not None)):
        if present and metric is None:
            raise _fail(where, "metric", f"missing; {needs} needs a metric to optimize, e.g. {{name: loss}}")
    if method == "grid":
        for p in params:
            if p.distribution not in GRID_DISTRIBUTIONS:
                more = " (and no probabilities)" if p.distribution == "categorical_w_probabilities" else ""
                raise _fail(
                    where,
                    f"parameters.{p.name}",
                    f"distribution {p.distribution!r} cannot be enumerated by method: grid; "
                    f"use {', '.join(GRID_DISTRIBUTIONS)}{more}",
                )
    run_cap = doc.get("run_cap")
    if run_cap is not None and not (_is_int(run_cap) and run_cap >= 1):
        raise _fail(where, "run_cap", f"expected an integer >= 1, got {run_cap!r}")
    program = _optional_str(doc, "program", where)
    command = _parse_command(doc["command"], where, program, params) if "command" in doc else DEFAULT_COMMAND
    folds = _parse_cv(doc["cv"], where) if "cv" in doc else None
    if folds is not None and any(p.path[0] == "fold" for p in params):
        raise _fail(where, "parameters.fold", "cv puts 'fold' in the config; rename this parameter")
    seed = doc.get("seed")
    if seed is not None and not _is_int(seed):
        raise _fail(where, "seed", f"expected an integer, got {seed!r}")
    randomize = doc.get("randomize_order", False)
    if not isinstance(randomize, bool):
        raise _fail(where, "randomize_order", f"expected true or false, got {randomize!r}")
    if randomize and method != "grid":
        raise _fail(where, "randomize_order", "applies to method: grid only")
    for key in ("name", "description", "entity", "apiVersion", "kind"):
        _optional_str(doc, key, where)
    project = _optional_str(doc, "project", where)
    if project is not None:
        try:
            _format.check_name("project", project)
        except InvalidNameError as exc:
            raise _fail(where, "project", str(exc)) from None
    if "controller" in doc:
        _mapping(doc["controller"], where, "controller", "{type: local}")
    return SweepConfig(
        method=str(method),
        params=tuple(params),
        metric=metric,
        hyperband=hyperband,
        run_cap=run_cap,
        program=program,
        command=command,
        folds=folds,
        seed=seed,
        randomize_order=randomize,
        name=doc.get("name"),
        project=project,
        raw=dict(doc),
    )
