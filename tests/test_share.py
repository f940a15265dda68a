"""Results with the code (ledger commit) and with the paper (ledger publish); teams through git."""

from __future__ import annotations

import http.server
import math
import os
import subprocess
import threading
from pathlib import Path

import pytest

import ledger
from tests.helpers import git, new_repo, quiet_init, run_ledger


def _train(root, name, *, group="g", acc=0.9, steps=5, save: bytes | None = None, **init_kwargs):
    with quiet_init(
        "paper", root=str(root), name=name, group=group, config={"lr": 0.1, "name": name}, **init_kwargs
    ) as run:
        for step in range(steps):
            run.log({"loss": 1.0 / (step + 1), "acc": acc - 0.01 * (steps - 1 - step), "nan_metric": math.nan})
        if save is not None:
            Path("weights.bin").write_bytes(save)
            run.save("weights.bin")
    return run.id


def _log(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout


class TestCommit:
    def test_finished_runs_are_committed_with_a_message_naming_them(self, tmp_path, ledger_cli, monkeypatch):
        repo = new_repo(tmp_path / "code")
        monkeypatch.chdir(repo)
        a = _train(repo / "results", "alpha", acc=0.91)
        b = _train(repo / "results", "beta", group="h", acc=0.95)
        live = quiet_init("paper", root="results", name="live")
        code, out, err = ledger_cli("commit", "--all-finished", "-m", "baseline results")
        assert code == 0, err
        assert out.startswith("committed 2 runs as ")
        message = _log(repo, "log", "-1", "--format=%B")
        assert message.splitlines()[0] == "baseline results"
        assert f"{a}  alpha  g  acc=0.91" in message
        assert f"{b}  beta  h  acc=0.95" in message
        tracked = _log(repo, "ls-files", "results").split()
        assert f"results/paper/runs/{a}/run.yaml" in tracked
        assert f"results/paper/runs/{a}/metrics.jsonl" in tracked
        assert "results/ledger.yaml" in tracked
        assert not any(p.startswith("results/.cache/") for p in tracked)  # the root's .gitignore holds
        assert not any(live.id in p for p in tracked)

        code, out, _ = ledger_cli("ls", "--columns", "name,committed", "--format", "csv")
        assert out.split() == ["name,committed", "alpha,True", "beta,True", "live,False"]
        code, _, err = ledger_cli("commit", live.id)
        assert code == 1
        assert f"run {live.id} is still running; commit runs after they end" in err
        live.finish()
        code, out, _ = ledger_cli("ls", "--uncommitted", "--columns", "name", "--format", "csv")
        assert out.split() == ["name", "live"]
        code, out, _ = ledger_cli("commit", "--all-finished")
        assert out.startswith("committed 1 run as ")
        code, out, _ = ledger_cli("commit", "--all-finished")
        assert out.strip() == "nothing to commit: those runs are committed already"

    def test_all_finished_means_finished_and_all_ended_adds_the_rest(self, tmp_path, ledger_cli, monkeypatch):
        repo = new_repo(tmp_path / "code")
        monkeypatch.chdir(repo)
        ok = _train(repo / "results", "ok")
        with quiet_init("paper", root="results", name="broke") as run:
            run.finish(status="failed")
        with quiet_init("paper", root="results", name="stopped") as run:
            run.finish(status="killed")
        code, out, err = ledger_cli("commit", "--all-finished")
        assert code == 0, err
        assert out.startswith("committed 1 run as ")
        assert ok in _log(repo, "log", "-1", "--format=%B")
        code, out, err = ledger_cli("commit", "--all-ended")
        assert code == 0, err
        assert out.startswith("committed 2 runs as ")
        assert {"broke", "stopped"} <= set(_log(repo, "log", "-1", "--format=%B").split())

    def test_the_message_names_each_runs_defined_or_sweep_metric(self, tmp_path, ledger_cli, monkeypatch):
        repo = new_repo(tmp_path / "code")
        monkeypatch.chdir(repo)
        with quiet_init("paper", root="results", name="defined") as run:
            run.define_metric("val/*", summary="min")
            run.log({"acc": 0.5, "val/loss": 0.4})
            run.log({"acc": 0.6, "val/loss": 0.3})
        sweep_id = ledger.sweeps.create(
            {"method": "grid", "metric": {"name": "score", "goal": "maximize"}, "parameters": {"x": {"values": [7]}}},
            root="results",
            project="paper",
        )

        def train():
            with quiet_init() as trial:
                trial.log({"acc": 0.1, "score": trial.config["x"] * 1.5})

        ledger.sweeps.agent(sweep_id, function=train, root="results")
        code, _out, err = ledger_cli("commit", "--all-finished")
        assert code == 0, err
        message = _log(repo, "log", "-1", "--format=%B")
        assert "defined  -  val/loss=0.3" in message  # its define_metric(summary="min"), not acc
        assert "score=10.5" in message  # the sweep's metric
        assert ledger.open("results").run("defined").doc["defined_metrics"] == {"val/*": "min"}

    def test_runs_are_named_by_id_prefix_or_exact_name(self, tmp_path, ledger_cli, monkeypatch):
        repo = new_repo(tmp_path / "code")
        monkeypatch.chdir(repo)
        a = _train(repo / "results", "alpha")
        b = _train(repo / "results", "beta")
        code, out, err = ledger_cli("commit", "alpha", b[:-2])  # a unique start of its id
        assert code == 0, err
        assert out.startswith("committed 2 runs as ")
        assert {a, b} <= set(_log(repo, "log", "-1", "--format=%B").split())

    def test_large_files_are_named_with_an_lfs_hint(self, tmp_path, ledger_cli, monkeypatch):
        repo = new_repo(tmp_path / "code")
        monkeypatch.chdir(repo)
        run_id = _train(repo / "results", "big", save=os.urandom(2 * 2**20))
        code, _out, err = ledger_cli("commit", run_id, "--size-limit", "1")
        assert code == 0
        assert f"warning: results/paper/runs/{run_id}/files/weights.bin is 2 MB (over 1 MB)" in err
        assert "git lfs track 'results/paper/**/*.bin'" in err

    def test_root_as_its_own_repository(self, tmp_path, ledger_cli, monkeypatch):
        monkeypatch.chdir(tmp_path)
        run_id = _train(tmp_path / "results", "solo")
        code, _, err = ledger_cli("commit", run_id, "--root", "results")
        assert code == 1
        assert "is not inside a git repository; run `git init`" in err
        new_repo(tmp_path / "results")
        code, _out, err = ledger_cli("commit", run_id, "--root", "results")
        assert code == 0, err
        assert f"paper/runs/{run_id}/run.yaml" in _log(tmp_path / "results", "ls-files").split()


@pytest.mark.slow
def test_three_collaborators_never_conflict(tmp_path, monkeypatch):
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], check=True)
    seed = new_repo(tmp_path / "seed")
    (seed / "train.py").write_text("print('train')\n")
    git(seed, "add", "train.py")
    git(seed, "commit", "-qm", "code")
    git(seed, "remote", "add", "origin", str(origin))
    git(seed, "push", "-q", "origin", "main")
    clones = {}
    for who in ("ada", "grace", "alan"):
        clones[who] = tmp_path / who
        subprocess.run(["git", "clone", "-q", str(origin), str(clones[who])], check=True)
        git(clones[who], "config", "user.name", who)
        git(clones[who], "config", "user.email", f"{who}@lab")
    expected = set()
    for round_ in range(3):
        for who, repo in clones.items():  # everyone works from the same stale base...
            monkeypatch.chdir(repo)
            for k in range(2):
                expected.add(_train(repo / "results", f"{who}-{round_}-{k}"))
            done = run_ledger("commit", "--all-finished", "--root", str(repo / "results"), cwd=repo)
            assert done.returncode == 0, done.stderr
        for repo in clones.values():  # ...then each merges the others' commits and pushes
            merge = subprocess.run(
                ["git", "-C", str(repo), "pull", "-q", "--no-rebase", "--no-edit", "origin", "main"],
                capture_output=True,
                text=True,
                check=False,
            )
            assert merge.returncode == 0, merge.stderr + merge.stdout
            git(repo, "push", "-q", "origin", "main")
    final = clones["ada"]
    git(final, "pull", "-q", "--no-rebase", "origin", "main")
    lg = ledger.open(final / "results")
    assert {r.id for r in lg.runs()} == expected
    assert {r.name for r in lg.runs(user="grace")} == {f"grace-{i}-{k}" for i in range(3) for k in range(2)}
    assert len(_log(final, "log", "--merges", "--oneline").splitlines()) >= 3  # real merges happened


class TestPublish:
    @pytest.fixture
    def lab(self, tmp_dir, monkeypatch):
        monkeypatch.setenv("LEDGER_USER", "ada.lovelace")
        token = "sk-planted-7f6e5d4c"
        import sys

        monkeypatch.setenv("HF_TOKEN", token)  # in the environment, which is never recorded
        monkeypatch.setattr(
            sys, "argv", ["train.py", "--lr", "0.1", "--data-dir=/home/ada.lovelace/data", "--api-key", token]
        )
        for name, group, acc in (("a1", "resnet", 0.91), ("a2", "resnet", 0.93), ("b1", "vit", 0.95)):
            with ledger.init("paper", root="results", name=name, group=group, config={"lr": 0.1},
                             system_metrics=False) as run:  # fmt: skip
                print(f"token in the console: {token}")
                for step in range(30):
                    run.log({"loss": 1.0 / (step + 1), "acc": acc - 0.3 / (step + 1)})
                run.summary["acc"] = acc
        return tmp_dir / "results", token

    def test_round_trip_over_http(self, lab, ledger_cli, tmp_dir):
        root, _token = lab
        code, out, err = ledger_cli("publish", str(tmp_dir / "site"), "--root", str(root))
        assert code == 0, err
        assert "published 3 runs" in out
        server = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0),
            lambda *a: http.server.SimpleHTTPRequestHandler(*a, directory=str(tmp_dir / "site")),
        )
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            remote = ledger.open(f"http://127.0.0.1:{server.server_address[1]}/")
            local = ledger.open(root)
            assert [r.id for r in remote.runs()] == [r.id for r in local.runs()]
            for r in local.runs():
                other = remote.run(r.id)
                assert other.summary == r.summary
                assert other.config == r.config
                assert other.records() == r.records()
                assert other.output() == r.output()
            assert remote.runs().best("summary.acc").name == "b1"
        finally:
            server.shutdown()
            server.server_close()
        # The folder is also a plain ledger on disk.
        assert len(ledger.open(tmp_dir / "site")) == 3

    def test_public_leaves_out_who_and_where(self, lab, ledger_cli, tmp_dir):
        root, token = lab
        code, _, err = ledger_cli("publish", str(tmp_dir / "public"), "--root", str(root), "--public")
        assert code == 0, err
        hostname = __import__("socket").gethostname()
        files = [p for p in (tmp_dir / "public").rglob("*") if p.is_file()]
        assert {p.name for p in files} >= {"index.json", "index.html", "ledger.yaml", "run.yaml", "metrics.jsonl"}
        assert not any(p.name in ("output.log", "code.patch") for p in files)
        for path in files:
            data = path.read_bytes()
            assert b"ada.lovelace" not in data, path
            assert hostname.encode() not in data, path
            assert token.encode() not in data, path
        assert len(ledger.open(tmp_dir / "public")) == 3

    def test_republish_is_incremental(self, lab, ledger_cli, tmp_dir):
        root, _ = lab
        ledger_cli("publish", str(tmp_dir / "site"), "--root", str(root))
        _code, out, _ = ledger_cli(
            "publish", str(tmp_dir / "site"), "--root", str(root), "--where", "group == 'resnet'"
        )
        assert "(0 copied, 2 unchanged, 1 removed)" in out
        assert len(ledger.open(tmp_dir / "site")) == 2

    def test_an_index_cannot_point_outside_the_root(self, lab, ledger_cli, tmp_dir):
        import orjson

        root, _ = lab
        ledger_cli("publish", str(tmp_dir / "site"), "--root", str(root))
        index = orjson.loads((tmp_dir / "site/index.json").read_bytes())
        index["runs"][0]["files"] = {"../../../../etc/passwd": 10}
        (tmp_dir / "site/index.json").write_bytes(orjson.dumps(index))
        from ledger._query._index import read_publication as read_index
        from ledger._storage import open_storage

        with pytest.raises(ledger.InvalidNameError, match="would leave the run folder"):
            read_index(open_storage(str(tmp_dir / "site")))

    def test_index_html_shows_the_table_and_curves_in_chromium(self, lab, ledger_cli, tmp_dir):
        root, _ = lab
        ledger_cli("publish", str(tmp_dir / "site"), "--root", str(root))
        sync_api = pytest.importorskip("playwright.sync_api")
        if not Path("/usr/bin/chromium").exists():
            pytest.fail("Chromium is missing: apt-get install -y chromium (.ci/run does it)")
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch_persistent_context(
                str(tmp_dir / "profile"),
                executable_path="/usr/bin/chromium",
                headless=True,
                args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
                viewport={"width": 1280, "height": 1400},
            )  # fmt: skip
            page = browser.new_page()
            page.goto((tmp_dir / "site/index.html").as_uri())
            rows = page.locator("table").first.locator("tr")
            assert rows.count() == 3  # header, resnet, vit
            assert "0.92 ± 0.014" in rows.nth(1).inner_text()
            assert page.locator("svg polyline").count() >= 4  # loss and acc, two groups each
            page.screenshot(path=str(tmp_dir / "report.png"), full_page=True)
            browser.close()
        assert (tmp_dir / "report.png").stat().st_size > 10_000
