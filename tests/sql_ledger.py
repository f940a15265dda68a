"""A ledger for SQL questions, written as the format says (manifests by ledger's own writer,
records by its own encoder), and the README's five research questions answered with pandas
from ``to_pandas()`` and ``history()``: the reference ``tests/test_sql.py`` and
``benchmarks/sql.py`` hold the SQL answers to.

Runs in groups ``idea-0..`` by three users over three months, some with GPUs; every run logs
``train/loss`` every step and ``val/acc`` every 10 steps; runs 1..8 differ from the run named
``baseline`` in one config key (odd ones) or two (even ones); a sweep per group holds its
runs as trials (metric ``val/acc``, maximize).
"""

from __future__ import annotations

import math
import random
import re
from pathlib import Path

import pandas as pd

import ledger
from ledger import _format

MONTHS = ("2026-09", "2026-10", "2026-11")
USERS = ("ada", "grace", "alan")
BASELINE = {"lr": 0.001, "batch_size": 64, "model": "resnet", "dropout": 0.1, "augment": True}
THRESHOLD = 0.9  # question 1
LAST_K = 3  # question 2


def make_ledger(root: Path, runs: int, steps: int, *, groups: int = 5, seed: int = 0) -> None:
    """``runs`` finished runs of ``steps`` records each under ``root`` (project ``p``)."""
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    (root / _format.ROOT_MARKER).write_bytes(_format.root_marker())
    (root / _format.ROOT_GITIGNORE).write_text(f"{_format.CACHE_DIR}/\n")
    sweeps = [f"20260901-000000-{g:06x}" for g in range(groups)]
    for g, sweep_id in enumerate(sweeps):
        folder = root / "p" / _format.SWEEPS_DIR / sweep_id
        folder.mkdir(parents=True)
        config = {"name": f"idea-{g}", "method": "random", "metric": {"name": "val/acc", "goal": "maximize"},
                  "parameters": {"lr": {"values": [0.01, 0.001, 0.0001]}}}  # fmt: skip
        (folder / _format.SWEEP_CONFIG).write_bytes(_format.yaml_dump(config))
    for i in range(runs):
        month = MONTHS[i % len(MONTHS)]
        created = f"{month}-{1 + i % 28:02d}T{i % 24:02d}:00:00.000Z"
        run_id = f"{month.replace('-', '')}{1 + i % 28:02d}-{i % 24:02d}0000-{i:06x}"
        config = dict(BASELINE)
        if 1 <= i <= 8:
            config["lr"] = 0.01 if i % 2 else 0.0003
            if i % 2 == 0:
                config["batch_size"] = 128
        elif i > 8:
            config = {"lr": rng.choice([0.01, 0.001, 0.0001]), "batch_size": rng.choice([32, 64, 128]),
                      "model": rng.choice(["resnet", "vit"]), "dropout": rng.choice([0.0, 0.1, 0.3]),
                      "augment": rng.random() < 0.5, "seed": i % 5}  # fmt: skip
        speed = rng.uniform(0.5, 3.0)
        ceiling = rng.uniform(0.8, 0.97)
        lines = []
        acc = math.nan
        for s in range(steps):
            rec: dict[str, float | int] = {"_step": s, "_time": 1.79e9 + i * 1000 + s,
                                           "train/loss": math.exp(-speed * s / steps) + rng.random() * 0.01}  # fmt: skip
            if s % 10 == 9 or s == steps - 1:
                acc = ceiling * (1 - math.exp(-speed * 3 * (s + 1) / steps))
                rec["val/acc"] = acc
            lines.append(rec)
        duration = rng.uniform(600, 36000)
        group = f"idea-{i % groups}"
        m = _format.Manifest(
            id=run_id, name="baseline" if i == 0 else f"run-{i}", project="p", group=group, job_type="train",
            status="finished", created=created, ended=created, duration_s=round(duration, 3),
            gpu_count=[0, 1, 2, 4][i % 4], heartbeat=created, user=USERS[i % len(USERS)], config=config,
            summary={"val/acc": acc, "train/loss": lines[-1]["train/loss"]},
            sweep={"id": sweeps[i % groups], "trial": i // groups + 1},
        )  # fmt: skip
        folder = root / "p" / "runs" / run_id
        folder.mkdir(parents=True)
        (folder / _format.MANIFEST).write_bytes(m.to_yaml())
        (folder / _format.METRICS).write_bytes(_format.encode_records(lines))


# ---- the README's questions: SQL (read from the README) and pandas ------------------------------------

QUESTIONS = (
    "first step reaching a threshold",
    "mean of the last k evaluations per group",
    "GPU hours per month per user",
    "best trial per sweep",
    "config differs from the baseline in exactly one key",
)


def readme_queries(readme: Path) -> dict[str, str]:
    """The README's SQL blocks, each under a line ``-- Q: <question>`` in a ```sql block."""
    text = readme.read_text(encoding="utf-8")
    found = {}
    for block in re.findall(r"```sql\n(.*?)```", text, flags=re.DOTALL):
        match = re.match(r"-- Q: (.+)\n", block)
        if match:
            found[match.group(1).strip()] = block
    return found


def _histories(lg: ledger.Ledger, key: str) -> dict[str, pd.DataFrame]:
    out = {}
    for run in lg.runs(order_by=None):
        h = run.history([key])
        out[run.id] = h[h[key].notna()]
    return out


def first_step(lg: ledger.Ledger) -> pd.DataFrame:
    rows = []
    for run_id, h in _histories(lg, "val/acc").items():
        hit = h[h["val/acc"] >= THRESHOLD]
        if len(hit):
            rows.append((run_id, int(hit["_step"].min())))
    return pd.DataFrame(rows, columns=["run_id", "first_step"]).sort_values("run_id", ignore_index=True)


def mean_last_k(lg: ledger.Ledger) -> pd.DataFrame:
    frame = lg.runs(order_by=None).to_pandas().set_index("id")
    pooled: dict[str, list[float]] = {}
    for run_id, h in _histories(lg, "val/acc").items():
        pooled.setdefault(frame.loc[run_id, "group"], []).extend(h["val/acc"].iloc[-LAST_K:].tolist())
    rows = [(g, sum(v) / len(v)) for g, v in sorted(pooled.items())]
    return pd.DataFrame(rows, columns=["group", "mean_last_3"])


def gpu_hours(lg: ledger.Ledger) -> pd.DataFrame:
    parts = []
    for user in sorted({r.doc.get("user") for r in lg.runs(order_by=None)}):
        table = lg.runs(user=user, order_by=None).compute_hours(by="month")
        parts.append(pd.DataFrame({"user": user, "month": table["month"], "gpu_hours": table["gpu_hours"]}))
    frame = pd.concat(parts, ignore_index=True)
    return frame.sort_values(["month", "user"], ignore_index=True)


def best_trial(lg: ledger.Ledger) -> pd.DataFrame:
    rows = []
    for sweep in lg.sweeps():
        name, goal = sweep.metric  # type: ignore[misc]
        best = sweep.runs.best(metric=f"summary.{name}", goal="max" if goal == "maximize" else "min")
        rows.append((sweep.id, best.id, best.summary[name]))
    return pd.DataFrame(rows, columns=["sweep", "best_run", "best"]).sort_values("sweep", ignore_index=True)


def one_key_from_baseline(lg: ledger.Ledger) -> pd.DataFrame:
    frame = lg.runs(order_by=None).to_pandas()
    config = [c for c in frame.columns if c.startswith("config.")]
    base = frame[frame["name"] == "baseline"].iloc[0]
    rows = []
    for _, run in frame[frame["name"] != "baseline"].iterrows():
        differ = [c for c in config if not (pd.isna(run[c]) and pd.isna(base[c])) and run[c] != base[c]]
        if len(differ) == 1:
            rows.append((run["id"], run["name"], differ[0]))
    return pd.DataFrame(rows, columns=["id", "name", "changed"]).sort_values("id", ignore_index=True)


PANDAS = dict(zip(QUESTIONS, (first_step, mean_last_k, gpu_hours, best_trial, one_key_from_baseline), strict=True))
