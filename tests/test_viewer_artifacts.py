"""Artifacts in the viewer: the Run page's inputs and outputs (with links to the runs that
made and used them) and its lineage graph, and the storage panel's used / quota; under
AppTest, and once in a real browser (following a link of the graph to the consumer's page)."""

from __future__ import annotations

import re
import urllib.parse

import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest

import ledger
from ledger._query._artifacts import Lineage, Node
from ledger._units import human_bytes
from tests import browser
from tests.helpers import REPO, quiet_init
from viewer import lineage

APP = str(REPO / "viewer" / "app.py")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """prepare logs the dataset digits; train uses it and logs the model net (best); eval and
    a second eval use net:best; orphan used and logged a version deleted since; a plain run
    has no artifacts."""
    base = tmp_path_factory.mktemp("viewer-artifacts")
    root = base / "results"
    mp = pytest.MonkeyPatch()
    mp.setenv("LEDGER_ARTIFACT_CACHE", str(base / "cache"))
    data = base / "digits"
    data.mkdir()
    (data / "train.csv").write_text("x,y\n1,2\n")
    (data / "test.csv").write_text("x,y\n3,4\n")
    model = base / "net.pt"
    model.write_bytes(b"weights" * 1000)
    ids = {}
    try:
        with quiet_init("lab", root=str(root), name="prepare", job_type="prepare") as run:
            run.log_artifact(data, "digits", type="dataset")
            ids["prepare"] = run.id
        with quiet_init("lab", root=str(root), name='train "quoted"', job_type="train") as run:
            run.use_artifact("digits:latest")
            run.log_artifact(model, "net", type="model", aliases=["latest", "best"], metadata={"epoch": 3})
            ids["train"] = run.id
        for name in ("eval", "eval-2"):
            with quiet_init("lab", root=str(root), name=name, job_type="eval") as run:
                run.use_artifact("net:best")
                ids[name] = run.id
        with quiet_init("lab", root=str(root), name="orphan") as run:
            run.log_artifact(model, "scratch")
            run.use_artifact("scratch:v1")
            ids["orphan"] = run.id
        (root / "lab" / "artifacts" / "scratch" / "v1.yaml").unlink()  # deleted by hand since
        with quiet_init("lab", root=str(root), name="plain") as run:
            run.log({"loss": 1.0})
            ids["plain"] = run.id
    finally:
        mp.undo()
    return root, ids


def session(root, monkeypatch, page: str, **state) -> AppTest:
    import streamlit as st

    monkeypatch.setenv("LEDGER_VIEW_ROOT", str(root))
    st.cache_data.clear()
    st.cache_resource.clear()
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    for key, value in state.items():
        at.session_state[key] = value
    at.switch_page(f"views/{page}.py").run()
    assert not at.exception, at.exception
    return at


def table_with(at: AppTest, column: str):
    return next(d.value for d in at.dataframe if column in d.value.columns)


def graph_of(at: AppTest) -> str:
    return str(at.get("graphviz_chart")[0].proto.spec)


class TestRunPage:
    def test_inputs_and_outputs_link_to_the_runs_that_made_and_used_them(self, lab, monkeypatch):
        root, ids = lab
        at = session(root, monkeypatch, "run", run_id=ids["train"])
        assert "Artifacts" in [h.value for h in at.subheader]
        used = table_with(at, "made by")
        assert used.to_dict("records") == [
            {"artifact": "digits:v1", "type": "dataset", "aliases": "latest", "files": 2, "size": "16 B",
             "made by": f"prepare ({ids['prepare']})", "open": f"?run={ids['prepare']}"},
        ]  # fmt: skip
        made = table_with(at, "used by")
        assert list(made["artifact"]) == ["net:v1", "net:v1"]
        assert set(made["aliases"]) == {"best, latest"}
        assert sorted(made["open"]) == sorted([f"?run={ids['eval']}", f"?run={ids['eval-2']}"])

    def test_the_lineage_graph_names_every_run_and_version_around_the_run(self, lab, monkeypatch):
        root, ids = lab
        at = session(root, monkeypatch, "run", run_id=ids["train"])
        dot = graph_of(at)
        for text in ("digits:v1", "net:v1", "prepare", 'train \\"quoted\\"', "eval-2"):
            assert text in dot
        assert f'URL="?run={ids["eval"]}"' in dot
        assert dot.count(" -> ") == 5  # prepare -> digits -> train -> net -> eval, and net -> eval-2

    def test_a_consumer_sees_the_version_it_used_and_its_maker(self, lab, monkeypatch):
        root, ids = lab
        at = session(root, monkeypatch, "run", run_id=ids["eval"])
        used = table_with(at, "made by")
        assert list(used["artifact"]) == ["net:v1"]
        assert list(used["open"]) == [f"?run={ids['train']}"]
        assert not any("used by" in d.value.columns for d in at.dataframe)

    def test_a_version_missing_from_the_ledger_is_said_so_and_drawn_dashed(self, lab, monkeypatch):
        root, ids = lab
        at = session(root, monkeypatch, "run", run_id=ids["orphan"])
        used = table_with(at, "made by")
        assert used.to_dict("records")[0]["aliases"] == "(missing from the ledger)"
        assert used.to_dict("records")[0]["made by"] == f"orphan ({ids['orphan']})"  # its logged_artifacts say so
        assert table_with(at, "used by")["artifact"].tolist() == ["scratch:v1"]
        dot = graph_of(at)
        assert 'label="scratch:v1\\n(missing)"' in dot
        assert 'style="dashed"' in dot

    def test_a_run_without_artifacts_shows_no_artifacts_section(self, lab, monkeypatch):
        root, ids = lab
        at = session(root, monkeypatch, "run", run_id=ids["plain"])
        assert "Artifacts" not in [h.value for h in at.subheader]
        assert not at.get("graphviz_chart")


class TestStoragePanel:
    def test_used_against_the_quota_and_what_deduplication_saved(self, lab, monkeypatch):
        root, _ids = lab
        monkeypatch.setenv("LEDGER_QUOTA_GB", "0.000001")  # about 1 KB: the root is over it
        at = session(root, monkeypatch, "compute", cu_filtered=False)
        [bar] = at.get("progress")
        used = ledger.open(str(root)).storage_summary()["used_bytes"]
        assert bar.proto.value == 100
        assert bar.proto.text.startswith(f"The root: {human_bytes(used)} used of 1.0 KB")
        assert "over the quota" in bar.proto.text
        assert "more than its quota" in at.warning[0].value
        said = next(c.value for c in at.caption if c.value.startswith("Artifacts:"))
        assert said.startswith("Artifacts: 2 versions of 6.9 KB stored as 3 blobs of 6.9 KB; deduplication saved")

    def test_without_a_quota_it_says_how_to_set_one(self, lab, monkeypatch):
        monkeypatch.delenv("LEDGER_QUOTA_GB", raising=False)
        at = session(lab[0], monkeypatch, "compute", cu_filtered=False)
        assert not at.get("progress")
        assert any("no quota: set $LEDGER_QUOTA_GB" in c.value for c in at.caption)


class TestLineageDot:
    def test_hostile_names_stay_inside_their_labels(self):
        center = Node("run:p/r1", "run", 'x"] ; evil [label="y', "p", "r1")
        version = Node("artifact:p/m:v1", "artifact", "m:v1", "p", "m:v1", "model")
        dot = lineage.lineage_dot(Lineage(center.key, [center, version], [(center.key, version.key)]))
        assert 'n0 [label="x\\"] ; evil [label=\\"y", shape=box' in dot  # every quote in it escaped
        statements = [line for line in dot.splitlines() if re.match(r"  n\d", line)]
        assert len(statements) == 3  # two nodes and their edge, no more

    def test_many_consumers_are_counted_past_the_limit(self):
        center = Node("run:p/maker", "run", "maker", "p", "maker")
        version = Node("artifact:p/d:v1", "artifact", "d:v1", "p", "d:v1")
        users = [Node(f"run:p/u{i}", "run", f"u{i}", "p", f"u{i}") for i in range(20)]
        edges = [(center.key, version.key)] + [(version.key, u.key) for u in users]
        dot = lineage.lineage_dot(Lineage(center.key, [center, version, *users], edges), max_around=5)
        assert dot.count('URL="?run=u') == 5
        assert "15 more runs" in dot


@pytest.mark.slow
@pytest.mark.skipif(not browser.have_browser(), reason="needs /usr/bin/chromium and playwright")
def test_in_a_browser_the_graph_links_to_the_consumers_page(lab, tmp_path):
    root, ids = lab
    with browser.served(root) as url, browser.chromium(tmp_path / "profile") as page:
        page.goto(f"{url}/run?" + urllib.parse.urlencode({"run": ids["train"]}))
        browser.settled(page)
        graph = page.locator('[data-testid="stGraphVizChart"] svg')
        graph.first.wait_for()
        shown = graph.first.text_content() or ""
        assert "digits:v1" in shown
        assert "eval-2" in shown
        link = page.locator(f'[data-testid="stGraphVizChart"] a[*|href="?run={ids["eval-2"]}"]')
        link.first.click()
        page.wait_for_url(f"**run={ids['eval-2']}**")
        browser.settled(page)
        assert page.locator("h2").filter(has_text="eval-2").count() == 1
