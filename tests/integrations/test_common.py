"""What every integration relies on: light imports, the run they hold, plain config values."""

from __future__ import annotations

import dataclasses
import enum
import json

import ledger
from ledger.integrations._common import RunHolder, plain
from tests.helpers import run_python

QUIET = {"capture_output": False, "system_metrics": False}
FRAMEWORKS = {
    "keras", "tensorflow", "torch", "lightning", "transformers", "sklearn", "optuna", "IPython",
    "xgboost", "lightgbm", "accelerate", "fastai", "ignite",
}  # fmt: skip


def test_importing_the_integrations_package_or_the_sklearn_module_imports_no_framework(tmp_path):
    code = f"""
import json, sys
import ledger, ledger.integrations, ledger.integrations.sklearn
print(json.dumps(sorted({{m.split(".")[0] for m in sys.modules}}.intersection({sorted(FRAMEWORKS)!r}))))
"""
    proc = run_python(code, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == []


def test_run_step_is_the_next_automatic_step(tmp_path):
    with ledger.init("c", root=tmp_path, **QUIET) as run:
        assert run.step == 0
        run.log({"a": 1})
        run.log({"a": 2}, step=10)
        assert run.step == 11


def test_an_owned_run_is_reopened_when_results_come_after_its_end(tmp_path):
    holder = RunHolder("test", None, {"project": "c", "root": tmp_path, "group": "g", **QUIET})
    first = holder.begin()
    first.log({"loss": 1.0})
    holder.end()
    assert first.status == "finished"
    again = holder.get()
    assert again is not first
    assert (again.id, again.status, again.group) == (first.id, "running", "g")
    again.log({"test/loss": 0.5})
    holder.end()
    view = ledger.open(tmp_path).run(first.id)
    assert view.status == "finished"
    assert [r["_step"] for r in view.records()] == [0, 1]


def test_a_given_run_is_never_finished_by_the_holder(tmp_path):
    with ledger.init("c", root=tmp_path, **QUIET) as run:
        holder = RunHolder("test", run, {})
        assert holder.begin() is run
        holder.end("failed", "no")
        assert run.status == "running"


def test_plain_makes_framework_values_yaml_data():
    class Color(enum.Enum):
        RED = "red"

    @dataclasses.dataclass
    class Opt:
        lr: float = 0.1

    value = {
        1: Color.RED,
        "fn": plain,
        "cls": dict,
        "dc": Opt(),
        "nested": [(1, 2), {3}],
        "other": object,
        "obj": complex(1, 2),
    }
    assert plain(value) == {
        "1": "red",
        "fn": "plain",
        "cls": "dict",
        "dc": {"lr": 0.1},
        "nested": [[1, 2], [3]],
        "other": "object",
        "obj": "(1+2j)",
    }
