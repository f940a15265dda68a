"""The viewer's plain functions: gaps, line segments, group bands as frames, tables."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("altair")
import ledger
from ledger._query import _series as series_engine
from ledger._units import hms
from viewer import charts, tables

series_band = series_engine.band


class TestGapsAndSmoothing:
    def test_nan_and_inf_become_gaps_and_log_drops_non_positive(self):
        y = charts.gaps(np.array([1.0, math.nan, math.inf, -math.inf, 0.0, -2.0, 3.0]))
        assert np.isnan(y[1:4]).all()
        assert list(y[[0, 4, 5, 6]]) == [1.0, 0.0, -2.0, 3.0]
        y = charts.gaps(np.array([1.0, 0.0, -2.0, 3.0]), log_y=True)
        assert np.isnan(y[1:3]).all()
        assert list(y[[0, 3]]) == [1.0, 3.0]


class TestLines:
    def test_a_curve_drawn_breaks_the_line_at_each_gap(self):
        curve = ledger.Series("m", np.arange(6.0), np.array([1.0, 2.0, math.inf, 3.0, math.nan, 4.0]))
        frame = charts.line_frame(charts.line_of("r", curve))
        assert list(frame["x"]) == [0.0, 1.0, 3.0, 5.0]
        assert list(frame["segment"]) == [0, 0, 1, 2]
        assert set(frame["source"]) == {"r"}


class TestGroupBand:
    def test_band_kinds(self):
        band = series_band(
            [ledger.Series("m", np.array([0.0]), np.array([1.0])), ledger.Series("m", np.array([0.0]), np.array([3.0]))]
        )
        minmax = charts.band_frame("g", band, "min-max")
        assert (minmax["lo"][0], minmax["y"][0], minmax["hi"][0], minmax["n"][0]) == (1.0, 2.0, 3.0, 2)
        std = charts.band_frame("g", band, "std")
        assert std["hi"][0] - std["y"][0] == pytest.approx(math.sqrt(2))
        with pytest.raises(ValueError, match="band must be one of"):
            charts.band_frame("g", band, "iqr")

    def test_members_drawn_one_by_one_are_never_joined(self):
        a = charts.Line("g", np.array([0.0, 1.0, 2.0]), np.array([1.0, math.nan, 3.0]))
        b = charts.Line("g", np.array([5.0, 6.0]), np.array([2.0, 2.0]))
        first, second = charts.member_frames([a, b])
        assert list(first["segment"]) == [0, 1]
        assert list(second["segment"]) == [2, 2]
        assert set(first["source"]) | set(second["source"]) == {"g"}

    def test_no_members_no_band(self):
        assert charts.band_frame("g", series_band([])).empty


class TestAxes:
    def test_relative_time_units(self):
        assert charts.relative_unit(3900.0) == ("minutes", 60.0)
        assert charts.relative_unit(30.0) == ("seconds", 1.0)
        assert charts.relative_unit(7300.0) == ("hours", 3600.0)
        assert set(charts.X_AXES.values()) == set(series_engine.X_AXES)


class TestTables:
    def test_display_columns_keep_numbers_and_make_mixed_kinds_text(self):
        assert tables.display_column(pd.Series([1, 2.5, None])).dtype.kind == "f"
        mixed = tables.display_column(pd.Series([0.1, "adam", None, [1, 2]], dtype=object))
        assert [mixed[0], mixed[1], mixed[3]] == ["0.1", "adam", "1, 2"]
        assert pd.isna(mixed[2])

    def test_mean_std_ignores_nan_and_says_so(self):
        assert tables.mean_std(pd.Series([0.9, 0.95])) == "0.925 ± 0.035"
        assert tables.mean_std(pd.Series([1.0, math.nan, math.inf])) == "1 (n=1)"
        assert tables.mean_std(pd.Series(["a", None])) == ""

    def test_compare_marks_differences_including_missing_keys(self):
        frame = tables.compare(
            {"a": {"lr": 0.1, "opt": "adam", "x": math.nan}, "b": {"lr": 0.2, "opt": "adam", "x": math.nan, "extra": 1}}
        )
        assert list(frame.index) == ["lr", "opt", "x", "extra"]
        assert list(frame["differs"]) == [True, False, False, True]
        assert list(frame.loc["extra", ["a", "b"]]) == ["", "1"]

    def test_compare_tells_one_from_true(self):
        assert tables.compare({"a": {"k": 1}, "b": {"k": True}})["differs"].iloc[0]

    def test_tail_and_search(self):
        log = "".join(f"line {i}\n" for i in range(1, 21))
        text, shown, matched = tables.tail(log, 3)
        assert text.splitlines() == ["18  line 18", "19  line 19", "20  line 20"]
        assert (shown, matched) == (3, 20)
        text, shown, matched = tables.tail(log, 100, "LINE 1")
        assert (shown, matched) == (11, 11)
        assert text.splitlines()[0] == " 1  line 1"

    def test_requirements(self):
        reqs = tables.requirements("# pinned\nnumpy==1.26.4\nTorch_Vision[cuda] >= 0.1  # gpu\n-e .\n\n")
        assert reqs == {"numpy": "1.26.4", "torch-vision": ">= 0.1"}

    def test_cumulative_best(self):
        assert tables.cumulative_best([0.5, math.nan, 0.7, 0.6], "maximize")[1:] == [0.5, 0.7, 0.7]
        assert tables.cumulative_best([0.5, 0.7, 0.4], "minimize") == [0.5, 0.5, 0.4]
        assert math.isnan(tables.cumulative_best([math.nan], "minimize")[0])

    def test_durations_and_statuses(self):
        assert hms(3723.4) == "1:02:03"
        assert hms(None) == ""
        assert tables.status_label("crashed") == "🟠 crashed"
