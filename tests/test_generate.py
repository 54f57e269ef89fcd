"""The synthetic generator: contract conformance, determinism, truth consistency, calibration."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import duckdb
import numpy as np
import pytest

from linkage.contract import CASE_OUTCOMES, INPUT_TABLES, REFERRALS, TIPS
from linkage.generation.draws import calibrate, calibrate_cases, corrupt_dob
from linkage.generation.scenario import SideCorruption, load_scenario
from linkage.generation.writer import generate


@pytest.fixture(scope="module")
def small_csv(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    out = tmp_path_factory.mktemp("gen") / "csv"
    summary = generate(load_scenario(scale=0.01, seed=11), out, fmt="csv")
    return out, summary.counts


def _con(folder: Path, fmt: str = "csv") -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    for name in ("tips", "referrals", "case_outcomes", "truth/truth_links",
                 "truth/truth_referrals"):
        path = folder / f"{name}.{fmt}"
        reader = "read_csv" if fmt == "csv" else "read_parquet"
        extra = ", all_varchar = true" if fmt == "csv" else ""
        con.execute(f"create view {name.split('/')[-1]} as select * from "
                    f"{reader}('{path}'{extra})")
    return con


def _scalar(con: duckdb.DuckDBPyConnection, sql: str) -> object:
    return con.sql(sql).fetchall()[0][0]


@pytest.mark.parametrize("table", INPUT_TABLES, ids=lambda t: t.name)
def test_files_hold_exactly_the_contract_columns(small_csv, table) -> None:
    con = _con(small_csv[0])
    cols = [r[0] for r in con.sql(f"describe {table.name}").fetchall()]
    assert cols == list(table.column_names)


@pytest.mark.parametrize("table", INPUT_TABLES, ids=lambda t: t.name)
def test_values_parse_to_contract_types_and_required_are_present(small_csv, table) -> None:
    con = _con(small_csv[0])
    for col in table.columns:
        bad = _scalar(con, f"select count(*) from {table.name} where {col.name} is not null "
                           f"and try_cast({col.name} as {col.dtype}) is null")
        assert bad == 0, f"{table.name}.{col.name} has values that do not parse as {col.dtype}"
        if col.required:
            assert _scalar(con, f"select count(*) from {table.name} "
                                f"where {col.name} is null") == 0, col.name
    dupes = _scalar(con, f"select count(*) - count(distinct {table.key}) from {table.name}")
    assert dupes == 0


def test_referential_integrity_and_time_order(small_csv) -> None:
    con = _con(small_csv[0])
    orphans = _scalar(con, "select count(*) from referrals r anti join tips t using (tip_id)")
    assert orphans == 0
    early = _scalar(con, "select count(*) from referrals r join tips t using (tip_id) "
                         "where r.referred_at::timestamp < t.received_at::timestamp")
    assert early == 0
    # Categories are whatever the scenario says (none hard-coded): all offense names appear.
    offenses = {r[0] for r in con.sql("select distinct offense_type from referrals").fetchall()}
    assert offenses <= {o.name for o in load_scenario().offense}
    assert {"csam", "online_enticement"} <= offenses


def test_truth_links_join_both_sides_and_stage_dates_are_ordered(small_csv) -> None:
    con = _con(small_csv[0])
    n_links = _scalar(con, "select count(*) from truth_links")
    assert n_links > 0
    joined = _scalar(con, "select count(*) from truth_links l join referrals using "
                          "(referral_id) join case_outcomes c on c.case_id = l.case_id")
    assert joined == n_links
    assert _scalar(con, "select max(n) from (select count(*) n from truth_links "
                        "group by referral_id)") == 1
    for table in ("truth_referrals", "case_outcomes"):
        disorder = _scalar(con, f"""
            select count(*) from {table} where
               arrested_at::date < opened_at::date or charged_at::date < arrested_at::date
               or convicted_at::date < charged_at::date
               or (charged_at is not null and arrested_at is null)
               or (convicted_at is not null and charged_at is null)""")
        assert disorder == 0, table
    # Observed stages stop at the study's end date; truth keeps later ones (censoring).
    end = load_scenario().study.end_date.isoformat()
    late = _scalar(con, f"select count(*) from case_outcomes where convicted_at::date > "
                        f"'{end}' or opened_at::date > '{end}'")
    assert late == 0
    censored = _scalar(con, f"select count(*) from truth_referrals where "
                            f"convicted_at::date > '{end}'")
    assert censored > 0
    # A truth link exists exactly for referrals with an observed case record.
    mismatch = _scalar(con, "select count(*) from truth_referrals t left join truth_links l "
                            "using (referral_id) where (t.case_id is null) <> (l.case_id is null)")
    assert mismatch == 0


def test_cybertip_ref_is_sparse_and_points_at_the_linked_tip(small_csv) -> None:
    con = _con(small_csv[0])
    # A case merging several referrals of one person records the first one's tip number.
    n_ref, n_right = con.sql("""
        select count(*), count(*) filter (where c.cybertip_ref in (
            select r.tip_id from truth_links l join referrals r using (referral_id)
            where l.case_id = c.case_id))
        from case_outcomes c where c.cybertip_ref is not null""").fetchall()[0]
    n_linked = _scalar(con, "select count(distinct case_id) from truth_links")
    assert 0 < n_ref < 0.3 * n_linked
    assert n_right == n_ref


def _within(observed: int, expected: float, rel: float = 0.05) -> bool:
    """Within `rel` plus four binomial-ish standard deviations of sampling noise."""
    return abs(observed - expected) <= rel * expected + 4 * math.sqrt(expected)


def test_totals_match_calibration_targets_at_small_scale(small_csv) -> None:
    counts = small_csv[1]
    sc = load_scenario(scale=0.01)
    for key, national in sc.targets.items():
        expected = national * sc.scale
        assert _within(counts[key], expected), (key, counts[key], expected)


def test_per_offense_investigation_rates_match_the_scenario(small_csv) -> None:
    con = _con(small_csv[0])
    rows = con.sql("""select offense_type, count(*), avg(investigated::boolean::int)
                      from truth_referrals group by 1""").fetchall()
    targets = {o.name: o.investigate for o in load_scenario().offense}
    for offense, n, rate in rows:
        sd = math.sqrt(targets[offense] * (1 - targets[offense]) / n)
        assert abs(rate - targets[offense]) <= 4 * sd + 0.01, (offense, n, rate)


def _hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_same_seed_gives_identical_files(tmp_path: Path, fmt: str) -> None:
    sc = load_scenario(scale=0.002, seed=5)
    generate(sc, tmp_path / "a", fmt=fmt)
    generate(sc, tmp_path / "b", fmt=fmt)
    generate(load_scenario(scale=0.002, seed=6), tmp_path / "c", fmt=fmt)
    a, b, c = (_hashes(tmp_path / x) for x in "abc")
    assert len(a) == 6 and a == b  # 3 tables, 2 truth tables, the output marker
    assert a["referrals." + fmt] != c["referrals." + fmt]


def test_parquet_output_is_typed_as_the_contract(tmp_path: Path) -> None:
    generate(load_scenario(scale=0.001, seed=2), tmp_path / "p", fmt="parquet")
    con = _con(tmp_path / "p", "parquet")
    for table in (TIPS, REFERRALS, CASE_OUTCOMES):
        types = dict(con.sql(f"select column_name, column_type from (describe {table.name})")
                     .fetchall())
        for col in table.columns:
            expected = {"BIGINT": ("BIGINT", "INTEGER", "TINYINT", "SMALLINT")}.get(
                col.dtype, (col.dtype,))
            assert types[col.name] in expected, (table.name, col.name, types[col.name])


def test_rerun_replaces_output_folder_without_leftovers(tmp_path: Path) -> None:
    out = tmp_path / "out"
    generate(load_scenario(scale=0.001), out, fmt="csv")
    (out / "stale.txt").write_text("old")
    generate(load_scenario(scale=0.001), out, fmt="parquet")
    assert not (out / "stale.txt").exists() and not (out / "tips.csv").exists()
    assert (out / "tips.parquet").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_calibrate_hits_each_group_target_despite_modifiers() -> None:
    rng = np.random.default_rng(0)
    offset = rng.normal(0, 2, 10_000)
    group = rng.integers(0, 3, 10_000)
    targets = np.array([0.05, 0.4, 0.9])
    p = calibrate(offset, group, targets)
    for g in range(3):
        assert abs(p[group == g].mean() - targets[g]) < 1e-6
    assert p[offset > 1].mean() > p[offset < -1].mean()  # modifiers still move risk


def test_dob_corruption_swaps_day_and_month_and_stays_valid() -> None:
    rng = np.random.default_rng(1)
    days = (np.datetime64("1990-03-07") - np.datetime64("1970-01-01")).astype(int)
    cor = SideCorruption(0, 0, 0, 1.0, 0, 0, 0, 0, 0)
    out = corrupt_dob(rng, np.full(5, days, dtype=np.int32), cor, 1.0)
    dates = (np.datetime64("1970-01-01") + out.astype("timedelta64[D]")).astype(str)
    assert set(dates) == {"1990-07-03"}
    cor = SideCorruption(0, 0, 0, 0, 1.0, 0, 0, 0, 0)
    out = corrupt_dob(rng, np.full(2000, days, dtype=np.int32), cor, 1.0)
    assert (out != days).all() and np.abs(out - days).max() <= 366


def test_calibrate_cases_keeps_per_referral_rates_when_referrals_share_a_case() -> None:
    rng = np.random.default_rng(3)
    size = 1 + rng.poisson(0.5, 5_000)
    ref_case = np.repeat(np.arange(len(size)), size)
    ref_group = rng.integers(0, 2, len(ref_case))
    lead_group = ref_group[np.r_[0, np.cumsum(size)[:-1]]]
    p = calibrate_cases(rng.normal(0, 1, len(size)), lead_group, ref_case, ref_group,
                        np.array([0.15, 0.55]))
    for g, target in ((0, 0.15), (1, 0.55)):
        assert abs(p[ref_case][ref_group == g].mean() - target) < 1e-6


def test_referrals_of_one_suspect_to_one_agency_share_their_fate(small_csv) -> None:
    con = _con(small_csv[0])
    mixed = _scalar(con, """
        select count(*) from (
            select t.person_id, r.agency_id from truth_referrals t join referrals r
            using (referral_id) group by 1, 2
            having count(distinct t.investigated) > 1)""")
    shared = _scalar(con, """
        select count(*) from (select case_id from truth_links group by 1 having count(*) > 1)""")
    assert mixed == 0
    assert shared > 0  # repeat suspects: some cases take several referrals


def test_output_folder_not_written_by_the_toolkit_is_never_replaced(tmp_path):
    from linkage.errors import OutputError
    from linkage.outputs import MARKER, atomic_folder

    mine = tmp_path / "home"
    mine.mkdir()
    (mine / "thesis.txt").write_text("years of work")
    with pytest.raises(OutputError, match="did not write"):
        with atomic_folder(mine):
            pass
    assert (mine / "thesis.txt").read_text() == "years of work"
    with atomic_folder(tmp_path / "out") as partial:  # ours: replaced by the next run
        (partial / "a.txt").write_text("1")
    assert (tmp_path / "out" / MARKER).is_file()
    with atomic_folder(tmp_path / "out") as partial:
        (partial / "b.txt").write_text("2")
    assert not (tmp_path / "out" / "a.txt").exists()


def test_no_referral_is_dated_after_the_extract(tmp_path: Path) -> None:
    """A long tip-to-referral tail would date some referrals after the extract date (and,
    in an old world, after today: an input the contract refuses); they are made on it."""
    toml = tmp_path / "slow.toml"
    toml.write_text('base = "default"\nname = "slow_referrals"\n[lags]\n'
                    'tip_to_referral = { median = 200.0, p90 = 2000.0 }\n')
    sc = load_scenario(str(toml), scale=0.001, seed=3)
    generate(sc, tmp_path / "g", fmt="csv")
    con = _con(tmp_path / "g")
    end = sc.study.end_date.isoformat()
    assert _scalar(con, f"select count(*) from referrals where "
                        f"referred_at::timestamp > '{end} 23:59:59'") == 0
    assert _scalar(con, f"select count(*) from referrals where "
                        f"referred_at::date = '{end}'") > 0
