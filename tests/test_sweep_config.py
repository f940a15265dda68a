"""Sweep configs: W&B's files load, bad keys fail whole, and the search draws what it says."""

from __future__ import annotations

import math
import re
import sys
from pathlib import Path

import pytest
import yaml

import ledger
import ledger.sweeps
from ledger.sweeps import SweepConfigError
from ledger.sweeps._command import build_command
from ledger.sweeps._config import CUSTOM_METHOD, REFUSED_KEYS, hyperband_bands, parse_config
from ledger.sweeps._search import draw, grid_point, grid_size, nest, random_point
from tests.helpers import REPO

WANDB = REPO / "tests/data/wandb_sweeps"
PUBLIC = {
    "SweepConfigError", "SweepNotFoundError", "SweepStatus", "agent", "checkpoint_dir", "create", "resumed", "status",
    "stop",
}  # fmt: skip


def test_public_names_are_pinned_and_documented():
    assert set(ledger.sweeps.__all__) == PUBLIC
    for name in PUBLIC:
        assert getattr(ledger.sweeps, name).__doc__, name
    assert ledger.sweeps.SweepConfigError.__mro__[1:3] == (ledger.LedgerError, ValueError)


def test_plain_import_ledger_reaches_sweeps(tmp_path):
    from tests.helpers import run_python

    proc = run_python("import ledger, sys\nprint(callable(ledger.sweeps.agent), 'optuna' in sys.modules)", tmp_path)
    assert proc.stdout.split() == ["True", "False"], proc.stderr


class TestWandbFiles:
    @pytest.mark.parametrize("name", ["grid", "random", "bayes", "hyperband", "hyperband-min-iter", "nested"])
    def test_wandb_example_files_create_sweeps(self, tmp_path, name):
        """Each example from W&B's docs is accepted as is, and stored as given."""
        path = WANDB / f"{name}.yaml"
        given = yaml.safe_load(path.read_text())
        project = given.get("project", "p")  # the file's project key is the default project
        sweep_id = ledger.sweeps.create(path, root=tmp_path / "results", project=None if "project" in given else "p")
        stored = yaml.safe_load((tmp_path / f"results/{project}/sweeps/{sweep_id}/sweep.yaml").read_text())
        assert stored == {**given, "project": project}  # --project is recorded: the trials' runs go there

    def test_min_max_are_int_or_float_as_wandb_infers(self):
        cfg = parse_config(yaml.safe_load((WANDB / "random.yaml").read_text()))
        kinds = {p.name: p.distribution for p in cfg.params}
        assert kinds == {
            "batch_size": "q_log_uniform_values",
            "dropout": "categorical",
            "epochs": "constant",
            "fc_layer_size": "categorical",
            "learning_rate": "uniform",  # min 0 (int), max 0.1 (float): uniform
            "optimizer": "categorical",
        }
        ints = parse_config(
            {"method": "random", "parameters": {"n": {"min": 1, "max": 10}, "x": {"min": 0.0, "max": 1}}}
        )
        assert [p.distribution for p in ints.params] == ["int_uniform", "uniform"]
        draws = [random_point(ints, n, seed=0) for n in range(1, 50)]
        assert all(type(d[("n",)]) is int and 1 <= d[("n",)] <= 10 for d in draws)
        assert all(type(d[("x",)]) is float for d in draws)

    def test_nested_parameters_make_nested_configs(self):
        cfg = parse_config(yaml.safe_load((WANDB / "nested.yaml").read_text()))
        assert [p.name for p in cfg.params] == ["batch_size", "optimizer.lr", "optimizer.nadam.beta"]
        assert grid_size(cfg) == 8
        first = nest(grid_point(cfg, 1, seed=0))
        assert first == {"batch_size": 32, "optimizer": {"lr": 0.001, "nadam": {"beta": 0.9}}}

    def test_hyperband_bands_are_wandbs(self):
        assert hyperband_bands(None, 27, 2, 3.0) == (3, 9)  # max_iter 27, s 2: 27/3, 27/9
        assert hyperband_bands(3, None, None, 3.0)[:4] == (3, 9, 27, 81)  # min_iter 3 upwards
        cfg = parse_config(yaml.safe_load((WANDB / "hyperband.yaml").read_text()))
        assert cfg.hyperband is not None
        assert (cfg.hyperband.bands, cfg.hyperband.eta) == ((3, 9), 3.0)


class TestErrors:
    def test_unsupported_top_level_key_names_it_and_lists_the_allowed_ones(self, tmp_path):
        path = tmp_path / "sweep.yaml"
        path.write_text("method: grid\noptimizer: {engine: optuna}\nparameters: {a: {values: [1, 2]}}\n")
        expected = (
            f"{path}: unknown key 'optimizer'; allowed: method, metric, parameters, early_terminate, run_cap, "
            "program, command, cv, seed, randomize_order, name, description, project, entity, controller, "
            "apiVersion, kind"
        )
        with pytest.raises(SweepConfigError, match=f"^{re.escape(expected)}$"):
            ledger.sweeps.create(path, root=tmp_path / "results", project="p")
        assert not (tmp_path / "results/p/sweeps").exists()  # nothing half-created

    @pytest.mark.parametrize(
        ("doc", "message"),
        [
            ({"parameters": {"a": {"value": 1}}}, "method: missing; use one of: grid, random, bayes"),
            ({"method": "hyperopt"}, "method: 'hyperopt' is not supported; use one of: grid, random, bayes"),
            (
                {"method": "random", "parameters": {"lr": {"distribution": "dirichlet", "min": 0, "max": 1}}},
                (
                    "parameters.lr.distribution: 'dirichlet' is not supported; use one of: constant, categorical, "
                    "categorical_w_probabilities, int_uniform, uniform, q_uniform, log_uniform, log_uniform_values, "
                    "q_log_uniform, q_log_uniform_values, inv_log_uniform, inv_log_uniform_values, normal, q_normal, "
                    "log_normal, q_log_normal, beta, q_beta"
                ),
            ),
            (
                {"method": "random", "parameters": {"lr": {"distribution": "beta", "min": 0, "max": 1}}},
                "unknown key 'parameters.lr.min' for distribution 'beta'; allowed: distribution, a, b",
            ),
            (
                {"method": "random", "parameters": {"lr": {"min": 0.0, "max": 1.0, "step": 0.1}}},
                "unknown key 'parameters.lr.step' for distribution 'uniform'; allowed: distribution, min, max",
            ),
            (
                {"method": "random", "parameters": {"lr": {"values": [1, 2], "probabilities": [0.5, 0.25, 0.25]}}},
                "parameters.lr.probabilities: has 3 numbers for 2 values",
            ),
            (
                {"method": "random", "parameters": {"lr": {"values": [1, 2], "probabilities": [0.5, 0.6]}}},
                "parameters.lr.probabilities: must sum to 1, they sum to 1.1",
            ),
            (
                {"method": "grid", "parameters": {"lr": {"values": [1, 2], "probabilities": [0.5, 0.5]}}},
                (
                    "parameters.lr: distribution 'categorical_w_probabilities' cannot be enumerated by method: grid; "
                    "use constant, categorical, int_uniform, q_uniform (and no probabilities)"
                ),
            ),
            ({"method": "custom", "parameters": {"a": {"value": 1}}}, "method: " + CUSTOM_METHOD),
            (
                {"method": "grid", "job": "entity/project/job:v1", "parameters": {"a": {"value": 1}}},
                "job: not supported: " + REFUSED_KEYS["job"],
            ),
            (
                {"method": "random", "parameters": {"lr": {"min": 1.0, "max": 0.1}}},
                "parameters.lr: min 1.0 is not less than max 0.1",
            ),
            (
                {"method": "random", "parameters": {"lr": {"distribution": "log_uniform_values", "min": 0, "max": 1}}},
                "parameters.lr.min: log_uniform_values needs min > 0 (it is a value, not an exponent), got 0",
            ),
            (
                {"method": "random", "parameters": {"lr": {"values": []}}},
                "parameters.lr.values: expected a non-empty list, got []",
            ),
            (
                {"method": "random", "parameters": {"lr": {"distribution": "int_uniform", "min": 0.5, "max": 3}}},
                "parameters.lr: int_uniform needs integer min and max, got 0.5 and 3",
            ),
            (
                {"method": "grid", "parameters": {"lr": {"min": 0.0, "max": 1.0}}},
                (
                    "parameters.lr: distribution 'uniform' cannot be enumerated by method: grid; use constant, "
                    "categorical, int_uniform, q_uniform"
                ),
            ),
            (
                {"method": "bayes", "parameters": {"lr": {"min": 0.0, "max": 1.0}}},
                "metric: missing; method: bayes needs a metric to optimize, e.g. {name: loss}",
            ),
            (
                {"method": "grid", "metric": {"name": "loss", "goal": "lower"}, "parameters": {"a": {"value": 1}}},
                "metric.goal: 'lower' is not one of: minimize, maximize",
            ),
            (
                {"method": "grid", "metric": {"name": "l", "impute": "median"}, "parameters": {"a": {"value": 1}}},
                "metric.impute: 'median' is not one of: worst, best, latest",
            ),
            (
                {
                    "method": "grid",
                    "metric": {"name": "l"},
                    "early_terminate": {"type": "hyperband", "min_iter": 3, "strict": "yes"},
                    "parameters": {"a": {"value": 1}},
                },
                "early_terminate.strict: expected true or false, got 'yes'",
            ),
            (
                {
                    "method": "grid",
                    "metric": {"name": "l"},
                    "early_terminate": {"type": "hyperband", "max_iter": 27},
                    "parameters": {"a": {"value": 1}},
                },
                "early_terminate: give min_iter, or max_iter together with s (W&B's two forms)",
            ),
            (
                {
                    "method": "grid",
                    "metric": {"name": "l"},
                    "early_terminate": {"type": "envelope"},
                    "parameters": {"a": {"value": 1}},
                },
                "early_terminate.type: 'envelope' is not supported; use: hyperband",
            ),
            (
                {"method": "grid", "cv": {"folds": 1}, "parameters": {"a": {"value": 1}}},
                "cv.folds: expected an integer >= 2, got 1",
            ),
            (
                {"method": "grid", "cv": {"folds": 3}, "parameters": {"fold": {"value": 1}}},
                "parameters.fold: cv puts 'fold' in the config; rename this parameter",
            ),
            (
                {"method": "grid", "run_cap": 0, "parameters": {"a": {"value": 1}}},
                "run_cap: expected an integer >= 1, got 0",
            ),
            (
                {
                    "method": "grid",
                    "command": ["python", "train.py", "${args_yaml}"],
                    "parameters": {"a": {"value": 1}},
                },
                (
                    "command[2]: unknown macro ${args_yaml}; use ${env}, ${interpreter}, ${program}, ${args}, "
                    "${args_no_hyphens}, ${args_no_equals}, ${args_no_boolean_flags}, ${args_json}, ${args_json_file}, "
                    "${args_append_hydra}, ${args_override_hydra}, ${envvar:NAME}, or ${name} of a parameter"
                ),
            ),
            (
                {"method": "grid", "command": ["${interpreter}", "${program}"], "parameters": {"a": {"value": 1}}},
                "command[1]: ${program} is used but the sweep has no 'program' key",
            ),
            (
                {"method": "random", "randomize_order": True, "parameters": {"a": {"value": 1}}},
                "randomize_order: applies to method: grid only",
            ),
        ],
    )
    def test_malformed_values_name_the_key(self, doc, message):
        with pytest.raises(SweepConfigError, match=f"^sweep config: {re.escape(message)}$"):
            parse_config(doc)


class TestSearch:
    def test_grid_covers_every_combination_once_in_wandbs_order(self):
        cfg = parse_config(yaml.safe_load((WANDB / "grid.yaml").read_text()))
        assert grid_size(cfg) == 27
        points = [grid_point(cfg, n, seed=0) for n in range(1, 28)]
        combos = {(p[("base",)], p[("increment",)], p[("direction",)]) for p in points}
        assert len(combos) == 27
        # names sorted (base, direction, ..., increment), the last varying fastest
        assert [(p[("base",)], p[("direction",)], p[("increment",)]) for p in points[:4]] == [
            (10, -1, 0.1), (10, -1, 0.2), (10, -1, 0.3), (10, 0.1, 0.1),
        ]  # fmt: skip

    def test_randomize_order_is_a_seeded_permutation(self):
        doc = yaml.safe_load((WANDB / "grid.yaml").read_text()) | {"randomize_order": True}
        cfg = parse_config(doc)
        plain = parse_config(yaml.safe_load((WANDB / "grid.yaml").read_text()))
        shuffled = [grid_point(cfg, n, seed=5) for n in range(1, 28)]
        assert shuffled == [grid_point(cfg, n, seed=5) for n in range(1, 28)]
        assert shuffled != [grid_point(plain, n, seed=5) for n in range(1, 28)]
        assert sorted(map(str, shuffled)) == sorted(str(grid_point(plain, n, seed=5)) for n in range(1, 28))

    def test_int_uniform_and_q_uniform_enumerate_like_wandb(self):
        cfg = parse_config(
            {
                "method": "grid",
                "parameters": {
                    "k": {"min": 1, "max": 3},
                    "q": {"distribution": "q_uniform", "min": 0, "max": 1, "q": 0.25},
                },
            }
        )
        assert grid_size(cfg) == 12  # k in 1..3, q in 0, 0.25, 0.5, 0.75 (max excluded, as W&B's arange)
        assert {grid_point(cfg, n, seed=0)[("q",)] for n in range(1, 13)} == {0.0, 0.25, 0.5, 0.75}

    def test_distributions_draw_what_wandb_documents(self):
        import random

        specs = {
            "u": {"distribution": "uniform", "min": 2.0, "max": 3.0},
            "qu": {"distribution": "q_uniform", "min": 0, "max": 10, "q": 2},
            "lu": {"distribution": "log_uniform", "min": -3, "max": 0},
            "luv": {"distribution": "log_uniform_values", "min": 1e-4, "max": 1e-1},
            "qluv": {"distribution": "q_log_uniform_values", "min": 32, "max": 256, "q": 8},
            "n": {"distribution": "normal", "mu": 5, "sigma": 0.01},
            "qn": {"distribution": "q_normal", "mu": 5, "sigma": 2, "q": 0.5},
            "ln": {"distribution": "log_normal", "mu": 0, "sigma": 1},
        }
        cfg = parse_config({"method": "random", "parameters": specs})
        params = {p.name: p for p in cfg.params}
        rng = random.Random(0)
        for _ in range(200):
            assert 2.0 <= draw(params["u"], rng) <= 3.0
            qu = draw(params["qu"], rng)
            assert type(qu) is int
            assert qu % 2 == 0
            assert 0 <= qu <= 10
            assert math.exp(-3) <= draw(params["lu"], rng) <= 1.0
            assert 1e-4 <= draw(params["luv"], rng) <= 1e-1
            qluv = draw(params["qluv"], rng)
            assert type(qluv) is int
            assert qluv % 8 == 0
            assert 32 <= qluv <= 256
            assert abs(draw(params["n"], rng) - 5) < 0.1
            assert (draw(params["qn"], rng) * 2).is_integer()
            assert draw(params["ln"], rng) > 0

    def test_random_trials_depend_only_on_seed_and_trial_number(self):
        cfg = parse_config(yaml.safe_load((WANDB / "random.yaml").read_text()))
        first = [random_point(cfg, n, seed=42) for n in range(1, 6)]
        assert first == [random_point(cfg, n, seed=42) for n in range(1, 6)]
        assert first != [random_point(cfg, n, seed=43) for n in range(1, 6)]
        assert len({str(p) for p in first}) == 5


class TestCommand:
    def test_macros_expand_as_wandb_documents(self):
        cfg = parse_config(
            {
                "method": "grid",
                "program": "train.py",
                "command": [
                    "${env}", "${interpreter}", "${program}", "${args}", "${args_no_hyphens}", "${args_json}",
                    "${args_json_file}", "${args_override_hydra}", "--tag=lr${lr}",
                ],
                "parameters": {"lr": {"value": 0.1}, "use_bn": {"value": True}, "opt": {"parameters": {"name": {"value": "adam"}}}},
            }
        )  # fmt: skip
        argv = build_command(cfg, grid_point(cfg, 1, seed=0), "/tmp/params.json")
        env = ["/usr/bin/env"] if Path("/usr/bin/env").exists() else []
        assert argv == [
            *env, "python", "train.py",  # W&B's ${interpreter}; the trial's PATH starts at this Python's folder
            "--lr=0.1", "--opt={'name': 'adam'}", "--use_bn=True",  # values as Python's str, as W&B's agent
            "lr=0.1", "opt={'name': 'adam'}", "use_bn=True",
            '{"lr": 0.1, "opt": {"name": "adam"}, "use_bn": true}',
            "/tmp/params.json",
            "++lr=0.1", "++opt={'name': 'adam'}", "++use_bn=True",
            "--tag=lr0.1",  # ${name} of a parameter inside an item: ledger's own
        ]  # fmt: skip
        assert Path(sys.executable).parent.joinpath("python").samefile(sys.executable)


def test_bayes_searches_every_distribution():
    """TPE is told trials of every distribution of W&B's schema and asks values inside it."""
    from ledger.sweeps._search import Observation, bayes_point, draw

    pytest.importorskip("optuna")
    specs = {
        "cat": {"values": ["a", "b", "c"]},
        "prob": {"values": [1, 2], "probabilities": [0.2, 0.8]},
        "iu": {"min": 1, "max": 5},
        "u": {"min": 0.0, "max": 1.0},
        "qu": {"distribution": "q_uniform", "min": 0, "max": 10, "q": 2},
        "lu": {"distribution": "log_uniform", "min": -4.0, "max": 0.0},
        "luv": {"distribution": "log_uniform_values", "min": 1e-4, "max": 1.0},
        "qlu": {"distribution": "q_log_uniform", "min": 0.0, "max": 3.0, "q": 1},
        "qluv": {"distribution": "q_log_uniform_values", "min": 8, "max": 64, "q": 8},
        "ilu": {"distribution": "inv_log_uniform", "min": 0.0, "max": 3.0},
        "iluv": {"distribution": "inv_log_uniform_values", "min": 0.01, "max": 1.0},
        "n": {"distribution": "normal", "mu": 0.0, "sigma": 1.0},
        "qn": {"distribution": "q_normal", "mu": 0.0, "sigma": 2.0, "q": 0.5},
        "ln": {"distribution": "log_normal", "mu": 0.0, "sigma": 0.5},
        "qln": {"distribution": "q_log_normal", "mu": 1.0, "sigma": 0.5, "q": 0.5},
        "b": {"distribution": "beta", "a": 2.0, "b": 3.0},
        "qb": {"distribution": "q_beta", "a": 2.0, "b": 3.0, "q": 0.1},
    }
    cfg = parse_config({"method": "bayes", "metric": {"name": "loss"}, "parameters": specs})
    import random

    rng = random.Random(0)
    observations = [Observation({p.path: draw(p, rng) for p in cfg.params}, value=float(i)) for i in range(12)] + [
        Observation({p.path: draw(p, rng) for p in cfg.params}, value=None)
    ]
    asked = bayes_point(cfg, observations, seed=1)
    assert set(asked) == {p.path for p in cfg.params}
    values = {p.name: asked[p.path] for p in cfg.params}
    assert values["cat"] in ("a", "b", "c")
    assert values["prob"] in (1, 2)
    assert 1 <= values["iu"] <= 5
    assert values["qu"] % 2 == 0
    assert math.exp(-4) <= values["lu"] <= 1
    assert 1e-4 <= values["luv"] <= 1
    assert math.exp(-3) <= values["ilu"] <= 1
    assert 0.01 <= values["iluv"] <= 1
    assert 0 <= values["b"] <= 1
    assert (values["qb"] * 10) == pytest.approx(round(values["qb"] * 10))
    assert values["ln"] > 0
    assert (values["qln"] * 2).is_integer()
    assert values["qluv"] % 8 == 0
