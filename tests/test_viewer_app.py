"""The viewer's pages under Streamlit's AppTest, on a fixture ledger made with the real API
(tests/viewer_ledger.py): each test checks what a page shows."""

from __future__ import annotations

import json
import re

import pyarrow as pa
import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest

from tests import viewer_ledger
from tests.helpers import REPO, quiet_init

APP = str(REPO / "viewer" / "app.py")


@pytest.fixture(scope="module")
def fixture_ledger(tmp_path_factory):
    root = tmp_path_factory.mktemp("viewer") / "results"
    return root, viewer_ledger.build_in_place(root)


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


def session(root, monkeypatch, query: dict | None = None) -> AppTest:
    """A new browser session of the viewer, opened at a URL with this query string."""
    monkeypatch.setenv("LEDGER_VIEW_ROOT", str(root))
    at = AppTest.from_file(APP, default_timeout=60)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, at.exception
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
    """The data frames a vega-lite chart element carries (one per named dataset)."""
    return [pa.ipc.open_stream(d.data.data).read_all().to_pandas() for d in element.proto.datasets]


def datasets(element) -> dict:
    """A chart's named datasets: lines0, bands0, hover0 ... per panel."""
    return {d.name: pa.ipc.open_stream(d.data.data).read_all().to_pandas() for d in element.proto.datasets}


def spec(element) -> dict:
    return json.loads(element.proto.spec)


def drawn(element, panel: int = 0):
    """The points a panel's lines draw: (line, x, y) rows, y NaN where a path breaks (a gap, or
    between two lines); the line named from the colour keys (the data carries numbers)."""
    keys = spec(element)["usermeta"]["colour_keys"]
    frame = datasets(element)[f"lines{panel}"]
    return frame.assign(line=[keys[int(k)] for k in frame["series"]])


def panel_titles(element) -> list[str]:
    return [view["title"]["text"] for view in spec(element)["concat"]]


def charts(at: AppTest) -> list:
    return list(at.get("vega_lite_chart"))


def columns_shown(at: AppTest) -> list[str]:
    return list(at.dataframe[-1].value.columns)


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
        assert table["name"].iloc[0] == "bert"  # newest first
        app.multiselect(key="f_columns").select("tags").run()
        assert by_name(app.dataframe[0].value, "vit-a")["tags"] == "baseline, big"

    def test_default_columns_come_from_the_data_with_the_name_first(self, app):
        shown = columns_shown(app)
        assert shown[:2] == ["name", "created"]  # the sort key right after the pinned name
        assert {"status", "project", "group", "job_type", "duration", "config.lr", "summary.acc"} <= set(shown)
        assert "id" not in shown  # there to choose, not shown by default
        assert "tags" not in shown
        assert "summary.loss" in shown
        app.selectbox(key="f_sort").select("summary.acc").run()
        assert columns_shown(app)[:2] == ["name", "summary.acc"]  # the sorted column is never off-screen

    def test_constant_config_keys_are_not_default_columns(self, app):
        app.selectbox(key="f_project").select("vision").run()
        shown = columns_shown(app)
        assert "config.lr" in shown
        assert "config.depth" not in shown  # 18 in every run of the project
        assert "project" not in shown  # one project: nothing to tell apart

    def test_columns_are_remembered_per_project(self, app):
        app.selectbox(key="f_project").select("vision").run()
        app.multiselect(key="f_columns").select("id").run()
        assert "id" in columns_shown(app)
        app.selectbox(key="f_project").select("nlp").run()
        assert "id" not in columns_shown(app)
        app.selectbox(key="f_project").select("vision").run()
        assert "id" in columns_shown(app)

    def test_markup_in_a_name_stays_text(self, app):
        table = app.dataframe[0].value
        assert viewer_ledger.MARKUP_NAME in set(table["name"])

    def test_where_narrows_the_table(self, app):
        app.text_input(key="f_where").input("config.lr < 0.005 and job_type == 'train'").run()
        table = app.dataframe[0].value
        assert set(table["name"]) == {"resnet-a", "vit-a", "vit-crashed", "bert", "sweep-2"}
        assert count_line(app).startswith("**5 of 11 runs**")
        assert not app.error

    def test_an_unknown_field_says_so_with_the_closest_names(self, app):
        app.text_input(key="f_where").input("summary.acc_ > 0.5").run()
        assert count_line(app).startswith("**0 of 11 runs**")
        assert app.warning[0].value.startswith("no run has the field 'summary.acc_'; did you mean summary.acc")

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

    def test_who_ran_what(self, app):
        app.multiselect(key="f_users").select("grace").run()
        assert list(app.dataframe[0].value["name"]) == ["bert"]

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
        app.selectbox(key="f_project").select("vision").run()
        app.multiselect(key="f_group_by").select("group").select("job_type").run()
        app.multiselect(key="f_group_metrics").select("summary.acc").run()
        groups = app.dataframe[0].value
        rows = {
            (g, jt): row
            for g, jt, row in zip(groups["group"], groups["job_type"], groups.to_dict("records"), strict=True)
        }
        assert rows[("resnet", "train")]["runs"] == 2
        assert rows[("resnet", "train")]["summary.acc"] == "0.925 ± 0.035"  # 0.90 and 0.95
        assert rows[("resnet", "eval")]["runs"] == 1
        assert rows[("(none)", "train")]["runs"] == 1
        assert rows[("sw1", "train")]["summary.acc"] == "0.8 ± 0.14 (n=2)"  # the NaN does not count
        assert rows[("vit", "eval")]["summary.acc"] == "0.527 ± —"  # one run: no spread (as ledger export shows it)
        assert len(groups) == 6  # every group, however many (the table scrolls)
        assert len(app.dataframe) == 2  # the runs table stays below

    def test_group_by_any_column_keyed_by_project(self, app):
        app.multiselect(key="f_group_by").select("config.lr").run()
        groups = app.dataframe[0].value
        assert list(groups.columns[:3]) == ["project", "config.lr", "runs"]  # two projects: keyed by project too
        lrs = dict(zip(zip(groups["project"], groups["config.lr"], strict=True), groups["runs"], strict=True))
        assert lrs[("vision", "0.01")] == 3  # resnet-b, resnet-eval, sweep-1
        assert lrs[("vision", "0.0003")] == 3
        assert lrs[("nlp", "2e-05")] == 1
        assert "summary.acc" in groups.columns  # a metric the table shows is a default of the group table

    def test_pages_of_rows(self, app):
        app.selectbox(key="f_page_size").select(10).run()
        assert len(app.dataframe[0].value) == 10
        app.number_input(key="f_page").set_value(2).run()
        assert len(app.dataframe[0].value) == 1
        assert "rows 11-11" in count_line(app)

    def test_ticking_a_group_selects_it_for_the_other_pages(self, app, ids):
        app.selectbox(key="f_project").select("vision").run()
        app.multiselect(key="f_group_by").select("group").run()
        labels = list(app.dataframe[0].value["group"])
        app.session_state["sel_groups"] = [labels[labels.index("resnet")]]
        app.session_state["sel_group_by"] = ["group"]
        show(app, "charts")
        assert {r.split(" (")[0] for r in datasets(charts(app)[0])["bands0"]["source"]} == {"resnet"}

    def test_select_all_filtered_runs_for_the_other_pages(self, app, ids):
        app.multiselect(key="f_groups").select("resnet").run()
        select = next(b for b in app.button if b.label.startswith("Select all"))
        select.click().run()
        assert set(app.session_state["sel_runs"]) == {ids["resnet-a"], ids["resnet-b"], ids["resnet-eval"]}
        assert "3 selected" in count_line(app)
        assert any(c.value == "Selected: 3 runs, 0 groups" for c in app.sidebar.caption)


class TestCharts:
    def test_without_a_selection_it_charts_the_filtered_runs(self, app):
        app.text_input(key="f_where").input("group == 'resnet' and job_type == 'train'").run()
        show(app, "charts")
        assert app.session_state["c_source"] == "filtered"
        (chart,) = charts(app)
        assert set(drawn(chart)["line"].str.split(" ").str[0]) == {"resnet-a", "resnet-b"}

    def test_without_any_run_it_says_what_to_do(self, app):
        app.text_input(key="f_where").input("config.lr > 100").run()
        show(app, "charts", c_source="selection")
        assert "No run matches the filters" in app.info[0].value
        assert not charts(app)

    def test_one_panel_per_metric_in_one_chart_with_gaps_for_nan_and_inf(self, app, ids):
        show(app, "charts", sel_runs=[ids["resnet-a"], ids["resnet-b"]])
        (chart,) = charts(app)
        assert panel_titles(chart) == ["acc", "loss"]
        loss = drawn(chart, 1)
        a = loss[loss["line"] == f"resnet-a ({ids['resnet-a'][-6:]})"]
        assert a["y"].notna().sum() == 21  # 22 points, the NaN is not drawn ...
        assert a[a["x"] == 20]["y"].isna().all()  # ... but breaks the line there
        b = loss[loss["line"].str.startswith("resnet-b")]
        assert b["y"].notna().sum() == 20  # the infinity is a break too
        assert not b["y"].isin([float("inf"), 0.0]).any()
        assert a["y"].isna().iloc[-1]  # a break after each run: two runs' lines are never joined
        assert spec(chart)["concat"][1]["title"]["subtitle"] == "2 NaN/Inf points drawn as gaps"

    def test_hover_names_the_run_and_highlights_it_in_every_panel(self, app, ids):
        show(app, "charts", sel_runs=[ids["resnet-a"], ids["resnet-b"]])
        chart = spec(charts(app)[0])
        (hover,) = [p for p in chart["params"] if p["name"] == "hover"]
        assert hover["select"]["fields"] == ["source"]
        assert hover["views"] == ["hover0", "hover1"]  # one selection across both panels
        tooltip = chart["concat"][0]["layer"][-2]["encoding"]["tooltip"]
        assert [t["title"] for t in tooltip] == ["run", "step", "acc"]
        assert set(datasets(charts(app)[0])["hover0"]["source"]) == {
            f"resnet-a ({ids['resnet-a'][-6:]})",
            f"resnet-b ({ids['resnet-b'][-6:]})",
        }
        bold = chart["concat"][0]["layer"][-1]  # the pointed-at line, drawn bold over the others
        assert bold["transform"] == [{"filter": {"param": "hover", "empty": False}}]
        assert bold["data"] == {"name": "hover0"}
        zoom = chart["concat"][1]["layer"][0]["params"][0]
        assert zoom == {"name": "zoom1", "select": {"type": "interval"}, "bind": "scales"}

    def test_a_run_has_one_colour_in_every_panel(self, app, ids):
        show(app, "charts", sel_runs=[ids["resnet-a"], ids["resnet-b"], ids["vit-a"]])
        chart = spec(charts(app)[0])
        scales = [layer["encoding"]["color"]["scale"] for view in chart["concat"] for layer in view["layer"][:1]]
        assert scales[0] == scales[1]
        assert chart["resolve"]["scale"]["color"] == "shared"
        assert len(set(scales[0]["range"])) == 3

    def test_groups_draw_a_mean_and_a_band(self, app, ids):
        app.session_state["sel_groups"] = ["resnet / train"]
        app.session_state["sel_group_by"] = ["group", "job_type"]
        show(app, "charts", c_metrics=["acc"], f_project="vision")
        (frame,) = [f for name, f in datasets(charts(app)[0]).items() if name.startswith("bands")]
        assert set(frame["source"]) == {"resnet / train (2 runs)"}
        assert {"lo", "hi", "y", "n"} <= set(frame.columns)
        first = frame[frame["x"] == 5].iloc[0]
        assert first["hi"] - first["y"] == pytest.approx(first["y"] - first["lo"])  # std, the default
        app.radio(key="c_band").set_value("min-max").run()
        (frame,) = [f for name, f in datasets(charts(app)[0]).items() if name.startswith("bands")]
        first = frame[frame["x"] == 5].iloc[0]
        assert first["lo"] <= first["y"] <= first["hi"]
        assert first["lo"] < first["hi"]

    def test_grouping_the_charts_by_a_config_key(self, app, ids):
        runs = [ids[n] for n in ("resnet-a", "resnet-b", "resnet-eval", "vit-a", "sweep-1")]
        show(app, "charts", sel_runs=runs, c_metrics=["loss"])
        app.multiselect(key="c_group_by").select("config.lr").run()
        (chart,) = charts(app)
        bands = datasets(chart)["bands0"]
        assert set(bands["source"]) == {"0.001 (1 runs)", "0.01 (3 runs)", "0.0003 (1 runs)"}
        assert "lines0" not in datasets(chart)  # grouped: a mean per value, not a line per run
        assert bands[bands["source"] == "0.01 (3 runs)"]["n"].max() == 3

    def test_nested_grouping_of_two_columns(self, app, ids):
        runs = [ids[n] for n in ("resnet-a", "resnet-b", "resnet-eval", "vit-a")]
        show(app, "charts", sel_runs=runs, c_metrics=["acc"], c_group_by=["group", "job_type"])
        sources = set(datasets(charts(app)[0])["bands0"]["source"])
        assert sources == {"resnet / train (2 runs)", "resnet / eval (1 runs)", "vit / train (1 runs)"}

    def test_the_y_range_is_robust_unless_outliers_are_asked_for(self, app, ids, fixture_ledger):
        show(app, "charts", sel_runs=[ids["resnet-a"], ids["resnet-b"]], c_metrics=["loss"])
        y = spec(charts(app)[0])["concat"][0]["layer"][0]["encoding"]["y"]["scale"]
        assert "domain" not in y  # nothing to leave out: the full range
        assert any("The y range ignores outliers" in c.value for c in app.caption)
        app.toggle(key="c_outliers").set_value(True).run()
        assert not any("The y range ignores outliers" in c.value for c in app.caption)

    def test_on_wall_time_a_group_is_drawn_run_by_run(self, app, ids):
        show(app, "charts", sel_runs=[ids["resnet-a"], ids["resnet-b"]], c_metrics=["acc"], c_x="wall time")
        app.multiselect(key="c_group_by").select("group").run()
        (chart,) = charts(app)
        frame = drawn(chart)
        assert "bands0" not in datasets(chart)  # no band
        assert frame["y"].notna().sum() == 22 + 20  # every point of both runs
        assert frame["y"].isna().sum() == 2  # each run its own path
        assert spec(chart)["concat"][0]["layer"][0]["encoding"]["x"]["type"] == "temporal"
        assert any("drawn run by run" in c.value for c in app.caption)

    def test_smoothing_log_scale_and_x_axes(self, app, ids):
        show(app, "charts", sel_runs=[ids["resnet-b"]], c_metrics=["loss"])
        raw = datasets(charts(app)[0])["lines0"]["y"].dropna().to_numpy()
        app.slider(key="c_smoothing").set_value(0.9).run()
        smooth = datasets(charts(app)[0])["lines0"]["y"].dropna().to_numpy()
        assert smooth[0] == pytest.approx(raw[0])
        assert smooth[-1] > raw[-1]
        app.toggle(key="c_log").set_value(True).run()
        assert spec(charts(app)[0])["concat"][0]["layer"][0]["encoding"]["y"]["scale"]["type"] == "log"
        app.radio(key="c_x").set_value("relative time").run()
        chart = charts(app)[0]
        assert spec(chart)["concat"][0]["layer"][0]["encoding"]["x"]["title"] == "relative time (seconds)"
        assert datasets(chart)["lines0"]["x"].iloc[0] == 0

    def test_panels_per_row(self, app, ids):
        show(app, "charts", sel_runs=[ids["resnet-b"]])
        assert spec(charts(app)[0])["columns"] == 2
        app.selectbox(key="c_grid").select(1).run()
        one = spec(charts(app)[0])
        assert one["columns"] == 1
        app.selectbox(key="c_grid").select(3).run()
        assert spec(charts(app)[0])["concat"][0]["width"] < one["concat"][0]["width"]

    def test_highlight_by_name(self, app, ids):
        show(app, "charts", sel_runs=[ids["resnet-a"], ids["resnet-b"]])
        app.text_input(key="c_highlight").input("resnet-b").run()
        chart = charts(app)[0]
        marked = datasets(chart)["marked0"]  # the matching run drawn bold over the others, faded
        keys = spec(chart)["usermeta"]["colour_keys"]
        assert {keys[k] for k in marked["series"]} == {f"resnet-b ({ids['resnet-b'][-6:]})"}
        (lines,) = [layer for layer in spec(chart)["concat"][0]["layer"] if layer.get("name") == "lines0"]
        assert lines["mark"]["opacity"] < 0.5

    def test_running_runs_pick_up_new_records_at_the_next_refresh(self, app, ids, fixture_ledger, monkeypatch):
        from viewer import data

        monkeypatch.setattr(data, "tick", lambda _interval: 1)
        show(app, "charts", sel_runs=[ids["vit-eval"]], c_metrics=["loss"])
        before = datasets(charts(app)[0])["lines0"]
        metrics = fixture_ledger[0] / "vision" / "runs" / ids["vit-eval"] / "metrics.jsonl"
        with metrics.open("a") as f:  # what the run's writer appends at its next flush
            f.write('{"_step":99,"_time":1800000000.0,"loss":0.123}\n')
        app.run()
        assert datasets(charts(app)[0])["lines0"].equals(before)  # same refresh period: from the cache
        monkeypatch.setattr(data, "tick", lambda _interval: 2)
        app.run()
        after = datasets(charts(app)[0])["lines0"].dropna()
        assert len(after) == len(before.dropna()) + 1
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

    def test_small_multiples_of_the_runs_own_metrics(self, app, ids):
        show(app, "run", sel_runs=[ids["resnet-a"]])
        metrics = charts(app)[0]
        assert panel_titles(metrics) == ["acc", "loss"]
        assert datasets(metrics)["lines1"]["y"].notna().sum() == 21  # 22 records, one NaN: a gap
        app.text_input(key="run_metric_search").input("LOSS").run()
        assert panel_titles(charts(app)[0]) == ["loss"]

    def test_system_charts_and_saved_files(self, app, ids):
        show(app, "run", sel_runs=[ids["vit-a"]])
        _metrics, system = charts(app)
        assert panel_titles(system) == ["CPU (%)", "Memory (%)"]
        assert spec(system)["concat"][0]["height"] >= 200  # readable, not 20 px
        cpu = datasets(system)["lines0"]
        assert list(cpu["y"].dropna()) == [0.0, 10.0, 20.0, 30.0, 40.0]
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

    def test_images_by_step_tables_and_histograms(self, app, ids):
        show(app, "run", sel_runs=[ids["vit-eval"]])
        images = app.get("image")
        assert len(images) == 2  # the grid of the last step
        slider = app.select_slider(key="img-step-samples")
        assert slider.value == 22
        assert list(slider.options) == ["20", "21", "22"]
        slider.set_value(20).run()
        assert not app.exception
        table = next(d.value for d in app.dataframe if list(d.value.columns) == ["id", "label", "score"])
        assert table["id"].tolist() == [0, 1, 2, 3]
        app.text_input(key="tbl-filter-preds").input("c1").run()
        table = next(d.value for d in app.dataframe if list(d.value.columns) == ["id", "label", "score"])
        assert table["label"].tolist() == ["c1", "c1"]
        heat = next(c for c in charts(app) if "weights" in c.proto.spec)
        cells = chart_data(heat)[0]
        assert sorted(set(cells["step"])) == [20, 21, 22]
        assert cells.groupby("step")["count"].sum().tolist() == [100, 100, 100]

    def test_linked_runs_both_ways(self, app, ids):
        show(app, "run", sel_runs=[ids["resnet-a"]])
        linked = next(d.value for d in app.dataframe if "relation" in d.value.columns)
        assert sorted(zip(linked["relation"], linked["run"], strict=True)) == [
            ("attached", ids["resnet-eval"]), ("evaluates", ids["resnet-eval"]), ("parent", ids["resnet-eval"]),
        ]  # fmt: skip
        assert set(linked["direction"]) == {"it -> this run"}
        summary = app.dataframe[2].value
        assert dict(zip(summary["metric"], summary["value"], strict=True))["eval/acc"] == "0.88"

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
        assert app.session_state["sw_sweep"] == "sw1"
        statuses, trials = app.dataframe[0].value, app.dataframe[1].value
        assert dict(zip(statuses["status"], statuses["runs"], strict=True)) == {"🟢 finished": 2, "🔴 failed": 1}
        assert list(trials["trial"]) == [0, 1, 2]
        assert list(trials["lr"]) == [0.1, 0.01, 0.001]
        assert list(trials["acc"])[:2] == [0.7, 0.9]
        assert app.metric[0].value == "0.9"
        parallel_chart, best, lr_plot = charts(app)  # batch is constant: no axis, no plot
        axis = spec(parallel_chart)["layer"][1]["encoding"]["x"]["axis"]
        assert axis["labelExpr"] == '["lr", "acc"][datum.value]'
        assert list(chart_data(best)[0]["best"])[:3] == [0.7, 0.9, 0.9]
        assert "lr vs acc" in lr_plot.proto.spec
        assert any("1 constant parameters hidden: batch" in c.value for c in app.caption)
        assert any("needs at least 3 runs" in c.value for c in app.caption)  # two scored trials: no importance


@pytest.fixture(scope="module")
def sweep_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("sweep") / "results"
    viewer_ledger.build_in_place(root, runs=False, sweep=True)
    return root


@pytest.fixture
def sweep_app(sweep_root, monkeypatch):
    import streamlit as st

    monkeypatch.setenv("LEDGER_VIEW_ROOT", str(sweep_root))
    st.cache_data.clear()
    st.cache_resource.clear()
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    return show(at, "sweeps")


class TestSweepWorkspace:
    def test_log_axes_constant_parameters_hidden_and_importance(self, sweep_app):
        chart = spec(charts(sweep_app)[0])
        names = json.loads(chart["layer"][1]["encoding"]["x"]["axis"]["labelExpr"].removesuffix("[datum.value]"))
        assert names == ["lr", "optimizer", "width", "val_loss"]  # epochs is 8 in every trial
        ticks = datasets(charts(sweep_app)[0])["ticks"]
        lr_ticks = ticks[ticks["axis"] == 0]["label"].tolist()
        assert {"0.001", "0.01"} <= set(lr_ticks)  # decades: a log axis
        importance = next(d.value for d in sweep_app.dataframe if "importance" in d.value.columns)
        assert importance["parameter"].iloc[0] == "config.lr"
        assert importance["importance"].sum() == pytest.approx(1.0)
        assert "config.epochs" not in set(importance["parameter"])

    def test_a_brush_on_an_axis_filters_the_trials(self, sweep_app):
        from viewer import parallel

        chart = charts(sweep_app)[0]
        lines = datasets(chart)["lines"]
        lr = lines[lines["axis"] == 0]
        low = lr[lr["position"] < 0.5]
        sweep_app.session_state["sw_brushes"] = {
            "sw2": parallel.constraints(
                [parallel.axis_of("lr", [1e-4, 1e-1], log=True)], {"axis": [-0.2, 0.2], "position": [0.0, 0.5]}
            )
        }
        sweep_app.run()
        trials = next(
            d.value for d in sweep_app.dataframe if "val_loss" in d.value.columns and "trial" in d.value.columns
        )
        assert len(trials) == len(low)
        assert (trials["lr"] < 10**-2.5).all()
        assert any(m.value.startswith("**Brushed:** lr in ") for m in sweep_app.markdown)
        inside = datasets(charts(sweep_app)[0])["lines"]
        assert inside[inside["axis"] == 0]["inside"].sum() == len(low)
        next(b for b in sweep_app.button if b.label == "Clear brushes").click().run()
        trials = next(
            d.value for d in sweep_app.dataframe if "val_loss" in d.value.columns and "trial" in d.value.columns
        )
        assert len(trials) == 24


class TestCompute:
    def test_hours_gpu_hours_and_cost_by_group_month_by_month(self, app):
        show(app, "compute")
        table = app.dataframe[0].value.set_index("group")
        assert table.loc["resnet", "runs"] == 3
        assert table.loc["resnet", "hours"] == pytest.approx((3600 + 7200 + 600) / 3600, abs=0.01)
        assert table.loc["resnet", "gpu_hours"] == pytest.approx(1 * 2 + 2 * 1, abs=0.01)  # hours x GPUs
        assert list(table.index[:2]) == ["resnet", "vit"]  # largest first
        app.number_input(key="cu_gpu_price").set_value(2.5).run()
        app.number_input(key="cu_hour_price").set_value(1.0).run()
        table = app.dataframe[0].value.set_index("group")
        # priced as compute_hours prices: 4 GPU hours at 2.5, and the 10 minutes of the run without GPUs at 1.0
        assert table.loc["resnet", "cost"] == pytest.approx(10.0 + 600 / 3600, abs=0.01)
        monthly = chart_data(charts(app)[0])[0]
        assert set(monthly["key"]) >= {"resnet", "vit"}
        assert app.query_params["price_gpu_hour"] in ("2.5", ["2.5"])

    def test_by_project_user_and_gpu_model(self, app, fixture_ledger):
        show(app, "compute")
        app.radio(key="cu_by").set_value("project").run()
        table = app.dataframe[0].value.set_index("project")
        assert table.loc["vision", "runs"] == 10
        assert table.loc["nlp", "runs"] == 1
        app.radio(key="cu_by").set_value("user").run()
        assert "grace" in set(app.dataframe[0].value["user"])
        app.radio(key="cu_by").set_value("gpu").run()
        # the fixture's hosts record GPU counts but no GPU names
        assert set(app.dataframe[0].value["gpu"]) == {"(no GPU)", "unknown GPU"}

    def test_months_in_date_order_and_the_runs_page_filters(self, app):
        app.selectbox(key="f_project").select("nlp").run()
        show(app, "compute")
        table = app.dataframe[0].value
        assert list(table["runs"]) == [1]
        months = [c for c in table.columns if re.fullmatch(r"\d{4}-\d{2}", c)]
        assert len(months) == 1
        app.toggle(key="cu_filtered").set_value(False).run()
        assert app.dataframe[0].value["runs"].sum() == 11

    def test_storage_by_kind_equals_the_bytes_on_disk(self, app, fixture_ledger):
        root, _ = fixture_ledger
        show(app, "compute", cu_filtered=False)
        app.radio(key="du_by").set_value("kind").run()
        usage = app.dataframe[1].value.set_index("kind")
        on_disk = sum(p.stat().st_size for p in root.glob("*/runs/*/**/*") if p.is_file())
        assert usage["bytes"].sum() == on_disk
        media = sum(p.stat().st_size for p in root.glob("*/runs/*/media/**/*") if p.is_file())
        assert usage.loc["media", "bytes"] == media
        assert usage.loc["media", "files"] == 9  # 6 images and 3 tables


class TestStateInTheUrl:
    def test_what_the_view_shows_is_in_the_query_string(self, app, ids):
        app.selectbox(key="f_project").select("vision").run()
        app.text_input(key="f_where").input("config.lr < 0.005").run()
        app.multiselect(key="f_group_by").select("config.lr").run()
        app.selectbox(key="f_sort").select("summary.acc").run()
        app.session_state["sel_runs"] = [ids["vit-a"]]
        show(app, "charts")
        app.selectbox(key="c_grid").select(3).run()
        app.toggle(key="c_log").set_value(True).run()
        query = {k: app.query_params[k] for k in app.query_params}
        assert query["project"] in ("vision", ["vision"])
        assert query["where"] in ("config.lr < 0.005", ["config.lr < 0.005"])
        assert query["group_by"] in ("config.lr", ["config.lr"])
        assert query["sort"] in ("summary.acc", ["summary.acc"])
        assert query["sel"] in (ids["vit-a"], [ids["vit-a"]])
        assert query["per_row"] in ("3", ["3"])
        assert query["log_y"] in ("1", ["1"])
        assert "desc" not in query  # at its default: left out

    def test_a_shared_link_restores_the_view(self, fixture_ledger, monkeypatch, ids):
        root, _ = fixture_ledger
        link = {"project": "vision", "where": "job_type == 'train'", "sort": "summary.acc", "desc": "0",
                "columns": ["config.lr", "summary.acc"], "group_by": ["group"], "sel": [ids["resnet-a"], ids["vit-a"]]}  # fmt: skip
        at = session(root, monkeypatch, link)
        table = at.dataframe[-1].value
        assert list(table.columns) == ["name", "summary.acc", "config.lr"]
        assert set(table["name"]) == {"resnet-a", "resnet-b", "vit-a", "vit-crashed", "sweep-0", "sweep-1", "sweep-2",
                                      viewer_ledger.MARKUP_NAME}  # fmt: skip
        assert table["name"].iloc[0] in {"vit-a", "vit-crashed"}  # ascending acc
        assert list(at.dataframe[0].value["group"]) == ["resnet", "sw1", "vit", "(none)"]
        assert at.session_state["sel_runs"] == [ids["resnet-a"], ids["vit-a"]]
        assert "2 selected" in count_line(at)

    def test_a_link_to_the_charts_page(self, fixture_ledger, monkeypatch, ids):
        root, _ = fixture_ledger
        at = session(root, monkeypatch, {"sel": [ids["resnet-a"], ids["resnet-b"]], "chart": ["loss"], "per_row": "1"})
        show(at, "charts")
        assert panel_titles(charts(at)[0]) == ["loss"]
        assert spec(charts(at)[0])["columns"] == 1

    def test_back_and_forward_bring_the_earlier_view_back(self, app):
        app.text_input(key="f_where").input("job_type == 'eval'").run()
        earlier = dict(app.query_params)
        app.text_input(key="f_where").input("job_type == 'train'").run()
        assert count_line(app).startswith("**9 of 11 runs**")
        for key in list(app.query_params):  # what the browser sends after "back": the earlier URL
            del app.query_params[key]
        for key, values in earlier.items():
            app.query_params[key] = values
        app.run()
        assert app.session_state["f_where"] == "job_type == 'eval'"
        assert count_line(app).startswith("**2 of 11 runs**")


class TestKeyMetrics:
    def test_a_declared_objective_is_a_default_column(self, tmp_path, monkeypatch):
        monkeypatch.chdir(tmp_path)
        root = tmp_path / "results"
        for acc in (0.5, 0.7):
            with quiet_init("p", root=root, config={"lr": acc}) as run:
                run.define_metric("val/acc", summary="max")
                run.define_metric("train/*", summary="min")  # a pattern names no one column
                run.log({"val/acc": acc, "aux": acc, "train/loss": 2.0})
        at = session(root, monkeypatch)
        columns = list(at.dataframe[-1].value.columns)
        assert "summary.val/acc" in columns
        assert columns.index("summary.val/acc") < columns.index("config.lr")  # key metrics come first


class TestLiveLedger:
    def test_a_new_run_appears_and_only_changed_rows_are_rebuilt(self, tmp_path, monkeypatch):
        from viewer import data

        monkeypatch.chdir(tmp_path)
        root = tmp_path / "results"
        with quiet_init("p", root=root, name="first", config={"lr": 0.1}) as first:
            first.log({"loss": 1.0})
        with quiet_init("p", root=root, name="second", config={"lr": 0.2}) as second:
            second.log({"loss": 2.0})
        at = session(root, monkeypatch)
        assert count_line(at).startswith("**2 of 2 runs**")
        ws = data.workspace(data.Source(str(root)))
        before = ws.snapshot()
        live = quiet_init("p", root=root, name="live", config={"lr": 0.3})
        live.log({"loss": 3.0})
        assert ws.refresh()  # what the workspace's thread does every few seconds
        after = ws.snapshot()
        assert after.version == before.version + 1
        assert after.ledger.run(first.id) is before.ledger.run(first.id)  # unchanged runs: not read again
        assert after.table.loc[first.id].equals(before.table.loc[first.id])
        at.run()
        assert count_line(at).startswith("**3 of 3 runs**")
        assert "🔵 running" in set(at.dataframe[-1].value["status"])
        live.finish()
        assert ws.refresh()
        assert not ws.refresh()  # nothing changed since: the same snapshot
        at.run()
        assert "🔵 running" not in set(at.dataframe[-1].value["status"])


def test_a_cold_start_shows_its_progress(tmp_path, monkeypatch):
    from viewer import data

    monkeypatch.chdir(tmp_path)
    root = tmp_path / "results"
    for _ in range(3):
        with quiet_init("p", root=root):
            pass
    ws = data.Workspace(data.Source(str(root)))
    seen: list[tuple[int, int]] = []
    ws.start()
    snap = data.wait_for(ws, lambda done, total: seen.append((done, total)), poll=0.001)
    assert snap is not None
    assert len(snap.table) == 3
    assert ws.progress == (3, 3)
    assert all(total in (0, 3) for _, total in seen)


def test_a_ledger_that_cannot_be_opened_is_said_so_and_tried_again(tmp_path, monkeypatch):
    at = session(tmp_path / "results", monkeypatch)
    assert at.error[0].value == "Cannot open the ledger"
    assert "LedgerNotFoundError" in at.code[0].value
    monkeypatch.chdir(tmp_path)
    with quiet_init("p", root=tmp_path / "results"):  # the ledger is made meanwhile
        pass
    next(b for b in at.button if b.label == "Try again").click().run()
    assert not at.error
    assert count_line(at).startswith("**1 of 1 runs**")


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
