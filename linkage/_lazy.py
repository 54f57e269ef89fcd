"""Lazy re-exports for package ``__init__`` files (PEP 562).

A stage package names what other stages may use without importing its heavy modules
(Splink, great-expectations, pandas) until a name is first used, so ``import linkage``
and a cheap constant stay cheap.

Example:
    >>> getattr_, dir_ = lazy_exports("linkage", {"connect": "linkage.db"})
    >>> getattr_("connect").__name__
    'connect'
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, exports: Mapping[str, str]
                 ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package`` that import ``exports[name]`` (a
    module path) on first use of ``name`` and keep the value in the package."""

    def getattr_(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)
        return value

    def dir_() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(exports))

    return getattr_, dir_
