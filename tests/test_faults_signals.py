"""Whole runs stopped from outside: SIGINT and SIGTERM in each stage of `linkage run`, and a
second run started on the same output while the first is running.

Each run replaces a complete earlier output folder. After the signal the run must exit
130 (SIGINT) or 143 (SIGTERM) with one line and no traceback, the earlier output must keep
its bytes, and no partial folder, lock file or temporary folder (Splink's included) may be
left. Slow: each case runs a real study up to the stage it stops.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from test_faults import earlier, leftovers, one_line_error, tree_hash

from linkage.errors import BusyError

__all__ = ["earlier"]  # the fixture, re-used

LINKAGE = str(Path(sys.executable).parent / "linkage")
SCALE = "0.002"
STAGES = ["generate", "load", "validate", "link", "estimate", "report"]
# The line each stage's signal waits for, then seconds before it is sent. For link: Splink's
# first EM message (shown from DEBUG), so the signal lands inside training (a fixed delay
# after the stage's start missed it on a quiet machine, where the whole stage took 7 s).
EM_STARTED = "splink.internals.expectation_maximisation"
WAIT = {"link": EM_STARTED}
DELAY = {"generate": 1.0, "link": 0.5}

pytestmark = pytest.mark.slow


class Run:
    """`linkage run` in a child process whose stderr is read line by line as it comes."""

    def __init__(self, out: Path, tmp: Path) -> None:
        tmp.mkdir(exist_ok=True)
        env = {**os.environ, "TMPDIR": str(tmp), "LINKAGE_THREADS": "1"}
        self.proc = subprocess.Popen(
            [LINKAGE, "-q", "--log-level", "DEBUG", "run", "--scale", SCALE, "--seed", "3",
             "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=env)
        self.lines: list[str] = []
        self.seen = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self.seen:
                self.lines.append(line)
                self.seen.notify_all()
        with self.seen:
            self.lines.append("")  # end of output
            self.seen.notify_all()

    def wait_for(self, text: str, timeout: float = 900) -> None:
        with self.seen:
            ok = self.seen.wait_for(lambda: any(text in x for x in self.lines)
                                    or "" in self.lines, timeout)
        assert ok and any(text in x for x in self.lines), "".join(self.lines[-20:])

    def finish(self, timeout: float = 900) -> subprocess.CompletedProcess:
        stdout = self.proc.stdout.read() if self.proc.stdout else ""
        self.proc.wait(timeout)
        self.reader.join(timeout)
        return subprocess.CompletedProcess(self.proc.args, self.proc.returncode, stdout,
                                           "".join(self.lines))


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["INT", "TERM"])
@pytest.mark.parametrize("stage", STAGES)
def test_a_signal_in_each_stage_exits_cleanly_and_keeps_the_earlier_output(
    tmp_path: Path, earlier: tuple[Path, dict[str, str]], stage: str, signum: int
) -> None:
    out, before = earlier
    tmp = tmp_path / "tmp"
    run = Run(out, tmp)
    run.wait_for(f"stage {stage} started")
    if stage in WAIT:
        run.wait_for(WAIT[stage])
    time.sleep(DELAY.get(stage, 0.0))
    run.proc.send_signal(signum)
    done = run.finish()
    line = one_line_error(done, 128 + signum)
    assert line == (f"interrupted ({signal.Signals(signum).name}): nothing was written; "
                    "earlier outputs are unchanged")
    assert "Splink failed" not in done.stderr and "Query interrupted" not in done.stderr
    assert tree_hash(out) == before
    assert leftovers(tmp_path) == []
    assert list(tmp.iterdir()) == []  # Splink's and DuckDB's temporary folders removed


def test_a_second_run_on_the_same_output_is_refused_and_the_first_completes(
    tmp_path: Path, earlier: tuple[Path, dict[str, str]]
) -> None:
    out, before = earlier
    first = Run(out, tmp_path / "tmp")
    first.wait_for("stage load started")
    start = time.perf_counter()
    second = subprocess.run([LINKAGE, "run", "--scale", SCALE, "--out", str(out)],
                            capture_output=True, text=True, timeout=300)
    line = one_line_error(second, BusyError.exit_code)
    assert f"pid {first.proc.pid} " in line and time.perf_counter() - start < 60
    assert tree_hash(out) == before  # the first has not finished: still the earlier output
    done = first.finish()
    assert done.returncode == 0, done.stderr[-2000:]
    after = tree_hash(out)
    assert {"manifest.json", "timings.json", "report.html", "study.duckdb"} <= set(after)
    assert leftovers(tmp_path) == []


def test_kill_9_leaves_temporary_files_only_where_the_next_run_clears_them(
    tmp_path: Path, earlier: tuple[Path, dict[str, str]]
) -> None:
    from linkage.outputs import atomic_folder, lock_path

    out, before = earlier
    tmp = tmp_path / "tmp"
    run = Run(out, tmp)
    run.wait_for("stage link started")
    run.wait_for(EM_STARTED)
    time.sleep(DELAY["link"])
    run.proc.send_signal(signal.SIGKILL)  # no handler, no clean-up
    assert run.finish().returncode == -signal.SIGKILL
    assert list(tmp.iterdir()) == []  # Splink's work folder was inside the partial output
    partial = tmp_path / ".out.partial"
    assert [p.name for p in (partial / ".tmp").iterdir()]  # ... and is still there
    assert tree_hash(out) == before
    with pytest.raises(RuntimeError), atomic_folder(out) as fresh:  # the next run, failing
        assert fresh == partial and not (partial / ".tmp").exists()  # the old one cleared
        assert lock_path(out).exists()  # the killed run's lock was free to take
        raise RuntimeError("stop")
    assert leftovers(tmp_path) == [] and tree_hash(out) == before
