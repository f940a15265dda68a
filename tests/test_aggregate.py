"""Numbers for a paper: group tables (n per cell, finished runs, groups keyed by project),
confidence intervals and quartiles checked against scipy and numpy, the golden LaTeX and
markdown exports of a fixture with eval, failed and killed runs and single-run groups, the
best run and configuration per group, and compute hours with their price."""

from __future__ import annotations

import json
import math
import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest

import ledger
from ledger import _format
from ledger._query import STATS, aggregate_runs, describe
from ledger._query._aggregate import cell, t_quantile
from tests.helpers import REPO, quiet_init, start_python

stats = pytest.importorskip("scipy.stats")


# ---- one cell ------------------------------------------------------------------------------------


@pytest.mark.parametrize("values", [[1.0, 2.0], [0.91, 0.93, 0.92], [3.5, -1.0, 2.0, 8.0, 0.25], list(range(40))])
def test_a_cell_is_scipys_and_numpys(values):
    """mean, sample std, sem, the 95% Student-t interval and the quartiles, as scipy and
    numpy compute them."""
    c = cell([*values, None, math.nan, math.inf, "x", True])  # only finite numbers count
    a = np.array(values, dtype=float)
    assert c.n == len(values)
    assert c.mean == pytest.approx(a.mean())
    assert c.std == pytest.approx(a.std(ddof=1))
    assert c.sem == pytest.approx(stats.sem(a))
    low, high = stats.t.interval(0.95, len(a) - 1, loc=a.mean(), scale=stats.sem(a))
    assert (c.ci95_low, c.ci95_high) == (pytest.approx(low, rel=1e-9), pytest.approx(high, rel=1e-9))
    assert c.median == pytest.approx(np.median(a))
    assert (c.q1, c.q3) == (pytest.approx(np.percentile(a, 25)), pytest.approx(np.percentile(a, 75)))
    assert c.iqr == pytest.approx(np.percentile(a, 75) - np.percentile(a, 25))
    assert (c.min, c.max) == (a.min(), a.max())


@pytest.mark.parametrize("df", [1, 2, 3, 5, 10, 29, 100, 1000])
@pytest.mark.parametrize("p", [0.5, 0.9, 0.975, 0.995, 0.025])
def test_t_quantiles_are_scipys(df, p):
    assert t_quantile(p, df) == pytest.approx(stats.t.ppf(p, df), rel=1e-10, abs=1e-12)


def test_one_value_has_no_spread_and_none_has_nothing():
    one = cell([0.5])
    assert (one.n, one.mean, one.median) == (1, 0.5, 0.5)
    assert (one.std, one.sem, one.ci95, one.ci95_low, one.iqr) == (None, None, None, None, None)
    assert one.text() == "0.5 ± —"
    assert cell([]).n == 0
    assert cell([None, math.nan]).mean is None
    assert describe([1, 2, 3]).std == pytest.approx(1.0)  # the one mean ± std the rest builds on


# ---- the fixture of a paper's table ----------------------------------------------------------------

RUNS = [
    # project, name, group, job_type, status, summary
    ("paper", "resnet-0", "resnet", "train", "finished", {"acc": 0.90, "loss": 0.30}),
    ("paper", "resnet-1", "resnet", "train", "finished", {"acc": 0.92, "loss": 0.28}),
    ("paper", "resnet-2", "resnet", "train", "finished", {"acc": 0.94}),  # loss never logged
    ("paper", "resnet-eval", "resnet", "eval", "finished", {"eval_acc": 0.91}),  # an eval job: no acc
    ("paper", "resnet-diverged", "resnet", "train", "failed", {"acc": 0.10, "loss": 9.0}),
    ("paper", "vit-0", "vit", "train", "finished", {"acc": 0.95, "loss": 0.20}),
    ("paper", "vit-1", "vit", "train", "finished", {"acc": 0.97, "loss": 0.22}),
    ("paper", "vit-stopped", "vit", "train", "killed", {"acc": 0.50, "loss": 2.0}),
    ("paper", "mlp-0", "mlp", "train", "finished", {"acc": 0.80, "loss": 0.50}),  # a single-run group
    ("paper", "loose", None, "train", "finished", {"acc": 0.70, "loss": 0.40}),
    ("scratch", "loose-too", None, "train", "finished", {"acc": 0.60, "loss": 0.60}),  # no group, another project
]


@pytest.fixture
def paper(tmp_dir) -> Path:
    for project, name, group, job_type, status, summary in RUNS:
        run = quiet_init(project, root="results", name=name, group=group, job_type=job_type)
        for key, value in summary.items():
            run.summary[key] = value
        run.finish(status=status)
    return tmp_dir / "results"


def test_the_table_counts_finished_runs_per_cell_keyed_by_project(paper):
    """By hand: resnet counts its 3 finished train runs and the finished eval run (4), acc of
    3 of them, loss of 2; the failed run is left out. vit: 2 (the killed one left out). mlp:
    1, so no std. The runs without a group are two rows: one per project."""
    table = aggregate_runs(ledger.open(paper).runs(), "group", ["summary.acc", "summary.loss"])
    rows = {r.key: r for r in table.rows}
    assert list(rows) == [("paper", "mlp"), ("paper", "resnet"), ("paper", "vit"), ("paper", None), ("scratch", None)]
    resnet = rows["paper", "resnet"]
    assert len(resnet.runs) == 4
    assert (resnet.cells["summary.acc"].n, resnet.cells["summary.loss"].n) == (3, 2)
    assert resnet.cells["summary.acc"].mean == pytest.approx(0.92)
    assert resnet.cells["summary.acc"].std == pytest.approx(0.02)
    assert resnet.cells["summary.loss"].mean == pytest.approx(0.29)
    assert resnet.cells["summary.loss"].std == pytest.approx(math.sqrt(2) * 0.01)
    vit = rows["paper", "vit"]
    assert (len(vit.runs), vit.cells["summary.acc"].mean) == (2, pytest.approx(0.96))
    mlp = rows["paper", "mlp"]
    assert (len(mlp.runs), mlp.cells["summary.acc"].n, mlp.cells["summary.acc"].std) == (1, 1, None)
    assert table.left_out == {"failed": 1, "killed": 1}
    assert table.counted == 9
    assert table.describe_counts() == "counted 9 finished runs in 5 groups; left out 2 (1 failed, 1 killed)"
    every = aggregate_runs(ledger.open(paper).runs(), "group", ["summary.acc"], status=None)
    assert {r.key: len(r.runs) for r in every.rows}["paper", "resnet"] == 5


def test_the_dataframe(paper):
    lg = ledger.open(paper)
    df = lg.runs().aggregate(by="group", metrics=["summary.acc", "summary.loss"], stat=("mean", "std", "n", "ci95"))
    assert df.index.names == ["project", "group"]
    assert list(df.columns)[:5] == [("runs", ""), ("summary.acc", "mean"), ("summary.acc", "std"),
                                    ("summary.acc", "n"), ("summary.acc", "ci95")]  # fmt: skip
    assert df.loc[("paper", "resnet"), ("summary.loss", "n")] == 2
    assert df.loc[("paper", "resnet"), "runs"] == 4
    assert math.isnan(df.loc[("paper", "mlp"), ("summary.acc", "std")])  # one value: no std
    assert df.loc[("paper", "vit"), ("summary.acc", "ci95")] == pytest.approx(
        stats.t.ppf(0.975, 1) * stats.sem([0.95, 0.97])
    )
    assert df.attrs["counted"] == 9
    assert df.attrs["left_out"] == {"failed": 1, "killed": 1}
    assert df["summary.acc"]["mean"].notna().all()
    every = lg.runs().aggregate(by="group", metrics="summary.acc", stat=list(STATS), status=None)
    assert every.loc[("paper", "resnet"), "runs"] == 5
    text = lg.runs().aggregate(by=["group", "job_type"], metrics="summary.acc", stat="text")
    assert text.loc[("paper", "resnet", "train"), ("summary.acc", "text")] == "0.92 ± 0.02"
    assert text.loc[("paper", "mlp", "train"), ("summary.acc", "text")] == "0.8 ± —"
    with pytest.raises(ValueError, match="unknown statistic 'average'"):
        lg.runs().aggregate(metrics="summary.acc", stat="average")
    with pytest.raises(ValueError, match="status 'done' is not one of"):
        lg.runs().aggregate(metrics="summary.acc", status="done")


def test_the_best_run_and_the_best_configuration_per_group(tmp_dir):
    for model, lr, seed, acc in [
        ("cnn", 0.1, 0, 0.80), ("cnn", 0.1, 1, 0.84), ("cnn", 0.01, 0, 0.90), ("cnn", 0.01, 1, 0.86),
        ("mlp", 0.1, 0, 0.70), ("mlp", 0.1, 1, 0.78), ("mlp", 0.01, 0, 0.75), ("mlp", 0.01, 1, 0.71),
    ]:  # fmt: skip
        with quiet_init("p", root="results", config={"model": model, "lr": lr, "seed": seed}, group=model) as run:
            run.summary["acc"] = acc
    runs = ledger.open("results").runs()
    best = runs.best(per="group", metric="summary.acc", goal="max")
    assert [(r.config["model"], r.summary["acc"]) for r in best] == [("cnn", 0.90), ("mlp", 0.78)]
    assert runs.best(metric="summary.acc").summary["acc"] == 0.90
    assert runs.best("summary.acc", "min").summary["acc"] == 0.70  # the old spelling still works
    table = runs.aggregate(by=["config.model", "config.lr"], metrics="summary.acc", best_per="config.model")
    assert list(table.index) == [("p", "cnn", 0.01), ("p", "mlp", 0.1)]  # best mean over seeds per model
    assert list(table["summary.acc", "mean"]) == [pytest.approx(0.88), pytest.approx(0.74)]
    assert list(table["summary.acc", "n"]) == [2, 2]


# ---- ledger export: the golden files ----------------------------------------------------------------

EXPORT = ["export", "--group-by", "group", "--metric", "summary.acc", "--metric", "summary.loss:min"]


@pytest.mark.parametrize(("fmt", "golden"), [("latex", "export.tex"), ("markdown", "export.md")])
def test_export_matches_the_golden_file(paper, ledger_cli, fmt, golden):
    code, out, err = ledger_cli(*EXPORT, "--root", str(paper), "--format", fmt)
    assert code == 0, err
    assert out == (REPO / "tests/data" / golden).read_text()
    assert "counted 9 finished runs in 5 groups; left out 2 (1 failed, 1 killed)" in err


def test_the_golden_files_say_what_was_counted_cell_by_cell():
    """The golden markdown, read by hand: n is the runs counted per row, a cell from fewer
    says so, a single value has no spread, and the project shows because two share '(none)'."""
    lines = (REPO / "tests/data/export.md").read_text().splitlines()
    assert lines[0] == "| project | group | n | acc | loss |"
    rows = {tuple(c.strip() for c in line.strip("|").split("|"))[:2]: line for line in lines[2:]}
    assert rows["paper", "resnet"] == "| paper | resnet | 4 | 0.920 ± 0.020 (n=3) | 0.290 ± 0.014 (n=2) |"
    assert rows["paper", "vit"] == "| paper | vit | 2 | **0.960 ± 0.014** | **0.210 ± 0.014** |"
    assert rows["paper", "mlp"] == "| paper | mlp | 1 | 0.800 ± — | 0.500 ± — |"
    assert rows["paper", "(none)"] == "| paper | (none) | 1 | 0.700 ± — | 0.400 ± — |"
    assert rows["scratch", "(none)"] == "| scratch | (none) | 1 | 0.600 ± — | 0.600 ± — |"
    tex = (REPO / "tests/data/export.tex").read_text()
    assert (
        r"resnet & 4 & 0.920 $\pm$ 0.020 \textsuperscript{$n=3$} & 0.290 $\pm$ 0.014 \textsuperscript{$n=2$} \\" in tex
    )
    assert r"mlp & 1 & 0.800 $\pm$ --- & 0.500 $\pm$ --- \\" in tex


def test_export_other_statistics_and_formats(paper, ledger_cli):
    base = [*EXPORT, "--root", str(paper), "--project", "paper"]
    _, out, _ = ledger_cli(*base, "--stat", "mean,ci95")
    row = next(line for line in out.splitlines() if "| vit |" in line)
    half = stats.t.ppf(0.975, 1) * stats.sem([0.95, 0.97])
    assert f"0.960 ± {half:.3f}" in row
    assert "project" not in out.splitlines()[0]  # one project: no project column
    _, out, _ = ledger_cli(*base, "--stat", "median,iqr")
    row = next(line for line in out.splitlines() if "| resnet |" in line)
    assert "0.920 [0.910, 0.930] (n=3)" in row
    _, out, _ = ledger_cli(*base, "--format", "json")
    data = {r["group"]: r for r in json.loads(out)}
    assert data["resnet"]["n"] == 4
    assert data["resnet"]["summary.loss"]["n"] == 2
    assert data["mlp"]["summary.acc"]["std"] is None
    _, out, _ = ledger_cli(*base, "--all-statuses", "--format", "json")
    assert {r["group"]: r["n"] for r in json.loads(out)}["resnet"] == 5
    _, out, _ = ledger_cli(*base, "--status", "killed", "--format", "json")
    assert [(r["group"], r["n"]) for r in json.loads(out)] == [("vit", 1)]


def test_export_refuses_a_misspelt_metric_with_the_closest_names(paper, ledger_cli):
    code, out, err = ledger_cli("export", "--root", str(paper), "--group-by", "group", "--metric", "summary.accc")
    assert code == 2
    assert out == ""
    assert "--metric: no run has the field 'summary.accc'; did you mean summary.acc" in err
    code, _, err = ledger_cli("export", "--root", str(paper), "--group-by", "config.modle", "--metric", "summary.acc")
    assert code == 2
    assert "--group-by: no run has the field 'config.modle'" in err


def test_best_configuration_per_group_as_latex(tmp_dir, ledger_cli):
    """The README's one-liner: a LaTeX table of the best config per group, mean ± std over seeds."""
    for model, lr, seed, acc in [
        ("cnn", 0.1, 0, 0.80), ("cnn", 0.1, 1, 0.84), ("cnn", 0.01, 0, 0.90), ("cnn", 0.01, 1, 0.86),
        ("mlp", 0.1, 0, 0.70), ("mlp", 0.1, 1, 0.78),
    ]:  # fmt: skip
        with quiet_init("p", root="results", config={"model": model, "lr": lr, "seed": seed}) as run:
            run.summary["test_acc"] = acc
    code, out, err = ledger_cli(
        "export", "--group-by", "config.model,config.lr", "--metric", "summary.test_acc", "--best-per",
        "config.model", "--format", "latex", "--root", "results",
    )  # fmt: skip
    assert code == 0, err
    assert out.splitlines()[2:6] == [
        r"model & lr & $n$ & test\_acc \\",
        r"\midrule",
        r"cnn & 0.01 & 2 & \textbf{0.880 $\pm$ 0.028} \\",
        r"mlp & 0.1 & 2 & 0.740 $\pm$ 0.057 \\",
    ]


# ---- compute hours and their price -----------------------------------------------------------------------


def _run(project: str, seconds: float, gpus: list[str], visible: str | None = None, group: str = "g") -> None:
    run = quiet_init(project, root="results", group=group)
    run.finish()
    path = Path("results") / project / "runs" / run.id / "run.yaml"
    doc = _format.yaml_load(path.read_bytes(), str(path))
    doc["duration_s"] = seconds
    doc["gpu_count"] = len(gpus) if visible is None else len(visible.split(","))
    doc["host"] = {"hostname": "h", "gpus": [{"index": i, "name": n} for i, n in enumerate(gpus)]}
    if visible is not None:
        doc["host"]["scheduler"] = {"CUDA_VISIBLE_DEVICES": visible}
    path.write_bytes(_format.yaml_dump(doc))


def test_compute_hours_with_a_price_per_gpu_model(tmp_dir):
    _run("a", 3600, ["NVIDIA A100-SXM4-80GB"] * 2)  # 2 A100 GPU hours
    _run("a", 1800, ["NVIDIA H100 80GB HBM3", "Tesla T4"], visible="0")  # 0.5 H100 hours (GPU 0 only)
    _run("b", 7200, [])  # 2 CPU hours
    _run("b", 360, ["Tesla T4"])  # 0.1 GPU hours of a model without its own price
    lg = ledger.open("results")
    table = lg.compute_hours(by="project", price={"A100": 3.0, "H100": 4.5, "gpu": 1.0, "cpu": 0.1})
    rows = {r["project"]: r for r in table.to_dict("records")}
    assert rows["a"]["gpu_hours"] == pytest.approx(2.5)
    assert rows["a"]["cost"] == pytest.approx(2 * 3.0 + 0.5 * 4.5)
    assert rows["b"]["hours"] == pytest.approx(2.1)
    assert rows["b"]["cost"] == pytest.approx(2 * 0.1 + 0.1 * 1.0)
    flat = lg.compute_hours(by="project", price={"gpu": 2.5, "cpu": 0.1})
    assert list(flat["cost"]) == [pytest.approx(2.5 * 2.5), pytest.approx(0.2 + 0.25)]
    assert "cost" not in lg.compute_hours(by="project").columns
    with pytest.warns(UserWarning, match=r"no price for NVIDIA H100 80GB HBM3 \(0\.5 GPU hours\)"):
        partial = lg.compute_hours(by="project", price={"A100": 3.0})
    assert math.isnan(partial["cost"][0])  # some of its GPU hours have no price: no cost
    with pytest.raises(ValueError, match="is not a price per hour"):
        lg.compute_hours(price={"gpu": -1})
    month = time.strftime("%Y-%m", time.gmtime())
    assert len(lg.compute_hours(by="project", where=f"created >= '{month}'")) == 2


def test_compute_hours_by_gpu_model(tmp_dir, ledger_cli):
    _run("a", 3600, ["NVIDIA A100-SXM4-80GB"] * 2)
    _run("a", 1800, ["NVIDIA H100 80GB HBM3", "Tesla T4"], visible="0")  # the H100 only
    _run("b", 7200, [])
    table = ledger.open("results").compute_hours(by="gpu", price={"gpu": 1.0, "A100": 3.0, "cpu": 0.5})
    rows = {r["gpu"]: r for r in table.to_dict("records")}
    assert set(rows) == {"(no GPU)", "NVIDIA A100-SXM4-80GB", "NVIDIA H100 80GB HBM3"}
    assert rows["NVIDIA A100-SXM4-80GB"]["gpu_hours"] == pytest.approx(2.0)
    assert rows["NVIDIA A100-SXM4-80GB"]["cost"] == pytest.approx(6.0)
    assert rows["NVIDIA H100 80GB HBM3"]["cost"] == pytest.approx(0.5)
    assert rows["(no GPU)"]["cost"] == pytest.approx(1.0)
    code, out, err = ledger_cli("stats", "--root", "results", "--by", "gpu", "--format", "json")
    assert code == 0, err
    assert {r["gpu"] for r in json.loads(out)} >= {"(no GPU)", "NVIDIA H100 80GB HBM3"}


def test_stats_prints_hours_with_sensible_precision_and_a_cost(tmp_dir, ledger_cli):
    _run("a", 15, ["NVIDIA A100-SXM4-80GB"])
    _run("a", 3600 * 250, [], group="big")
    code, out, err = ledger_cli("stats", "--root", "results", "--price", "A100=3.0,cpu=0.1")
    assert code == 0, err
    lines = [line.split() for line in out.splitlines()]
    assert lines[0] == ["group", "runs", "hours", "gpu_hours", "allocated_runs", "cost"]
    assert lines[1] == ["big", "1", "250", "0", "0", "25.00"]
    assert lines[2] == ["g", "1", "0.00417", "0.00417", "0", "0.01"]  # 15 s is not 0 hours
    assert lines[3] == ["total", "2", "250", "0.00417", "0", "25.01"]
    code, out, _ = ledger_cli(
        "stats", "--root", "results", "--price", "A100=3", "--price", "cpu=0.1", "--format", "json"
    )
    assert json.loads(out)[1]["cost"] == pytest.approx(15 / 3600 * 3)
    code, _, err = ledger_cli("stats", "--root", "results", "--price", "A100")
    assert code == 2
    assert "give NAME=PRICE per hour" in err


CRASHING = """
import os, signal, time, ledger
run = ledger.init("p", root="results", capture_output=False, system_metrics=False, flush_interval=0.05)
print(run.id, flush=True)
for i in range(20):
    run.log({"loss": 1.0 / (i + 1)})
    time.sleep(0.1)
time.sleep(0.3)
os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.slow
def test_a_run_killed_before_its_first_periodic_heartbeat_keeps_its_hours(tmp_dir):
    """kill -9 after 2 s, before any heartbeat after the first: the run reads crashed and its
    duration is its last record's time minus its start, not the 0 its manifest says."""
    with start_python(CRASHING, tmp_dir, env={"LEDGER_HEARTBEAT_INTERVAL": "1000"}) as proc:
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    run_id = out.split()[0]
    path = tmp_dir / "results/p/runs" / run_id / "run.yaml"
    doc = _format.yaml_load(path.read_bytes(), str(path))
    assert (doc["status"], doc["duration_s"], doc["heartbeat"]) == ("running", 0.0, doc["created"])
    doc["heartbeat_s"] = 0.1  # stale now, without waiting 3000 s
    path.write_bytes(_format.yaml_dump(doc))
    lg = ledger.open("results", cache=False)
    (run,) = lg.runs()
    assert run.status == "crashed"
    last = run.records()[-1]["_time"]
    assert run.active_seconds() == pytest.approx(last - _format.parse_iso(doc["created"]), abs=1e-3)
    assert run.active_seconds() > 1.5
    assert lg.compute_hours(by="project")["hours"][0] == pytest.approx(run.active_seconds() / 3600, abs=1e-6)


EARLY = """
import time, ledger
run = ledger.init("p", root="results", capture_output=False, system_metrics=False)
print(run.id, flush=True)
time.sleep(120)
"""


@pytest.mark.slow
def test_the_second_heartbeat_comes_soon_after_the_start(tmp_dir):
    """With the default 30 s period, the manifest is rewritten about 5 s after the start (not
    at 30 s): a run killed then already shows that it lived."""
    env = {k: v for k, v in os.environ.items() if k != "LEDGER_HEARTBEAT_INTERVAL"}
    with start_python(EARLY, tmp_dir, env=env) as proc:
        run_id = proc.stdout.readline().strip()
        path = tmp_dir / "results/p/runs" / run_id / "run.yaml"
        for _ in range(200):  # until the manifest is rewritten (at most 20 s)
            doc = _format.yaml_load(path.read_bytes(), str(path))
            if doc["duration_s"] > 0:
                break
            time.sleep(0.1)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    assert doc["heartbeat_s"] == 30
    assert 4.5 <= doc["duration_s"] <= 10  # the early heartbeat, not the one at 30 s
    assert _format.parse_iso(doc["heartbeat"]) - _format.parse_iso(doc["created"]) == pytest.approx(
        doc["duration_s"], abs=0.01
    )


def test_the_readmes_everyday_one_liners_run(tmp_dir, ledger_cli):
    """The README's one-liners (Python and shell), on a small ledger that has their fields."""
    import shlex

    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("Everyday questions, one line each:") : readme.index("**Aggregates**")]
    python_block = section.split("```python\n")[1].split("```")[0]
    shell_block = section.split("```bash\n")[1].split("```")[0]
    for model, lr, seed, batch in [("cnn", 0.1, 0, 32), ("cnn", 0.01, 1, 64), ("mlp", 0.1, 0, 32)]:
        with quiet_init(
            "p", root="results", group=model, job_type="train",
            config={"model": model, "lr": lr, "seed": seed, "batch_size": batch},
        ) as run:  # fmt: skip
            run.summary.update({"val_acc": lr * 5, "test_acc": lr * 4})
    lg = ledger.open("results")
    names: dict = {"lg": lg, "ledger": ledger}
    results = []
    for line in python_block.splitlines():  # the README's own lines: statements run, expressions kept
        try:
            code = compile(line, "README.md", "eval")
        except SyntaxError:
            exec(line, names)
        else:
            results.append(eval(code, names))
    assert len(results) == 4
    assert list(results[1]["group"]) == ["cnn", "mlp"]
    assert len(results[2]) == 3
    assert list(results[3].index) == [("p", "cnn", 0.1), ("p", "mlp", 0.1)]
    for line in shell_block.splitlines():
        args = shlex.split(line)
        assert args[0] == "ledger"
        code, out, err = ledger_cli(*args[1:], "--root", "results")
        assert code == 0, (line, err)
        assert out
