"""A generic Splink 5 linkage of a contract-shaped input, as a competent user scripts it:
the baseline that ``bench_small.py`` times our whole study against.

Reads ``referrals`` and ``case_outcomes`` (parquet or CSV) from a folder into an in-memory
DuckDB, standardises the identifiers in one SQL statement per table (lower-cased names,
e-mail and username; digits-only phone; dates parsed; 5-digit ZIP), trains and applies the
generic model of the external benchmarks (``external/_peers.generic_splink``: Splink's own
comparisons, single-column blocking, u by random sampling, EM on two blocks), keeps each
referral's best case at probability >= 0.5 and writes ``links.parquet``. No validation,
no temporal step, no estimates, no report: the least a linkage study can be.

    python benchmarks/_generic_study.py INPUT_DIR OUT_DIR [--threads 2] [--seed 1]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).parent / "external"))
from _peers import generic_splink  # noqa: E402  (benchmarks/external, beside this script)

_STANDARD = """
    {id} as unique_id,
    nullif(regexp_replace(lower(trim(first_name)), '[^a-z]', '', 'g'), '') as first_name,
    nullif(regexp_replace(lower(trim(last_name)), '[^a-z]', '', 'g'), '') as last_name,
    try_cast(dob as date) as dob,
    nullif(lower(trim(email)), '') as email,
    nullif(regexp_replace(phone, '[^0-9]', '', 'g'), '') as phone,
    nullif(lower(trim(username)), '') as username,
    nullif(lower(trim(city)), '') as city,
    nullif(upper(trim(state)), '') as state,
    nullif(left(regexp_replace(zip, '[^0-9]', '', 'g'), 5), '') as zip
"""


def _source(folder: Path, table: str) -> tuple[str, str]:
    """The table's file in ``folder`` and the DuckDB reader for it (text columns)."""
    for suffix, reader in ((".parquet", "read_parquet($path)"),
                           (".csv", "read_csv($path, all_varchar = true)")):
        path = folder / f"{table}{suffix}"
        if path.exists():
            return reader, path.as_posix()
    raise SystemExit(f"{folder}: no {table}.parquet or {table}.csv")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("input")
    ap.add_argument("out")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    folder, out = Path(args.input), Path(args.out)
    con = duckdb.connect()
    con.execute(f"set threads = {int(args.threads)}")
    for table, stg, key in (("referrals", "stg_referrals", "referral_id"),
                            ("case_outcomes", "stg_case_outcomes", "case_id")):
        reader, path = _source(folder, table)
        cols = _STANDARD.format(id=f"cast({key} as varchar)")
        # typed parquet columns read as text first, as a script that does not know them would
        con.execute(f"create table {stg} as select {cols} from (select * replace "
                    f"(cast(dob as varchar) as dob, cast(phone as varchar) as phone, "
                    f"cast(zip as varchar) as zip) from {reader})", {"path": path})
    run = generic_splink(con, seed=args.seed, threads=args.threads)
    out.mkdir(parents=True, exist_ok=True)
    con.register("pairs", run.pairs)
    con.sql(
        """
        select referral_id, arg_max(case_id, probability) as case_id,
            max(probability) as probability
        from pairs where probability >= 0.5 group by referral_id order by referral_id
        """
    ).write_parquet((out / "links.parquet").as_posix())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
