"""The filter language of ``where=``, parsed and evaluated by this module (never ``eval``).

    config.lr < 1e-3 and summary.acc >= 0.9 or tags contains "baseline"
    status == "finished" and group in ["a", "b"] and name ~ "resnet.*"
    not (job_type == "eval") and summary.`val loss` < 0.3

MLflow ``search_runs`` strings work unchanged, with MLflow's semantics in MLflow's
namespaces: ``metrics.x`` (or ``metric.x``) is ``summary.x`` and compares numbers;
``params.x`` (``param.x``) is ``config.x`` compared as the text MLflow stores for a param
(``str(value)``: ``params.lr LIKE '0.0%'`` matches 0.01, ``'0.010'`` does not equal it,
``'None'`` is a text); ``tags.x`` (``tag.x``) a ``key=value`` tag; ``attributes.x``
(``attr.x``, ``run.x``, and bare ``run_id``, ``run_name``) the run's id (or the id it had in
the tool it was imported from), name, status (MLflow's ``FINISHED``, ``RUNNING``, ...),
user and times (ms); ``datasets.name|digest|context`` the datasets a run recorded (true when
any of them matches). Ledger's own namespaces (``config.*``, ``summary.*``) compare typed
values. W&B/Mongo-style dicts (``{"$and": [{"config.lr": {"$lt": 0.01}}]}``) compile to the
same tree, with W&B's names: ``display_name``, ``state``, ``sweep`` (its id),
``config.<key>.value``. A field a run does not have is null: comparisons with it are false
(:func:`unknown_fields` finds fields that no run has, with the closest names).
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ledger import _format, _settings
from ledger._errors import LedgerError, LedgerWarning

Getter = Callable[[Any], Any]
Predicate = Callable[[Any], bool]


class FilterError(LedgerError, ValueError):
    """A ``where`` filter that cannot be parsed; the message points at the place."""


class UnknownFieldWarning(LedgerWarning):
    """A filter names a field that no run in the ledger has (a misspelt metric or config
    key, which would silently match nothing); the message names the closest fields."""


MISSING: Any = None  # a field a run lacks reads as null

# Every manifest field can be filtered on: alone (``status``), or with keys below it for
# mappings (``config.lr``, ``host.hostname``); both sets come from the format's schema.
TOP_LEVEL, NESTED = _format.filter_fields()
# Lists of mappings (datasets, used_artifacts, ...): ``used_artifacts.name`` reads the key of
# every entry, and holds when one of them matches.
LISTS = frozenset(spec.name for spec in _format.FIELDS if spec.kind == "list[mapping]")
TIMESTAMPS = frozenset(_format.TIMESTAMP_FIELDS)

# MLflow's namespaces (and their other spellings, as MLflow's own parser accepts them).
_MLFLOW_NAMESPACES = {
    "metrics": "metrics", "metric": "metrics", "params": "params", "param": "params", "parameter": "params",
    "parameters": "params", "attributes": "attributes", "attribute": "attributes", "attr": "attributes",
    "run": "attributes", "datasets": "datasets", "dataset": "datasets",
}  # fmt: skip
_MLFLOW_ATTRIBUTES = {
    "run_id": "id", "id": "id", "run_name": "name", "name": "name", "status": "status", "user_id": "user",
    "user": "user", "start_time": "created", "created": "created", "end_time": "ended", "ended": "ended",
    "artifact_uri": "imported_from.artifact_uri",
}  # fmt: skip
_MLFLOW_BARE = {"run_id": "run_id", "run_name": "run_name"}  # attributes MLflow accepts without a prefix
_MLFLOW_TAGS = {"mlflow.runName": "name", "mlflow.user": "user", "mlflow.source.git.commit": "git.commit"}
# MLflow's run statuses for ours: a crashed run never told its tool it ended.
MLFLOW_STATUS = {"running": "RUNNING", "crashed": "RUNNING", "finished": "FINISHED", "failed": "FAILED",
                 "killed": "KILLED"}  # fmt: skip
# W&B's names (its public API filters) for the same things.
_WANDB_FIELDS = {
    "display_name": "name", "displayName": "name", "state": "status", "created_at": "created",
    "createdAt": "created", "jobType": "job_type", "username": "user", "summary_metrics": "summary",
}  # fmt: skip


# ---- fields -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    """A resolved field: the canonical path (``("config", "model", "lr")``) and how it is
    read and compared: ``kind`` is ``""`` (typed values), ``param`` (MLflow params: the
    value's text), ``metric`` (MLflow metrics: numbers only), ``status`` (MLflow's status
    names), ``run_id`` (the id, or the id in the source tool), ``each`` (one key of every
    entry of a list of mappings: ``datasets.name``, ``used_artifacts.version``) or
    ``wandb_config`` (W&B's ``config.<key>.value``)."""

    path: tuple[str, ...]
    text: str = ""
    kind: str = ""

    @property
    def dotted(self) -> str:
        return ".".join(self.path)

    @property
    def is_timestamp(self) -> bool:
        return len(self.path) == 1 and self.path[0] in TIMESTAMPS

    @property
    def is_status(self) -> bool:
        return self.path == ("status",)

    @property
    def many(self) -> bool:
        """The field reads as several values; a comparison holds when one of them matches
        (``!=`` and ``not in``: when none does)."""
        return self.kind in ("status", "run_id", "each")


def _unknown(parts: Sequence[str]) -> FilterError:
    fields = ", ".join(sorted(TOP_LEVEL)) + ", " + ", ".join(f"{n}.*" for n in sorted(NESTED))
    mlflow = "MLflow's metrics.*, params.*, tags.*, attributes.*, datasets.*"
    msg = f"unknown field {'.'.join(parts)!r}; fields are {fields} (and {mlflow})"
    return FilterError(msg)


def _mlflow_field(namespace: str, rest: list[str], text: str) -> Field:
    if namespace == "metrics":
        return Field(("summary", *rest), text, "metric")
    if namespace == "params":
        return Field(("config", *rest), text, "param")
    if namespace == "datasets":
        return Field(("datasets", ".".join(rest)), text, "each")  # name, digest, context, source, ...
    key = " ".join(rest).lower().replace(" ", "_")
    if key not in _MLFLOW_ATTRIBUTES:
        known = ", ".join(sorted(_MLFLOW_ATTRIBUTES))
        msg = f"unknown MLflow attribute {'.'.join(rest)!r}; known: {known}"
        raise FilterError(msg)
    target = _MLFLOW_ATTRIBUTES[key]
    kind = {"id": "run_id", "status": "status"}.get(target, "")
    return Field(tuple(target.split(".")), text, kind)


def resolve_field(parts: Sequence[str], text: str = "", *, dialect: str = "") -> Field:
    """Map the parts of a dotted field (any dialect) to our canonical path. ``dialect`` is
    ``wandb`` for W&B dict filters (``config.<key>.value``)."""
    if not parts:
        msg = "empty field name"
        raise FilterError(msg)
    head, rest = parts[0], list(parts[1:])
    if head in _WANDB_FIELDS:
        mapped = _WANDB_FIELDS[head].split(".")
        head, rest = mapped[0], mapped[1:] + rest
    if not rest and head in _MLFLOW_BARE:
        return _mlflow_field("attributes", [_MLFLOW_BARE[head]], text)
    if head in _MLFLOW_NAMESPACES and rest:
        return _mlflow_field(_MLFLOW_NAMESPACES[head], rest, text)
    if head in ("tags", "tag") and rest:
        key = ".".join(rest)
        if key in _MLFLOW_TAGS:
            return Field(tuple(_MLFLOW_TAGS[key].split(".")), text)
        return Field(("tags", key), text)  # a "key=value" (or "key:value") tag
    if head == "sweep" and not rest:
        return Field(("sweep", "id"), text)  # W&B's {"sweep": id}; `sweep == null` still asks for none
    if dialect == "wandb" and head == "config" and len(rest) >= 2 and rest[-1] == "value":
        return Field(("config", *rest[:-1]), text, "wandb_config")
    if head in TOP_LEVEL and not rest:
        return Field((head,), text)
    if head in LISTS and rest:
        return Field((head, ".".join(rest)), text, "each")
    if head in NESTED:
        return Field((head, *rest), text)
    raise _unknown(parts)


_ABSENT = object()  # a key a mapping does not have (None is a value: YAML's null)


def _find(value: Any, keys: Sequence[str]) -> Any:
    """Walk nested mappings, _ABSENT where a key is missing; a key may itself contain dots
    (``{"model.lr": 1}``)."""
    if not keys:
        return value
    if not isinstance(value, Mapping):
        return _ABSENT
    for n in range(1, len(keys) + 1):  # shortest key first: nested beats dotted
        key = ".".join(keys[:n])
        if key in value:
            found = _find(value[key], keys[n:])
            if found is not _ABSENT or n == len(keys):
                return found
    return _ABSENT


def _dig(value: Any, keys: Sequence[str]) -> Any:
    """Walk nested mappings; null where a key is missing."""
    found = _find(value, keys)
    return MISSING if found is _ABSENT else found


def param_text(value: Any) -> str:
    """A config value as the text MLflow stores for a param (``str(value)``)."""
    return str(value)


def _tag_value(run: Any, key: str) -> Any:
    for tag in run.doc.get("tags") or ():
        for sep in ("=", ":"):
            k, found, v = str(tag).partition(sep)
            if found and k == key:
                return v
    return MISSING


def getter(field: Field) -> Getter:
    """A function from a run (anything with ``.doc`` and ``.status``) to the field's value
    (a list of values for a field that reads as several, :attr:`Field.many`)."""
    path = field.path
    head = path[0]
    kind = field.kind
    if kind == "status":
        return lambda run: [MLFLOW_STATUS.get(run.status, run.status.upper()), run.status]
    if kind == "run_id":

        def run_ids(run: Any) -> list[Any]:
            origin = run.doc.get("imported_from")
            source_id = origin.get("id") if isinstance(origin, Mapping) else None
            return [run.doc.get("id"), *([source_id] if source_id is not None else [])]

        return run_ids
    if kind == "each":
        key = path[1]
        return lambda run: [
            d.get(key) for d in (run.doc.get(head) or ()) if isinstance(d, Mapping) and d.get(key) is not None
        ]
    if kind == "param":
        rest = path[1:]

        def param(run: Any) -> Any:
            found = _find(run.doc.get("config"), rest)
            return MISSING if found is _ABSENT else param_text(found)

        return param
    if kind == "wandb_config":
        rest = path[1:]

        def wandb_config(run: Any) -> Any:
            found = _find(run.doc.get("config"), (*rest, "value"))  # a config really shaped {k: {value: v}}
            return _dig(run.doc.get("config"), rest) if found is _ABSENT else found

        return wandb_config
    if head == "status":
        return lambda run: run.status
    if head == "tags" and len(path) == 2:
        return lambda run: _tag_value(run, path[1])
    if len(path) == 1:
        return lambda run: run.doc.get(head)
    rest = path[1:]
    return lambda run: _dig(run.doc.get(head), rest)


# ---- values and comparisons ----------------------------------------------------------------------


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _timestamp_number(value: Any, like: float) -> float | None:
    """An ISO timestamp as epoch seconds, or milliseconds when compared with ms (MLflow)."""
    if not isinstance(value, str):
        return None
    try:
        seconds = _format.parse_iso(value)
    except ValueError:
        return None
    return seconds * 1000 if abs(like) > 1e11 else seconds


def _compare(op: str, a: Any, b: Any, field: Field | None) -> bool:
    if b is None:  # an explicit null: "config.x == null" asks whether the run lacks it
        return (a is None) == (op == "==") if op in ("==", "!=") else False
    if a is None:  # a field the run does not have matches nothing, not even "!="
        return False
    if isinstance(a, list) and op in ("==", "!="):  # tags == "x": membership
        found = any(_compare("==", item, b, None) for item in a)
        return found if op == "==" else not found
    if field is not None and field.is_timestamp and _number(b) is not None and not isinstance(b, str):
        a = _timestamp_number(a, float(b))
        if a is None:
            return False
    if field is not None and field.is_status and isinstance(a, str) and isinstance(b, str):
        a, b = a.lower(), b.lower()
    if isinstance(a, bool) or isinstance(b, bool):
        if not (isinstance(a, bool) and isinstance(b, bool)):
            return op == "!="
    elif type(a) is not type(b) and not (isinstance(a, (int, float)) and isinstance(b, (int, float))):
        # A number against text (MLflow params are text): compare as numbers when the text is one.
        na, nb = _number(a), _number(b)
        if na is not None and nb is not None:
            a, b = na, nb
        elif op in ("==", "!="):
            return (str(a) == str(b)) == (op == "==")
        else:
            return False
    if (isinstance(a, float) and math.isnan(a)) or (isinstance(b, float) and math.isnan(b)):
        return op == "!="
    try:
        if op == "==":
            return bool(a == b)
        if op == "!=":
            return bool(a != b)
        if op == "<":
            return bool(a < b)
        if op == "<=":
            return bool(a <= b)
        if op == ">":
            return bool(a > b)
        if op == ">=":
            return bool(a >= b)
    except TypeError:  # e.g. two mappings
        return False
    msg = f"unknown operator {op!r}"  # pragma: no cover (the parser only makes the ones above)
    raise FilterError(msg)


def _like_regex(pattern: str, *, ignore_case: bool) -> Any:
    import regex  # noqa: PLC0415 (5 ms at import: only when a filter has a pattern)

    body = "".join(".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in pattern)
    return regex.compile(body, regex.DOTALL | (regex.IGNORECASE if ignore_case else 0))


# Regexes (`~`, LIKE) run on the `regex` engine (PyPI `regex`, the superset of `re` that
# pip-installed tools widely use): Python's `re` cannot be interrupted, so `name ~ '(a|aa)+$'`
# would hold the interpreter for minutes; `regex` takes a timeout and guards the common
# catastrophic forms itself. A match that runs out of time fails the filter with a message.
def _timed(rx: Any, method: str, text: str) -> bool:
    limit = _settings.get(_settings.REGEX_TIMEOUT)
    try:
        return getattr(rx, method)(text, timeout=limit) is not None
    except TimeoutError:
        msg = (
            f"the pattern {rx.pattern!r} took more than {limit:g} s on one value "
            f"(${_settings.REGEX_TIMEOUT.name}); write a simpler pattern"
        )
        raise FilterError(msg) from None


def _contains(container: Any, item: Any) -> bool:
    if isinstance(container, str):
        return isinstance(item, str) and item in container
    if isinstance(container, (list, tuple)):
        return any(_compare("==", x, item, None) for x in container)
    if isinstance(container, Mapping):
        return item in container
    return False


# ---- building predicates ----------------------------------------------------------------------


def compare_predicate(field: Field, op: str, value: Any) -> Predicate:
    """The predicate ``field op value`` (op: ==, !=, <, <=, >, >=, in, not in, contains, ~,
    like, ilike, exists)."""
    if field.kind == "metric" and op != "exists":
        values = value if op in ("in", "not in") else [value]
        if any(v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))) for v in values):
            where = field.text or field.dotted
            msg = f"{where}: MLflow metrics are numbers; compare with a number such as 0.5, not {value!r}"
            raise FilterError(msg)
    if field.many:
        one = Field(field.path, field.text)
        positive = {"!=": "==", "not in": "in"}.get(op, op)
        each = _predicate_of_value(one, positive, value)
        if positive != op:
            return lambda run: not any(each(v) for v in getter(field)(run))
        get_many = getter(field)
        return lambda run: any(each(v) for v in get_many(run))
    get = getter(field)
    return _predicate(get, field, op, value)


def _predicate_of_value(field: Field, op: str, value: Any) -> Callable[[Any], bool]:
    """``op value`` as a test of one value (for fields that read as several)."""
    return _predicate(lambda v: v, field, op, value)


def _predicate(get: Getter, field: Field, op: str, value: Any) -> Predicate:
    if op in ("in", "not in"):
        values = list(value)
        inside: Predicate = lambda run: any(_compare("==", get(run), v, field) for v in values)  # noqa: E731
        return inside if op == "in" else (lambda run: get(run) is not None and not inside(run))
    if op == "contains":
        return lambda run: _contains(get(run), value)
    if op in ("~", "regex"):
        if not isinstance(value, str):
            msg = f"~ needs a text pattern, got {value!r}"
            raise FilterError(msg)
        import regex  # noqa: PLC0415 (only when a filter has a pattern)

        try:
            rx = regex.compile(value)
        except (regex.error, RecursionError, OverflowError) as exc:
            msg = f"bad regular expression {value!r}: {exc}"
            raise FilterError(msg) from exc
        return lambda run: isinstance(v := get(run), str) and _timed(rx, "search", v)
    if op in ("like", "ilike"):
        if not isinstance(value, str):
            msg = f"{op.upper()} needs a text pattern, got {value!r}"
            raise FilterError(msg)
        rx = _like_regex(value, ignore_case=op == "ilike")
        return lambda run: isinstance(v := get(run), str) and _timed(rx, "fullmatch", v)
    if op == "exists":
        return (lambda run: get(run) is not None) if value else (lambda run: get(run) is None)
    return lambda run: _compare(op, get(run), value, field)


def all_of(preds: Sequence[Predicate]) -> Predicate:
    preds = list(preds)
    return lambda run: all(p(run) for p in preds)


def any_of(preds: Sequence[Predicate]) -> Predicate:
    preds = list(preds)
    return lambda run: any(p(run) for p in preds)


def negate(pred: Predicate) -> Predicate:
    return lambda run: not pred(run)


# ---- the text language ---------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<number>[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?(?![A-Za-z_]))
  | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
  | (?P<backtick>`[^`]*`)
  | (?P<op>==|!=|<>|<=|>=|=|<|>|~|&&|\|\||!|\(|\)|\[|\]|,|\.)
  | (?P<word>[A-Za-z_][A-Za-z0-9_/\-]*)
    """,
    re.VERBOSE,
)

_KEYWORDS = {"and", "or", "not", "in", "contains", "like", "ilike", "true", "false", "null", "none", "is"}


@dataclass
class _Tok:
    kind: str  # number string backtick op word end
    text: str
    pos: int

    @property
    def word(self) -> str:
        return self.text.lower() if self.kind == "word" else ""


def _tokenize(text: str) -> list[_Tok]:
    toks: list[_Tok] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise _error(text, pos, f"unexpected character {text[pos]!r}")
        kind = m.lastgroup or ""
        if kind != "ws":
            toks.append(_Tok(kind, m.group(), pos))
        pos = m.end()
    toks.append(_Tok("end", "", len(text)))
    return toks


def _error(text: str, pos: int, message: str) -> FilterError:
    caret = " " * pos + "^"
    return FilterError(f"{message} at position {pos}:\n  {text}\n  {caret}")


def _unquote(tok: _Tok) -> str:
    body = tok.text[1:-1]
    if tok.kind == "backtick":
        return body
    return re.sub(r"\\(.)", r"\1", body)


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = _tokenize(text)
        self.i = 0
        self.fields: list[Field] = []  # every field the filter names, in order
        self.depth = 0  # open parentheses and 'not's: bounded, so no input can exhaust the stack
        self.max_depth = _settings.get(_settings.MAX_DEPTH)

    def _enter(self) -> None:
        self.depth += 1
        if self.depth > self.max_depth:
            raise _error(
                self.text,
                self.tok.pos,
                f"the filter nests more than {self.max_depth} levels of parentheses or 'not' "
                f"(${_settings.MAX_DEPTH.name})",
            )

    @property
    def tok(self) -> _Tok:
        return self.toks[self.i]

    def _next(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def _fail(self, expected: str) -> FilterError:
        tok = self.tok
        found = "the end" if tok.kind == "end" else repr(tok.text)
        return _error(self.text, tok.pos, f"expected {expected}, found {found}")

    def parse(self) -> Predicate:
        if self.tok.kind == "end":
            raise self._fail("a condition such as config.lr < 0.01")
        pred = self._or()
        if self.tok.kind != "end":
            raise self._fail("'and', 'or' or the end of the filter")
        return pred

    def _or(self) -> Predicate:
        preds = [self._and()]
        while self.tok.word == "or" or self.tok.text == "||":
            self._next()
            preds.append(self._and())
        return preds[0] if len(preds) == 1 else any_of(preds)

    def _and(self) -> Predicate:
        preds = [self._not()]
        while self.tok.word == "and" or self.tok.text == "&&":
            self._next()
            preds.append(self._not())
        return preds[0] if len(preds) == 1 else all_of(preds)

    def _not(self) -> Predicate:
        if self.tok.word == "not" or (self.tok.kind == "op" and self.tok.text == "!"):
            self._enter()
            self._next()
            pred = negate(self._not())
            self.depth -= 1
            return pred
        return self._comparison()

    def _comparison(self) -> Predicate:
        if self.tok.text == "(":
            self._enter()
            self._next()
            pred = self._or()
            if self.tok.text != ")":
                raise self._fail("')'")
            self._next()
            self.depth -= 1
            return pred
        field = self._field()
        tok = self.tok
        op = tok.text.lower() if tok.kind in ("op", "word") else ""
        if op in ("==", "=", "!=", "<>", "<", "<=", ">", ">="):
            self._next()
            op = {"=": "==", "<>": "!="}.get(op, op)
            return compare_predicate(field, op, self._value())
        if op in ("~", "contains", "like", "ilike"):
            self._next()
            return compare_predicate(field, op, self._value())
        if op == "in":
            self._next()
            return compare_predicate(field, "in", self._list())
        if op == "not" and self.toks[self.i + 1].word == "in":
            self.i += 2
            return compare_predicate(field, "not in", self._list())
        if op == "is":
            self._next()
            negated = self.tok.word == "not"
            if negated:
                self._next()
            if self.tok.word not in ("null", "none"):
                raise self._fail("null after 'is'")
            self._next()
            return compare_predicate(field, "exists", negated)
        raise self._fail("an operator (==, !=, <, <=, >, >=, in, not in, contains, ~, like, ilike)")

    def _field(self) -> Field:
        start = self.tok
        parts: list[str] = []
        while True:
            tok = self.tok
            if tok.kind == "word" and (tok.word not in _KEYWORDS or parts):
                parts.append(tok.text)
            elif tok.kind == "backtick" or (tok.kind == "string" and parts):
                parts.append(_unquote(tok))  # MLflow: metrics.`f1 score`, params."model-type"
            else:
                raise self._fail("a field such as config.lr, summary.acc or status")
            self._next()
            if self.tok.text != ".":
                break
            self._next()
        try:
            field = resolve_field(parts, self.text[start.pos : self.tok.pos].strip())
        except FilterError as exc:
            raise _error(self.text, start.pos, str(exc)) from None
        self.fields.append(field)
        return field

    def _value(self) -> Any:
        tok = self.tok
        if tok.kind == "number":
            self._next()
            text = tok.text
            return int(text) if re.fullmatch(r"[-+]?\d+", text) else float(text)
        if tok.kind == "string":
            self._next()
            return _unquote(tok)
        if tok.word in ("true", "false"):
            self._next()
            return tok.word == "true"
        if tok.word in ("null", "none"):
            self._next()
            return None
        raise self._fail("a value (a number, a 'string', true, false or null)")

    def _list(self) -> list[Any]:
        close = {"(": ")", "[": "]"}.get(self.tok.text)
        if close is None:
            raise self._fail("a list such as ['a', 'b'] or ('a', 'b')")
        self._next()
        values = [self._value()]
        while self.tok.text == ",":
            self._next()
            values.append(self._value())
        if self.tok.text != close:
            raise self._fail(f"',' or {close!r}")
        self._next()
        return values


# ---- dict filters (W&B / Mongo style) ---------------------------------------------------------------

_DICT_OPS = {
    "$eq": "==", "$ne": "!=", "$lt": "<", "$lte": "<=", "$gt": ">", "$gte": ">=", "$in": "in",
    "$nin": "not in", "$regex": "~", "$contains": "contains", "$exists": "exists", "$like": "like",
    "$ilike": "ilike",
}  # fmt: skip


def _dict_predicate(spec: Any, where: str, depth: int = 0) -> Predicate:
    limit = _settings.get(_settings.MAX_DEPTH)
    if depth > limit:
        msg = f"{where[:80]}...: the filter nests more than {limit} levels (${_settings.MAX_DEPTH.name})"
        raise FilterError(msg)
    if not isinstance(spec, Mapping):
        msg = f"{where}: expected a mapping such as {{'config.lr': {{'$lt': 0.01}}}}, got {spec!r}"
        raise FilterError(msg)
    preds: list[Predicate] = []
    for key, value in spec.items():
        if key in ("$and", "$or", "$nor"):
            if not isinstance(value, list) or not value:
                msg = f"{where}.{key}: expected a non-empty list of filters"
                raise FilterError(msg)
            subs = [_dict_predicate(v, f"{where}.{key}[{i}]", depth + 1) for i, v in enumerate(value)]
            combined = all_of(subs) if key == "$and" else any_of(subs)
            preds.append(negate(combined) if key == "$nor" else combined)
        elif key == "$not":
            preds.append(negate(_dict_predicate(value, f"{where}.$not", depth + 1)))
        elif isinstance(key, str) and key.startswith("$"):
            msg = f"{where}: unknown operator {key!r}; known: $and, $or, $nor, $not, {', '.join(_DICT_OPS)}"
            raise FilterError(msg)
        else:
            field = resolve_field(_split_dotted(str(key)), str(key), dialect="wandb")
            if isinstance(value, Mapping) and value and all(str(k).startswith("$") for k in value):
                for op_name, operand in value.items():
                    op = _DICT_OPS.get(op_name)
                    if op is None:
                        msg = f"{where}.{key}: unknown operator {op_name!r}; known: {', '.join(_DICT_OPS)}"
                        raise FilterError(msg)
                    if op in ("in", "not in") and not isinstance(operand, (list, tuple)):
                        msg = f"{where}.{key}.{op_name}: expected a list, got {operand!r}"
                        raise FilterError(msg)
                    preds.append(compare_predicate(field, op, operand))
            else:
                preds.append(compare_predicate(field, "==", value))
    return all_of(preds) if len(preds) != 1 else preds[0]


def _split_dotted(key: str) -> list[str]:
    return [p.strip("`") for p in re.findall(r"`[^`]*`|[^.]+", key)]


def compile_filter(where: object) -> Predicate | None:
    """A predicate over runs for a filter text or dict, or None for no filter."""
    if where is None:
        return None
    if isinstance(where, Mapping):
        return _dict_predicate(where, "where")
    if not isinstance(where, str):
        msg = f"where must be a filter text or a dict, got {type(where).__name__}"
        raise FilterError(msg)
    if not where.strip():
        return None
    return _Parser(where).parse()


def parse_field(text: str) -> Field:
    """A field name as used by order_by, --columns and group-by (``summary.acc``)."""
    parser = _Parser(text)
    field = parser._field()  # noqa: SLF001
    if parser.tok.kind != "end":
        raise parser._fail("the end of the field name")  # noqa: SLF001
    return field


# ---- fields no run has ---------------------------------------------------------------------------


def fields_of(where: object) -> list[Field]:
    """The fields a filter (text or dict) names, in order; FilterError if it does not parse."""
    if where is None or (isinstance(where, str) and not where.strip()):
        return []
    if isinstance(where, Mapping):
        out: list[Field] = []
        _dict_fields(where, out)
        return out
    if not isinstance(where, str):
        msg = f"where must be a filter text or a dict, got {type(where).__name__}"
        raise FilterError(msg)
    parser = _Parser(where)
    parser.parse()
    return parser.fields


def _dict_fields(spec: Any, out: list[Field]) -> None:
    if isinstance(spec, list):
        for item in spec:
            _dict_fields(item, out)
        return
    if not isinstance(spec, Mapping):
        return
    for key, value in spec.items():
        if isinstance(key, str) and key.startswith("$"):
            _dict_fields(value, out)
        else:
            out.append(resolve_field(_split_dotted(str(key)), str(key), dialect="wandb"))


# Nested fields whose keys are the user's (config, summary, ...): a misspelt key there is a
# silent empty result, so it is checked against the keys the runs have.
_OPEN_KEYS = ("config", "summary", "tags", "links", *sorted(LISTS))


@dataclass(frozen=True)
class UnknownField:
    """A field that no run in the ledger has, and the closest names that runs do have."""

    field: Field
    suggestions: tuple[str, ...]

    @property
    def name(self) -> str:
        """The field as it was written."""
        return self.field.text or self.field.dotted

    @property
    def message(self) -> str:
        """``no run has the field 'summary.val_acc'; did you mean summary.val/acc?``"""
        hint = f"; did you mean {' or '.join(self.suggestions)}?" if self.suggestions else ""
        return f"no run has the field {self.name!r}{hint}"


def checked(field: Field) -> bool:
    """Whether a field's existence can be checked: a key below an open mapping."""
    return len(field.path) >= 2 and field.path[0] in _OPEN_KEYS


def known_names(runs: Iterable[Any]) -> list[str]:
    """Every dotted name below the open mappings that some run has (``config.model.lr``,
    ``summary.val/acc``, ``tags.task`` for ``task=...`` tags), sorted."""
    names: set[str] = set()

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, Mapping) and value:
            for k, v in value.items():
                walk(f"{prefix}.{k}", v)
        else:
            names.add(prefix)

    for run in runs:
        doc = run.doc
        for head in _OPEN_KEYS:
            value = doc.get(head)
            if head == "tags":
                for tag in value or ():
                    for sep in ("=", ":"):
                        k, found, _v = str(tag).partition(sep)
                        if found:
                            names.add(f"tags.{k}")
                            break
            elif head in LISTS:
                names.update(f"{head}.{k}" for d in value or () if isinstance(d, Mapping) for k in d)
            elif isinstance(value, Mapping):
                walk(head, value)
    return sorted(names)


def suggest(name: str, known: Sequence[str], n: int = 3) -> tuple[str, ...]:
    """The known names closest to ``name``, closest first: compared on the part after the
    namespace (``summary.valacc`` finds ``summary.val_acc``), names of another namespace only
    when very close (``config.val_acc`` for ``summary.val_acc``)."""
    head, _, tail = name.partition(".") if "." in name else ("", "", name)
    scored = []
    for candidate in known:
        c_head, _, c_tail = candidate.partition(".") if "." in candidate else ("", "", candidate)
        ratio = difflib.SequenceMatcher(None, tail.lower(), c_tail.lower()).ratio()
        if c_tail and min(len(tail), len(c_tail)) >= 2 and (tail.startswith(c_tail) or c_tail.startswith(tail)):
            ratio = max(ratio, 0.75)  # lrate -> lr, acc -> accuracy
        if ratio >= (0.6 if c_head == head else 0.85):
            scored.append((-ratio, c_head != head, candidate))
    return tuple(c for _r, _other, c in sorted(scored)[:n])


def unknown_fields(fields: Sequence[Field], runs: Sequence[Any]) -> list[UnknownField]:
    """The fields among ``fields`` that no run of ``runs`` has (only keys below ``config``,
    ``summary``, ``tags`` and the other open mappings are checked; ``status`` or ``group``
    always exist), each with the closest names that runs do have."""
    missing = []
    for field in dict.fromkeys(f for f in fields if checked(f)):
        get = getter(field)
        if field.many:
            if not any(get(r) for r in runs):
                missing.append(field)
        elif all(get(r) is None for r in runs):
            missing.append(field)
    if not missing:
        return []
    known = known_names(runs)
    return [UnknownField(f, suggest(Field(f.path, f.text).dotted, known)) for f in missing]
