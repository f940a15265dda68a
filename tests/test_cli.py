"""The `ledger` command line, as a user runs it."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import time

import pytest

import ledger
from ledger import _format
from tests.helpers import REPO, quiet_init


@pytest.fixture
def results(tmp_dir):
    """Two models x three seeds with fixed results, one failed run, one running run."""
    accs = {"resnet": [0.91, 0.93, 0.92], "vit": [0.95, 0.94, 0.96]}
    losses = {"resnet": [0.30, 0.28, 0.29], "vit": [0.22, 0.25, 0.21]}
    for model in ("resnet", "vit"):
        for seed in range(3):
            with quiet_init(
                "paper",
                root="results",
                name=f"{model}-{seed}",
                group=model,
                job_type="train",
                config={"model": model, "seed": seed, "lr": 0.001},
            ) as run:
                for step in range(5):
                    run.log(
                        {"loss": losses[model][seed] + (4 - step) * 0.1, "acc": accs[model][seed] - (4 - step) * 0.01}
                    )
    with quiet_init("paper", root="results", name="broken", group="resnet", job_type="eval") as run:
        run.finish(status="failed")
    live = quiet_init("paper", root="results", name="live", group="vit", job_type="train")
    yield tmp_dir / "results"
    live.finish()


class TestLs:
    def test_table(self, results, ledger_cli):
        code, out, _ = ledger_cli("ls", "--root", str(results))
        assert code == 0
        header, *rows = out.splitlines()
        assert header.split() == ["id", "name", "project", "group", "job_type", "status", "created", "duration"]
        assert [r.split()[1] for r in rows] == [
            "resnet-0",
            "resnet-1",
            "resnet-2",
            "vit-0",
            "vit-1",
            "vit-2",
            "broken",
            "live",
        ]
        assert rows[-2].split()[5] == "failed"
        assert rows[-1].split()[5] == "running"

    def test_filters_sort_columns_limit_csv(self, results, ledger_cli):
        code, out, _ = ledger_cli(
            "ls",
            "--root",
            str(results),
            "--where",
            "summary.acc > 0.9",
            "--job-type",
            "train",
            "--sort",
            "-summary.acc",
            "--columns",
            "name,config.seed,summary.acc",
            "--limit",
            "4",
            "--format",
            "csv",
        )
        assert code == 0
        rows = list(csv.reader(io.StringIO(out)))
        assert rows == [
            ["name", "config.seed", "summary.acc"],
            ["vit-2", "2", "0.96"],
            ["vit-0", "0", "0.95"],
            ["vit-1", "1", "0.94"],
            ["resnet-1", "1", "0.93"],
        ]

    def test_json_and_status_filter(self, results, ledger_cli):
        code, out, _ = ledger_cli(
            "ls", "--root", str(results), "--status", "failed", "--status", "running", "--format", "json"
        )
        assert code == 0
        data = json.loads(out)
        assert [(d["name"], d["status"]) for d in data] == [("broken", "failed"), ("live", "running")]

    def test_group_and_tag_filters(self, results, ledger_cli):
        _, out, _ = ledger_cli("ls", "--root", str(results), "--group", "vit", "--columns", "name", "--format", "csv")
        assert out.split() == ["name", "vit-0", "vit-1", "vit-2", "live"]

    def test_bad_where_exits_2_and_points_at_the_place(self, results, ledger_cli):
        code, _out, err = ledger_cli("ls", "--root", str(results), "--where", "summary.acc >")
        assert code == 2
        assert (
            err.splitlines()[0]
            == "Error: expected a value (a number, a 'string', true, false or null), found the end at position 13:"
        )
        assert err.splitlines()[1:3] == ["  summary.acc >", "               ^"]

    def test_unknown_column_is_an_error_before_output(self, results, ledger_cli):
        code, out, err = ledger_cli("ls", "--root", str(results), "--columns", "name,bogus")
        assert code == 2
        assert out == ""
        assert "unknown field 'bogus'" in err


class TestShowAndHistory:
    def test_show_text_and_prefix(self, results, ledger_cli):
        code, out, _ = ledger_cli(
            "ls", "--root", str(results), "--columns", "id", "--format", "csv", "--where", "name == 'vit-1'"
        )
        run_id = out.split()[1]
        code, out, _ = ledger_cli("show", "--root", str(results), run_id[:-2])
        assert code == 0
        assert "  name      vit-1" in out
        assert "config\n  lr     0.001\n  model  vit\n  seed   1\n" in out
        assert "summary\n  acc   0.94\n  loss  0.25\n" in out

    def test_show_json(self, results, ledger_cli):
        _, out, _ = ledger_cli(
            "ls", "--root", str(results), "--columns", "id", "--format", "csv", "--where", "name == 'vit-1'"
        )
        _, out, _ = ledger_cli("show", "--root", str(results), "--format", "json", out.split()[1])
        assert json.loads(out)["config"] == {"lr": 0.001, "model": "vit", "seed": 1}

    def test_history_keys_tail(self, results, ledger_cli):
        _, out, _ = ledger_cli(
            "ls", "--root", str(results), "--columns", "id", "--format", "csv", "--where", "name == 'vit-1'"
        )
        _, out, _ = ledger_cli(
            "history", "--root", str(results), out.split()[1], "--keys", "acc", "--tail", "2", "--format", "csv"
        )
        rows = list(csv.reader(io.StringIO(out)))
        assert rows[0] == ["_step", "_time", "acc"]
        assert [(r[0], round(float(r[2]), 4)) for r in rows[1:]] == [("3", 0.93), ("4", 0.94)]

    def test_exact_names_work_wherever_an_id_does(self, results, ledger_cli):
        code, out, err = ledger_cli("show", "vit-1", "--root", str(results))
        assert code == 0, err
        assert "  name      vit-1" in out
        code, out, err = ledger_cli("history", "vit-1", "--root", str(results), "--keys", "acc", "--format", "csv")
        assert code == 0, err
        assert len(out.splitlines()) == 6
        code, out, err = ledger_cli("show", "vit-1", "--root", str(results), "--project", "paper", "--format", "json")
        assert json.loads(out)["name"] == "vit-1"

    def test_history_tables_show_iso_times(self, results, ledger_cli):
        code, out, _ = ledger_cli("history", "vit-1", "--root", str(results), "--keys", "acc", "--tail", "1")
        assert code == 0
        header, row = out.splitlines()
        assert header.split() == ["_step", "_time", "acc"]
        step, stamp, acc = row.split()
        assert (step, acc) == ("4", "0.94")
        assert stamp.endswith("Z")
        assert stamp.startswith(time.strftime("%Y-", time.gmtime()))
        _, out, _ = ledger_cli("history", "vit-1", "--root", str(results), "--tail", "1", "--format", "json")
        assert isinstance(json.loads(out)[0]["_time"], float)  # programs get the number

    def test_show_lists_relations_sweep_and_attached_values(self, tmp_dir, ledger_cli):
        train = quiet_init("p", root="results", name="train")
        train.log({"loss": 1.0})
        train.finish()
        with quiet_init("p", root="results", name="eval", parent=train.id, links={"evaluates": train.id}) as ev:
            ledger.open("results").run(train.id).update_summary({"eval/acc": 0.91}, by=ev)
        rerun = quiet_init("p", root="results", name="rerun")
        rerun.finish()
        path = tmp_dir / "results/p/runs" / rerun.id / "run.yaml"
        doc = _format.yaml_load(path.read_bytes(), str(path))
        doc["reproduces"] = train.id
        doc["sweep"] = {"id": "20261129-000000-abcdef", "trial": 3, "fold": 1}
        path.write_bytes(_format.yaml_dump(doc))
        code, out, err = ledger_cli("show", "train", "--root", "results")
        assert code == 0, err
        relations = out.split("relations\n")[1].split("config")[0]
        assert f"parent (from)     {ev.id} eval" in relations
        assert f"evaluates (from)  {ev.id} eval" in relations
        assert f"attached by {ev.id}\n  eval/acc  0.91" in out
        _, out, _ = ledger_cli("show", "eval", "--root", "results")
        assert f"parent     {train.id} train" in out
        assert f"evaluates  {train.id} train" in out
        _, out, _ = ledger_cli("show", "rerun", "--root", "results")
        assert "  sweep     20261129-000000-abcdef trial 3, fold 1" in out
        assert f"reproduces  {train.id} train" in out

    def test_unknown_run_is_a_one_line_error(self, results, ledger_cli):
        code, _, err = ledger_cli("show", "--root", str(results), "nope")
        assert code == 1
        assert err.strip().splitlines() == [
            f"Error: no run 'nope' in {results} (give a run id, a unique start of one, or its exact name)"
        ]


class TestStatsExportPlot:
    def test_stats_by_group(self, results, ledger_cli):
        code, out, _ = ledger_cli("stats", "--root", str(results), "--by", "job_type", "--format", "json")
        assert code == 0
        data = {d["job_type"]: d for d in json.loads(out)}
        assert data["train"]["runs"] == 7
        assert data["eval"]["runs"] == 1
        assert data["train"]["hours"] >= 0

    def test_latex_export_by_a_config_field(self, results, ledger_cli):
        code, out, _ = ledger_cli(
            "export",
            "--root",
            str(results),
            "--job-type",
            "train",
            "--group-by",
            "config.model",
            "--metric",
            "summary.acc",
            "--metric",
            "summary.loss:min",
            "--format",
            "latex",
        )
        assert code == 0
        assert out.splitlines() == [
            r"\begin{tabular}{lrrr}",
            r"\toprule",
            r"model & $n$ & acc & loss \\",
            r"\midrule",
            r"resnet & 3 & 0.920 $\pm$ 0.010 & 0.290 $\pm$ 0.010 \\",
            r"vit & 3 & \textbf{0.950 $\pm$ 0.010} & \textbf{0.227 $\pm$ 0.021} \\",
            r"\bottomrule",
            r"\end{tabular}",
        ]  # the failed and the running run are not counted (finished runs only)

    def test_markdown_csv_json_exports(self, results, ledger_cli):
        base = [
            "export",
            "--root",
            str(results),
            "--status",
            "finished",
            "--group-by",
            "group",
            "--metric",
            "summary.acc",
        ]
        _, md, _ = ledger_cli(*base, "--format", "markdown")
        assert md.splitlines() == [
            "| group | n | acc |",
            "| --- | ---: | ---: |",
            "| resnet | 3 | 0.920 ± 0.010 |",
            "| vit | 3 | **0.950 ± 0.010** |",
        ]
        _, out, _ = ledger_cli(*base, "--format", "csv")
        header, resnet, _vit = list(csv.reader(io.StringIO(out)))
        assert header[:5] == ["group", "n", "summary.acc_mean", "summary.acc_std", "summary.acc_n"]
        assert resnet[:5] == ["resnet", "3", "0.92", "0.010000000000000009", "3"]
        assert dict(zip(header, resnet, strict=True))["summary.acc_median"] == "0.92"
        _, out, _ = ledger_cli(*base, "--format", "json")
        assert json.loads(out)[1]["summary.acc"]["n"] == 3

    def test_export_to_file_and_latex_escaping(self, results, ledger_cli, tmp_dir):
        code, _, err = ledger_cli(
            "export",
            "--root",
            str(results),
            "--status",
            "finished",
            "--group-by",
            "name",
            "--metric",
            "summary.acc",
            "--format",
            "latex",
            "-o",
            "t.tex",
        )
        assert code == 0
        assert "wrote t.tex" in err
        text = (tmp_dir / "t.tex").read_text()
        assert r"\begin{tabular}{lrr}" in text
        assert "resnet-0 & 1 & 0.910 $\\pm$ --- \\\\" in text  # one value: no spread

    @pytest.mark.parametrize(("suffix", "magic"), [("png", b"\x89PNG"), ("pdf", b"%PDF"), ("svg", b"<?xml")])
    def test_plot_writes_the_figure(self, results, ledger_cli, tmp_dir, suffix, magic):
        code, _, err = ledger_cli(
            "plot",
            "--root",
            str(results),
            "--metric",
            "loss",
            "--group-by",
            "config.model",
            "--status",
            "finished",
            "-o",
            f"fig.{suffix}",
        )
        assert code == 0, err
        assert "wrote fig." in err
        assert "(2 groups)" in err
        data = (tmp_dir / f"fig.{suffix}").read_bytes()
        assert data.startswith(magic)
        assert len(data) > 5000

    def test_plot_of_a_metric_nobody_logged(self, results, ledger_cli):
        code, _, err = ledger_cli("plot", "--root", str(results), "--metric", "nope", "-o", "x.png")
        assert code == 1
        assert "no run has values for metric 'nope'" in err


class TestVerify:
    def test_clean_ledger(self, results, ledger_cli):
        code, out, _ = ledger_cli("verify", "--root", str(results))
        assert code == 0
        assert out.splitlines()[-1] == "checked 8 runs: 0 errors, 0 torn last lines, 0 crashed"

    def test_torn_line_is_reported_not_an_error_unless_strict(self, results, ledger_cli):
        metrics = next(results.glob("paper/runs/*/metrics.jsonl"))
        with metrics.open("ab") as f:
            f.write(b'{"_step": 9, "lo')
        code, out, _ = ledger_cli("verify", "--root", str(results))
        assert code == 0
        assert any(line.startswith("torn ") and "skipped a torn last line" in line for line in out.splitlines())
        code, _, _ = ledger_cli("verify", "--root", str(results), "--strict")
        assert code == 1

    def test_corruption_and_bad_manifests_fail(self, results, ledger_cli):
        runs = sorted(results.glob("paper/runs/*"))
        (runs[0] / "metrics.jsonl").write_bytes(b'{"_step":0}\nGARBAGE\n{"_step":1}\n')
        (runs[1] / "run.yaml").write_text("format: 2\nid: x\nproject: paper\n")
        (runs[2] / "run.yaml").write_text(
            (runs[2] / "run.yaml").read_text().replace(f"id: {runs[2].name}", "id: other")
        )
        code, out, _ = ledger_cli("verify", "--root", str(results))
        assert code == 1
        errors = [line for line in out.splitlines() if line.startswith("error")]
        assert len(errors) == 3
        assert any("skipped line 2 of 3, not a JSON object" in e for e in errors)
        assert any("format 2 is not supported" in e for e in errors)
        assert any("id 'other' does not match its folder" in e for e in errors)


class TestUsage:
    def test_no_ledger_is_a_one_line_error(self, tmp_dir, ledger_cli):
        code, _, err = ledger_cli("ls", "--root", "nowhere")
        assert code == 1
        assert err.strip().splitlines() == [
            (
                f"Error: no ledger at {tmp_dir / 'nowhere'} (no ledger.yaml); pass the root the runs were logged to "
                "(root=, --root, or $LEDGER_ROOT)"
            )
        ]

    def test_bad_usage_exits_2(self, tmp_dir, ledger_cli):
        code, _, err = ledger_cli("ls", "--no-such-flag")
        assert code == 2
        assert "No such option" in err

    def test_format_2_root_is_refused(self, tmp_dir, ledger_cli):
        (tmp_dir / "results").mkdir()
        (tmp_dir / "results/ledger.yaml").write_text("format: 2\n")
        code, _, err = ledger_cli("ls", "--root", "results")
        assert code == 1
        assert "format 2 is not supported" in err

    def test_help_lists_whole_descriptions(self, tmp_dir, ledger_cli):
        code, out, _ = ledger_cli("--help")
        assert code == 0
        commands = out.split("Commands:")[1]
        flat = " ".join(commands.split())
        assert "..." not in commands
        assert (
            "stats Runs, hours and GPU hours (and their cost, with --price) per group, job type, user, month, host or project."
            in flat
        )
        code, out, _ = ledger_cli("sweep", "--help")
        assert "..." not in out.split("Commands:")[1]

    def test_the_installed_command_runs(self, results):
        proc = subprocess.run(
            ["ledger", "ls", "--root", str(results), "--format", "json"],
            capture_output=True,
            text=True,
            check=False,
            env={"PATH": f"{REPO / '.venv/bin'}:/usr/bin:/bin"},
        )
        assert proc.returncode == 0, proc.stderr
        assert len(json.loads(proc.stdout)) == 8
