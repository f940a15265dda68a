"""How runs end: finished, failed, killed, crashed. Each case in a real child process."""

from __future__ import annotations

import signal
import sys
import time

import pytest

from ledger import _format
from tests.helpers import all_runs, history, run_python, start_python

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

PRELUDE = """
import sys, time, ledger
run = ledger.init("p", root="results", config={"lr": 0.1}, system_metrics=False, flush_interval=0.2)
"""


def _only_run(tmp_path):
    (m,) = all_runs(tmp_path / "results")
    return m


def _wait_for_line(proc, text: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if text in line:
            return
        if not line and proc.poll() is not None:
            break
    msg = f"child never printed {text!r}; stderr: {proc.stderr.read()}"
    raise AssertionError(msg)


def test_normal_exit_without_finish_is_finished(tmp_path):
    proc = run_python(PRELUDE + "run.log({'a': 1})\nprint('bye')\n", tmp_path)
    assert proc.returncode == 0, proc.stderr
    m = _only_run(tmp_path)
    assert m.status == "finished"
    assert m.ended is not None
    assert [r["a"] for r in history(tmp_path / "results", "p", m.id)] == [1]


def test_uncaught_exception_is_failed_with_traceback_and_exit_code_kept(tmp_path):
    code = PRELUDE + "run.log({'a': 1})\ndef train():\n    raise RuntimeError('exploding gradients')\ntrain()\n"
    proc = run_python(code, tmp_path)
    assert proc.returncode == 1
    assert "RuntimeError: exploding gradients" in proc.stderr  # the user still sees it
    m = _only_run(tmp_path)
    assert m.status == "failed"
    assert m.error.startswith("Traceback (most recent call last):")
    assert "in train" in m.error
    assert m.error.endswith("RuntimeError: exploding gradients")
    assert [r["a"] for r in history(tmp_path / "results", "p", m.id)] == [1]


def test_user_excepthook_still_runs(tmp_path):
    code = (
        "import sys\nsys.excepthook = lambda *a: print('user hook ran', file=sys.stderr)\n"
        + PRELUDE
        + "raise ValueError('x')\n"
    )
    proc = run_python(code, tmp_path)
    assert "user hook ran" in proc.stderr
    assert _only_run(tmp_path).status == "failed"


def test_keyboard_interrupt_is_killed(tmp_path):
    proc = run_python(PRELUDE + "run.log({'a': 1})\nraise KeyboardInterrupt\n", tmp_path)
    assert proc.returncode != 0
    assert _only_run(tmp_path).status == "killed"


def test_sigint_is_killed(tmp_path):
    code = PRELUDE + "print('ready', flush=True)\nwhile True:\n    run.log({'a': 1.0})\n    time.sleep(0.01)\n"
    with start_python(code, tmp_path) as proc:
        _wait_for_line(proc, "ready")
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    assert _only_run(tmp_path).status == "killed"


def test_sigterm_is_killed_and_the_process_still_dies_of_sigterm(tmp_path):
    code = PRELUDE + "print('ready', flush=True)\nwhile True:\n    run.log({'a': 1.0})\n    time.sleep(0.01)\n"
    with start_python(code, tmp_path) as proc:
        _wait_for_line(proc, "ready")
        time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == -signal.SIGTERM
    m = _only_run(tmp_path)
    assert m.status == "killed"
    assert m.error == "terminated by signal SIGTERM"
    assert len(history(tmp_path / "results", "p", m.id)) > 0


def test_sigterm_in_a_scheduler_job_is_preempted_and_a_second_one_does_not_cut_the_finish_short(tmp_path):
    code = PRELUDE + "print('ready', flush=True)\nwhile True:\n    run.log({'a': 1.0})\n    time.sleep(0.01)\n"
    env = {"SLURM_JOB_ID": "77", "SLURM_ARRAY_JOB_ID": "70", "SLURM_ARRAY_TASK_ID": "7"}
    with start_python(code, tmp_path, env=env) as proc:
        _wait_for_line(proc, "ready")
        time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)  # a scheduler signals every process; an agent passes it on
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == -signal.SIGTERM
    m = _only_run(tmp_path)
    assert m.status == "killed"
    assert m.stop_reason == "preempted"
    assert m.error == "terminated by signal SIGTERM in SLURM job 77 (array 70_7)"
    assert m.allocation is not None
    assert m.allocation["job_id"] == "77"


def test_sigterm_with_a_user_handler_lets_the_user_decide(tmp_path):
    code = (
        "import signal\nstop = []\nsignal.signal(signal.SIGTERM, lambda *a: stop.append(1))\n"
        + PRELUDE
        + "print('ready', flush=True)\n"
        + "while not stop:\n    run.log({'a': 1.0})\n    time.sleep(0.01)\n"
        + "run.log({'after_signal': 1.0})\nprint('clean exit', flush=True)\n"
    )
    with start_python(code, tmp_path) as proc:
        _wait_for_line(proc, "ready")
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "clean exit" in out
    m = _only_run(tmp_path)
    assert m.status == "killed"
    assert "after_signal" in history(tmp_path / "results", "p", m.id)[-1]


def test_sys_exit_in_a_with_block(tmp_path):
    code = """
import sys, ledger
with ledger.init("p", root="results", system_metrics=False) as run:
    run.log({"a": 1})
    sys.exit(3)
"""
    proc = run_python(code, tmp_path)
    assert proc.returncode == 3
    assert _only_run(tmp_path).status == "failed"


@pytest.mark.slow
def test_sigkill_loses_at_most_one_flush_interval_and_reads_as_crashed(tmp_path):
    flush, heartbeat = 0.2, 0.5
    code = f"""
import time, ledger
run = ledger.init("p", root="results", system_metrics=False, flush_interval={flush})
print("ready", flush=True)
i = 0
while True:
    run.log({{"i": i}})
    i += 1
    time.sleep(0.001)
"""
    with start_python(code, tmp_path, env={"LEDGER_HEARTBEAT_INTERVAL": str(heartbeat)}) as proc:
        _wait_for_line(proc, "ready")
        time.sleep(2.0)
        killed_at = time.time()
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)

    m = _only_run(tmp_path)
    records = history(tmp_path / "results", "p", m.id)  # parses (a torn tail is skipped)
    assert [r["i"] for r in records] == list(range(len(records)))  # no gap, in order
    # Every record logged before the last flush interval (plus scheduling slack) is on disk.
    assert records[-1]["_time"] >= killed_at - flush - 0.3
    assert m.status == "running"  # as written; readers infer the rest
    time.sleep(_format.STALE_AFTER_INTERVALS * heartbeat + 0.2)
    assert _only_run(tmp_path).effective_status() == "crashed"


def test_forked_child_cannot_write_the_parents_run(tmp_path):
    code = """
import multiprocessing as mp, ledger
run = ledger.init("p", root="results", system_metrics=False)
run.log({"a": 1})

def child(q):
    try:
        run.log({"a": 2})
        q.put("logged")
    except ledger.RunStateError as exc:
        q.put(str(exc))
    q.put(repr(ledger.active_run()))

if __name__ == "__main__":
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=child, args=(q,))
    p.start(); p.join()
    print(q.get()); print(q.get())
    run.log({"a": 3})
    run.finish()
"""
    proc = run_python(code, tmp_path)
    assert proc.returncode == 0, proc.stderr
    message, active = proc.stdout.splitlines()
    assert "is a forked child" in message
    assert "log from the parent" in message
    assert active == "None"
    m = _only_run(tmp_path)
    assert m.status == "finished"
    assert [r["a"] for r in history(tmp_path / "results", "p", m.id)] == [1, 3]
