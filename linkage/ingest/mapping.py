"""A mapping file: how a user's extract maps onto the data contract (``--mapping FILE``).

Real extracts rarely use the contract's column names or ISO dates. A mapping TOML names,
per table, the source column of each contract column, the ``strptime`` format of a date or
timestamp column, value maps (e.g. ``"Y" = "true"``) and, in ``[options]``, what a value
that cannot be parsed in an optional column does: ``on_bad_value = "fail"`` (the default:
the load stops) or ``"null"`` (loaded as NULL, counted, and the load still stops when more
than ``max_bad_share`` of a column's values were bad)::

    [referrals.columns]      # contract column = source column
    last_name = "surname"
    [referrals.formats]      # strptime formats, per contract column
    dob = "%m/%d/%Y"
    [case_outcomes.values.investigated]   # source value = contract value
    Y = "true"
    N = "false"
    [options]
    on_bad_value = "null"

The mapping is applied to each source as it is read (a temp table), before the contract is
checked, so every contract rule sees the mapped columns; the ``raw_*`` tables hold the
mapped, typed values. A renamed source column is consumed (not carried as an extra).

Example:
    >>> m = parse_mapping({"referrals": {"columns": {"last_name": "surname"}}})
    >>> m.table("referrals").columns
    {'last_name': 'surname'}
    >>> similar_column("last_name", ["surname", "case_no"])
    'surname'
"""

from __future__ import annotations

import difflib
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from linkage.contract import CASE_OUTCOMES, DATE, INPUT_TABLES, REFERRALS, TIMESTAMP, Table
from linkage.db import quote_ident
from linkage.errors import ConfigError, ContractError
from linkage.ingest.sources import violation

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ON_BAD_VALUE = ("fail", "null")
DEFAULT_MAX_BAD_SHARE = 0.05
"""With ``on_bad_value = "null"``: the largest share of a column's values that may be bad
before the load stops anyway (a column mostly unparsable is a wrong format, not noise)."""

IDENTIFIERS = tuple(c for c in REFERRALS.column_names
                    if c in CASE_OUTCOMES.column_names and c != "agency_id")
"""Subject identifiers both sides carry: what linkage can compare."""

# Common spellings of contract columns in agency and research extracts (generic English
# names, not anything a generator writes); difflib catches typos beyond these.
_SYNONYMS = {
    "last_name": ("surname", "family_name", "lastname", "lname"),
    "first_name": ("given_name", "forename", "firstname", "fname"),
    "dob": ("date_of_birth", "birth_date", "birthdate", "birthday"),
    "suspect_dob": ("suspect_date_of_birth", "suspect_birth_date"),
    "email": ("e_mail", "email_address", "mail"),
    "phone": ("phone_number", "telephone", "tel"),
    "zip": ("zip_code", "zipcode", "postal_code", "postcode"),
    "username": ("user_name", "handle", "screen_name"),
    "ip": ("ip_address",),
}
_TABLE_KEYS = ("columns", "formats", "values")
_ISO = {DATE: "%Y-%m-%d", TIMESTAMP: "%Y-%m-%d %H:%M:%S"}
_TABLES = {t.name: t for t in INPUT_TABLES}


@dataclass(frozen=True)
class TableMapping:
    """One table's mapping: renames (contract -> source), formats and value maps."""

    columns: dict[str, str] = field(default_factory=dict)
    formats: dict[str, str] = field(default_factory=dict)
    values: dict[str, dict[str, str]] = field(default_factory=dict)

    def source(self, column: str) -> str:
        """The source column that holds contract ``column``."""
        return self.columns.get(column, column)


@dataclass(frozen=True)
class InputMapping:
    """A whole mapping file (checked); ``InputMapping()`` maps nothing (the contract's names)."""

    tables: dict[str, TableMapping] = field(default_factory=dict)
    on_bad_value: str = "fail"
    max_bad_share: float = DEFAULT_MAX_BAD_SHARE
    path: str | None = None

    def table(self, name: str) -> TableMapping:
        return self.tables.get(name, TableMapping())


def _strings(value: Any, where: str, problems: list[str]) -> dict[str, str]:
    if not isinstance(value, dict):
        problems.append(f"{where}: must be a table of names")
        return {}
    out = {}
    for key, item in value.items():
        if isinstance(item, bool):
            item = "true" if item else "false"
        if not isinstance(item, str | int | float) or str(item).strip() == "":
            problems.append(f"{where}.{key}: must be a non-empty string")
            continue
        out[str(key)] = str(item)
    return out


def _check_table(name: str, spec: Any, problems: list[str]) -> TableMapping:
    table = _TABLES[name]
    if not isinstance(spec, dict):
        problems.append(f"{name}: must be a table with {', '.join(_TABLE_KEYS)}")
        return TableMapping()
    for key in sorted(set(spec) - set(_TABLE_KEYS)):
        problems.append(f"{name}.{key}: unknown key (allowed: {', '.join(_TABLE_KEYS)})")
    columns = _strings(spec.get("columns", {}), f"{name}.columns", problems)
    formats = _strings(spec.get("formats", {}), f"{name}.formats", problems)
    values = {}
    raw_values = spec.get("values", {})
    if not isinstance(raw_values, dict):
        problems.append(f"{name}.values: must hold one table per column")
        raw_values = {}
    for column, vmap in raw_values.items():
        values[column] = _strings(vmap, f"{name}.values.{column}", problems)
    for section, keys in (("columns", columns), ("formats", formats), ("values", values)):
        for column in keys:
            if column not in table.column_names:
                problems.append(f"{name}.{section}.{column}: not a contract column of "
                                f"{name}{_hint(table, column, columns.get(column))}")
    for column, fmt in formats.items():
        if column in table.column_names and table.column(column).dtype not in _ISO:
            problems.append(f"{name}.formats.{column}: only date and timestamp columns "
                            "take a format")
        elif "%" not in fmt:
            problems.append(f"{name}.formats.{column}: {fmt!r} is not a strptime format "
                            "(e.g. '%m/%d/%Y')")
    sources = [s for s in columns.values()]
    for source in sorted({s for s in sources if sources.count(s) > 1}):
        problems.append(f"{name}.columns: source column {source!r} is mapped twice")
    return TableMapping(columns, formats, values)


def _hint(table: Table, key: str, value: str | None) -> str:
    """What the user probably meant by a key that is not a contract column."""
    if value in table.column_names:  # written the other way round
        return (f"; the key is the contract column: write {value} = {key!r} "
                "(contract column = source column)")
    near = [c for c in table.column_names if key.lower() in _SYNONYMS.get(c, ())]
    near = near or difflib.get_close_matches(key, table.column_names, n=1)
    return f"; did you mean {near[0]!r}?" if near else ""


def parse_mapping(data: dict[str, Any], path: str | None = None) -> InputMapping:
    """Check a parsed mapping; raise ``ConfigError`` listing every problem at once.

    Example:
        >>> parse_mapping({"options": {"on_bad_value": "skip"}})
        Traceback (most recent call last):
        ...
        linkage.errors.ConfigError: mapping: options.on_bad_value: 'skip' must be fail or null
    """
    problems: list[str] = []
    tables = {}
    for key, spec in data.items():
        if key in _TABLES:
            tables[key] = _check_table(key, spec, problems)
        elif key != "options":
            allowed = ", ".join([*_TABLES, "options"])
            problems.append(f"{key}: unknown section (allowed: {allowed})")
    options = data.get("options", {})
    if not isinstance(options, dict):
        problems.append("options: must be a table")
        options = {}
    for key in sorted(set(options) - {"on_bad_value", "max_bad_share"}):
        problems.append(f"options.{key}: unknown option (allowed: on_bad_value, "
                        "max_bad_share)")
    policy = options.get("on_bad_value", "fail")
    if policy not in ON_BAD_VALUE:
        problems.append(f"options.on_bad_value: {policy!r} must be fail or null")
    share = options.get("max_bad_share", DEFAULT_MAX_BAD_SHARE)
    if isinstance(share, bool) or not isinstance(share, int | float) or not 0 <= share <= 1:
        problems.append(f"options.max_bad_share: {share!r} must be a number in [0, 1]")
    if problems:
        where = f"{path}: " if path else ""
        raise ConfigError(f"{where}mapping: " + "; ".join(problems))
    return InputMapping(tables, policy, float(share), path)


def load_mapping(path: str | Path | None) -> InputMapping:
    """Read and check a mapping TOML file (``None``: no mapping).

    Raises:
        ConfigError: the file is missing, not TOML, or names unknown tables, columns or
            options (every problem listed at once).

    Example:
        >>> load_mapping(None).on_bad_value
        'fail'
    """
    if path is None:
        return InputMapping()
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: mapping file not found") from None
    except (OSError, UnicodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the mapping file: {exc}") from None
    return parse_mapping(data, str(path))


def similar_column(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate that looks like contract column ``name`` (a synonym or a near spelling).

    Example:
        >>> similar_column("dob", ["birth_date"]), similar_column("email", ["emial"])
        ('birth_date', 'emial')
    """
    candidates = list(candidates)
    lowered = {c.lower(): c for c in candidates}
    for synonym in _SYNONYMS.get(name, ()):
        if synonym in lowered:
            return lowered[synonym]
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.8)
    return close[0] if close else None


def _expression(table: Table, column: str, tm: TableMapping, src_type: str,
                params: dict[str, Any]) -> str:
    """SQL for contract ``column`` from its source: value map, then format (text out)."""
    ident = quote_ident(tm.source(column))
    value = f"nullif(trim(cast({ident} as varchar)), '')"
    if column in tm.values:
        cases = []
        for src, dst in tm.values[column].items():
            key = len(params)
            params[f"m{key}"], params[f"m{key + 1}"] = src, dst
            cases.append(f"when $m{key} then $m{key + 1}")
        value = f"(case {value} {' '.join(cases)} else {value} end)"
    fmt = tm.formats.get(column)
    if fmt and src_type not in (DATE, TIMESTAMP) and not src_type.startswith("TIMESTAMP"):
        key = len(params)
        params[f"m{key}"] = fmt
        iso = _ISO[table.column(column).dtype]
        # An unparsable value stays as it was, so the contract check counts it as bad.
        value = f"coalesce(strftime(try_strptime({value}, $m{key}), '{iso}'), {value})"
    elif column not in tm.values and column == tm.source(column):
        return ident
    return value


def apply_mapping(con: duckdb.DuckDBPyConnection, src: str, table: Table,
                  tm: TableMapping, file: str) -> list[ContractError]:
    """Rewrite temp table ``src`` (a source as read) into contract names and formats.

    Returns the violations found instead (a mapped source column missing, or a contract
    column both mapped from elsewhere and present), leaving ``src`` unchanged.
    """
    types = {r[0]: r[1] for r in con.execute(f"describe {src}").fetchall()}
    found = []
    for column, source in tm.columns.items():
        if source not in types:
            hint = similar_column(source, [c for c in types if c not in tm.columns.values()])
            hint = hint or difflib.get_close_matches(source, list(types), n=1, cutoff=0.6)
            tip = f"; did you mean {hint if isinstance(hint, str) else hint[0]!r}?" \
                if hint else ""
            msg = f"the mapping's source column {source!r} is not in the file{tip}"
            found.append(violation(table.name, "mapped column missing", msg, column, file))
        elif column in types and column != source:
            msg = (f"mapped from {source!r} but the file also has {column!r}; map one of "
                   "them or rename the other")
            found.append(violation(table.name, "mapping conflict", msg, column, file))
    if found or not (tm.columns or tm.formats or tm.values):
        return found
    params: dict[str, Any] = {}
    consumed = set(tm.columns.values())
    selects = []
    for column in table.column_names:
        source = tm.source(column)
        if source in types:
            expr = _expression(table, column, tm, types[source], params)
            selects.append(f"{expr} as {quote_ident(column)}")
    selects += [quote_ident(c) for c in types if c not in consumed
                and c not in table.column_names]
    con.execute(f"create or replace temp table {src.split('.')[-1]} as select "
                f"{', '.join(selects)} from {src}", params)
    return found


def empty_mapped(con: duckdb.DuckDBPyConnection, src: str, table: Table, tm: TableMapping,
                 file: str, n_rows: int) -> list[ContractError]:
    """A column the mapping points at that holds no value at all: the wrong column."""
    present = {r[0] for r in con.execute(f"describe {src}").fetchall()}
    named = [c for c in tm.columns if c in table.column_names and c in present]
    if not named or not n_rows:
        return []
    sums = ", ".join(f"count({quote_ident(c)})" for c in named)
    counts = con.execute(f"select {sums} from {src}").fetchall()[0]
    found = []
    for column, n in zip(named, counts, strict=True):
        if not n:
            msg = f"the mapped source column {tm.columns[column]!r} is empty in every row"
            found.append(violation(table.name, "empty column", msg, column, file, n_rows))
    return found
