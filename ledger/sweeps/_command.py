"""The command line of a trial: the sweep's ``command`` with its macros expanded.

The default command is ``${env} ${interpreter} ${program} ${args}``. Values print as
Python prints them (``--flag=True``, as W&B does); mappings and lists print as JSON.
"""

from __future__ import annotations

import json
import os
import re
import sys
from typing import TYPE_CHECKING, Any

from ledger.sweeps._search import Flat, nest

if TYPE_CHECKING:
    from ledger.sweeps._config import SweepConfig

_PARAM_MACRO = re.compile(r"\$\{([^}]*)\}")


def _text(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=str)
    return str(value)


def build_command(config: SweepConfig, params: Flat, json_file: str) -> list[str]:
    """The argv of a trial with parameters ``params``; ``json_file`` is where
    ``${args_json_file}`` points (the caller writes the JSON there)."""
    nested = nest(params)
    by_name = {".".join(path): value for path, value in params.items()}
    expansions: dict[str, list[str]] = {
        "${env}": ["/usr/bin/env"] if os.name == "posix" and os.path.exists("/usr/bin/env") else [],
        "${interpreter}": [sys.executable],
        "${program}": [config.program or ""],
        "${args}": [f"--{k}={_text(v)}" for k, v in nested.items()],
        "${args_no_hyphens}": [f"{k}={_text(v)}" for k, v in nested.items()],
        "${args_json}": [json.dumps(nested, default=str)],
        "${args_json_file}": [json_file],
        "${args_override_hydra}": [f"++{name}={_text(v)}" for name, v in by_name.items()],
    }
    argv: list[str] = []
    for item in config.command:
        if item in expansions:
            argv += expansions[item]
        else:
            argv.append(_PARAM_MACRO.sub(lambda m: _text(by_name[m.group(1)]), item))
    return argv
