"""The golden corpus of format 1 (tests/data/format-v1/): manifests with every value kind and
the strings YAML readers disagree on, metrics with every value kind, segments and a torn
line, media references, a sweep. ``expected.json`` is the normalised content a reader must
produce. The library reads the corpus to exactly that; a YAML 1.2 reader (ruamel.yaml in 1.2
mode) and a plain JSON parser read the same values; and the library writes the manifests
byte for byte as they are, so the corpus stays what the code writes.

Regenerate expected.json only on purpose: ``python -m tests.test_golden_corpus``.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import pytest

import ledger
from ledger import _format

CORPUS = Path(__file__).parent / "data" / "format-v1"
EXPECTED = CORPUS / "expected.json"
NOW = 1_900_000_000.0  # long after every heartbeat of the corpus: running runs read as crashed


def normal(value: Any) -> Any:
    """Plain JSON data: non-finite floats as {"$nonfinite": ...}, -0.0 kept, big ints exact."""
    if isinstance(value, float) and not math.isfinite(value):
        return {_format.NONFINITE_MARKER: _format.nonfinite_text(value)}
    if isinstance(value, dict):
        return {str(k): normal(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [normal(v) for v in value]
    return value


def read_with_ledger(root: Path) -> dict[str, Any]:
    """What the library reads from a copy of the corpus, normalised."""
    lg = ledger.open(root, cache=False)
    runs = {}
    for run in lg.runs():
        runs[run.id] = {
            "manifest": dict(run.doc),
            "status": _format.read_status(run.doc["status"], run.doc.get("heartbeat"), run.doc.get("heartbeat_s"), NOW),
            "metrics": run.records("metrics"),
            "system": run.records("system"),
            "output": run.output(),
        }
    sweeps = {}
    for sweep in lg.sweeps():
        folder = root / _format.sweep_dir(sweep.project, sweep.id)
        sweeps[sweep.id] = {
            "config": sweep.config,
            "claims": {p.name: _yaml_ledger(p) for p in sorted((folder / "claims").iterdir())},
            "agents": {p.name: _yaml_ledger(p) for p in sorted((folder / "agents").iterdir())},
        }
    return normal({"runs": runs, "sweeps": sweeps})


def _yaml_ledger(path: Path) -> Any:
    return _format.yaml_load(path.read_bytes(), str(path))


def expected() -> dict[str, Any]:
    return json.loads(EXPECTED.read_text())


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "corpus"
    shutil.copytree(CORPUS, root)
    return root


def test_the_library_reads_the_corpus_to_the_expected_values(corpus):
    assert read_with_ledger(corpus) == expected()


def test_the_expected_values_cover_what_the_corpus_is_for():
    exp = expected()
    run = exp["runs"]["20261127-020304-3f9a1c"]
    strings = run["manifest"]["config"]["strings"]
    for text in (
        "1e3",
        "1e-3",
        "yes",
        "no",
        "on",
        "off",
        "null",
        "~",
        "0x10",
        "0o7",
        "1_000",
        "2026-11-27",
        ".inf",
        "",
    ):
        assert text in strings.values(), text
    assert run["manifest"]["config"]["big"] == 2**80
    assert run["manifest"]["config"]["nan"] == {"$nonfinite": "NaN"}
    kinds = {type(v).__name__ for rec in run["metrics"] for v in rec.values()}
    assert kinds >= {"int", "float", "bool", "dict", "list"}
    assert {"_type": "histogram", "edges": [0.0, 0.5, 1.0], "counts": [3, 1]} in [
        r.get("weights") for r in run["metrics"]
    ]
    segmented = exp["runs"]["20261127-030000-bbbbbb"]
    assert [r["val/loss"] for r in segmented["metrics"]] == [0.7, 0.5]  # two segments, a torn tail skipped
    assert segmented["status"] == "crashed"
    assert exp["sweeps"]["20261127-020000-5eeeee"]["config"]["parameters"]["opt"]["value"] == "1e3"


def _yaml12(path: Path) -> Any:
    from ruamel.yaml import YAML

    reader = YAML(typ="safe", pure=True)
    reader.version = (1, 2)
    return reader.load(path.read_text(encoding="utf-8"))


def test_a_yaml_1_2_reader_reads_every_yaml_file_the_same(corpus):
    exp = expected()
    for run_id, run in exp["runs"].items():
        path = corpus / _format.run_dir("demo", run_id) / _format.MANIFEST
        assert normal(_yaml12(path)) == run["manifest"], path
    for sweep_id, sweep in exp["sweeps"].items():
        folder = corpus / _format.sweep_dir("demo", sweep_id)
        assert normal(_yaml12(folder / _format.SWEEP_CONFIG)) == sweep["config"]
        for name, claim in sweep["claims"].items():
            assert normal(_yaml12(folder / "claims" / name)) == claim
        for name, beat in sweep["agents"].items():
            assert normal(_yaml12(folder / "agents" / name)) == beat
    assert _yaml12(corpus / _format.ROOT_MARKER) == {"format": 1}


def test_a_plain_json_parser_reads_the_records_the_same(corpus):
    spelled = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
    for run_id, run in expected()["runs"].items():
        folder = corpus / _format.run_dir("demo", run_id)
        lines: list[str] = []
        for name in ["metrics.jsonl", *sorted(p.name for p in folder.glob("metrics.*.jsonl"))]:
            if (folder / name).exists():
                lines += (folder / name).read_text().splitlines()
        records = []
        for line in lines:
            try:
                rec = json.loads(line)
            except ValueError:
                continue  # the torn last line
            records.append({k: spelled.get(v, v) if isinstance(v, str) else v for k, v in rec.items()})
        assert normal(records) == run["metrics"], run_id


def test_the_library_writes_the_corpus_byte_for_byte(corpus):
    for path in corpus.glob("*/runs/*/run.yaml"):
        manifest = _format.Manifest.from_yaml(path.read_bytes(), str(path))
        assert manifest.to_yaml() == path.read_bytes(), path
    for path in corpus.glob("*/runs/*/metrics.jsonl"):
        records = _format.decode_records(path.read_bytes(), str(path)).records
        assert _format.encode_records(records) == path.read_bytes(), path


def _regenerate() -> None:
    data = read_with_ledger(CORPUS)
    shutil.rmtree(CORPUS / ".cache", ignore_errors=True)
    EXPECTED.write_text(json.dumps(data, indent=1, ensure_ascii=False, sort_keys=True) + "\n")


if __name__ == "__main__":
    _regenerate()
