"""Progress reporting: library code calls a plain ``(step, fraction)`` callback; the CLI
supplies one that drives a rich progress bar on stderr (silenced by ``--quiet``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

ProgressFn = Callable[[str, float], None]


def silent(step: str, fraction: float) -> None:
    """A progress callback that reports nothing."""


@contextmanager
def progress_bar(title: str, *, quiet: bool = False) -> Iterator[ProgressFn]:
    """Yield a ``(step, fraction)`` callback that updates one bar titled ``title``.

    Example:
        >>> with progress_bar("generate", quiet=True) as report:
        ...     report("tips", 0.5)
    """
    if quiet:
        yield silent
        return
    console = Console(stderr=True)
    columns = (TextColumn("[bold]{task.description}"), BarColumn(),
               TextColumn("{task.percentage:>3.0f}%"), TextColumn("{task.fields[step]}"),
               TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task(title, total=1.0, step="")

        def report(step: str, fraction: float) -> None:
            bar.update(task, completed=min(max(fraction, 0.0), 1.0), step=step)

        yield report
        bar.update(task, completed=1.0, step="done")
