"""`ledger import mlflow`: runs written by the real mlflow client, into a file store and a
SQLite DB, compared value by value after import."""

from __future__ import annotations

import math

import pytest

import ledger
from ledger import _format
from tests.import_helpers import same

mlflow = pytest.importorskip("mlflow")
from mlflow.tracking import MlflowClient  # noqa: E402

T0 = 1_790_000_000_000  # ms: explicit timestamps, so every value can be compared exactly


def log_runs(client: MlflowClient, tmp_path) -> dict[str, str]:
    """Three runs in two experiments, through mlflow's own client: name -> run id."""
    exp = client.create_experiment("vision exp")
    ids = {}
    run = client.create_run(
        exp, start_time=T0, run_name="baseline", tags={"team": "vision", "mlflow.note.content": "n"}
    )
    ids["baseline"] = run.info.run_id
    client.log_param(run.info.run_id, "lr", 0.001)
    client.log_param(run.info.run_id, "layers", 3)
    client.log_param(run.info.run_id, "opt", "adam")
    client.log_param(run.info.run_id, "seed_text", "007")
    client.set_tag(run.info.run_id, "mlflow.source.git.commit", "a" * 40)
    for step in range(5):
        t = T0 + 1000 * (step + 1)
        client.log_metric(run.info.run_id, "train/loss", 1 / (step + 1), timestamp=t, step=step * 10)
        client.log_metric(run.info.run_id, "acc", 0.1 * step, timestamp=t, step=step * 10)
    client.log_metric(run.info.run_id, "diverged", math.nan, timestamp=T0 + 7000, step=50)
    client.log_metric(run.info.run_id, "grad", math.inf, timestamp=T0 + 7000, step=50)
    client.log_metric(run.info.run_id, "grad", -math.inf, timestamp=T0 + 7001, step=51)
    (tmp_path / "model.txt").write_text("weights")
    client.log_artifact(run.info.run_id, str(tmp_path / "model.txt"), artifact_path="ckpt")
    client.set_terminated(run.info.run_id, status="FINISHED", end_time=T0 + 9000)

    run = client.create_run(exp, start_time=T0 + 20_000, run_name="broken")
    ids["broken"] = run.info.run_id
    client.log_metric(run.info.run_id, "loss", 2.5, timestamp=T0 + 21_000, step=0)
    client.set_terminated(run.info.run_id, status="FAILED", end_time=T0 + 22_000)

    run = client.create_run("0", start_time=T0 + 30_000, run_name="stopped")
    ids["stopped"] = run.info.run_id
    client.set_terminated(run.info.run_id, status="KILLED", end_time=T0 + 31_000)

    run = client.create_run(exp, start_time=T0 + 50_000, run_name="lost")  # its process died: never ended
    ids["lost"] = run.info.run_id
    client.log_metric(run.info.run_id, "loss", 3.0, timestamp=T0 + 51_000, step=0)

    gone = client.create_run(exp, start_time=T0 + 40_000, run_name="deleted")
    client.delete_run(gone.info.run_id)
    return ids


def check_imported(client: MlflowClient, ids: dict[str, str], root) -> None:
    """Every run, value, step, timestamp, param, tag, status and time of the source is in the ledger."""
    lg = ledger.open(root)
    by_source = {r.doc["imported_from"]["id"]: r for r in lg.runs()}
    assert set(by_source) == set(ids.values()), "the deleted run is not imported"
    for name, run_id in ids.items():
        src = client.get_run(run_id)
        got = by_source[run_id]
        assert got.name == name
        assert got.doc["imported_from"]["kind"] == "mlflow"
        statuses = {"FINISHED": "finished", "FAILED": "failed", "KILLED": "killed", "RUNNING": "crashed"}
        assert got.status == statuses[src.info.status]
        assert round(_format.parse_iso(got.doc["created"]) * 1000) == src.info.start_time
        if src.info.end_time is None:  # as a live run that vanished: running, heartbeat at its last sign of life
            assert (got.doc["status"], got.doc["ended"]) == ("running", None)
            assert round(_format.parse_iso(got.doc["heartbeat"]) * 1000) == T0 + 51_000
        else:
            assert round(_format.parse_iso(got.doc["ended"]) * 1000) == src.info.end_time
        assert got.doc["user"] == src.info.user_id
        records = got.records()
        for key in src.data.metrics:
            want = sorted((m.step, m.timestamp, m.value) for m in client.get_metric_history(run_id, key))
            have = [(r["_step"], round(r["_time"] * 1000), r[key]) for r in records if key in r]
            assert len(have) == len(want), key
            for (s1, t1, v1), (s2, t2, v2) in zip(have, want, strict=True):
                assert (s1, t1) == (s2, t2), key
                assert same(v1, v2) or (math.isinf(v1) and abs(v2) == 1.7976931348623157e308), (key, v1, v2)
        assert {k for r in records for k in r} - {"_step", "_time"} == set(src.data.metrics)
        steps = [r["_step"] for r in records]
        assert steps == sorted(steps)
    base = by_source[ids["baseline"]]
    assert base.config == {"lr": 0.001, "layers": 3, "opt": "adam", "seed_text": "007"}
    assert {str(v) for v in base.config.values()} == set(client.get_run(ids["baseline"]).data.params.values())
    assert "team=vision" in base.tags
    assert base.doc["notes"] == "n"
    assert base.doc["git"] == {"commit": "a" * 40}
    assert base.summary["train/loss"] == 1 / 5
    assert math.isnan(base.summary["diverged"])
    assert base.summary["grad"] == -math.inf
    assert base.history()["grad"].tolist()[-2:] == [math.inf, -math.inf]
    assert base.get("tags.team") == "vision"
    assert lg.runs(where="tags.team = 'vision' and params.lr < 0.01").ids == [base.id]
    assert {r.project for r in lg.runs()} == {"vision-exp", "Default"}
    assert len(lg.runs(where="imported_from.kind == 'mlflow'")) == len(ids)


@pytest.fixture
def file_store(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # mlflow 3 refuses new file stores otherwise
    uri = (tmp_path / "mlruns").as_uri()
    return uri, MlflowClient(tracking_uri=uri)


def test_file_store_every_value(file_store, tmp_path, ledger_cli):
    _uri, client = file_store
    ids = log_runs(client, tmp_path)
    code, out, err = ledger_cli("import", "mlflow", str(tmp_path / "mlruns"), "--root", str(tmp_path / "results"))
    assert code == 0, err
    assert out.count("imported mlflow run") == 4
    assert "4 imported, 0 skipped" in out
    check_imported(client, ids, tmp_path / "results")
    files = ledger.open(tmp_path / "results").runs(where="name = 'baseline'")[0].dir
    assert (tmp_path / files / "files/ckpt/model.txt").read_text() == "weights"


def test_file_store_imported_twice_is_not_duplicated(file_store, tmp_path, ledger_cli):
    uri, client = file_store
    log_runs(client, tmp_path)
    root = str(tmp_path / "results")
    assert ledger_cli("import", "mlflow", uri, "--root", root)[0] == 0  # a file: URI works too
    code, out, _err = ledger_cli("import", "mlflow", str(tmp_path / "mlruns"), "--root", root, "--project", "other")
    assert code == 0
    assert out.count("skipped mlflow run") == 4
    assert "0 imported, 4 skipped" in out
    assert len(ledger.open(root).runs()) == 4


def test_project_option_takes_every_run(file_store, tmp_path, ledger_cli):
    _uri, client = file_store
    log_runs(client, tmp_path)
    root = tmp_path / "results"
    assert ledger_cli("import", "mlflow", str(tmp_path), "--root", str(root), "--project", "legacy")[0] == 0
    assert {r.project for r in ledger.open(root).runs()} == {"legacy"}  # and the folder holding mlruns/ works


@pytest.mark.filterwarnings(
    "ignore:The ``noload`` loader strategy is deprecated"
)  # mlflow's SQL store on SQLAlchemy 2.1
def test_sqlite_every_value(tmp_path, ledger_cli):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    ids = log_runs(client, tmp_path)
    root = str(tmp_path / "results")
    code, out, err = ledger_cli("import", "mlflow", uri, "--root", root)
    assert code == 0, err
    assert "4 imported" in out
    check_imported(client, ids, root)
    code, out, _err = ledger_cli("import", "mlflow", str(tmp_path / "mlflow.db"), "--root", root)  # a path works
    assert code == 0
    assert "0 imported, 4 skipped" in out


@pytest.mark.parametrize("store", ["file", "sqlite"])
def test_nested_runs_datasets_and_none_params(store, file_store, tmp_path, ledger_cli):
    """MLflow's parentRunId becomes the child's parent (whichever comes first in the source),
    log_input datasets are recorded and filterable, and the param text 'None' stays text."""
    import numpy as np

    uri = file_store[0] if store == "file" else f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("nested")
    with mlflow.start_run(run_name="parent") as parent:
        mlflow.log_param("model", None)
        with mlflow.start_run(run_name="child", nested=True) as child:
            data = mlflow.data.from_numpy(np.zeros((4, 2)), targets=np.zeros(4), name="digits", digest="d1g35t")
            mlflow.log_input(data, context="training")
    mlflow.set_tracking_uri("")
    code, out, err = ledger_cli("import", "mlflow", uri, "--root", "results")
    assert code == 0, err
    assert "1 dataset" in out
    lg = ledger.open("results")
    by_source = {r.doc["imported_from"]["id"]: r for r in lg.runs()}
    got_parent, got_child = by_source[parent.info.run_id], by_source[child.info.run_id]
    assert got_child.doc["parent"] == got_parent.id
    assert ("parent", got_child.id, "in") in got_parent.links()
    assert got_parent.config == {"model": "None"}
    (dataset,) = got_child.doc["datasets"]
    assert {k: dataset[k] for k in ("name", "digest", "context", "source_type")} == {
        "name": "digits", "digest": "d1g35t", "context": "training", "source_type": "code",
    }  # fmt: skip
    assert lg.runs(where="datasets.context = 'training' and datasets.name = 'digits'").ids == [got_child.id]
    assert got_child.doc["imported_from"]["artifact_uri"]
    code, out, _ = ledger_cli("show", "child", "--root", "results")
    assert code == 0
    assert f"parent  {got_parent.id} parent" in out
    assert "digits" in out
    assert "context=training, digest=d1g35t, source_type=code" in out
