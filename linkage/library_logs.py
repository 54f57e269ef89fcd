"""Splink's and great-expectations' messages through the standard ``logging`` tree, once,
at levels that match what they mean to a user of this toolkit.

Splink 5's ``Linker(log_level=...)`` puts its own stderr handler on the ``splink`` logger and
stops it propagating (``splink/internals/splink_logging.py``), so a notebook saw every
warning twice and no logging configuration could silence it. Every ``Linker`` here is made
with ``log_level=None`` and the two libraries' loggers hand their records to the root
logger's handlers, demoted: Splink's warnings (an m level not observed, a comparison with
no null level) are model-building detail that the toolkit summarises itself, at WARNING,
where it matters (an untrained comparison), so they show from INFO, and Splink's running
narrative (hundreds of lines a study) from DEBUG; great-expectations' messages (a regex
dialect note, the traceback of a metric query whose error reaches the validation result
anyway) show from DEBUG. Errors stay errors.

Example:
    >>> route_library_logs()
    >>> record = logging.LogRecord("splink.internals.em", logging.WARNING, "", 0,
    ...                            "level not observed", None, None)
    >>> demoted(record, "splink").levelname
    'INFO'
"""

from __future__ import annotations

import logging

# Per library, (from this level up, shown at most at this level; None: as logged), first
# match wins.
_RULES: dict[str, tuple[tuple[int, int | None], ...]] = {
    "splink": ((logging.ERROR, None), (logging.WARNING, logging.INFO), (0, logging.DEBUG)),
    "great_expectations": ((logging.CRITICAL, None), (0, logging.DEBUG)),
}
# Warnings that are true by design, dropped at any level: agency is always known, so some
# part of the household comparison is always comparable and it needs no null level.
_BY_DESIGN = ("No null level found for comparison household",)


def demoted(record: logging.LogRecord, library: str) -> logging.LogRecord:
    """``record`` at the level this toolkit shows ``library``'s message of its level."""
    to = next(to for floor, to in _RULES[library] if record.levelno >= floor)
    if to is not None and record.levelno > to:
        record.levelno, record.levelname = to, logging.getLevelName(to)
    return record


class _ToRoot(logging.Handler):
    """Hands a library's record, demoted, to the root logger (its level, its handlers, or
    Python's last-resort handler when none are configured)."""

    def __init__(self, library: str) -> None:
        super().__init__()
        self.library = library

    def emit(self, record: logging.LogRecord) -> None:
        if any(text in record.getMessage() for text in _BY_DESIGN):
            return
        record = demoted(record, self.library)
        root = logging.getLogger()
        if root.isEnabledFor(record.levelno):
            root.handle(record)


def route_library_logs() -> None:
    """Route Splink's and great-expectations' loggers through ``_ToRoot`` (idempotent).

    Splink's own default handler, if a ``Linker`` made elsewhere added one, is removed: the
    record would otherwise print twice.
    """
    for library in _RULES:
        logger = logging.getLogger(library)
        for handler in list(logger.handlers):
            if getattr(handler, "_splink_default_handler", False):
                logger.removeHandler(handler)
        if not any(isinstance(h, _ToRoot) for h in logger.handlers):
            logger.addHandler(_ToRoot(library))
        logger.propagate = False
        # Splink's Linker(log_level=...) sets this; NOTSET defers to the root logger's level.
        logger.setLevel(logging.NOTSET)
