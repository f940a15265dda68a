"""Every LEDGER_* environment variable is declared once (ledger/_settings.py), read through it,
and listed in the README's settings table exactly as declared."""

from __future__ import annotations

import re

import pytest

import ledger
from ledger import _settings
from tests.helpers import REPO

README = (REPO / "README.md").read_text()
SECTION = README[README.index("## Settings") : README.index("## Layout")]
DECLARED = {s.name: s for s in _settings.SETTINGS}


def _table_rows(text: str) -> dict[str, list[str]]:
    rows = {}
    for line in text.splitlines():
        m = re.match(r"^\| `(LEDGER_[A-Z_]+)` \|(.*)\|$", line)
        if m:
            rows[m.group(1)] = [cell.strip() for cell in m.group(2).split("|")]
    return rows


def test_the_readme_table_is_the_settings_module():
    rows = _table_rows(SECTION)
    assert set(rows) == set(DECLARED)
    for name, cells in rows.items():
        setting = DECLARED[name]
        if setting.internal:
            assert cells == [setting.meaning], name
        else:
            assert cells == [setting.default_text, setting.meaning], name


def test_no_other_ledger_variable_is_named_anywhere():
    named = set()
    for path in [
        *REPO.glob("ledger/**/*.py"),
        *REPO.glob("viewer/**/*.py"),
        REPO / "README.md",
        REPO / "docs/format.md",
    ]:
        named |= set(re.findall(r"\bLEDGER_[A-Z][A-Z_]*[A-Z]\b", path.read_text()))
    assert named <= set(DECLARED), sorted(named - set(DECLARED))


def test_only_the_settings_module_reads_the_environment_for_them():
    readers = re.compile(r"""(environ(\.get)?\s*[\[(]|getenv\()\s*["']LEDGER_""")
    offenders = [
        str(p.relative_to(REPO))
        for p in [*REPO.glob("ledger/**/*.py"), *REPO.glob("viewer/**/*.py")]
        if p.name != "_settings.py" and readers.search(p.read_text())
    ]
    assert offenders == []


@pytest.mark.parametrize(
    ("setting", "raw", "expected"),
    [
        (_settings.HEARTBEAT_INTERVAL, "0", "a positive number of seconds"),
        (_settings.SWEEP_LEASE, "soon", "a positive number of seconds"),
        (_settings.PATCH_MAX_BYTES, "-1", "a number of bytes"),
        (_settings.APPEND, "maybe", "1 or 0"),
        (_settings.MEDIA_BUDGET_MB, "lots", "a number of megabytes"),
    ],
)
def test_a_bad_value_names_the_variable_and_what_it_expects(monkeypatch, setting, raw, expected):
    monkeypatch.setenv(setting.name, raw)
    with pytest.raises(ledger.SettingError, match=rf"^\${setting.name}={raw!r} cannot be used: expected {expected}"):
        _settings.get(setting)


def test_unset_or_empty_means_the_default(monkeypatch):
    monkeypatch.setenv(_settings.SYSTEM_INTERVAL.name, "")
    assert _settings.get(_settings.SYSTEM_INTERVAL) == 10.0
    monkeypatch.setenv(_settings.APPEND.name, "0")
    assert _settings.get(_settings.APPEND) is False
    monkeypatch.delenv(_settings.APPEND.name)
    assert _settings.get(_settings.APPEND) is True
