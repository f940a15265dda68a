"""Ledger.refresh: following live runs by reading only the manifests that changed, and the
progress of a cold open."""

from __future__ import annotations

import time

import yaml

import ledger
from ledger._query import _index
from tests.helpers import quiet_init


def _parsed(monkeypatch) -> list[str]:
    """The manifest paths parsed from now on."""
    parsed: list[str] = []
    real_parse = _index._parse
    monkeypatch.setattr(
        _index, "_parse", lambda path, data, storage: parsed.append(path) or real_parse(path, data, storage)
    )
    return parsed


def _edit(root, run_id: str, **changes) -> None:
    path = root / "p" / "runs" / run_id / "run.yaml"
    doc = yaml.safe_load(path.read_text())
    doc.update(changes)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


class TestRefresh:
    def test_reads_only_what_changed_and_keeps_the_other_views(self, tmp_dir, monkeypatch):
        ids = []
        for i in range(4):
            with quiet_init("p", root="results", config={"i": i}) as run:
                ids.append(run.id)
        old = ledger.open("results")
        parsed = _parsed(monkeypatch)

        assert [r.id for r in old.refresh().runs()] == ids
        assert parsed == []  # nothing changed: nothing read

        with quiet_init("p", root="results", config={"i": 4}) as run:
            ids.append(run.id)
        _edit(tmp_dir / "results", ids[1], config={"i": 100})
        (tmp_dir / "results/p/runs" / ids[2] / "run.yaml").unlink()
        new = old.refresh()

        assert sorted(parsed) == sorted(f"p/runs/{i}/run.yaml" for i in (ids[1], ids[4]))
        assert [r.id for r in new.runs()] == [ids[0], ids[1], ids[3], ids[4]]
        assert new.run(ids[1]).config == {"i": 100}
        assert new.run(ids[0]) is old.run(ids[0])  # unchanged: the same view
        assert new.run(ids[3]) is old.run(ids[3])
        assert new.run(ids[1]) is not old.run(ids[1])
        assert old.run(ids[1]).config == {"i": 1}  # the old ledger is left as it was
        assert len(old) == 4

    def test_an_attachment_made_after_the_first_read_reaches_its_target(self, tmp_dir):
        with quiet_init("p", root="results") as train:
            train.log({"acc": 0.5})
        with quiet_init("p", root="results") as other:
            pass
        old = ledger.open("results")
        with quiet_init("p", root="results", job_type="eval", parent=train.id) as ev:
            ledger.open("results").run(train.id).update_summary({"eval/acc": 0.9}, by=ev)
        new = old.refresh()
        assert new.run(train.id) is not old.run(train.id)
        assert new.run(train.id).summary == {"acc": 0.5, "eval/acc": 0.9}
        assert [rel for rel, _, way in new.run(train.id).links() if way == "in"] == ["parent", "attached"]
        assert old.run(train.id).summary == {"acc": 0.5}
        assert new.run(other.id) is old.run(other.id)

    def test_a_stale_heartbeat_reads_crashed_without_a_new_manifest(self, tmp_dir):
        with quiet_init("p", root="results") as run:
            pass
        now = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(time.time() + 1))
        _edit(tmp_dir / "results", run.id, status="running", ended=None, heartbeat=now, heartbeat_s=0.5)
        old = ledger.open("results")
        assert old.run(run.id).status == "running"
        time.sleep(3.0)  # past 3 heartbeat periods after the heartbeat
        new = old.refresh()
        assert new.run(run.id).status == "crashed"
        assert old.run(run.id).status == "running"

    def test_a_manifest_that_turns_unreadable_is_skipped_and_reported(self, tmp_dir):
        with quiet_init("p", root="results") as good:
            pass
        with quiet_init("p", root="results") as bad:
            pass
        old = ledger.open("results")
        (tmp_dir / "results/p/runs" / bad.id / "run.yaml").write_text("format: 2\nid: x\nproject: p\n")
        new = old.refresh()
        assert [r.id for r in new.runs()] == [good.id]
        assert len(new.skipped) == 1
        assert "format 2 is not supported" in new.skipped[0]

    def test_remote_root(self, remote_root):
        with quiet_init("p", root=remote_root) as first:
            pass
        old = ledger.open(remote_root)
        with quiet_init("p", root=remote_root) as second:
            pass
        new = old.refresh()
        assert [r.id for r in new.runs()] == [first.id, second.id]
        assert new.run(first.id) is old.run(first.id)


def test_a_cold_open_reports_its_progress(tmp_dir, monkeypatch):
    for _ in range(5):
        with quiet_init("p", root="results"):
            pass
    monkeypatch.setattr(_index, "_BATCH", 2)
    seen: list[tuple[int, int]] = []
    assert len(ledger.open("results", cache=False, progress=lambda done, total: seen.append((done, total)))) == 5
    assert seen == [(0, 5), (2, 5), (4, 5), (5, 5)]
    ledger.open("results")  # writes the cache
    seen.clear()
    ledger.open("results", progress=lambda done, total: seen.append((done, total)))
    assert seen == [(5, 5)]  # warm: everything came from the cache at once


def test_a_run_by_its_exact_id_is_found_without_a_scan(tmp_dir):
    with quiet_init("p", root="results") as run:
        pass
    lg = ledger.open("results")
    assert lg.run(run.id) is lg.runs()[0]
    assert lg.run(run.id, project="p") is lg.runs()[0]
