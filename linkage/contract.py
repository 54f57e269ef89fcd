"""The data contract (v1) as code: input tables, their columns, types and rules.

Column names are fixed; extra columns are allowed and carried through. Categorical sets
(offense types, agencies, states, ...) are whatever the data holds: nothing here lists them.

Time: every timestamp is UTC. An input timestamp with an offset (``2024-03-01T10:00-05:00``)
is converted to UTC; one without an offset is taken as UTC. No date may be later than the
day of the load (an extract holds no future dates). A column name may appear once per table.
"""

from __future__ import annotations

from dataclasses import dataclass

# DuckDB logical types the loader parses each column into.
TEXT = "VARCHAR"
TIMESTAMP = "TIMESTAMP"
DATE = "DATE"
BOOLEAN = "BOOLEAN"
INTEGER = "BIGINT"


@dataclass(frozen=True)
class Column:
    """One contract column: its name, DuckDB type and whether a value is required."""

    name: str
    dtype: str
    required: bool = False
    unique: bool = False
    min_value: int | None = None


@dataclass(frozen=True)
class Table:
    """One contract table: its name, key column and columns in contract order."""

    name: str
    key: str
    columns: tuple[Column, ...]

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def required_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)


def _identifiers(*names: str) -> tuple[Column, ...]:
    return tuple(Column(n, DATE if n in {"dob", "suspect_dob"} else TEXT) for n in names)


TIPS = Table(
    name="tips",
    key="tip_id",
    columns=(
        Column("tip_id", TEXT, required=True, unique=True),
        Column("received_at", TIMESTAMP, required=True),
        Column("reporter_type", TEXT, required=True),
        Column("reporter_name", TEXT),
        Column("incident_type", TEXT, required=True),
        Column("is_urgent", BOOLEAN, required=True),
        Column("file_count", INTEGER, min_value=0),
        *_identifiers(
            "suspect_email",
            "suspect_username",
            "suspect_phone",
            "suspect_ip",
            "suspect_first_name",
            "suspect_last_name",
            "suspect_dob",
        ),
        Column("country", TEXT),
        Column("state", TEXT),
    ),
)

REFERRALS = Table(
    name="referrals",
    key="referral_id",
    columns=(
        Column("referral_id", TEXT, required=True, unique=True),
        Column("tip_id", TEXT, required=True),
        Column("referred_at", TIMESTAMP, required=True),
        Column("agency_id", TEXT, required=True),
        Column("agency_state", TEXT),
        Column("offense_type", TEXT, required=True),
        Column("priority", INTEGER),
        *_identifiers(
            "first_name",
            "last_name",
            "dob",
            "email",
            "phone",
            "username",
            "ip",
            "city",
            "state",
            "zip",
        ),
    ),
)

CASE_OUTCOMES = Table(
    name="case_outcomes",
    key="case_id",
    columns=(
        Column("case_id", TEXT, required=True, unique=True),
        Column("agency_id", TEXT, required=True),
        Column("opened_at", DATE, required=True),
        *_identifiers(
            "first_name",
            "last_name",
            "dob",
            "email",
            "phone",
            "username",
            "city",
            "state",
            "zip",
        ),
        Column("offense_charged", TEXT),
        Column("investigated", BOOLEAN, required=True),
        Column("arrested_at", DATE),
        Column("charged_at", DATE),
        Column("convicted_at", DATE),
        Column("cybertip_ref", TEXT),
    ),
)

INPUT_TABLES: tuple[Table, ...] = (TIPS, REFERRALS, CASE_OUTCOMES)

# Ordered case stages: each stage's date column on case_outcomes (investigation = opened_at).
STAGES: tuple[tuple[str, str], ...] = (
    ("investigation", "opened_at"),
    ("arrest", "arrested_at"),
    ("charge", "charged_at"),
    ("conviction", "convicted_at"),
)

TRUTH_LINKS_COLUMNS = ("referral_id", "case_id")

# Output tables (names and leading columns are part of the contract).
LINKS_COLUMNS = ("referral_id", "case_id", "match_probability", "match_weight")
CONVERSION_RATES_COLUMNS = (
    "offense_type",
    "stage",
    "n_referrals",
    "estimate",
    "ci_low",
    "ci_high",
    "method",
)
ALL_STRATUM = "ALL"

# Pseudonymised input (``linkage pseudonymize``) carries these columns on referrals and case
# outcomes: the scheme names its encodings, the key check (a keyed fingerprint) tells
# whether both sides were tokenised with one key.
PSEUDO_SCHEME = "linkage-pseudonym-v1"
PSEUDO_MARKER = "pseudo_scheme"
PSEUDO_KEY_CHECK = "pseudo_key_check"


def raw_table_name(table: Table | str) -> str:
    """Name of the typed table the loader writes for a contract table (``raw_<name>``)."""
    name = table if isinstance(table, str) else table.name
    return f"raw_{name}"
