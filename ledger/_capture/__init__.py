"""What a run records about where it ran: host, command, code state, packages, user.

Everything here reads the local machine (not the ledger tree) and must never stop a run:
a capture that fails leaves its fields null, with one warning.
"""

from ledger._capture._command import capture_command, current_user
from ledger._capture._git import CodeState, capture_git
from ledger._capture._host import capture_allocation, capture_host, scheduler_job, visible_gpu_count
from ledger._capture._packages import requirements_txt

__all__ = [
    "CodeState",
    "capture_allocation",
    "capture_command",
    "capture_git",
    "capture_host",
    "current_user",
    "requirements_txt",
    "scheduler_job",
    "visible_gpu_count",
]
