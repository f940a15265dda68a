"""The viewer's plain functions: smoothing, downsampling, gaps, group bands, tables."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("altair")
from viewer import charts, tables


class TestGapsAndSmoothing:
    def test_nan_and_inf_become_gaps_and_log_drops_non_positive(self):
        y = charts.gaps(np.array([1.0, math.nan, math.inf, -math.inf, 0.0, -2.0, 3.0]))
        assert np.isnan(y[1:4]).all()
        assert list(y[[0, 4, 5, 6]]) == [1.0, 0.0, -2.0, 3.0]
        y = charts.gaps(np.array([1.0, 0.0, -2.0, 3.0]), log_y=True)
        assert np.isnan(y[1:3]).all()
        assert list(y[[0, 3]]) == [1.0, 3.0]

    def test_ema_zero_is_identity_and_is_debiased(self):
        y = np.array([4.0, 2.0, 8.0])
        assert list(charts.ema(y, 0.0)) == [4.0, 2.0, 8.0]
        smooth = charts.ema(y, 0.5)
        assert smooth[0] == 4.0  # debiased: the first point is not pulled toward zero
        assert smooth[1] == pytest.approx((0.5 * 4 + 2) / 1.5)

    def test_ema_skips_gaps_without_dragging_the_line_to_zero(self):
        smooth = charts.ema(np.array([1.0, math.nan, 1.0, 1.0]), 0.9)
        assert math.isnan(smooth[1])
        assert smooth[[0, 2, 3]] == pytest.approx([1.0, 1.0, 1.0])

    def test_ema_weight_must_be_below_one(self):
        with pytest.raises(ValueError, match=r"smoothing weight must be in \[0, 1\), got 1"):
            charts.ema(np.array([1.0]), 1)


class TestDownsample:
    def test_short_lines_are_untouched(self):
        x, y = np.arange(10.0), np.arange(10.0)
        dx, dy = charts.downsample(x, y, 100)
        assert list(dx) == list(x)
        assert list(dy) == list(y)

    def test_keeps_spikes_ends_and_gaps_and_is_deterministic(self):
        rng = np.random.default_rng(0)
        n = 100_000
        x = np.arange(n, dtype=float)
        y = rng.normal(0, 1, n)
        y[31_337] = 1e6  # a one-step spike
        y[77_777] = -1e6
        y[50_000] = math.nan  # a diverged step
        dx, dy = charts.downsample(x, y, 1000)
        assert len(dx) <= 1000 + 2 + 500  # min and max per bucket, ends, a gap marker per bucket at most
        assert 31_337 in dx
        assert 77_777 in dx
        assert dx[0] == 0
        assert dx[-1] == n - 1
        assert np.isnan(dy[dx == 50_000]).all()
        assert 50_000 in dx
        assert np.all(np.diff(dx) > 0)  # still in x order
        again = charts.downsample(x, y, 1000)
        assert np.array_equal(again[0], dx)
        assert np.array_equal(again[1], dy, equal_nan=True)

    def test_prepare_then_frame_breaks_the_line_at_each_gap(self):
        line = charts.Line("r", np.arange(6.0), np.array([1.0, 2.0, math.inf, 3.0, math.nan, 4.0]))
        frame = charts.line_frame(charts.prepare(line))
        assert list(frame["x"]) == [0.0, 1.0, 3.0, 5.0]
        assert list(frame["segment"]) == [0, 0, 1, 2]
        assert set(frame["source"]) == {"r"}


class TestGroupBand:
    def test_aligns_members_on_steps(self):
        a = charts.Line("g", np.array([0.0, 1.0, 2.0]), np.array([1.0, 2.0, 3.0]))
        b = charts.Line("g", np.array([0.0, 1.0]), np.array([3.0, math.nan]))
        band = charts.group_band([a, b])
        assert list(band["x"]) == [0.0, 1.0, 2.0]
        assert list(band["n"]) == [2, 1, 1]
        assert list(band["mean"]) == [2.0, 2.0, 3.0]
        assert list(band["min"]) == [1.0, 2.0, 3.0]
        assert list(band["max"]) == [3.0, 2.0, 3.0]
        assert band["std"].iloc[0] == pytest.approx(math.sqrt(2))  # sample std of 1 and 3

    def test_buckets_long_unaligned_x(self):
        a = charts.Line("g", np.linspace(0, 100, 5000), np.ones(5000))
        b = charts.Line("g", np.linspace(0.01, 100, 4000), 3 * np.ones(4000))
        band = charts.group_band([a, b], max_points=50)
        assert len(band) == 50
        assert band["mean"].to_numpy() == pytest.approx(2.0)
        assert (band["n"] == 2).all()

    def test_band_kinds(self):
        band = charts.group_band(
            [charts.Line("g", np.array([0.0]), np.array([1.0])), charts.Line("g", np.array([0.0]), np.array([3.0]))]
        )
        minmax = charts.band_frame("g", band, "min-max")
        assert (minmax["lo"][0], minmax["y"][0], minmax["hi"][0]) == (1.0, 2.0, 3.0)
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
        assert charts.group_band([]).empty


class TestAxes:
    def test_x_values_and_units(self):
        steps, times = np.array([0.0, 1.0, 2.0]), np.array([100.0, 160.0, 4000.0])
        assert list(charts.x_values(steps, times, "step")) == [0.0, 1.0, 2.0]
        assert list(charts.x_values(steps, times, "wall time")) == [100.0, 160.0, 4000.0]
        assert list(charts.x_values(steps, times, "relative time")) == [0.0, 60.0, 3900.0]
        assert charts.relative_unit(3900.0) == ("minutes", 60.0)
        assert charts.relative_unit(30.0) == ("seconds", 1.0)
        assert charts.relative_unit(7300.0) == ("hours", 3600.0)
        with pytest.raises(ValueError, match="x axis must be one of"):
            charts.x_values(steps, times, "epoch")


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
        assert tables.duration(3723.4) == "1:02:03"
        assert tables.duration(None) == ""
        assert tables.status_label("crashed") == "🟠 crashed"
