"""The viewer's pages under Streamlit's AppTest, on a fixture ledger made with the real API
(tests/viewer_ledger.py): each test checks what a page shows."""

from __future__ import annotations

import re

import pyarrow as pa
import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest

from tests import viewer_ledger
from tests.helpers import REPO

APP = str(REPO / "viewer" / "app.py")


@pytest.fixture(scope="module")
def fixture_ledger(tmp_path_factory):
    root = tmp_path_factory.mktemp("viewer") / "results"
    return root, viewer_ledger.build(root)


@pytest.fixture
def ids(fixture_ledger):
    return fixture_ledger[1]


@pytest.fixture
def app(fixture_ledger, monkeypatch):
    """A fresh session of the viewer on the fixture ledger, first page run."""
    import streamlit as st

    monkeypatch.setenv("LEDGER_VIEW_ROOT", str(fixture_ledger[0]))
    st.cache_data.clear()
    st.cache_resource.clear()
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception
    return at


def show(at: AppTest, page: str, **state) -> AppTest:
    for key, value in state.items():
        at.session_state[key] = value
    at.switch_page(f"views/{page}.py").run()
    assert not at.exception, at.exception
    return at


def count_line(at: AppTest) -> str:
    return next(m.value for m in at.markdown if " runs**" in m.value)


def chart_data(element) -> list:
    """The data frames a vega-lite chart element carries (one per layer with data)."""
    return [pa.ipc.open_stream(d.data.data).read_all().to_pandas() for d in element.proto.datasets]


def charts(at: AppTest) -> list:
    return list(at.get("vega_lite_chart"))


def by_name(frame, name):
    return frame[frame["name"] == name].iloc[0]


class TestRuns:
    def test_every_run_is_a_row_with_its_status(self, app):
        table = app.dataframe[0].value
        assert len(table) == 11
        assert count_line(app).startswith("**11 of 11 runs**")
        statuses = dict(zip(table["name"], table["status"], strict=True))
        assert statuses["resnet-a"] == "🟢 finished"
        assert statuses["resnet-eval"] == "🔴 failed"
        assert statuses["vit-crashed"] == "🟠 crashed"  # running, heartbeat long gone
        assert statuses["vit-eval"] == "🔵 running"
        assert by_name(table, "resnet-a")["duration"] == "1:00:00"
        assert by_name(table, "vit-a")["tags"] == "baseline, big"
        assert {"config.lr", "summary.acc", "summary.loss"} <= set(table.columns)
        assert table["name"].iloc[0] == "bert"  # newest first

    def test_markup_in_a_name_stays_text(self, app):
        table = app.dataframe[0].value
        assert viewer_ledger.MARKUP_NAME in set(table["name"])

    def test_where_narrows_the_table(self, app):
        app.text_input(key="f_where").input("config.lr < 0.005 and job_type == 'train'").run()
        table = app.dataframe[0].value
        assert set(table["name"]) == {"resnet-a", "vit-a", "vit-crashed", "bert", "sweep-2"}
        assert count_line(app).startswith("**5 of 11 runs**")
        assert not app.error

    def test_a_where_that_does_not_parse_is_explained_inline(self, app):
        app.text_input(key="f_where").input("config.lr <").run()
        assert "does not parse" in app.error[0].value
        assert any(re.search(r"position 11:\n  config\.lr <\n +\^", c.value) for c in app.code)
        assert len(app.dataframe[0].value) == 11  # the rest of the filters still apply

    def test_pickers_filter_by_project_group_job_type_tags_and_status(self, app):
        app.selectbox(key="f_project").select("vision").run()
        assert len(app.dataframe[0].value) == 10
        app.multiselect(key="f_groups").select("resnet").run()
        assert set(app.dataframe[0].value["name"]) == {"resnet-a", "resnet-b", "resnet-eval"}
        app.multiselect(key="f_job_types").select("train").run()
        assert set(app.dataframe[0].value["name"]) == {"resnet-a", "resnet-b"}
        app.multiselect(key="f_tags").select("baseline").run()
        assert list(app.dataframe[0].value["name"]) == ["resnet-a"]
        app.multiselect(key="f_groups").unselect("resnet").run()
        app.multiselect(key="f_job_types").unselect("train").run()
        app.multiselect(key="f_tags").unselect("baseline").run()
        app.multiselect(key="f_statuses").select("crashed").run()
        assert list(app.dataframe[0].value["name"]) == ["vit-crashed"]

    def test_sorts_by_any_column_missing_last(self, app):
        app.selectbox(key="f_sort").select("summary.acc").run()
        names = list(app.dataframe[0].value["name"])
        assert names[0] == viewer_ledger.MARKUP_NAME  # acc 0.99
        assert set(names[-2:]) == {"sweep-2", "bert"}  # NaN and missing sort last either way
        app.toggle(key="f_descending").set_value(False).run()
        names = list(app.dataframe[0].value["name"])
        assert names[0] in {"vit-a", "vit-crashed", "vit-eval"}  # acc 0.527, the lowest
        assert set(names[-2:]) == {"sweep-2", "bert"}

    def test_groups_show_count_and_mean_std(self, app):
        app.radio(key="f_grouping").set_value("group, then job_type").run()
        app.multiselect(key="f_group_metrics").select("summary.acc").run()
        groups = app.dataframe[0].value
        rows = {
            (g, jt): row
            for g, jt, row in zip(groups["group"], groups["job_type"], groups.to_dict("records"), strict=True)
        }
        assert rows[("resnet", "")]["runs"] == 3
        assert rows[("resnet", "train")]["runs"] == 2
        assert rows[("resnet", "train")]["summary.acc"] == "0.925 ± 0.035"  # 0.90 and 0.95
        assert rows[("vit", "eval")]["runs"] == 1
        assert rows[("(none)", "train")]["runs"] == 1  # one job type: one row
        assert ("(none)", "") not in rows
        assert rows[("sw1", "train")]["summary.acc"] == "0.8 ± 0.14 (n=2)"  # the NaN does not count
        assert rows[("vit", "eval")]["summary.acc"] == "0.527"  # one run: no spread to show
        assert len(app.dataframe) == 2  # the runs table stays below

    def test_pages_of_rows(self, app):
        app.selectbox(key="f_page_size").select(10).run()
        assert len(app.dataframe[0].value) == 10
        app.number_input(key="f_page").set_value(2).run()
        assert len(app.dataframe[0].value) == 1
        assert "rows 11-11" in count_line(app)

    def test_select_all_filtered_runs_for_the_other_pages(self, app, ids):
        app.multiselect(key="f_groups").select("resnet").run()
        select = next(b for b in app.button if b.label.startswith("Select all"))
        select.click().run()
        assert set(app.session_state["sel_runs"]) == {ids["resnet-a"], ids["resnet-b"], ids["resnet-eval"]}
        assert "3 selected" in count_line(app)
        assert any(c.value == "Selected: 3 runs, 0 groups" for c in app.sidebar.caption)


class TestCharts:
    def test_without_a_selection_it_says_what_to_do(self, app):
        show(app, "charts")
        assert "Select runs or groups" in app.info[0].value
        assert not charts(app)

    def test_one_panel_per_metric_with_gaps_for_nan_and_inf(self, app, ids):
        show(app, "charts", sel_runs=[ids["resnet-a"], ids["resnet-b"]])
        panels = charts(app)
        assert len(panels) == 2  # acc and loss
        (loss,) = [f for p in panels for f in chart_data(p) if "loss" in p.proto.spec]
        a = loss[loss["source"] == f"resnet-a ({ids['resnet-a'][-6:]})"]
        assert len(a) == 21  # 22 points, the NaN is not drawn ...
        assert 20 not in set(a["x"])
        assert a[a["x"] > 20]["segment"].min() > a[a["x"] < 20]["segment"].max()  # ... and breaks the line
        b = loss[loss["source"].str.startswith("resnet-b")]
        assert len(b) == 20
        assert not b["y"].isin([float("inf"), 0.0]).any()
        assert any(c.value == "2 NaN/Inf points drawn as gaps" for c in app.caption)

    def test_groups_draw_a_mean_and_a_band(self, app, ids):
        group = {"resnet / train": [ids["resnet-a"], ids["resnet-b"]]}
        show(app, "charts", sel_groups=group, c_metrics=["acc"])
        (frame,) = chart_data(charts(app)[0])
        assert set(frame["source"]) == {"resnet / train (2 runs)"}
        assert {"lo", "hi", "y"} <= set(frame.columns)
        first = frame[frame["x"] == 5].iloc[0]
        assert first["lo"] <= first["y"] <= first["hi"]
        assert first["lo"] < first["hi"]
        app.radio(key="c_band").set_value("std").run()
        (frame,) = chart_data(charts(app)[0])
        first = frame[frame["x"] == 5].iloc[0]
        assert first["hi"] - first["y"] == pytest.approx(first["y"] - first["lo"])

    def test_on_wall_time_a_group_is_drawn_run_by_run(self, app, ids):
        group = {"resnet / train": [ids["resnet-a"], ids["resnet-b"]]}
        show(app, "charts", sel_groups=group, c_metrics=["acc"], c_x="wall time")
        (frame,) = chart_data(charts(app)[0])
        assert "lo" not in frame.columns  # no band
        assert len(frame) == 22 + 20  # every point of both runs
        assert frame["segment"].nunique() == 2
        assert '"type": "temporal"' in charts(app)[0].proto.spec
        assert any("drawn run by run" in c.value for c in app.caption)

    def test_smoothing_log_scale_and_x_axes(self, app, ids):
        show(app, "charts", sel_runs=[ids["resnet-b"]], c_metrics=["loss"])
        raw = chart_data(charts(app)[0])[0]["y"].to_numpy()
        app.slider(key="c_smoothing").set_value(0.9).run()
        smooth = chart_data(charts(app)[0])[0]["y"].to_numpy()
        assert smooth[0] == pytest.approx(raw[0])
        assert smooth[-1] > raw[-1]
        app.toggle(key="c_log").set_value(True).run()
        assert '"type": "log"' in charts(app)[0].proto.spec
        app.radio(key="c_x").set_value("relative time").run()
        spec = charts(app)[0].proto.spec
        assert "relative time (seconds)" in spec
        assert chart_data(charts(app)[0])[0]["x"].iloc[0] == 0

    def test_running_runs_pick_up_new_records_at_the_next_refresh(self, app, ids, fixture_ledger, monkeypatch):
        from viewer import data

        monkeypatch.setattr(data, "tick", lambda _interval: 1)
        show(app, "charts", sel_runs=[ids["vit-eval"]], c_metrics=["loss"])
        before = chart_data(charts(app)[0])[0]
        metrics = fixture_ledger[0] / "vision" / "runs" / ids["vit-eval"] / "metrics.jsonl"
        with metrics.open("a") as f:  # what the run's writer appends at its next flush
            f.write('{"_step":99,"_time":1800000000.0,"loss":0.123}\n')
        app.run()
        assert chart_data(charts(app)[0])[0].equals(before)  # same refresh period: from the cache
        monkeypatch.setattr(data, "tick", lambda _interval: 2)
        app.run()
        after = chart_data(charts(app)[0])[0]
        assert len(after) == len(before) + 1
        assert after.iloc[-1]["x"] == 99
        assert after.iloc[-1]["y"] == 0.123


class TestRun:
    def test_overview_config_summary_code_and_command(self, app, ids):
        show(app, "run", sel_runs=[ids["vit-a"]])
        overview, config, summary, git = (d.value for d in app.dataframe[:4])
        fields = dict(zip(overview["field"], overview["value"], strict=True))
        assert fields["status"] == "🟢 finished"
        assert fields["duration"] == "0:30:00"
        assert fields["group"] == "vit"
        assert dict(zip(config["key"], config["value"], strict=True))["lr"] == "0.0003"
        assert "acc" in set(summary["metric"])
        assert dict(zip(git["field"], git["value"], strict=True))["commit"] == "a" * 40
        assert [c.value for c in app.code if c.language == "diff"] == [viewer_ledger.PATCH.rstrip("\n")]
        assert any(c.value == "train.py --lr 3e-4" and c.language == "bash" for c in app.code)
        assert any(c.value == f"ledger reproduce {ids['vit-a']}" for c in app.code)

    def test_output_tail_and_search(self, app, ids):
        show(app, "run", sel_runs=[ids["vit-a"]])
        log = next(c for c in app.code if "epoch" in c.value)
        lines = log.value.splitlines()
        assert len(lines) == 200
        assert lines[-1].endswith("done: best acc 0.93")
        assert lines[-1].startswith("301")  # line numbers
        app.text_input(key="log_search").input("BEST").run()
        log = next(c for c in app.code if "best" in c.value)
        assert log.value.splitlines() == ["301  done: best acc 0.93"]
        assert any("1 matching lines" in c.value for c in app.caption)

    def test_system_charts_and_saved_files(self, app, ids):
        show(app, "run", sel_runs=[ids["vit-a"]])
        system = charts(app)
        assert len(system) == 2  # cpu/percent, memory/percent
        cpu = chart_data(next(c for c in system if "cpu/percent" in c.proto.spec))[0]
        assert list(cpu["y"]) == [0.0, 10.0, 20.0, 30.0, 40.0]
        assert any(t.value == "plot.png" for t in app.text)
        assert len(app.get("image")) == 1
        assert any(b.label == "Download" for b in app.get("download_button"))

    def test_markup_in_a_name_is_escaped_and_notes_are_plain_text(self, app, ids):
        show(app, "run", sel_runs=[ids["markup"]])
        header = app.header[0].value
        assert "<b>" not in header
        assert "\\<b\\>" in header
        assert "\\!\\[img\\]" in header
        assert app.text[0].value == viewer_ledger.MARKUP_NOTES

    def test_a_run_by_id_prefix_and_an_unknown_one(self, app, ids):
        show(app, "run")
        app.text_input(key="run_typed").input(ids["resnet-eval"][:-2]).run()
        assert app.header[0].value == "resnet\\-eval"
        app.text_input(key="run_typed").input("nope").run()
        assert "no run 'nope'" in app.error[0].value


class TestCompare:
    def test_differing_keys_are_marked_and_equal_ones_can_hide(self, app, ids):
        show(app, "compare", sel_runs=[ids["vit-a"], ids["vit-eval"]])
        tables = {t.value.index[0].split(".")[0] if "." in t.value.index[0] else "run": t.value for t in app.dataframe}
        packages = tables["packages"]
        assert list(packages.loc["packages.numpy"]) == ["1.26.4", "2.0.0"]
        assert list(packages.loc["packages.torch"]) == ["2.1.0", "2.1.0"]
        assert tables["run"].loc["status"].tolist() == ["finished", "running"]
        caption = next(c.value for c in app.caption if "keys differ" in c.value)
        app.toggle(key="cmp_hide_equal").set_value(True).run()
        shown = {i for t in app.dataframe for i in t.value.index}
        assert "packages.numpy" in shown
        assert "packages.torch" not in shown
        assert "config.lr" not in shown
        assert caption == next(c.value for c in app.caption if "keys differ" in c.value)

    def test_needs_two_runs(self, app, ids):
        show(app, "compare", sel_runs=[ids["vit-a"]])
        assert "two or more runs" in app.info[0].value


class TestSweeps:
    def test_trials_best_and_plots(self, app, ids):
        show(app, "sweeps")
        assert app.header[0].value == "vision / sw1"
        statuses, trials = app.dataframe[0].value, app.dataframe[1].value
        assert dict(zip(statuses["status"], statuses["runs"], strict=True)) == {"🟢 finished": 2, "🔴 failed": 1}
        assert list(trials["trial"]) == [0, 1, 2]
        assert list(trials["lr"]) == ["0.1", "0.01", "0.001"]
        assert list(trials["acc"])[:2] == [0.7, 0.9]
        assert app.metric[0].value == "0.9"
        plots = charts(app)
        assert len(plots) == 4  # best so far, parallel coordinates, lr vs acc, batch vs acc
        best = chart_data(plots[0])[0]
        assert list(best["best"])[:2] == [0.7, 0.9]
        assert list(best["best"])[2] == 0.9


class TestCompute:
    def test_hours_and_gpu_hours_by_group_and_cost(self, app):
        show(app, "compute")
        table = app.dataframe[0].value.set_index("group")
        assert table.loc["resnet", "runs"] == 3
        assert table.loc["resnet", "hours"] == pytest.approx((3600 + 7200 + 600) / 3600, abs=1e-4)
        assert table.loc["resnet", "gpu_hours"] == pytest.approx(1 * 2 + 2 * 1, abs=1e-4)  # hours x GPUs
        app.number_input(key="cu_gpu_price").set_value(2.5).run()
        table = app.dataframe[0].value.set_index("group")
        assert table.loc["resnet", "cost"] == pytest.approx(10.0)
        assert len(charts(app)) == 1

    def test_by_month_and_the_runs_page_filters(self, app):
        app.selectbox(key="f_project").select("nlp").run()
        show(app, "compute")
        app.radio(key="cu_by").set_value("month").run()
        table = app.dataframe[0].value
        assert list(table["runs"]) == [1]
        assert re.fullmatch(r"\d{4}-\d{2}", table["month"][0])
        app.toggle(key="cu_filtered").set_value(False).run()
        assert app.dataframe[0].value["runs"].sum() == 11


def test_the_root_comes_from_the_command_line_or_ledger_view(monkeypatch):
    from viewer import data

    monkeypatch.setenv("LEDGER_VIEW_ROOT", "s3://lab/results")
    monkeypatch.setenv("LEDGER_VIEW_STORAGE_OPTIONS", '{"anon": true}')
    assert data.source([]) == data.Source("s3://lab/results", (("anon", True),))
    given = data.source(["--root", "results", "--storage-option", "endpoint_url=http://127.0.0.1:8333"])
    assert given == data.Source("results", (("anon", True), ("endpoint_url", "http://127.0.0.1:8333")))


def test_no_page_allows_raw_html():
    for path in (REPO / "viewer").rglob("*.py"):
        assert "unsafe_allow_html" not in path.read_text(), path
