"""Frozen dataclasses from parsed TOML, collecting every type problem instead of stopping.

Generic: knows nothing of scenarios. A field with a default (or a default factory) may be
left out of the TOML; every other field is required. Problems are appended to ``errors`` as
``<dotted key>: <what is wrong>``.

Example:
    >>> from dataclasses import dataclass
    >>> @dataclass(frozen=True)
    ... class Lag:
    ...     median: float
    ...     p90: float = 9.0
    >>> errors: list[str] = []
    >>> build(Lag, {"median": 2, "typo": 1}, "lag.", errors), errors
    (Lag(median=2.0, p90=9.0), ['lag.typo: unknown key (allowed: median, p90)'])
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import types
import typing
from typing import Any

SKIPPED_FIELDS = ("source",)
"""Fields set by the loader, never by the file."""


def _required(f: dataclasses.Field) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


def build(cls: Any, data: Any, path: str, errors: list[str]) -> Any:
    """Build a frozen dataclass from TOML data, appending every problem to ``errors``;
    None when a required field is missing or the data is not a table."""
    if not isinstance(data, dict):
        errors.append(f"{path.rstrip('.') or 'scenario'}: expected a table, got "
                      f"{type(data).__name__}")
        return None
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name not in SKIPPED_FIELDS}
    for key in sorted(set(data) - set(fields)):
        errors.append(f"{path}{key}: unknown key (allowed: {', '.join(sorted(fields))})")
    values: dict[str, Any] = {}
    for name, f in fields.items():
        if name not in data:
            if _required(f):
                errors.append(f"{path}{name}: missing")
            continue
        values[name] = coerce(hints[name], data[name], f"{path}{name}", errors)
    if any(_required(f) and values.get(n) is None for n, f in fields.items()):
        return None
    return cls(**values)


def coerce(hint: Any, value: Any, path: str, errors: list[str]) -> Any:
    """``value`` as type ``hint`` (dataclass, tuple, dict or scalar), or record why not."""
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return build(hint, value, f"{path}.", errors)
    if origin is tuple:
        args = typing.get_args(hint)
        if not isinstance(value, list):
            errors.append(f"{path}: expected a list, got {value!r}")
            return ()
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(coerce(args[0], v, f"{path}[{i}]", errors) for i, v in enumerate(value))
        if len(value) != len(args):
            errors.append(f"{path}: expected {len(args)} items, got {len(value)}")
            return ()
        pairs = enumerate(zip(args, value, strict=True))
        return tuple(coerce(a, v, f"{path}[{i}]", errors) for i, (a, v) in pairs)
    if origin is dict:
        _key_t, val_t = typing.get_args(hint)
        if not isinstance(value, dict):
            errors.append(f"{path}: expected a table, got {value!r}")
            return {}
        return {str(k): coerce(val_t, v, f"{path}.{k}", errors) for k, v in value.items()}
    if origin in (typing.Union, types.UnionType):  # pragma: no cover - not used yet
        return value
    return _scalar(hint, value, path, errors)


def _scalar(hint: Any, value: Any, path: str, errors: list[str]) -> Any:
    ok = {
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, (int, float)) and not isinstance(value, bool),
        str: isinstance(value, str),
        bool: isinstance(value, bool),
        dt.date: isinstance(value, dt.date) and not isinstance(value, dt.datetime),
    }.get(hint, True)
    if not ok:
        errors.append(f"{path}: expected {getattr(hint, '__name__', hint)}, got {value!r}")
        return value
    return float(value) if hint is float else value
