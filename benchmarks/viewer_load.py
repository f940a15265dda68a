"""The viewer as a researcher's workspace at 10,000 runs, timed in a real browser (Debian's
Chromium, Playwright), with and without 20 live runs writing.

Builds a ledger of N runs: the synthetic runs of benchmarks/open_index.py (realistic
manifests, 4 projects) and, in project ``curves``, 550 runs with histories of 200-1,000 steps
of 5 metrics (group ``c500``: 500 runs, group ``c50``: 50 runs). Serves it with `ledger view`
and times, each from the user's action to the page having finished and painted:

- cold:    a fresh `ledger view` and no index cache: until the progress bar shows counts,
           and until the runs table is on screen
- warm:    a new tab (a new session) on a running viewer: the first table
- where:   typing a where filter and pressing Enter, until the new count is shown
- sort, group, tick: picking a sort column, grouping by a config key, ticking a run
- charts:  the Charts page on 50 and on 500 runs, after each settings change (log y, panels
           per row, x axis, band, smoothing), until the charts are redrawn

then the same with 20 live runs writing (20 processes that log every 0.1 s and heartbeat
every 2 s into the same ledger), so that the viewer's view of the tree changes all the time.

Targets (the viewer issue): warm first table < 2 s; where < 0.5 s; sort, group, tick < 0.5 s;
charts of 50 runs < 1.5 s and of 500 runs < 3 s after a settings change; the same with 20 live
runs; a cold start shows a progress bar with counts.

    python benchmarks/viewer_load.py [--runs 10000] [--repeats 3] [--root DIR] [--live 20]
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import math
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

from open_index import make_ledger  # noqa: E402

import ledger  # noqa: E402
from ledger import _format  # noqa: E402
from tests import browser  # noqa: E402

TABLE = '[data-testid="stDataFrame"]'
CHART = '[data-testid="stVegaLiteChart"]'
CURVES = {"c500": 500, "c50": 50}
METRICS = ("loss", "val_loss", "acc", "val_acc", "lr")
FILTERS = [  # where filters of differing selectivity; each is typed once (no cache hit)
    "summary.metric_0 > {x} and config.model.depth == 50",
    "config.optimizer.name == 'adam' and summary.metric_1 < {x}",
    "tags contains 'baseline' and summary.metric_2 > {x}",
    "status == 'finished' and config.seed == 3 and summary.metric_3 > {x}",
]
SORTS = ["summary.metric_4", "config.model.depth", "duration", "name", "summary.metric_5"]
TARGETS = {
    "warm first table": 2.0, "where filter": 0.5, "sort": 0.5, "group": 0.5, "tick": 0.5,
    "charts of 50 runs, settings change": 1.5, "charts of 500 runs, settings change": 3.0,
    "charts of 500 runs in 4 groups, settings change": 3.0,
}  # fmt: skip
LIVE_WRITER = """
import math, random, sys, time
import ledger
run = ledger.init(project="curves", group="live", job_type="train", config={"lr": float(sys.argv[1]), "seed": int(sys.argv[2])},
                  capture_output=False, system_metrics=False)
step = 0
while True:
    step += 1
    run.log({"loss": 1 / math.sqrt(step) + random.random() * 0.01, "acc": 1 - 1 / math.sqrt(step)})
    time.sleep(0.1)
"""


def add_curves(root: Path, seed: int = 1) -> None:
    """The runs with histories: 550 runs of project ``curves``, 200-1,000 steps of 5 metrics."""
    rng = random.Random(seed)
    t0 = 1_790_500_000.0
    i = 0
    for group, count in CURVES.items():
        for _ in range(count):
            i += 1
            created = t0 + i * 61.0
            run_id = f"{time.strftime('%Y%m%d-%H%M%S', time.gmtime(created))}-c{i:05x}"
            steps = rng.randint(200, 1000)
            lr = 10 ** rng.uniform(-4, -1)
            batch = rng.choice([32, 64, 128, 256])
            speed = 0.002 + rng.random() * 0.01
            folder = root / "curves" / "runs" / run_id
            folder.mkdir(parents=True)
            lines = []
            for step in range(steps):
                loss = 2.0 * math.exp(-speed * step) + 0.1 + rng.gauss(0, 0.02)
                record = {"_step": step, "_time": created + step * 0.5, "loss": loss, "val_loss": loss * 1.1,
                          "acc": 1 - loss / 2.2, "val_acc": 1 - loss / 2.0, "lr": lr * (1 - step / steps)}  # fmt: skip
                lines.append(orjson.dumps(record))
            (folder / "metrics.jsonl").write_bytes(b"\n".join(lines) + b"\n")
            duration = steps * 0.5
            manifest = _format.Manifest(
                id=run_id, name=f"{group}-{i}", project="curves", group=group, job_type="train", tags=[],
                notes=None, status="finished", created=_format.iso(created), ended=_format.iso(created + duration),
                duration_s=duration, heartbeat=_format.iso(created + duration), user="ada",
                config={"lr": lr, "batch_size": batch, "seed": i % 5},
                summary={"loss": loss, "val_loss": loss * 1.1, "acc": 1 - loss / 2.2, "val_acc": 1 - loss / 2.0},
            )  # fmt: skip
            (folder / _format.MANIFEST).write_bytes(manifest.to_yaml())


@contextlib.contextmanager
def live_runs(root: Path, count: int):
    """``count`` processes, each a run logging every 0.1 s and heartbeating every 2 s."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    env.update(LEDGER_ROOT=str(root), LEDGER_HEARTBEAT_INTERVAL="2")
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", LIVE_WRITER, str(0.001 * (i + 1)), str(i)],
            env=env,
            cwd=root.parent,
            stderr=subprocess.DEVNULL,  # "not inside a git repository", 20 times
        )
        for i in range(count)
    ]
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            live = [
                r for r in ledger.open(root, cache=False).runs(project="curves", group="live") if r.status == "running"
            ]
            if len(live) >= count:
                break
            time.sleep(1)
        yield procs
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=30)


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def first_table(page, url: str) -> float:
    def go() -> None:
        page.goto(url)
        page.locator(TABLE).first.wait_for(state="visible", timeout=600_000)
        browser.wait_idle(page, timeout=600_000)

    return timed(go)


def count_shown(total: int, n: int) -> re.Pattern[str]:
    return re.compile(rf"^{n:,} of {total:,} runs")


def cold_start(root: Path, profile: Path) -> tuple[float, float, str]:
    """(seconds to a progress bar with counts, seconds to the table, the bar's text)."""
    shutil.rmtree(root / _format.CACHE_DIR, ignore_errors=True)
    with browser.served(root) as url, browser.chromium(profile) as page:
        t = time.perf_counter()
        page.goto(url)
        bar = page.get_by_text(re.compile(r"Reading the ledger: [\d,]+ of [\d,]+ runs indexed")).first
        bar.wait_for(timeout=600_000)
        to_bar = time.perf_counter() - t
        text = bar.inner_text()
        page.locator(TABLE).first.wait_for(state="visible", timeout=600_000)
        browser.wait_idle(page, timeout=600_000)
        return to_bar, time.perf_counter() - t, text


def runs_page(page, url: str, total: int, lg: ledger.Ledger, repeats: int, out: dict[str, list[float]]) -> None:
    """Warm first tables, where filters, sorts, groupings and ticks in new tabs."""
    for i in range(repeats):
        tab = page.context.new_page()
        try:
            out["warm first table"].append(first_table(tab, url))
            box = tab.get_by_label("where", exact=True)
            for j, template in enumerate(FILTERS):
                where = template.format(x=round(0.3 + 0.1 * i + 0.01 * j, 3))
                expected = len(lg.runs(where=where))
                box.fill(where)
                t = time.perf_counter()
                box.press("Enter")
                tab.get_by_text(count_shown(total, expected)).wait_for(timeout=120_000)
                browser.settled(tab, f"where={where}")
                out["where filter"].append(time.perf_counter() - t)
            box.fill("")
            box.press("Enter")
            browser.settled(tab, gone="where=")
            for field in SORTS[i % len(SORTS) :][:2]:
                pick = browser.option(tab, "Sort by", field)  # opened and typed: the click commits
                t = time.perf_counter()
                pick.click()
                browser.settled(tab, f"sort={field}")
                out["sort"].append(time.perf_counter() - t)
            pick = browser.option(tab, "Group by", "config.model.depth")
            t = time.perf_counter()
            pick.click()
            browser.settled(tab, "group_by=config.model.depth")
            out["group"].append(time.perf_counter() - t)
            tab.keyboard.press("Escape")
            tab.get_by_role("button", name="Clear all").first.click()  # the multiselect's clear
            browser.settled(tab, gone="group_by=")
            grid = tab.locator(TABLE).last.bounding_box()
            t = time.perf_counter()
            tab.mouse.click(grid["x"] + 16, grid["y"] + 35 * 1.5)
            tab.get_by_text(re.compile(r"· 1 selected")).wait_for(timeout=120_000)
            browser.settled(tab, "sel=")
            out["tick"].append(time.perf_counter() - t)
        finally:
            tab.close()


CHART_CHANGES = [  # (what, its label, what the URL then holds (or no longer holds, with a leading !))
    ("toggle", "Log y", "log_y=1"),
    ("choose", "Panels per row", "per_row=3"),
    ("radio", "relative time", "x=relative time"),
    ("slider", "Smoothing (EMA)", "smoothing=0.01"),
    ("toggle", "Log y", "!log_y="),
    ("choose", "Panels per row", "per_row=1"),
    ("radio", "step", "!x="),
    ("toggle", "Outliers", "outliers=1"),
]
GROUPED_CHANGES = [("radio", "min-max", "band=min-max"), ("radio", "none", "band=none"), *CHART_CHANGES[:4]]


def charts_page(page, url: str, query: str, changes: list, out: dict[str, list[float]], key: str) -> None:
    """The Charts page at ``query``: the first draw, then each settings change."""
    tab = page.context.new_page()
    try:
        t = time.perf_counter()
        tab.goto(f"{url}/charts?{query}")
        tab.locator(CHART).first.wait_for(timeout=600_000)
        browser.settled(tab)
        browser.charts_redrawn(tab, "")
        out[f"{key}, first draw"].append(time.perf_counter() - t)
        for action, label, url_part in changes:
            before = browser.charts_image(tab)
            pick = browser.option(tab, label, url_part.split("=")[1]) if action == "choose" else None
            t = time.perf_counter()
            if action == "toggle":
                browser.toggle(tab, label)
            elif pick is not None:
                pick.click()
            elif action == "slider":
                browser.nudge(tab, label)
            else:
                browser.radio(tab, label)
            if url_part.startswith("!"):
                browser.settled(tab, gone=url_part[1:])
            else:
                browser.settled(tab, url_part)
            browser.charts_redrawn(tab, before)
            out[f"{key}, settings change"].append(time.perf_counter() - t)
    finally:
        tab.close()


def scenario(root: Path, tmp: Path, repeats: int, name: str) -> dict[str, list[float]]:
    lg = ledger.open(root)
    total = len(lg)
    out: dict[str, list[float]] = collections.defaultdict(list)
    with browser.served(root) as url, browser.chromium(tmp / f"profile-{name}") as page:
        first_table(page, url)  # the server opens the ledger; the browser caches the app
        runs_page(page, url, total, lg, repeats, out)
        lines = "runs=filtered&project=curves&per_row=2&group="
        grouped = lines + "c500&chart_group_by=config.batch_size"
        for _ in range(max(1, repeats - 1)):
            charts_page(page, url, lines + "c50", CHART_CHANGES, out, "charts of 50 runs")
            charts_page(page, url, lines + "c500", CHART_CHANGES, out, "charts of 500 runs")
            charts_page(page, url, grouped, GROUPED_CHANGES, out, "charts of 500 runs in 4 groups")
    return out


def report(title: str, results: dict[str, list[float]]) -> None:
    print(title)
    for key, values in sorted(results.items(), key=lambda kv: list(TARGETS).index(kv[0]) if kv[0] in TARGETS else 99):
        if not values:
            continue
        target = TARGETS.get(key)
        median = statistics.median(values)
        verdict = "" if target is None else f"  (target < {target:g} s: {'met' if median < target else 'MISSED'})"
        print(f"  {key + ':':<40} {median:6.2f} s  [{min(values):.2f}-{max(values):.2f}, n={len(values)}]{verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--live", type=int, default=20, help="live runs writing in the second round")
    parser.add_argument("--root", help="where to build the ledger (default: a temporary folder; kept if given)")
    args = parser.parse_args()
    if not browser.have_browser():
        sys.exit("needs /usr/bin/chromium (apt-get install chromium) and playwright (pip install playwright)")

    tmp = Path(args.root) if args.root else Path(tempfile.mkdtemp())
    root = tmp / "results"
    try:
        if not (root / "ledger.yaml").exists():
            t = time.perf_counter()
            make_ledger(root, args.runs - sum(CURVES.values()))
            add_curves(root)
            print(f"made {args.runs} runs ({sum(CURVES.values())} with histories) in {time.perf_counter() - t:.1f} s")
        print(
            f"load average at the start: {os.getloadavg()[0]:.1f} ({os.cpu_count()} cores; other work slows every figure)"
        )
        to_bar, to_table, text = cold_start(root, tmp / "profile-cold")
        print(
            f"cold start (no index cache): a progress bar after {to_bar:.2f} s ({text!r}); the table after {to_table:.2f} s"
        )
        report(f"medians, {args.runs} runs, no live runs:", scenario(root, tmp, args.repeats, "quiet"))
        if not args.live:
            return
        print(f"load average: {os.getloadavg()[0]:.1f}")
        with live_runs(root, args.live):
            report(
                f"medians, {args.runs} runs, {args.live} live runs writing:", scenario(root, tmp, args.repeats, "live")
            )
    finally:
        if not args.root:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
