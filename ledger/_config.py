"""Turning what users pass as config (dicts, argparse, dataclasses, OmegaConf) into plain YAML data."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import pathlib
import warnings
from collections.abc import Mapping
from typing import Any

from ledger._errors import LedgerWarning

_MAX_ARRAY = 10_000  # larger arrays are stored as their repr: a config is not a data store


def _omegaconf_container(value: Any) -> Any:
    # OmegaConf/Hydra configs: resolved to plain containers; omegaconf is imported only
    # when such an object is given (it is already loaded then).
    from omegaconf import OmegaConf  # noqa: PLC0415  # type: ignore[import-not-found,unused-ignore]

    return OmegaConf.to_container(value, resolve=True)


def _is_omegaconf(value: Any) -> bool:
    return type(value).__module__.startswith("omegaconf")


def _as_mapping(value: Any) -> Mapping[Any, Any] | None:
    if isinstance(value, Mapping):
        return value
    if _is_omegaconf(value):
        container = _omegaconf_container(value)
        return container if isinstance(container, Mapping) else None
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if type(value).__name__ == "Namespace" and hasattr(value, "__dict__"):  # argparse, SimpleNamespace
        return dict(vars(value))
    return None


def normalize_config(config: Any) -> dict[str, Any]:
    """A plain ``dict`` of YAML-safe values; values YAML cannot hold become their repr
    with a :class:`LedgerWarning` naming the key."""
    if config is None:
        return {}
    mapping = _as_mapping(config)
    if mapping is None:
        msg = (
            f"config must be a dict, an argparse.Namespace, a dataclass instance or an "
            f"OmegaConf config, not {type(config).__name__}"
        )
        raise TypeError(msg)
    try:
        return _normalize_mapping(mapping, "")
    except RecursionError:
        msg = "config is nested too deep to store (or refers to itself); flatten it"
        raise ValueError(msg) from None


def _normalize_mapping(mapping: Mapping[Any, Any], prefix: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        if isinstance(key, str):
            name = key
        elif isinstance(key, (int, float, bool)) and not isinstance(key, enum.Enum):
            name = str(key)
        else:
            name = repr(key)
            warnings.warn(
                f"config key {prefix}{name} is a {type(key).__name__}; stored as its repr",
                LedgerWarning,
                stacklevel=4,
            )
        out[name] = normalize_value(value, f"{prefix}{name}")
    return out


def normalize_value(value: Any, key: str) -> Any:
    """One config value as YAML-safe data (``key`` is the dotted name used in warnings)."""
    if value is None or isinstance(value, (str, bool, dt.date)):
        return value
    if isinstance(value, enum.Enum):
        return normalize_value(value.value, key)
    if isinstance(value, (int, float)):
        return int(value) if isinstance(value, int) else float(value)
    if isinstance(value, pathlib.PurePath):
        return str(value)
    mapping = _as_mapping(value)
    if mapping is not None:
        return _normalize_mapping(mapping, key + ".")
    if isinstance(value, (list, tuple)):
        return [normalize_value(v, f"{key}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, (set, frozenset)):
        items = [normalize_value(v, f"{key}[]") for v in value]
        try:
            return sorted(items)
        except TypeError:
            return sorted(items, key=repr)
    scalar = _array_value(value)
    if scalar is not _NOT_ARRAY:
        return normalize_value(scalar, key)
    warnings.warn(
        f"config value {key} is a {type(value).__name__}, which YAML cannot hold; stored as its repr",
        LedgerWarning,
        stacklevel=4,
    )
    return repr(value)


_NOT_ARRAY = object()


def _array_value(value: Any) -> Any:
    """numpy / torch scalars and small arrays as Python numbers and lists."""
    size = getattr(value, "size", None)
    if callable(size):  # torch: .size() is a method; numel() is the count
        size = value.numel() if hasattr(value, "numel") else None
    if not isinstance(size, int):
        return _NOT_ARRAY
    if getattr(value, "ndim", None) == 0 and hasattr(value, "item"):
        return value.item()
    if size <= _MAX_ARRAY and hasattr(value, "tolist"):
        return value.tolist()
    return _NOT_ARRAY
