"""The command line's plumbing: one-line errors with exit codes, ``--quiet`` in either
position, Splink's warnings filtered, the console entry point. The commands are in
:mod:`linkage.cli`."""

from __future__ import annotations

import functools
import logging
import os
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

import click

from linkage.errors import ConfigError, ToolkitError

EXIT_CODES_HELP = """Exit codes: 0 ok, 2 bad command-line usage, 3 bad scenario or configuration,
4 input violates the data contract, 5 data-quality gate failed, 6 linkage model failed,
7 output cannot be written (also: in use by another run), 8 pseudonymisation key missing
or too short, 9 backend unavailable (--backend spark without pyspark or Java), 10 review
labels file invalid, 130/143 interrupted (SIGINT/SIGTERM), 1 internal error."""


EXIT_INTERRUPTED = 130  # the shell's convention for Ctrl-C (128 + SIGINT)
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def stop_signals() -> Iterator[list[int]]:
    """Turn SIGINT and SIGTERM into ``KeyboardInterrupt`` for the block; yield the list of
    signals received.

    DuckDB stops a running query on the interrupt and raises its own error, which Splink
    and the stages may wrap (as a model error, say); the list tells the caller the run was
    stopped, whatever exception reached it. Once a signal arrived, further ones are ignored
    so that the clean-up (removing partial folders) is not itself cut short.

    Example:
        >>> with stop_signals() as received:
        ...     received
        []
    """
    received: list[int] = []

    def stop(signum: int, _frame: FrameType | None) -> None:
        if received:
            return
        received.append(signum)
        raise KeyboardInterrupt

    try:
        previous = {s: signal.signal(s, stop) for s in _STOP_SIGNALS}
    except ValueError:  # not the main thread: leave signals alone
        yield received
        return
    try:
        yield received
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def handle_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Run a command: a ``ToolkitError`` becomes its one line and exit code; SIGINT or
    SIGTERM during the command becomes one line and exit 128 + the signal (130, 143)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with stop_signals() as received:
            try:
                return func(*args, **kwargs)
            except (Exception, KeyboardInterrupt) as exc:
                if received or isinstance(exc, KeyboardInterrupt):
                    signum = received[0] if received else signal.SIGINT
                    # Outputs are written atomically: an interrupted run left nothing
                    # half-done and earlier outputs as they were.
                    click.echo(f"interrupted ({signal.Signals(signum).name}): nothing was "
                               "written; earlier outputs are unchanged", err=True)
                    sys.exit(128 + signum)
                if _out_of_memory(exc):
                    click.echo("error: out of memory: choose a smaller --scale, or lower "
                               "DuckDB's cap so it spills sooner (LINKAGE_MEMORY_LIMIT, default "
                               "3GB); nothing was written", err=True)
                    sys.exit(ConfigError.exit_code)
                if isinstance(exc, ToolkitError):
                    click.echo(f"error: {exc}", err=True)
                    sys.exit(exc.exit_code)
                raise

    return wrapper


def _out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` (or an error it wraps) is Python's or DuckDB's out-of-memory error."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return False
        if isinstance(seen, MemoryError) or "Out of Memory Error" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def echo(ctx: click.Context, message: str) -> None:
    if not ctx.obj["quiet"]:
        click.echo(message)


def go_quiet(ctx: click.Context) -> None:
    """Errors only: no progress, no summary, and warnings hidden unless --log-level asks."""
    ctx.obj["quiet"] = True
    root = ctx.find_root()
    if root.get_parameter_source("log_level") is click.core.ParameterSource.DEFAULT:
        logger, previous = logging.getLogger(), logging.getLogger().level
        logger.setLevel(logging.ERROR)
        root.call_on_close(lambda: logger.setLevel(previous))  # in-process callers (tests)


def setup_group(ctx: click.Context, *, quiet: bool, log_level: str) -> None:
    """The ``linkage`` group's set-up: logging on stderr at ``log_level`` (Splink's warnings
    show from INFO: ``linkage.library_logs``), and ``--quiet`` given before the command."""
    level = getattr(logging, log_level.upper())
    logging.basicConfig(level=level, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    ctx.ensure_object(dict)
    ctx.obj["quiet"] = False
    if quiet:
        go_quiet(ctx)


def quiet_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--quiet`` after the command name too (``linkage run --quiet``), as before it."""

    def callback(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
        if value:
            go_quiet(ctx)

    return click.option("--quiet", "-q", is_flag=True, expose_value=False, callback=callback,
                        help="No progress bars or summaries (errors only).")(func)


def float_list(_ctx: click.Context, param: click.Parameter, value: str) -> list[float]:
    """Callback of an option holding comma-separated numbers (``--values 0.5,1,2``)."""
    try:
        return [float(v) for v in value.split(",")]
    except ValueError:
        raise click.BadParameter(f"numbers separated by commas, got {value!r}",
                                 param=param) from None


def int_list(_ctx: click.Context, param: click.Parameter, value: str) -> list[int]:
    """Callback of an option holding comma-separated whole numbers >= 0 (``0,200,500``)."""
    try:
        out = [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        out = [-1]
    if not out or min(out) < 0:
        raise click.BadParameter(f"whole numbers >= 0 separated by commas, got {value!r}",
                                 param=param)
    return out


def backend_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--backend``: where Splink trains and scores (DuckDB in-process, or Spark)."""
    return click.option(
        "--backend", type=click.Choice(["duckdb", "spark"]), default="duckdb",
        show_default=True,
        help="Run Splink on DuckDB or on Spark (needs the [spark] extra and Java 17+; "
             "the session is configured as the README's Spark section says).")(func)


def mapping_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--mapping TOML``: a user's column names, date formats and values onto the contract."""
    return click.option("--mapping", "mapping_path", type=click.Path(path_type=Path),
                        default=None, metavar="TOML", help="How your files' columns, date "
                        "formats and values map onto the data contract (docs/contract.md).")(func)


def min_count_option(default: int | None) -> Callable[[Callable[..., Any]], Any]:
    """``--min-count N``: small-cell suppression (0 = off; None = the estimator's 10)."""
    return click.option("--min-count", type=click.IntRange(min=0), default=default,
                        show_default=default is not None,
                        help="Small-cell suppression: hide counts below this (0 = off"
                             + ("; default 10)." if default is None else ")."))


def end_date_option(default_help: str) -> Callable[[Callable[..., Any]], Any]:
    """``--end-date YYYY-MM-DD``: the study end (extract) date the censoring counts from."""
    return click.option("--end-date", type=click.DateTime(["%Y-%m-%d"]), default=None,
                        help=f"Study end (extract) date. Default: {default_help}.")


def horizons_option(func: Callable[..., Any]) -> Any:
    """``--horizons 180,365,730``: days of the time-to-event rates."""
    return click.option("--horizons", default="180,365,730", show_default=True,
                        help="Days of the time-to-event rates (plus the longest "
                             "supported).")(func)


def run_main(main: click.Group) -> None:
    """Run the CLI group ``main`` and exit with its code.

    When great-expectations and duckdb-engine were imported, duckdb 2.0 prints dozens of
    cosmetic "nanobind: leaked ..." lines while the interpreter tears down (exit code
    unaffected). We flush our output and leave without that teardown instead.
    """
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    if "great_expectations" in sys.modules:
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
