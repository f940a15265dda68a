"""The reader of ledger's own block YAML (ledger/_format/_block.py) against PyYAML's safe
loader: whatever it reads, it reads exactly as PyYAML does, and what it cannot it leaves
to PyYAML."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger import _format
from ledger._errors import CorruptFileError
from ledger._format import _block

from .helpers import quiet_init


def _pyyaml(text: str) -> Any:
    return yaml.load(text, Loader=yaml.CSafeLoader)


def _same(a: Any, b: Any) -> bool:
    """Equal values of equal types at every depth, mapping order included; NaN equals NaN and
    -0.0 is not 0.0."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    if isinstance(a, dict):
        return len(a) == len(b) and all(
            _same(ka, kb) and _same(va, vb) for (ka, va), (kb, vb) in zip(a.items(), b.items(), strict=True)
        )
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, (dt.datetime, dt.date)):
        return a == b and repr(a) == repr(b)
    return bool(a == b)


def _check(text: str) -> bool:
    """The block reader agrees with PyYAML on ``text``; True where it read it itself."""
    mine = _block.load(text)
    if mine is _block.NOT_HANDLED:
        return False
    theirs = _pyyaml(text)  # raises if PyYAML refuses what the block reader took
    assert _same(mine, theirs), (text, mine, theirs)
    return True


# Characters that matter to YAML: indicators, quotes, spaces, line breaks of every kind,
# digits and letters of the YAML 1.1 types, and text beyond ASCII.
_TRICKY = st.text(
    alphabet=st.sampled_from(list("ab yYnNoOtTfF0179.e_+-:#'\"!&*|>%@`,[]{}?~<=\\\t\n\r\x85\u2028é✓")),
    max_size=12,
)
_WORDS = st.sampled_from(
    ["yes", "No", "on", "OFF", "null", "~", "1_000", "1:20", "0x1F", "0o7", "017", "0b101", ".inf", "-.Inf",
     ".nan", "1e3", "1.5e+3", "1.0", "-0.0", "+5", "-", "--config", "-x", "2001-12-14",
     "2001-12-14t21:59:43.10-05:00", "2001-12-14 21:59:43", "<<", "=", "", " lead", "trail ", "a: b", "a #b",
     "it's", 'say "hi"', "x" * 1100, "#x", "[a]", "{a: 1}", "- a", "?x", ":x", "a:", "http://x/y?q=1"]
)  # fmt: skip
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    _TRICKY,
    _WORDS,
)
_KEYS = st.one_of(_TRICKY, _WORDS, st.integers(-5, 5))
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_KEYS, inner, max_size=4)),
    max_leaves=30,
)


@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.dictionaries(_KEYS, _VALUES, min_size=1, max_size=6))
def test_what_ledger_writes_reads_as_pyyaml_reads_it(doc: dict[Any, Any]) -> None:
    _check(_format.yaml_dump(doc).decode("utf-8"))


# Random documents in block style with choices PyYAML's writer never makes (indentation
# of 1 to 4, sequences indented or not, keys and scalars of every YAML 1.1 type and some
# outside the subset), then perhaps one line cut, doubled or broken: much of it is not
# valid YAML, and whatever the block reader takes must be what PyYAML makes of it.
_KEY_TEXT = st.sampled_from(["a", "b", "k e", "'q'", "'a: b'", "1", "yes", "-x", "x'y", "~", "a:b", "?x", "&x a", "é"])
_SCALAR_TEXT = st.sampled_from(
    ["1", "-1", "1.5", "yes", "~", "x", "'v'", "'it''s'", "[]", "{}", '"s"', "a:b", "2001-12-14", "- v", "'open",
     "x #c", "*x", "!t v", "|", "1_0", ".inf", "a: b", "-", "0o7", "017", "1e3", ":x", "x:", "%x", "@x"]
)  # fmt: skip


def _render(draw: Any, depth: int, indent: int) -> list[str]:
    """Lines of a block mapping at ``indent``."""
    lines: list[str] = []
    for _ in range(draw(st.integers(1, 3))):
        key = draw(_KEY_TEXT)
        kind = draw(st.sampled_from(["scalar", "scalar", "map", "seq"] if depth < 3 else ["scalar"]))
        step = draw(st.integers(1, 4))
        if kind == "scalar":
            lines.append(f"{' ' * indent}{key}: {draw(_SCALAR_TEXT)}")
        elif kind == "map":
            lines += [f"{' ' * indent}{key}:", *_render(draw, depth + 1, indent + step)]
        else:
            lines.append(f"{' ' * indent}{key}:")
            at = indent + draw(st.sampled_from([0, step]))
            for _ in range(draw(st.integers(1, 3))):
                if draw(st.booleans()):
                    lines.append(f"{' ' * at}- {draw(_SCALAR_TEXT)}")
                else:
                    inner = _render(draw, depth + 1, at + 2)
                    lines += [f"{' ' * at}- {inner[0].lstrip(' ')}", *inner[1:]]
    return lines


@st.composite
def _documents(draw: Any) -> str:
    lines = _render(draw, 0, 0)
    change = draw(st.sampled_from(["none", "none", "cut", "double", "indent", "join"]))
    i = draw(st.integers(0, len(lines) - 1))
    if change == "cut":
        del lines[i]
    elif change == "double":
        lines.insert(i, lines[i])
    elif change == "indent":
        lines[i] = " " + lines[i]
    elif change == "join" and i + 1 < len(lines):
        lines[i : i + 2] = [lines[i] + " " + lines[i + 1].lstrip(" ")]
    return "\n".join(lines) + draw(st.sampled_from(["\n", "", "\n\n"]))


_LINES = _documents()


@settings(max_examples=3000, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(_LINES)
def test_random_text_is_read_as_pyyaml_reads_it_or_left_to_it(text: str) -> None:
    mine = _block.load(text)
    if mine is _block.NOT_HANDLED:
        return
    try:
        theirs = _pyyaml(text)
    except yaml.YAMLError as exc:
        pytest.fail(f"the block reader took text PyYAML refuses ({exc}):\n{text}")
    assert _same(mine, theirs), (text, mine, theirs)


@pytest.mark.parametrize(
    "text",
    [
        "a: 1\nb:\n- x\n- 'y'\nc:\n  d: []\n  e: {}\n",
        "a:\n  - 1\n  - - 2\n    - 3\n  - k: v\n    l:\n    - m\n",
        "'1': one\n'a: b': c\nit's: 'it''s'\n",
        "n: -5\np: +5\nq: --config\nr: -0.0\ns: 1_000\nt: 1:20\nu: 017\nv: 0x1F\nw: 0o7\nx: 1e3\ny: 1.5e+3\n",
        "a: yes\nb: No\nc: on\nd: ~\ne: null\nf: .inf\ng: -.Inf\nh: .nan\ni:\n",
        "a: 2001-12-14\nb: 2001-12-14t21:59:43.10-05:00\nc: 2001-12-14 21:59:43\n",
        "yes: 1\n1: 2\n~: 3\n1.5: 4\n",
        "a: 1\na: 2\n",  # a key twice: the last value, at the first place
        'a: "plain inside"\n',
    ],
)
def test_the_subset_is_read_exactly(text: str) -> None:
    assert _check(text)


@pytest.mark.parametrize(
    "text",
    [
        "a: 1 # a comment\n",
        "# a comment\na: 1\n",
        "a: 1\n\nb: 2\n",
        "a: 1 \n",
        "a:\tb\n",
        "a: 1\r\n",
        "a: b\n  c\n",  # a plain scalar over two lines
        "a: 'b\n  c'\n",
        "a: &x 1\nb: *x\n",
        "a: !!str 1\n",
        "a: |\n  text\n",
        "a: [1, 2]\n",
        '"a": "b\\n"\n',
        "---\na: 1\n",
        "<<: {a: 1}\n",
        "? a\n: 1\n",
        f"{'k' * 1100}: 1\n",
        "- a\n- b\n",
        "just text\n",
        "n: " + "9" * 5000 + "\n",  # an int Python will not convert: PyYAML's path says so
        "",
    ],
)
def test_what_is_outside_the_subset_is_left_to_pyyaml(text: str) -> None:
    assert _block.load(text) is _block.NOT_HANDLED


def test_every_manifest_ledger_writes_is_read_by_the_block_reader(tmp_path: Any) -> None:
    """The point of it: run manifests as ledger writes them never reach PyYAML's constructor."""
    config = {"lr": 1e-3, "name": "a: b", "tags": ["x", 1], "nested": {"depth": 3, "on": "yes"}}
    with quiet_init(project="p", root=tmp_path / "results", config=config, tags=["a"]) as run:
        run.log({"loss": 0.5})
    (manifest,) = (tmp_path / "results").glob("p/runs/*/run.yaml")
    assert _check(manifest.read_text(encoding="utf-8"))


def test_the_nesting_limit_holds_on_the_block_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEDGER_MAX_DEPTH", "8")
    text = "".join(f"{'  ' * i}k{i}:\n" for i in range(20)) + f"{'  ' * 20}leaf: 1\n"
    assert _block.load(text) is not _block.NOT_HANDLED  # read by the block reader, then refused
    with pytest.raises(CorruptFileError, match="nested deeper than 8"):
        _format.yaml_load(text.encode(), "deep.yaml")
