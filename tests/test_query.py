"""ledger.open: selecting, sorting, ranking and summing runs; the filter language."""

from __future__ import annotations

import math
import time

import pytest
import yaml

import ledger
from ledger._query import _index
from tests.helpers import quiet_init

RUNS = [
    # name, group, job_type, tags, config, summary, status
    (
        "r1",
        "resnet",
        "train",
        ["baseline"],
        {"lr": 1e-3, "model": {"depth": 18}, "opt": "adam"},
        {"acc": 0.91, "loss": 0.3},
        "finished",
    ),
    (
        "r2",
        "resnet",
        "train",
        [],
        {"lr": 1e-2, "model": {"depth": 50}, "opt": "sgd"},
        {"acc": 0.95, "loss": 0.2},
        "finished",
    ),
    (
        "r3",
        "resnet",
        "eval",
        ["dataset=cifar10"],
        {"lr": 1e-4, "model": {"depth": 18}, "opt": "adam"},
        {"acc": 0.80},
        "failed",
    ),
    (
        "r4",
        "vit",
        "train",
        ["baseline", "big"],
        {"lr": 3e-4, "model": {"depth": 12}, "opt": "adamw", "f1 weight": 2},
        {"acc": 0.97, "loss": math.nan},
        "finished",
    ),
    ("r5", "vit", "eval", [], {"lr": 3e-4, "model": {"depth": 12}}, {"val loss": 0.25}, "killed"),
    ("r6", None, None, [], {"lr": "0.001", "opt": "adam"}, {}, "crashed"),
]


def _make(root, spec, gpu_count=0):
    name, group, job_type, tags, config, summary, status = spec
    run = quiet_init(
        "proj" if name != "r6" else "other",
        root=root,
        name=name,
        group=group,
        job_type=job_type,
        tags=tags,
        config=config,
    )
    for key, value in summary.items():
        run.summary[key] = value
    time.sleep(0.002)  # distinct creation times keep the default order stable
    run.finish(status="finished" if status in ("finished", "crashed") else status)
    path = root / run.project / "runs" / run.id / "run.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["duration_s"] = {"r1": 3600.0, "r2": 7200.0, "r3": 1800.0, "r4": 3600.0, "r5": 60.0, "r6": 10.0}[name]
    doc["gpu_count"] = {"r4": 2, "r2": 1}.get(name, gpu_count)
    if status == "crashed":  # what a process killed mid-run leaves: running, heartbeat long ago
        doc["status"] = "running"
        doc["ended"] = None
        doc["heartbeat"] = "2020-01-01T00:00:00.000Z"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return run.id


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("query") / "results"
    ids = {spec[0]: _make(root, spec) for spec in RUNS}
    return root, ids


@pytest.fixture
def lg(built):
    return ledger.open(built[0])


def names(runset):
    return [r.name for r in runset]


class TestSelecting:
    def test_all_runs_in_creation_order(self, lg):
        assert names(lg.runs()) == ["r1", "r2", "r3", "r4", "r5", "r6"]
        assert lg.projects() == ["other", "proj"]
        assert len(lg) == 6

    def test_keyword_filters(self, lg):
        assert names(lg.runs("proj", group="resnet", job_type="train")) == ["r1", "r2"]
        assert names(lg.runs(group=["vit", "resnet"], job_type="eval")) == ["r3", "r5"]
        assert names(lg.runs(tags="baseline")) == ["r1", "r4"]
        assert names(lg.runs(tags=["baseline", "big"])) == ["r4"]
        assert names(lg.runs(status=["failed", "killed"])) == ["r3", "r5"]

    def test_crashed_is_inferred_from_a_stale_heartbeat(self, lg):
        assert lg.run(names_to_id(lg, "r6")).status == "crashed"
        assert names(lg.runs(status="crashed")) == ["r6"]
        assert names(lg.runs(where="status == 'crashed'")) == ["r6"]

    def test_order_by_and_limit(self, lg):
        assert names(lg.runs(order_by="-summary.acc")) == ["r4", "r2", "r1", "r3", "r5", "r6"]  # missing last
        assert names(lg.runs(order_by="summary.acc", limit=2)) == ["r3", "r1"]
        assert names(lg.runs(order_by=["group", "-config.lr"])) == ["r2", "r1", "r3", "r4", "r5", "r6"]

    def test_best_ignores_missing_and_nan(self, lg):
        assert lg.runs().best("summary.acc").name == "r4"
        assert lg.runs().best("summary.loss", goal="min").name == "r2"  # r4's NaN loss is not a winner
        assert (
            lg.runs(group="vit").best("summary.loss") is None  # only a NaN and a missing value
        )
        with pytest.raises(ValueError, match="goal must be 'max' or 'min'"):
            lg.runs().best("summary.acc", goal="up")

    def test_run_by_prefix(self, lg, built):
        _root, ids = built
        assert lg.run(ids["r3"]).name == "r3"
        assert lg.run(ids["r3"][:-1]).name == "r3"
        with pytest.raises(ledger.RunNotFoundError, match="ambiguous"):
            lg.run("2")
        with pytest.raises(ledger.RunNotFoundError, match="no run 'zzz'"):
            lg.run("zzz")

    def test_bad_status_is_refused(self, lg):
        with pytest.raises(ValueError, match="status 'done' is not one of running, finished"):
            lg.runs(status="done")


def names_to_id(lg, name):
    (run,) = [r for r in lg.runs() if r.name == name]
    return run.id


class TestRunView:
    def test_fields(self, lg):
        r = lg.run(names_to_id(lg, "r1"))
        assert r.config == {"lr": 1e-3, "model": {"depth": 18}, "opt": "adam"}
        assert r.summary == {"acc": 0.91, "loss": 0.3}
        assert r.meta["group"] == "resnet"
        assert r.get("config.model.depth") == 18
        assert r.get("summary.nope", "dflt") == "dflt"
        assert r.dir.endswith(f"proj/runs/{r.id}")

    def test_history_keeps_nan(self, tmp_dir):
        run = quiet_init("p", root="results")
        run.log({"loss": 1.0})
        run.log({"loss": math.nan, "acc": 0.5})
        run.finish()
        frame = ledger.open("results").run(run.id).history()
        assert list(frame.columns) == ["_step", "_time", "loss", "acc"]
        assert frame["_step"].tolist() == [0, 1]
        assert frame["loss"].iloc[0] == 1.0
        assert math.isnan(frame["loss"].iloc[1])
        assert math.isnan(frame["acc"].iloc[0])
        only = ledger.open("results").run(run.id).history(keys=["acc"])
        assert list(only.columns) == ["_step", "_time", "acc"]

    def test_system_and_output(self, tmp_dir):
        run = ledger.init("p", root="results", system_metrics=0.05)
        print("hello from the run")
        time.sleep(0.2)
        run.finish()
        view = ledger.open("results").run(run.id)
        assert "cpu/percent" in view.system().columns
        assert view.output() == "hello from the run\n"


class TestToPandasAndCompute:
    def test_to_pandas_one_row_per_run(self, lg):
        frame = lg.runs("proj").to_pandas()
        assert len(frame) == 5
        for col in (
            "id",
            "name",
            "project",
            "group",
            "job_type",
            "tags",
            "status",
            "created",
            "ended",
            "duration_s",
            "user",
            "host.hostname",
            "config.lr",
            "config.model.depth",
            "summary.acc",
        ):
            assert col in frame.columns, col
        row = frame.set_index("name").loc["r4"]
        assert row["config.model.depth"] == 12
        assert math.isnan(row["summary.loss"])
        assert row["tags"] == ["baseline", "big"]
        assert str(frame["created"].dtype).startswith("datetime64")

    def test_compute_hours_by_group(self, lg):
        frame = lg.compute_hours(by="group")
        table = {
            row.group if isinstance(row.group, str) else None: (row.runs, row.hours, row.gpu_hours)
            for row in frame.itertuples()
        }
        assert table["resnet"] == (3, pytest.approx(3.5), pytest.approx(2.0))
        assert table["vit"] == (2, pytest.approx(1 + 1 / 60), pytest.approx(2.0))
        assert table[None][0] == 1
        assert list(frame.columns) == ["group", "runs", "hours", "gpu_hours", "allocated_runs"]

    def test_compute_hours_by_month_and_user(self, lg):
        months = lg.compute_hours(by="month")
        assert months["runs"].sum() == 6
        assert all(len(m) == 7 and m[4] == "-" for m in months["month"])
        assert lg.compute_hours(by="user")["runs"].sum() == 6


class TestFilterLanguage:
    @pytest.mark.parametrize(
        ("where", "expected"),
        [
            ("config.lr < 1e-3", ["r3", "r4", "r5"]),
            ("config.lr <= 1e-3", ["r1", "r3", "r4", "r5", "r6"]),  # r6's "0.001" text compares as a number
            ("config.lr > 1e-3", ["r2"]),
            ("config.lr >= 0.01", ["r2"]),
            ("config.lr == 3e-4", ["r4", "r5"]),
            ("config.opt != 'adam'", ["r2", "r4"]),  # runs without opt do not match !=
            ("config.model.depth in [12, 50]", ["r2", "r4", "r5"]),
            ("config.model.depth not in (12, 50)", ["r1", "r3"]),
            ("tags contains 'baseline'", ["r1", "r4"]),
            ("name ~ '^r[12]$'", ["r1", "r2"]),
            ("config.opt like 'adam%'", ["r1", "r3", "r4", "r6"]),
            ("config.opt ilike 'ADAM'", ["r1", "r3", "r6"]),
            ("config.opt like 'ad_m'", ["r1", "r3", "r6"]),
            ("group == null", ["r6"]),
            ("group != null and job_type == 'eval'", ["r3", "r5"]),
            ("group is null", ["r6"]),
            ("group is not null and summary.acc > 0.9", ["r1", "r2", "r4"]),
            ("summary.acc > 0.9 and config.opt == 'adam' or name == 'r5'", ["r1", "r5"]),
            ("summary.acc > 0.9 and (config.opt == 'adam' or name == 'r5')", ["r1"]),
            ("not (group == 'resnet')", ["r4", "r5", "r6"]),  # not of a false comparison
            ("summary.`val loss` < 0.3", ["r5"]),
            ("config.`f1 weight` == 2", ["r4"]),
            ("summary.loss > 0", ["r1", "r2"]),  # NaN never compares
            ("tags.dataset == 'cifar10'", ["r3"]),
            ("project == 'other'", ["r6"]),
            ("duration_s > 3000 && gpu_count >= 1", ["r2", "r4"]),
            ("status == 'FINISHED'", ["r1", "r2", "r4"]),
            ("created > '2000-01-01' and created < '2100-01-01'", ["r1", "r2", "r3", "r4", "r5", "r6"]),
            ("config.model == null", ["r6"]),
            ("true_field == true", None),
        ],
    )
    def test_operators_and_precedence(self, lg, where, expected):
        if expected is None:
            with pytest.raises(ledger.FilterError, match="unknown field 'true_field'"):
                lg.runs(where=where)
            return
        assert names(lg.runs(where=where)) == expected

    def test_not_of_a_missing_field(self, lg):
        # "not (x > 0.9)" is true for runs without x: not negates the comparison's result.
        assert names(lg.runs(where="not summary.acc > 0.9")) == ["r3", "r5", "r6"]

    @pytest.mark.parametrize(
        ("where", "expected"),
        [  # filter strings as written in MLflow's search documentation
            ("metrics.acc > 0.92", ["r2", "r4"]),
            ('attributes.status = "FINISHED"', ["r1", "r2", "r4"]),
            ('attributes.status = "FAILED"', ["r3"]),
            ("attributes.start_time > 1670628787527", ["r1", "r2", "r3", "r4", "r5", "r6"]),
            ("attributes.created > 1670628787527", ["r1", "r2", "r3", "r4", "r5", "r6"]),
            ("attributes.start_time < 1670628787527", []),
            ("metrics.`val loss` > 0.2", ["r5"]),
            ('params.opt = "adam" and params.lr = "0.001" and metrics.acc <= 0.95', ["r1"]),
            ("params.\"f1 weight\" = '2'", ["r4"]),
            ("tags.`mlflow.runName` = 'r2'", ["r2"]),
            ("attributes.`run_name` IN ('r1', 'r3', 'zeta')", ["r1", "r3"]),
            ("attributes.`Run Name` ILIKE '%R1%'", ["r1"]),
            ("attributes.run_name LIKE 'r%' AND metrics.acc >= 0.95", ["r2", "r4"]),
            ("tags.`dataset` LIKE 'cifar%'", ["r3"]),
        ],
    )
    def test_mlflow_filter_strings(self, lg, where, expected):
        assert names(lg.runs(where=where)) == expected

    @pytest.mark.parametrize(
        ("where", "expected"),
        [
            ({"config.lr": {"$lt": 1e-3}}, ["r3", "r4", "r5"]),
            ({"$and": [{"config.lr": {"$lt": 0.01}}, {"summary.acc": {"$gt": 0.9}}]}, ["r1", "r4"]),
            ({"$or": [{"group": "vit"}, {"name": "r1"}]}, ["r1", "r4", "r5"]),
            ({"$nor": [{"group": "vit"}, {"group": "resnet"}]}, ["r6"]),
            ({"tags": {"$contains": "big"}}, ["r4"]),
            ({"group": {"$in": ["vit"]}, "job_type": "train"}, ["r4"]),
            ({"name": {"$regex": "^r[45]"}}, ["r4", "r5"]),
            ({"summary_metrics.acc": {"$gte": 0.95}, "state": "finished"}, ["r2", "r4"]),
            ({"summary.acc": {"$exists": False}}, ["r5", "r6"]),
            ({"$not": {"group": "resnet"}}, ["r4", "r5", "r6"]),
        ],
    )
    def test_mongo_style_dicts(self, lg, where, expected):
        assert names(lg.runs(where=where)) == expected

    @pytest.mark.parametrize(
        ("where", "message"),
        [
            ("config.lr <", r"expected a value .* found the end at position 11:\n  config.lr <\n             \^"),
            ("config.lr < 1 and", r"expected a field .* found the end at position 17"),
            ("(config.lr < 1", r"expected '\)', found the end at position 14"),
            ("config.lr ! 1", r"expected an operator"),
            ("__import__('os').system('echo pwned')", r"unknown field '__import__'"),
            ("config.__class__.__mro__ == 1 or ().__class__ == 1", r"expected a field .* found '\)'"),
            ("name == open('x')", r"expected a value .* found 'open'"),
            ("lambda: 1", r"expected an operator .* found ':'|unexpected character ':'"),
            ("name ~ '('", r"bad regular expression"),
            ("config.lr < 1; import os", r"unexpected character ';' at position 13"),
            ("", r"expected a condition"),
        ],
    )
    def test_bad_filters_explain_where(self, lg, where, message):
        if where == "":
            assert len(lg.runs(where=where)) == 6  # an empty filter is no filter
            return
        with pytest.raises(ledger.FilterError, match=message):
            lg.runs(where=where)

    def test_dict_filter_errors(self, lg):
        with pytest.raises(ledger.FilterError, match=r"unknown operator '\$near'"):
            lg.runs(where={"config.lr": {"$near": 1}})
        with pytest.raises(ledger.FilterError, match=r"\$or: expected a non-empty list"):
            lg.runs(where={"$or": {}})


class TestIndex:
    def test_second_open_reads_only_what_changed(self, tmp_dir, monkeypatch):
        ids = []
        for i in range(3):
            with quiet_init("p", root="results", config={"i": i}) as run:
                ids.append(run.id)
        assert len(ledger.open("results")) == 3
        assert [p.name for p in (tmp_dir / "results/.cache/index").iterdir()] == ["base-000000000001.jsonl"]

        parsed = []
        real_parse = _index._parse
        monkeypatch.setattr(
            _index, "_parse", lambda path, data, storage: parsed.append(path) or real_parse(path, data, storage)
        )
        assert len(ledger.open("results")) == 3
        assert parsed == []  # warm: nothing parsed

        with quiet_init("p", root="results", config={"i": 3}) as run:
            ids.append(run.id)
        manifest = tmp_dir / "results/p/runs" / ids[0] / "run.yaml"
        manifest.write_text(manifest.read_text().replace("i: 0", "i: 100"))
        lg = ledger.open("results")
        assert sorted(parsed) == sorted([f"p/runs/{ids[0]}/run.yaml", f"p/runs/{ids[3]}/run.yaml"])
        assert sorted(r.config["i"] for r in lg.runs()) == [1, 2, 3, 100]

    def test_corrupt_cache_is_rebuilt_not_trusted(self, tmp_dir, caplog):
        with quiet_init("p", root="results", config={"i": 1}):
            pass
        ledger.open("results")
        (cache,) = (tmp_dir / "results/.cache/index").iterdir()
        cache.write_bytes(cache.read_bytes()[:20])  # not even its header
        assert [r.config for r in ledger.open("results").runs()] == [{"i": 1}]
        assert "is not an index cache file of this version; ignored" in caplog.text
        payload = b'["e","p/runs/x/run.yaml","0:0",5,false,null,null,null]'
        for name in (tmp_dir / "results/.cache/index").iterdir():
            name.unlink()
        cache.write_bytes(_index._line(_index._HEADER) + _index._line(payload))
        assert [r.config for r in ledger.open("results").runs()] == [{"i": 1}]

    def test_nan_and_dates_survive_the_cache(self, tmp_dir):
        import datetime as dt

        with quiet_init("p", root="results", config={"day": dt.date(2026, 1, 2), "w": math.inf}) as run:
            run.summary["loss"] = math.nan
        for _ in range(2):  # cold, then warm
            r = ledger.open("results").run(run.id)
            assert math.isnan(r.summary["loss"])
            assert r.config == {"day": dt.date(2026, 1, 2), "w": math.inf}

    def test_corrupt_manifest_is_skipped_with_a_warning_naming_it(self, tmp_dir, caplog):
        with quiet_init("p", root="results") as good:
            pass
        with quiet_init("p", root="results") as bad:
            pass
        (tmp_dir / "results/p/runs" / bad.id / "run.yaml").write_text("format: 2\nid: x\nproject: p\n")
        lg = ledger.open("results")
        assert [r.id for r in lg.runs()] == [good.id]
        assert len(lg.skipped) == 1
        assert f"{bad.id}/run.yaml: format 2 is not supported" in caplog.text
        assert len(ledger.open("results").skipped) == 1  # still reported when the cache is warm

    def test_remote_root(self, remote_root):
        memory_root = remote_root
        with quiet_init("p", root=memory_root, config={"lr": 0.1}) as run:
            run.log({"acc": 0.5})
        for _ in range(2):
            lg = ledger.open(memory_root)
            assert [r.summary for r in lg.runs()] == [{"acc": 0.5}]
        assert lg.run(run.id).history()["acc"].tolist() == [0.5]

    def test_open_without_a_ledger(self, tmp_dir):
        with pytest.raises(ledger.LedgerNotFoundError, match="no ledger at"):
            ledger.open("nowhere")


def test_sweeps_are_listed_with_their_runs(tmp_dir):
    ids = []
    for trial in range(2):
        with quiet_init("p", root="results", config={"lr": 0.1 * (trial + 1)}) as run:
            ids.append(run.id)
        path = tmp_dir / "results/p/runs" / run.id / "run.yaml"
        doc = yaml.safe_load(path.read_text())
        doc["sweep"] = {"id": "s1", "trial": trial, "fold": None}
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
    with quiet_init("p", root="results"):
        pass
    (tmp_dir / "results/p/sweeps/s1").mkdir(parents=True)
    (tmp_dir / "results/p/sweeps/s1/sweep.yaml").write_text("method: grid\nmetric: {name: acc, goal: maximize}\n")
    (sweep,) = ledger.open("results").sweeps()
    assert (sweep.id, sweep.project) == ("s1", "p")
    assert sweep.metric == ("acc", "maximize")
    assert sweep.runs.ids == ids
