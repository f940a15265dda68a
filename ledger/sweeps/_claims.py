"""The files agents coordinate through, under ``<project>/sweeps/<sweep-id>/``.

- ``claims/<n>``: trial n, made with an exclusive create by the agent that runs it. Only
  that agent rewrites it afterwards (to record how the trial ended).
- ``claims/<n>.<k>``: the k-th reclaim of trial n, made the same way by an agent that
  found the previous holder's lease expired. The highest k is the current holder.
- ``agents/<agent-id>.yaml``: each agent's heartbeat, rewritten by that agent only.
- ``stop.yaml``: made by ``ledger sweep stop``; agents then claim nothing new.

No file has two writers, so the folder needs no locks: exclusive create decides races.
"""

from __future__ import annotations

import re
import socket
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ledger import _format, _settings
from ledger._capture import capture_allocation, current_user
from ledger._storage import retrying

if TYPE_CHECKING:
    from ledger._storage import Storage

_CLAIM_NAME = re.compile(r"(\d+)(?:\.(\d+))?")


def lease_seconds() -> float:
    """``$LEDGER_SWEEP_LEASE``: seconds without an agent heartbeat after which its claim
    may be taken over (default 120). The agent heartbeats every quarter of it."""
    return _settings.get(_settings.SWEEP_LEASE)


def hostname() -> str:
    return socket.gethostname()


def _load(storage: Storage, rel: str) -> dict[str, Any]:
    doc = _format.yaml_load(retrying(lambda: storage.read_bytes(rel)), storage.full(rel))
    return doc if isinstance(doc, dict) else {}


@dataclass
class Claim:
    """The content of a claim file."""

    trial: int
    attempt: int
    agent: str
    host: str
    pid: int
    claimed: str
    params: dict[str, Any]
    reclaimed_from: str | None = None
    ended: str | None = None
    outcome: str | None = None
    runs: list[str] = field(default_factory=list)

    def to_yaml(self) -> bytes:
        return _format.yaml_dump(
            {
                "trial": self.trial,
                "attempt": self.attempt,
                "agent": self.agent,
                "host": self.host,
                "pid": self.pid,
                "claimed": self.claimed,
                "params": self.params,
                "reclaimed_from": self.reclaimed_from,
                "ended": self.ended,
                "outcome": self.outcome,
                "runs": self.runs,
            }
        )

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Claim:
        return cls(
            trial=int(doc.get("trial") or 0),
            attempt=int(doc.get("attempt") or 0),
            agent=str(doc.get("agent") or ""),
            host=str(doc.get("host") or ""),
            pid=int(doc.get("pid") or 0),
            claimed=str(doc.get("claimed") or ""),
            params=dict(doc.get("params") or {}),
            reclaimed_from=doc.get("reclaimed_from"),
            ended=doc.get("ended"),
            outcome=doc.get("outcome"),
            runs=list(doc.get("runs") or []),
        )


@dataclass
class AgentBeat:
    """The content of ``agents/<agent-id>.yaml``."""

    agent: str
    host: str
    pid: int
    user: str | None
    started: str
    heartbeat: str
    lease_s: float
    trial: int | None = None
    trials_run: int = 0
    ended: str | None = None
    job: str | None = None  # the scheduler job it runs in: <array job>_<task> for a SLURM array task

    def to_yaml(self) -> bytes:
        return _format.yaml_dump(dict(self.__dict__))

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> AgentBeat:
        return cls(
            agent=str(doc.get("agent") or ""),
            host=str(doc.get("host") or ""),
            pid=int(doc.get("pid") or 0),
            user=doc.get("user"),
            started=str(doc.get("started") or ""),
            heartbeat=str(doc.get("heartbeat") or ""),
            lease_s=float(doc.get("lease_s") or _settings.SWEEP_LEASE.default),
            trial=doc.get("trial"),
            trials_run=int(doc.get("trials_run") or 0),
            ended=doc.get("ended"),
            job=str(doc["job"]) if doc.get("job") is not None else None,
        )

    def alive(self, now: float) -> bool:
        """Still heartbeating within its lease, and not ended."""
        if self.ended or not self.heartbeat:
            return False
        return now - _format.parse_iso(self.heartbeat) <= self.lease_s


class SweepFiles:
    """Reading and writing the coordination files of one sweep folder."""

    def __init__(self, storage: Storage, project: str, sweep_id: str) -> None:
        self.storage = storage
        self.dir = _format.sweep_dir(project, sweep_id)

    # -- claims --------------------------------------------------------------------------

    def claim_path(self, trial: int, attempt: int = 0) -> str:
        name = str(trial) if attempt == 0 else f"{trial}.{attempt}"
        return f"{self.dir}/{_format.SWEEP_CLAIMS}/{name}"

    def claimed(self) -> dict[int, int]:
        """Every claimed trial with its latest attempt number, from one listing."""
        out: dict[int, int] = {}
        for entry in self.storage.list_dir(f"{self.dir}/{_format.SWEEP_CLAIMS}"):
            m = _CLAIM_NAME.fullmatch(entry.name)
            if m and not entry.is_dir:
                trial, attempt = int(m.group(1)), int(m.group(2) or 0)
                out[trial] = max(out.get(trial, 0), attempt)
        return out

    def try_claim(self, claim: Claim) -> bool:
        """Exclusive-create the claim file; False if another agent made it first."""
        path = self.claim_path(claim.trial, claim.attempt)
        try:
            retrying(lambda: self.storage.create_exclusive(path, claim.to_yaml()))
        except FileExistsError:
            return False
        return True

    def read_claim(self, trial: int, attempt: int) -> Claim:
        return Claim.from_doc(_load(self.storage, self.claim_path(trial, attempt)))

    def update_claim(self, claim: Claim) -> None:
        """Rewrite one's own claim (how the trial ended)."""
        path = self.claim_path(claim.trial, claim.attempt)
        retrying(lambda: self.storage.write_atomic(path, claim.to_yaml()))

    # -- agents --------------------------------------------------------------------------

    def agent_path(self, agent_id: str) -> str:
        return f"{self.dir}/{_format.SWEEP_AGENTS}/{_format.check_name('agent id', agent_id)}.yaml"

    def write_agent(self, beat: AgentBeat) -> None:
        path = self.agent_path(beat.agent)
        data = beat.to_yaml()
        retrying(lambda: self.storage.write_atomic(path, data))

    def agents(self) -> dict[str, AgentBeat]:
        out = {}
        for entry in self.storage.list_dir(f"{self.dir}/{_format.SWEEP_AGENTS}"):
            if entry.name.endswith(".yaml") and not entry.is_dir:
                try:
                    beat = AgentBeat.from_doc(_load(self.storage, f"{self.dir}/{_format.SWEEP_AGENTS}/{entry.name}"))
                except (FileNotFoundError, ValueError):
                    continue
                out[beat.agent] = beat
        return out

    # -- stop ----------------------------------------------------------------------------

    def stop(self) -> bool:
        """Make the stop marker; False if the sweep was already stopped."""
        doc = {"stopped": _format.iso(time.time()), "user": current_user(), "host": hostname()}
        path = f"{self.dir}/{_format.SWEEP_STOP}"
        try:
            retrying(lambda: self.storage.create_exclusive(path, _format.yaml_dump(doc)))
        except FileExistsError:
            return False
        return True

    def stopped(self) -> dict[str, Any] | None:
        """The stop marker's content, or None while the sweep runs."""
        try:
            return _load(self.storage, f"{self.dir}/{_format.SWEEP_STOP}")
        except FileNotFoundError:
            return None


def lease_expired(claim: Claim, beat: AgentBeat | None, now: float, default_lease: float) -> bool:
    """Whether the claim's agent stopped heartbeating for longer than its lease."""
    if beat is not None and beat.alive(now) and beat.trial == claim.trial:
        return False
    last = _format.parse_iso(claim.claimed) if claim.claimed else 0.0
    lease = default_lease
    if beat is not None:
        if beat.ended and beat.trial != claim.trial:
            return True  # the agent ended without finishing it
        if beat.heartbeat:
            last = max(last, _format.parse_iso(beat.heartbeat))
        lease = beat.lease_s
    return now - last > lease


def scheduler_job_id() -> str | None:
    """The job scheduler's id of this process's job: ``<array job>_<task>`` for an array task
    (SLURM's spelling, which squeue and scancel take), else the job id; None outside a job."""
    found = capture_allocation()
    if found is None:
        return None
    array, task = found.get("array_job_id"), found.get("array_task_id")
    if array is not None and task is not None:
        return f"{array}_{task}"
    return str(found.get("job_id")) if found.get("job_id") is not None else None
