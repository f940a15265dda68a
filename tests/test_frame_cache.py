"""The runs table of a whole ledger kept in ``.cache/frame/runs.arrow``: read back, it is the
table a full build gives (values, dtypes, column order), with new, changed, live and
attached-to runs joined or the table built again; a forged, broken or linked file is never
trusted."""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import ledger
from ledger import _format
from ledger._query import _frame, _runset
from tests.test_index_cache import rows_one_by_one, write_run

FILE = Path(_frame.FILE)


@pytest.fixture(autouse=True)
def small_ledgers_keep_a_table(monkeypatch):
    monkeypatch.setattr(_frame, "MIN_RUNS", 1)


def varied_ledger(root: Path) -> list[str]:
    """Runs whose columns hold every kind of value a manifest has: mixed types, lists,
    mappings, None, NaN and infinities (also inside lists), booleans with gaps."""
    root.mkdir(parents=True, exist_ok=True)
    (root / _format.ROOT_MARKER).write_bytes(_format.root_marker())
    configs = [
        {"lr": 0.1, "mixed": 1, "xs": [1, 2], "flag": True, "gap": None, "opt": "adam", "d": {}},
        {"lr": 0.2, "mixed": "two", "xs": [math.nan, math.inf], "flag": None, "opt": "sgd"},
        {"lr": 3, "mixed": 3.5, "xs": [], "flag": False, "only": {"deep": [None, "x"]}},
        {"lr": 0.4, "mixed": None, "xs": ["a", {"b": -math.inf}], "opt": None, "huge": 2**62},
    ]
    ids = [write_run(root, i, config=c, tags=["t"] * i) for i, c in enumerate(configs)]
    ids.append(write_run(root, 4, project="q", summary={"acc": math.nan, "loss": -math.inf, "ok": True}))
    return ids


def built_rows(monkeypatch) -> list[int]:
    """How many runs each row-wise build from now on is given."""
    sizes: list[int] = []
    real = _runset.frame_columns
    monkeypatch.setattr(_runset, "frame_columns", lambda runs: sizes.append(len(runs)) or real(runs))
    return sizes


def assert_is_the_table(root: Path) -> pd.DataFrame:
    """The ledger's to_pandas() against the table built row by row, without the file."""
    frame = ledger.open(root).runs().to_pandas()
    pd.testing.assert_frame_equal(frame, rows_one_by_one(ledger.open(root).runs()))
    pd.testing.assert_frame_equal(frame, ledger.open(root, cache=False).runs().to_pandas())
    assert list(frame.dtypes.astype(str)) == list(rows_one_by_one(ledger.open(root).runs()).dtypes.astype(str))
    return frame


def test_the_table_read_back_is_the_table_built(tmp_path, monkeypatch):
    root = tmp_path / "results"
    varied_ledger(root)
    first = assert_is_the_table(root)  # builds it and writes the file
    assert (root / FILE).is_file()
    sizes = built_rows(monkeypatch)
    again = ledger.open(root).runs().to_pandas()
    assert sizes == []  # read from the file: no run's row converted
    pd.testing.assert_frame_equal(again, first)
    assert again["config.mixed"].tolist()[:3] == [1, "two", 3.5]  # each value with its own type
    assert type(again["config.mixed"][0]) is int
    xs = again["config.xs"].tolist()
    assert xs[0] == [1, 2]
    assert math.isnan(xs[1][0])
    assert xs[1][1] == math.inf
    assert xs[3] == ["a", {"b": -math.inf}]
    assert again["config.flag"].tolist()[:3] == [True, None, False]
    assert again["config.huge"].tolist()[3] == 2**62
    assert again["config.only.deep"].tolist()[2] == [None, "x"]
    assert again["tags"].tolist()[:3] == [[], ["t"], ["t", "t"]]
    assert again["config.xs"][0] is not again["config.xs"][2]  # values are not shared between rows


def test_a_new_run_and_a_live_one_are_joined_to_the_file(tmp_path, monkeypatch):
    root = tmp_path / "results"
    varied_ledger(root)
    ledger.open(root).runs().to_pandas()
    written = (root / FILE).stat().st_mtime_ns
    write_run(root, 5, config={"lr": 0.5, "mixed": 7, "xs": [5], "opt": "adam"})
    now = _format.iso(time.time())
    live = write_run(
        root, 6, config={"lr": 0.6, "mixed": "x"}, status="running", ended=None, heartbeat=now, heartbeat_s=60.0
    )
    sizes = built_rows(monkeypatch)
    frame = assert_is_the_table(root)
    assert sizes[0] == 2  # only the new and the live run were built row-wise
    assert sizes.count(7) == 1  # the whole table only without the file (cache=False)
    assert (root / FILE).stat().st_mtime_ns == written  # two rows joined: the file is kept
    assert frame.set_index("id").loc[live, "status"] == "running"


def test_a_run_in_the_middle_of_the_order_is_joined_in_its_place(tmp_path):
    root = tmp_path / "results"
    ids = varied_ledger(root)
    ledger.open(root).runs().to_pandas()
    run_id = f"{ids[1]}0"  # sorts just after the second run (its created time is the same)
    folder = root / "p" / "runs" / run_id
    folder.mkdir(parents=True)
    text = (root / "p" / "runs" / ids[1] / _format.MANIFEST).read_text()
    (folder / _format.MANIFEST).write_text(text.replace(ids[1], run_id).replace("run-1", "between"))
    frame = assert_is_the_table(root)
    assert frame["id"].tolist().index(run_id) == frame["id"].tolist().index(ids[1]) + 1


@pytest.mark.parametrize(
    "config",
    [
        {"lr": 0.5, "brand_new_key": 1},  # a column the file does not have
        {"lr": "high"},  # a number column that now holds a string
        {"opt": 3},  # a text column that now holds a number
    ],
)
def test_what_changes_the_columns_builds_the_table_again(tmp_path, monkeypatch, config):
    root = tmp_path / "results"
    varied_ledger(root)
    ledger.open(root).runs().to_pandas()
    write_run(root, 5, config=config)
    sizes = built_rows(monkeypatch)
    assert_is_the_table(root)
    assert sizes.count(6) == 2  # the whole table, as the new run cannot be joined (and once without the file)
    sizes.clear()
    ledger.open(root).runs().to_pandas()
    assert sizes == []  # and written again


def test_a_changed_or_deleted_run_builds_the_table_again(tmp_path, monkeypatch):
    root = tmp_path / "results"
    ids = varied_ledger(root)
    ledger.open(root).runs().to_pandas()
    write_run(root, 0, config={"lr": 9.0, "mixed": 1, "xs": [1, 2], "flag": True, "gap": None, "opt": "adam", "d": {}})
    frame = assert_is_the_table(root)
    assert frame["config.lr"].tolist()[0] == 9.0
    (root / "q" / "runs" / ids[4] / _format.MANIFEST).unlink()
    (root / "q" / "runs" / ids[4]).rmdir()
    frame = assert_is_the_table(root)
    assert ids[4] not in frame["id"].tolist()
    assert "summary.ok" not in frame.columns  # only the deleted run had it


def test_values_attached_by_another_run_are_in_the_table(tmp_path):
    root = tmp_path / "results"
    ids = varied_ledger(root)
    ledger.open(root).runs().to_pandas()
    write_run(root, 5, attach={ids[0]: {"test_acc": 0.93}})
    frame = assert_is_the_table(root)
    assert frame.set_index("id").loc[ids[0], "summary.test_acc"] == 0.93
    frame = assert_is_the_table(root)  # again, with the file written since
    assert frame.set_index("id").loc[ids[0], "summary.test_acc"] == 0.93


def test_a_selection_of_runs_is_built_as_before(tmp_path, monkeypatch):
    root = tmp_path / "results"
    varied_ledger(root)
    ledger.open(root).runs().to_pandas()
    sizes = built_rows(monkeypatch)
    some = ledger.open(root).runs(where={"project": "p"})
    pd.testing.assert_frame_equal(some.to_pandas(), rows_one_by_one(some))
    assert sizes == [4]


def test_a_value_json_cannot_carry_leaves_no_file(tmp_path):
    root = tmp_path / "results"
    varied_ledger(root)
    write_run(root, 5, config={"when": [__import__("datetime").date(2026, 1, 2)]})
    assert_is_the_table(root)
    assert not (root / FILE).exists()


def test_a_forged_broken_or_linked_file_is_not_trusted(tmp_path, monkeypatch):
    root = tmp_path / "results"
    varied_ledger(root)
    truth = assert_is_the_table(root)
    path = root / FILE
    good = path.read_bytes()
    for bad in (b"", b"not arrow at all", good[: len(good) // 2], good.replace(b"ledger-frame", b"ledger-frxme")):
        path.write_bytes(bad)
        pd.testing.assert_frame_equal(ledger.open(root).runs().to_pandas(), truth)
    # A file whose rows name other versions of the manifests (a copied cache) is not used.
    path.write_bytes(good)
    write_run(root, 0, config={"lr": 1.5})
    assert ledger.open(root).runs().to_pandas()["config.lr"].tolist()[0] == 1.5
    # Over the size bound: not read.
    monkeypatch.setattr(_frame, "_BYTES_PER_ROW", 0)
    monkeypatch.setattr(_frame, "_BYTES_FLOOR", 1000)
    sizes = built_rows(monkeypatch)
    ledger.open(root).runs().to_pandas()
    assert sizes == [5]
    monkeypatch.undo()
    monkeypatch.setattr(_frame, "MIN_RUNS", 1)
    # A symlink in its place is never followed, and the table is built as before.
    outside = tmp_path / "outside.arrow"
    outside.write_bytes(good)
    path.unlink()
    os.symlink(outside, path)
    sizes = built_rows(monkeypatch)
    ledger.open(root).runs().to_pandas()
    assert sizes == [5]
    assert outside.read_bytes() == good  # and what it points at is left as it was


@pytest.mark.parametrize(
    "values",
    [
        [1, "a"], [1.5, "a"], [True, 1], [True, "a"], [True, None], [True, math.nan], [[1], None], [{}, 1],
        [None, None], [1, None], [1.5, math.nan], ["a", None], ["a", math.nan], [None, math.nan], [True, False],
    ],
)  # fmt: skip
def test_a_column_said_to_stay_object_stays_object_whatever_joins_it(values):
    """The rule the join relies on, against pandas' own inference."""
    column = pd.Series(values)
    if column.dtype != object:
        return  # only object columns are ever asked
    encoded = np.empty(len(values), dtype=object)
    encoded[:] = values
    _codes, sticky = _frame._encode(__import__("pyarrow"), encoded)
    joins = [[1], [2.5], ["b"], [True], [None], [math.nan], [[3]], []]
    stays = all(pd.Series([*values, *more]).dtype == object for more in joins)
    assert sticky == stays, (values, sticky, stays)
