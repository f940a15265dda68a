"""Under CI a skip is a failure (tests/conftest.py): proved on tiny sessions run with this conftest."""

from __future__ import annotations

from pathlib import Path

import pytest

CONFTEST = Path(__file__).with_name("conftest.py").read_text()
MISSING = "ledger_tests_no_such_module"

AT_MODULE_LEVEL = f"""
import pytest

pytest.importorskip("{MISSING}")


def test_needs_it():
    pass
"""

IN_A_TEST = f"""
import pytest


def test_needs_it():
    pytest.importorskip("{MISSING}")


def test_needs_nothing():
    pass


@pytest.mark.xfail(reason="a known bug")
def test_known_bug():
    raise ValueError
"""


def run_session(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, test_module: str, ci: str | None):
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_guarded=test_module)
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    return pytester.runpytest_subprocess("-p", "no:cacheprovider")


@pytest.mark.parametrize("ci", [None, ""])
def test_without_ci_a_missing_module_skips(pytester, monkeypatch, ci):
    result = run_session(pytester, monkeypatch, IN_A_TEST, ci)
    result.assert_outcomes(skipped=1, passed=1, xfailed=1)
    assert result.ret == pytest.ExitCode.OK


def test_with_ci_a_missing_module_in_a_test_fails_and_names_it(pytester, monkeypatch):
    result = run_session(pytester, monkeypatch, IN_A_TEST, "1")
    result.assert_outcomes(failed=1, passed=1, xfailed=1)  # the other outcomes stay as they are
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines([f"FAILED test_guarded.py::test_needs_it - Skipped: could not import '{MISSING}'*"])
    result.stdout.fnmatch_lines(["CI is set: a missing optional package is a broken install"])


def test_without_ci_a_module_level_importorskip_skips_the_module(pytester, monkeypatch):
    result = run_session(pytester, monkeypatch, AT_MODULE_LEVEL, None)
    result.assert_outcomes(skipped=1)
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED


def test_with_ci_a_module_level_importorskip_is_a_collection_error_naming_it(pytester, monkeypatch):
    result = run_session(pytester, monkeypatch, AT_MODULE_LEVEL, "true")
    result.assert_outcomes(errors=1)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines([f"ERROR test_guarded.py - Skipped: could not import '{MISSING}'*"])
    result.stdout.fnmatch_lines(["CI is set: a missing optional package is a broken install"])
