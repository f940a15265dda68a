"""The run API: config, summary, save, roots and projects, several runs, module-level calls."""

from __future__ import annotations

import argparse
import dataclasses
import enum
import math
import pathlib
import subprocess

import numpy as np
import pytest

import ledger
from ledger import _format
from ledger._storage import open_storage
from tests.helpers import all_runs, history, manifest, quiet_init


class TestConfig:
    def test_dict_config_is_stored_nested_and_sorted(self, tmp_dir):
        run = quiet_init("p", root="results", config={"lr": 1e-3, "model": {"depth": 18, "act": "relu"}})
        assert run.config["lr"] == 1e-3
        assert run.config.model == {"depth": 18, "act": "relu"}
        run.finish()
        assert manifest(tmp_dir / "results", "p", run.id).config == {"lr": 1e-3, "model": {"act": "relu", "depth": 18}}

    def test_argparse_namespace(self, tmp_dir):
        ns = argparse.Namespace(lr=0.1, epochs=3, out=pathlib.Path("out/x"))
        run = quiet_init("p", root="results", config=ns)
        run.finish()
        assert manifest(tmp_dir / "results", "p", run.id).config == {"epochs": 3, "lr": 0.1, "out": "out/x"}

    def test_dataclass_nested_and_enum(self, tmp_dir):
        class Opt(enum.Enum):
            ADAM = "adam"

        @dataclasses.dataclass
        class Inner:
            width: int = 4

        @dataclasses.dataclass
        class Cfg:
            opt: Opt = Opt.ADAM
            inner: Inner = dataclasses.field(default_factory=Inner)
            sizes: tuple[int, ...] = (1, 2)

        run = quiet_init("p", root="results", config=Cfg())
        run.finish()
        assert manifest(tmp_dir / "results", "p", run.id).config == {
            "inner": {"width": 4},
            "opt": "adam",
            "sizes": [1, 2],
        }

    def test_omegaconf_config_is_resolved(self, tmp_dir):
        omegaconf = pytest.importorskip("omegaconf")
        cfg = omegaconf.OmegaConf.create({"base": 2, "model": {"width": "${base}"}})
        run = quiet_init("p", root="results", config=cfg)
        run.finish()
        assert manifest(tmp_dir / "results", "p", run.id).config == {"base": 2, "model": {"width": 2}}

    def test_numpy_values_become_plain_numbers(self, tmp_dir):
        run = quiet_init("p", root="results", config={"lr": np.float64(0.5), "shape": np.array([2, 3])})
        run.finish()
        assert manifest(tmp_dir / "results", "p", run.id).config == {"lr": 0.5, "shape": [2, 3]}

    def test_unrepresentable_value_is_stored_as_repr_with_warning_naming_key(self, tmp_dir):
        class Thing:
            def __repr__(self) -> str:
                return "<Thing 7>"

        with pytest.warns(ledger.LedgerWarning, match=r"config value model\.act is a Thing"):
            run = quiet_init("p", root="results", config={"model": {"act": Thing()}})
        run.finish()
        assert manifest(tmp_dir / "results", "p", run.id).config == {"model": {"act": "<Thing 7>"}}

    def test_config_that_is_not_a_mapping_is_refused(self, tmp_dir):
        with pytest.raises(TypeError, match=r"config must be a dict.*not list"):
            quiet_init("p", root="results", config=[1, 2])
        assert not (tmp_dir / "results").exists()

    def test_update_adds_keys_and_rewrites_the_manifest(self, tmp_dir):
        run = quiet_init("p", root="results", config={"a": 1})
        run.config.update({"b": 2}, c=3)
        assert manifest(tmp_dir / "results", "p", run.id).config == {"a": 1, "b": 2, "c": 3}
        run.finish()


class TestSummary:
    def test_last_value_by_default_and_explicit_wins(self, tmp_dir):
        run = quiet_init("p", root="results")
        for i in range(5):
            run.log({"acc": i / 10, "loss": 1.0 / (i + 1)})
        assert run.summary["acc"] == 0.4
        run.summary["acc"] = 0.99
        run.summary["note"] = "best checkpoint"
        run.finish()
        assert manifest(tmp_dir / "results", "p", run.id).summary == {
            "acc": 0.99,
            "loss": 0.2,
            "note": "best checkpoint",
        }

    @pytest.mark.parametrize(("kind", "expected"), [("min", 0.5), ("max", 3.0), ("last", 2.0), ("mean", 1.875)])
    def test_define_metric_kinds(self, tmp_dir, kind, expected):
        run = quiet_init("p", root="results")
        run.define_metric("val_loss", summary=kind)
        for v in (3.0, 0.5, math.nan, 2.0):
            run.log({"val_loss": v})
        run.finish()
        stored = manifest(tmp_dir / "results", "p", run.id).summary["val_loss"]
        if kind == "last":
            assert stored == 2.0
        else:  # NaN is skipped by min, max and mean
            assert stored == pytest.approx(expected)

    def test_last_value_may_be_nan(self, tmp_dir):
        run = quiet_init("p", root="results")
        run.log({"loss": 1.0})
        run.log({"loss": math.nan})
        run.finish()
        assert math.isnan(manifest(tmp_dir / "results", "p", run.id).summary["loss"])

    def test_glob_patterns_and_rarely_logged_keys(self, tmp_dir):
        run = quiet_init("p", root="results", flush_interval=0.05)
        run.define_metric("val/*", summary="max")
        for step in range(300):
            metrics = {"train/loss": 1.0 / (step + 1)}
            if step % 100 == 0:
                metrics["val/acc"] = [0.5, 0.9, 0.7][step // 100]
            run.log(metrics)
        run.finish()
        summary = manifest(tmp_dir / "results", "p", run.id).summary
        assert summary == {"train/loss": 1.0 / 300, "val/acc": 0.9}

    def test_bad_summary_kind_is_refused(self, tmp_dir):
        run = quiet_init("p", root="results")
        with pytest.raises(ValueError, match="summary='median' is not one of min, max, last, mean"):
            run.define_metric("x", summary="median")
        run.finish()


class TestSave:
    def test_save_copies_into_files_keeping_relative_folders(self, tmp_dir):
        (tmp_dir / "ckpt").mkdir()
        (tmp_dir / "ckpt/model.pt").write_bytes(b"\x00weights")
        run = quiet_init("p", root="results")
        assert run.save("ckpt/model.pt") == "files/ckpt/model.pt"
        assert run.save(tmp_dir / "ckpt/model.pt", name="best.pt") == "files/best.pt"
        run.finish()
        folder = tmp_dir / "results/p/runs" / run.id / "files"
        assert (folder / "ckpt/model.pt").read_bytes() == b"\x00weights"
        assert (folder / "best.pt").read_bytes() == b"\x00weights"

    def test_save_outside_the_working_dir_keeps_the_file_name(self, tmp_dir, tmp_path_factory):
        other = tmp_path_factory.mktemp("elsewhere") / "weights.bin"
        other.write_bytes(b"w")
        run = quiet_init("p", root="results")
        assert run.save(other) == "files/weights.bin"
        run.finish()

    def test_names_that_escape_the_run_folder_are_refused(self, tmp_dir):
        (tmp_dir / "x").write_text("x")
        run = quiet_init("p", root="results")
        for bad in ("../../etc/x", "/etc/passwd", "a/../../b"):
            with pytest.raises(ledger.InvalidNameError, match="would leave the run folder"):
                run.save("x", name=bad)
        run.finish()
        assert not (tmp_dir / "results/p/runs" / run.id / "files").exists()

    def test_missing_file_says_where_it_looked(self, tmp_dir):
        run = quiet_init("p", root="results")
        with pytest.raises(FileNotFoundError, match=r"'nope.pt' is not a file"):
            run.save("nope.pt")
        run.finish()


class TestRootsAndProjects:
    def test_env_root_wins(self, tmp_dir, monkeypatch):
        monkeypatch.setenv("LEDGER_ROOT", str(tmp_dir / "elsewhere"))
        run = quiet_init("p")
        run.finish()
        assert (tmp_dir / "elsewhere/p/runs" / run.id / "run.yaml").exists()

    def test_git_repo_gives_root_and_project(self, tmp_dir):
        repo = tmp_dir / "my-paper"
        (repo / "src").mkdir(parents=True)
        subprocess.run(["git", "init", "-q", str(repo)], check=True)
        import os

        os.chdir(repo / "src")
        run = quiet_init()
        run.finish()
        assert run.project == "my-paper"
        assert (repo / "results/my-paper/runs" / run.id / "run.yaml").exists()

    def test_outside_git_uses_cwd(self, tmp_dir):
        run = quiet_init()
        run.finish()
        assert run.project == _format.sanitize_name(tmp_dir.name)
        assert (tmp_dir / "results" / run.project / "runs" / run.id).is_dir()

    def test_relative_root_is_fixed_at_init_even_after_chdir(self, tmp_dir):
        import os

        run = quiet_init("p", root="results")
        (tmp_dir / "sub").mkdir()
        os.chdir(tmp_dir / "sub")
        run.log({"a": 1})
        run.finish()
        assert len(history(tmp_dir / "results", "p", run.id)) == 1

    def test_remote_root(self, remote_root):
        memory_root = remote_root
        run = quiet_init("p", root=memory_root, config={"lr": 0.1})
        run.log({"a": 1.0})
        run.log({"a": math.nan})
        run.save(__file__, name="t.py")
        run.finish()
        assert run.dir.startswith(memory_root.split("://")[0] + "://")
        assert run.dir.endswith(f"{memory_root.split('://')[1].lstrip('/')}/p/runs/{run.id}")
        recs = history(memory_root, "p", run.id)
        assert recs[0]["a"] == 1.0
        assert math.isnan(recs[1]["a"])
        assert manifest(memory_root, "p", run.id).status == "finished"
        assert open_storage(memory_root).exists(f"p/runs/{run.id}/files/t.py")

    @pytest.mark.parametrize("where", ["local", "memory"])
    def test_store_without_append_writes_segments_and_reads_them_in_order(
        self, tmp_dir, memory_root, monkeypatch, where
    ):
        # LEDGER_APPEND=0 makes a real store take the path of object stores: one segment per flush.
        monkeypatch.setenv("LEDGER_APPEND", "0")
        root = memory_root if where == "memory" else str(tmp_dir / "results")
        run = quiet_init("p", root=root, flush_interval=1000)
        for i in range(30):
            run.log({"i": i})
            if i % 10 == 9:
                run._flush_sinks()
        run.finish()
        names = sorted(e.name for e in open_storage(root).list_dir(f"p/runs/{run.id}"))
        assert [n for n in names if n.startswith("metrics")] == [
            "metrics.0.jsonl",
            "metrics.1.jsonl",
            "metrics.2.jsonl",
        ]
        assert [r["i"] for r in history(root, "p", run.id)] == list(range(30))


class TestSeveralRuns:
    def test_module_level_calls_go_to_the_latest_unfinished_run(self, tmp_dir):
        a = quiet_init("p", root="results", name="a")
        b = quiet_init("p", root="results", name="b")
        assert ledger.active_run() is b
        ledger.log({"x": 1})
        ledger.finish()
        assert ledger.active_run() is a
        ledger.log({"x": 2})
        a.finish()
        assert ledger.active_run() is None
        assert [r["x"] for r in history(tmp_dir / "results", "p", b.id)] == [1]
        assert [r["x"] for r in history(tmp_dir / "results", "p", a.id)] == [2]

    def test_module_log_without_run_says_what_to_do(self):
        with pytest.raises(ledger.RunStateError, match=r"no active run; call ledger.init\(\) first"):
            ledger.log({"x": 1})

    def test_context_manager_finishes_and_finish_is_idempotent(self, tmp_dir):
        with quiet_init("p", root="results", group="g", job_type="train", tags=["a"], notes="n") as run:
            run.log({"x": 1})
        run.finish()
        m = manifest(tmp_dir / "results", "p", run.id)
        assert (m.status, m.group, m.job_type, m.tags, m.notes) == ("finished", "g", "train", ["a"], "n")

    def test_context_manager_records_failure_and_reraises(self, tmp_dir):
        with pytest.raises(ZeroDivisionError), quiet_init("p", root="results") as run:
            _ = 1 / 0
        m = manifest(tmp_dir / "results", "p", run.id)
        assert m.status == "failed"
        assert "ZeroDivisionError: division by zero" in m.error

    def test_runs_in_a_loop_get_distinct_ids(self, tmp_dir):
        ids = set()
        for _ in range(20):
            with quiet_init("p", root="results") as run:
                ids.add(run.id)
        assert len(ids) == 20
        assert len(all_runs(tmp_dir / "results")) == 20


class TestValidation:
    @pytest.mark.parametrize("bad", [0, -1, math.inf, math.nan, "1"])
    def test_flush_interval(self, tmp_dir, bad):
        with pytest.raises(ValueError, match="flush_interval must be a positive number"):
            quiet_init("p", root="results", flush_interval=bad)

    def test_tags_must_be_strings(self, tmp_dir):
        with pytest.raises(TypeError, match="tags must be a list of strings"):
            quiet_init("p", root="results", tags="baseline")

    def test_heartbeat_env_must_be_a_number(self, tmp_dir, monkeypatch):
        monkeypatch.setenv("LEDGER_HEARTBEAT_INTERVAL", "soon")
        with pytest.raises(
            ValueError,
            match=r"\$LEDGER_HEARTBEAT_INTERVAL='soon' cannot be used: expected a positive number of seconds",
        ):
            quiet_init("p", root="results")
