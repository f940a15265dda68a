"""The README's five SQL questions on a 10,000-run ledger: `Ledger.sql` against the same answers
computed with pandas from `to_pandas()`/`history()` (results asserted equal), and against
MLflow's `search_runs` where it can express them.

The ledger is tests/sql_ledger.py's (written once into --root, default /tmp/ledger-sql-bench,
and reused): N finished runs of --steps records (train/loss every step, val/acc every 10), in
5 groups and sweeps, by 3 users over 3 months. Timed, in this process, on an opened ledger:

- sql (first): the query with the history cache cold (the first query parses JSON lines once);
- sql: the same query again (histories from the cache);
- pandas: the tests' pandas answer (history() per run through the same cache, to_pandas(), ...);
- mlflow: the same runs logged to an MLflow SQLite store (--mlflow-runs of them, default all;
  about 13 minutes at 10,000 on the 2-core VM; reused by later runs of this script), then `search_runs` for what it can express: the best trial per sweep
  (one `search_runs` per sweep, ordered by the metric, max_results=1), and runs whose params
  differ from the baseline in one key (one `search_runs` per param: that one differs, the
  others equal). The other three need metric histories or aggregation, which `search_runs`
  does not give (get_metric_history per run, then pandas).

    python benchmarks/sql.py [--runs 10000] [--steps 100] [--root DIR] [--mlflow-runs N] [--no-mlflow]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

import pandas as pd

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # no network calls from the benchmark
os.environ.setdefault("DO_NOT_TRACK", "true")
HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent)]

import ledger  # noqa: E402
from ledger import _format  # noqa: E402
from tests import sql_ledger  # noqa: E402


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def mlflow_store(lg: ledger.Ledger, folder: Path, limit: int | None) -> tuple[str, dict[str, str]]:
    """The ledger's runs logged to an MLflow SQLite store (params, final metrics, sweep tag)."""
    import mlflow
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.tracking import MlflowClient

    runs = list(lg.runs())[:limit]
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    marker = folder / "logged.txt"
    if marker.exists() and marker.read_text() == f"{len(runs)} runs of {lg.root}":  # logged by an earlier run
        exp = MlflowClient(uri).get_experiment_by_name("bench").experiment_id
        return uri, {"experiment": exp, **{str(i): r.id for i, r in enumerate(runs)}}
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    client = MlflowClient(uri)
    exp = client.create_experiment("bench", artifact_location=str(folder / "artifacts"))
    ids = {}
    for run in runs:
        r = client.create_run(exp, run_name=run.name, tags={"sweep": run.doc["sweep"]["id"], "group": run.group})
        params = [Param(k, str(v)) for k, v in run.config.items()]
        metrics = [Metric(k.replace("/", "_"), float(v), 0, 0) for k, v in run.summary.items()]
        client.log_batch(r.info.run_id, metrics=metrics, params=params, tags=[RunTag("ledger_id", run.id)])
        client.set_terminated(r.info.run_id)
        ids[r.info.run_id] = run.id
    del mlflow
    marker.write_text(f"{len(runs)} runs of {lg.root}")
    return uri, {"experiment": exp, **ids}


def mlflow_best_trial(uri: str, exp: str, sweeps: list[str]) -> pd.DataFrame:
    import mlflow

    mlflow.set_tracking_uri(uri)
    rows = []
    for sweep in sweeps:
        found = mlflow.search_runs([exp], filter_string=f"tags.sweep = '{sweep}'", order_by=["metrics.val_acc DESC"],
                                   max_results=1)  # fmt: skip
        rows.append((sweep, found["tags.ledger_id"].iloc[0], found["metrics.val_acc"].iloc[0]))
    return pd.DataFrame(rows, columns=["sweep", "best_run", "best"])


def mlflow_one_key(uri: str, exp: str) -> pd.DataFrame:
    """One search_runs per baseline param (that one differs, the others equal), and one for
    runs equal on every baseline param (then: exactly one param the baseline lacks). MLflow
    cannot say "has no param seed", so that part is counted in pandas."""
    import mlflow

    mlflow.set_tracking_uri(uri)
    base = {k: str(v) for k, v in sql_ledger.BASELINE.items()}
    rows = []
    for changed in [*base, None]:
        clauses = [f"params.{k} {'!=' if k == changed else '='} '{v}'" for k, v in base.items()]
        found = mlflow.search_runs([exp], filter_string=" and ".join(clauses), max_results=50_000)
        if found.empty:
            continue
        extra = [c for c in found.columns if c.startswith("params.") and c[7:] not in base]
        present = found[extra].notna() if extra else pd.DataFrame(index=found.index)
        keep = present.sum(axis=1) == (0 if changed is not None else 1)
        for i, (_, run) in enumerate(found[keep].iterrows()):
            key = changed if changed is not None else next(c[7:] for c in extra if present[keep].iloc[i][c])
            if run["tags.mlflow.runName"] != "baseline":
                rows.append((run["tags.ledger_id"], run["tags.mlflow.runName"], f"config.{key}"))
    return pd.DataFrame(rows, columns=["id", "name", "changed"]).sort_values("id", ignore_index=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--root", default="/tmp/ledger-sql-bench")
    parser.add_argument("--mlflow-runs", type=int)
    parser.add_argument("--no-mlflow", action="store_true")
    args = parser.parse_args()
    base = Path(args.root)
    root = base / f"results-{args.runs}x{args.steps}"
    if not (root / _format.ROOT_MARKER).exists():
        shutil.rmtree(root, ignore_errors=True)
        seconds, _ = timed(lambda: sql_ledger.make_ledger(root, args.runs, args.steps))
        print(f"wrote {args.runs:,} runs x {args.steps} steps in {seconds:.0f} s")
    shutil.rmtree(root / _format.CACHE_DIR / "history", ignore_errors=True)  # the first query builds it
    lg = ledger.open(str(root))
    queries = sql_ledger.readme_queries(HERE.parent / "README.md")
    print(f"{len(lg):,} runs; median-free single timings (seconds)")
    print(f"{'question':52s} {'sql first':>10s} {'sql':>8s} {'pandas':>8s} {'mlflow':>8s}")
    mlflow_answers = {}
    if not args.no_mlflow:
        seconds, (uri, ids) = timed(lambda: mlflow_store(lg, base / "mlflow", args.mlflow_runs))
        print(f"(MLflow's SQLite store holds {len(ids) - 1:,} runs; {seconds:.0f} s to log them or find them logged)")
        sweeps = sorted({r.doc["sweep"]["id"] for r in lg.runs()})
        mlflow_answers[sql_ledger.QUESTIONS[3]] = lambda: mlflow_best_trial(uri, ids["experiment"], sweeps)
        mlflow_answers[sql_ledger.QUESTIONS[4]] = lambda: mlflow_one_key(uri, ids["experiment"])
    for question in sql_ledger.QUESTIONS:
        first, got = timed(lambda q=question: lg.sql(queries[q]))
        again, got = timed(lambda q=question: lg.sql(queries[q]))
        by_pandas, expected = timed(lambda q=question: sql_ledger.PANDAS[q](lg))
        pd.testing.assert_frame_equal(got, expected, check_dtype=False)
        by_mlflow = "-"
        if question in mlflow_answers:
            seconds, answer = timed(mlflow_answers[question])
            if args.mlflow_runs is None:
                pd.testing.assert_frame_equal(answer.reset_index(drop=True), expected, check_dtype=False)
            by_mlflow = f"{seconds:8.2f}"
        print(f"{question:52s} {first:10.2f} {again:8.2f} {by_pandas:8.2f} {by_mlflow:>8s}   ({len(got)} rows, equal)")


if __name__ == "__main__":
    main()
