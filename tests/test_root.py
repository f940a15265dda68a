"""Finding and opening a ledger, and finding one run in it (ledger._root): one error for a
missing ledger, one rule for ids, id prefixes and names, one ambiguity message."""

from __future__ import annotations

import pytest

import ledger
from ledger import _root
from ledger._storage import open_storage
from tests.helpers import quiet_init, run_ledger


def test_find_run_by_id_and_by_unique_prefix(tmp_dir):
    a = quiet_init("p", root="results")
    a.finish()
    b = quiet_init("q", root="results")
    b.finish()
    storage = open_storage(str(tmp_dir / "results"))
    assert _root.find_run(storage, a.id).project == "p"
    assert _root.find_run(storage, b.id[:-1]).id == b.id  # unique within the root
    assert _root.find_run(storage, a.id[:-2], project="p").id == a.id


def test_an_ambiguous_prefix_lists_the_candidates(tmp_dir):
    runs = [quiet_init("p", root="results") for _ in range(3)]
    for run in runs:
        run.finish()
    storage = open_storage(str(tmp_dir / "results"))
    with pytest.raises(
        ledger.RunNotFoundError, match=r"run '2' is ambiguous: 3 runs match: .*give more of the id"
    ) as e:
        _root.find_run(storage, "2")
    assert all(r.id in str(e.value) for r in runs)


def test_a_missing_run_says_where_it_looked(tmp_dir):
    quiet_init("p", root="results").finish()
    with pytest.raises(ledger.RunNotFoundError, match=r"no run 'nope' in .*results \(looked in project: p\)"):
        _root.find_run(open_storage(str(tmp_dir / "results")), "nope")


def test_ledger_run_finds_an_exact_name_and_lists_namesakes(tmp_dir):
    a = quiet_init("p", root="results", name="baseline")
    a.finish()
    other = quiet_init("p", root="results", name="wide")
    other.finish()
    lg = ledger.open("results")
    assert lg.run("baseline").id == a.id
    assert lg.run(other.id[:-1]).id == other.id
    twin = quiet_init("q", root="results", name="baseline")
    twin.finish()
    lg = ledger.open("results")
    with pytest.raises(ledger.RunNotFoundError, match="run 'baseline' is ambiguous: 2 runs match") as e:
        lg.run("baseline")
    assert f"{a.id} (baseline)" in str(e.value)
    assert f"{twin.id} (baseline)" in str(e.value)
    assert lg.run("baseline", project="q").id == twin.id


def test_show_takes_a_run_name(tmp_dir):
    run = quiet_init("p", root="results", name="my-best-run", config={"lr": 0.1})
    run.finish()
    out = run_ledger("show", "my-best-run", "--root", "results", cwd=tmp_dir)
    assert out.returncode == 0, out.stderr
    assert run.id in out.stdout
    assert "lr" in out.stdout


def test_every_reader_fails_the_same_way_without_a_ledger(tmp_dir):
    expected = f"no ledger at {tmp_dir / 'nowhere'} (no ledger.yaml)"
    with pytest.raises(ledger.LedgerNotFoundError, match="no ledger at") as e:
        ledger.open(tmp_dir / "nowhere")
    assert expected in str(e.value)
    with pytest.raises(ledger.LedgerNotFoundError, match="no ledger at"):
        ledger.sweeps.status("abc", root=tmp_dir / "nowhere")
    for args in (["ls"], ["show", "x"], ["verify"], ["sweep", "status", "x"], ["du"]):
        out = run_ledger(*args, "--root", str(tmp_dir / "nowhere"), cwd=tmp_dir)
        assert out.returncode == 1, (args, out.stderr)
        assert f"Error: {expected}" in out.stderr, (args, out.stderr)
    assert not (tmp_dir / "nowhere").exists()  # reading never creates a ledger


def test_a_corrupt_manifest_is_skipped_with_a_warning(tmp_dir, caplog):
    good = quiet_init("p", root="results")
    good.finish()
    bad = quiet_init("p", root="results")
    bad.finish()
    (tmp_dir / "results/p/runs" / bad.id / "run.yaml").write_text("format: 1\nid: [unclosed\n")
    lg = ledger.open("results", cache=False)
    assert lg.runs().ids == [good.id]
    assert f"{bad.id}/run.yaml: not valid YAML" in caplog.text
    assert len(lg.skipped) == 1


def test_runs_cannot_be_written_into_a_published_ledger(tmp_dir):
    with pytest.raises(ledger.StorageError, match=r"http://127\.0\.0\.1:9/paper is read-only \(a published ledger"):
        ledger.init("p", root="http://127.0.0.1:9/paper", capture_output=False, system_metrics=False)
    with pytest.raises(ledger.StorageError, match="read-only"):
        ledger.sweeps.create({"method": "grid", "parameters": {"a": {"values": [1]}}}, root="https://127.0.0.1:9/x")
