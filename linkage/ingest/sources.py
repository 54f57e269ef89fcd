"""Finding the input files of a load, and the checks that read them as bytes.

Shared by the contract loader (:mod:`linkage.ingest.load`) and the truth loader
(:mod:`linkage.ingest.truth`): where each table's file is, the violation type every check
reports, DuckDB's reason in brief, and the byte-level checks (UTF-8, line length, sha256).
"""

from __future__ import annotations

import codecs
import hashlib
from dataclasses import dataclass
from pathlib import Path

from linkage.contract import INPUT_TABLES, Table
from linkage.errors import ContractError

FORMATS = (".csv", ".parquet")
DB_SUFFIXES = (".duckdb", ".db")
AMBIGUOUS = "both a .csv and a .parquet file; keep exactly one"
MAX_LINE_BYTES = 2_000_000
"""Longest CSV line read (DuckDB's default, made explicit so the error can name it): no
contract field is anywhere near it, so a longer line is a broken file, not data."""
_QUOTING = ("Original Line", "LINE ", "  ")


@dataclass(frozen=True)
class Input:
    table: Table
    kind: str
    path: str


def violation(
    table: str, rule: str, message: str, column: str | None = None, file: str | None = None,
    n_rows: int | None = None,
) -> ContractError:  # fmt: skip
    """One contract violation (collected, then raised together by ``raise_all``)."""
    return ContractError(message, table=table, rule=rule, column=column, file=file, n_rows=n_rows)


def raise_all(errors: list[ContractError]) -> None:
    """Raise the first violation, its message listing all: a summary line, then one each."""
    first = errors[0]
    first.violations = list(errors)
    if len(errors) > 1:
        lines = [f"{len(errors)} contract violations; first: {first}"]
        first.args = ("\n".join(lines + [f"  - {e}" for e in errors]),)
    raise first


def reason(exc: BaseException) -> str:
    """DuckDB's reason in brief, without the lines that quote the offending record or SQL."""
    lines = [x for x in str(exc).splitlines() if x.strip() and not x.startswith(_QUOTING)]
    return "; ".join(lines[:2]).replace("Invalid Input Error: ", "")[:300]


def find(folder: Path, name: str) -> list[Path]:
    return [folder / f"{name}{s}" for s in FORMATS if (folder / f"{name}{s}").is_file()]


def resolve(source: Path) -> list[Input]:
    """Find each contract table's file in a folder or DuckDB file; raise if any is missing."""
    if source.is_file() and source.suffix.lower() in DB_SUFFIXES:
        return [Input(t, "duckdb", str(source)) for t in INPUT_TABLES]
    if not source.is_dir():
        msg = f"{source} is neither a folder of .csv/.parquet files nor a .duckdb/.db file"
        raise_all([violation("input", "missing input", msg)])
    inputs, problems = [], []
    for table in INPUT_TABLES:
        found = find(source, table.name)
        if len(found) > 1:
            problems.append(violation(table.name, "ambiguous", AMBIGUOUS, file=str(found[0])))
        elif not found:
            msg = f"no {table.name}.csv or {table.name}.parquet in {source}"
            problems.append(violation(table.name, "missing table", msg, file=str(source)))
        else:
            inputs.append(Input(table, found[0].suffix[1:], str(found[0])))
    if problems:
        raise_all(problems)
    return inputs


def sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def bad_utf8_lines(path: str) -> int:
    """Lines that are not UTF-8 (a NUL byte counts: UTF-16 is not UTF-8); 0 if all are."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                if "\x00" in decoder.decode(chunk):
                    raise UnicodeError("NUL byte")
            decoder.decode(b"", final=True)
        return 0
    except UnicodeError:  # count the bad lines on the slow path
        pass
    bad = 0
    with open(path, "rb") as fh:
        for line in (raw for raw in fh if raw.strip(b"\x00\r\n")):  # UTF-16 "\n" is 2 bytes
            try:
                bad += "\x00" in line.decode("utf-8")
            except UnicodeDecodeError:
                bad += 1
    return bad


def long_lines(path: str) -> int:
    """Lines longer than the CSV reader's limit, counted in chunks (a line may be huge)."""
    n_long, length = 0, 0
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            for i, part in enumerate(chunk.split(b"\n")):
                if i:  # a newline ended the previous part's line
                    n_long += length > MAX_LINE_BYTES
                    length = 0
                length += len(part)
    return n_long + (length > MAX_LINE_BYTES)


