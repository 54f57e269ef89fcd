"""The review sheet's columns and the warning every file or page holding identifiers gets.

Example:
    >>> identifier_columns()[:4]
    ['referral_agency_id', 'case_agency_id', 'referral_date', 'case_opened_date']
"""

from __future__ import annotations

IDENTIFIERS = ("agency_id", "date", "first_name", "last_name", "dob", "email", "phone",
               "username", "city", "state", "zip")
"""The identifier fields shown side by side (``referral_<f>`` beside ``case_<f>``)."""

ID_COLUMNS = ("review_id", "referral_id", "case_id", "inclusion_probability", "decision")

CLEAR_FORM = "standardised clear values"
PSEUDO_FORM = "pseudonymised tokens (equal tokens = equal values)"

WARNING = ("{path} holds record-level identifiers ({form}) of {n} referral(s): keep it "
           "where the study data are kept and delete it once imported")


def identifier_columns() -> list[str]:
    """The sheet's identifier columns in file order (``referral_<f>`` beside ``case_<f>``;
    the case's date is ``case_opened_date``)."""
    cols = []
    for field in IDENTIFIERS:
        case = "case_opened_date" if field == "date" else f"case_{field}"
        cols += [f"referral_{field}", case]
    return cols


def sheet_columns() -> list[str]:
    """Every column of the reviewer's file, in order."""
    return [*ID_COLUMNS, "identifier_form", *identifier_columns()]
