"""`ledger view` up to starting Streamlit (tests/test_viewer_e2e.py starts it for real)."""

from __future__ import annotations

import socket

from click.testing import CliRunner

from ledger._cli import cli
from ledger._commands import view
from tests.helpers import REPO


def ledger_view(*args: str) -> tuple[int, str]:
    """`ledger view ARGS...` through click: (exit code, output)."""
    result = CliRunner().invoke(cli, ["view", *args])
    return result.exit_code, result.output


class TestViewCommand:
    def test_a_published_http_root_is_refused_clearly(self):
        code, err = ledger_view("https://example.org/paper-results")
        assert code == 1
        assert "published results folder served over http(s)" in err

    def test_a_folder_without_a_ledger(self, tmp_dir):
        code, err = ledger_view(str(tmp_dir / "nothing"))
        assert code == 1
        assert "no ledger at" in err

    def test_storage_options_are_key_value(self):
        code, err = ledger_view("memory://x", "--storage-option", "anon")
        assert code == 2
        assert "expected KEY=VALUE, got 'anon'" in err

    def test_storage_option_values_are_typed(self):
        options = view.parse_storage_options(("anon=true", "retries=3", "endpoint_url=http://127.0.0.1:8333", "x=none"))
        assert options == {"anon": True, "retries": 3, "endpoint_url": "http://127.0.0.1:8333", "x": None}

    def test_only_loopback_is_quiet(self):
        assert view.exposure_warning("127.0.0.1", 8501, "results") is None
        assert view.exposure_warning("localhost", 8501, "results") is None
        assert view.exposure_warning("::1", 8501, "results") is None
        loud = view.exposure_warning("0.0.0.0", 8501, "s3://lab/results")
        assert loud.startswith("WARNING: serving on 0.0.0.0")
        assert "s3://lab/results" in loud
        assert "8501" in loud

    def test_the_first_free_port_is_taken(self):
        with socket.socket() as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen()
            port = busy.getsockname()[1]
            assert view.free_port("127.0.0.1", port, tries=20) > port

    def test_a_checkout_runs_its_own_viewer(self):  # the wheel's copy: tests/test_wheel.py
        assert view.app_path() == REPO / "viewer" / "app.py"  # the checkout's own, in an editable install
