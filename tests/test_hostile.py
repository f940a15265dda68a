"""A ledger from someone else: a corpus of hostile ledgers, one per attack, each built in
tmp_path around two honest runs made with the real API, and each run through `ledger ls`,
`show`, `history`, `export`, `publish --public`, `verify` and the viewer's pages (AppTest),
asserting the exact outcome: nothing outside the root read or written, nothing executed,
bounded work, the honest runs still listed, and a clear report."""

from __future__ import annotations

import json
import os
import re
import threading
import tracemalloc
from pathlib import Path
from typing import ClassVar

import pytest

import ledger
from ledger import _format, _reader
from ledger._query import _index
from ledger._storage import open_storage
from tests.helpers import REPO, git, new_repo, quiet_init, run_ledger

SECRET = "planted-secret-7c1e9a"  # what lies outside the root: it must reach nothing we write


def honest(root: Path) -> dict[str, str]:
    """Two honest runs (name -> id)."""
    ids = {}
    for name, lr in (("alpha", 0.1), ("beta", 0.01)):
        with quiet_init("p", root=str(root), name=name, config={"lr": lr, "model": "svm"}) as run:
            for step in range(5):
                run.log({"loss": 1.0 / (step + 1), "acc": step / 10})
            ids[name] = run.id
    return ids


def run_folder(root: Path, run_id: str, project: str = "p") -> Path:
    return root / project / "runs" / run_id


def plant_outside(tmp_path: Path) -> Path:
    """Files outside the root that a symlink could point at."""
    outside = tmp_path / "outside"
    outside.mkdir(exist_ok=True)
    (outside / ".env").write_text(f"AWS_SECRET_ACCESS_KEY={SECRET}\n")
    (outside / "big").mkdir(exist_ok=True)
    for i in range(50):
        (outside / "big" / f"f{i}.txt").write_text(SECRET)
    return outside


def a_run_yaml(run_id: str, project: str = "p", **extra) -> str:
    doc = {"format": 1, "id": run_id, "name": extra.pop("name", run_id), "project": project, "status": "finished"}
    doc.update(extra)
    return _format.yaml_dump(doc).decode()


def every_command(ledger_cli, root: Path, out: Path, good: dict[str, str]) -> dict[str, tuple[int, str, str]]:
    """ls, show, history, export, publish --public and verify on the root; each one's result."""
    alpha = good["alpha"]
    return {
        "ls": ledger_cli("ls", "--root", str(root), "--columns", "id,name,config.lr"),
        "ls-csv": ledger_cli("ls", "--root", str(root), "--columns", "id,name,tags", "--format", "csv"),
        "show": ledger_cli("show", alpha, "--root", str(root)),
        "history": ledger_cli("history", alpha, "--root", str(root), "--tail", "3"),
        "export": ledger_cli(
            "export", "--root", str(root), "--group-by", "config.model", "--metric", "summary.loss", "--format", "csv"
        ),
        "publish": ledger_cli("publish", str(out), "--root", str(root), "--public"),
        "verify": ledger_cli("verify", "--root", str(root)),
    }


def assert_honest_runs_survive(results, good: dict[str, str], out: Path) -> None:
    """The honest runs are listed, shown, exported and published whatever else the root holds."""
    for command in ("ls", "show", "history", "export", "publish"):
        assert results[command][0] == 0, (command, results[command])
    for run_id in good.values():
        assert run_id in results["ls"][1]
    assert "loss" in results["history"][1]
    assert results["export"][1].splitlines()[1].startswith("svm,2,")
    published = ledger.open(str(out))
    assert sorted(r.id for r in published.runs()) == sorted(good.values())


def nothing_secret_in(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink():
            assert SECRET.encode() not in path.read_bytes(), path
        assert not path.is_symlink(), f"{path} was published as a link"


# ---- the viewer on a hostile ledger ------------------------------------------------------------------

APP = str(REPO / "viewer" / "app.py")


_UNESCAPED = re.compile(r"(?<!\\)(?:!\[|<img|<a |\]\(http)")  # markdown or HTML a renderer would act on


def viewer_pages(root: Path, monkeypatch, select: list[str]) -> dict[str, dict[str, object]]:
    """Every page of the viewer on ``root`` with ``select`` ticked: per page, the texts handed
    to Streamlit's markdown renderer and the values of its tables. No page fails, and no text
    holds markdown or HTML that was not escaped (an image would make the browser fetch it)."""
    pytest.importorskip("streamlit")
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("LEDGER_VIEW_ROOT", str(root))
    st.cache_data.clear()
    st.cache_resource.clear()
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    pages: dict[str, dict[str, object]] = {}
    for page in ("runs", "charts", "run", "compare", "sweeps", "compute"):
        at.session_state["sel_runs"] = list(select)
        at.switch_page(f"views/{page}.py").run()
        assert not at.exception, (page, at.exception)
        texts = markdown_texts(at)
        for text in texts:
            assert _UNESCAPED.search(text) is None, (page, text)
        pages[page] = {"texts": texts, "tables": [d.value for d in at.dataframe]}
    return pages


def markdown_texts(at) -> list[str]:
    """Every string the page hands Streamlit's markdown renderer (markdown, captions, headers,
    alerts, widget labels, image captions)."""
    out = []
    for kind in ("markdown", "caption", "header", "subheader", "title", "warning", "info", "error"):
        out += [str(e.value) for e in at.get(kind)]
    for widget in ("selectbox", "multiselect", "text_input", "select_slider"):
        out += [str(e.label) for e in at.get(widget)]
    for img in at.get("imgs"):
        out += [str(i.caption) for i in img.proto.imgs]
    return out


# ---- symlinks ------------------------------------------------------------------------------------------


class TestSymlinks:
    """A run folder committed with links to /proc/self/environ, a .env outside, /etc/passwd,
    a folder outside (a whole symlinked run), a loop, and a FIFO."""

    @pytest.fixture
    def root(self, tmp_path):
        root = tmp_path / "results"
        good = honest(root)
        outside = plant_outside(tmp_path)
        folder = run_folder(root, good["alpha"])
        (folder / "files").mkdir()
        os.symlink("/proc/self/environ", folder / "files" / "environ")
        os.symlink(outside / ".env", folder / "files" / "dotenv")
        os.symlink("/etc/passwd", folder / "files" / "passwd")
        os.symlink(outside / "big", folder / "files" / "big")  # a folder outside
        os.symlink(".", folder / "files" / "loop")  # a loop
        os.mkfifo(folder / "files" / "fifo")  # a read would block forever
        os.symlink(outside / ".env", folder / "code.patch")
        os.symlink(outside / ".env", folder / "metrics.1.jsonl")  # a segment
        # A whole run folder that is a link to a run outside the root.
        elsewhere = tmp_path / "elsewhere" / "p" / "runs" / "20261101-000000-aaaaaa"
        elsewhere.mkdir(parents=True)
        (elsewhere / "run.yaml").write_text(a_run_yaml("20261101-000000-aaaaaa", name=SECRET))
        os.symlink(elsewhere, root / "p" / "runs" / "20261101-000000-aaaaaa")
        # A run whose metrics.jsonl is a link (resume must not append through it).
        victim = tmp_path / "victim.txt"
        victim.write_text("untouched\n")
        beta = run_folder(root, good["beta"])
        (beta / "metrics.jsonl").unlink()
        os.symlink(victim, beta / "metrics.jsonl")
        return root, good, victim

    def test_every_command_reads_nothing_through_a_link(self, root, tmp_path, ledger_cli):
        root, good, _victim = root
        out = tmp_path / "site"
        results = every_command(ledger_cli, root, out, good)
        assert_honest_runs_survive(results, good, out)
        assert "20261101-000000-aaaaaa" not in results["ls"][1]  # the linked run folder is not a run
        nothing_secret_in(out)
        nothing_secret_in(root / ".cache")
        copied = sorted(p.name for p in (out / "p" / "runs" / good["alpha"]).rglob("*"))
        assert copied == ["metrics.jsonl", "requirements.txt", "run.yaml"]
        assert "not copied (a symlink or special file)" in results["publish"][2]
        code, text, _ = results["verify"]
        assert code == 1
        for name in ("files/environ", "files/dotenv", "files/passwd", "files/big", "files/loop", "files/fifo",
                     "code.patch", "metrics.1.jsonl", "20261101-000000-aaaaaa"):  # fmt: skip
            assert any(name in line and "symlink or special file" in line for line in text.splitlines()), name

    def test_readers_refuse_links_and_fifos(self, root):
        root, good, _victim = root
        run = ledger.open(str(root)).run(good["alpha"])
        for name in ("files/environ", "files/dotenv", "files/passwd", "files/fifo", "code.patch"):
            with pytest.raises(ledger.RefusedFileError, match=r"not followed|not a regular file"):
                run.read_file(name)
        assert run.files() == {}
        assert [r["_step"] for r in run.records()] == [0, 1, 2, 3, 4]  # the linked segment is left out
        storage = open_storage(str(root))
        assert storage.files_under(f"p/runs/{good['alpha']}/files") == {}

    def test_resume_never_appends_through_a_planted_link(self, root):
        root, good, victim = root
        with pytest.raises(ledger.RunStateError, match="symlink"):
            ledger.init(resume=good["beta"], root=str(root), capture_output=False, system_metrics=False)
        assert victim.read_text() == "untouched\n"

    def test_the_viewer_lists_the_honest_runs(self, root, monkeypatch):
        root, good, _victim = root
        pages = viewer_pages(root, monkeypatch, [good["alpha"]])
        table = pages["runs"]["tables"][0]
        assert sorted(table["name"]) == ["alpha", "beta"]

    def test_import_never_follows_a_link_out_of_its_source(self, tmp_path, ledger_cli):
        outside = plant_outside(tmp_path)
        source = tmp_path / "dvclive"
        (source / "plots" / "metrics").mkdir(parents=True)
        (source / "params.yaml").write_text("lr: 0.1\n")
        (source / "metrics.json").write_text('{"acc": 0.5}')
        (source / "plots" / "metrics" / "acc.tsv").write_text("step\tacc\n0\t0.5\n")
        os.symlink(outside / "big", source / "plots" / "metrics" / "big")  # a folder outside
        os.symlink(source, source / "plots" / "loop")  # a loop
        os.symlink(outside / ".env", source / "plots" / "metrics" / "secret.tsv")
        code, out, err = ledger_cli("import", "dvclive", str(source), "--root", "results")
        assert code == 0, err
        assert "1 imported" in out
        (run,) = ledger.open("results").runs()
        assert [r["acc"] for r in run.records()] == [0.5]
        assert set(run.series_keys()) == {"acc"}
        nothing_secret_in(tmp_path / "results")


# ---- manifests that exhaust a machine ------------------------------------------------------------------

ALIAS_BOMB = "format: 1\nid: {id}\nproject: p\nconfig:\n" + "".join(
    f"  l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]\n" if i else "  l0: &l0 [lol, lol, lol, lol, lol]\n"
    for i in range(9)
)


class TestBoundedManifests:
    """Aliases (a billion laughs in 815 bytes, a self-reference), 300 levels of nesting, a
    huge manifest, a manifest that names another folder: each is refused, reported and
    skipped; the others are listed; the cache does not grow."""

    ATTACKS: ClassVar[dict[str, str]] = {
        "alias-bomb": ALIAS_BOMB,
        "self-alias": "format: 1\nid: {id}\nproject: p\nconfig: &a\n  me: *a\n",
        "deep": "format: 1\nid: {id}\nproject: p\nconfig:\n"
        + "".join("  " * (i + 1) + f"k{i}:\n" for i in range(300))
        + "  " * 301
        + "1\n",
        "not-its-folder": "format: 1\nid: 20261101-000000-bbbbbb\nproject: p\n",
        "big-int": "format: 1\nid: {id}\nproject: p\nconfig:\n  n: " + "9" * 5000 + "\n",
    }

    @pytest.fixture(params=sorted(ATTACKS))
    def attack(self, request, tmp_path):
        root = tmp_path / "results"
        good = honest(root)
        bad_id = "20261102-000000-cccccc"
        folder = run_folder(root, bad_id)
        folder.mkdir(parents=True)
        (folder / "run.yaml").write_text(self.ATTACKS[request.param].replace("{id}", bad_id))
        return request.param, root, good, bad_id

    def test_refused_reported_and_skipped_everywhere(self, attack, tmp_path, ledger_cli, monkeypatch):
        name, root, good, bad_id = attack
        if name == "alias-bomb":
            assert len((run_folder(root, bad_id) / "run.yaml").read_bytes()) < 1000
        out = tmp_path / "site"
        results = every_command(ledger_cli, root, out, good)
        assert_honest_runs_survive(results, good, out)
        assert bad_id not in results["ls"][1]
        lg = ledger.open(str(root))
        (skipped,) = lg.skipped
        expected = {
            "alias-bomb": "anchors and aliases",
            "self-alias": "anchors and aliases",
            "deep": "nested deeper than 100 levels",
            "not-its-folder": "do not match its folder",
            "big-int": "cannot turn into data",
        }[name]
        assert expected in skipped
        cached = sum(p.stat().st_size for p in (root / ".cache" / "index").iterdir())
        assert cached < 20_000  # the cache does not grow
        code, text, _ = results["verify"]
        assert code == 1
        assert bad_id in text
        if name != "not-its-folder":
            assert expected in text
        viewer_pages(root, monkeypatch, [good["alpha"]])

    def test_a_manifest_over_the_size_limit_is_not_even_read(self, tmp_path, monkeypatch):
        root = tmp_path / "results"
        good = honest(root)
        folder = run_folder(root, "20261102-000000-dddddd")
        folder.mkdir(parents=True)
        (folder / "run.yaml").write_text(a_run_yaml("20261102-000000-dddddd", notes="x" * 100_000))
        monkeypatch.setenv("LEDGER_MAX_YAML_BYTES", "50000")
        lg = ledger.open(str(root))
        assert sorted(r.id for r in lg.runs()) == sorted(good.values())
        assert "over the limit of 50000 bytes" in lg.skipped[0]

    def test_a_forged_index_cache_is_rebuilt_from_the_manifests(self, tmp_path, monkeypatch):
        root = tmp_path / "results"
        good = honest(root)
        ledger.open(str(root))  # writes the cache
        (cache,) = (root / ".cache" / "index").iterdir()
        header, *lines = [json.loads(line[9:]) for line in cache.read_text().splitlines()]
        assert header == {"kind": "ledger-index", "version": 2}
        entries = {item[1]: item for item in lines if item[0] == "e"}
        path = f"p/runs/{good['alpha']}/run.yaml"
        forged = dict(entries[path][3], id="../../../etc", tags=5, name=SECRET)
        entries[path][3] = forged
        other = f"p/runs/{good['beta']}/run.yaml"
        deep: dict = {}
        node = deep
        for _ in range(300):
            node["k"] = {}
            node = node["k"]
        entries[other][3] = {"format": 1, "id": good["beta"], "project": "p", "config": deep}
        entries[other][7] = [SECRET] * len(entries[other][7])
        forged_lines = [_index._line(json.dumps(item).encode()) for item in [header, *lines]]  # with valid checksums
        cache.write_bytes(b"".join(forged_lines))
        lg = ledger.open(str(root))
        assert sorted(r.id for r in lg.runs()) == sorted(good.values())
        assert lg.run(good["alpha"]).name == "alpha"
        assert lg.run(good["beta"]).config == {"lr": 0.01, "model": "svm"}
        assert SECRET not in lg.runs().to_pandas().to_csv()  # the forged rows went with their entries
        monkeypatch.setattr(_index, "_COMPACT_MIN", 0)  # the next open compacts
        assert ledger.open(str(root)).run(good["alpha"]).name == "alpha"
        (cache,) = (root / ".cache" / "index").iterdir()
        assert cache.name == "base-000000000002.jsonl"
        assert SECRET not in cache.read_text()  # rewritten from the manifests


# ---- records ---------------------------------------------------------------------------------------------


def test_deep_and_oversized_metric_lines_are_skipped_and_reported(tmp_path, ledger_cli, monkeypatch):
    root = tmp_path / "results"
    good = honest(root)
    metrics = run_folder(root, good["alpha"]) / "metrics.jsonl"
    lines = metrics.read_bytes().splitlines(keepends=True)
    deep = b'{"_step":9,"x":' + b"[" * 3000 + b"12345678901234567890123" + b"]" * 3000 + b"}\n"
    wide = b'{"_step":10,"x":' + b"1" * 200 + b"}\n"
    metrics.write_bytes(b"".join(lines[:2]) + deep + wide + b"".join(lines[2:]))
    monkeypatch.setenv("LEDGER_MAX_RECORD_BYTES", "100")
    run = ledger.open(str(root)).run(good["alpha"])
    assert [r["_step"] for r in run.records()] == [0, 1, 2, 3, 4]
    code, text, _ = ledger_cli("verify", "--root", str(root))
    assert code == 1
    assert "skipped line 3 of 7: 6039 bytes, over the limit of 100" in text
    assert "skipped line 4 of 7: 217 bytes, over the limit of 100" in text
    monkeypatch.delenv("LEDGER_MAX_RECORD_BYTES")
    code, text, _ = ledger_cli("verify", "--root", str(root))
    assert "skipped line 3 of 7, not a JSON object (maximum recursion depth" in text
    assert "record 3: 'x' holds a" not in text  # the deep line never became a record
    assert code == 1


def test_verify_names_string_values_and_records_without_a_step(tmp_path, ledger_cli):
    root = tmp_path / "results"
    good = honest(root)
    metrics = run_folder(root, good["alpha"]) / "metrics.jsonl"
    with metrics.open("ab") as f:
        f.write(b'{"_step":5,"loss":"high"}\n{"loss":0.1}\n{"_step":6,"loss":{"a":1}}\n')
    code, text, _ = ledger_cli("verify", "--root", str(root))
    assert code == 1
    assert "record 6: 'loss' holds a string value ('high'); values are numbers or media" in text
    assert "record 7: no integer _step" in text
    assert "record 8: 'loss' holds a nested value" in text
    code, _out, _ = ledger_cli("history", good["alpha"], "--root", str(root), "--tail", "2")
    assert code == 0


# ---- terminals, spreadsheets, filters -------------------------------------------------------------------


def test_escape_sequences_never_reach_the_terminal_and_csv_formulas_are_quoted(tmp_path, ledger_cli):
    root = tmp_path / "results"
    with quiet_init(
        "p", root=str(root), name="\x1b]0;pwned\x07\x1b[2Jx", tags=['=HYPERLINK("http://x")', "@SUM(1)"],
        config={"cmd": "+1-2", "bidi": "a\u202eb"},
    ) as run:  # fmt: skip
        run.log({"loss": 1.0})
    code, out, _ = ledger_cli("ls", "--root", str(root), "--columns", "id,name,tags,config.cmd,config.bidi")
    assert code == 0
    assert "\x1b" not in out
    assert "\x07" not in out
    assert "\u202e" not in out
    assert "\\x1b]0;pwned\\x07\\x1b[2Jx" in out
    assert "a\\u202eb" in out
    code, out, _ = ledger_cli("ls", "--root", str(root), "--columns", "name,tags,config.cmd", "--format", "csv")
    row = out.splitlines()[1]
    assert row.startswith('\\x1b]0;pwned\\x07\\x1b[2Jx,"\'=HYPERLINK(""http://x""),@SUM(1)",\'+1-2')
    code, out, _ = ledger_cli("show", run.id, "--root", str(root))
    assert "\x1b" not in out


def test_filters_are_bounded(tmp_path, ledger_cli, monkeypatch):
    root = tmp_path / "results"
    with quiet_init("p", root=str(root), name="a" * 40 + "!") as run:
        run.log({"loss": 1.0})
    deep = "(" * 300 + "status == 'finished'" + ")" * 300
    code, _, err = ledger_cli("ls", "--root", str(root), "--where", deep)
    assert code == 2  # a usage error, as every bad filter
    assert "the filter nests more than 100 levels of parentheses or 'not' ($LEDGER_MAX_DEPTH)" in err
    with pytest.raises(ledger.LedgerError, match="nests more than 100 levels"):
        ledger.open(str(root)).runs(where=_nested_dict(300))
    monkeypatch.setenv("LEDGER_REGEX_TIMEOUT", "0.2")
    code, _, err = ledger_cli("ls", "--root", str(root), "--where", "name ~ '(a|aa)+$'")
    assert code == 2
    assert "the pattern '(a|aa)+$' took more than 0.2 s on one value ($LEDGER_REGEX_TIMEOUT)" in err
    code, out, _ = ledger_cli("ls", "--root", str(root), "--where", "name ~ '^a+!$'", "--columns", "id")
    assert run.id in out


def _nested_dict(depth: int) -> dict:
    spec: dict = {"status": "finished"}
    for _ in range(depth):
        spec = {"$not": spec}
    return spec


# ---- the viewer shows user strings as text ---------------------------------------------------------------

MARKUP = "![x](http://203.0.113.9/beacon.png) <img src=http://203.0.113.9/i.png> **bold**"


def test_viewer_shows_markup_from_a_ledger_as_text(tmp_path, monkeypatch):
    np = pytest.importorskip("numpy")
    root = tmp_path / "results"
    with quiet_init("p", root=str(root), name=MARKUP, notes=MARKUP, tags=[MARKUP], group=MARKUP) as run:
        run.log({MARKUP: 1.0, "img": ledger.Image(np.zeros((4, 4)), caption=MARKUP)})
        run.log({MARKUP: 2.0, "tbl": ledger.Table([[MARKUP]], columns=[MARKUP])})
    pages = viewer_pages(root, monkeypatch, [run.id])
    texts = " ".join(pages["run"]["texts"])
    assert MARKUP not in texts
    assert "\\!\\[x\\]\\(http" in texts  # shown, escaped


# ---- media -------------------------------------------------------------------------------------------------


def test_media_keys_that_would_share_files_are_an_error_at_log(tmp_path):
    np = pytest.importorskip("numpy")
    with quiet_init("p", root=str(tmp_path / "results")) as run:
        run.log({"val samples": ledger.Image(np.zeros((2, 2)))})
        for other in ("val_samples", "Val samples", "val samples/0.png"):
            with pytest.raises(ValueError, match=f"image key '{other}' would write its files where 'val samples'"):
                run.log({other: ledger.Image(np.ones((2, 2)))})
        run.log({"val samples": ledger.Image(np.ones((2, 2)))})
    images = ledger.open(str(tmp_path / "results")).run(run.id).images("val samples")
    assert [i.step for i in images] == [0, 1]
    assert [i.to_numpy().max() for i in images] == [0, 255]


def test_a_media_reference_without_its_file_says_it_is_missing(tmp_path):
    np = pytest.importorskip("numpy")
    root = tmp_path / "results"
    with quiet_init("p", root=str(root)) as run:
        run.log({"img": ledger.Image(np.zeros((2, 2)))})
    (run_folder(root, run.id) / "media" / "images" / "img" / "0.png").unlink()
    (image,) = ledger.open(str(root)).run(run.id).images("img")
    with pytest.raises(FileNotFoundError, match=r"media/images/img/0\.png of run .* is missing: its record names it"):
        image.read()


# ---- compaction while readers read -------------------------------------------------------------------------


def test_readers_see_every_record_once_while_compactions_run(tmp_path, monkeypatch):
    monkeypatch.setenv("LEDGER_APPEND", "0")  # segments, as on object stores
    root = tmp_path / "results"
    expected: dict[str, list[int]] = {}
    for k in range(6):
        with quiet_init("p", root=str(root), flush_interval=0.001) as run:
            for step in range(400):
                run.log({"x": step})
                if step % 10 == 0:
                    run._flush_sinks()  # many small segments
            expected[run.id] = list(range(400))
        assert len(list(run_folder(root, run.id).glob("metrics.*.jsonl"))) > 30, k
    storage = open_storage(str(root))
    bad: list[str] = []
    reads = 0
    stop = threading.Event()

    def reader(run_id: str) -> None:
        nonlocal reads
        folder = _format.run_dir("p", run_id)
        while not stop.is_set():
            steps = [r["_step"] for r in _reader.read_stream(storage, folder).records]
            reads += 1
            if steps != expected[run_id]:
                bad.append(f"{run_id}: {len(steps)} records")

    threads = [threading.Thread(target=reader, args=(run_id,)) for run_id in expected for _ in range(3)]
    for t in threads:
        t.start()
    from ledger._maintenance import compact

    for run_id in expected:
        for _ in range(3):  # again and again: the later ones find nothing to merge
            compact(storage, "p", run_id)
    while reads < 300:
        pass
    stop.set()
    for t in threads:
        t.join()
    assert bad == []
    assert reads >= 300
    for run_id in expected:
        assert [p.name for p in run_folder(root, run_id).glob("metrics*")] == ["metrics.jsonl"]


# ---- bounded memory ------------------------------------------------------------------------------------------


def test_history_tail_reads_from_the_end_only(tmp_path, ledger_cli):
    root = tmp_path / "results"
    with quiet_init("p", root=str(root)) as run:
        for step in range(200_000):
            run.log({"loss": step * 0.5, "acc": 1.0})
    view = ledger.open(str(root)).run(run.id)
    tracemalloc.start()
    last = view.records(tail=3)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert [r["_step"] for r in last] == [199_997, 199_998, 199_999]
    assert (run_folder(root, run.id) / "metrics.jsonl").stat().st_size > 8_000_000
    assert peak < 1_000_000  # the file is over 8 MB: only its end was read
    assert list(view.history(tail=2)["loss"]) == [99_999.0, 99_999.5]
    _code, out, _ = ledger_cli("history", run.id, "--root", str(root), "--tail", "3", "--format", "csv")
    assert out.splitlines()[1:] == [f"{s},{t},{s * 0.5},1.0" for s, t in ((r["_step"], r["_time"]) for r in last)]


# ---- reproduce runs nothing from a ledger ------------------------------------------------------------------


def test_reproduce_runs_no_hook_and_no_repository_a_manifest_names(tmp_path):
    marker = tmp_path / "hook-ran"
    evil = new_repo(tmp_path / "evil")
    (evil / "x.py").write_text("print(1)\n")
    git(evil, "add", "x.py")
    git(evil, "commit", "-qm", "x")
    hook = evil / ".git" / "hooks" / "post-checkout"
    hook.write_text(f"#!/bin/sh\ntouch {marker}\n")
    hook.chmod(0o755)
    git(evil, "config", "filter.evil.smudge", f"sh -c 'touch {marker}; cat'")
    (evil / ".gitattributes").write_text("*.py filter=evil\n")
    git(evil, "add", ".gitattributes")
    git(evil, "commit", "-qm", "attrs")
    commit = git(evil, "rev-parse", "HEAD")
    # A ledger (somewhere else) whose run names the evil repository as its git.root.
    home = tmp_path / "elsewhere"
    home.mkdir()
    root = home / "results"
    with quiet_init("p", root=str(root)) as run:
        run.log({"loss": 1.0})
    m = _format.Manifest.from_yaml((run_folder(root, run.id) / "run.yaml").read_bytes(), "x")
    m.git = {"root": str(evil), "commit": commit, "branch": "main", "remote": None, "dirty": False, "untracked": []}
    (run_folder(root, run.id) / "run.yaml").write_bytes(m.to_yaml())
    rep = run_ledger("reproduce", run.id, "--root", str(root), cwd=home)
    assert rep.returncode == 1
    assert "works only in the repository it is run from" in rep.stderr
    assert not marker.exists()
    # In the repository itself (the user's clone), its hooks and filters stay off too.
    rep = run_ledger("reproduce", run.id, "--root", str(root), cwd=evil)
    assert rep.returncode == 0, rep.stderr
    assert not marker.exists()
    assert "the repository's filter drivers (Git LFS, ...) were off" in rep.stdout
    worktree = Path(rep.stdout.splitlines()[0].split()[1])
    assert (worktree / "x.py").read_text() == "print(1)\n"


def test_commit_never_commits_the_cache_and_runs_no_hook(tmp_path):
    repo = new_repo(tmp_path / "proj")
    marker = tmp_path / "hook-ran"
    hook = repo / ".git" / "hooks" / "pre-commit"
    hook.write_text(f"#!/bin/sh\ntouch {marker}\n")
    hook.chmod(0o755)
    root = repo / "results"
    honest(root)
    ledger.open(str(root))
    (root / ".gitignore").unlink()  # a root made before .gitignore existed
    rep = run_ledger("commit", "--all-finished", "--root", str(root), cwd=repo)
    assert rep.returncode == 0, rep.stderr
    files = git(repo, "ls-files").splitlines()
    assert not any("/.cache/" in f for f in files)
    assert "results/.gitignore" in files
    assert not marker.exists()


# ---- storage down: a memory cap and a bounded finish -----------------------------------------------------------


def test_records_past_the_cap_wait_on_local_disk_and_come_back_in_order(tmp_path, monkeypatch):
    monkeypatch.setenv("LEDGER_SPILL_DIR", str(tmp_path / "spill"))
    monkeypatch.setenv("LEDGER_SPILL_CAP_MB", "0.01")  # 10 KB
    root = tmp_path / "results"
    run = quiet_init("p", root=str(root), flush_interval=3600)
    metrics = run_folder(root, run.id) / "metrics.jsonl"
    metrics.mkdir()  # storage "down": every append fails
    sink = run._metrics
    for batch in range(20):
        for step in range(100):
            run.log({"x": batch * 100 + step})
        assert sink.flush() is False
        assert sink._held <= 10_486
    spilled = tmp_path / "spill" / "p" / run.id / "metrics.jsonl"
    assert spilled.stat().st_size > 50_000
    metrics.rmdir()  # storage is back
    assert sink.flush() is True
    assert not spilled.exists()
    run.finish()
    assert [r["x"] for r in ledger.open(str(root)).run(run.id).records()] == list(range(2000))
    assert not (tmp_path / "spill" / "p").exists()


@pytest.mark.slow
def test_finish_with_a_hanging_store_returns_and_spills(tmp_path, s3_server, s3_root, monkeypatch):
    monkeypatch.setenv("LEDGER_SPILL_DIR", str(tmp_path / "spill"))
    monkeypatch.setenv("LEDGER_FINISH_TIMEOUT", "3")
    run = quiet_init("p", root=s3_root)
    for step in range(100):
        run.log({"x": step})
    s3_server.pause()  # SIGSTOP: connections hang, nothing fails
    try:
        run.finish()
        assert s3_server.paused  # finish() returned while the store still hung
        spill = tmp_path / "spill" / "p" / run.id
        assert (spill / "spill.yaml").exists()
        held = _format.decode_records((spill / "metrics.jsonl").read_bytes(), "x").records
        assert [r["x"] for r in held] == list(range(100))
    finally:
        s3_server.resume()
    from ledger._maintenance import recover

    recover(str(tmp_path / "spill" / "p" / run.id))  # maybe before the hung write lands: once either way
    assert [r["x"] for r in ledger.open(s3_root).run(run.id).records()] == list(range(100))


def test_index_module_checks_cached_entries():
    assert _index._cached_ok("p/runs/a/run.yaml", {"format": 1, "id": "a", "project": "p"}, None, 100)
    assert not _index._cached_ok("p/runs/a/run.yaml", {"format": 1, "id": "b", "project": "p"}, None, 100)
    assert not _index._cached_ok("p/runs/a/run.yaml", "text", None, 100)


# ---- the viewer in a real browser: no request leaves its server -----------------------------------------


@pytest.mark.slow
def test_the_viewer_makes_no_request_outside_its_server(tmp_path):
    pytest.importorskip("playwright")
    np = pytest.importorskip("numpy")
    from tests import browser

    if not browser.have_browser():
        pytest.skip("needs /usr/bin/chromium and playwright")
    root = tmp_path / "results"
    with quiet_init("p", root=str(root), name=MARKUP, notes=MARKUP, tags=[MARKUP]) as run:
        run.log({MARKUP: 1.0, "img": ledger.Image(np.zeros((4, 4)), caption=MARKUP)})
        run.log({MARKUP: 2.0, "tbl": ledger.Table([[MARKUP]], columns=[MARKUP])})
    requests: list[str] = []
    with browser.served(root) as url, browser.chromium(tmp_path / "profile") as page:
        page.on("request", lambda request: requests.append(request.url))
        for path in ("/", f"/run?run={run.id}"):
            page.goto(url + path)
            browser.wait_idle(page)
            page.wait_for_timeout(1500)  # images and late fetches
        text = page.inner_text("body")
    assert "![x](http://203.0.113.9/beacon.png)" in text  # the caption and notes, shown as typed
    outside = [r for r in requests if not r.startswith((url, "data:", "blob:", "about:"))]
    assert outside == []
    assert any(r.startswith(url) for r in requests)


def test_verify_names_a_finished_run_whose_data_waits_in_a_spill(tmp_path, monkeypatch, ledger_cli):
    monkeypatch.setenv("LEDGER_SPILL_DIR", str(tmp_path / "spill"))
    root = tmp_path / "results"
    good = honest(root)
    spill = tmp_path / "spill" / "p" / good["alpha"]
    spill.mkdir(parents=True)
    (spill / "metrics.jsonl").write_text('{"_step":5,"_time":1.0,"loss":0.1}\n')
    (spill / "spill.yaml").write_text(f"root: {root}\nproject: p\nid: {good['alpha']}\n")
    code, text, _ = ledger_cli("verify", "--root", str(root))
    assert code == 1
    assert f"finished, but part of it waits in the spill folder {spill}; run `ledger recover`" in text


def test_a_sweep_file_of_ones_own_may_use_anchors_but_not_a_bomb(tmp_path):
    from ledger.sweeps._sweep import SweepConfigError, load_config_file

    good = tmp_path / "sweep.yaml"
    good.write_text("method: grid\nrange: &r {values: [1, 2]}\nparameters:\n  a: *r\n  b: *r\n")
    doc, _ = load_config_file(good)
    assert doc["parameters"] == {"a": {"values": [1, 2]}, "b": {"values": [1, 2]}}
    assert b"&" not in _format.yaml_dump(doc)  # stored without aliases
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(ALIAS_BOMB.replace("{id}", "x"))
    with pytest.raises(SweepConfigError, match="expand to more than 1,000,000 values"):
        load_config_file(bomb)


def test_a_config_nested_300_levels_is_a_clear_error_at_init(tmp_path):
    cfg: dict = {"x": 1}
    for _ in range(300):
        cfg = {"k": cfg}
    with pytest.raises(ValueError, match=r"config is nested deeper than 100 levels \(\$LEDGER_MAX_DEPTH\); flatten it"):
        quiet_init("p", root=str(tmp_path / "results"), config=cfg)
    assert ledger.active_run() is None
