"""Locate files that ship with the toolkit: SQL, great-expectations suites, scenarios, data.

``sql/`` and ``expectations/`` sit at the top of the repository; a built wheel carries them
as ``linkage/_sql`` and ``linkage/_expectations`` (see pyproject). Everything else that
ships lives inside the package.
"""

from __future__ import annotations

from pathlib import Path

_PKG = Path(__file__).resolve().parent


def _top_level(name: str) -> Path:
    packaged = _PKG / f"_{name}"
    if packaged.is_dir():
        return packaged
    source = _PKG.parent / name
    if source.is_dir():
        return source
    raise FileNotFoundError(f"toolkit resource folder {name!r} not found (broken install?)")


def sql_dir() -> Path:
    """Folder holding the SQL files the package runs (one file per table it builds)."""
    return _top_level("sql")


def expectations_dir() -> Path:
    """Folder holding the great-expectations suite JSON files (one per table)."""
    return _top_level("expectations")


def package_data(name: str) -> Path:
    """Path of a data file shipped inside the package (``linkage/data/<name>``)."""
    return _PKG / "data" / name


def scenarios_dir() -> Path:
    """Folder of the scenarios that ship with the toolkit."""
    return _PKG / "scenarios"


def templates_dir() -> Path:
    """Folder of the report templates (Jinja2) that ship inside the package."""
    return _PKG / "templates"
