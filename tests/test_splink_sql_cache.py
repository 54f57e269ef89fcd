"""The isolated Splink 5.0 workaround: memoised exact-match detection (same SQL, same scores)."""

from __future__ import annotations

from pathlib import Path

import pytest
from splink.internals import comparison_level as splink_levels

from linkage.linking import model as lm
from linkage.linking._splink_sql_cache import memoised_exact_match


def _levels() -> list:
    return [lv for m in (lm.CLEAR_MODEL, lm.PSEUDONYMISED_MODEL) for c in m.comparisons()
            for lv in c.get_comparison("duckdb").comparison_levels]


def _answers(levels: list) -> list:
    out = []
    for lv in levels:
        exact = lv._is_exact_match
        out.append((exact, lv._exact_match_colnames if exact else None))
    return out


def test_memoised_answers_are_splinks_and_parse_once(monkeypatch) -> None:
    levels = _levels()
    before = _answers(levels)
    original = splink_levels.ComparisonLevel.__dict__["_is_exact_match"]
    calls = []
    real_parse = splink_levels.sqlglot.parse_one
    monkeypatch.setattr(splink_levels.sqlglot, "parse_one",
                        lambda *a, **k: calls.append(1) or real_parse(*a, **k))
    with memoised_exact_match():
        assert _answers(levels) == before
        first = len(calls)
        assert _answers(levels) == before and len(calls) == first  # no parse the second time
    assert splink_levels.ComparisonLevel.__dict__["_is_exact_match"] is original
    assert _answers(levels) == before and len(calls) > first  # Splink's own again


@pytest.mark.slow
def test_linking_with_the_memo_gives_the_same_scores(tmp_path: Path) -> None:
    from linkage.db import connect
    from linkage.generation import generate, load_scenario
    from linkage.ingest import load_input
    from linkage.linking import link

    generate(load_scenario(scale=0.002, seed=4), tmp_path / "data", referred_tips_only=True)
    scores = []
    for memo in (False, True):
        con = connect()
        load_input(tmp_path / "data", con)
        link(con, seed=4, charts=False, memoise_sql=memo)
        scores.append(con.sql("select referral_id, case_id, match_probability from scored_pairs"
                              " order by referral_id, case_id").fetchall())
    # Same pairs; probabilities equal up to float summation order (DuckDB's parallel
    # aggregation makes the last bits vary between runs, memo or not).
    assert [r[:2] for r in scores[0]] == [r[:2] for r in scores[1]] and len(scores[0]) > 100
    assert [r[2] for r in scores[1]] == pytest.approx([r[2] for r in scores[0]], abs=1e-9)
