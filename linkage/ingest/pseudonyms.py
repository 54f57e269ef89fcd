"""Pseudonymise an input: identifiers become keyed tokens and encodings that still link.

``pseudonymize(source, out, key_env=VAR)`` loads ``tips``, ``referrals`` and
``case_outcomes`` (checking the data contract), standardises the subject identifiers with
the linkage staging SQL (``sql/staging/``: the same rules the clear linkage applies), and
writes the three tables again in the contract's shape with every subject identifier
replaced (``sql/pseudonymize/``, all in DuckDB):

* **tokens**: HMAC-SHA256 of the standardised value under a secret key, truncated to 128
  bits, one keyspace per kind of identifier (``name``, ``email``, ``phone``, ...), for the
  exact comparisons, blocking and term-frequency adjustments;
* **encodings** for the fuzzy comparisons (extra ``pseudo_*`` columns, which the contract
  carries through): keyed Bloom filters of name bigrams (Dice similarity), tokens of
  date-of-birth component pairs (day/month swap, two of three parts), masked phone tokens
  (one digit keyed wrong), tokens of the phone's first and last five digits;
* ``pseudo_scheme`` (the marker the linkage detects) and ``pseudo_key_check`` (a
  fingerprint that tells whether two extracts used the same key, see ``PseudonymKey``).

Kept as they are: ``referral_id`` and ``case_id`` (record keys the parties need to map
links back to their systems; they carry nothing about the person), dates, agency,
offense, outcomes, the reporter and the tipline's country/state geolocation. The tip
number (``tips.tip_id``, ``referrals.tip_id``, ``case_outcomes.cybertip_ref``) is
tokenised in one keyspace: it points into the tipline's report, which holds the
identifiers, and tokenised alike the audit join on it still works. Dates of birth are
NULL (a token is not a date). Extra input columns are dropped (they may hold identifiers
this tool does not know) and listed in ``pseudonymisation.json``.

The key is read from an environment variable only, never from the command line or a
file; it is turned into the two HMAC pads at once and bound as query parameters of an
in-memory DuckDB connection whose spill folder is a private temporary directory, deleted
afterwards. Logs, errors and the manifest never hold the key or an identifier value.

Example:
    >>> import os
    >>> os.environ["LINKAGE_KEY"] = "correct horse battery staple, 32+ bytes"
    >>> pseudonymize("data/", "pseudo/", key_env="LINKAGE_KEY")  # doctest: +SKIP
    PseudonymizeSummary(out=PosixPath('pseudo'), ...)
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from linkage import pipeline
from linkage.contract import CASE_OUTCOMES, INPUT_TABLES, REFERRALS, TIPS
from linkage.contract import PSEUDO_SCHEME as SCHEME
from linkage.db import build_table, connect, quote_ident, quote_literal, run_macros, table_exists
from linkage.errors import ConfigError, PseudonymKeyError
from linkage.ingest.load import load_input
from linkage.ingest.staging import build_staging
from linkage.ingest.truth import load_truth
from linkage.outputs import atomic_folder
from linkage.progress import ProgressFn, silent

log = logging.getLogger(__name__)

MIN_KEY_BYTES = 32
"""Shortest key accepted (256 bits, SHA-256's output size: a shorter one is guessable
sooner than the tokens are)."""
TOKEN_HEX = 32
"""Hex digits kept of each HMAC (128 bits: no collision expected among 10^15 values)."""
BLOOM_BITS = 512
"""Bits of each name Bloom filter."""
BLOOM_HASHES = 10
"""Keyed bit positions per bigram: a 7-letter name (8 bigrams) sets about 75 of 512 bits,
few enough that bigrams rarely collide (Dice on filters stays close to Dice on bigrams)."""
MANIFEST = "pseudonymisation.json"
FORMATS = ("parquet", "csv")
TOKENISED: dict[str, tuple[str, ...]] = {
    TIPS.name: ("tip_id", "suspect_email", "suspect_username", "suspect_phone", "suspect_ip",
                "suspect_first_name", "suspect_last_name"),
    REFERRALS.name: ("tip_id", "first_name", "last_name", "email", "phone", "username", "ip",
                     "city", "state", "zip"),
    CASE_OUTCOMES.name: ("first_name", "last_name", "email", "phone", "username", "city",
                         "state", "zip", "cybertip_ref"),
}
"""Contract columns that hold a token in the output (dates of birth are NULL instead)."""
NULLED: dict[str, tuple[str, ...]] = {
    TIPS.name: ("suspect_dob",), REFERRALS.name: ("dob",), CASE_OUTCOMES.name: ("dob",),
}
"""Contract columns left NULL (their tokens are in ``pseudo_*`` columns)."""

_TIP_SCHEMA = "pseudo_tipstage"
_OUTPUTS = {"pseudo_tips": TIPS.name, "pseudo_referrals": REFERRALS.name,
            "pseudo_case_outcomes": CASE_OUTCOMES.name}
_ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]{0,63}")


@dataclass(frozen=True)
class PseudonymKey:
    """A key ready for HMAC: its inner and outer pads (RFC 2104), never the key text.

    ``check`` is a fingerprint (HMAC of a fixed label, 64 bits) written beside the tokens
    so the linkage can tell extracts tokenised with different keys apart; like any token
    it lets someone who guesses the key confirm the guess, so it is no weaker than them.

    Example:
        >>> k = PseudonymKey.from_secret(b"x" * 32)
        >>> len(k.ipad), len(k.check)
        (64, 16)
    """

    ipad: bytes = field(repr=False)
    opad: bytes = field(repr=False)
    check: str

    @classmethod
    def from_secret(cls, secret: bytes) -> PseudonymKey:
        """Pads of ``secret`` (hashed first when longer than SHA-256's 64-byte block)."""
        block = hashlib.sha256(secret).digest() if len(secret) > 64 else secret
        block = block.ljust(64, b"\0")
        check = hmac.new(secret, b"key-check\x1f" + SCHEME.encode(), hashlib.sha256)
        return cls(ipad=bytes(b ^ 0x36 for b in block), opad=bytes(b ^ 0x5C for b in block),
                   check=check.hexdigest()[:16])

    def params(self) -> dict[str, Any]:
        """Query parameters of the pseudonymisation SQL."""
        return {"ipad": self.ipad, "opad": self.opad, "key_check": self.check,
                "scheme": SCHEME, "bloom_bits": BLOOM_BITS, "bloom_hashes": BLOOM_HASHES}


def read_key(key_env: str) -> PseudonymKey:
    """Read the secret from the environment variable named ``key_env``.

    Raises:
        PseudonymKeyError: the variable is unset, empty or shorter than ``MIN_KEY_BYTES``
            bytes (UTF-8). The message never shows the value, and shows the name only
            when it looks like an environment variable's (a key pasted into
            ``--key-env`` by mistake is not echoed).

    Example:
        >>> os.environ["DOC_KEY"] = "k" * 32
        >>> read_key("DOC_KEY").check == PseudonymKey.from_secret(b"k" * 32).check
        True
    """
    shown = key_env if _ENV_NAME.fullmatch(key_env or "") else None
    where = f"environment variable {shown}" if shown else (
        "the environment variable named by --key-env (pass the variable's NAME, not the key)")
    value = os.environ.get(key_env) if key_env else None
    if value is None:
        raise PseudonymKeyError(f"pseudonymisation key missing: {where} is not set")
    if not value.strip():
        raise PseudonymKeyError(f"pseudonymisation key missing: {where} is empty")
    secret = value.encode("utf-8")
    if len(secret) < MIN_KEY_BYTES:
        raise PseudonymKeyError(
            f"pseudonymisation key too short: {where} must hold at least {MIN_KEY_BYTES} "
            "bytes (e.g. the output of `openssl rand -hex 32`)")
    return PseudonymKey.from_secret(secret)


@dataclass(frozen=True)
class PseudonymizeSummary:
    """What ``pseudonymize`` wrote (counts and names only, never values).

    Attributes:
        out: the output folder; ``fmt``: ``parquet`` or ``csv``.
        row_counts: rows per table written (truth tables included when present).
        dropped_columns: extra input columns not carried, per table.
        key_check: the key's fingerprint (see ``PseudonymKey``).
        seconds: wall time of each step.
    """

    out: Path
    fmt: str
    row_counts: dict[str, int]
    dropped_columns: dict[str, tuple[str, ...]]
    key_check: str
    seconds: dict[str, float] = field(default_factory=dict)


def pseudonymize(
    source: str | Path,
    out: str | Path,
    *,
    key_env: str,
    fmt: str = "parquet",
    on_progress: ProgressFn | None = None,
) -> PseudonymizeSummary:
    """Write a pseudonymised copy of an input folder or DuckDB file into ``out``.

    Args:
        source: as for ``linkage load`` (folder of CSV/Parquet files, or a DuckDB file);
            a ``truth/`` folder beside the tables (generated data) is carried too, with
            its tip numbers tokenised.
        out: output folder, replaced atomically (``tips``, ``referrals``,
            ``case_outcomes``, ``truth/`` if any, and ``pseudonymisation.json``).
        key_env: NAME of the environment variable holding the secret key.
        fmt: ``parquet`` or ``csv``.
        on_progress: optional ``(step, fraction)`` callback.

    Returns:
        A ``PseudonymizeSummary``.

    Raises:
        PseudonymKeyError: the key is missing, empty or too short (checked first).
        ContractError: the input breaks the data contract.
        OutputError: ``out`` cannot be written.

    Example:
        >>> pseudonymize("data/", "pseudo/", key_env="LINKAGE_KEY").row_counts  # doctest: +SKIP
        {'tips': 20500, 'referrals': 812, 'case_outcomes': 260}
    """
    if fmt not in FORMATS:
        raise ConfigError(f"fmt must be one of {', '.join(FORMATS)}, got {fmt!r}")
    key = read_key(key_env)
    progress = on_progress or silent
    seconds: dict[str, float] = {}
    source = Path(source)
    with tempfile.TemporaryDirectory(prefix="linkage_pseudo_") as spill:
        con = connect()
        # clear values may spill while the tokens are computed: into a private folder
        con.execute(f"set temp_directory = {quote_literal(spill)}")
        try:
            t0 = time.perf_counter()
            progress("load", 0.0)
            loaded = load_input(source, con)
            truth = load_truth(source / "truth", con) if source.is_dir() else []
            seconds["load"] = _lap(t0)

            t0 = time.perf_counter()
            progress("standardise", 0.3)
            _standardise(con)
            seconds["standardise"] = _lap(t0)

            t0 = time.perf_counter()
            progress("tokenise", 0.5)
            _tokenise(con, key, with_truth="truth_referrals" in truth)
            seconds["tokenise"] = _lap(t0)

            t0 = time.perf_counter()
            progress("write", 0.9)
            with atomic_folder(out) as tmp:
                counts = _write(con, tmp, fmt, truth)
                manifest = _manifest(key_env, key, fmt, counts, loaded, seconds)
                (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n",
                                            encoding="utf-8")
            seconds["write"] = _lap(t0)
        finally:
            con.close()
    progress("done", 1.0)
    dropped = {t: tuple(c) for t, c in loaded.extra_columns.items()}
    log.info("pseudonymised %s rows in %.1f s", counts, sum(seconds.values()))
    return PseudonymizeSummary(Path(out), fmt, counts, dropped, key.check, seconds)


def _lap(t0: float) -> float:
    return round(time.perf_counter() - t0, 3)


def _standardise(con: duckdb.DuckDBPyConnection) -> None:
    """The linkage staging on referrals and cases, and on the tips' suspect identifiers.

    Tips go through ``stg_referrals.sql`` as referral-shaped rows (``pseudo_tip_subjects``)
    in a schema of their own, so the staging rules exist once (``sql/staging/``).
    """
    build_staging(con, apply_quarantine=False)  # pseudonymised output keeps every row
    build_table(con, "pseudonymize/pseudo_tip_subjects.sql")
    schema = quote_ident(_TIP_SCHEMA)
    con.execute(f"create schema if not exists {schema}")
    con.execute(f"create or replace view {schema}.raw_referrals as "
                "select * from main.pseudo_tip_subjects")
    con.execute(f"set schema = {quote_literal(_TIP_SCHEMA)}")
    con.execute(f"set search_path = {quote_literal(_TIP_SCHEMA + ',main')}")
    try:
        build_staging(con, apply_quarantine=False)
    finally:
        con.execute("set schema = 'main'")
        con.execute("set search_path = ''")


def _tokenise(con: duckdb.DuckDBPyConnection, key: PseudonymKey, *, with_truth: bool) -> None:
    params = key.params()
    for step in pipeline.PSEUDONYMISE:  # run order: macros, tip subjects, encodings, tables
        if step.macros:
            run_macros(con, step.file)
        elif step.table == "pseudo_tip_subjects":
            continue  # built by _standardise, before the tips' own staging
        elif step.table != "pseudo_truth_referrals" or with_truth:
            build_table(con, step.file, params)


def _write(con: duckdb.DuckDBPyConnection, folder: Path, fmt: str,
           truth: list[str]) -> dict[str, int]:
    """COPY each output table to ``<folder>/<contract name>.<fmt>``; return row counts."""
    tables = dict(_OUTPUTS)
    if truth:
        (folder / "truth").mkdir()
        if "truth_links" in truth:  # referral and case ids are kept: copied as they are
            tables["truth_links"] = "truth/truth_links"
        if table_exists(con, "pseudo_truth_referrals"):
            tables["pseudo_truth_referrals"] = "truth/truth_referrals"
    opts = "(format parquet)" if fmt == "parquet" else "(format csv, header)"
    counts = {}
    for table, name in tables.items():
        target = quote_literal(str(folder / f"{name}.{fmt}"))
        con.execute(f"copy (select * from {quote_ident(table)}) to {target} {opts}")
        counts[name.split("/")[-1]] = con.sql(
            f"select count(*) from {quote_ident(table)}").fetchall()[0][0]
    return counts


def _manifest(key_env: str, key: PseudonymKey, fmt: str, counts: dict[str, int],
              loaded: Any, seconds: dict[str, float]) -> dict[str, Any]:
    """What was done, for the record: scheme, parameters, columns, counts; no values."""
    return {
        "scheme": SCHEME,
        "key_env": key_env if _ENV_NAME.fullmatch(key_env) else None,
        "key_check": key.check,
        "token": {"algorithm": "HMAC-SHA256", "bits": TOKEN_HEX * 4},
        "bloom": {"bits": BLOOM_BITS, "hashes": BLOOM_HASHES, "q": 2,
                  "hashing": "HMAC-SHA256 per bigram and hash index"},
        "format": fmt,
        "tokenised": TOKENISED,
        "nulled": NULLED,
        "kept": {t.name: [c for c in t.column_names if c not in TOKENISED[t.name]
                          and c not in NULLED[t.name]] for t in INPUT_TABLES},
        "dropped_extra_columns": {t: list(c) for t, c in loaded.extra_columns.items()},
        "row_counts": counts,
        "input_sha256": {Path(k).name: v for k, v in loaded.sha256.items()},
        "seconds": seconds,
    }
