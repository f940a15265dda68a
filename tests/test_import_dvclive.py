"""`ledger import dvclive`: a folder written by the real dvclive, compared value by value."""

from __future__ import annotations

import math
import time

import fsspec
import pytest

import ledger
from ledger import _format
from tests.import_helpers import same

dvclive = pytest.importorskip("dvclive")

PARAMS = {"lr": 0.001, "opt": "adam", "model": {"layers": 3, "act": "relu"}, "aug": [1, 2]}


def write_run(folder: str, *, timestamps: bool) -> list[dict]:
    """A run the way dvclive's docs show it; returns the values logged per step."""
    logged = []
    with dvclive.Live(folder, save_dvc_exp=False) as live:
        live.log_params(PARAMS)
        for step in range(4):
            values = {"train/loss": 1 / (step + 1), "acc": 0.25 * step, "epoch": step}
            if step == 2:
                values["acc"] = math.nan
            if step == 3:
                values["train/loss"] = math.inf
            for name, value in values.items():
                live.log_metric(name, value, timestamp=timestamps)
            logged.append({"_step": live.step, **values})
            live.next_step()
        live.summary["best_acc"] = 0.5
        live.log_metric("note", "text values are not metrics", plot=True)
    return logged


@pytest.mark.parametrize("timestamps", [True, False], ids=["timestamps", "no-timestamps"])
def test_every_value(tmp_path, ledger_cli, timestamps):
    before = time.time()
    logged = write_run("dvclive", timestamps=timestamps)
    after = time.time()
    (tmp_path / "dvclive" / "plots" / "extra.txt").write_text("kept")
    code, out, err = ledger_cli("import", "dvclive", ".", "--root", "results")  # the folder holding dvclive/
    assert code == 0, err
    assert "1 imported" in out
    assert "left out: note at step 4: 'text values are not metrics' is not a number" in out
    (run,) = ledger.open("results").runs()
    assert run.config == PARAMS
    assert run.status == "finished"
    assert run.doc["imported_from"]["kind"] == "dvclive"
    records = run.records()
    for name in ("train/loss", "acc", "epoch"):
        have = [(r["_step"], r[name]) for r in records if name in r]
        want = [(row["_step"], row[name]) for row in logged]
        assert len(have) == len(want)
        assert all(s1 == s2 and same(v1, v2) for (s1, v1), (s2, v2) in zip(have, want, strict=True)), (have, want)
    epochs = [r["epoch"] for r in records if "epoch" in r]
    assert epochs == [0, 1, 2, 3]
    assert all(type(e) is int for e in epochs)  # ints stay ints
    assert run.summary["best_acc"] == 0.5
    assert run.summary["train/loss"] == math.inf
    assert "step" not in run.summary
    created, ended = _format.parse_iso(run.doc["created"]), _format.parse_iso(run.doc["ended"])
    assert before - 1 <= created <= ended <= after + 1  # file times have a coarse clock on some systems
    if timestamps:  # dvclive wrote each value's time in ms: kept
        assert 4 <= len(records) <= 4 * 3  # values of one step and one millisecond share a record
        assert all(before - 1 <= r["_time"] <= after + 1 for r in records)
    else:  # no time per value: one record per step, at the end
        assert len(records) == 4
        assert len({r["_time"] for r in records}) == 1
        assert records[0]["_time"] == pytest.approx(ended, abs=1e-3)
    assert (tmp_path / run.dir / "files/plots/extra.txt").read_text() == "kept"


def test_imported_twice_is_not_duplicated_and_a_rerun_is_new(tmp_path, ledger_cli):
    write_run("dvclive", timestamps=False)
    assert ledger_cli("import", "dvclive", "dvclive", "--root", "results")[0] == 0
    code, out, _err = ledger_cli("import", "dvclive", "dvclive", "--root", "results")
    assert code == 0
    assert "0 imported, 1 skipped" in out
    write_run("dvclive", timestamps=True)  # dvclive starts the folder afresh: another run
    code, out, _err = ledger_cli("import", "dvclive", "dvclive", "--root", "results")
    assert "1 imported, 0 skipped" in out
    assert len(ledger.open("results").runs()) == 2


def test_into_a_root_on_another_store(tmp_path, ledger_cli, memory_root):
    """Imported runs are written through the storage layer like live ones: any fsspec root."""
    logged = write_run("dvclive", timestamps=False)
    (tmp_path / "dvclive" / "report.md").write_text("# report")
    code, _out, err = ledger_cli("import", "dvclive", "dvclive", "--root", memory_root, "--project", "p")
    assert code == 0, err
    (run,) = ledger.open(memory_root).runs()
    assert [r["_step"] for r in run.records()] == [row["_step"] for row in logged]
    assert run.config == PARAMS
    assert ledger_cli("import", "dvclive", "dvclive", "--root", memory_root)[1].startswith("skipped")
    assert fsspec.filesystem("memory").cat_file(f"{run.dir}/files/report.md") == b"# report"
