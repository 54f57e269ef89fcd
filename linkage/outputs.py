"""Output folders that are replaced atomically: a reader (or a crash) never sees a mix of
old and new files. A folder the toolkit wrote carries a marker file; a non-empty folder
without it is never replaced (``--out ~`` must not delete a home folder)."""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from linkage.errors import BusyError, OutputError

log = logging.getLogger(__name__)

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


def lock_path(target: str | Path) -> Path:
    """The lock file of an output folder or database: a hidden sibling, because the folder
    itself is replaced whole.

    Example:
        >>> lock_path("/tmp/study_out").name
        '.study_out.lock'
    """
    out = Path(target)
    return out.parent / f".{out.name}.lock"


@contextmanager
def output_lock(target: str | Path) -> Iterator[Path]:
    """Hold an exclusive lock on ``target`` (an output folder or file) while the block runs.

    A second run on the same target fails at once, naming the process that holds the lock;
    the first run is unaffected. The lock is an OS file lock (``flock``), so a run killed
    with ``kill -9`` releases it too; the lock file is removed on a normal exit.

    Raises:
        BusyError: another process holds the lock.
        OutputError: the lock file cannot be created (read-only or missing location).

    Example:
        >>> with output_lock("/tmp/locked-doc") as lock:
        ...     lock.name
        '.locked-doc.lock'
    """
    path = lock_path(target)
    while True:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise OutputError(f"cannot write in {path.parent}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.ENOLCK, errno.EOPNOTSUPP):  # a file system without locks
                log.warning("cannot lock %s (%s): running unlocked", path, exc.strerror)
                break
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "unknown"
            os.close(fd)
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                raise OutputError(f"cannot lock {path}: {exc.strerror or exc}") from None
            raise BusyError(f"{target} is in use by another linkage run ({holder}); wait for "
                            f"it to finish or choose another output") from None
        # The holder before us may have removed the file between our open and our lock.
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}, {Path(sys.argv[0]).name} "
                      f"started {started}\n".encode(), 0)
        yield path
    finally:
        with suppress(OSError):
            path.unlink()
        os.close(fd)


@contextmanager
def atomic_folder(out: str | Path) -> Iterator[Path]:
    """Yield a new partial folder beside ``out`` (holding ``out``'s lock, see
    :func:`output_lock`); on success it replaces ``out`` whole, on any error or interrupt
    it is deleted and ``out`` is left as it was.

    Raises:
        BusyError: another run is writing ``out``.
        OutputError: ``out`` is a file, or a non-empty folder without ``MARKER``, or its
            location cannot be written.

    Example:
        >>> with atomic_folder("/tmp/atomic-doc") as tmp:
        ...     _ = (tmp / "a.txt").write_text("new")
    """
    # Absolute, so that `--out .` names the current folder (refused unless ours), not ''.
    out = Path(os.path.abspath(out))
    with output_lock(out):
        with _atomic_folder(out) as partial:
            yield partial


@contextmanager
def _atomic_folder(out: Path) -> Iterator[Path]:
    partial, old = out.parent / f".{out.name}.partial", out.parent / f".{out.name}.old"
    if not out.exists() and (old / MARKER).is_file():
        old.rename(out)  # a run killed with kill -9 between its two renames: undo the first
    check_replaceable(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(partial, ignore_errors=True)  # left by a run killed with kill -9
        partial.mkdir()
        (partial / MARKER).write_text("written by the linkage toolkit; safe to replace\n",
                                      encoding="utf-8")
    except OSError as exc:
        shutil.rmtree(partial, ignore_errors=True)
        raise OutputError(f"cannot write {out}: {exc.strerror or exc}") from None
    try:
        yield partial
    except BaseException as exc:
        shutil.rmtree(partial, ignore_errors=True)
        full = _disk_full(exc)
        if full:
            raise OutputError(f"cannot write {out}: {full}") from None
        raise
    shutil.rmtree(old, ignore_errors=True)
    with _signals_held():
        try:
            if out.exists():
                out.rename(old)
            partial.rename(out)
        except OSError as exc:
            shutil.rmtree(partial, ignore_errors=True)
            if old.exists() and not out.exists():
                old.rename(out)
            raise OutputError(f"cannot replace {out}: {exc.strerror or exc}") from None
    shutil.rmtree(old, ignore_errors=True)


@contextmanager
def _signals_held() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back while the block runs (delivered after it), so an
    interrupt cannot fall between the two renames that swap an output folder."""
    held = {signal.SIGINT, signal.SIGTERM}
    try:
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    except (AttributeError, OSError, ValueError):  # no pthread_sigmask on this platform
        yield
        return
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


@contextmanager
def scratch_dir(folder: str | Path) -> Iterator[Path]:
    """Send Python's temporary files (``tempfile``: Splink's work folders among them) into
    a new ``folder`` for the block, then delete it. Inside a partial output folder, even a
    run killed with ``kill -9`` leaves them only where the next run clears them.

    Example:
        >>> import tempfile
        >>> with scratch_dir("/tmp/scratch-doc") as scratch:
        ...     tempfile.gettempdir() == str(scratch)
        True
    """
    scratch = Path(folder)
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    previous, tempfile.tempdir = tempfile.tempdir, str(scratch)
    try:
        yield scratch
    finally:
        tempfile.tempdir = previous
        shutil.rmtree(scratch, ignore_errors=True)


def _disk_full(exc: BaseException) -> str | None:
    """The first line of ``exc`` (or of an error it wraps) if it reports a full disk or
    quota: DuckDB, Arrow and Splink each raise their own type for it."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return None
        if isinstance(seen, OSError) and seen.errno in (errno.ENOSPC, errno.EDQUOT):
            return seen.strerror or "No space left on device"
        text = str(seen)
        if "No space left on device" in text or "Disk quota exceeded" in text:
            return "No space left on device" if "No space" in text else "Disk quota exceeded"
        seen = seen.__cause__ or seen.__context__
    return None


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
