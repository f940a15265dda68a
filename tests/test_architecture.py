"""The module map holds: layers import downward only, no import cycles (imports inside
functions count), the read side never imports the run writer. Checked on the source's AST,
so a lazy import inside a function cannot hide a cycle."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.helpers import REPO

# Layer of each module, by longest matching prefix (docs: DESIGN.md, section 3).
LAYERS = {
    # L0 format: what the tree holds and how it is spelt; settings; errors; small pure helpers
    "ledger._errors": 0,
    "ledger._settings": 0,
    "ledger._units": 0,
    "ledger._format": 0,
    "ledger._config": 0,
    "ledger._media": 0,
    # L1 storage
    "ledger._storage": 1,
    # L2 root, io
    "ledger._root": 2,
    "ledger._reader": 2,
    "ledger._writer": 2,
    "ledger._artifacts": 2,  # versioned files of the root: written by runs, read by queries (not a run)
    # L3 the run (write side) | the query side
    "ledger._run": 3,
    "ledger._lifecycle": 3,
    "ledger._capture": 3,
    "ledger._watch": 3,
    "ledger._query": 3,
    # L4 tools
    "ledger.sweeps": 4,
    "ledger._importers": 4,
    "ledger._publish": 4,
    "ledger._report": 4,
    "ledger._maintenance": 4,
    "ledger._verify": 4,
    "ledger._reproduce": 4,
    "ledger._gitcommit": 4,
    # L5 faces
    "ledger": 5,
    "ledger.__main__": 5,
    "ledger._cli": 5,
    "ledger._commands": 5,
    "ledger.integrations": 5,
    "viewer": 5,
}
WRITE_SIDE = (
    "ledger._run", "ledger._lifecycle", "ledger._capture", "ledger._watch", "ledger._writer", "ledger._artifacts._write",
)  # fmt: skip
READ_SIDE = (
    "ledger._query", "ledger._reader", "ledger._report", "ledger._publish", "ledger._verify", "viewer",
)  # fmt: skip
QUERY_SIDE = ("ledger._query",)
RUN_SIDE = ("ledger._run", "ledger._lifecycle", "ledger._capture", "ledger._watch")


def _module_name(path: Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    files = [*REPO.glob("ledger/**/*.py"), *REPO.glob("viewer/**/*.py")]
    return {_module_name(p): p for p in files if "__pycache__" not in p.parts}


MODULES = _modules()


def _under(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _layer(name: str) -> int:
    best = max((p for p in LAYERS if name == p or name.startswith(p + ".")), key=len)
    return LAYERS[best]


def _resolve(target: str) -> str | None:
    """The module a dotted import names: itself if it is one of ours, else its nearest parent."""
    while target:
        if target in MODULES:
            return target
        target = target.rpartition(".")[0]
    return None


def _type_checking_lines(tree: ast.Module) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for inner in node.body:
                lines.update(range(inner.lineno, (inner.end_lineno or inner.lineno) + 1))
    return lines


def imports(name: str) -> list[tuple[str, bool]]:
    """(imported module of ours, only for type checking) for every import statement of the
    module, wherever it is (top level or inside a function)."""
    tree = ast.parse(MODULES[name].read_text())
    type_only = _type_checking_lines(tree)
    out = []
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            targets = [f"{node.module}.{alias.name}" for alias in node.names]
        for target in targets:
            resolved = _resolve(target)
            if resolved is not None and resolved != name:
                out.append((resolved, node.lineno in type_only))
    return out


GRAPH = {name: imports(name) for name in MODULES}


def test_every_module_has_a_layer():
    assert all(_layer(name) >= 0 for name in MODULES)
    assert {"ledger._format", "ledger._storage", "ledger._root", "ledger._query._series"} <= set(MODULES)


def test_layers_import_downward_only():
    upward = [
        f"{name} (L{_layer(name)}) imports {target} (L{_layer(target)})"
        for name, edges in GRAPH.items()
        for target, _type_only in edges
        if _layer(target) > _layer(name)
    ]
    assert upward == []


def test_the_read_side_never_imports_the_writer():
    found = [
        f"{name} imports {target}"
        for name, edges in GRAPH.items()
        if _under(name, READ_SIDE)
        for target, _type_only in edges
        if _under(target, WRITE_SIDE)
    ]
    assert found == []


def test_the_run_and_the_query_side_do_not_import_each_other():
    found = [
        f"{name} imports {target}"
        for name, edges in GRAPH.items()
        for target, _type_only in edges
        if (_under(name, QUERY_SIDE) and _under(target, RUN_SIDE))
        or (_under(name, RUN_SIDE) and _under(target, QUERY_SIDE))
    ]
    assert found == []


def _cycles(graph: dict[str, list[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles_counting_imports_inside_functions():
    runtime = {name: sorted({t for t, type_only in edges if not type_only}) for name, edges in GRAPH.items()}
    assert _cycles(runtime) == []


def test_the_cycle_check_finds_a_cycle():
    assert _cycles({"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"]}) == [["a", "b", "c"]]


def test_imports_inside_functions_are_seen():
    # Run._repr_html_ imports the HTML module only when a notebook asks for it.
    assert ("ledger._run._html", False) in GRAPH["ledger._run._run"]
