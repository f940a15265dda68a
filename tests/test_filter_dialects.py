"""W&B's dict filters with W&B's names, MLflow's other spellings on runs written by ledger,
and fields that no run has: a warning in Python with the closest names, an error in the CLI."""

from __future__ import annotations

import warnings

import pytest

import ledger
from tests.helpers import quiet_init


@pytest.fixture
def lg(tmp_dir) -> ledger.Ledger:
    sweep_id = ledger.sweeps.create(
        {"method": "grid", "parameters": {"lr": {"values": [0.1, 0.01, 0.001]}}}, root="results", project="p"
    )

    def train():
        with quiet_init() as run:
            run.log({"val_acc": 1 - run.config["lr"]})

    ledger.sweeps.agent(sweep_id, function=train, root="results")
    with quiet_init("p", root="results", name="outside", config={"lr": 0.5, "opt": {"name": "adam"}}) as run:
        run.log({"val_acc": 0.2})
    opened = ledger.open("results")
    opened.sweep_id = sweep_id  # type: ignore[attr-defined]
    return opened


def names(runs) -> list:
    return sorted(r.config["lr"] for r in runs)


def test_wandb_dicts_with_wandbs_names(lg):
    sweep_id = lg.sweep_id
    assert names(lg.runs(where={"sweep": sweep_id})) == [0.001, 0.01, 0.1]  # W&B's {"sweep": id}
    assert names(lg.runs(where={"sweep": {"$in": [sweep_id, "other"]}})) == [0.001, 0.01, 0.1]
    assert names(lg.runs(where={"sweep": None})) == [0.5]
    assert names(lg.runs(where={"config.lr.value": 0.01})) == [0.01]  # W&B's config.<key>.value
    assert names(lg.runs(where={"config.lr.value": {"$gte": 0.01}})) == [0.01, 0.1, 0.5]
    assert names(lg.runs(where={"config.opt.name.value": "adam"})) == [0.5]
    assert names(lg.runs(where={"display_name": "outside"})) == [0.5]
    assert names(lg.runs(where={"state": "finished", "summary_metrics.val_acc": {"$gt": 0.95}})) == [0.001, 0.01]
    assert names(lg.runs(where={"display_name": {"$regex": "^out"}})) == [0.5]
    assert names(lg.runs(where={"config.opt": {"$exists": True}})) == [0.5]
    assert names(lg.runs(where={"config.lr.value": {"$nin": [0.1, 0.5]}})) == [0.001, 0.01]
    assert names(lg.runs(where=f"sweep == '{sweep_id}'")) == [0.001, 0.01, 0.1]
    assert names(lg.runs(where="sweep.trial >= 2")) == [0.001, 0.01]


def test_mlflow_spellings_on_ledger_runs(lg):
    assert names(lg.runs(where="metric.val_acc > 0.95")) == [0.001, 0.01]
    assert names(lg.runs(where="param.lr = '0.01'")) == [0.01]  # the text MLflow would store
    assert names(lg.runs(where="params.lr LIKE '0.0%'")) == [0.001, 0.01]
    assert names(lg.runs(where="config.lr LIKE '0.0%'")) == []  # ledger's config stays typed
    assert names(lg.runs(where="attributes.status = 'FINISHED'")) == [0.001, 0.01, 0.1, 0.5]
    assert names(lg.runs(where="run_name = 'outside'")) == [0.5]
    outside = lg.run("outside")
    assert names(lg.runs(where=f"run_id = '{outside.id}'")) == [0.5]
    with pytest.raises(ledger.FilterError, match="MLflow metrics are numbers; compare with a number"):
        lg.runs(where="metrics.val_acc > '0.5'")


def test_a_field_no_run_has_warns_with_the_closest_names(lg):
    with pytest.warns(
        ledger.UnknownFieldWarning, match=r"no run has the field 'summary.val_accc'; did you mean summary.val_acc\?"
    ):
        assert len(lg.runs(where="summary.val_accc > 0.5")) == 0
    with pytest.warns(ledger.UnknownFieldWarning, match=r"did you mean summary.val_acc\?"):
        lg.runs(where="metrics.valacc > 0.5")
    with pytest.warns(ledger.UnknownFieldWarning, match=r"'config.lrr'; did you mean config.lr\?"):
        lg.runs(where={"config.lrr": 1})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lg.runs(where="summary.val_acc > 0.5 and config.opt.name == 'adam' and status == 'finished'")
        lg.runs(where="group == null")  # fields of the manifest always exist, even if no run sets them
    (unknown,) = lg.unknown_fields(["summary.val_acc", "config.lrate"])
    assert (unknown.name, unknown.suggestions) == ("config.lrate", ("config.lr",))
    assert unknown.message == "no run has the field 'config.lrate'; did you mean config.lr?"


def test_the_cli_refuses_fields_no_run_has(lg, ledger_cli):
    code, out, err = ledger_cli("ls", "--root", "results", "--where", "summary.val_accc > 0.5")
    assert (code, out) == (2, "")
    assert "--where: no run has the field 'summary.val_accc'; did you mean summary.val_acc?" in err
    code, out, err = ledger_cli("ls", "--root", "results", "--sort", "-summary.valacc")
    assert (code, out) == (2, "")
    assert "--sort: no run has the field 'summary.valacc'; did you mean summary.val_acc?" in err
    code, out, err = ledger_cli("ls", "--root", "results", "--columns", "name,config.lrate")
    assert (code, out) == (2, "")
    assert "--columns: no run has the field 'config.lrate'; did you mean config.lr?" in err
    code, out, err = ledger_cli("history", "outside", "--root", "results", "--keys", "val_accc")
    assert (code, out) == (2, "")
    assert "--keys: run" in err
    assert "logged no metric 'val_accc' (did you mean val_acc?)" in err
    code, _, err = ledger_cli("plot", "--root", "results", "--metric", "valacc", "-o", "x.png")
    assert code == 1
    assert "no run has values for metric 'valacc'; did you mean val_acc?" in err
