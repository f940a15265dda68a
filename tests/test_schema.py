"""The format's schema is the one home of the manifest's fields, statuses and streams: a walk
over it checks that everything derived from it agrees (filters, columns, --public, verify,
docs/format.md)."""

from __future__ import annotations

import math
import re

import pytest

import ledger
from ledger import _format
from ledger._query import _filter
from tests.helpers import REPO, quiet_init, run_ledger

DOCS = (REPO / "docs/format.md").read_text()
MANIFEST_TABLE = DOCS[DOCS.index("## 2. `run.yaml`") : DOCS.index("## 3.")]

# One value of each kind, to write into a manifest and read back through every path.
SAMPLE = {
    "str": "x-1e3",
    "int": 3,
    "float": 2.5,
    "bool": True,
    "timestamp": "2026-11-27T02:03:04.123Z",
    "list[str]": ["a", "b=1"],
    "list[mapping]": [{"start": "2026-11-27T02:03:04.123Z", "end": None}],
    "mapping": {"k": "v"},
}


def test_the_manifest_dataclass_and_the_schema_are_one_declaration():
    assert [s.name for s in _format.FIELDS] == [f for f in _format.Manifest.__dataclass_fields__ if f != "extra"]
    assert set(_format.FIELDS[0].__dataclass_fields__) >= {"name", "kind", "public", "column", "written"}
    assert all(spec.kind in SAMPLE for spec in _format.FIELDS)


@pytest.mark.parametrize("spec", _format.FIELDS, ids=lambda s: s.name)
def test_every_field_is_documented_filterable_and_a_column(spec, tmp_dir):
    # Named in docs/format.md's manifest table, in the order the code writes it.
    assert re.search(rf"^\| `{spec.name}` \|", MANIFEST_TABLE, re.MULTILINE), f"{spec.name} is not in docs/format.md"
    # Filterable: alone, or with a key below it for mappings.
    text = spec.name if spec.kind not in ("mapping", "list[mapping]") else f"{spec.name}.k"
    assert _filter.parse_field(text).path[0] == spec.name
    # A column of to_pandas() / ledger ls, with the value the manifest holds.
    run = quiet_init("p", root="results")
    run.finish()
    path = tmp_dir / "results/p/runs" / run.id / "run.yaml"
    doc = _format.yaml_load(path.read_bytes(), str(path))
    if spec.name not in ("id", "project", "status", "format"):
        doc[spec.name] = SAMPLE[spec.kind]
    path.write_bytes(_format.yaml_dump(doc))
    lg = ledger.open("results", cache=False)
    (view,) = lg.runs()
    row = lg.runs().rows()[0]
    if spec.column == "value":
        assert spec.name in row
        assert row[spec.name] == (view.status if spec.name == "status" else doc[spec.name])
    elif spec.column == "flat":
        assert row[f"{spec.name}.k"] == "v"
    else:
        assert row[f"{spec.name}.k"] == "v"
    # And the filter finds the run by that value.
    value = doc[spec.name]
    where = (
        f"{spec.name}.k == 'v'"
        if spec.kind == "mapping"
        else f"{spec.name} contains 'a'"
        if spec.kind == "list[str]"
        else f"{spec.name} == {value!r}"
        if not isinstance(value, (list, bool))
        else None
    )
    if where is not None and spec.name != "status":
        assert lg.runs(where=where).ids == [run.id], where


def test_the_fields_the_first_filters_could_not_see(tmp_dir):
    run = quiet_init("p", root="results")
    run.finish()
    other = quiet_init("p", root="results")
    other.finish()
    path = tmp_dir / "results/p/runs" / run.id / "run.yaml"
    doc = _format.yaml_load(path.read_bytes(), str(path))
    doc.update(stop_reason="early_terminated", error="boom", attach={other.id: {"acc": 0.5}}, heartbeat_s=7.5)
    path.write_bytes(_format.yaml_dump(doc))
    lg = ledger.open("results")
    for where in (
        'stop_reason == "early_terminated"',
        "error ~ 'bo+m'",
        f"attach.`{other.id}`.acc == 0.5",
        "heartbeat_s < 8",
    ):
        assert lg.runs(where=where).ids == [run.id], where
    out = run_ledger(
        "ls",
        "--root",
        "results",
        "--where",
        'stop_reason == "early_terminated"',
        "--columns",
        "id,stop_reason",
        cwd=tmp_dir,
    )
    assert out.returncode == 0, out.stderr
    assert run.id in out.stdout
    assert other.id not in out.stdout


def test_public_strips_what_the_schema_marks_private():
    private_fields = {s.name for s in _format.FIELDS if not s.public}
    private_keys = {f"{s.name}.{k}" for s in _format.FIELDS for k in s.private}
    assert set(_format.PUBLIC_STRIP) == private_fields | private_keys | set(_format.PRIVATE_FILES)
    assert {"user", "host.hostname", "command.cwd", "code.patch", "output.log"} <= set(_format.PUBLIC_STRIP)
    for item in _format.PUBLIC_STRIP:
        assert f"`{item}`" in DOCS, f"docs/format.md does not say --public strips {item}"


def test_statuses_streams_and_files_are_documented():
    for status in _format.STATUS_SPECS:
        assert f"`{status.name}`" in MANIFEST_TABLE
    assert _format.FINAL_STATUSES == ("finished", "failed", "killed")
    assert [s.name for s in _format.STATUS_SPECS if not s.written] == ["crashed"]
    for stream in _format.STREAMS:
        assert stream.file in DOCS
        assert stream.segment(0).replace("0", "<n>") in DOCS
    for f in _format.RUN_FILES:
        assert f.name in DOCS


def test_the_crashed_rule_and_compute_hours_are_the_documented_formulas():
    assert "3 \N{MULTIPLICATION SIGN} heartbeat_s" in DOCS.replace("`", "")
    assert (
        _format.read_status("running", "2026-01-01T00:00:00.000Z", 10, now=_ts("2026-01-01T00:00:30.000Z")) == "running"
    )
    assert (
        _format.read_status("running", "2026-01-01T00:00:00.000Z", 10, now=_ts("2026-01-01T00:00:30.001Z")) == "crashed"
    )
    assert _format.read_status("finished", "2000-01-01T00:00:00.000Z", 10) == "finished"
    assert _format.compute_hours(7200, 4) == (2.0, 8.0, "detected")
    assert _format.compute_hours(7200, 0) == (2.0, 0.0, "detected")
    # a scheduler's allocation wins over the GPUs the process saw, even when it allocated none
    assert _format.compute_hours(7200, 4, {"scheduler": "slurm", "gpus": 2}) == (2.0, 4.0, "allocation")
    assert _format.compute_hours(7200, 4, {"scheduler": "slurm", "gpus": 0}) == (2.0, 0.0, "allocation")
    assert _format.compute_hours(7200, 4, {"scheduler": "slurm"}) == (2.0, 8.0, "detected")
    assert "hours = duration_s / 3600" in DOCS
    assert "gpu_hours = duration_s * gpus / 3600" in DOCS
    assert "`allocation.gpus` when the run recorded an allocation, else `gpu_count`" in DOCS


def _ts(text: str) -> float:
    return _format.parse_iso(text)


def test_verify_checks_each_fields_type(tmp_dir):
    run = quiet_init("p", root="results")
    run.finish()
    path = tmp_dir / "results/p/runs" / run.id / "run.yaml"
    doc = _format.yaml_load(path.read_bytes(), str(path))
    doc["gpu_count"] = "two"
    path.write_bytes(_format.yaml_dump(doc))
    out = run_ledger("verify", "--root", "results", cwd=tmp_dir)
    assert out.returncode == 1
    assert "'gpu_count' must be an int, found 'two'" in out.stdout


def test_one_spelling_of_non_finite_floats_per_place(tmp_dir):
    with quiet_init("p", root="results", config={"x": math.inf}) as run:
        run.log({"loss": math.nan, "up": math.inf, "down": -math.inf})
    line = (tmp_dir / "results/p/runs" / run.id / "metrics.jsonl").read_text()
    for spelled in ('"loss":"NaN"', '"up":"Infinity"', '"down":"-Infinity"'):
        assert spelled in line
    assert "x: .inf" in (tmp_dir / "results/p/runs" / run.id / "run.yaml").read_text()
    ledger.open("results")  # writes the index cache
    cache = "".join(p.read_text() for p in (tmp_dir / "results/.cache/index").iterdir())
    assert '{"$nonfinite":"Infinity"}' in cache
    assert ledger.open("results").run(run.id).config["x"] == math.inf
