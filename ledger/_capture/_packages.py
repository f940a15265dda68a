"""Installed packages, for requirements.txt: read through importlib.metadata, no subprocess."""

from __future__ import annotations

import re

# A wheel-installed distribution lives in "<name>-<version>.dist-info": both are in the
# folder name (wheel spec), so the common case needs no METADATA parse (~0.3 ms each).
_DIST_INFO = re.compile(r"([A-Za-z0-9](?:[A-Za-z0-9._]*[A-Za-z0-9])?)-([0-9][^-]*)\.dist-info")
_SEPARATORS = re.compile(r"[-_.]+")


def normalize_name(name: str) -> str:
    """PEP 503 normalised project name: ``Typing_Extensions`` -> ``typing-extensions``."""
    return _SEPARATORS.sub("-", name).lower()


def installed_packages() -> dict[str, str]:
    """``{normalised name: version}`` of the distributions this interpreter can import,
    sorted by name; where a name is installed twice, the one found first on sys.path wins."""
    import importlib.metadata  # noqa: PLC0415 (~10 ms of imports: only when a run starts)

    found: dict[str, str] = {}
    for dist in importlib.metadata.distributions():
        folder = getattr(dist, "_path", None)  # PathDistribution's folder; absent for others
        m = _DIST_INFO.fullmatch(getattr(folder, "name", ""))
        if m is not None:
            name, version = m.group(1), m.group(2)
        else:  # egg-info, odd installers: read the metadata
            try:
                name, version = dist.metadata["Name"], dist.version
            except Exception:  # noqa: S112 (one broken install must not hide the others)
                continue
            if not name or not version:
                continue
        found.setdefault(normalize_name(name), version)
    return dict(sorted(found.items()))


def requirements_txt() -> bytes:
    """``name==version`` lines, sorted: the content of a run's requirements.txt."""
    return "".join(f"{name}=={version}\n" for name, version in installed_packages().items()).encode()


def parse_requirements(data: bytes) -> dict[str, str]:
    """``{normalised name: version}`` from requirements.txt content (other lines ignored)."""
    out: dict[str, str] = {}
    for line in data.decode("utf-8", errors="replace").splitlines():
        name, sep, version = line.split("#", 1)[0].strip().partition("==")
        if sep and name.strip():
            out[normalize_name(name.strip())] = version.strip()
    return out
