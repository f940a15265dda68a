"""The cost of LedgerLoggerCallback per reported result, against Ray Tune's own report() alone.

Runs the same Tuner (one trial reporting N results of 5 metrics) on a local Ray
(``ray.init(num_cpus=2)``) without and with the callback, interleaved, and prints the time
per reported result of each (the whole fit divided by N) and their ratio. Both include Tune's
own default loggers (JSON, CSV, TensorBoard), as a user's fit does. Target: under 1.05.

Also prints the callback alone: its ``log_trial_result`` called directly on N results, per
result, for a sense of where the time goes.

    python benchmarks/ray_callback.py [--results 2000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import ray
from ray import tune

from ledger.integrations.ray import LedgerLoggerCallback


def trainable(config):
    for i in range(config["n"]):
        tune.report({"loss": 1.0 / (i + 1), "acc": i / config["n"], "lr": 0.1, "epoch": i, "val": {"loss": 0.5}})


def fit(n: int, storage: str, root: str | None) -> float:
    callbacks = [LedgerLoggerCallback(project="bench", root=root)] if root is not None else []
    tuner = tune.Tuner(
        trainable,
        param_space={"n": n},
        run_config=tune.RunConfig(storage_path=storage, callbacks=callbacks, verbose=0),
    )
    t0 = time.perf_counter()
    tuner.fit()
    return (time.perf_counter() - t0) / n


class _Trial:
    trial_id = "bench_00000"
    config = {"n": 0}  # noqa: RUF012
    experiment_dir_name = "bench"

    def __str__(self) -> str:
        return "trainable_bench_00000"


def callback_alone(n: int, root: str) -> float:
    callback = LedgerLoggerCallback(project="alone", root=root)
    trial = _Trial()
    callback.log_trial_start(trial)
    results = [
        {"loss": 1.0 / (i + 1), "acc": i / n, "lr": 0.1, "epoch": i, "val": {"loss": 0.5}, "training_iteration": i + 1,
         "time_this_iter_s": 0.001, "time_total_s": i * 0.001, "done": False, "trial_id": trial.trial_id,
         "timestamp": 0, "date": "", "pid": 1, "hostname": "h", "node_ip": "ip", "config": {"n": n}}
        for i in range(n)
    ]  # fmt: skip
    t0 = time.perf_counter()
    for i, result in enumerate(results):
        callback.log_trial_result(i, trial, result)
    elapsed = time.perf_counter() - t0
    callback.log_trial_end(trial)
    return elapsed / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    plain, logged = [], []
    with tempfile.TemporaryDirectory() as tmp:
        fit(100, f"{tmp}/ray", f"{tmp}/results")  # warm up both paths
        fit(100, f"{tmp}/ray", None)
        for _ in range(args.repeats):
            plain.append(fit(args.results, f"{tmp}/ray", None))
            logged.append(fit(args.results, f"{tmp}/ray", f"{tmp}/results"))
        alone = callback_alone(args.results, f"{tmp}/results")
    ray.shutdown()
    p, w = statistics.median(plain), statistics.median(logged)
    print(f"one trial reporting {args.results} results of 5 metrics, median of {args.repeats}:")
    print(f"  Ray Tune alone:             {p * 1e6:9.1f} us/result")
    print(f"  with LedgerLoggerCallback:  {w * 1e6:9.1f} us/result")
    print(f"  ratio:                      {w / p:9.3f}x  (target < 1.05)")
    print(f"  the callback alone:         {alone * 1e6:9.1f} us/result (log_trial_result called directly)")


if __name__ == "__main__":
    main()
