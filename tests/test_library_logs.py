"""Splink's and great-expectations' messages reach ``logging`` once, at the toolkit's levels."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import pytest

from linkage.library_logs import route_library_logs


@pytest.fixture
def routed():
    route_library_logs()
    yield
    route_library_logs()  # leave the loggers as the toolkit keeps them


class _Root(logging.Handler):
    """A handler on the root logger, at a given root level: what a user's logging set-up
    receives. (pytest's caplog also attaches itself to non-propagating loggers, so it would
    see the library's records before routing.)"""

    def __init__(self, level: int) -> None:
        super().__init__()
        self.root_level, self.records = level, []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def __enter__(self) -> _Root:
        root = logging.getLogger()
        self.previous = root.level
        root.addHandler(self)
        root.setLevel(self.root_level)
        return self

    def __exit__(self, *exc: object) -> None:
        root = logging.getLogger()
        root.removeHandler(self)
        root.setLevel(self.previous)


def _levels(logger: str, level: int, root_level: int) -> list[str]:
    with _Root(root_level) as got:
        logging.getLogger(logger).log(level, "a library message")
    return [r.levelname for r in got.records]


def test_splink_warnings_show_from_info_and_its_narrative_from_debug(routed):
    name = "splink.internals.expectation_maximisation"
    assert _levels(name, logging.WARNING, logging.WARNING) == []
    assert _levels(name, logging.WARNING, logging.INFO) == ["INFO"]
    assert _levels(name, logging.INFO, logging.INFO) == []
    assert _levels(name, logging.INFO, logging.DEBUG) == ["DEBUG"]
    assert _levels(name, logging.ERROR, logging.WARNING) == ["ERROR"]


def test_great_expectations_messages_show_from_debug(routed):
    name = "great_expectations.execution_engine"
    assert _levels(name, logging.ERROR, logging.WARNING) == []
    assert _levels(name, logging.ERROR, logging.DEBUG) == ["DEBUG"]
    assert _levels(name, logging.CRITICAL, logging.WARNING) == ["CRITICAL"]


def test_a_warning_true_by_design_is_dropped(routed):
    with _Root(logging.DEBUG) as got:
        logging.getLogger("splink.internals.settings").warning(
            "No null level found for comparison household")
        logging.getLogger("splink.internals.settings").warning("another warning")
    assert [r.getMessage() for r in got.records] == ["another warning"]


def test_a_linker_made_with_splinks_default_logging_does_not_print_twice(routed):
    # Splink's own handler (added by Linker(log_level=INFO), the default) is taken off again.
    from splink.internals.splink_logging import enable

    enable(logging.INFO)
    route_library_logs()
    splink = logging.getLogger("splink")
    # (pytest adds capture handlers of its own to non-propagating loggers: not counted)
    assert not [h for h in splink.handlers if getattr(h, "_splink_default_handler", False)]
    assert [type(h).__name__ for h in splink.handlers].count("_ToRoot") == 1
    assert splink.propagate is False and splink.level == logging.NOTSET


def test_a_notebook_study_prints_nothing_on_stderr(tmp_path):
    # No logging configured (a notebook): Python's last-resort handler shows WARNING and up,
    # so Splink's model-building warnings, twice each, no longer appear.
    code = ("import linkage; linkage.run_study(linkage.StudyConfig(scale=0.003, seed=4, "
            f"out={str(tmp_path / 'out')!r}))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "LINKAGE_THREADS": "1"}, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stderr == ""
