"""Output folders that are replaced atomically: a reader (or a crash) never sees a mix of
old and new files. A folder the toolkit wrote carries a marker file; a non-empty folder
without it is never replaced (``--out ~`` must not delete a home folder)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from linkage.errors import OutputError

MARKER = ".linkage-output"
"""File in every output folder the toolkit wrote: only such a folder (or an empty one) is
replaced by a rerun."""


def check_replaceable(folder: str | Path, what: str = "output") -> Path:
    """The folder ``atomic_folder`` may replace: absent, empty, or one the toolkit wrote.

    Raises:
        OutputError: the path is a file, or a non-empty folder without ``MARKER``.

    Example:
        >>> check_replaceable("/tmp/no-such-output-folder").name
        'no-such-output-folder'
    """
    out = Path(folder)
    if out.exists() and not out.is_dir():
        raise OutputError(f"{what} {out} exists and is not a folder")
    if out.is_dir() and not (out / MARKER).exists() and any(out.iterdir()):
        raise OutputError(
            f"{what} {out} is a folder with files the toolkit did not write: refusing to "
            "replace it (choose a new folder, or empty this one)")
    return out


@contextmanager
def atomic_folder(out: str | Path) -> Iterator[Path]:
    """Yield a new partial folder beside ``out``; on success it replaces ``out`` whole,
    on any error it is deleted and ``out`` is left as it was.

    Raises:
        OutputError: ``out`` is a file, or a non-empty folder without ``MARKER``.

    Example:
        >>> with atomic_folder("/tmp/atomic-doc") as tmp:
        ...     _ = (tmp / "a.txt").write_text("new")
    """
    out = check_replaceable(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the folder for {out}: {exc.strerror}") from None
    partial = out.parent / f".{out.name}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    (partial / MARKER).write_text("written by the linkage toolkit; safe to replace\n",
                                  encoding="utf-8")
    try:
        yield partial
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    old = out.parent / f".{out.name}.old"
    shutil.rmtree(old, ignore_errors=True)
    if out.exists():
        out.rename(old)
    partial.rename(out)
    shutil.rmtree(old, ignore_errors=True)


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file and a rename, so a reader (or a
    crash) sees the old file or the new one, never half of one.

    Raises:
        OutputError: ``path`` is a folder or cannot be written (folders are created).

    Example:
        >>> atomic_write_text("/tmp/atomic-doc.txt", "new").read_text()
        'new'
    """
    out = Path(path)
    if out.is_dir():
        raise OutputError(f"output {out} is a folder, not a file")
    partial = out.parent / f".{out.name}.partial"
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        partial.write_text(text, encoding="utf-8")
        partial.replace(out)
    except OSError as exc:
        with suppress(OSError):
            partial.unlink(missing_ok=True)
        raise OutputError(f"cannot write {out}: {exc.strerror or exc}") from None
    return out
