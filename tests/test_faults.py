"""Faults a user or the machine causes around a run, each checked for its exit code, its one
line, that an earlier output keeps its bytes and that no temporary folder is left behind:
a second run on a locked output or database, a read-only or full output location, an
interrupt wrapped by another error, time zones, duplicated columns, future dates and a run
too large for memory. Signals in each stage of a whole run are in test_faults_signals.py.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner, Result

from linkage import memory
from linkage._cli import handle_errors
from linkage.cli import main
from linkage.errors import BusyError, ContractError, LinkModelError
from linkage.outputs import MARKER, lock_path, output_lock
from linkage.resources import scenarios_dir

LINKAGE = [str(Path(sys.executable).parent / "linkage")]
Rows = dict[str, list[dict[str, str]]]


def tree_hash(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (hidden ones too) with its sha256."""
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def earlier(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A complete earlier output folder (the toolkit's marker and a few files)."""
    out = tmp_path / "out"
    (out / "charts").mkdir(parents=True)
    (out / MARKER).write_text("written by the linkage toolkit; safe to replace\n")
    (out / "report.html").write_text("<p>earlier run</p>\n")
    (out / "charts" / "a.html").write_bytes(os.urandom(256))
    return out, tree_hash(out)


def leftovers(parent: Path) -> list[str]:
    """Partial folders, old folders and lock files a run left beside its output."""
    return sorted(p.name for p in parent.iterdir()
                  if p.name.endswith((".partial", ".old", ".lock")))


def one_line_error(result: Result | subprocess.CompletedProcess, code: int) -> str:
    out = result.stderr if isinstance(result.stderr, str) else ""
    rc = result.exit_code if isinstance(result, Result) else result.returncode
    assert rc == code, (rc, out, getattr(result, "stdout", ""))
    assert "Traceback" not in out, out
    lines = [line for line in out.splitlines() if line.startswith(("error:", "interrupted"))]
    assert len(lines) == 1, out
    return lines[0]


@pytest.fixture
def holder() -> Iterator[Callable[[str], subprocess.Popen]]:
    """Start a Python process running ``code`` and waiting for a line on stdin."""
    procs: list[subprocess.Popen] = []

    def start(code: str) -> subprocess.Popen:
        proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


# ---- the output lock -------------------------------------------------------------------

def test_a_second_run_on_a_locked_output_refuses_at_once_naming_the_holder(
    tmp_path: Path, earlier: tuple[Path, dict[str, str]], holder: Callable
) -> None:
    out, before = earlier
    proc = holder(f"""
        from linkage.outputs import output_lock
        with output_lock({str(out)!r}):
            print("ready", flush=True)
            input()
        """)
    start = time.perf_counter()
    result = CliRunner().invoke(main, ["generate", "--scale", "0.0005", "--out", str(out)])
    line = one_line_error(result, BusyError.exit_code)
    assert time.perf_counter() - start < 10  # refused before any work
    assert f"pid {proc.pid} " in line and "in use by another linkage run" in line
    result = CliRunner().invoke(main, ["run", "--scale", "0.002", "--out", str(out)])
    assert "in use by another linkage run" in one_line_error(result, BusyError.exit_code)
    assert tree_hash(out) == before
    assert leftovers(tmp_path) == [lock_path(out).name]  # the holder's, still held
    proc.communicate("\n", timeout=30)
    assert proc.returncode == 0 and leftovers(tmp_path) == []  # removed on release


def test_a_second_simulation_on_a_locked_folder_refuses_and_leaves_its_rows(
    tmp_path: Path, holder: Callable
) -> None:
    # Two simulations appending to one folder would interleave their replicates' rows.
    out = tmp_path / "sim"
    out.mkdir()
    (out / "replicates.csv").write_text("planted\n")
    proc = holder(f"""
        from linkage.outputs import output_lock
        with output_lock({str(out)!r}):
            print("ready", flush=True)
            input()
        """)
    for args in (["--replicates", "1"],
                 ["--replicates", "1", "--sweep", "corruption.noise", "--values", "1,2"]):
        result = CliRunner().invoke(main, ["simulate", "--scale", "0.002", "--out", str(out),
                                           *args])
        line = one_line_error(result, BusyError.exit_code)
        assert f"pid {proc.pid} " in line and "in use by another linkage run" in line
    assert sorted(p.name for p in out.iterdir()) == ["replicates.csv"]
    assert (out / "replicates.csv").read_text() == "planted\n"
    from linkage.simulate import simulate

    with pytest.raises(BusyError):  # the single-world library call too
        simulate("default", scale=0.002, replicates=1, out=out)
    assert sorted(p.name for p in out.iterdir()) == ["replicates.csv"]
    proc.communicate("\n", timeout=30)


def test_a_lock_held_by_a_killed_run_is_free_again(tmp_path: Path, holder: Callable) -> None:
    out = tmp_path / "out"
    proc = holder(f"""
        from linkage.outputs import output_lock
        with output_lock({str(out)!r}):
            print("ready", flush=True)
            input()
        """)
    with pytest.raises(BusyError), output_lock(out):
        pass
    proc.send_signal(signal.SIGKILL)  # kill -9: no clean-up ran, the OS dropped the lock
    proc.wait()
    assert lock_path(out).exists()
    with output_lock(out) as lock:
        assert f"pid {os.getpid()} " in lock.read_text()
    assert not lock_path(out).exists()


def test_a_database_held_by_another_process_is_a_one_line_exit_10(
    tmp_path: Path, holder: Callable
) -> None:
    db = tmp_path / "study.duckdb"
    duckdb.connect(str(db)).close()
    before = db.read_bytes()
    proc = holder(f"""
        import duckdb
        con = duckdb.connect({str(db)!r})
        print("ready", flush=True)
        input()
        """)
    for cmd in (["link", "--db", str(db)], ["estimate", "--db", str(db)],
                ["load", "--input", str(tmp_path), "--db", str(db), "--overwrite"]):
        line = one_line_error(CliRunner().invoke(main, cmd), BusyError.exit_code)
        assert f"database {db} is in use by another process (process {proc.pid})" in line, cmd
    proc.communicate("\n", timeout=30)
    assert db.read_bytes() == before


# ---- output locations that cannot be written ---------------------------------------------

def _in_namespace(mount: Path, options: str, *args: str) -> subprocess.CompletedProcess:
    """Run the CLI with a tmpfs mounted (``options``) at ``mount``, in a user and mount
    namespace: a read-only or size-limited file system without root."""
    script = f'mount -t tmpfs -o {options} tmpfs "$1" && shift && exec "$@"'
    return subprocess.run(["unshare", "-rm", "sh", "-c", script, "sh", str(mount), *LINKAGE,
                           *args], capture_output=True, text=True, timeout=600)


@pytest.fixture
def namespaces(tmp_path: Path) -> None:
    probe = tmp_path / "probe"
    probe.mkdir()
    ok = shutil.which("unshare") and subprocess.run(
        ["unshare", "-rm", "sh", "-c", f"mount -t tmpfs -o size=1m tmpfs {probe}"],
        capture_output=True).returncode == 0
    if not ok:
        pytest.skip("user and mount namespaces unavailable (unshare -rm)")


@pytest.mark.slow
def test_a_read_only_output_location_is_refused_before_any_work(
    tmp_path: Path, namespaces: None
) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    for cmd in (["generate", "--scale", "0.002"], ["run", "--scale", "0.002"]):
        start = time.perf_counter()
        result = _in_namespace(ro, "ro,size=1m", *cmd, "--out", str(ro / "out"))
        line = one_line_error(result, 7)
        assert f"cannot write in {ro}" in line and "Read-only file system" in line, line
        assert time.perf_counter() - start < 60, cmd  # no study ran first


@pytest.mark.slow
def test_a_full_output_location_is_exit_7_and_leaves_nothing_behind(
    tmp_path: Path, namespaces: None
) -> None:
    small = tmp_path / "small"
    small.mkdir()
    result = _in_namespace(small, "size=2m", "generate", "--scale", "0.002",
                           "--out", str(small / "out"))
    line = one_line_error(result, 7)
    assert line == f"error: cannot write {small / 'out'}: No space left on device"
    assert list(small.iterdir()) == []  # the tmpfs was private to the run: now unmounted


def test_a_disk_that_fills_mid_write_keeps_the_earlier_output(
    tmp_path: Path, earlier: tuple[Path, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from linkage.generation import writer

    out, before = earlier

    def full(*_args: object, **_kw: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(writer, "_write", full)
    result = CliRunner().invoke(main, ["generate", "--scale", "0.0005", "--out", str(out)])
    assert one_line_error(result, 7) == f"error: cannot write {out}: No space left on device"
    assert tree_hash(out) == before and leftovers(tmp_path) == []


def test_out_dot_is_refused_before_the_study_runs(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "notes.txt").write_text("mine\n")
    monkeypatch.chdir(tmp_path)
    start = time.perf_counter()
    result = CliRunner().invoke(main, ["run", "--scale", "0.002", "--out", "."])
    line = one_line_error(result, 7)
    assert "did not write: refusing to replace it" in line
    assert time.perf_counter() - start < 20
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
    assert not (tmp_path.parent / f".{tmp_path.name}.partial").exists()


def test_a_missing_input_is_refused_before_any_output(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["run", "--input", str(tmp_path / "nope"),
                                       "--out", str(out)])
    assert result.exit_code == ContractError.exit_code, result.output
    assert "nope" in result.stderr and "Traceback" not in result.stderr
    assert not out.exists() and leftovers(tmp_path) == []


# ---- interrupts -------------------------------------------------------------------------

@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupt_wrapped_as_a_model_error_still_exits_as_interrupted(
    signum: int, capsys: pytest.CaptureFixture[str]
) -> None:
    """DuckDB turns the interrupt into 'Query interrupted'; Splink's caller wraps that as
    a model error. The exit code must still say the run was stopped."""

    @handle_errors
    def command() -> None:
        try:
            os.kill(os.getpid(), signum)
            time.sleep(5)
        except KeyboardInterrupt as exc:
            raise LinkModelError("Splink failed during 'train': Query interrupted") from exc

    previous = signal.getsignal(signum)
    with pytest.raises(SystemExit) as exit_:
        command()
    assert exit_.value.code == 128 + signum
    name = signal.Signals(signum).name
    assert capsys.readouterr().err == (f"interrupted ({name}): nothing was written; earlier "
                                       "outputs are unchanged\n")
    assert signal.getsignal(signum) is previous  # handlers restored


# ---- odd input ----------------------------------------------------------------------------

def test_timestamps_are_normalised_to_utc(contract_rows: Rows,
                                          contract_write: Callable[..., Path]) -> None:
    from linkage.ingest import load_input

    rows = contract_rows
    rows["tips"][0]["received_at"] = "2024-01-01T10:00:00Z"
    rows["tips"][1]["received_at"] = "2024-01-02 11:30:00"  # naive: taken as UTC
    # 05:30 at -05:00 is 10:30 UTC: after the tip's 10:00 UTC only once both are in UTC.
    rows["referrals"][0]["referred_at"] = "2024-01-01 05:30:00-05:00"
    rows["referrals"][1]["referred_at"] = "2024-01-06 13:00:00+05:30"
    con = duckdb.connect()
    load_input(contract_write(rows), con)
    got = dict(con.sql("select referral_id, referred_at from raw_referrals").fetchall())
    assert str(got["R1"]) == "2024-01-01 10:30:00" and str(got["R2"]) == "2024-01-06 07:30:00"
    tips = dict(con.sql("select tip_id, received_at from raw_tips").fetchall())
    assert str(tips["T1"]) == "2024-01-01 10:00:00" and str(tips["T2"]) == "2024-01-02 11:30:00"


def test_the_same_instants_in_two_zones_are_not_out_of_order(
    contract_rows: Rows, contract_write: Callable[..., Path]
) -> None:
    from linkage.ingest import load_input

    rows = contract_rows
    rows["tips"][0]["received_at"] = "2024-01-01 15:00:00"  # UTC
    rows["referrals"][0]["referred_at"] = "2024-01-01 10:00:00-05:00"  # the same instant
    load_input(contract_write(rows), duckdb.connect())


def _duplicate_csv(folder: Path) -> None:
    path = folder / "referrals.csv"
    header, rest = path.read_text().split("\n", 1)
    path.write_text(header.replace(",phone,", ",email,") + "\n" + rest)


def _duplicate_parquet(folder: Path) -> None:
    table = pq.read_table(folder / "referrals.parquet")
    names = ["email" if n == "phone" else n for n in table.column_names]
    pq.write_table(pa.table(table.columns, names=names), folder / "referrals.parquet")


@pytest.mark.parametrize(("fmt", "edit"), [("csv", _duplicate_csv),
                                           ("parquet", _duplicate_parquet)])
def test_a_duplicated_column_name_is_refused(
    tmp_path: Path, contract_rows: Rows, contract_write: Callable[..., Path], fmt: str,
    edit: Callable[[Path], None]
) -> None:
    folder = contract_write(contract_rows, fmt)
    edit(folder)
    db = tmp_path / "s.duckdb"
    line = one_line_error(CliRunner().invoke(main, ["load", "--input", str(folder), "--db",
                                                    str(db)]), 4)
    assert line.endswith("table referrals, column email: duplicated column: column name(s) "
                         "given more than once: email"), line
    assert not db.exists()


def test_dates_in_the_future_are_refused(
    tmp_path: Path, contract_rows: Rows, contract_write: Callable[..., Path]
) -> None:
    rows = contract_rows
    rows["referrals"][1]["referred_at"] = "2999-01-06 08:00:00"
    rows["referrals"][2]["referred_at"] = "2999-01-04"
    db = tmp_path / "s.duckdb"
    result = CliRunner().invoke(main, ["load", "--input", str(contract_write(rows)),
                                       "--db", str(db)])
    line = one_line_error(result, 4)
    assert ("table referrals, column referred_at: date in the future: date(s) after today: "
            "an extract holds no future dates (2 row(s))") in line, line
    assert not db.exists()


# ---- scale and memory ---------------------------------------------------------------------

def test_a_run_too_large_for_memory_is_refused_with_the_estimate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    start = time.perf_counter()
    # ten national years on a machine with 20 GB free (whatever this one has)
    monkeypatch.setattr(memory, "available_gb", lambda: 20.0)
    monkeypatch.delenv("LINKAGE_MEMORY_LIMIT", raising=False)
    result = CliRunner().invoke(main, ["run", "--scale", "10", "--out", str(out)])
    line = one_line_error(result, 3)
    assert f"needs about {memory.estimate_gb(10):.1f} GB of memory, 20.0 GB" in line
    assert time.perf_counter() - start < 20 and not out.exists() and leftovers(tmp_path) == []


def test_the_memory_check_reads_the_address_space_limit(tmp_path: Path) -> None:
    code = ("import resource; resource.setrlimit(resource.RLIMIT_AS, (3 * 10**9, "
            "resource.RLIM_INFINITY)); from linkage.cli import entry; entry()")
    env = {k: v for k, v in os.environ.items() if k != "LINKAGE_MEMORY_LIMIT"}
    result = subprocess.run([sys.executable, "-c", code, "run", "--scale", "1", "--out",
                             str(tmp_path / "out")], capture_output=True, text=True,
                            timeout=300, env=env)
    line = one_line_error(result, 3)
    assert "scale 1 needs about 3.7 GB of memory, 3.0 GB is available" in line


def test_another_duckdb_cap_uses_the_uncapped_estimate(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LINKAGE_MEMORY_LIMIT", raising=False)
    capped = memory.estimate_gb(1.0)
    monkeypatch.setenv("LINKAGE_MEMORY_LIMIT", "16GB")
    assert (round(capped, 1), round(memory.estimate_gb(1.0), 1)) == (3.7, 6.5)


def test_a_users_input_too_large_for_memory_is_refused_once_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A user's extract is sized by its rows; the machine here pretends to have 1.2 GB and
    # the default world ten thousand referrals a year.
    data = tmp_path / "data"
    assert CliRunner().invoke(main, ["generate", "--scale", "0.002", "--out", str(data)]
                              ).exit_code == 0
    monkeypatch.setattr(memory, "available_gb", lambda: 1.2)
    monkeypatch.setattr(memory, "ROWS_AT_SCALE_1", {"referrals": 10_000})
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["run", "--input", str(data), "--out", str(out)])
    line = one_line_error(result, 3)
    n = pq.read_metadata(data / "referrals.parquet").num_rows
    assert f"this input ({n:,} referrals," in line and "1.2 GB is available" in line, line
    assert not out.exists() and leftovers(tmp_path) == []


def _scenario_with_scale(tmp_path: Path, scale: str) -> Path:
    text = (scenarios_dir() / "default.toml").read_text()
    lines = [f"scale = {scale}" if line.startswith("scale =") else line
             for line in text.splitlines()]
    path = tmp_path / f"scale_{scale}.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("scale", ["-0.5", "0", "1000"])
def test_a_scenario_scale_out_of_range_is_refused(tmp_path: Path, scale: str) -> None:
    path = _scenario_with_scale(tmp_path, scale)
    result = CliRunner().invoke(main, ["run", "--scenario", str(path), "--out",
                                       str(tmp_path / "out")])
    assert "scale" in one_line_error(result, 3)


def test_the_scenario_scale_is_the_run_scale(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from linkage import study
    from linkage.errors import ConfigError

    seen: list[float] = []

    def record(scale: float) -> None:
        seen.append(scale)
        raise ConfigError("stop here")

    monkeypatch.setattr(study, "check_memory", record)
    path = _scenario_with_scale(tmp_path, "0.003")
    for args, want in ((["--scenario", str(path)], 0.003),
                       (["--scenario", str(path), "--scale", "0.004"], 0.004)):
        result = CliRunner().invoke(main, ["run", *args, "--out", str(tmp_path / "o")])
        assert result.exit_code == 3 and seen[-1] == want, result.output


def test_an_output_left_aside_by_a_killed_swap_is_put_back(
    tmp_path: Path, earlier: tuple[Path, dict[str, str]]
) -> None:
    """kill -9 between the two renames leaves the earlier output as ``.out.old`` and no
    ``out``: the next run puts it back first, so a failing run still leaves it in place."""
    from linkage.outputs import atomic_folder

    out, before = earlier
    out.rename(tmp_path / ".out.old")
    with pytest.raises(RuntimeError), atomic_folder(out):
        raise RuntimeError("the next run fails")
    assert tree_hash(out) == before and leftovers(tmp_path) == []


def test_running_out_of_memory_mid_run_is_one_line_exit_3(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def exhausted(*_args: object, **_kw: object) -> None:
        try:
            raise duckdb.OutOfMemoryException("Out of Memory Error: failed to allocate")
        except duckdb.Error as exc:
            raise LinkModelError("Splink failed during 'train'") from exc

    monkeypatch.setattr("linkage.study.run_study", exhausted)
    result = CliRunner().invoke(main, ["run", "--out", str(tmp_path / "s")])
    assert one_line_error(result, 3).startswith("error: out of memory: choose a smaller")
