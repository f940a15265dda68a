"""Keeping secrets out of what a run records: one list of secret-looking names, applied to
argv, config keys at any depth and URL query parameters; credentials in URLs; and the
shapes of well-known secrets wherever they appear.

A name is split into lowercase words (at ``-``, ``_``, ``.`` and camelCase: ``--hf-token``,
``WANDB_API_KEY``, ``db.password``, ``apiKey``); it is secret-looking when its words contain
an entry of :data:`SECRET_NAMES` (``api_key`` is the words ``api key``) or ends in ``key``
(not a data key such as ``sort_key``, ``rng_key``), unless the word
after it says the value only points at or measures the secret (``secret_file``,
``api_key_env``, ``auth_type``, ``token_budget``) or the entry is ``token`` used as NLP
models use it (``pad_token``, ``eos_token_id``, ``max_tokens`` is another word anyway).
"""

from __future__ import annotations

import functools
import logging
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

log = logging.getLogger("ledger")

REDACTED = "***"

# The one list. Each entry is matched as whole words, in order, anywhere in a name.
SECRET_NAMES = (
    "api_key", "apikey", "token", "secret", "password", "passwd", "passphrase", "private_key", "access_key",
    "secret_key", "credential", "credentials", "auth", "authorization", "webhook", "dsn", "signature",
)  # fmt: skip
# A word right after the entry that makes the name about the secret, not the secret itself.
NOT_SECRET_AFTER = frozenset(
    {"file", "path", "dir", "env", "var", "name", "type", "types", "count", "len", "length", "size", "limit",
     "budget", "ids", "enabled", "required", "method", "mode"}
)  # fmt: skip
# ``token`` in language models: pad_token, eos_token_id, token_type_ids are not secrets.
NOT_SECRET_TOKEN_BEFORE = frozenset(
    {"pad", "eos", "bos", "unk", "sep", "cls", "mask", "special", "start", "end", "max", "min", "num", "decoder",
     "image", "vision", "audio", "first", "last"}
)  # fmt: skip
# ``key`` as the last word (``--key``, ``HF_KEY``, ``license_key``) is secret too, unless the word
# before it makes it a data key: sort_key, metric_key, rng_key, ...
NOT_SECRET_KEY_BEFORE = frozenset(
    {"sort", "primary", "foreign", "metric", "monitor", "group", "join", "index", "dict", "hash", "partition",
     "cache", "lookup", "map", "order", "dataset", "column", "label", "target", "input", "output", "feature",
     "image", "text", "data", "batch", "sample", "split", "random", "seed", "rng", "prng", "sub", "row", "id",
     "dedup", "shard", "bucket", "layer", "attention", "query", "value", "keyword"}
)  # fmt: skip
# URL query parameters that carry a secret although their name alone says little
# (Google's ?key=, Azure SAS ?sig=, presigned S3/GCS URLs' X-Amz-Credential and X-Goog-Credential).
SECRET_QUERY_NAMES = frozenset({"key", "sig", "code", "x-amz-credential", "x-goog-credential"})

_CAMEL = re.compile(r"([a-z0-9])([A-Z])")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
# Schemes where anything before '@' is a credential (a token is often given as the user name).
_USER_IS_SECRET = frozenset({"http", "https", "ftp", "ftps", "ws", "wss"})

# High-confidence shapes of secrets: matched anywhere in text (argv, config values, tracebacks,
# git remotes, code.patch lines). Each match becomes ***.
SECRET_SHAPES: dict[str, str] = {
    "AWS access key id": r"\b(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b",
    "AWS secret access key": r"(?i:aws_?secret_?access_?key)[\"']?\s*[:=]\s*[\"']?[A-Za-z0-9/+=]{40}(?![A-Za-z0-9/+=])",
    "private key block": r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----",
    "GitHub token": r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})\b",
    "Hugging Face token": r"\bhf_[A-Za-z0-9]{30,}\b",
    "OpenAI-style key": r"\bsk-(?:[A-Za-z0-9]+-)*[A-Za-z0-9_]{20,}",
    "Slack token": r"\bxox[abposr]-[A-Za-z0-9-]{10,}",
    "Slack or Discord webhook": (
        r"https://(?:hooks\.slack\.com/services|(?:ptb\.|canary\.)?discord(?:app)?\.com/api/webhooks)/[^\s'\"<>]+"
    ),
    "Google API key": r"\bAIza[0-9A-Za-z_-]{35}\b",
    "Stripe key": r"\b[sr]k_live_[0-9A-Za-z]{20,}\b",
}
# The lowercase pieces one of which each shape contains: a C-speed `in` test decides most text
# at once, and only a shape whose piece is there runs its regex.
_SHAPE_HINTS: dict[str, tuple[str, ...]] = {
    "AWS access key id": ("akia", "asia", "abia", "acca"),
    "AWS secret access key": ("secret_access", "secretaccess"),
    "private key block": ("private key",),
    "GitHub token": ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
    "Hugging Face token": ("hf_",),
    "OpenAI-style key": ("sk-",),
    "Slack token": ("xox",),
    "Slack or Discord webhook": ("hooks.slack.com", "discord"),
    "Google API key": ("aiza",),
    "Stripe key": ("_live_",),
}
_SHAPES = [(hints, re.compile(SECRET_SHAPES[name])) for name, hints in _SHAPE_HINTS.items()]
_SHAPES_BYTES = [
    (tuple(h.encode() for h in hints), re.compile(SECRET_SHAPES[name].encode())) for name, hints in _SHAPE_HINTS.items()
]
# A URL inside any text (argv items, config strings, tracebacks).
_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>`]+")


def _words(name: str) -> tuple[str, ...]:
    return tuple(w for w in re.split(r"[-_.\s]+", _CAMEL.sub(r"\1_\2", name.lstrip("-+~")).lower()) if w)


_SECRET_WORDS = tuple(_words(n) for n in SECRET_NAMES)
_FIRST_WORDS = frozenset(w[0] for w in _SECRET_WORDS)


def _contains(words: tuple[str, ...], phrase: tuple[str, ...]) -> list[int]:
    """The positions where ``phrase`` starts in ``words``."""
    k = len(phrase)
    return [i for i in range(len(words) - k + 1) if words[i : i + k] == phrase]


@functools.lru_cache(maxsize=4096)  # a sweep asks about the same few names again and again
def is_secret_name(
    name: str, extra: tuple[tuple[str, ...], ...] = (), keep: frozenset[tuple[str, ...]] = frozenset()
) -> bool:
    """Whether an option or key name (``--api-key``, ``FOO_TOKEN``, ``apiKey``, ``db.password``)
    names a secret; ``extra`` adds entries (as word tuples), ``keep`` lists names that are not."""
    words = _words(name)
    if not words or words in keep:
        return False
    if not extra and words[-1] != "key" and _FIRST_WORDS.isdisjoint(words):
        return False  # the common case, decided without looking for phrases
    for phrase in (*_SECRET_WORDS, *extra):
        for start in _contains(words, phrase):
            after = words[start + len(phrase)] if start + len(phrase) < len(words) else None
            if after in NOT_SECRET_AFTER:
                continue
            if phrase == ("token",) and (
                (start > 0 and words[start - 1] in NOT_SECRET_TOKEN_BEFORE)
                or after in ("id", "embedding", "embeddings")
            ):
                continue
            return True
    return words[-1] == "key" and (len(words) == 1 or words[-2] not in NOT_SECRET_KEY_BEFORE)


def redact_url(url: str) -> str:
    """A URL without its secrets: ``https://user:token@host/x`` -> ``https://host/x``,
    ``ssh://git:pw@host/x`` -> ``ssh://git@host/x``, and the values of secret-looking query
    parameters (``?token=``, ``?api_key=``, ``?sig=``, ``X-Amz-Signature``) as ``***``.
    Anything that is not such a URL comes back unchanged."""
    if "://" not in url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if "@" in parts.netloc:
        userinfo, host = parts.netloc.rsplit("@", 1)
        if parts.scheme.lower() in _USER_IS_SECRET:
            netloc = host
        else:  # ssh://git@host: the user name is an account, only a password is secret
            netloc = f"{userinfo.split(':', 1)[0]}@{host}" if userinfo.split(":", 1)[0] else host
        parts = parts._replace(netloc=netloc)
    if parts.query:
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        if any(_secret_query(k) for k, _v in pairs):
            query = "&".join(f"{k}={REDACTED}" if _secret_query(k) else (f"{k}={v}" if v else k) for k, v in pairs)
            parts = parts._replace(query=query)
    return urlunsplit(parts)


def _secret_query(name: str) -> bool:
    return name.lower() in SECRET_QUERY_NAMES or is_secret_name(name)


# Kept for callers that only mean URL credentials (git remotes): the same function.
strip_url_credentials = redact_url


def redact_text(text: str) -> str:
    """``text`` with every URL's secrets removed (:func:`redact_url`) and every well-known
    secret shape (:data:`SECRET_SHAPES`) replaced by ``***``."""
    if "://" in text:
        text = _URL.sub(lambda m: redact_url(m.group()), text)
    low = text.lower()
    for hints, pattern in _SHAPES:
        if any(h in low for h in hints):
            text = pattern.sub(REDACTED, text)
    return text


def redact_bytes_line(line: bytes) -> bytes:
    """One line of bytes with secret shapes replaced (code.patch)."""
    low = line.lower()
    for hints, pattern in _SHAPES_BYTES:
        if any(h in low for h in hints):
            line = pattern.sub(REDACTED.encode(), line)
    return line


def has_secret_shape(data: bytes) -> bool:
    """Whether ``data`` holds a well-known secret shape anywhere (one C-speed search)."""
    low = data.lower()
    return any(any(h in low for h in hints) and pattern.search(data) is not None for hints, pattern in _SHAPES_BYTES)


@dataclass(frozen=True)
class Redaction:
    """What a run treats as secret: the list, plus ``redact`` names, minus ``keep`` names
    (``ledger.init(redact=[...], keep=[...])``); a name in either is matched by its words, a
    dotted config path (``db.url``) by the whole path."""

    extra: tuple[tuple[str, ...], ...] = ()
    keep: frozenset[tuple[str, ...]] = frozenset()
    extra_paths: frozenset[str] = frozenset()
    keep_paths: frozenset[str] = frozenset()

    @classmethod
    def of(cls, redact: Any = None, keep: Any = None) -> Redaction:
        """From ``init``'s arguments: lists of names (a string alone is one name)."""
        add, kept = _names("redact", redact), _names("keep", keep)
        return cls(
            extra=tuple(w for n in add if (w := _words(n))),
            keep=frozenset(w for n in kept if (w := _words(n))),
            extra_paths=frozenset(n for n in add if "." in n),
            keep_paths=frozenset(n for n in kept if "." in n),
        )

    def secret(self, name: str, path: str | None = None) -> bool:
        """Whether the option or key ``name`` (at dotted ``path`` in the config) is secret."""
        if path is not None and path in self.keep_paths:
            return False
        if path is not None and path in self.extra_paths:
            return True
        return is_secret_name(name, self.extra, self.keep)

    def config(
        self, cfg: dict[str, Any], prefix: str = "", found: set[str] | None = None
    ) -> tuple[dict[str, Any], list[str]]:
        """The config with secret values as ``***`` (a secret-looking key's whole value, at any
        depth; null, booleans and empty strings stay, they hold no credential) and every
        string's URLs and secret shapes redacted; and the dotted keys that changed."""
        out: dict[str, Any] = {}
        changed: list[str] = []
        for key, value in cfg.items():
            path = f"{prefix}{key}"
            if path in self.keep_paths or _words(str(key)) in self.keep:  # kept whole, as given
                out[key] = value
                continue
            if value is not None and not isinstance(value, bool) and value != "" and self.secret(str(key), path):
                out[key] = REDACTED
                changed.append(path)
                if found is not None:
                    found.update(_strings(value))
            else:
                out[key], sub = self._value(value, path, found)
                changed += sub
        return out, changed

    def _value(self, value: Any, path: str, found: set[str] | None) -> tuple[Any, list[str]]:
        if isinstance(value, dict):
            return self.config(value, f"{path}.", found)
        if isinstance(value, list):
            items = [self._value(v, f"{path}[{i}]", found) for i, v in enumerate(value)]
            return [v for v, _ in items], [c for _, sub in items for c in sub]
        if isinstance(value, str) and path not in self.keep_paths:
            clean = redact_text(value)
            return clean, ([path] if clean != value else [])
        return value, []

    def argv(self, argv: list[str], found: set[str] | None = None) -> list[str]:
        """argv with the values of secret-looking arguments replaced by ``***``.

        Handles ``--api-key VALUE``, ``--api-key=VALUE`` and ``NAME_TOKEN=VALUE``; URLs lose
        their credentials and secret query values, and secret shapes are replaced, wherever
        they appear.
        """
        out: list[str] = []
        hide_next = False
        for i, arg in enumerate(argv):
            if hide_next:
                hide_next = False
                if not arg.startswith("--"):  # a bare flag followed by another option hides nothing
                    out.append(REDACTED)
                    if found is not None:
                        found.add(arg)
                    continue
            if i > 0 and arg.startswith("-") and "=" not in arg and self.secret(arg):
                hide_next = True
                out.append(arg)
                continue
            name, sep, value = arg.partition("=")
            if sep and value and i > 0 and _NAME.fullmatch(name.lstrip("-+~")) and self.secret(name):
                out.append(f"{name}={REDACTED}")
                if found is not None:
                    found.add(value)
                continue
            out.append(redact_text(arg))
        return out

    def warn(self, changed: list[str], where: str = "config") -> None:
        """One warning naming the keys whose values were redacted."""
        if changed:
            shown = ", ".join(changed[:20]) + (f", ... ({len(changed) - 20} more)" if len(changed) > 20 else "")
            log.warning(
                "ledger: %s values that look secret were stored as %s: %s (ledger.init(keep=[...]) keeps a "
                "name, redact=[...] adds one)",
                where,
                REDACTED,
                shown,
            )


def _strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [str(value)]


def redact_known(text: str, known: set[str]) -> str:
    """``text`` with :func:`redact_text` applied and every value the run redacted elsewhere
    (an argument, a config value; 4 characters or more) replaced by ``***`` too: a traceback
    that quotes the API key it was given loses it."""
    text = redact_text(text)
    for value in sorted((v for v in known if len(v) >= MIN_KNOWN), key=len, reverse=True):
        text = text.replace(value, REDACTED)
    return text


MIN_KNOWN = 4  # shorter redacted values are not searched for in other text (they would hit words)


def _names(what: str, value: Any) -> list[str]:
    if value is None:
        return []
    items = [value] if isinstance(value, str) else list(value)
    if not all(isinstance(v, str) and v for v in items):
        msg = f"{what} must be a list of names such as ['api_key', 'db.url'], got {value!r}"
        raise TypeError(msg)
    return items


DEFAULT = Redaction()


def redact_argv(argv: list[str]) -> list[str]:
    """:meth:`Redaction.argv` with the default list."""
    return DEFAULT.argv(argv)
