"""Sweeps decided as W&B decides them: W&B's own open-source sweep engine (the `sweeps`
package, 0.3.0) and W&B's agent (the `wandb` package) are the reference. The same configs
and the same metric histories give the same hyperband decisions, the same grid order,
samples from the same distributions (KS and chi-square tests, fixed seeds) and the same
command lines."""

from __future__ import annotations

import math
import random
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from ledger._query import Series
from ledger.sweeps._command import build_command, macro_values
from ledger.sweeps._config import parse_config
from ledger.sweeps._hyperband import history_of, judge
from ledger.sweeps._search import Observation, draw, grid_point, grid_size, nest, told_values
from tests.helpers import REPO

sweeps = pytest.importorskip("sweeps")  # W&B's sweep engine: installed by the Makefile (--no-deps)
stats = pytest.importorskip("scipy.stats")
from sweeps import RunState, SweepRun  # noqa: E402
from sweeps.grid_search import grid_search_next_runs  # noqa: E402
from sweeps.hyperband_stopping import hyperband_stop_runs  # noqa: E402
from sweeps.params import HyperParameter  # noqa: E402

WANDB = REPO / "tests/data/wandb_sweeps"


def test_the_reference_is_wandbs_engine_0_3():
    """0.3.0 judges a band at its b-th value and knows `strict` (0.2 judged one value late)."""
    assert sweeps.__version__ == "0.3.0"


# ---- hyperband ----------------------------------------------------------------------------------


def ours_stop(config: dict, runs: list[tuple[str, str, list[float]]]) -> set[str]:
    """The runs ledger stops: each running run judged against every run's history (values
    as a run logs them, NaN and infinities included: hyperband skips them as W&B does)."""
    cfg = parse_config(config)
    assert cfg.hyperband is not None
    assert cfg.metric is not None
    hist = {name: history_of(Series("m", np.arange(len(v)), np.array(v, dtype=float))) for name, _, v in runs}
    everyone = list(hist.values())
    return {
        name
        for name, state, _ in runs
        if state == "running" and judge(cfg.hyperband, cfg.metric.goal, hist[name], everyone) is not None
    }


def wandb_stop(config: dict, runs: list[tuple[str, str, list[float]]]) -> set[str]:
    metric = config["metric"]["name"]
    made = [
        SweepRun(name=name, state=RunState(state), history=[{metric: v} for v in values])
        for name, state, values in runs
    ]
    return {r.name for r in hyperband_stop_runs(made, config)}


DOCSTRING_CONFIG = {
    "method": "grid",
    "metric": {"name": "loss", "goal": "minimize"},
    "early_terminate": {"type": "hyperband", "max_iter": 5, "eta": 2, "s": 2},
    "parameters": {"a": {"values": [1, 2, 3]}},
}
DOCSTRING_RUNS = [
    ("a", "finished", [10, 9]),
    ("b", "running", [10, 10]),  # "This should be stopped"
    ("c", "running", [10, 8, 8]),  # "This passes band 1 but not band 2"
    ("d", "running", [10, 7, 7]),
    ("e", "finished", [10, 6, 6]),
]


def test_the_example_of_wandbs_docstring_stops_b_only():
    """The example in the docstring of W&B's hyperband_stop_runs: W&B stops b, and so does ledger."""
    assert wandb_stop(DOCSTRING_CONFIG, DOCSTRING_RUNS) == {"b"}
    assert ours_stop(DOCSTRING_CONFIG, DOCSTRING_RUNS) == {"b"}


@pytest.mark.parametrize("strict", [True, False])
def test_strict_and_not_strict_decide_as_wandb(strict):
    config = {**DOCSTRING_CONFIG, "early_terminate": {**DOCSTRING_CONFIG["early_terminate"], "strict": strict}}
    runs = [*DOCSTRING_RUNS, ("f", "running", [10, 5, 11])]
    assert ours_stop(config, runs) == wandb_stop(config, runs)
    runs = [
        ("g", "running", [3, 12]),
        ("h", "finished", [9, 1]),
        ("i", "finished", [9, 2]),
        ("k", "finished", [9, 3]),
        ("j", "running", [20, 30]),
    ]
    got = ours_stop(config, runs)
    assert got == wandb_stop(config, runs)
    assert ("g" in got) is strict  # threshold 3 at band 2: g's best (3) is not worse, its value there (12) is


def _random_case(rng: random.Random) -> tuple[dict, list[tuple[str, str, list[float]]]]:
    eta = rng.choice([2, 3, 2.5, 4])
    if rng.random() < 0.5:
        early = {"type": "hyperband", "min_iter": rng.randint(1, 4), "eta": eta}
    else:
        early = {"type": "hyperband", "max_iter": rng.randint(4, 40), "s": rng.randint(1, 4), "eta": eta}
    if rng.random() < 0.5:
        early["strict"] = rng.random() < 0.5
    goal = rng.choice(["minimize", "maximize"])
    config = {
        "method": "random",
        "metric": {"name": "val/loss", "goal": goal},
        "early_terminate": early,
        "parameters": {"x": {"min": 0.0, "max": 1.0}},
    }
    runs = []
    for i in range(rng.randint(1, 9)):
        values: list[float] = []
        for _ in range(rng.randint(0, 14)):
            roll = rng.random()
            values.append(
                math.nan if roll < 0.04 else math.inf if roll < 0.06 else round(rng.gauss(0, 1), rng.choice([0, 1, 3]))
            )
        runs.append((f"r{i}", rng.choice(["running", "running", "finished", "killed", "crashed", "failed"]), values))
    return config, runs


def test_hyperband_decisions_match_wandb_on_many_random_sweeps():
    """500 seeded random sweeps (min_iter or max_iter and s, eta 2 to 4, strict or not, either
    goal, ties, NaN and infinities in the histories, runs in every state): the same runs stop."""
    rng = random.Random(20261129)
    stopped = 0
    for case in range(500):
        config, runs = _random_case(rng)
        want = wandb_stop(config, runs)
        assert ours_stop(config, runs) == want, (case, config, runs)
        stopped += len(want)
    assert stopped > 100  # the cases do stop runs, not only let them all go on


@pytest.mark.parametrize("name", ["hyperband", "hyperband-min-iter"])
def test_wandbs_documented_examples_have_wandbs_bands(name):
    """W&B's docs: min_iter 3 gives bands [3, 9, 27, 81, ...]; max_iter 27, s 2 gives [9, 3]."""
    config = yaml.safe_load((WANDB / f"{name}.yaml").read_text())
    run = SweepRun(name="x", state=RunState.running, history=[{config["metric"]["name"]: 1.0}] * 90)
    hyperband_stop_runs([run], config)
    assert run.early_terminate_info is not None
    theirs = run.early_terminate_info["bands"]
    ours = parse_config(config).hyperband
    assert ours is not None
    assert list(ours.bands) == theirs
    assert ours.bands[:4] == ((3, 9) if name == "hyperband" else (3, 9, 27, 81))
    rng = random.Random(name)
    for _ in range(50):
        runs = [
            (f"r{i}", rng.choice(["running", "finished"]), [rng.random() for _ in range(rng.randint(0, 30))])
            for i in range(6)
        ]
        assert ours_stop(config, runs) == wandb_stop(config, runs)


# ---- grid ---------------------------------------------------------------------------------------


def _flat_wandb(config: dict, prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], object]:
    """A W&B run config ({name: {"value": v}}, nested parameters as dicts) as flat paths."""
    out: dict[tuple[str, ...], object] = {}

    def walk(path: tuple[str, ...], value: object) -> None:
        if isinstance(value, dict) and value and len(path) > 0 and path[0] in nested_roots:
            for k, v in value.items():
                walk((*path, k), v)
        else:
            out[path] = value

    nested_roots: set[str] = set()
    for name, holder in config.items():
        nested_roots.add(name) if isinstance(holder["value"], dict) else None
        walk((*prefix, name), holder["value"])
    return out


GRID_CONFIGS = {
    "wandb-grid-example": yaml.safe_load((WANDB / "grid.yaml").read_text()),
    "wandb-nested-example": yaml.safe_load((WANDB / "nested.yaml").read_text()),
    "ranges": {
        "method": "grid",
        "parameters": {
            "k": {"min": 1, "max": 4},
            "q": {"distribution": "q_uniform", "min": 0.05, "max": 0.5, "q": 0.1},
            "qi": {"distribution": "q_uniform", "min": 2, "max": 11, "q": 3},
            "flag": {"values": [True, False]},
            "name": {"values": ["b", "a", "c"]},
            "c": {"value": "fixed"},
        },
    },
    "repeats": {"method": "grid", "parameters": {"a": {"values": [1, 2, 1, 2.0, 3]}, "b": {"values": [[1, 2], [3]]}}},
}


@pytest.mark.parametrize("name", list(GRID_CONFIGS))
def test_grid_order_is_wandbs(name):
    """Trial n is the n-th run W&B's grid search suggests (values equal up to float noise)."""
    config = GRID_CONFIGS[name]
    cfg = parse_config(config)
    size = grid_size(cfg)
    theirs = list(grid_search_next_runs([], config, n=size + 1))
    assert theirs[-1] is None  # W&B has no more after `size`
    assert len(theirs) == size + 1
    for n, run in enumerate(theirs[:-1], start=1):
        want = _flat_wandb(run.config)
        got = grid_point(cfg, n, seed=0)
        assert set(got) == set(want), n
        for path, value in want.items():
            if isinstance(value, float):
                assert got[path] == pytest.approx(value, rel=1e-12, abs=1e-12), (n, path)
            else:
                assert got[path] == value, (n, path)
                assert type(got[path]) is type(value), (n, path)


# ---- distributions -------------------------------------------------------------------------------

CONTINUOUS = {
    "uniform": {"distribution": "uniform", "min": -2.0, "max": 3.0},
    "log_uniform": {"distribution": "log_uniform", "min": -5.0, "max": 1.0},
    "log_uniform_values": {"distribution": "log_uniform_values", "min": 1e-4, "max": 0.1},
    "inv_log_uniform": {"distribution": "inv_log_uniform", "min": -2.0, "max": 3.0},
    "inv_log_uniform_values": {"distribution": "inv_log_uniform_values", "min": 0.01, "max": 10.0},
    "normal": {"distribution": "normal", "mu": 3.0, "sigma": 2.0},
    "log_normal": {"distribution": "log_normal", "mu": -1.0, "sigma": 0.5},
    "beta": {"distribution": "beta", "a": 2.0, "b": 5.0},
}
DISCRETE = {
    "categorical": {"values": ["a", "b", "c", 4]},
    "probabilities": {"values": ["x", "y", "z"], "probabilities": [0.6, 0.3, 0.1]},
    "int_uniform": {"min": -3, "max": 6},
    "q_uniform": {"distribution": "q_uniform", "min": 0.0, "max": 3.0, "q": 0.5},
    "q_uniform_int_q": {"distribution": "q_uniform", "min": 0, "max": 20, "q": 4},
    "q_log_uniform": {"distribution": "q_log_uniform", "min": 0.0, "max": 3.0, "q": 2},
    "q_log_uniform_values": {"distribution": "q_log_uniform_values", "min": 16, "max": 256, "q": 16},
    "q_normal": {"distribution": "q_normal", "mu": 0.0, "sigma": 3.0, "q": 1},
    "q_log_normal": {"distribution": "q_log_normal", "mu": 1.0, "sigma": 0.5, "q": 0.5},
    "q_beta": {"distribution": "q_beta", "a": 1.0, "b": 3.0, "q": 0.1},
}
N = 3000


def samples(name: str, spec: dict) -> tuple[list, list]:
    """N draws of ledger's and N of W&B's (HyperParameter.sample), both seeded."""
    cfg = parse_config({"method": "random", "parameters": {"p": spec}})
    (param,) = cfg.params
    rng = random.Random(f"ledger:{name}")
    ours = [draw(param, rng) for _ in range(N)]
    random.seed(f"wandb:{name}")  # W&B samples with the random module's global generator
    hp = HyperParameter("p", dict(spec))
    theirs = [hp.sample() for _ in range(N)]
    return ours, theirs


@pytest.mark.parametrize("name", list(CONTINUOUS))
def test_continuous_distributions_are_wandbs(name):
    """Two-sample Kolmogorov-Smirnov test of N draws each (p > 0.001); same support."""
    ours, theirs = samples(name, CONTINUOUS[name])
    result = stats.ks_2samp(ours, [float(v) for v in theirs])
    assert result.pvalue > 1e-3, (name, result)
    assert min(ours) >= min(theirs) - 0.05 * (max(theirs) - min(theirs))
    assert max(ours) <= max(theirs) + 0.05 * (max(theirs) - min(theirs))


def _key(value: object) -> object:
    return round(float(value), 9) if isinstance(value, (float, np.floating)) else value


@pytest.mark.parametrize("name", list(DISCRETE))
def test_discrete_and_quantized_distributions_are_wandbs(name):
    """Chi-square test of the counts per value (rare values pooled), p > 0.001; the same
    values, and integers exactly where W&B gives integers."""
    ours, theirs = samples(name, DISCRETE[name])
    theirs = [v.item() if isinstance(v, np.generic) else v for v in theirs]
    ours_counts: dict[object, int] = {}
    theirs_counts: dict[object, int] = {}
    for v in ours:
        ours_counts[_key(v)] = ours_counts.get(_key(v), 0) + 1
    for v in theirs:
        theirs_counts[_key(v)] = theirs_counts.get(_key(v), 0) + 1
    values = sorted(set(ours_counts) | set(theirs_counts), key=lambda v: (str(type(v)), v))
    table, pooled = [], [0, 0]
    for v in values:
        pair = [ours_counts.get(v, 0), theirs_counts.get(v, 0)]
        if sum(pair) < 20:
            pooled = [pooled[0] + pair[0], pooled[1] + pair[1]]
        else:
            table.append(pair)
    if sum(pooled):
        table.append(pooled)
    assert len(table) >= 2
    result = stats.chi2_contingency(np.array(table).T)
    assert result.pvalue > 1e-3, (name, table)
    kinds = {type(v) for v in theirs}
    assert {type(v) for v in ours} <= kinds | ({int} if kinds == {int} else {float, int}), (name, kinds)
    if kinds == {int}:
        assert all(type(v) is int for v in ours)


# ---- command lines ---------------------------------------------------------------------------------


def test_command_macros_expand_as_wandbs_agent(monkeypatch):
    """Every macro of W&B's agent, expanded by W&B's own code (wandb.sdk.launch.sweeps.utils),
    and by ledger: the same items, values as Python's str (nested as repr, not JSON)."""
    utils = pytest.importorskip("wandb.sdk.launch.sweeps.utils")
    monkeypatch.setenv("DATA_DIR", "/data/x")
    command = [
        "${env}", "${interpreter}", "-m", "${program}", "${args}", "${args_no_hyphens}", "${args_no_equals}",
        "${args_no_boolean_flags}", "${args_json}", "${args_json_file}", "${args_append_hydra}",
        "${args_override_hydra}", "--data=${envvar:DATA_DIR}/train", "${envvar:NOT_SET_ANYWHERE}",
    ]  # fmt: skip
    config = {
        "method": "grid",
        "program": "pkg.train",
        "command": command,
        "parameters": {
            "lr": {"value": 0.001},
            "use_bn": {"value": True},
            "dropout": {"value": False},
            "layers": {"value": [64, 32]},
            "none": {"value": None},
            "opt": {"parameters": {"name": {"value": "adam"}, "betas": {"value": [0.9, 0.99]}}},
        },
    }
    cfg = parse_config(config)
    params = grid_point(cfg, 1, seed=0)
    argv = build_command(cfg, params, "/tmp/params.json")

    nested = nest(params)
    theirs = utils.create_sweep_command_args({"args": {k: {"value": v} for k, v in nested.items()}})
    theirs["interpreter"] = ["python"]
    theirs["program"] = ["pkg.train"]
    theirs["args_json_file"] = ["/tmp/params.json"]
    theirs["env"] = ["/usr/bin/env"]
    want: list[str] = []
    for c in utils.create_sweep_command(list(command)):  # the agent's loop (wandb_agent.py)
        if c.startswith("${") and c.endswith("}"):
            want += theirs.get(c[2:-1]) or []
        else:
            want.append(c)
    assert Path(sys.executable).parent.joinpath("python").exists()  # a venv: ${interpreter} is `python`
    assert argv == want
    assert "--opt={'betas': [0.9, 0.99], 'name': 'adam'}" in argv  # Python's repr, as W&B writes it
    assert "--use_bn" in argv
    assert "--dropout=False" not in argv[argv.index("--use_bn") - 6 : argv.index("--use_bn") + 1]
    assert "--data=/data/x/train" in argv
    assert argv[-1] == "NOT_SET_ANYWHERE"  # an unset variable: its name, as in W&B
    assert macro_values(nested, "f")["${args_json}"] == theirs["args_json"]


@pytest.mark.parametrize(
    ("key", "value", "says"),
    [
        ("method", "custom", "use grid, random or bayes here"),
        ("job", "me/proj/job:v1", "give the script as `program:`"),
        ("image_uri", "me/image:1", "run the agent inside the image"),
    ],
)
def test_what_needs_wandbs_servers_is_refused_with_what_to_use(key, value, says):
    from ledger.sweeps import SweepConfigError

    doc = {"method": "grid", "parameters": {"a": {"value": 1}}, key: value}
    with pytest.raises(SweepConfigError, match=f"^sweep config: {key}: .*{'.*'.join(says.split())}"):
        parse_config(doc)


# ---- metric.impute --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("impute", "told"),
    [("worst", [1.0, 3.0, 3.0, None]), ("best", [1.0, 3.0, 1.0, None]), ("latest", [1.0, 3.0, 2.5, None])],
)
def test_failed_trials_are_imputed_as_the_sweep_says(impute, told):
    """W&B's metric.impute: a failed, killed or crashed trial is told to bayes as the worst
    or best objective seen, or its own latest value of the metric."""
    obs = [
        Observation({}, 1.0),
        Observation({}, 3.0),
        Observation({}, None, latest=2.5),  # failed after logging 2.5
        Observation({}, None, pending=True),  # running
    ]
    assert told_values("minimize", impute, obs) == told
    cfg = parse_config(
        {"method": "bayes", "metric": {"name": "l", "impute": impute}, "parameters": {"x": {"min": 0.0, "max": 1.0}}}
    )
    assert cfg.metric is not None
    assert cfg.metric.impute == impute
