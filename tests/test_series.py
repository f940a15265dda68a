"""The series engine (ledger._query._series): curves, smoothing, downsampling and group
bands, and the four places that draw or judge curves taking the same numbers from it."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ledger
from ledger._query import _series
from tests.helpers import quiet_init


def curve(x: list[float], y: list[float]) -> ledger.Series:
    return ledger.Series("m", np.asarray(x, dtype=float), np.asarray(y, dtype=float))


class TestSmoothing:
    def test_zero_is_identity_and_the_start_is_debiased(self):
        y = np.array([4.0, 2.0, 8.0])
        assert list(_series.ema(y, 0.0)) == [4.0, 2.0, 8.0]
        smooth = _series.ema(y, 0.5)
        assert smooth[0] == 4.0  # debiased: the first point is not pulled toward zero
        assert smooth[1] == pytest.approx((0.5 * 4 + 2) / 1.5)

    def test_non_finite_points_stay_and_do_not_drag_the_line(self):
        smooth = _series.ema(np.array([1.0, math.nan, 1.0, math.inf, 1.0]), 0.9)
        assert math.isnan(smooth[1])
        assert smooth[3] == math.inf
        assert smooth[[0, 2, 4]] == pytest.approx([1.0, 1.0, 1.0])

    def test_the_weight_must_be_below_one(self):
        with pytest.raises(ValueError, match=r"smoothing must be in \[0, 1\), got 1"):
            _series.ema(np.array([1.0]), 1)


class TestDownsample:
    def test_short_series_are_untouched(self):
        x, y = np.arange(10.0), np.arange(10.0)
        dx, dy = _series.downsample(x, y, 100)
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
        dx, dy = _series.downsample(x, y, 1000)
        assert len(dx) <= 1000 + 2 + 500  # min and max per bucket, ends, a gap marker per bucket at most
        assert {31_337, 77_777, 50_000, 0, n - 1} <= set(dx.tolist())
        assert np.isnan(dy[dx == 50_000]).all()
        assert np.all(np.diff(dx) > 0)  # still in x order
        again = _series.downsample(x, y, 1000)
        assert np.array_equal(again[0], dx)
        assert np.array_equal(again[1], dy, equal_nan=True)

    def test_samples_must_be_a_count(self):
        with pytest.raises(ValueError, match="samples must be a whole number >= 2"):
            _series.downsample(np.arange(3.0), np.arange(3.0), 1)


class TestBand:
    def test_runs_logging_the_same_steps_are_averaged_exactly(self):
        band = _series.band([curve([0, 1, 2], [1, 2, 3]), curve([0, 1, 2], [3, 4, 5])])
        assert list(band.x) == [0, 1, 2]
        assert list(band.mean) == [2, 3, 4]
        assert list(band.n) == [2, 2, 2]
        assert band.std == pytest.approx([math.sqrt(2)] * 3)  # sample std of two values 2 apart
        assert (list(band.min), list(band.max)) == ([1, 2, 3], [3, 4, 5])
        assert band.runs == 2

    def test_runs_on_different_steps_are_put_on_one_grid_no_spikes(self):
        # Both runs follow y = x, one logging even steps and one odd: each grid point holds
        # both runs (interpolated), so the mean is the line itself, never one run alone.
        even = curve([0, 2, 4, 6, 8], [0, 2, 4, 6, 8])
        odd = curve([1, 3, 5, 7, 9], [1, 3, 5, 7, 9])
        band = _series.band([even, odd])
        assert list(band.x) == list(range(10))
        inner = (band.x >= 1) & (band.x <= 8)
        assert (band.n[inner] == 2).all()
        assert band.mean == pytest.approx(band.x)
        assert (band.n[~inner] == 1).all()  # the ends are each held by one run, and say so

    def test_where_a_shorter_run_ends_the_band_holds_fewer_runs(self):
        band = _series.band([curve([0, 1, 2, 3], [1, 1, 1, 1]), curve([0, 1], [3, 3])])
        assert list(band.n) == [2, 2, 1, 1]
        assert list(band.mean) == [2, 2, 1, 1]
        assert math.isnan(band.std[2])  # one run: no spread
        assert band.std[0] == pytest.approx(math.sqrt(2))

    def test_non_finite_values_do_not_count(self):
        band = _series.band([curve([0, 1, 2], [1, math.nan, 1]), curve([0, 1, 2], [3, 3, math.inf])])
        assert list(band.n) == [2, 1, 1]
        assert list(band.mean) == [2, 3, 1]

    def test_a_step_logged_twice_counts_its_last_value(self):
        band = _series.band([curve([0, 1, 1, 2], [0, 5, 1, 2])])
        assert list(band.x) == [0, 1, 2]
        assert list(band.mean) == [0, 1, 2]

    def test_many_distinct_x_are_resampled_onto_samples_points(self):
        a = curve(np.linspace(0, 100, 5000).tolist(), [1.0] * 5000)
        b = curve(np.linspace(0.01, 100, 4000).tolist(), [3.0] * 4000)
        band = _series.band([a, b], samples=50)
        assert len(band.x) == 50
        assert band.mean[1:] == pytest.approx(2.0)
        assert (band.n[1:] == 2).all()
        assert band.n[0] == 1  # x=0 is before run b's first point

    def test_no_members_no_band(self):
        band = _series.band([curve([], [])])
        assert (band.runs, len(band.x)) == (0, 0)


@pytest.fixture
def group(tmp_dir):
    """A group of three runs logging a metric at different steps, one with NaN and +inf,
    one shorter, plus a run of another group; returns the root."""
    logged = {
        "a": [(0, 1.0), (2, 0.8), (4, 0.6), (6, 0.5), (8, 0.4)],
        "b": [(1, 0.9), (3, math.nan), (5, 0.55), (7, math.inf), (9, 0.35)],
        "c": [(0, 1.2), (3, 0.9), (5, 0.7)],
    }
    for name, points in logged.items():
        with quiet_init("p", root="results", name=name, group="g") as run:
            for step, value in points:
                run.log({"loss": value, "other": step}, step=step)
    with quiet_init("p", root="results", name="z", group="h") as run:
        run.log({"loss": 5.0}, step=0)
    return tmp_dir / "results"


def test_run_series_on_every_x_axis(group):
    run = ledger.open(group).run("b")
    s = run.series("loss")
    assert list(s.x) == [1, 3, 5, 7, 9]
    assert s.y[0] == 0.9
    assert math.isnan(s.y[1])
    assert s.y[3] == math.inf
    times = run.series("loss", x="time").x
    assert np.all(np.diff(times) >= 0)
    relative = run.series("loss", x="relative").x
    assert relative[0] >= 0
    assert relative == pytest.approx(times - run.records()[0]["_time"])
    assert len(run.series("never-logged").x) == 0
    assert run.series_keys() == ["loss", "other"]
    with pytest.raises(ValueError, match="x must be one of step, time, relative"):
        run.series("loss", x="epoch")


def test_the_four_consumers_of_a_group_curve_agree(group, tmp_path):
    """The viewer, `ledger plot`, the publication report and hyperband take the same numbers
    for the same group from the series engine."""
    pytest.importorskip("altair")
    pytest.importorskip("matplotlib")
    from ledger._commands._plot import plot_groups
    from ledger._report import group_curves
    from ledger.sweeps._hyperband import history_of
    from viewer import charts

    lg = ledger.open(group)
    members = lg.runs(group="g")
    (engine,) = members.band("loss")
    finite = ~np.isnan(engine.mean)
    assert engine.runs == 3
    at5 = engine.x == 5  # b and c logged there, a interpolated between its steps 4 and 6
    assert (list(engine.n[at5]), engine.mean[at5][0]) == ([3], pytest.approx((0.55 + 0.55 + 0.7) / 3))
    assert list(engine.n[engine.x == 4]) == [2]  # b between its NaN at 3 and 5: not counted

    # The viewer's Charts page: a band frame of the group's band.
    frame = charts.band_frame("g", members.band("loss")[0], "std")
    assert list(frame["x"]) == list(engine.x[finite])
    assert list(frame["y"]) == list(engine.mean[finite])
    assert list(frame["n"]) == list(engine.n[finite])

    # `ledger plot`: the lines matplotlib drew.
    drawn = plot_groups(lg.runs(), metric="loss", group_by="group", x_axis="step", output=str(tmp_path / "f.svg"))
    by_group = {b.group: b for b in drawn}
    assert set(by_group) == {"g", "h"}
    assert np.array_equal(by_group["g"].x, engine.x)
    assert np.array_equal(by_group["g"].mean, engine.mean, equal_nan=True)
    assert (tmp_path / "f.svg").read_text().count("<path") > 0

    # The publication report: the curves its SVG draws.
    curves = dict(group_curves(list(lg.runs()), "loss"))
    assert np.array_equal(curves["g"].x, engine.x)
    assert np.array_equal(curves["g"].mean, engine.mean, equal_nan=True)

    # Hyperband: each run's history is its series, NaN and infinities skipped (W&B's engine
    # counts finite numbers only); band values come from it.
    for run in members:
        expected = [v for v in run.series("loss").y.tolist() if math.isfinite(v)]
        assert history_of(run.series("loss")) == expected
    assert history_of(lg.run("b").series("loss")) == [0.9, 0.55, 0.35]


def _reference_downsample(x, y, samples):
    """The rule of the module's docstring, one bucket at a time (what the fast version must equal)."""
    import itertools

    n = len(y)
    if n <= samples:
        return x, y
    edges = np.linspace(0, n, max(1, samples // 2) + 1).astype(int)
    keep = {0, n - 1}
    bad = ~np.isfinite(y)
    for a, b in itertools.pairwise(edges.tolist()):
        if a >= b:
            continue
        good = ~bad[a:b]
        if good.any():
            part = np.where(good, y[a:b], np.nan)
            keep.add(a + int(np.nanargmin(part)))
            keep.add(a + int(np.nanargmax(part)))
        if not good.all():
            keep.add(a + int(np.argmax(~good)))
    idx = np.fromiter(sorted(keep), dtype=int)
    return x[idx], y[idx]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from([0.0, 1.0, -2.5, 3.0, math.nan, math.inf, -math.inf]) | st.floats(-1e6, 1e6),
        min_size=0,
        max_size=400,
    ),
    st.integers(2, 120),
)
def test_downsampling_keeps_exactly_the_documented_points(values, samples):
    y = np.array(values, dtype=float)
    x = np.arange(len(y), dtype=float)
    dx, dy = _series.downsample(x, y, samples)
    rx, ry = _reference_downsample(x, y, samples)
    assert dx.tolist() == rx.tolist()
    np.testing.assert_array_equal(dy, ry)
