"""How far to trust each number: the stress matrix's measured bias and coverage of the
primary in the shipped world closest to this study, or "not validated" when none is close.

A study is described by what any study database shows without truth (``study_features``):
the share of case records that carry a tip number (the audit), the shares of referrals
with a contact identifier and with a date of birth, the share of referrals the model
takes for a repeat referral of a case's subject, the median follow-up and the case
records per referral. ``benchmarks/matrix_cache.py validation`` measured the same on the
shipped worlds' replicates and wrote their per-cell bias and coverage to
``linkage/data/validation_cells.csv`` and the worlds' features (mean and 5-95% range
over replicates) to ``linkage/data/validation_worlds.csv``. A generated study of a
shipped world is that world; any other study gets the world nearest in features (each
feature over the worlds' range), and is **not validated** when one of its features lies
outside the worlds' range by more than half that range (for the follow-up: below it),
or fewer than four features can be measured: the matrix has no world like it.

Example:
    >>> worlds = pd.DataFrame({"world": ["a", "b"], "audit_share": [0.1, 0.3]})
    >>> closest_world({"audit_share": 0.15}, worlds).world
    'a'
    >>> closest_world({"audit_share": 0.9}, worlds).validated
    False
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from importlib import resources

import duckdb
import pandas as pd

from linkage.db import table_exists
from linkage.reporting.format import MISSING, Paragraph, Section, Table, count, num, rate_ci
from linkage.summaries import StudyManifest

FEATURES: dict[str, str] = {
    "audit_share": "case records carrying a tip number (the audit)",
    "contact_share": "referrals with an e-mail, phone or username",
    "dob_share": "referrals with a date of birth",
    "repeat_share": "referrals taken for a repeat referral of a case's subject",
    "follow_up_days": "median follow-up (days from referral to the end date)",
    "cases_per_referral": "case records per referral",
}
ONE_SIDED = ("follow_up_days",)
"""Features only a low value of which is unlike the worlds (longer follow-up than any
world's only makes the censoring rule easier)."""
OUTSIDE = 0.5
"""A feature further outside the worlds' range than this share of the range means no
shipped world is like the study."""


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> set[str]:
    if not table_exists(con, table):
        return set()
    return {r[0] for r in con.execute(
        "select column_name from information_schema.columns where table_name = $t",
        {"t": table}).fetchall()}


_FEATURE_SQL: dict[str, tuple[set[str], str]] = {
    "audit_share": ({"raw_case_outcomes.cybertip_ref"},
                    "select avg((cybertip_ref is not null)::int) from raw_case_outcomes"),
    "contact_share": ({"raw_referrals.email", "raw_referrals.phone", "raw_referrals.username"},
                      "select avg((email is not null or phone is not null"
                      " or username is not null)::int) from raw_referrals"),
    "dob_share": ({"raw_referrals.dob"}, "select avg((dob is not null)::int) from raw_referrals"),
    "repeat_share": ({"rates_pairs.is_sibling", "rates_referrals.ref_idx"},
                     "select count(distinct ref_idx) filter (where is_sibling)"
                     " / (select count(*) from rates_referrals) from rates_pairs"),
    "follow_up_days": ({"rates_referrals.follow_up_available"},
                       "select median(follow_up_available) from rates_referrals"),
    "cases_per_referral": ({"raw_case_outcomes.case_id", "raw_referrals.referral_id"},
                           "select (select count(*) from raw_case_outcomes)"
                           " / nullif(count(*), 0) from raw_referrals"),
}
"""Each feature: the table.column it needs and its query (constants, no user values)."""


def study_features(con: duckdb.DuckDBPyConnection) -> dict[str, float]:
    """The study's features (``FEATURES``), NaN where the tables do not hold them.

    Example:
        >>> study_features(con)["audit_share"]  # doctest: +SKIP
        0.033
    """
    have = {f"{t}.{c}" for t in ("raw_referrals", "raw_case_outcomes", "rates_pairs",
                                 "rates_referrals") for c in _columns(con, t)}
    out = {}
    for name, (needs, sql) in _FEATURE_SQL.items():
        value = con.sql(sql).fetchall()[0][0] if needs <= have else None
        out[name] = math.nan if value is None else float(value)
    return out


MIN_FEATURES = 4
"""Features a study must show to be compared with the worlds at all."""


@dataclass(frozen=True)
class Closest:
    """The nearest shipped world, its distance, the features outside every world's and
    those the study does not show."""

    world: str
    distance: float
    outside: tuple[str, ...]
    missing: tuple[str, ...] = ()

    @property
    def validated(self) -> bool:
        return not self.outside and len(FEATURES) - len(self.missing) >= MIN_FEATURES


def closest_world(features: dict[str, float], worlds: pd.DataFrame) -> Closest:
    """The world (a row of ``worlds``) nearest to ``features`` (see the module)."""
    names = [f for f in FEATURES if f in worlds and not math.isnan(features.get(f, math.nan))]
    if not names:
        return Closest(str(worlds["world"].iloc[0]), math.nan, (), tuple(FEATURES))
    # how far the worlds reach: their replicates' 5-95% range where recorded
    lo = pd.Series({f: worlds.get(f"{f}_p05", worlds[f]).min() for f in names}, dtype=float)
    hi = pd.Series({f: worlds.get(f"{f}_p95", worlds[f]).max() for f in names}, dtype=float)
    spread = (hi - lo).where(hi - lo > 0, 0.1 * hi.abs().where(hi.abs() > 0, 1.0))
    x = pd.Series({f: features[f] for f in names})
    dist = (((worlds[names] - x) / spread) ** 2).sum(axis=1) ** 0.5
    best = int(dist.to_numpy().argmin())
    outside = tuple(f for f in names if x[f] < lo[f] - OUTSIDE * spread[f]
                    or (x[f] > hi[f] + OUTSIDE * spread[f] and f not in ONE_SIDED))
    missing = tuple(f for f in FEATURES if f not in names)
    return Closest(str(worlds["world"].iloc[best]), float(dist.iloc[best]), outside, missing)


def shipped_validation() -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """The shipped (cells, worlds) validation tables, or None if not shipped."""
    data = resources.files("linkage") / "data"
    cells, worlds = data / "validation_cells.csv", data / "validation_worlds.csv"
    if not (cells.is_file() and worlds.is_file()):
        return None
    with cells.open() as c, worlds.open() as w:
        return pd.read_csv(c), pd.read_csv(w)


def _world_of(con: duckdb.DuckDBPyConnection, worlds: pd.DataFrame,
              manifest: StudyManifest | None) -> tuple[Closest, dict[str, float], bool]:
    """The world to read (a generated study's own world when shipped), the study's
    features and whether the world was named by the manifest."""
    features = study_features(con)
    scenario = manifest.scenario if manifest and manifest.input == "generated" else None
    name = scenario.get("name") if scenario else None
    if name in set(worlds["world"]):
        return Closest(str(name), 0.0, ()), features, True
    return closest_world(features, worlds), features, False


def _method_rows(con: duckdb.DuckDBPyConnection, cells: pd.DataFrame, primary: str,
                 world: str) -> tuple[pd.DataFrame, str]:
    """The validation cells of the primary in ``world`` (a reviewed primary reads the
    simulated review nearest in size to this study's) and what they are."""
    here = cells[(cells.world == world) & (cells.rate_kind == "cumulative")]
    if primary != "reviewed":
        return here[here.method == primary], primary
    sizes = sorted(int(m.split("_")[1]) for m in set(here.method) if m.startswith("reviewed_"))
    if not sizes or not table_exists(con, "review_sample"):
        return here.iloc[0:0], "reviewed"
    n = con.sql("select count(*) from review_sample").fetchall()[0][0]
    size = min(sizes, key=lambda s: abs(s - n))
    return here[here.method == f"reviewed_{size}"], f"reviewed, simulated {size}-referral review"


def trust_section(con: duckdb.DuckDBPyConnection, manifest: StudyManifest | None,
                  primary: str | None) -> Section:
    """Beside each primary cell, the bias and coverage measured in the closest shipped
    world, or "not validated"; and why an estimate may sit on its interval's bound.

    Example:
        >>> trust_section(con, None, "calibrated").title  # doctest: +SKIP
        'How far to trust these numbers'
    """
    sec = Section("trust", "How far to trust these numbers")
    shipped = shipped_validation()
    if primary is None or shipped is None:
        sec.blocks.append(Paragraph("No estimate, or no validation tables shipped."))
        return sec
    cells, worlds = shipped
    closest, features, named = _world_of(con, worlds, manifest)
    w = worlds.set_index("world").loc[closest.world]
    how = ("this study was generated from it" if named else
           f"nearest in the features below (distance {closest.distance:.2f})")
    if not closest.validated:
        why = (f"{', '.join(FEATURES[f] for f in closest.outside)}: outside every shipped "
               "world's range" if closest.outside else
               f"only {len(FEATURES) - len(closest.missing)} of the {len(FEATURES)} features "
               "below could be measured")
        sec.blocks.append(Paragraph(
            f"Not validated for this kind of data ({why}), so the methodology simulation "
            f"says nothing about these estimates. The nearest world ({closest.world}) is "
            "shown for reference only."))
    rows, what = _method_rows(con, cells, primary, closest.world)
    sec.blocks.append(Paragraph(
        f"Closest shipped world: {closest.world} ({how}). Its methodology simulation "
        f"({int(w['replicates'])} replicates at scale {w['scale']:g}) measured the bias and "
        f"the coverage of the 95% interval of the primary method ({what}) against the "
        "truth, cell by cell; coverage near 0.95 means the intervals can be taken at face "
        "value, well below it that they are too narrow or off centre. Figures at another "
        "study size differ: intervals narrow with more referrals, a bias does not."))
    sec.blocks.append(Table(
        ["feature", "this study", closest.world],
        [[text, num(features[f], 0 if f == "follow_up_days" else 3),
          num(w.get(f, math.nan), 0 if f == "follow_up_days" else 3)]
         for f, text in FEATURES.items()], "Study features (no truth needed)"))
    sec.blocks.append(_cells_table(con, rows, primary))
    sec.blocks.append(Paragraph(_on_bound(con)))
    return sec


def _cells_table(con: duckdb.DuckDBPyConnection, rows: pd.DataFrame, primary: str) -> Table:
    measured = {(r.offense_type, r.stage): r for r in rows.itertuples()}
    got = con.execute(
        "select offense_type, stage, estimate, ci_low, ci_high, suppressed from "
        "conversion_rates where method = $m and rate_kind = 'cumulative' order by "
        "offense_type = 'ALL' desc, offense_type", {"m": primary}).fetchall()
    table = []
    for offense, stage, est, lo, hi, sup in got:
        m = measured.get((offense, stage))
        table.append([offense, stage, rate_ci(est, lo, hi, suppressed=bool(sup)),
                      MISSING if m is None else num(100 * m.bias, 2),
                      MISSING if m is None else num(m.coverage, 2),
                      MISSING if m is None else count(m.replicates)])
    return Table(["offense type", "stage", "estimate [95% CI]", "measured bias (points)",
                  "measured coverage", "replicates"], table,
                 "The primary's cumulative rates beside what the simulation measured in "
                 "the closest world ('–': that world's simulation has no such cell)")


def _on_bound(con: duckdb.DuckDBPyConnection) -> str:
    """Why some estimates sit on (or next to) a bound of their interval."""
    n = con.sql(
        "select count(*) from conversion_rates where is_primary and not suppressed and "
        "ci_high > ci_low and least(estimate - ci_low, ci_high - estimate)"
        " <= 0.05 * (ci_high - ci_low)").fetchall()[0][0]
    if not n:
        return "No primary estimate sits on a bound of its interval."
    return (f"{count(n)} primary estimate(s) sit on or next to a bound of their interval. "
            "That is expected of an interval made of percentiles of bootstrap draws when "
            "the draws are skewed: the point estimate uses the whole audit, each draw a "
            "resample of it, and a correction that can only add (links the model missed) "
            "or a rate near 0 pushes the draws to one side. Such an interval is still the "
            "range the truth is measured to fall in, not a symmetric margin of error.")
