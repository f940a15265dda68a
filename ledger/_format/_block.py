"""The block YAML that ledger's own writer emits, read without PyYAML's Python constructor.

PyYAML's C loader parses in C but builds every value in Python (resolver, constructor,
node objects): about 0.5 ms for a manifest, which is most of what a cold open of a large
ledger costs. The files ledger writes use a small part of YAML: block mappings and
sequences (a sequence in a mapping unindented, ``- key: value`` for a mapping in a
sequence), one-line plain and single-quoted scalars, ``[]`` and ``{}``. :func:`load`
reads that part directly and returns :data:`NOT_HANDLED` for anything else, which the
caller then gives to PyYAML.

Exactness: a value it returns is the one PyYAML's safe loader returns for the same text.
Plain scalars are resolved by PyYAML's own implicit resolvers and constructors, as PyYAML
installs them (YAML 1.1: ``yes``, ``1_000``, ``1:20``, ``.inf``, timestamps; plain decimal
ints and floats are read directly, as PyYAML reads them), and whatever it does not recognise
with certainty (comments, blank lines, tabs, trailing spaces, line breaks other than
``\\n``, flow collections, double quotes with escapes, block scalars, anchors, tags, keys
over 1,000 characters, a scalar continued on the next line) falls back. A property test
holds it to PyYAML on generated documents and on random text.
"""

from __future__ import annotations

import re
from typing import Any, Final

import yaml

NOT_HANDLED: Final = object()  # the text is not in the subset: read it with PyYAML


class _Fallback(Exception):  # noqa: N818 (control flow, never seen outside this module)
    pass


# Anything that makes a document leave the subset before a line is read: a character
# PyYAML refuses or reads as a line break or whitespace other than "\n" and " " (tab, CR,
# NEL, LS, PS, BOM), trailing spaces, comments, blank lines, document markers, directives.
_OUTSIDE = re.compile("[^\n\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]")
_OUTSIDE_TEXT = (" \n", " #", "\n\n", "\n#", "\n---", "\n...", "\n%")
_MAX_KEY = 1000  # PyYAML refuses simple keys over 1024 characters; longer ones fall back
_MAX_NESTING = 200  # indentation levels read here (deeper ones are refused later anyway)

# One line of the subset, split by one regex: its indentation, its "- " marks, then a key
# with ":" and perhaps a scalar, or a scalar alone, or (last group) anything else. A plain
# scalar starts with no indicator (but "-" before a character that is not a space or a
# colon), holds ":" only before a character that is not a space, and does not end with ":".
_PLAIN = r"(?:[^- \n?:,\[\]{}#&*!|>'\"%@`]|-[^ \n:])[^:\n]*(?::+[^ \n:][^:\n]*)*"
_QUOTED = r"'(?:[^'\n]|'')*'"
_SCALAR = rf"{_QUOTED}|\"[^\"\\\n]*\"|\[\]|\{{\}}|{_PLAIN}"
_LINE = re.compile(rf"^( *)((?:- )*)(?:({_QUOTED}|{_PLAIN}):(?: ({_SCALAR}))?|({_SCALAR})|(.*))$", re.MULTILINE)

_LOADER = yaml.CSafeLoader  # the resolvers and constructors PyYAML's safe loading uses
_CONSTRUCTOR = _LOADER("")  # an instance to call the (stateless) scalar constructors on
_INT = re.compile(r"[-+]?(?:0|[1-9][0-9]*)")  # what PyYAML reads as this int (no octal, no "_")
_FLOAT = re.compile(r"[-+]?[0-9]+\.[0-9]*(?:[eE][-+][0-9]+)?")  # and as this float
_MEMO: dict[str, Any] = {}  # short plain scalars that are not numbers, resolved (keys, names repeat)
_MEMO_MAX = 50_000  # entries, of at most _MEMO_LEN characters: a hostile file cannot grow it much
_MEMO_LEN = 64
_MISSING = object()


def load(text: str) -> Any:
    """The document in ``text`` as PyYAML's safe loader reads it, or :data:`NOT_HANDLED`."""
    body = text.rstrip("\n")
    if not body or body[0] in "#% " or body.startswith(("---", "...")) or body[-1] == " ":
        return NOT_HANDLED
    if _OUTSIDE.search(body) is not None or any(part in body for part in _OUTSIDE_TEXT):
        return NOT_HANDLED
    # Each line: [column, "- " marks, key or "", scalar after the key or "", scalar alone or "", other]
    lines = [
        [len(ind), len(dash) >> 1, key, rest, alone, bad] for ind, dash, key, rest, alone, bad in _LINE.findall(body)
    ]
    if len(lines) != body.count("\n") + 1:
        return NOT_HANDLED
    try:
        doc, end = _mapping(lines, 0, 0, 0)
    except (_Fallback, ValueError, OverflowError):  # a value PyYAML refuses: it says why
        return NOT_HANDLED
    return doc if end == len(lines) else NOT_HANDLED


def _mapping(lines: list[list[Any]], i: int, indent: int, depth: int) -> tuple[dict[Any, Any], int]:
    """The block mapping whose keys start at column ``indent`` from line ``i``; the line after it."""
    if depth > _MAX_NESTING:
        raise _Fallback
    out: dict[Any, Any] = {}
    n = len(lines)
    while i < n:
        col, dashes, key, rest, _alone, bad = lines[i]
        if col < indent:
            break
        if col > indent or dashes or not key or bad:
            raise _Fallback  # a scalar continued, a stray indentation, a sequence or a scalar where a key is due
        key = _key(key)
        i += 1
        if rest:
            out[key] = _scalar(rest)
            continue
        # "key:" alone: a nested block on the next lines, or null.
        if i < n:
            ncol, ndash = lines[i][0], lines[i][1]
            if ndash and ncol >= indent:
                out[key], i = _sequence(lines, i, ncol, depth + 1)
                continue
            if ncol > indent:
                out[key], i = _mapping(lines, i, ncol, depth + 1)
                continue
        out[key] = None
    return out, i


def _sequence(lines: list[list[Any]], i: int, indent: int, depth: int) -> tuple[list[Any], int]:
    """The block sequence whose ``- `` marks are at column ``indent`` from line ``i``."""
    if depth > _MAX_NESTING:
        raise _Fallback
    out: list[Any] = []
    n = len(lines)
    while i < n:
        line = lines[i]
        if line[0] < indent:
            break
        if line[0] > indent:
            raise _Fallback
        if not line[1]:
            break  # the next key of the mapping this (unindented) sequence is a value of
        # The item's content starts two columns on, on this line.
        line[0] += 2
        line[1] -= 1
        item: Any
        if line[1]:  # "- - a": a sequence in a sequence
            item, i = _sequence(lines, i, indent + 2, depth + 1)
        elif line[2]:  # "- key: value": a mapping in a sequence
            item, i = _mapping(lines, i, indent + 2, depth + 1)
        elif line[4]:
            item = _scalar(line[4])
            i += 1
        else:
            raise _Fallback  # an empty item, or one outside the subset
        out.append(item)
    return out, i


def _key(raw: str) -> Any:
    if raw[0] == "'":
        if len(raw) > _MAX_KEY:
            raise _Fallback
        return raw[1:-1].replace("''", "'")
    if raw[-1] == " " or len(raw) > _MAX_KEY:
        raise _Fallback
    return _plain(raw)


def _scalar(text: str) -> Any:
    """A one-line scalar as the line regex found it."""
    first = text[0]
    if first == "'":
        return text[1:-1].replace("''", "'")
    if first == '"':
        return text[1:-1]
    if text == "[]":
        return []
    if text == "{}":
        return {}
    if text[-1] == " ":
        raise _Fallback
    return _plain(text)


def _plain(text: str) -> Any:
    """A plain scalar as PyYAML resolves and constructs it (YAML 1.1 implicit types)."""
    value = _MEMO.get(text, _MISSING)
    if value is not _MISSING:
        return value
    if _INT.fullmatch(text):
        return int(text)
    if _FLOAT.fullmatch(text):
        return float(text)
    value = _resolved(text)
    if len(text) <= _MEMO_LEN and len(_MEMO) < _MEMO_MAX and type(value) in (str, bool, type(None)):
        _MEMO[text] = value
    return value


def _resolved(text: str) -> Any:
    table: dict[Any, list[tuple[str, re.Pattern[str]]]] = _LOADER.yaml_implicit_resolvers
    candidates = table.get(text[0], ())
    if None in table:
        candidates = [*candidates, *table[None]]
    for tag, pattern in candidates:
        if pattern.match(text):
            construct = _LOADER.yaml_constructors.get(tag)
            if construct is None or tag.endswith((":str", ":merge", ":value", ":yaml")):
                raise _Fallback
            return construct(_CONSTRUCTOR, yaml.ScalarNode(tag, text))
    return text
