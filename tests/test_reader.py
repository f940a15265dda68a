"""Finding and reading runs back (the layer under the query API)."""

from __future__ import annotations

import pytest

import ledger
from ledger import _reader
from ledger._storage import Storage
from tests.helpers import quiet_init


def test_find_run_by_id_and_by_unique_prefix(tmp_dir):
    a = quiet_init("p", root="results")
    a.finish()
    b = quiet_init("q", root="results")
    b.finish()
    storage = Storage(str(tmp_dir / "results"))
    assert _reader.find_run(storage, a.id).project == "p"
    assert _reader.find_run(storage, b.id[:-1]).id == b.id  # unique within the root
    assert _reader.find_run(storage, a.id[:-2], project="p").id == a.id


def test_find_run_ambiguous_prefix_names_matches(tmp_dir):
    runs = [quiet_init("p", root="results") for _ in range(3)]
    for run in runs:
        run.finish()
    storage = Storage(str(tmp_dir / "results"))
    with pytest.raises(ledger.RunNotFoundError, match=r"prefix '2' is ambiguous: 3 runs match .*give more characters"):
        _reader.find_run(storage, "2")


def test_find_run_missing(tmp_dir):
    quiet_init("p", root="results").finish()
    with pytest.raises(ledger.RunNotFoundError, match=r"no run 'nope' under .* \(looked in 1 project\(s\)\)"):
        _reader.find_run(Storage(str(tmp_dir / "results")), "nope")


def test_list_runs_skips_a_corrupt_manifest_with_a_warning(tmp_dir, caplog):
    good = quiet_init("p", root="results")
    good.finish()
    bad = quiet_init("p", root="results")
    bad.finish()
    (tmp_dir / "results/p/runs" / bad.id / "run.yaml").write_text("format: 1\nid: [unclosed\n")
    runs = _reader.list_runs(Storage(str(tmp_dir / "results")))
    assert [m.id for m in runs] == [good.id]
    assert f"{bad.id}/run.yaml: not valid YAML" in caplog.text
