"""YAML as every reader reads it: block style, safe loading, and strings that no YAML 1.1 or
1.2 reader can take for another type.

PyYAML writes YAML 1.1 and quotes strings its own (1.1) resolver would read as another
type, but leaves plain some that YAML 1.2 readers (js-yaml, ruamel in 1.2 mode, Go's
yaml.v3) resolve differently: ``1e3`` and ``1e-3`` (floats in 1.2, no dot needed),
``0o7`` (a 1.2 octal), and ``y``/``n`` (booleans in strict 1.1 readers). Those are
written quoted here, so a config string stays a string for any reader.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import yaml

from ledger import _settings
from ledger._errors import CorruptFileError, FormatVersionError
from ledger._format import _block
from ledger._format._names import FORMAT_VERSION
from ledger._format._values import too_deep

# Plain scalars some YAML reader resolves to a non-string: the YAML 1.2 core schema's null,
# bool, int and float forms, plus YAML 1.1's one-letter booleans. Matched against whole
# strings; a match is written in quotes.
_AMBIGUOUS = re.compile(
    r"""(?x)
    (?:~|null|Null|NULL|true|True|TRUE|false|False|FALSE|[yYnN])
  | [-+]?[0-9]+ | 0o[0-7]+ | 0x[0-9a-fA-F]+
  | [-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?
  | [-+]?\.(?:inf|Inf|INF) | \.(?:nan|NaN|NAN)
    """
)


class _Dumper(yaml.CSafeDumper):
    """The C safe dumper, with strings a YAML 1.2 reader could mistake always quoted, and
    never an anchor or alias (an object given twice is written twice: readers refuse aliases)."""

    def ignore_aliases(self, data: Any) -> bool:  # noqa: ARG002 (PyYAML's hook)
        return True


def _represent_str(dumper: _Dumper, value: str) -> yaml.ScalarNode:
    if _AMBIGUOUS.fullmatch(value):
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="'")
    return dumper.represent_str(value)


_Dumper.add_representer(str, _represent_str)


def yaml_dump(data: Mapping[str, Any]) -> bytes:
    """Block-style YAML 1.1 that YAML 1.2 readers read the same; keys in the given order,
    unicode kept (small, stable diffs)."""
    text: str = yaml.dump(
        dict(data),
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=1000,
    )
    return text.encode("utf-8")


MAX_EXPANDED = 1_000_000  # values a YAML file the user hands over may expand to through aliases


def yaml_load(data: bytes, where: str, *, aliases: bool = False) -> Any:
    """Parse YAML with the safe C loader only (tags such as !!python/object are refused),
    bounded: a file over ``$LEDGER_MAX_YAML_BYTES``, with anchors or aliases (``&a``, ``*a``:
    ledger never writes them, and a few hundred bytes of them expand to gigabytes), or
    nested deeper than ``$LEDGER_MAX_DEPTH`` is a CorruptFileError that says so.

    ``aliases=True`` is for a file the user hands over themselves (a sweep config): anchors
    are allowed, as YAML tools allow them, as long as the file expands to at most
    :data:`MAX_EXPANDED` values."""
    limit = _settings.get(_settings.MAX_YAML_BYTES)
    if len(data) > limit:
        msg = (
            f"{where}: {len(data)} bytes, over the limit of {limit} bytes for a YAML file "
            f"(${_settings.MAX_YAML_BYTES.name}); not read"
        )
        raise CorruptFileError(msg)
    try:
        # What ledger wrote itself is read without PyYAML's Python constructor (exactly).
        doc = _block.load(data.decode("utf-8"))
    except UnicodeDecodeError:
        doc = _block.NOT_HANDLED
    if doc is not _block.NOT_HANDLED:
        _check_depth(doc, where)
        return doc
    has_refs = b"&" in data or b"*" in data  # only then can there be anchors or aliases
    if has_refs and not aliases:
        _refuse_anchors(data, where)
    try:
        doc = yaml.load(data, Loader=yaml.CSafeLoader)
    except yaml.YAMLError as exc:
        msg = f"{where}: not valid YAML ({str(exc).splitlines()[0]})"
        raise CorruptFileError(msg) from exc
    except (ValueError, RecursionError) as exc:  # e.g. an integer of more than 4300 digits
        msg = f"{where}: a value YAML cannot turn into data ({str(exc).splitlines()[0]})"
        raise CorruptFileError(msg) from exc
    if has_refs and aliases and _expands_past(doc, MAX_EXPANDED):
        msg = (
            f"{where}: its anchors and aliases expand to more than {MAX_EXPANDED:,} values "
            f"(or contain themselves); not read"
        )
        raise CorruptFileError(msg)
    _check_depth(doc, where)
    return doc


def _check_depth(doc: Any, where: str) -> None:
    depth = _settings.get(_settings.MAX_DEPTH)
    if too_deep(doc, depth):
        msg = f"{where}: values nested deeper than {depth} levels (${_settings.MAX_DEPTH.name}); not read"
        raise CorruptFileError(msg)


def _expands_past(doc: Any, limit: int) -> bool:
    """Whether walking ``doc`` (aliases walked again each time they appear) meets more than
    ``limit`` values, or a value that contains itself."""
    stack: list[tuple[Any, tuple[int, ...]]] = [(doc, ())]
    seen = 0
    while stack:
        item, parents = stack.pop()
        seen += 1
        if seen > limit:
            return True
        if type(item) is dict or type(item) is list:
            if id(item) in parents:
                return True
            inner = (*parents, id(item))
            stack += [(c, inner) for c in (item.values() if type(item) is dict else item)]
    return False


def _refuse_anchors(data: bytes, where: str) -> None:
    try:
        for event in yaml.parse(data, Loader=yaml.CSafeLoader):
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
                msg = (
                    f"{where}: YAML anchors and aliases (&name, *name) are refused: ledger never writes "
                    f"them, and they can make a small file expand without bound"
                )
                raise CorruptFileError(msg)
    except yaml.YAMLError as exc:
        msg = f"{where}: not valid YAML ({str(exc).splitlines()[0]})"
        raise CorruptFileError(msg) from exc


def sorted_tree(value: Any) -> Any:
    """Mappings with their keys sorted at every depth (config and summary are stored so)."""
    if isinstance(value, Mapping):
        return {k: sorted_tree(value[k]) for k in sorted(value, key=str)}
    if isinstance(value, list):
        return [sorted_tree(v) for v in value]
    return value


def root_marker() -> bytes:
    """The content of ``ledger.yaml``."""
    return yaml_dump({"format": FORMAT_VERSION})


def check_root_marker(data: bytes, where: str) -> dict[str, Any]:
    """The root marker's content; fail clearly on a root written in a format this version
    cannot read, or with a key whose value is not what the format says (``quota_gb``)."""
    doc = yaml_load(data, where)
    if not isinstance(doc, dict) or "format" not in doc:
        msg = f"{where}: not a ledger root marker (expected a mapping with 'format: {FORMAT_VERSION}')"
        raise CorruptFileError(msg)
    if doc["format"] != FORMAT_VERSION:
        raise FormatVersionError(where, doc["format"], FORMAT_VERSION)
    quota = doc.get("quota_gb")
    if quota is not None and (isinstance(quota, bool) or not isinstance(quota, (int, float)) or not quota > 0):
        msg = f"{where}: quota_gb must be a positive number of gigabytes, found {quota!r}"
        raise CorruptFileError(msg)
    return doc
