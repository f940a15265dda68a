"""Linked runs: an evaluation job that belongs to a training run, and attaches its results."""

from __future__ import annotations

import pytest

import ledger
from tests.helpers import quiet_init


def test_eval_job_links_and_attaches_results_without_touching_the_training_run(tmp_dir):
    with quiet_init("p", root="results", job_type="train", name="train") as train:
        train.log({"loss": 0.3})
    train_yaml = (tmp_dir / "results/p/runs" / train.id / "run.yaml").read_bytes()
    train_metrics = (tmp_dir / "results/p/runs" / train.id / "metrics.jsonl").read_bytes()

    with quiet_init(
        "p", root="results", job_type="eval", name="eval", parent=train.id, links={"evaluates": train.id}
    ) as ev:
        ev.log({"acc": 0.91})
        ledger.open("results").run(train.id).update_summary({"eval/acc": 0.91, "eval/f1": 0.88}, by=ev)

    # The training run's files were not rewritten: the values live in the eval run's manifest.
    assert (tmp_dir / "results/p/runs" / train.id / "run.yaml").read_bytes() == train_yaml
    assert (tmp_dir / "results/p/runs" / train.id / "metrics.jsonl").read_bytes() == train_metrics

    lg = ledger.open("results")
    t = lg.run(train.id)
    assert t.summary == {"loss": 0.3, "eval/acc": 0.91, "eval/f1": 0.88}
    assert sorted(t.links()) == [("attached", ev.id, "in"), ("evaluates", ev.id, "in"), ("parent", ev.id, "in")]
    assert sorted(lg.run(ev.id).links()) == [("evaluates", train.id, "out"), ("parent", train.id, "out")]
    assert [r.name for r in lg.runs(where=f'parent == "{train.id}"')] == ["eval"]
    assert [r.name for r in lg.runs(where=f"links.evaluates == '{train.id}'")] == ["eval"]
    assert [r.name for r in lg.runs(where="summary.`eval/acc` > 0.9")] == ["train"]


def test_a_later_attachment_wins(tmp_dir):
    with quiet_init("p", root="results") as train:
        pass
    for acc in (0.5, 0.7):
        with quiet_init("p", root="results", parent=train.id) as ev:
            ledger.open("results").run(train.id).update_summary({"eval/acc": acc}, by=ev)
    assert ledger.open("results").run(train.id).summary == {"eval/acc": 0.7}


def test_bad_relations_are_refused(tmp_dir):
    with pytest.raises(ledger.InvalidNameError, match=r"parent run id '../x' cannot be used"):
        quiet_init("p", root="results", parent="../x")
    with pytest.raises(ValueError, match="relation 'bad name' must be a name like 'evaluates'"):
        quiet_init("p", root="results", links={"bad name": "20260101-000000-abcdef"})
    with quiet_init("p", root="results") as run:
        pass
    with pytest.raises(TypeError, match="by= must be the live run"):
        ledger.open("results").run(run.id).update_summary({"x": 1}, by="me")
