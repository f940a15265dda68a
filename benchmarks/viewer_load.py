"""The viewer on a 10,000-run ledger, timed in a real browser (Debian's Chromium, Playwright).

Builds the ledger of benchmarks/open_index.py (N synthetic runs in 4 projects, realistic
manifests), serves it with `ledger view`, and times, from page.goto to the Streamlit script
having finished with the runs table on screen:

- cold:    a fresh `ledger view` process and no index cache (the first visit ever)
- restart: a fresh `ledger view` process, the index cache on disk (the next day)
- warm:    a new tab (a new Streamlit session) on a running viewer, in a browser that has
           been there before (what every later visit costs); also with a fresh browser
           profile, which must fetch and compile Streamlit's scripts again
- filter:  typing a where filter and pressing Enter, until the new count is shown

Targets (DESIGN.md, the viewer issue): warm first table under 3 s, filter under 1 s.

    python benchmarks/viewer_load.py [--runs 10000] [--repeats 5] [--root DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

from open_index import make_ledger  # noqa: E402

import ledger  # noqa: E402
from tests import browser  # noqa: E402

TABLE = '[data-testid="stDataFrame"]'
FILTERS = [  # where filters of differing selectivity; each is typed once (no cache hit)
    "summary.metric_0 > {x} and config.model.depth == 50",
    "config.optimizer.name == 'adam' and summary.metric_1 < {x}",
    "tags contains 'baseline' and summary.metric_2 > {x}",
    "status == 'finished' and config.seed == 3 and summary.metric_3 > {x}",
]


def first_table(page, url: str) -> float:
    t = time.perf_counter()
    page.goto(url)
    page.locator(TABLE).first.wait_for(state="visible", timeout=600_000)
    browser.wait_idle(page, timeout=600_000)
    return time.perf_counter() - t


@contextlib.contextmanager
def new_tab(page):
    """Another tab of the same browser (its cache holds the app's scripts): a new session."""
    tab = page.context.new_page()
    try:
        yield tab
    finally:
        tab.close()


def count_shown(total: int, n: int) -> re.Pattern[str]:
    return re.compile(rf"^{n:,} of {total:,} runs")


def filtered_table(page, where: str, expected: int, total: int) -> float:
    box = page.get_by_label("where", exact=True)
    box.fill(where)
    t = time.perf_counter()
    box.press("Enter")
    page.get_by_text(count_shown(total, expected)).wait_for(timeout=120_000)
    browser.wait_idle(page)
    return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--root", help="where to build the ledger (default: a temporary folder)")
    args = parser.parse_args()
    if not browser.have_browser():
        sys.exit("needs /usr/bin/chromium (apt-get install chromium) and playwright (pip install playwright)")

    tmp = Path(args.root) if args.root else Path(tempfile.mkdtemp())
    root = tmp / "results"
    cache = root / ".cache"
    try:
        if not (root / "ledger.yaml").exists():
            t = time.perf_counter()
            make_ledger(root, args.runs)
            print(f"made {args.runs} runs in {time.perf_counter() - t:.1f} s")
        total = len(ledger.open(root, cache=False))
        colds, restarts, warms, filters = [], [], [], []
        for i in range(max(1, args.repeats // 2)):
            shutil.rmtree(cache, ignore_errors=True)
            with browser.served(root) as url, browser.chromium(tmp / f"profile-cold-{i}") as page:
                colds.append(first_table(page, url))
            with browser.served(root) as url, browser.chromium(tmp / f"profile-restart-{i}") as page:
                restarts.append(first_table(page, url))
        lg = ledger.open(root)
        fresh = []
        with browser.served(root) as url:
            with browser.chromium(tmp / "profile-warm") as page:
                first_table(page, url)  # the server reads the ledger once; the browser caches the app
                for i in range(args.repeats):
                    with new_tab(page) as tab:
                        warms.append(first_table(tab, url))
                        for j, template in enumerate(FILTERS):
                            where = template.format(x=round(0.3 + 0.1 * i + 0.01 * j, 3))
                            filters.append(filtered_table(tab, where, len(lg.runs(where=where)), total))
            for i in range(args.repeats):
                with browser.chromium(tmp / f"profile-fresh-{i}") as page:
                    fresh.append(first_table(page, url))
        print(f"medians, {total} runs, {args.repeats} repeats ({len(filters)} filters):")
        print(f"  cold first table (new server, no index cache): {statistics.median(colds):6.2f} s")
        print(f"  restart first table (new server, index cache): {statistics.median(restarts):6.2f} s")
        print(f"  warm first table (new tab, same browser):      {statistics.median(warms):6.2f} s  (target < 3 s)")
        print(f"  warm server, fresh browser profile:            {statistics.median(fresh):6.2f} s")
        print(f"  filtered table after Enter:                    {statistics.median(filters):6.2f} s  (target < 1 s)")
        print(
            f"  (filter min {min(filters):.2f} s, max {max(filters):.2f} s; all: {' '.join(f'{f:.2f}' for f in filters)})"
        )
    finally:
        if not args.root:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
