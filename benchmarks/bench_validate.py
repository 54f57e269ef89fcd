"""Benchmark: the raw_referrals suite on a synthetic 1M-row table in DuckDB.

Usage:
    .venv/bin/python benchmarks/bench_validate.py [--rows 1000000]

Prints the time to build the tables, the GX import, the validation itself and peak RSS.
Target: validation under 30 s at 1M rows.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from linkage import quality  # noqa: E402
from linkage.db import connect  # noqa: E402
from linkage.quality.results import format_summary  # noqa: E402

_TIPS = """
create table raw_tips as select
    'T' || i as tip_id,
    timestamp '2024-01-01' + to_seconds(i * 30) as received_at,
    case when i % 100 = 0 then 'public' else 'esp' end as reporter_type,
    'esp_' || (i % 50) as reporter_name,
    'incident_' || (i % 8) as incident_type,
    i % 97 = 0 as is_urgent,
    i % 5 as file_count,
    null::varchar as suspect_email, null::varchar as suspect_username,
    null::varchar as suspect_phone, null::varchar as suspect_ip,
    null::varchar as suspect_first_name, null::varchar as suspect_last_name,
    null::date as suspect_dob, 'US' as country, 'CA' as state
from range($n) r(i)
"""

_REFERRALS = """
create table raw_referrals as select
    'R' || i as referral_id,
    'T' || (i // 2) as tip_id,
    timestamp '2024-01-01' + to_seconds((i // 2) * 30 + 3600 * (1 + i % 48)) as referred_at,
    'agency_' || (i % 61) as agency_id,
    'S' || chr(cast(65 + i % 26 as integer)) as agency_state,
    'offense_' || (i % 8) as offense_type,
    1 + i % 3 as priority,
    'first' || (i % 5000) as first_name,
    'last' || (i % 20000) as last_name,
    date '1960-01-01' + cast(i % 15000 as integer) as dob,
    'user' || i || '@example.org' as email,
    lpad(cast(i % 10000000000 as varchar), 10, '5') as phone,
    'user' || i as username,
    '10.0.' || (i % 256) || '.' || (i % 250) as ip,
    'city' || (i % 900) as city,
    'S' || chr(cast(65 + i % 26 as integer)) as state,
    lpad(cast(i % 99999 as varchar), 5, '0') as zip,
    'extra' as note
from range($n) r(i)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="referral rows")
    args = parser.parse_args()

    t0 = time.perf_counter()
    con = connect()
    con.execute(_TIPS, {"n": args.rows // 2 + 1})
    con.execute(_REFERRALS, {"n": args.rows})
    t1 = time.perf_counter()
    quality._context()  # GX import and context, timed apart from the validation
    t2 = time.perf_counter()
    result = quality.validate_table(con, "raw_referrals")
    t3 = time.perf_counter()

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    seconds = t3 - t2
    print(format_summary([result]))
    print(f"rows: {args.rows:,} referrals, {args.rows // 2 + 1:,} tips (joined by the "
          "referential-integrity and referred-after-received checks)")
    print(f"build tables: {t1 - t0:.1f} s, GX import+context: {t2 - t1:.1f} s")
    print(f"validate raw_referrals ({len(result.results)} expectations): {seconds:.1f} s "
          f"({'within' if seconds < 30 else 'OVER'} the 30 s target), "
          f"{args.rows / seconds:,.0f} rows/s")
    print(f"peak RSS: {peak_mb:,.0f} MB (whole process, tables included)")


if __name__ == "__main__":
    main()
