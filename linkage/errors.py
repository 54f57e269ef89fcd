"""One exception hierarchy for the toolkit; each class carries the CLI exit code it maps to.

A user's mistake (bad config, bad input file, failed data-quality gate) raises one of these
with a message that names the file, table, column and rule; the CLI prints that message on
one line and exits with ``exit_code`` instead of showing a traceback.
"""

from __future__ import annotations

import functools


class ToolkitError(Exception):
    """Base class of every error the toolkit raises on purpose."""

    exit_code: int = 1


class ConfigError(ToolkitError):
    """A scenario or study configuration is invalid (names the key and the allowed values)."""

    exit_code = 3


class ContractError(ToolkitError):
    """Input data violate the data contract.

    Attributes name where: ``file`` (or None for a DuckDB source), ``table``, ``column``
    (None for table-level rules), ``rule`` and ``n_rows`` (how many rows break it).
    ``violations`` lists every violation found in the same input (this one first), ``line``
    is this violation's one-line message.
    """

    exit_code = 4

    def __init__(
        self,
        message: str,
        *,
        table: str,
        rule: str,
        column: str | None = None,
        file: str | None = None,
        n_rows: int | None = None,
    ) -> None:
        self.message = message
        self.table = table
        self.rule = rule
        self.column = column
        self.file = file
        self.n_rows = n_rows
        self.violations: list[ContractError] = [self]
        where = f"{file}: " if file else ""
        col = f", column {column}" if column else ""
        rows = f" ({n_rows:,} row(s))" if n_rows is not None else ""
        # `line` stays this one violation's message when str() later lists several.
        self.line = f"{where}table {table}{col}: {rule}: {message}{rows}"
        super().__init__(self.line)

    def __reduce__(self) -> tuple:
        # keyword-only arguments: rebuilt from its parts when it crosses a process boundary
        # (a worker's error would otherwise break the whole process pool)
        make = functools.partial(type(self), self.message, table=self.table, rule=self.rule,
                                 column=self.column, file=self.file, n_rows=self.n_rows)
        return (make, (), self.__dict__)


class DataQualityError(ToolkitError):
    """A critical data-quality expectation failed; the run stops before writing outputs."""

    exit_code = 5


class LinkModelError(ToolkitError):
    """The linkage model could not be trained or applied to these data."""

    exit_code = 6


class OutputError(ToolkitError):
    """An output location cannot be written (exists and is not ours, not writable, ...)."""

    exit_code = 7


class BusyError(OutputError):
    """The output folder or study database is in use by another run (names the holder).

    The run that holds it is unaffected; this one stops before doing any work. An output
    failure like any other (exit 7), with a message that names the holder.
    """


class PseudonymKeyError(ToolkitError):
    """The pseudonymisation key is missing, empty or too short.

    The message names the environment variable that should hold the key, never the key.
    """

    exit_code = 8


class BackendError(ToolkitError):
    """An optional compute backend is unavailable (e.g. ``--backend spark`` without pyspark
    or Java): names what is missing and how to install it."""

    exit_code = 9


class ReviewError(ToolkitError):
    """A clerical-review labels file (or the review sample it answers) is invalid: names the
    file, the line and the rule it breaks, never an identifier's value."""

    exit_code = 10
