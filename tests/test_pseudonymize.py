"""`linkage pseudonymize`: keyed tokens, encodings that still compare, key handling, and
linkage on the pseudonymised output."""

from __future__ import annotations

import hashlib
import hmac
import logging
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from linkage.cli import main
from linkage.db import connect, sql_file
from linkage.errors import LinkModelError, PseudonymKeyError
from linkage.ingest import load_input, load_truth
from linkage.ingest.pseudonyms import MIN_KEY_BYTES, PseudonymKey, pseudonymize, read_key
from linkage.ingest.staging import build_staging, uses_pseudonyms
from linkage.linking import encodings
from linkage.linking.metrics import evaluate
from linkage.linking.model import CLEAR_MODEL, PSEUDONYMISED_MODEL
from linkage.linking.run import link

KEY = "test key: long enough, and only ever in this environment variable"
OTHER_KEY = "another test key, also long enough to be accepted by the tool"


@pytest.fixture
def key_env(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("LINKAGE_TEST_KEY", KEY)
    monkeypatch.setenv("LINKAGE_OTHER_KEY", OTHER_KEY)
    return "LINKAGE_TEST_KEY"


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from linkage.generation.scenario import load_scenario
    from linkage.generation.writer import generate

    out = tmp_path_factory.mktemp("gen") / "data"
    generate(load_scenario("default", scale=0.001, seed=5), out)
    return out


def _table(folder: Path, name: str) -> duckdb.DuckDBPyRelation:
    return duckdb.sql(f"select * from read_parquet('{folder / name}.parquet')")


# --- tokens and keys ---------------------------------------------------------------------


@settings(max_examples=50, deadline=None)
@given(values=st.lists(st.text(min_size=1, max_size=40), min_size=1, max_size=20),
       secret=st.binary(min_size=MIN_KEY_BYTES, max_size=100))
def test_sql_token_is_rfc2104_hmac_sha256(values: list[str], secret: bytes) -> None:
    con = duckdb.connect()
    con.execute(sql_file("pseudonymize/pseudo_macros.sql").read_text(encoding="utf-8"))
    key = PseudonymKey.from_secret(secret)
    got = con.execute(
        "select pseudo_token($ipad::blob, $opad::blob, 'email', v) from unnest($v) as t (v)",
        {"ipad": key.ipad, "opad": key.opad, "v": values},
    ).fetchall()
    want = [hmac.new(secret, b"email\x1f" + v.encode(), hashlib.sha256).hexdigest()[:32]
            for v in values]
    assert [g for (g,) in got] == want


def test_tokens_are_deterministic_for_a_key_and_unrelated_across_keys(
    generated: Path, tmp_path: Path, key_env: str
) -> None:
    a = pseudonymize(generated, tmp_path / "a", key_env=key_env)
    b = pseudonymize(generated, tmp_path / "b", key_env=key_env)
    c = pseudonymize(generated, tmp_path / "c", key_env="LINKAGE_OTHER_KEY")
    assert a.key_check == b.key_check != c.key_check
    cols = "referral_id, tip_id, first_name, email, phone, pseudo_dob, pseudo_last_name_bloom"
    rows = {k: _table(tmp_path / k, "referrals").select(cols).order("referral_id").fetchall()
            for k in "abc"}
    assert rows["a"] == rows["b"]
    emails = {k: {r[3] for r in rows[k] if r[3]} for k in "ac"}
    assert len(emails["a"]) > 100 and not emails["a"] & emails["c"]


def test_identifiers_are_replaced_and_keys_kept(generated: Path, tmp_path: Path,
                                                key_env: str) -> None:
    pseudonymize(generated, tmp_path / "p", key_env=key_env)
    clear, pseudo = _table(generated, "referrals"), _table(tmp_path / "p", "referrals")
    assert pseudo.columns[: len(clear.columns)] == clear.columns  # the contract's shape
    ids = {c: {r[0] for r in clear.select(c).fetchall() if r[0]}
           for c in ("email", "phone", "username", "last_name", "ip", "zip", "tip_id")}
    for col, values in ids.items():
        out = {r[0] for r in pseudo.select(col).fetchall() if r[0]}
        assert out and not out & values, col
        assert all(len(v) == 32 for v in out), col
    assert pseudo.select("count(dob)").fetchall() == [(0,)]
    assert sorted(pseudo.select("referral_id").fetchall()) == sorted(
        clear.select("referral_id").fetchall())
    # the audit join still works: tokenised cybertip_ref = tokenised tip_id
    n_audit = "select count(*) from {c} as c join {r} as r on r.tip_id = c.cybertip_ref"
    for folder in (generated, tmp_path / "p"):
        q = n_audit.format(c=f"read_parquet('{folder / 'case_outcomes.parquet'}')",
                           r=f"read_parquet('{folder / 'referrals.parquet'}')")
        assert duckdb.sql(q).fetchall()[0][0] > 0
    assert duckdb.sql(n_audit.format(
        c=f"read_parquet('{tmp_path / 'p' / 'case_outcomes.parquet'}')",
        r=f"read_parquet('{generated / 'referrals.parquet'}')")).fetchall() == [(0,)]


def test_missing_empty_or_short_key_is_one_line_and_exit_8(
    generated: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    short = "x" * (MIN_KEY_BYTES - 1)
    cases = [("LINKAGE_UNSET_KEY", None, "is not set"), ("LINKAGE_EMPTY_KEY", "", "is empty"),
             ("LINKAGE_SHORT_KEY", short, "too short")]
    for name, value, message in cases:
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
        result = CliRunner().invoke(main, ["pseudonymize", "--input", str(generated), "--out",
                                           str(tmp_path / "out"), "--key-env", name])
        assert result.exit_code == PseudonymKeyError.exit_code == 8, result.output
        lines = [x for x in result.output.splitlines() if x.strip()]
        assert len(lines) == 1 and message in lines[0] and name in lines[0]
        assert short not in result.output
        assert not (tmp_path / "out").exists()


def test_a_key_pasted_as_the_variable_name_is_not_echoed() -> None:
    with pytest.raises(PseudonymKeyError) as err:
        read_key(KEY)
    assert KEY not in str(err.value) and "NAME, not the key" in str(err.value)


def test_key_never_in_outputs_or_debug_logs(generated: Path, tmp_path: Path, key_env: str,
                                            caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    result = CliRunner().invoke(main, ["--log-level", "DEBUG", "pseudonymize", "--input",
                                       str(generated), "--out", str(tmp_path / "p"),
                                       "--key-env", key_env, "--format", "csv"])
    assert result.exit_code == 0, result.output
    secret = KEY.encode()
    forms = [secret, secret.hex().encode(), secret[:MIN_KEY_BYTES]]
    files = [p for p in (tmp_path / "p").rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"tips.csv", "referrals.csv", "case_outcomes.csv",
                                       "pseudonymisation.json", "truth_links.csv"}
    for path in files:
        data = path.read_bytes()
        assert not any(f in data for f in forms), path.name
    assert KEY not in caplog.text and KEY not in result.output


def test_extra_columns_are_dropped_and_named(contract_rows, contract_write, tmp_path: Path,
                                            key_env: str) -> None:
    source = contract_write(contract_rows)
    summary = pseudonymize(source, tmp_path / "p", key_env=key_env)
    assert summary.dropped_columns == {"tips": ("note",)}
    assert "note" not in _table(tmp_path / "p", "tips").columns


# --- encodings compare like the clear values -----------------------------------------------


def _encoded_pairs(contract_rows, contract_write, tmp_path: Path, pairs: list[tuple[dict,
                   dict]]) -> duckdb.DuckDBPyConnection:
    """Referral R<i> and case C<i> with the given identifiers, pseudonymised, loaded and
    staged as the linkage stages them; returns the study connection."""
    tip, ref, case = (contract_rows[t][0] for t in ("tips", "referrals", "case_outcomes"))
    blank = {"first_name": "", "last_name": "", "dob": "", "email": "", "phone": "",
             "username": ""}
    rows = {"tips": [], "referrals": [], "case_outcomes": []}
    for i, (r, c) in enumerate(pairs):
        rows["tips"].append({**tip, "tip_id": f"T{i}"})
        rows["referrals"].append({**ref, **blank, **r, "referral_id": f"R{i}", "tip_id": f"T{i}",
                                  "referred_at": "2024-01-05 08:00:00"})
        rows["case_outcomes"].append({**case, **blank, **c, "case_id": f"C{i}",
                                      "cybertip_ref": ""})
    pseudonymize(contract_write(rows), tmp_path / "p", key_env="LINKAGE_TEST_KEY")
    con = connect()
    load_input(tmp_path / "p", con)
    build_staging(con, pseudonymised=True)
    return con


def _pair_sql(con: duckdb.DuckDBPyConnection, expr: str) -> list:
    """``expr`` over each (case l, referral r) pair, in pair order."""
    return [v for (v,) in con.sql(
        f"select {expr} from stg_case_outcomes as l join stg_referrals as r"
        " on substr(l.unique_id, 2) = substr(r.unique_id, 2)"
        " order by cast(substr(r.unique_id, 2) as integer)").fetchall()]


def _bigram_dice(a: str, b: str) -> float:
    def grams(s: str) -> set[str]:
        p = f"_{s}_"
        return {p[i:i + 2] for i in range(len(p) - 1)}

    ga, gb = grams(a), grams(b)
    return 2 * len(ga & gb) / (len(ga) + len(gb))


def test_bloom_dice_is_high_for_typos_and_low_for_other_names(
    contract_rows, contract_write, tmp_path: Path, key_env: str
) -> None:
    close = [("Johnson", "Jonson"), ("Thompson", "Thomson"), ("Martinez", "Martines"),
             ("Rodriguez", "Rodriquez"), ("Anderson", "Andersen"), ("Williams", "Wiliams")]
    other = [("Johnson", "Williams"), ("Smith", "Garcia"), ("Nguyen", "Brown"),
             ("Martinez", "Thompson"), ("Lee", "Kowalski")]
    pairs = [({"last_name": a}, {"last_name": b}) for a, b in close + other]
    con = _encoded_pairs(contract_rows, contract_write, tmp_path, pairs)
    dice = _pair_sql(con, encodings.dice("l.last_name_bloom", "r.last_name_bloom"))
    exact = [_bigram_dice(a.lower(), b.lower()) for a, b in close + other]
    # Bigrams colliding in the filter only ever add shared bits: unrelated names score
    # ~0.1-0.2 instead of 0 (about 75 of 512 bits set per name), similar ones stay close
    # to their bigram Dice, which is what the model's thresholds are set on.
    pairs_ = list(zip(dice, exact, strict=True))
    assert all(d >= e - 0.02 for d, e in pairs_), pairs_
    assert all(abs(d - e) < 0.06 for d, e in pairs_ if e >= 0.5), pairs_
    assert min(dice[: len(close)]) >= encodings.DICE_SIMILAR
    assert max(dice[len(close):]) <= 0.3
    same = _pair_sql(con, "l.last_name_bloom = r.last_name_bloom")
    assert not any(same)  # the filters differ, the tokens differ, yet Dice sees the typo


def test_dob_swap_and_two_of_three_are_visible_on_tokens(
    contract_rows, contract_write, tmp_path: Path, key_env: str
) -> None:
    pairs = [({"dob": "1990-05-07"}, {"dob": "1990-05-07"}),   # same
             ({"dob": "1990-05-07"}, {"dob": "1990-07-05"}),   # day and month swapped
             ({"dob": "1990-05-07"}, {"dob": "1990-05-08"}),   # day off
             ({"dob": "1990-05-07"}, {"dob": "1991-05-07"}),   # year off
             ({"dob": "1990-05-07"}, {"dob": "1985-11-23"})]   # other
    con = _encoded_pairs(contract_rows, contract_write, tmp_path, pairs)
    assert _pair_sql(con, "l.dob_token = r.dob_token") == [True, False, False, False, False]
    assert _pair_sql(con, "l.dob_swap = r.dob_swap") == [True, True, False, False, False]
    two = "l.dob_ym = r.dob_ym or l.dob_yd = r.dob_yd or l.dob_md = r.dob_md"
    assert _pair_sql(con, two) == [True, False, True, True, False]
    dob = PSEUDONYMISED_MODEL.comparisons()[1]
    levels = dob.get_comparison("duckdb").as_dict()["comparison_levels"]
    labels = [lvl.get("label_for_charts") for lvl in levels]
    assert "day and month swapped" in labels and "two of year/month/day equal" in labels


def test_phone_one_digit_off_shares_one_masked_token(
    contract_rows, contract_write, tmp_path: Path, key_env: str
) -> None:
    pairs = [({"phone": "(555) 123-4567"}, {"phone": "+1 555 123 4567"}),
             ({"phone": "5551234567"}, {"phone": "5551234587"}),
             ({"phone": "5551234567"}, {"phone": "5551239587"})]
    con = _encoded_pairs(contract_rows, contract_write, tmp_path, pairs)
    assert _pair_sql(con, "l.phone = r.phone") == [True, False, False]
    shared = _pair_sql(con, "len(list_intersect(l.phone_masks, r.phone_masks))")
    assert shared == [10, 1, 0]
    assert _pair_sql(con, "l.phone_head = r.phone_head") == [True, True, True]


# --- the pseudonymised output as input ------------------------------------------------------


def test_pseudonymised_output_passes_linkage_load(generated: Path, tmp_path: Path,
                                                  key_env: str) -> None:
    pseudonymize(generated, tmp_path / "p", key_env=key_env, fmt="csv")
    result = CliRunner().invoke(main, ["load", "--input", str(tmp_path / "p"), "--db",
                                       str(tmp_path / "study.duckdb")])
    assert result.exit_code == 0, result.output
    con = duckdb.connect(str(tmp_path / "study.duckdb"), read_only=True)
    assert uses_pseudonyms(con)
    con.close()


def test_one_side_pseudonymised_or_two_keys_are_model_errors(
    generated: Path, tmp_path: Path, key_env: str
) -> None:
    pseudonymize(generated, tmp_path / "a", key_env=key_env)
    pseudonymize(generated, tmp_path / "b", key_env="LINKAGE_OTHER_KEY")
    con = connect()
    load_input(tmp_path / "a", con)
    con.execute("create or replace table raw_case_outcomes as select * from "
                f"read_parquet('{tmp_path / 'b' / 'case_outcomes.parquet'}')")
    with pytest.raises(LinkModelError, match="different keys"):
        link(con)
    con.execute("create or replace table raw_case_outcomes as select * from "
                f"read_parquet('{generated / 'case_outcomes.parquet'}')")
    with pytest.raises(LinkModelError, match="not pseudonymised"):
        uses_pseudonyms(con)


def test_token_rules_mirror_the_clear_rules() -> None:
    tokens, clear = PSEUDONYMISED_MODEL, CLEAR_MODEL
    assert len(tokens.blocking_rules) == len(clear.blocking_rules)
    assert not any("(" in r for r in tokens.blocking_rules + tokens.em_rules)
    assert [c.create_output_column_name() for c in tokens.comparisons()] == [
        c.create_output_column_name() for c in clear.comparisons()]
    # level for level: the same number of levels and the same labels outside the fuzzy ones
    def labels(model):
        return [[lvl.get("label_for_charts") for lvl in c.get_comparison("duckdb").as_dict()[
            "comparison_levels"]] for c in model.comparisons()]
    for a, b in zip(labels(tokens), labels(clear), strict=True):
        assert len(a) == len(b)
        assert sum(x != y for x, y in zip(a, b, strict=True)) <= 2
    with pytest.raises(ValueError, match="no token equivalent"):
        encodings.PSEUDONYMISED.rule(
            "l.zip = r.zip and substr(l.first_name, 1, 2) = substr(r.first_name, 1, 2)")


@pytest.mark.slow
def test_small_pseudonymised_study_links_about_as_well_as_the_clear_one(
    tmp_path_factory: pytest.TempPathFactory, key_env: str
) -> None:
    # Same records, same blocking (token equality is value equality), same model but for
    # Dice in place of edit distances: the F1 gap is a handful of fuzzy decisions. Measured
    # +0.0003 at 10% scale (17.5k true pairs) and +0.001 at 0.3%; at 0.5% (~880 true
    # pairs) one decision moves F1 by ~0.001, so 0.02 allows ~20 decisions either way.
    from linkage.generation.scenario import load_scenario
    from linkage.generation.writer import generate

    work = tmp_path_factory.mktemp("f1")
    generate(load_scenario("default", scale=0.005, seed=11), work / "data")
    pseudonymize(work / "data", work / "pseudo", key_env=key_env)
    f1 = {}
    for name in ("data", "pseudo"):
        con = connect(work / f"{name}.duckdb")
        load_input(work / name, con)
        load_truth(work / name / "truth", con)
        assert link(con).pseudonymised == (name == "pseudo")
        f1[name] = evaluate(con).splink.f1
        con.close()
    assert f1["data"] > 0.85
    assert abs(f1["pseudo"] - f1["data"]) <= 0.02, f1


def test_a_duckdb_file_input_is_pseudonymised_too(contract_rows, contract_write,
                                                 tmp_path: Path, key_env: str) -> None:
    source = contract_write(contract_rows, fmt="duckdb")
    summary = pseudonymize(source, tmp_path / "p", key_env=key_env)
    assert summary.row_counts == {"tips": 3, "referrals": 3, "case_outcomes": 2}
    assert not (tmp_path / "p" / "truth").exists()
    emails = {r[0] for r in _table(tmp_path / "p", "referrals").select("email").fetchall()}
    assert len(emails) == 1 and "al@example.org" not in emails
