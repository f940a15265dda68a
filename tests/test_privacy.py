"""Nothing private reaches a public folder: secrets never enter a run, and `publish --public`
leaves out or replaces who, where and how, without corrupting data (ids, project, config,
metric names) and without breaking the publication (it opens as a ledger and over HTTP)."""

from __future__ import annotations

import functools
import http.server
import os
import subprocess
import sys
import threading

import pytest

import ledger
from ledger import _format
from tests.helpers import git, new_repo, quiet_init

TOKEN = "tok_5f4e3d2c1b0a99887766"
AWS_ID = "AKIAZZZZZZZZZZZZZZZZ"
HF = "hf_" + "Q" * 34
ENV_SECRET = "env-secret-0a1b2c3d"
DOTENV = "dotenv-secret-9f8e7d6c"
LOGIN = "alovelace"
USER = "Ada Lovelace"
HOST = "gpu-node-17.lab.example"

SCRIPT = f"""
import ledger, sys
cfg = {{"lr": 0.1, "model": "svm", "db": {{"password": "{TOKEN}", "url": "postgresql://u:{TOKEN}@db/x"}},
        "hub": {{"token": "{HF}"}}, "notify": "https://hooks.slack.com/services/T0/B0/{TOKEN}",
        "data": "https://host/x?token={TOKEN}&a=1"}}
run = ledger.init("p", root="results", config=cfg, system_metrics=False)
run.log({{"loss": 0.5}})
print("talking to", "{TOKEN}")
raise RuntimeError("bad key {AWS_ID} for {TOKEN}")
"""


@pytest.fixture
def leaky_ledger(tmp_path):
    """A real run that had every chance to leak: secrets in argv, config (nested), the
    environment, an untracked .env, the git remote, a traceback and its output; then its
    manifest as another machine would have written it (home folder, user, host)."""
    repo = new_repo(tmp_path / "proj")
    git(repo, "remote", "add", "origin", f"https://{LOGIN}:{TOKEN}@github.com/{LOGIN}/secret-proj.git")
    (repo / "train.py").write_text(SCRIPT)
    git(repo, "add", "train.py")
    git(repo, "commit", "-qm", "train")
    (repo / ".env").write_text(f"TOKEN={DOTENV}\n")
    (repo / "notes.py").write_text(f"KEY = '{AWS_ID}'\nHF = '{HF}'\n")  # untracked code with secrets in it
    argv = ["train.py", "--api-key", TOKEN, "--aws-access-key-id", AWS_ID, "--passphrase", TOKEN,
            "--auth", f"Bearer {TOKEN}", "--webhook", f"https://hooks.example/{TOKEN}", f"--url=https://x?sig={TOKEN}"]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    env.update({"MY_SECRET": ENV_SECRET, "LEDGER_USER": USER})
    proc = subprocess.run([sys.executable, *argv], cwd=repo, env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 1
    assert "RuntimeError" in proc.stderr
    root = repo / "results"
    (run,) = ledger.open(str(root)).runs()
    # As written on the lab's machine: paths under /home/<login>, its host name.
    path = root / "p" / "runs" / run.id / "run.yaml"
    text = path.read_text().replace(str(tmp_path), f"/home/{LOGIN}")
    m = _format.Manifest.from_yaml(text.encode(), "x")
    assert m.host is not None
    m.host["hostname"] = HOST
    m.notes = f"ran on {HOST.split('.', maxsplit=1)[0]} by {LOGIN}; model svm"
    path.write_bytes(m.to_yaml())
    return root, run.id


def test_no_secret_enters_the_run(leaky_ledger):
    root, run_id = leaky_ledger
    folder = root / "p" / "runs" / run_id
    for file in folder.rglob("*"):
        data = file.read_bytes()
        for secret in (TOKEN, AWS_ID, HF, ENV_SECRET, DOTENV):
            if file.name == "output.log" and secret == TOKEN:
                continue  # the script printed it itself: output.log is private, never published
            assert secret.encode() not in data, (file.name, secret)
    m = ledger.open(str(root)).run(run_id).meta
    assert m["command"]["argv"][1:] == [
        "--api-key", "***", "--aws-access-key-id", "***", "--passphrase", "***", "--auth", "***",
        "--webhook", "***", "--url=https://x?sig=***",
    ]  # fmt: skip
    assert m["config"]["db"] == {"password": "***", "url": "postgresql://u@db/x"}
    assert m["config"]["hub"] == {"token": "***"}
    assert m["config"]["data"] == "https://host/x?token=***&a=1"
    assert m["config"]["lr"] == 0.1
    assert m["git"]["excluded_files"] == [".env"]
    assert ".env" in m["git"]["untracked"]
    patch = (folder / "code.patch").read_text()
    assert "+KEY = '***'" in patch
    assert "+HF = '***'" in patch
    assert "bad key *** for" in m["error"]


def test_publish_public_leaves_nothing_private(leaky_ledger, tmp_path, ledger_cli):
    root, run_id = leaky_ledger
    out = tmp_path / "site"
    code, _, err = ledger_cli("publish", str(out), "--root", str(root), "--public")
    assert code == 0, err
    planted = [TOKEN, AWS_ID, HF, ENV_SECRET, DOTENV, LOGIN, USER, "Lovelace", HOST, "gpu-node-17", "/home/",
               "secret-proj", "github.com"]  # fmt: skip
    files = [p for p in out.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"run.yaml", "metrics.jsonl", "index.json", "index.html", "ledger.yaml"}
    for file in files:
        data = file.read_bytes()
        for text in planted:
            assert text.encode() not in data, (file.relative_to(out), text)
    m = ledger.open(str(out)).run(run_id).meta
    assert m["user"] is None
    assert "remote" not in m["git"]
    assert "root" not in m["git"]
    assert "hostname" not in m["host"]
    assert "cwd" not in m["command"]
    assert "executable" not in m["command"]
    assert '"~/proj/train.py", line' in m["error"]
    assert m["notes"] == "ran on <host> by <user>; model svm"
    assert m["config"]["model"] == "svm"
    assert m["project"] == "p"
    assert m["id"] == run_id
    assert not (out / "p" / "runs" / run_id / "output.log").exists()
    assert not (out / "p" / "runs" / run_id / "code.patch").exists()


def test_names_are_replaced_only_as_whole_words_and_never_in_data(tmp_path, ledger_cli):
    root = tmp_path / "results"
    with quiet_init("svm-study", root=str(root), name="svm-baseline", group="svm",
                    config={"model": "svm", "machine": "tesla-box", "path": "/home/bob/data"}) as run:  # fmt: skip
        run.log({"svm/loss": 1.0})
    path = root / "svm-study" / "runs" / run.id / "run.yaml"
    m = _format.Manifest.from_yaml(path.read_bytes(), "x")
    m.user, m.host = "svm", {"hostname": "tesla-box", "os": "Linux"}
    m.notes = "svm on tesla-box and tesla-boxer; see /home/bob/notes and svmlight"
    path.write_bytes(m.to_yaml())
    out = tmp_path / "site"
    code, _, err = ledger_cli("publish", str(out), "--root", str(root), "--public")
    assert code == 0
    assert "user name 'svm' is short or a common word: not replaced in text" in err
    assert "user name 'bob' is short or a common word" in err
    pub = ledger.open(str(out)).run(run.id)
    assert (pub.project, pub.name, pub.group) == ("svm-study", "svm-baseline", "svm")
    assert pub.config == {"model": "svm", "machine": "tesla-box", "path": "~/data"}
    assert pub.summary == {"svm/loss": 1.0}
    assert pub.meta["notes"] == "svm on <host> and tesla-boxer; see ~/notes and svmlight"


def test_the_publication_opens_over_http_with_the_same_runs(leaky_ledger, tmp_path, ledger_cli):
    root, run_id = leaky_ledger
    out = tmp_path / "site"
    assert ledger_cli("publish", str(out), "--root", str(root), "--public")[0] == 0
    handler = functools.partial(_Quiet, directory=str(out))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        lg = ledger.open(f"http://127.0.0.1:{server.server_address[1]}/")
        (run,) = lg.runs()
        assert (run.project, run.id) == ("p", run_id)
        assert [r["loss"] for r in run.records()] == [0.5]
        assert lg.skipped == []
    finally:
        server.shutdown()
        server.server_close()


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (the stdlib's name)
        pass


def test_redact_and_keep_adjust_the_list(tmp_path, caplog):
    with quiet_init("p", root=str(tmp_path / "r"), config={"pad_token": "<pad>", "seed": 3, "api_key": "x", "sort_key": "a"},
                    redact=["seed"], keep=["api_key"]) as run:  # fmt: skip
        run.config.update({"github_token": "abc", "eos_token_id": 2})
    cfg = ledger.open(str(tmp_path / "r")).run(run.id).config
    assert cfg == {"pad_token": "<pad>", "seed": "***", "api_key": "x", "sort_key": "a", "github_token": "***",
                   "eos_token_id": 2}  # fmt: skip
    warnings = [r.getMessage() for r in caplog.records if "look secret" in r.getMessage()]
    assert warnings == [
        (
            "ledger: config values that look secret were stored as ***: seed (ledger.init(keep=[...]) keeps a name, "
            "redact=[...] adds one)"
        ),
        (
            "ledger: config values that look secret were stored as ***: github_token (ledger.init(keep=[...]) keeps a "
            "name, redact=[...] adds one)"
        ),
    ]


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("--api-key", True), ("WANDB_API_KEY", True), ("apiKey", True), ("--aws-access-key-id", True),
        ("--passphrase", True), ("--auth", True), ("sentry_dsn", True), ("slack_webhook_url", True),
        ("db.password", True), ("HF_TOKEN", True), ("use_auth_token", True), ("--key", True), ("license_key", True),
        ("client_secret", True), ("credentials", True), ("--private-key", True),
        ("--max-tokens", False), ("--tokenizer", False), ("pad_token", False), ("eos_token_id", False),
        ("token_type_ids", False), ("--secret-file", False), ("api_key_env", False), ("token_budget", False),
        ("sort_key", False), ("rng_key", False), ("monitor_key", False), ("author", False), ("keyword", False),
        ("oauth_scopes", False), ("lr", False),
    ],
)  # fmt: skip
def test_the_one_list_of_secret_looking_names(name, secret):
    from ledger._capture._redact import is_secret_name

    assert is_secret_name(name) is secret


def test_urls_lose_credentials_and_secret_query_values_anywhere():
    from ledger._capture._redact import redact_text

    text = "see https://u:p@h.example/x?token=abc&page=2 and s3://b/k?X-Amz-Signature=zz&X-Amz-Date=1 ok"
    assert (
        redact_text(text) == "see https://h.example/x?token=***&page=2 and s3://b/k?X-Amz-Signature=***&X-Amz-Date=1 ok"
    )
    assert redact_text(f"key {AWS_ID} and {HF} and ghp_{'a' * 36}") == "key *** and *** and ***"
    assert redact_text("nothing here: sk-learn, /home/x, token") == "nothing here: sk-learn, /home/x, token"
