"""Disclosure control: no suppressed count can be recomputed from what is published.

The attacker knows every published value of the rates table and the structure a reader
knows: strata add up to ALL stage by stage (column totals), ALL is the same in every
dimension, a cumulative estimate is the count over the published ``n_referrals``, a
conditional estimate is a count over the previous stage's count, and which strata of two
dimensions hold the same referrals. A hidden count is recoverable exactly when the linear
system those facts make determines it (its unit vector lies in the row space).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linkage.estimation import disclosure
from linkage.estimation import rates as rt

STAGES = rt.STAGE_NAMES


def _table(strata: dict[str, np.ndarray], reached: np.ndarray, method: str = "m") -> pd.DataFrame:
    """Published rows (cumulative and conditional, every dimension) from referral-level data:
    ``strata`` maps dimension -> label per referral, ``reached`` is (n, 4) nested stages."""
    frames = []
    for dim, labels_per_ref in strata.items():
        codes, labels = pd.factorize(pd.Series(labels_per_ref), sort=True)
        mask = np.ones(len(codes), dtype=bool)
        counts = rt.aggregate(reached.astype(float), codes, len(labels), mask)
        den = rt.aggregate(np.ones(len(codes)), codes, len(labels), mask)[:, 0]
        rows = rt.rate_rows(counts, den, dim, [str(x) for x in labels])
        df = pd.DataFrame([r.__dict__ for r in rows]).rename(columns={"kind": "rate_kind"})
        df["n_referrals"] = np.repeat(den, rt.RATES_PER_STRATUM).astype(np.int64)
        with np.errstate(invalid="ignore", divide="ignore"):
            df["estimate"] = df.numerator / df.denominator.where(df.denominator > 0)
        df["ci_low"], df["ci_high"] = df["estimate"] * 0.9, df["estimate"] * 1.1
        df["method"] = method
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


def _recoverable(published: pd.DataFrame, strata: dict[str, np.ndarray]) -> list[tuple]:
    """Hidden counts (dimension, stratum, stage) the published table determines."""
    cum = published[published.rate_kind == "cumulative"]
    var = {}  # one unknown per (dimension, stratum, stage); ALL rows are tied together below
    for row in cum.itertuples():
        var[(row.dimension, row.stratum, row.stage)] = len(var)
    eqs: list[np.ndarray] = []

    def eq(coefs: dict[int, float]) -> None:
        v = np.zeros(len(var) + 1)  # last column: constant term
        for i, c in coefs.items():
            v[i] += c
        eqs.append(v)

    known_rhs = []
    for row in published.itertuples():
        k = STAGES.index(row.stage)
        x = var[(row.dimension, row.stratum, row.stage)]
        if not np.isnan(row.numerator):
            eq({x: 1.0}), known_rhs.append(row.numerator)
        if row.rate_kind == "cumulative" and not np.isnan(row.estimate):
            eq({x: 1.0}), known_rhs.append(row.estimate * row.n_referrals)
        if row.rate_kind == "conditional":
            prev = var[(row.dimension, row.stratum, STAGES[k - 1])]
            if not np.isnan(row.denominator):
                eq({prev: 1.0}), known_rhs.append(row.denominator)
            if not np.isnan(row.estimate):
                eq({x: 1.0, prev: -row.estimate}), known_rhs.append(0.0)
    for (dim, stratum, stage), x in var.items():
        if stratum == "ALL":
            members = [i for (d, s, g), i in var.items() if d == dim and g == stage and s != "ALL"]
            eq({x: 1.0, **{i: -1.0 for i in members}}), known_rhs.append(0.0)
            first = next(i for (d, s, g), i in var.items() if s == "ALL" and g == stage)
            if first != x:
                eq({x: 1.0, first: -1.0}), known_rhs.append(0.0)
    # strata of different dimensions holding the same referrals are the same count
    dims = list(strata)
    for a in range(len(dims)):
        for b in range(a + 1, len(dims)):
            for sa in np.unique(strata[dims[a]]):
                members = strata[dims[a]] == sa
                for sb in np.unique(strata[dims[b]]):
                    if np.array_equal(members, strata[dims[b]] == sb):
                        for g in STAGES:
                            eq({var[(dims[a], str(sa), g)]: 1.0,
                                var[(dims[b], str(sb), g)]: -1.0}), known_rhs.append(0.0)
    a_mat = np.array(eqs)[:, :-1]
    _, sv, vt = np.linalg.svd(a_mat)
    rank = int((sv > 1e-9 * max(sv.max(), 1.0)).sum())
    null = vt[rank:].T  # basis of the null space: directions the facts leave free
    hidden = cum[cum.numerator.isna()]
    out = []
    for row in hidden.itertuples():
        x = var[(row.dimension, row.stratum, row.stage)]
        if null.shape[1] == 0 or np.abs(null[x]).max() < 1e-9:
            out.append((row.dimension, row.stratum, row.stage))
    return out


def _referrals(rng: np.random.Generator, n: int, p: tuple[float, ...]) -> np.ndarray:
    """(n, 4) nested stages: each stage reached with probability p[k] given the previous."""
    reached = np.empty((n, 4), dtype=bool)
    prev = np.ones(n, dtype=bool)
    for k in range(4):
        prev = prev & (rng.random(n) < p[k])
        reached[:, k] = prev
    return reached


def test_column_totals_give_away_a_lone_suppressed_cell_without_secondary() -> None:
    # negative control: the attacker does recover cells when only primary suppression runs
    rng = np.random.default_rng(3)
    n = 600
    strata = {"offense": rng.choice(["a", "b", "c"], n, p=[0.6, 0.35, 0.05])}
    table = _table(strata, _referrals(rng, n, (0.4, 0.3, 0.9, 0.9)))
    primary_only = disclosure.suppress(table, group_by=None)
    assert primary_only.suppressed.any()
    assert _recoverable(primary_only, strata)


def test_conditional_rows_do_not_reveal_a_suppressed_count() -> None:
    # arrests of b are small: hidden in the cumulative row, and so must be the arrest |
    # investigation numerator and the charge | arrest denominator
    rows = []
    counts = {"a": (400, 200, 120, 100), "b": (300, 8, 7, 6), "c": (300, 100, 60, 50)}
    n_ref = {"a": 1000, "b": 900, "c": 700}
    total = tuple(sum(c[k] for c in counts.values()) for k in range(4))
    for stratum, c in {**counts, "ALL": total}.items():
        n = sum(n_ref.values()) if stratum == "ALL" else n_ref[stratum]
        for k, stage in enumerate(STAGES):
            rows.append(("cumulative", stratum, stage, c[k], n, n))
            if k:
                rows.append(("conditional", stratum, stage, c[k], c[k - 1], n))
    table = pd.DataFrame(rows, columns=["rate_kind", "stratum", "stage", "numerator",
                                        "denominator", "n_referrals"])
    table["estimate"] = table.numerator / table.denominator
    table["ci_low"], table["ci_high"] = table.estimate, table.estimate
    table["dimension"], table["method"] = "offense", "m"
    out = disclosure.suppress(table)
    b = out[out.stratum == "b"].set_index(["rate_kind", "stage"])
    assert b.loc[("cumulative", "arrest"), "suppression"] == "primary"
    assert np.isnan(b.loc[("conditional", "arrest"), "numerator"])
    assert np.isnan(b.loc[("conditional", "charge"), "denominator"])
    assert np.isnan(b.loc[("conditional", "charge"), "estimate"])
    assert not _recoverable(out, {"offense": np.repeat(list(n_ref), list(n_ref.values()))})


def test_lone_stratum_that_equals_all_hides_the_total() -> None:
    rng = np.random.default_rng(5)
    n = 300
    strata = {"offense": rng.choice(["a", "b"], n), "urgency": np.full(n, "urgent")}
    reached = _referrals(rng, n, (0.3, 0.1, 0.9, 0.9))
    out = disclosure.suppress(_table(strata, reached))
    assert out.suppressed.any()
    assert not _recoverable(out, strata)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(60, 900),
       n_a=st.integers(1, 6), n_b=st.integers(1, 4),
       p=st.tuples(*(st.floats(0.05, 0.95) for _ in range(4))))
def test_no_suppressed_count_is_recoverable(seed, n, n_a, n_b, p) -> None:
    rng = np.random.default_rng(seed)
    a = rng.choice([f"a{i}" for i in range(n_a)], n, p=rng.dirichlet(np.ones(n_a) * 0.7))
    b = rng.choice([f"b{i}" for i in range(n_b)], n)
    # a third dimension that copies one stratum of the first under another label
    c = np.where(a == "a0", "same-as-a0", "rest")
    strata = {"a": a, "b": b, "c": c}
    table = pd.concat([_table(strata, _referrals(rng, n, p), method)
                       for method in ("m1", "m2")], ignore_index=True)
    out = disclosure.suppress(table)
    for method in ("m1", "m2"):
        published = out[out.method == method]
        assert _recoverable(published, strata) == []


def test_suppression_off_publishes_every_cell() -> None:
    rng = np.random.default_rng(1)
    strata = {"offense": rng.choice(["a", "b"], 100)}
    out = disclosure.suppress(_table(strata, _referrals(rng, 100, (0.2, 0.1, 0.5, 0.5))),
                              min_numerator=0, min_denominator=0)
    assert not out.suppressed.any()


def test_unknown_stage_is_an_error() -> None:
    df = pd.DataFrame({"dimension": "d", "method": "m", "stratum": ["x"], "stage": ["trial"],
                       "numerator": [1.0], "denominator": [100.0]})
    with pytest.raises(ValueError, match="unknown stage"):
        disclosure.suppress(df)
