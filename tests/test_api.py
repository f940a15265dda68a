"""The public surface: small, typed, documented, light to import."""

from __future__ import annotations

import inspect
import json

import ledger
from tests.helpers import run_python

PUBLIC = {
    "ArtifactNotFoundError",
    "ArtifactVersion",
    "ArtifactView",
    "Band",
    "Config",
    "CorruptFileError",
    "FilterError",
    "FormatVersionError",
    "Histogram",
    "Image",
    "InvalidNameError",
    "Ledger",
    "LedgerError",
    "LedgerNotFoundError",
    "LedgerWarning",
    "Lineage",
    "Run",
    "RunNotFoundError",
    "RunSet",
    "RunStateError",
    "RunView",
    "Series",
    "RefusedFileError",
    "SettingError",
    "SqlError",
    "StorageError",
    "Summary",
    "Table",
    "UnknownFieldWarning",
    "Watcher",
    "__version__",
    "active_run",
    "finish",
    "init",
    "log",
    "open",
    "watch",
}


def test_all_is_pinned():
    assert set(ledger.__all__) == PUBLIC


def test_public_callables_are_documented():
    for name in PUBLIC - {"__version__"}:
        obj = getattr(ledger, name)
        assert inspect.getdoc(obj), f"ledger.{name} has no docstring"
    for cls in (ledger.Run, ledger.Ledger, ledger.RunSet, ledger.RunView, ledger.ArtifactVersion, ledger.ArtifactView,
                ledger.Lineage):  # fmt: skip
        for name, member in inspect.getmembers(cls):
            if not name.startswith("_") and (inspect.isfunction(member) or isinstance(member, property)):
                assert inspect.getdoc(member), f"{cls.__name__}.{name} has no docstring"


def test_init_signature_is_the_documented_one():
    params = inspect.signature(ledger.init).parameters
    assert list(params) == [
        "project", "root", "name", "group", "job_type", "tags", "notes", "config", "resume",
        "storage_options", "capture_output", "system_metrics", "flush_interval", "parent", "links", "redact",
        "keep",
    ]  # fmt: skip
    assert params["project"].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for n, p in params.items() if n != "project")


def test_errors_subclass_builtins_callers_already_catch():
    assert issubclass(ledger.FormatVersionError, ValueError)
    assert issubclass(ledger.RunNotFoundError, LookupError)
    assert issubclass(ledger.LedgerNotFoundError, LookupError)
    assert issubclass(ledger.ArtifactNotFoundError, LookupError)
    assert issubclass(ledger.SettingError, ValueError)
    assert issubclass(ledger.StorageError, OSError)
    assert all(
        issubclass(getattr(ledger, n), ledger.LedgerError) for n in PUBLIC if n.endswith("Error") and n != "LedgerError"
    )


def test_import_is_light(tmp_path):
    code = """
import json, sys, time
t = time.perf_counter()
import ledger
elapsed = time.perf_counter() - t
heavy = sorted({m.split(".")[0] for m in sys.modules} & {"pandas", "numpy", "streamlit", "torch", "tensorflow", "git", "fsspec", "matplotlib"})
print(json.dumps(heavy))
"""
    proc = run_python(code, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == []
