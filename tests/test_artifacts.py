"""Artifacts: versions of files kept once per content, their aliases, use in a local cache
checked by hash, and lineage from both ends; on a local folder, memory:// and real S3."""

from __future__ import annotations

import json
import os
import stat
import textwrap
from pathlib import Path

import pytest

import ledger
from ledger import _artifacts, _format
from ledger._storage import open_storage
from tests.helpers import quiet_init, run_python, start_python


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch) -> Path:
    """Every test's artifact cache in its own folder (never the home folder's)."""
    folder = tmp_path / "artifact-cache"
    monkeypatch.setenv("LEDGER_ARTIFACT_CACHE", str(folder))
    return folder


def blobs(root: Path, project: str = "p") -> list[Path]:
    return sorted(p for p in (root / project / "artifacts" / "blobs").rglob("*") if p.is_file())


def folder_of(path: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        (path / rel).parent.mkdir(parents=True, exist_ok=True)
        (path / rel).write_bytes(data)
    return path


class TestLogging:
    def test_the_same_50_mb_checkpoint_logged_by_5_runs_is_stored_once(self, tmp_dir):
        checkpoint = tmp_dir / "model.pt"
        checkpoint.write_bytes(os.urandom(50 * 2**20))
        versions = []
        for seed in range(5):
            with quiet_init("p", root="results", config={"seed": seed}) as run:
                versions.append(run.log_artifact(checkpoint, "resnet", type="model"))
        assert [v.version for v in versions] == [1, 2, 3, 4, 5]
        assert len({v.digest for v in versions}) == 1
        stored = blobs(tmp_dir / "results")
        assert len(stored) == 1
        assert stored[0].stat().st_size == 50 * 2**20
        assert stored[0].name == versions[0].sha256["model.pt"]
        lg = ledger.open("results")
        usage = lg.storage_summary()
        assert usage["blob_bytes"] == 50 * 2**20
        assert usage["version_bytes"] == 5 * 50 * 2**20
        assert usage["dedup_saved_bytes"] == 4 * 50 * 2**20

    def test_a_folder_keeps_its_paths_and_its_version_manifest_says_what_is_where(self, tmp_dir):
        data = folder_of(tmp_dir / "data", {"train/x.npy": b"x" * 100, "train/y.npy": b"y" * 10, "README": b""})
        with quiet_init("p", root="results") as run:
            v = run.log_artifact(data, "mnist", type="dataset", metadata={"rows": 60_000, "source": "yann"})
        assert v.ref == "mnist:v1"
        assert v.qualified == "p/mnist:v1"
        assert v.files == {"README": 0, "train/x.npy": 100, "train/y.npy": 10}
        assert v.size == 110
        assert v.aliases == ["latest"]
        assert v.run_id == run.id
        text = (tmp_dir / "results/p/artifacts/mnist/v1.yaml").read_text()
        doc = _format.yaml_load(text.encode(), "v1.yaml")
        assert list(doc) == [k for k, _ in _format.VERSION_KEYS]
        assert doc["source"] == "folder"
        assert doc["metadata"] == {"rows": 60_000, "source": "yann"}
        assert [f["path"] for f in doc["files"]] == ["README", "train/x.npy", "train/y.npy"]
        assert doc["digest"] == _format.files_digest(v.manifest.files)
        (logged,) = ledger.open("results").run(run.id).doc["logged_artifacts"]
        assert logged == {"project": "p", "name": "mnist", "version": 1, "type": "dataset", "digest": v.digest}

    def test_aliases_move_and_keep_their_history_and_latest_is_the_highest(self, tmp_dir):
        (tmp_dir / "ckpt").write_bytes(b"a")
        with quiet_init("p", root="results") as run:
            run.log_artifact("ckpt", "m", aliases=["best"])
            (tmp_dir / "ckpt").write_bytes(b"b")
            run.log_artifact("ckpt", "m")
            (tmp_dir / "ckpt").write_bytes(b"c")
            v3 = run.log_artifact("ckpt", "m", aliases=["best", "production"])
        assert sorted(v3.aliases) == ["best", "latest", "production"]
        storage = open_storage("results")
        assert _artifacts.aliases(storage, "p", "m") == {"best": 3, "latest": 3, "production": 3}
        assert [(k, m.version, m.run) for k, m in _artifacts.alias_moves(storage, "p", "m", "best")] == [
            (1, 1, run.id),
            (2, 3, run.id),
        ]
        lg = ledger.open("results")
        assert lg.artifact("m:best").version == 3
        assert lg.artifact("m").version == 3
        assert lg.artifact("m:v1").aliases == []
        assert [v.version for v in lg.artifacts(name="m")] == [1, 2, 3]

    @pytest.mark.parametrize(
        ("ref", "message"),
        [
            ("nope", "no artifact 'nope' in project 'p' of .*; its artifacts: m \\(a reference from another"),
            ("m:v9", r"no version v9 of artifact 'm'.*v1..v1"),
            ("m:gold", r"has no alias 'gold'; its aliases: latest \(v1\)"),
            ("../m", "cannot be used"),
            ("m:v0", "versions count from v1"),
        ],
    )
    def test_a_reference_that_names_nothing_says_what_exists(self, tmp_dir, ref, message):
        (tmp_dir / "f").write_bytes(b"1")
        with quiet_init("p", root="results") as run:
            run.log_artifact("f", "m")
            with pytest.raises((ledger.ArtifactNotFoundError, ledger.InvalidNameError), match=message):
                run.use_artifact(ref)

    def test_bad_input_is_refused_before_anything_is_written(self, tmp_dir):
        (tmp_dir / "empty").mkdir()
        with quiet_init("p", root="results") as run:
            with pytest.raises(ValueError, match="holds no files"):
                run.log_artifact("empty", "m")
            with pytest.raises(FileNotFoundError, match="neither a file nor a folder"):
                run.log_artifact("missing.pt", "m")
            with pytest.raises(ledger.InvalidNameError, match="reserved"):
                run.log_artifact("empty", "blobs")
            (tmp_dir / "f").write_bytes(b"x")
            with pytest.raises(ledger.InvalidNameError, match="looks like a version"):
                run.log_artifact("f", "m", aliases=["v2"])
            with pytest.raises(TypeError, match="aliases must be a list"):
                run.log_artifact("f", "m", aliases="best")
        assert not (tmp_dir / "results/p/artifacts").exists()

    def test_a_run_that_ended_cannot_log_or_use(self, tmp_dir):
        (tmp_dir / "f").write_bytes(b"x")
        run = quiet_init("p", root="results")
        run.finish()
        with pytest.raises(ledger.RunStateError, match="already finished"):
            run.log_artifact("f", "m")
        with pytest.raises(ledger.RunStateError, match="already finished"):
            run.use_artifact("m")


LOGGER = """
import ledger, os, sys
root, name, tag = sys.argv[1], sys.argv[2], sys.argv[3]
os.makedirs(tag, exist_ok=True)
made = []
with ledger.init("p", root=root, capture_output=False, system_metrics=False) as run:
    for i in range(12):
        with open(os.path.join(tag, "weights.bin"), "wb") as f:
            f.write(f"{tag}-{i}".encode() * 1000)
        made.append(run.log_artifact(tag, name, type="model").version)
print(" ".join(map(str, made)))
"""


def _two_writers(root: str, cwd: Path, env: dict[str, str] | None = None) -> tuple[list[int], list[int]]:
    code = textwrap.dedent(LOGGER)
    procs = [
        start_python(f"import sys; sys.argv = ['x', {root!r}, 'ckpt', {tag!r}]\n" + code, cwd, env=env)
        for tag in ("a", "b")
    ]
    outs = []
    for proc in procs:
        with proc:
            out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        outs.append([int(x) for x in out.split()])
    return outs[0], outs[1]


class TestConcurrentVersions:
    def test_two_processes_get_v1_to_vn_without_gaps_or_duplicates_locally(self, tmp_dir):
        a, b = _two_writers(str(tmp_dir / "results"), tmp_dir)
        assert sorted(a + b) == list(range(1, 25))
        assert a == sorted(a)
        assert b == sorted(b)
        lg = ledger.open(str(tmp_dir / "results"))
        assert [v.version for v in lg.artifacts(name="ckpt")] == list(range(1, 25))
        producers = {v.version: v.logged_by().id for v in lg.artifacts(name="ckpt")}
        runs = {r.id: [e["version"] for e in r.doc["logged_artifacts"]] for r in lg.runs()}
        assert sorted(runs.values()) == sorted([a, b])
        assert all(v in runs[producers[v]] for v in producers)

    @pytest.mark.slow
    def test_two_processes_get_v1_to_vn_without_gaps_or_duplicates_on_s3(self, tmp_dir, s3_root, s3_server):
        a, b = _two_writers(s3_root, tmp_dir, env=s3_server.env)
        assert sorted(a + b) == list(range(1, 25))
        storage = open_storage(s3_root)
        assert _artifacts.versions(storage, "p", "ckpt") == list(range(1, 25))
        contents = {_artifacts.read_version(storage, "p", "ckpt", n).digest for n in range(1, 25)}
        assert len(contents) == 24  # every version is its own writer's, none written twice


class TestUse:
    def test_use_latest_records_the_use_and_lineage_answers_from_both_ends(self, tmp_dir):
        data = folder_of(tmp_dir / "data", {"x.csv": b"1,2\n", "y.csv": b"0\n"})
        with quiet_init("p", root="results", job_type="prepare") as maker:
            made = maker.log_artifact(data, "digits", type="dataset")
        with quiet_init("p", root="results", job_type="train") as trainer:
            path = trainer.use_artifact("digits:latest")
            assert Path(path, "x.csv").read_bytes() == b"1,2\n"
            (tmp_dir / "model.pt").write_bytes(b"weights")
            model = trainer.log_artifact("model.pt", "net", type="model")
        with quiet_init("p", root="results", job_type="eval") as evaluator:
            local = evaluator.use_artifact("net")
            assert Path(local).read_bytes() == b"weights"  # one logged file: its own path
            evaluator.use_artifact("net:v1")  # the same version again: recorded once
        lg = ledger.open("results")
        # From the artifact's end: who made it, who used it.
        version = lg.artifact("digits:v1")
        assert version.logged_by().id == maker.id
        assert version.used_by().ids == [trainer.id]
        assert lg.artifact("net").used_by().ids == [evaluator.id]
        # From the run's end: what it used and made.
        train_view = lg.run(trainer.id)
        assert [v.qualified for v in train_view.used_artifacts()] == [made.qualified]
        assert [v.qualified for v in train_view.logged_artifacts()] == [model.qualified]
        assert len(lg.run(evaluator.id).doc["used_artifacts"]) == 1
        # The graph: digits -> train -> net -> eval, and one more step from the training run.
        graph = lg.lineage(train_view)
        assert [n.label for n in graph.inputs()] == ["digits:v1"]
        assert [n.label for n in graph.outputs()] == ["net:v1"]
        wide = lg.lineage("net:v1", depth=2)
        assert {n.ref for n in wide.nodes} == {"net:v1", trainer.id, evaluator.id, "digits:v1"}
        assert (f"run:p/{trainer.id}", "artifact:p/net:v1") in wide.edges
        # And the filter language sees it.
        assert lg.runs(where="used_artifacts.name == 'digits'").ids == [trainer.id]
        assert lg.runs(where="logged_artifacts.type == 'model'").ids == [trainer.id]

    def test_a_cached_version_is_handed_out_again_and_a_touched_one_is_laid_out_again(self, tmp_dir, cache):
        (tmp_dir / "w.bin").write_bytes(b"original")
        with quiet_init("p", root="results") as run:
            run.log_artifact("w.bin", "w")
            first = Path(run.use_artifact("w"))
            assert first.read_bytes() == b"original"
            assert not os.access(first, os.W_OK) or os.geteuid() == 0
            assert stat.S_IMODE(first.stat().st_mode) == 0o444
            assert first.stat().st_nlink == 2  # a hard link to the cached blob
            os.chmod(first, 0o644)
            first.write_bytes(b"edited!!")  # someone writes through the link
            again = Path(run.use_artifact("w"))
        assert again == first
        assert again.read_bytes() == b"original"

    def test_download_into_a_folder_gives_writable_checked_copies(self, tmp_dir):
        folder_of(tmp_dir / "d", {"a/b.txt": b"bee", "c.txt": b"sea"})
        with quiet_init("p", root="results") as run:
            run.log_artifact("d", "docs")
        out = ledger.open("results").artifact("docs").download(str(tmp_dir / "out"))
        assert out == str(tmp_dir / "out")
        assert (tmp_dir / "out/a/b.txt").read_bytes() == b"bee"
        (tmp_dir / "out/c.txt").write_bytes(b"mine now")  # the caller's own copy

    def test_a_corrupted_blob_is_refused_and_nothing_is_handed_out(self, tmp_dir, cache):
        (tmp_dir / "m.pt").write_bytes(b"good weights" * 100)
        with quiet_init("p", root="results") as run:
            v = run.log_artifact("m.pt", "m")
        (blob,) = blobs(tmp_dir / "results")
        data = bytearray(blob.read_bytes())
        data[10] ^= 0xFF
        blob.write_bytes(bytes(data))
        with (
            quiet_init("p", root="results") as user,
            pytest.raises(ledger.CorruptFileError, match="does not match its sha256"),
        ):
            user.use_artifact("m:v1")
        assert not list((cache / "blobs").rglob(v.sha256["m.pt"]))
        assert "used_artifacts" not in ledger.open("results").run(user.id).doc

    def test_another_projects_artifact_by_its_qualified_name(self, tmp_dir):
        (tmp_dir / "f").write_bytes(b"shared")
        with quiet_init("data-prep", root="results") as run:
            run.log_artifact("f", "corpus")
        with quiet_init("p", root="results") as user:
            assert Path(user.use_artifact("data-prep/corpus:v1")).read_bytes() == b"shared"
        (entry,) = ledger.open("results").run(user.id).doc["used_artifacts"]
        assert entry["project"] == "data-prep"
        assert ledger.open("results").artifact("corpus").used_by().ids == [user.id]


class TestRemote:
    @pytest.mark.parametrize("root_kind", ["memory", pytest.param("s3", marks=pytest.mark.slow)])
    def test_log_dedupe_use_on_a_remote_root(self, tmp_dir, request, root_kind):
        root = request.getfixturevalue(f"{root_kind}_root")
        (tmp_dir / "big.bin").write_bytes(os.urandom(3 * 2**20))
        with quiet_init("p", root=root) as run:
            run.log_artifact("big.bin", "blob", type="model", aliases=["best"])
            run.log_artifact("big.bin", "blob", type="model")
        with quiet_init("p", root=root) as user:
            local = user.use_artifact("blob:best")
        assert Path(local).read_bytes() == (tmp_dir / "big.bin").read_bytes()
        storage = open_storage(root)
        assert len(storage.files_under("p/artifacts/blobs")) == 1
        assert ledger.open(root).artifact("blob:best").used_by().ids == [user.id]


class TestHostile:
    def _version(self, tmp_dir: Path) -> Path:
        (tmp_dir / "f").write_bytes(b"x")
        with quiet_init("p", root="results") as run:
            run.log_artifact("f", "m")
        return tmp_dir / "results/p/artifacts/m/v1.yaml"

    @pytest.mark.parametrize(
        ("change", "message"),
        [
            (lambda d: d["files"][0].update(path="../../etc/passwd"), "not a file of this format"),
            (lambda d: d["files"][0].update(sha256="../x"), "not a file of this format"),
            (lambda d: d.update(version=2), "names m:v2, not m:v1"),
            (lambda d: d.update(format=2), "format 2 is not supported"),
            (lambda d: d.update(source="pipe"), "'source' must be one of file, folder"),
        ],
    )
    def test_a_forged_version_manifest_is_refused(self, tmp_dir, change, message):
        path = self._version(tmp_dir)
        doc = _format.yaml_load(path.read_bytes(), str(path))
        change(doc)
        path.write_bytes(_format.yaml_dump(doc))
        with pytest.raises((ledger.CorruptFileError, ledger.FormatVersionError), match=message):
            ledger.open("results").artifact("m:v1")

    def test_a_symlinked_blob_is_never_followed(self, tmp_dir):
        self._version(tmp_dir)
        (blob,) = blobs(tmp_dir / "results")
        (tmp_dir / "secret").write_bytes(b"x")  # same size and hash as the real content
        blob.unlink()
        blob.symlink_to(tmp_dir / "secret")
        with pytest.raises(ledger.RefusedFileError, match="symlink"):
            ledger.open("results").artifact("m:v1").download()


def test_quota_warns_once_when_init_finds_the_root_past_it(tmp_dir, monkeypatch, caplog):
    from ledger._run import _init

    (tmp_dir / "big").write_bytes(os.urandom(200_000))
    with quiet_init("p", root="results") as run:
        run.log_artifact("big", "data")
    monkeypatch.setattr(_init, "_quota_checked", {})
    monkeypatch.setattr(_init, "_quota_warned", set())
    (tmp_dir / "results/ledger.yaml").write_text("format: 1\nquota_gb: 0.0001\n")  # 107 KB
    caplog.set_level("WARNING", logger="ledger")
    for _ in range(2):
        quiet_init("p", root="results").finish()
        assert _init.quota_thread is not None
        _init.quota_thread.join(30)
    warnings = [r.getMessage() for r in caplog.records if "over its quota" in r.getMessage()]
    assert len(warnings) == 1
    assert "over its quota of 104.9 KB" in warnings[0]
    lg = ledger.open("results")
    summary = lg.storage_summary()
    assert summary["quota_bytes"] == round(0.0001 * 2**30)
    assert summary["used_bytes"] > 200_000


def test_a_run_in_a_fresh_process_uses_what_another_logged(tmp_dir):
    (tmp_dir / "f").write_bytes(b"from process one")
    with quiet_init("p", root="results") as run:
        run.log_artifact("f", "shared")
    code = """
import ledger
with ledger.init("p", root="results", capture_output=False, system_metrics=False) as run:
    print(open(run.use_artifact("shared")).read())
"""
    proc = run_python(code, tmp_dir, env={"LEDGER_ARTIFACT_CACHE": str(tmp_dir / "other-cache")})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "from process one"


def test_docs_format_lists_the_keys_of_versions_and_alias_moves_as_written():
    docs = (Path(__file__).parent.parent / "docs/format.md").read_text()
    section = docs[docs.index("## 11. Artifacts") : docs.index("## 12.")]
    table = [line.split("|")[1].strip().strip("`") for line in section.splitlines() if line.startswith("| `")]
    assert table == [key for key, _ in _format.VERSION_KEYS]
    moves = "{" + ", ".join(key if key != "format" else "format: 1" for key, _ in _format.ALIAS_KEYS) + "}"
    assert f"`{moves}`" in section


class TestCommandLine:
    @pytest.fixture
    def root(self, tmp_dir) -> Path:
        folder_of(tmp_dir / "data", {"a.csv": b"1\n" * 500, "b.csv": b"2\n"})
        with quiet_init("p", root="results", name="prep") as prep:
            prep.log_artifact("data", "digits", type="dataset", metadata={"rows": 501})
        with quiet_init("p", root="results", name="train") as train:
            train.use_artifact("digits")
            (tmp_dir / "m.pt").write_bytes(b"w" * 4000)
            train.log_artifact("m.pt", "net", type="model", aliases=["best"])
            train.log_artifact("m.pt", "net", type="model")
        return tmp_dir / "results"

    def test_ls_lists_artifacts_then_one_artifacts_versions(self, root, ledger_cli):
        code, out, _ = ledger_cli("artifact", "ls", "--root", str(root), "--format", "json")
        assert code == 0
        rows = {r["name"]: r for r in json.loads(out)}
        assert rows["digits"]["type"] == "dataset"
        assert rows["net"]["versions"] == 2
        assert rows["net"]["size"] == 4000
        code, out, _ = ledger_cli("artifact", "ls", "net", "--root", str(root), "--format", "json")
        assert [(r["version"], r["aliases"]) for r in json.loads(out)] == [("v1", "best"), ("v2", "")]
        code, out, _ = ledger_cli("artifact", "ls", "--root", str(root), "--type", "model", "--format", "csv")
        assert out.splitlines()[1].startswith("p,net,model,2,")

    def test_show_get_and_lineage_from_both_ends(self, root, ledger_cli, tmp_dir):
        code, out, _ = ledger_cli("artifact", "show", "digits:v1", "--root", str(root), "--format", "json")
        assert code == 0
        doc = json.loads(out)
        lg = ledger.open(str(root))
        train = lg.run("train")
        assert doc["run"] == lg.run("prep").id
        assert doc["used_by"] == [train.id]
        assert doc["metadata"] == {"rows": 501}
        assert [f["path"] for f in doc["files"]] == ["a.csv", "b.csv"]
        code, out, _ = ledger_cli("artifact", "show", "net:best", "--root", str(root))
        assert "p/net:v1" in out
        assert "logged by  " + train.id in out
        code, out, _ = ledger_cli("artifact", "get", "digits", "--root", str(root), "--dest", str(tmp_dir / "got"))
        assert code == 0
        assert out.strip() == str(tmp_dir / "got")
        assert (tmp_dir / "got/a.csv").read_bytes() == b"1\n" * 500
        code, out, _ = ledger_cli("artifact", "lineage", "digits", "--root", str(root))
        assert code == 0
        assert f"made by  run p/{lg.run('prep').id} prep" in out
        assert f"used by  run p/{train.id} train" in out
        code, out, _ = ledger_cli("artifact", "lineage", "--run", "train", "--root", str(root), "--format", "json")
        graph = json.loads(out)
        assert graph["center"] == f"run:p/{train.id}"
        assert {e["from"] for e in graph["edges"] if e["to"] == graph["center"]} == {"artifact:p/digits:v1"}
        assert {e["to"] for e in graph["edges"] if e["from"] == graph["center"]} == {
            "artifact:p/net:v1",
            "artifact:p/net:v2",
        }

    def test_a_reference_that_names_nothing_is_a_one_line_error(self, root, ledger_cli):
        code, _out, err = ledger_cli("artifact", "show", "digitz", "--root", str(root))
        assert code == 1
        assert "no artifact 'digitz'" in err
        assert "its artifacts: p/digits, p/net" in err
        code, _out, err = ledger_cli("artifact", "lineage", "--root", str(root))
        assert code == 2

    def test_du_counts_each_blob_once_and_says_what_deduplication_saved(self, root, ledger_cli):
        code, out, _ = ledger_cli("du", "--root", str(root), "--by", "kind")
        assert code == 0
        assert "artifacts: 3 versions of 8.8 KB stored as 3 blobs in 4.9 KB, each counted once" in out
        assert "(deduplication saved 3.9 KB)" in out
        assert "no quota" in out
        (root / "ledger.yaml").write_text("format: 1\nquota_gb: 1\n")
        code, out, err = ledger_cli("du", "--root", str(root), "--format", "json")
        rows = json.loads(out)  # stdout stays JSON; the totals go to stderr
        assert sum(r["bytes"] for r in rows) == sum(p.stat().st_size for p in (root / "p").rglob("*") if p.is_file())
        assert "of 1.0 GB (0%)" in err

    def test_hostile_metadata_is_shown_as_escapes(self, tmp_dir, ledger_cli):
        (tmp_dir / "f").write_bytes(b"x")
        with quiet_init("p", root="results") as run:
            run.log_artifact("f", "m", metadata={"note": "\x1b]0;pwned\x07"})
        code, out, _ = ledger_cli("artifact", "show", "m", "--root", "results")
        assert code == 0
        assert "\x1b" not in out
        assert "\\x1b]0;pwned\\x07" in out


class TestVerify:
    def test_a_corrupted_blob_is_found_by_verify_deep(self, tmp_dir, ledger_cli):
        (tmp_dir / "m.pt").write_bytes(b"weights" * 1000)
        with quiet_init("p", root="results") as run:
            run.log_artifact("m.pt", "m")
        code, out, _ = ledger_cli("verify", "--root", "results", "--deep")
        assert code == 0, out
        assert "1 artifact versions and 1 blobs (hashed): 0 errors" in out
        (blob,) = blobs(tmp_dir / "results")
        data = bytearray(blob.read_bytes())
        data[-1] ^= 1  # same size: only the hash tells
        blob.write_bytes(bytes(data))
        code, out, _ = ledger_cli("verify", "--root", "results")
        assert code == 0
        code, out, _ = ledger_cli("verify", "--root", "results", "--deep")
        assert code == 1
        assert f"error    {blob}: its content hashes to" in out
        assert "not to its name: damaged" in out

    def test_missing_blobs_versions_and_alias_targets_are_errors(self, tmp_dir, ledger_cli):
        folder_of(tmp_dir / "d", {"a": b"1", "b": b"22"})
        with quiet_init("p", root="results") as run:
            run.log_artifact("d", "data", aliases=["best"])
            run.log_artifact("d/a", "other")
        with quiet_init("p", root="results") as user:
            user.use_artifact("other:v1")
        root = tmp_dir / "results"
        victim = next(b for b in blobs(root) if b.read_bytes() == b"22")
        victim.unlink()
        (root / "p/artifacts/data/aliases/best/2.yaml").write_bytes(
            _format.AliasMove("best", 7, "2026-11-27T02:03:04.123Z", None).to_yaml()
        )
        (root / "p/artifacts/other/v1.yaml").rename(root / "p/artifacts/other/v3.yaml")
        (root / "p/artifacts/data/notes.txt").write_text("hello")
        code, out, _ = ledger_cli("verify", "--root", "results")
        assert code == 1
        assert f"{victim}: missing (a version names it)" in out
        assert "v3.yaml: names other:v1, not other:v3" in out
        assert "best/2.yaml: points to v7, which 'data' does not have" in out
        assert "notes.txt: not a file of the format" in out
        assert "used_artifacts names p/other:v1, which the ledger does not hold" in out


class TestPublish:
    @pytest.fixture
    def lab(self, tmp_dir) -> Path:
        folder_of(tmp_dir / "data", {"x.bin": os.urandom(5000)})
        with quiet_init("p", root="results", group="final", name="prep") as prep:
            prep.log_artifact("data", "corpus", type="dataset", aliases=["gold"])
        with quiet_init("p", root="results", group="final", name="train") as train:
            train.use_artifact("corpus:gold")
            (tmp_dir / "m.pt").write_bytes(b"m" * 3000)
            train.log_artifact("m.pt", "net", type="model")
        with quiet_init("p", root="results", group="scratch", name="junk") as junk:
            (tmp_dir / "junk.bin").write_bytes(b"j" * 7000)
            junk.log_artifact("junk.bin", "junk")
        return tmp_dir / "results"

    def test_publish_copies_the_versions_its_runs_used_or_logged_and_they_read_over_http(
        self, lab, ledger_cli, tmp_dir, cache
    ):
        import http.server
        import threading

        code, out, err = ledger_cli("publish", str(tmp_dir / "site"), "--root", str(lab), "--where", "group == 'final'")
        assert code == 0, err
        assert "published 2 runs and 2 artifact versions" in out
        site = tmp_dir / "site"
        assert sorted(p.name for p in (site / "p/artifacts").iterdir()) == ["blobs", "corpus", "net"]
        assert len(blobs(site)) == 2  # junk's blob stays home
        assert (site / "p/artifacts/corpus/aliases/gold/1.yaml").exists()
        index = json.loads((site / "index.json").read_text())
        assert sorted(index["artifacts"]) == sorted(
            str(p.relative_to(site)) for p in (site / "p/artifacts").rglob("*") if p.is_file()
        )
        server = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), lambda *a: http.server.SimpleHTTPRequestHandler(*a, directory=str(site))
        )
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            remote = ledger.open(f"http://127.0.0.1:{server.server_address[1]}/")
            corpus = remote.artifact("corpus:gold")
            assert corpus.used_by().ids == [remote.run("train").id]
            local = Path(corpus.download())
            assert (local / "x.bin").read_bytes() == (tmp_dir / "data/x.bin").read_bytes()
            assert [v.ref for v in remote.run("train").logged_artifacts()] == ["net:v1"]
        finally:
            server.shutdown()
            server.server_close()

    def test_no_artifacts_and_republishing_leave_out_what_is_not_selected(self, lab, ledger_cli, tmp_dir):
        code, _out, err = ledger_cli("publish", str(tmp_dir / "bare"), "--root", str(lab), "--no-artifacts")
        assert code == 0, err
        assert not (tmp_dir / "bare/p/artifacts").exists()
        assert "artifacts" not in json.loads((tmp_dir / "bare/index.json").read_text())
        ledger_cli("publish", str(tmp_dir / "site"), "--root", str(lab))
        assert len(blobs(tmp_dir / "site")) == 3
        code, _out, _ = ledger_cli("publish", str(tmp_dir / "site"), "--root", str(lab), "--where", "name == 'junk'")
        assert code == 0
        assert [p.read_bytes() for p in blobs(tmp_dir / "site")] == [b"j" * 7000]
        assert not (tmp_dir / "site/p/artifacts/corpus/v1.yaml").exists()

    def test_a_symlinked_blob_is_not_published(self, lab, ledger_cli, tmp_dir):
        (tmp_dir / "secret").write_bytes(b"s" * 3000)
        net_blob = next(b for b in blobs(lab) if b.read_bytes() == b"m" * 3000)
        net_blob.unlink()
        net_blob.symlink_to(tmp_dir / "secret")
        code, _out, err = ledger_cli("publish", str(tmp_dir / "site"), "--root", str(lab), "--public")
        assert code == 0
        assert "not copied (a symlink or special file)" in err
        assert not any(p.read_bytes() == b"s" * 3000 for p in (tmp_dir / "site").rglob("*") if p.is_file())
        assert not (tmp_dir / "site/p/artifacts/net").exists()


class TestCommit:
    def test_commit_takes_the_versions_its_runs_used_and_logged_and_names_lfs_for_large_blobs(
        self, tmp_path, ledger_cli, monkeypatch
    ):
        from tests.helpers import git, new_repo

        repo = new_repo(tmp_path / "code")
        monkeypatch.chdir(repo)
        (repo / "data.bin").write_bytes(os.urandom(2 * 2**20))
        with quiet_init("paper", root="results", name="prep") as prep:
            prep.log_artifact("data.bin", "corpus", aliases=["gold"])
        with quiet_init("paper", root="results", name="train") as train:
            train.use_artifact("corpus:gold")
        with quiet_init("paper", root="results", name="other") as other:
            (repo / "other.bin").write_bytes(b"not committed")
            other.log_artifact("other.bin", "unrelated")
        code, out, err = ledger_cli("commit", train.id, "--size-limit", "1")
        assert code == 0, err
        assert "committed 1 run with 1 artifact versions" in out
        (blob,) = [p for p in blobs(repo / "results", "paper") if p.stat().st_size == 2 * 2**20]
        tracked = set(git(repo, "ls-files").splitlines())
        assert {
            "results/paper/artifacts/corpus/v1.yaml",
            "results/paper/artifacts/corpus/aliases/gold/1.yaml",
            str(blob.relative_to(repo)),
        } <= tracked
        assert not any("unrelated" in p or p.startswith(f"results/paper/runs/{prep.id}") for p in tracked)
        assert f"warning: {blob.relative_to(repo)} is 2 MB (over 1 MB)" in err
        assert "git lfs track 'results/paper/artifacts/blobs/**'" in err
        code, out, _ = ledger_cli("commit", train.id)
        assert "nothing to commit" in out
