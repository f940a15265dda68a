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
        assert tables.mean_std(pd.Series([1.0, math.nan, math.inf])) == "1 ± — (n=1)"
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


class TestRobustRange:
    def test_ordinary_curves_are_shown_whole(self):
        decays = [1 / (1 + np.arange(500.0)) * (1 + i / 10) for i in range(6)]
        assert charts.robust_range(decays) is None  # nothing to leave out

    def test_a_diverging_run_is_left_out(self):
        lines = [1 / (1 + np.arange(100.0)) for _ in range(8)]
        lines.append(np.exp(np.arange(100.0) / 5))
        lo, hi = charts.robust_range(lines)
        assert lo < 0.01
        assert 1.0 < hi < 1.2

    def test_a_one_step_spike_is_left_out(self):
        y = np.linspace(2.0, 0.5, 300)
        y[150] = 1e6
        lo, hi = charts.robust_range([y])
        assert lo < 0.5
        assert 2.0 < hi < 2.2

    def test_on_a_log_axis_in_decades(self):
        lines = [np.logspace(0, -3, 100) for _ in range(5)]
        lines.append(np.logspace(0, 9, 100))
        lo, hi = charts.robust_range(lines, log_y=True)
        assert 1e-4 < lo < 1e-3
        assert 1 < hi < 2


class TestGrid:
    def test_past_twenty_colours_the_chart_leaves_the_legend_to_the_page(self):
        runs = [charts.Line(f"r{i}", np.arange(3.0), np.ones(3)) for i in range(25)]
        frame = charts.paths_frame(runs, [f"g{i % 3}" for i in range(25)])
        spec = charts.grid_spec([charts.Panel("m", frame)], colour_keys=list(frame["colour"]))
        colour = spec["concat"][0]["layer"][0]["encoding"]["color"]
        assert colour["scale"]["domain"] == [0, 1, 2]  # lines carry their colour as a number ...
        assert colour["legend"]["labelExpr"] == '["g0", "g1", "g2"][+datum.value]'  # ... the legend names it
        assert colour["scale"]["range"] == list(charts.PALETTE[:3])
        frame = charts.paths_frame(runs, [f"r{i}" for i in range(25)])
        many = charts.grid_spec([charts.Panel("m", frame)], colour_keys=[f"r{i}" for i in range(25)])
        assert many["concat"][0]["layer"][0]["encoding"]["color"]["legend"] is None
        assert set(many["datasets"]["lines0"]["series"]) == set(range(20))  # colour slots repeat past 20
        assert len(set(charts.colours([f"r{i}" for i in range(20)]).values())) == 20  # twenty distinct colours

    def test_lines_of_one_colour_are_one_path_broken_between_runs_and_at_gaps(self):
        a = charts.Line("a", np.arange(3.0), np.array([1.0, math.nan, 2.0]))
        b = charts.Line("b", np.arange(2.0), np.array([3.0, 4.0]))
        frame = charts.paths_frame([a, b], ["g", "g"])
        assert list(frame["source"]) == ["a"] * 4 + ["b"] * 3
        assert np.isnan(frame["y"]).tolist() == [False, True, False, True, False, False, True]
        spec = charts.grid_spec([charts.Panel("m", frame)], colour_keys=["g"])
        (line,) = [layer for layer in spec["concat"][0]["layer"] if layer.get("name") == "lines0"]
        assert line["mark"]["invalid"] == charts.BREAK  # NaN rows break the path
        assert line["encoding"]["order"] == {"value": None}  # in data order: runs are not interleaved
        assert list(spec["datasets"]["lines0"].columns) == ["series", "x", "y"]  # numbers only

    def test_a_diverging_run_leaves_the_y_range_of_the_others(self):
        lines = [charts.Line(f"r{i}", np.arange(50.0), 1 / (1 + np.arange(50.0))) for i in range(8)]
        lines.append(charts.Line("diverged", np.arange(50.0), np.exp(np.arange(50.0))))
        panel = charts.Panel("loss", charts.paths_frame(lines, [line.label for line in lines]))
        keys = [line.label for line in lines]
        lo, hi = charts.grid_spec([panel], colour_keys=keys)["concat"][0]["layer"][0]["encoding"]["y"]["scale"][
            "domain"
        ]
        assert lo < 0.02
        assert 1.0 < hi < 1.2
        full = charts.grid_spec([panel], colour_keys=keys, outliers=True)
        assert "domain" not in full["concat"][0]["layer"][0]["encoding"]["y"]["scale"]

    def test_fewer_points_per_line_when_there_are_many_lines(self):
        assert charts.samples_for(5) == charts.DEFAULT_MAX_POINTS
        assert charts.samples_for(50, 5) == 100  # 25,000 points over 250 lines
        assert charts.samples_for(500, 5) == charts.MIN_POINTS

    def test_system_metrics_in_readable_panels(self):
        names = ["cpu/percent", "cpu/process_percent", "gpu/0/utilization_percent", "gpu/1/utilization_percent",
                 "gpu/0/memory_percent", "memory/percent", "net/recv_mb_s", "weird"]  # fmt: skip
        panels = dict(charts.system_panels(names))
        assert panels["CPU (%)"] == ["cpu/percent", "cpu/process_percent"]
        assert panels["GPU utilisation (%)"] == ["gpu/0/utilization_percent", "gpu/1/utilization_percent"]
        assert panels["weird"] == ["weird"]
        assert charts.system_label("gpu/1/utilization_percent") == "GPU 1"


class TestParallel:
    def test_axes_log_linear_and_categorical(self):
        from viewer import parallel

        lr = parallel.axis_of("lr", [1e-4, 1e-3, 1e-1], log=True)
        assert lr.kind == "log"
        assert lr.position(1e-4) == pytest.approx(parallel.EDGE)
        assert lr.position(1e-1) == pytest.approx(1 - parallel.EDGE)
        assert lr.position(1e-3) == pytest.approx(parallel.EDGE + (1 - 2 * parallel.EDGE) / 3)
        assert lr.value(lr.position(0.003)) == pytest.approx(0.003)
        assert "0.001" in [label for _, label in lr.ticks()]
        opt = parallel.axis_of("opt", ["sgd", "adam", "sgd"])
        assert opt.categories == ("adam", "sgd")
        assert parallel.axis_of("w", [16, 32]).kind == "linear"

    def test_a_brush_constrains_the_axes_it_spans(self):
        from viewer import parallel

        axes = [parallel.axis_of("lr", [1e-4, 1e-1], log=True), parallel.axis_of("opt", ["adam", "sgd"])]
        limits = parallel.constraints(axes, {"axis": [0.9, 1.1], "position": [0.0, 0.5]})
        assert limits == {"opt": frozenset({"adam"})}
        limits = parallel.constraints(axes, {"axis": [-0.1, 0.1], "position": [parallel.EDGE, 0.5]})
        lo, hi = limits["lr"]
        assert lo == pytest.approx(1e-4)
        assert 1e-3 < hi < 1e-2
        trials = pd.DataFrame({"lr": [1e-4, 1e-3, 5e-2], "opt": ["adam", "sgd", "adam"]})
        assert parallel.inside(trials, limits) == [True, True, False]
        assert parallel.describe_constraint("opt", frozenset({"sgd", "adam"})) == "opt in {adam, sgd}"

    def test_nested_sweep_parameters_and_log_distributions(self):
        from viewer import parallel

        params = parallel.sweep_params(
            {"lr": {"distribution": "log_uniform_values", "min": 1e-4, "max": 0.1},
             "optim": {"parameters": {"momentum": {"values": [0.9, 0.99]}}}}
        )  # fmt: skip
        assert list(params) == ["lr", "optim.momentum"]
        assert parallel.is_log(params["lr"])
        assert not parallel.is_log(params["optim.momentum"])


class TestDefaultColumns:
    def test_varying_config_and_measures_not_counters(self):
        frame = pd.DataFrame(
            {
                "name": ["a", "b"], "status": ["f", "f"], "group": ["g", "g"], "created": [1, 2], "duration": ["", ""],
                "config.lr": [0.1, 0.2], "config.seed": [0, 0], "summary.epoch": [9, 10], "summary.val/acc": [0.9, 0.8],
            }
        )  # fmt: skip
        shown = tables.default_columns(frame, sort_key="created", key_metrics=["summary.val/acc"])
        assert shown == ["status", "created", "duration", "summary.val/acc", "config.lr"]
