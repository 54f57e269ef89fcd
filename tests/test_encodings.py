"""The comparison levels' SQL: the cheap tests in front of Damerau-Levenshtein change no
level (so no score), only how many pairs pay for the distance."""

from __future__ import annotations

import duckdb
from hypothesis import given, settings
from hypothesis import strategies as st

from linkage.linking.encodings import edits_within

# short strings over few letters, so near pairs (and transpositions) are common; a
# two-byte letter, since DuckDB's lengths and distances count characters
WORDS = st.one_of(st.none(), st.text(alphabet="abcé", max_size=7))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(WORDS, WORDS), min_size=1, max_size=200))
def test_edits_within_is_the_distance_test(pairs: list[tuple[str | None, str | None]]) -> None:
    con = duckdb.connect()
    con.execute("create table p (a varchar, b varchar)")
    con.executemany("insert into p values (?, ?)", pairs)
    tests = []
    for k in (1, 2):
        for exactly, op in ((False, "<="), (True, "=")):
            fast = edits_within("a", "b", k, exactly=exactly)
            tests.append(f"count(*) filter (where coalesce({fast}, false)"
                         f" <> coalesce(damerau_levenshtein(a, b) {op} {k}, false))")
    assert con.sql(f"select {', '.join(tests)} from p").fetchall()[0] == (0, 0, 0, 0)


def test_edits_within_keeps_a_transposition() -> None:
    # "ab" -> "ba": one transposition, two Levenshtein edits - the 2k bound is tight
    con = duckdb.connect()
    assert con.sql(f"select {edits_within(repr('ab'), repr('ba'), 1)}").fetchall() == [(True,)]
    assert con.sql("select levenshtein('ab', 'ba')").fetchall() == [(2,)]
