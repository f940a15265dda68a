"""Hugging Face Transformers: a real Trainer.train on a tiny BERT built from a config (no hub)."""

from __future__ import annotations

import os
import textwrap

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"  # nothing here can reach a hub, and nothing may try
os.environ["TRANSFORMERS_OFFLINE"] = "1"
torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("accelerate")

import ledger  # noqa: E402
from ledger.integrations.transformers import LedgerCallback  # noqa: E402
from tests.helpers import run_python  # noqa: E402

QUIET = {"capture_output": False, "system_metrics": False}

MODEL_SETUP = """
import torch
from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments

def tiny_bert():
    torch.manual_seed(0)
    config = BertConfig(vocab_size=32, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=16, num_labels=2)
    return BertForSequenceClassification(config)

def dataset(n=16):
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(1, 32, (n, 8), generator=g)
    return [{"input_ids": ids[i], "attention_mask": torch.ones(8, dtype=torch.long), "labels": int(ids[i, 0] % 2)}
            for i in range(n)]

def arguments(out, **kw):
    options = dict(output_dir=str(out), num_train_epochs=2, per_device_train_batch_size=4,
                   per_device_eval_batch_size=8, learning_rate=1e-3, logging_steps=1, eval_strategy="epoch",
                   save_strategy="no", report_to="none", use_cpu=True, disable_tqdm=True, seed=0,
                   dataloader_num_workers=0)
    options.update(kw)
    return TrainingArguments(**options)
"""
namespace: dict = {}
exec(MODEL_SETUP, namespace)  # the same setup runs in a child interpreter below
tiny_bert, dataset, arguments = namespace["tiny_bert"], namespace["dataset"], namespace["arguments"]
Trainer = transformers.Trainer


def test_train_logs_args_model_config_steps_eval_and_finishes(tmp_path):
    cb = LedgerCallback(project="hf", root=tmp_path / "results", group="tiny-bert", **QUIET)
    model = tiny_bert()
    trainer = Trainer(
        model=model,
        args=arguments(tmp_path / "out"),
        train_dataset=dataset(),
        eval_dataset=dataset(8),
        callbacks=[cb],
    )
    trainer.train()

    (run,) = ledger.open(tmp_path / "results").runs()
    assert (run.id, run.status, run.group) == (cb.run.id, "finished", "tiny-bert")
    args = run.config["training_args"]
    assert (args["learning_rate"], args["num_train_epochs"], args["per_device_train_batch_size"]) == (1e-3, 2, 4)
    model_config = run.config["model_config"]
    assert (model_config["hidden_size"], model_config["num_hidden_layers"], model_config["model_type"]) == (
        16,
        2,
        "bert",
    )
    assert run.config["model_params"] == sum(p.numel() for p in model.parameters())
    records = run.records()
    train = [r for r in records if "train/loss" in r]
    assert [r["_step"] for r in train] == list(range(1, 9))  # 16 samples / 4 per batch x 2 epochs
    assert {"train/learning_rate", "train/grad_norm", "epoch"} <= set(train[0])
    evals = [r for r in records if "eval/loss" in r]
    assert [(r["_step"], r["epoch"]) for r in evals] == [(4, 1.0), (8, 2.0)]
    assert {"train_runtime", "train_loss", "total_flos"} <= set(run.summary)
    assert not any("train_runtime" in r or "train/train_runtime" in r for r in records)  # summary only


def test_evaluate_after_train_reopens_the_same_run(tmp_path):
    cb = LedgerCallback(project="hf", root=tmp_path, **QUIET)
    trainer = Trainer(
        model=tiny_bert(),
        args=arguments(tmp_path / "out", eval_strategy="no"),
        train_dataset=dataset(),
        eval_dataset=dataset(8),
        callbacks=[cb],
    )
    trainer.train()
    metrics = trainer.evaluate()

    (run,) = ledger.open(tmp_path).runs()
    assert run.status == "finished"
    last = run.records()[-1]
    assert last["_step"] == 8
    assert last["eval/loss"] == pytest.approx(metrics["eval_loss"])
    assert len(run.doc["intervals"]) == 2


def test_only_the_world_process_zero_writes(tmp_path):
    cb = LedgerCallback(project="hf", root=tmp_path / "results", **QUIET)
    args = arguments(tmp_path / "out")
    state = transformers.TrainerState(is_world_process_zero=False, is_local_process_zero=False)
    control = transformers.TrainerControl()
    cb.on_train_begin(args, state, control, model=tiny_bert())
    cb.on_log(args, state, control, logs={"loss": 1.0})
    cb.on_train_end(args, state, control)
    assert cb.run is None
    assert not (tmp_path / "results").exists()


@pytest.mark.slow
def test_a_script_whose_train_raises_leaves_a_failed_run(tmp_path):
    script = MODEL_SETUP + textwrap.dedent(
        """
        from transformers import TrainerCallback
        from ledger.integrations.transformers import LedgerCallback

        class Boom(TrainerCallback):
            def on_step_end(self, args, state, control, **kwargs):
                if state.global_step == 3:
                    raise RuntimeError("NaN loss at step 3")

        trainer = Trainer(model=tiny_bert(), args=arguments("out", eval_strategy="no"), train_dataset=dataset(),
                          callbacks=[LedgerCallback(project="hf", root="results", system_metrics=False), Boom()])
        trainer.train()
        """
    )
    proc = run_python(script, tmp_path, env={"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}, timeout=300)
    assert proc.returncode == 1, proc.stderr
    assert "RuntimeError: NaN loss at step 3" in proc.stderr, proc.stderr
    (run,) = ledger.open(tmp_path / "results").runs()
    assert run.status == "failed"
    assert "RuntimeError: NaN loss at step 3" in run.doc["error"]
    assert [r["_step"] for r in run.records() if "train/loss" in r] == [1, 2]


@pytest.mark.parametrize("log_model", [True, "best"])
def test_log_model_logs_checkpoint_folders_with_best_on_the_best(tmp_path, monkeypatch, log_model):
    monkeypatch.setenv("LEDGER_ARTIFACT_CACHE", str(tmp_path / "cache"))
    cb = LedgerCallback(project="hf", root=tmp_path / "results", log_model=log_model, **QUIET)
    args = arguments(tmp_path / "out", save_strategy="epoch", num_train_epochs=4, learning_rate=0.05)
    Trainer(model=tiny_bert(), args=args, train_dataset=dataset(), eval_dataset=dataset(8), callbacks=[cb]).train()

    lg = ledger.open(tmp_path / "results")
    (run,) = lg.runs()
    evals = [r["eval/loss"] for r in run.records() if "eval/loss" in r]
    improving = [i for i, v in enumerate(evals) if v < min(evals[:i], default=float("inf"))]
    assert improving != list(range(len(evals)))  # the best is not simply the last checkpoint
    versions = lg.artifacts(name=f"model-{run.id}")
    expected = list(range(len(evals))) if log_model is True else improving
    assert [v.metadata["epoch"] for v in versions] == [float(i + 1) for i in expected]
    assert [v.metadata["step"] for v in versions] == [4 * (i + 1) for i in expected]
    assert {v.metadata["monitor"] for v in versions} == {"eval_loss"}
    assert all("model.safetensors" in v.files and "trainer_state.json" in v.files for v in versions)
    best = lg.artifact(f"model-{run.id}:best")
    assert best.metadata["score"] == pytest.approx(min(evals))
    local = best.download()
    restored = transformers.BertForSequenceClassification.from_pretrained(local)
    assert sum(p.numel() for p in restored.parameters()) == run.config["model_params"]
