"""Keeping secrets out of what a run records: URL credentials and secret-looking arguments."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

REDACTED = "***"

# The last word of an option or key name that marks its value as secret: --api-key,
# --hf-token, --db-password, --client-secret, WANDB_API_KEY=..., model.api_key=...
# Only the last word counts, so --max-tokens, --tokenizer and --secret-file stay visible.
_SECRET_WORDS = frozenset({"key", "apikey", "token", "password", "passwd", "secret", "credential", "credentials"})
_CAMEL = re.compile(r"([a-z0-9])([A-Z])")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
# Schemes where anything before '@' is a credential (a token is often given as the user name).
_USER_IS_SECRET = frozenset({"http", "https", "ftp", "ftps"})


def is_secret_name(name: str) -> bool:
    """Whether an option or key name (``--api-key``, ``FOO_KEY``, ``apiKey``) names a secret."""
    words = [w for w in re.split(r"[-_.]+", _CAMEL.sub(r"\1_\2", name.lstrip("-+~")).lower()) if w]
    return bool(words) and words[-1] in _SECRET_WORDS


def strip_url_credentials(url: str) -> str:
    """``https://user:token@host/x`` -> ``https://host/x``; ``ssh://git:pw@host/x`` ->
    ``ssh://git@host/x``. Anything that is not a URL with credentials comes back unchanged."""
    if "://" not in url or "@" not in url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if "@" not in parts.netloc:
        return url
    userinfo, host = parts.netloc.rsplit("@", 1)
    scheme = parts.scheme.lower()
    if scheme in _USER_IS_SECRET:
        netloc = host
    else:  # ssh://git@host: the user name is an account, only a password is secret
        netloc = f"{userinfo.split(':', 1)[0]}@{host}" if userinfo.split(":", 1)[0] else host
    return urlunsplit(parts._replace(netloc=netloc))


def redact_argv(argv: list[str]) -> list[str]:
    """argv with the values of secret-looking arguments replaced by ``***``.

    Handles ``--api-key VALUE``, ``--api-key=VALUE`` and ``NAME_KEY=VALUE``; URLs with
    embedded credentials lose them wherever they appear.
    """
    out: list[str] = []
    hide_next = False
    for i, arg in enumerate(argv):
        if hide_next:
            hide_next = False
            if not arg.startswith("--"):  # a bare flag followed by another option hides nothing
                out.append(REDACTED)
                continue
        if i > 0 and arg.startswith("-") and "=" not in arg and is_secret_name(arg):
            hide_next = True
            out.append(arg)
            continue
        name, sep, value = arg.partition("=")
        if sep and value and i > 0 and _NAME.fullmatch(name.lstrip("-+~")) and is_secret_name(name):
            out.append(f"{name}={REDACTED}")
            continue
        out.append(strip_url_credentials(arg))
    return out
