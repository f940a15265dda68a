"""Names in the tree: the format version, file and folder names, run and sweep ids, paths, times."""

from __future__ import annotations

import re
import secrets
import time
from datetime import datetime

from ledger._errors import InvalidNameError

FORMAT_VERSION = 1

ROOT_MARKER = "ledger.yaml"
ROOT_GITIGNORE = ".gitignore"
CACHE_DIR = ".cache"
RUNS_DIR = "runs"
SWEEPS_DIR = "sweeps"
SWEEP_CONFIG = "sweep.yaml"
SWEEP_CLAIMS = "claims"  # claims/<n> per trial, claims/<n>.<k> for its k-th reclaim
SWEEP_AGENTS = "agents"  # agents/<agent-id>.yaml: an agent's heartbeat
SWEEP_STOP = "stop.yaml"  # made by `ledger sweep stop`: no new claims
SWEEP_SLURM = "slurm"  # slurm/<launch>.sbatch and <launch>.yaml per `ledger sweep launch --slurm`; %A_%a.out
ARTIFACTS_DIR = "artifacts"  # <project>/artifacts/: versioned files (docs/format.md, section 11)
ARTIFACT_BLOBS = "blobs"  # <project>/artifacts/blobs/<sha256[:2]>/<sha256>: each file's content, once
ARTIFACT_ALIASES = "aliases"  # <project>/artifacts/<name>/aliases/<alias>/<k>.yaml: the k-th move
MANIFEST = "run.yaml"
PATCH = "code.patch"
REQUIREMENTS = "requirements.txt"
FILES_DIR = "files"
MEDIA_DIR = "media"
# A folder made by `ledger publish`: a root with these two files beside the runs.
PUBLICATION_INDEX = "index.json"
PUBLICATION_REPORT = "index.html"
PUBLICATION_KIND = "ledger-publication"

_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_SEGMENT_RE = re.compile(r"([a-z]+)\.(\d+)\.([a-z]+)")

# ---- names and paths --------------------------------------------------------------------


def check_name(kind: str, value: object) -> str:
    """Return ``value`` if it can be one path component (project, run id, sweep id)."""
    if not isinstance(value, str) or not _NAME_RE.fullmatch(value):
        msg = (
            f"{kind} {value!r} cannot be used: use 1-128 letters, digits, '.', '_' or '-', "
            f"starting with a letter or digit (no '/', no '..', no spaces)"
        )
        raise InvalidNameError(msg)
    return value


def sanitize_name(value: str, fallback: str = "default") -> str:
    """Make a valid name out of a folder name (for default project names)."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", value).strip("-._")[:128]
    return cleaned or fallback


def check_relative_file(value: str) -> str:
    """Return a '/'-separated relative path that stays inside its folder, or raise."""
    parts = value.replace("\\", "/").split("/")
    if value.startswith(("/", "\\")) or any(p in ("", ".", "..") for p in parts) or ":" in parts[0]:
        msg = (
            f"file name {value!r} would leave the run folder: give a relative path without "
            f"'..' or a leading '/', e.g. 'model.pt' or 'checkpoints/last.pt'"
        )
        raise InvalidNameError(msg)
    return "/".join(parts)


def project_dir(project: str) -> str:
    return check_name("project", project)


def runs_dir(project: str) -> str:
    return f"{project_dir(project)}/{RUNS_DIR}"


def run_dir(project: str, run_id: str) -> str:
    return f"{runs_dir(project)}/{check_name('run id', run_id)}"


def sweep_dir(project: str, sweep_id: str) -> str:
    return f"{project_dir(project)}/{SWEEPS_DIR}/{check_name('sweep id', sweep_id)}"


def artifacts_dir(project: str) -> str:
    return f"{project_dir(project)}/{ARTIFACTS_DIR}"


def artifact_dir(project: str, name: str) -> str:
    """The folder of one artifact's versions (``name`` checked by the caller: see _artifacts)."""
    return f"{artifacts_dir(project)}/{check_name('artifact name', name)}"


def blob_path(project: str, sha256: str) -> str:
    """Where a file's content is kept: ``<project>/artifacts/blobs/<first 2 hex digits>/<sha256>``."""
    return f"{artifacts_dir(project)}/{ARTIFACT_BLOBS}/{sha256[:2]}/{sha256}"


def alias_dir(project: str, name: str, alias: str) -> str:
    return f"{artifact_dir(project, name)}/{ARTIFACT_ALIASES}/{check_name('alias', alias)}"


def segment_name(n: int, stem: str = "metrics", ext: str = "jsonl") -> str:
    """Name of the n-th segment of a stream (``metrics.<n>.jsonl``), for stores that cannot append."""
    return f"{stem}.{n}.{ext}"


def segment_number(name: str, stem: str = "metrics", ext: str = "jsonl") -> int | None:
    """The n of ``<stem>.<n>.<ext>``, or None for any other name."""
    m = _SEGMENT_RE.fullmatch(name)
    return int(m.group(2)) if m and m.group(1) == stem and m.group(3) == ext else None


# ---- time ----------------------------------------------------------------------------


def iso(t: float) -> str:
    """ISO-8601 UTC with milliseconds: 2026-11-27T02:03:04.123Z."""
    ms = round(t * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"


def parse_iso(s: str) -> float:
    """Seconds since the epoch of an ISO-8601 timestamp written by :func:`iso`."""
    return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


_ADJECTIVES = (
    "amber", "bold", "brisk", "calm", "clever", "crisp", "dapper", "eager", "fancy", "gentle",
    "golden", "happy", "jolly", "keen", "lively", "lucky", "mellow", "misty", "noble", "proud",
    "quiet", "rapid", "silent", "sleek", "snowy", "solar", "steady", "swift", "tidy", "vivid",
    "warm", "witty",
)  # fmt: skip
_NOUNS = (
    "badger", "bison", "cedar", "comet", "crane", "delta", "ember", "falcon", "fjord", "glade",
    "harbor", "heron", "island", "lark", "lynx", "maple", "meadow", "nebula", "otter", "pine",
    "quartz", "raven", "river", "sparrow", "spruce", "summit", "tiger", "tundra", "valley",
    "walrus", "willow", "zephyr",
)  # fmt: skip


def new_run_id(t: float) -> str:
    """A run id: UTC time of creation and 6 random hex digits, e.g. 20261127-020304-3f9a1c."""
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime(t)) + "-" + secrets.token_hex(3)


def default_run_name(run_id: str) -> str:
    """A readable name derived from the id's random part, e.g. 'brisk-otter-3f9a'."""
    tail = run_id.rsplit("-", 1)[-1]
    try:
        bits = int(tail, 16)
    except ValueError:
        bits = sum(tail.encode())
    return f"{_ADJECTIVES[bits % 32]}-{_NOUNS[(bits // 32) % 32]}-{tail[:4]}"
