"""`ledger import tensorboard`: event files written by tensorboardX's real SummaryWriter,
read back through the tensorboard package, compared value by value after import."""

from __future__ import annotations

import math

import numpy as np
import pytest

import ledger
from ledger import _format

pytest.importorskip("tensorboard")
tbx = pytest.importorskip("tensorboardX")

T0 = 1_790_000_000.0


def f32(x: float) -> float:
    """What an event file holds for a scalar: a float32."""
    return float(np.float32(x))


def write_logs(logdir) -> dict[str, list[tuple[str, int, float, float]]]:
    """Two runs the way people lay them out (one folder per run); (tag, step, walltime, value) each."""
    logged: dict[str, list[tuple[str, int, float, float]]] = {}
    for run, scale in (("resnet/seed0", 1.0), ("resnet/seed1", 2.0)):
        w = tbx.SummaryWriter(str(logdir / run))
        rows = []
        for step in range(0, 50, 10):
            t = T0 + step + scale / 10
            for tag, value in (("train/loss", scale / (step + 1)), ("val/acc", 0.01 * step * scale)):
                w.add_scalar(tag, value, global_step=step, walltime=t)
                rows.append((tag, step, t, value))
        for tag, value in (("weird/nan", math.nan), ("weird/inf", math.inf)):
            w.add_scalar(tag, value, global_step=50, walltime=T0 + 60)
            rows.append((tag, 50, T0 + 60, value))
        w.add_image("sample", np.zeros((3, 4, 4)), global_step=0, walltime=T0)
        w.add_hparams({"lr": 0.001 * scale, "opt": "adam", "layers": 3, "bn": True}, {"hparam/best": 0.5 * scale})
        w.close()
        logged[run] = rows
    return logged


def test_every_scalar_step_and_time(tmp_path, ledger_cli):
    logged = write_logs(tmp_path / "runs")
    code, out, err = ledger_cli("import", "tensorboard", str(tmp_path / "runs"), "--root", "results")
    assert code == 0, err
    assert "2 imported, 0 skipped" in out
    assert "left out: 'images' summaries (tags sample): only scalars are imported" in out, out
    lg = ledger.open("results")
    runs = {r.name: r for r in lg.runs()}
    assert set(runs) == set(logged), "add_hparams' timestamp folders joined their runs"
    for name, rows in logged.items():
        run = runs[name]
        assert run.project == tmp_path.name  # as ledger.init would choose here
        assert run.status == "finished"
        assert run.doc["imported_from"]["kind"] == "tensorboard"
        records = run.records()
        for tag in {r[0] for r in rows}:
            want = [(step, t, f32(v)) for k, step, t, v in rows if k == tag]
            have = [(r["_step"], r["_time"], r[tag]) for r in records if tag in r]
            assert len(have) == len(want), tag
            for (s1, t1, v1), (s2, t2, v2) in zip(have, want, strict=True):
                assert s1 == s2
                assert t1 == pytest.approx(t2, abs=1e-6)  # event wall times are doubles
                assert v1 == v2 or (math.isnan(v1) and math.isnan(v2)), (tag, v1, v2)
        scale = 1.0 if name.endswith("0") else 2.0
        assert run.config == {"lr": 0.001 * scale, "opt": "adam", "layers": 3, "bn": True}
        assert run.summary["hparam/best"] == f32(0.5 * scale)
        assert run.summary["train/loss"] == f32(scale / 41)
        assert math.isnan(run.summary["weird/nan"])
        assert run.summary["weird/inf"] == math.inf
        assert _format.parse_iso(run.doc["created"]) == pytest.approx(T0, abs=1e-3)
        steps = [r["_step"] for r in records]
        assert steps == sorted(steps)


def test_imported_twice_is_not_duplicated(tmp_path, ledger_cli):
    write_logs(tmp_path / "runs")
    assert ledger_cli("import", "tensorboard", "runs/resnet/seed0", "--root", "results")[0] == 0
    code, out, _err = ledger_cli("import", "tensorboard", "runs", "--root", "results", "--project", "p")
    assert code == 0
    assert '"resnet/seed0": already imported as' in out
    assert "1 imported, 1 skipped" in out
    assert len(ledger.open("results").runs()) == 2


def test_explicit_wall_times_are_the_runs_times(tmp_path, ledger_cli):
    """Scalars logged with walltime= three years back (a replay, a conversion): the run lasts
    as long as its data, not from then until the moment the file and add_hparams were written."""
    w = tbx.SummaryWriter(str(tmp_path / "runs/replayed"))
    past = T0 - 3 * 365 * 86400
    for step in range(10):
        w.add_scalar("loss", 1 / (step + 1), global_step=step, walltime=past + 60 * step)
    w.add_hparams({"lr": 0.1}, {"hparam/final": 0.1})
    w.close()
    code, _out, err = ledger_cli("import", "tensorboard", str(tmp_path / "runs"), "--root", "results")
    assert code == 0, err
    (run,) = ledger.open("results").runs()
    assert _format.parse_iso(run.doc["created"]) == pytest.approx(past, abs=1e-3)
    assert _format.parse_iso(run.doc["ended"]) == pytest.approx(past + 540, abs=1e-3)
    assert run.doc["duration_s"] == pytest.approx(540, abs=1e-3)
    assert ledger.open("results").compute_hours(by="project")["hours"][0] == pytest.approx(540 / 3600, abs=1e-6)
    assert run.config == {"lr": 0.1}
