"""The config examples of docs/integrations.md, run as the scripts they are: argparse and Hydra."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

import ledger


def run_script(tmp_path, source: str, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "train.py").write_text(textwrap.dedent(source))
    return subprocess.run(
        [sys.executable, "train.py", *args], cwd=tmp_path, capture_output=True, text=True, check=False, timeout=120
    )


def test_argparse_arguments_are_the_config(tmp_path):
    proc = run_script(
        tmp_path,
        """
        import argparse
        import ledger

        parser = argparse.ArgumentParser()
        parser.add_argument("--lr", type=float, default=1e-3)
        parser.add_argument("--width", type=int, default=64)
        parser.add_argument("--epochs", type=int, default=20)
        args = parser.parse_args()

        with ledger.init(project="mnist", config=args, job_type="train", root="results") as run:
            run.log({"width_seen": run.config["width"], "lr_seen": run.config.lr})
        """,
        "--lr",
        "0.01",
        "--epochs=3",
    )
    assert proc.returncode == 0, proc.stderr
    (run,) = ledger.open(tmp_path / "results").runs()
    assert run.config == {"epochs": 3, "lr": 0.01, "width": 64}
    assert run.records()[0]["lr_seen"] == 0.01


def test_a_hydra_config_is_stored_composed_and_resolved(tmp_path):
    pytest.importorskip("hydra")
    (tmp_path / "conf" / "model").mkdir(parents=True)
    (tmp_path / "conf" / "config.yaml").write_text(
        "defaults:\n  - model: resnet\n  - _self_\ntrainer:\n  epochs: 2\n  lr: 0.1\n  warmup_lr: ${trainer.lr}\n"
    )
    (tmp_path / "conf" / "model" / "resnet.yaml").write_text("name: resnet\ndepth: 18\n")
    proc = run_script(
        tmp_path,
        """
        import hydra
        from hydra.core.hydra_config import HydraConfig
        from omegaconf import DictConfig
        import ledger

        def train_one_epoch(cfg):
            return 1.0 / cfg.model.depth

        @hydra.main(config_path="conf", config_name="config", version_base=None)
        def main(cfg: DictConfig) -> None:
            with ledger.init(project="mnist", config=cfg, group=cfg.model.name, job_type="train", root="results") as run:
                run.config.update(hydra_output=HydraConfig.get().runtime.output_dir)
                for epoch in range(cfg.trainer.epochs):
                    run.log({"loss": train_one_epoch(cfg)})

        if __name__ == "__main__":
            main()
        """,
        "model.depth=50",
        "trainer.lr=0.01",
    )
    assert proc.returncode == 0, proc.stderr
    (run,) = ledger.open(tmp_path / "results").runs()
    assert run.group == "resnet"
    assert run.config["model"] == {"name": "resnet", "depth": 50}
    assert run.config["trainer"] == {"epochs": 2, "lr": 0.01, "warmup_lr": 0.01}  # interpolation resolved
    assert run.config["hydra_output"].startswith(str(tmp_path / "outputs"))
    assert len(run.records()) == 2
