"""The command line of a trial: the sweep's ``command`` with its macros expanded as W&B's
agent expands them (``wandb/sdk/launch/sweeps/utils.py``, ``wandb_agent.py``).

The default command is ``${env} ${interpreter} ${program} ${args}``. Per top-level parameter,
``${args}`` is ``--name=value``, ``${args_no_hyphens}`` ``name=value``, ``${args_no_equals}``
``--name value``, ``${args_no_boolean_flags}`` ``--name=value`` with booleans as a bare
``--name`` (true) or nothing (false), ``${args_append_hydra}`` ``+name=value`` and
``${args_override_hydra}`` ``++name=value``; values print as Python's ``str`` (``True``,
``0.001``, ``{'lr': 0.1}`` for a nested parameter, ``[1, 2]``). ``${args_json}`` is one item,
the parameters as JSON; ``${args_json_file}`` the path of a file holding that JSON.
``${interpreter}`` is ``python`` (the trial's PATH starts with the folder of the agent's
interpreter, so it is the same Python; its full path where that folder has no ``python``);
``${env}`` is ``/usr/bin/env`` on POSIX; ``${program}`` the sweep's ``program`` (a script, or a module after ``-m``).
``${envvar:NAME}`` anywhere in an item is the environment variable's value (its name when it
is unset, as in W&B). Ledger also expands ``${name}`` of a parameter inside an item
(``--lr=${lr}``).
"""

from __future__ import annotations

import json
import os
import re
import sys
from typing import TYPE_CHECKING, Any

from ledger.sweeps._config import ENVVAR_MACRO
from ledger.sweeps._search import Flat, nest

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ledger.sweeps._config import SweepConfig

_PARAM_MACRO = re.compile(r"\$\{([^}]*)\}")
INTERPRETER = "python"  # what W&B's agent puts for ${interpreter}


def macro_values(nested: Mapping[str, Any], json_file: str) -> dict[str, list[str]]:
    """Each whole-item macro and the items it becomes, for the top-level parameters ``nested``."""
    flags: list[str] = []
    no_hyphens: list[str] = []
    no_equals: list[str] = []
    no_booleans: list[str] = []
    append_hydra: list[str] = []
    override_hydra: list[str] = []
    for name, value in nested.items():
        flag = f"{name}={value}"
        flags.append(f"--{flag}")
        no_hyphens.append(flag)
        no_equals += [f"--{name}", str(value)]
        append_hydra.append(f"+{flag}")
        override_hydra.append(f"++{flag}")
        if isinstance(value, bool):
            if value:
                no_booleans.append(f"--{name}")
        else:
            no_booleans.append(f"--{flag}")
    return {
        "${env}": ["/usr/bin/env"] if os.name == "posix" and os.path.exists("/usr/bin/env") else [],
        "${interpreter}": [interpreter()],
        "${args}": flags,
        "${args_no_hyphens}": no_hyphens,
        "${args_no_equals}": no_equals,
        "${args_no_boolean_flags}": no_booleans,
        "${args_json}": [json.dumps(dict(nested))],
        "${args_json_file}": [json_file],
        "${args_append_hydra}": append_hydra,
        "${args_override_hydra}": override_hydra,
    }


def _envvars(text: str, environ: Mapping[str, str]) -> str:
    return ENVVAR_MACRO.sub(lambda m: environ.get(m.group(1), m.group(1)), text)


def build_command(
    config: SweepConfig, params: Flat, json_file: str, environ: Mapping[str, str] | None = None
) -> list[str]:
    """The argv of a trial with parameters ``params``; ``json_file`` is where
    ``${args_json_file}`` points (the caller writes the JSON there); ``environ`` gives
    ``${envvar:NAME}`` (default: this process's environment)."""
    env = os.environ if environ is None else environ
    nested = nest(params)
    by_name = {".".join(path): value for path, value in params.items()}
    expansions = macro_values(nested, json_file)
    expansions["${program}"] = [config.program or ""]
    argv: list[str] = []
    for item in config.command:
        text = _envvars(item, env)
        if text in expansions:
            argv += expansions[text]
        else:
            argv.append(_PARAM_MACRO.sub(lambda m: str(by_name[m.group(1)]), text))
    return argv


def interpreter() -> str:
    """``python``, as W&B's agent writes it, when that name in the folder of the agent's
    interpreter is that interpreter (a virtual environment's); else the interpreter's path."""
    candidate = os.path.join(os.path.dirname(sys.executable), INTERPRETER)
    try:
        if os.path.samefile(candidate, sys.executable):
            return INTERPRETER
    except OSError:
        pass
    return sys.executable


def interpreter_path() -> str:
    """The PATH of a trial: the agent interpreter's folder first, so ``python`` (W&B's
    ``${interpreter}``) is the Python running the agent, with the packages it has."""
    folder = os.path.dirname(sys.executable)
    rest = os.environ.get("PATH", "")
    return folder + (os.pathsep + rest if rest else "")


def program_is_module(config: SweepConfig) -> bool:
    """Whether the command runs ``${program}`` as a module (``python -m ${program}``)."""
    items = list(config.command)
    return any(item == "${program}" and i > 0 and items[i - 1] == "-m" for i, item in enumerate(items))
