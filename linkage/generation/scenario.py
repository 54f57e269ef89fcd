"""Scenario configuration: a typed, frozen description of a synthetic study, read from TOML.

The default scenario ships inside the package (``linkage/scenarios/default.toml``). A user
copies and edits it, or writes a short file with ``base = "default"`` and only the keys they
change. ``load_scenario`` checks everything in one place and reports every problem at once,
naming the key, the bad value and what is allowed.

Example:
    >>> sc = load_scenario("default", scale=0.001, seed=7)
    >>> sc.seed, round(sc.n_tips)
    (7, 20500)
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import sys
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from linkage.errors import ConfigError
from linkage.resources import scenarios_dir

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@dataclass(frozen=True)
class Study:
    window_start: dt.date
    window_end: dt.date
    end_date: dt.date


@dataclass(frozen=True)
class Volume:
    tips: int
    us_share: float
    unknown_country_share: float
    actionable_share: float
    second_referral_share: float
    other_source_cases: int
    declined_logged_share: float
    cybertip_ref_share: float
    urgent_share_unreferred: float


@dataclass(frozen=True)
class People:
    referrals_per_person_mean: float
    relative_share: float
    secondary_email_share: float
    fake_dob_share: float
    min_age: int
    mean_age: float
    sd_age: float


@dataclass(frozen=True)
class Reporters:
    n_esp: int
    top_esp_share: float
    zipf_exponent: float
    large_n: int
    public_share: float
    completeness_concentration: float


@dataclass(frozen=True)
class Completeness:
    email: float
    username: float
    phone: float
    ip: float
    name: float
    dob: float


@dataclass(frozen=True)
class CompletenessByReporter:
    large: Completeness
    small: Completeness
    public: Completeness


@dataclass(frozen=True)
class Enrichment:
    name: float
    dob: float
    geolocation: float
    geolocation_exact: float


@dataclass(frozen=True)
class CaseRecord:
    name: float
    dob: float
    email_from_referral: float
    email_otherwise: float
    phone: float
    username_from_referral: float
    address: float
    moved: float
    other_agency_share: float
    charge_label_mismatch: float


@dataclass(frozen=True)
class OtherCases:
    arrest: float
    charge: float
    convict: float
    opened_before_window_days: int


@dataclass(frozen=True)
class Modifiers:
    urgent_investigate: float
    no_contact_investigate: float
    viral_investigate: float
    viral_share: float
    urgent_arrest: float
    abroad_arrest: float


@dataclass(frozen=True)
class Lag:
    median: float
    p90: float


@dataclass(frozen=True)
class Lags:
    tip_to_referral: Lag
    tip_to_referral_urgent: Lag
    referral_to_investigation: Lag
    investigation_to_arrest: Lag
    arrest_to_charge: Lag
    charge_to_conviction: Lag


@dataclass(frozen=True)
class SideCorruption:
    name_typo: float
    nickname: float
    first_last_swap: float
    dob_day_month_swap: float
    dob_component_off: float
    phone_formatted: float
    phone_digit_error: float
    email_case: float
    email_whitespace: float


@dataclass(frozen=True)
class Corruption:
    noise: float
    referral: SideCorruption
    case: SideCorruption


@dataclass(frozen=True)
class Offense:
    name: str
    incident_type: str
    charge_label: str
    share: float
    tip_share: float
    urgent_share: float
    abroad_share: float
    investigate: float
    arrest: float
    charge: float
    convict: float


@dataclass(frozen=True)
class Country:
    code: str
    weight: float


@dataclass(frozen=True)
class Agencies:
    extra_task_forces: dict[str, int]
    affiliates_per_state: int


@dataclass(frozen=True)
class Scenario:
    """A complete synthetic-study scenario (see ``linkage/scenarios/default.toml``)."""

    name: str
    seed: int
    scale: float
    study: Study
    volume: Volume
    people: People
    reporters: Reporters
    completeness: CompletenessByReporter
    enrichment: Enrichment
    case_record: CaseRecord
    other_cases: OtherCases
    modifiers: Modifiers
    lags: Lags
    corruption: Corruption
    offense: tuple[Offense, ...]
    country: tuple[Country, ...]
    agencies: Agencies
    email_domains: tuple[tuple[str, float], ...]
    # National totals at scale 1.0 the scenario is calibrated to (checked by tests/benchmarks).
    targets: dict[str, int] = field(default_factory=dict)
    source: str = field(default="", compare=False)

    @property
    def n_tips(self) -> int:
        """Number of tips at this scale."""
        return max(1, round(self.volume.tips * self.scale))

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-friendly dict of every parameter (for the manifest and the report)."""
        return _jsonable(dataclasses.asdict(self))


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, dt.date):
        return obj.isoformat()
    return obj


def available_scenarios() -> list[str]:
    """Names of the scenarios that ship with the toolkit."""
    return sorted(p.stem for p in scenarios_dir().glob("*.toml"))


def load_scenario(
    name_or_path: str | Path = "default",
    *,
    scale: float | None = None,
    seed: int | None = None,
) -> Scenario:
    """Load and check a scenario by shipped name or TOML path; override scale and seed.

    Raises ConfigError listing every problem found (unknown or missing keys, wrong types,
    out-of-range values), each with the key path and what is allowed.

    Example:
        >>> load_scenario("default").name
        'default'
    """
    raw = _read_with_base(name_or_path, seen=())
    if scale is not None:
        raw["scale"] = scale
    if seed is not None:
        raw["seed"] = seed
    raw.pop("base", None)
    errors: list[str] = []
    scenario = _build(Scenario, raw, "", errors)
    # Domain checks need well-typed values; unknown keys alone do not stop them.
    if scenario is not None and all(": unknown key" in e for e in errors):
        errors.extend(_check(scenario))
    if errors:
        listing = "\n  - ".join(errors)
        raise ConfigError(f"scenario {name_or_path}: {len(errors)} problem(s):\n  - {listing}")
    return dataclasses.replace(scenario, source=str(name_or_path))


def _resolve(name_or_path: str | Path) -> Path:
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        if not path.is_file():
            raise ConfigError(f"scenario file {path} not found")
        return path
    shipped = scenarios_dir() / f"{name_or_path}.toml"
    if not shipped.is_file():
        raise ConfigError(
            f"unknown scenario {name_or_path!r}: give a TOML path or one of "
            f"{', '.join(available_scenarios())}"
        )
    return shipped


def _read_with_base(name_or_path: str | Path, seen: tuple[Path, ...]) -> dict[str, Any]:
    path = _resolve(name_or_path).resolve()
    if path in seen:
        raise ConfigError(f"scenario {path}: `base` chain loops back to itself")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"scenario file {path}: not valid TOML: {exc}") from None
    base = data.get("base")
    if base is None:
        return data
    return _merge(_read_with_base(base, seen + (path,)), data)


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _build(cls: Any, data: Any, path: str, errors: list[str]) -> Any:
    """Build a frozen dataclass from TOML data, appending every problem to ``errors``."""
    if not isinstance(data, dict):
        errors.append(f"{path or 'scenario'}: expected a table, got {type(data).__name__}")
        return None
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name != "source"}
    unknown = sorted(set(data) - set(fields))
    for key in unknown:
        errors.append(f"{path}{key}: unknown key (allowed: {', '.join(sorted(fields))})")
    values: dict[str, Any] = {}
    for name in fields:
        if name not in data:
            if fields[name].default is dataclasses.MISSING:
                errors.append(f"{path}{name}: missing")
            continue
        values[name] = _coerce(hints[name], data[name], f"{path}{name}", errors)
    required = [n for n, f in fields.items() if f.default is dataclasses.MISSING]
    if any(n not in values for n in required):
        return None
    return cls(**values)


def _coerce(hint: Any, value: Any, path: str, errors: list[str]) -> Any:
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, f"{path}.", errors)
    if origin is tuple:
        args = typing.get_args(hint)
        if not isinstance(value, list):
            errors.append(f"{path}: expected a list, got {value!r}")
            return ()
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(args[0], v, f"{path}[{i}]", errors) for i, v in enumerate(value))
        if len(value) != len(args):
            errors.append(f"{path}: expected {len(args)} items, got {len(value)}")
            return ()
        pairs = enumerate(zip(args, value, strict=True))
        return tuple(_coerce(a, v, f"{path}[{i}]", errors) for i, (a, v) in pairs)
    if origin is dict:
        key_t, val_t = typing.get_args(hint)
        if not isinstance(value, dict):
            errors.append(f"{path}: expected a table, got {value!r}")
            return {}
        return {str(k): _coerce(val_t, v, f"{path}.{k}", errors) for k, v in value.items()}
    if origin in (typing.Union, types.UnionType):  # pragma: no cover - not used yet
        return value
    return _scalar(hint, value, path, errors)


def _scalar(hint: Any, value: Any, path: str, errors: list[str]) -> Any:
    ok = {
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, (int, float)) and not isinstance(value, bool),
        str: isinstance(value, str),
        bool: isinstance(value, bool),
        dt.date: isinstance(value, dt.date) and not isinstance(value, dt.datetime),
    }.get(hint, True)
    if not ok:
        errors.append(f"{path}: expected {getattr(hint, '__name__', hint)}, got {value!r}")
        return value
    return float(value) if hint is float else value


_UNIT = "a probability in [0, 1]"


def _check(sc: Scenario) -> list[str]:
    """Domain checks that types alone cannot express."""
    errs: list[str] = []

    def unit(path: str, value: float) -> None:
        if not 0.0 <= value <= 1.0:
            errs.append(f"{path}: {value!r} is not {_UNIT}")

    if not 0 < sc.scale <= 10:
        errs.append(f"scale: {sc.scale!r} must be in (0, 10]")
    if sc.seed < 0:
        errs.append(f"seed: {sc.seed!r} must be a non-negative integer")
    st = sc.study
    if not st.window_start <= st.window_end <= st.end_date:
        errs.append("study: need window_start <= window_end <= end_date")
    for section in ("volume", "people", "reporters", "enrichment", "case_record", "other_cases",
                    "modifiers"):
        obj = getattr(sc, section)
        for f in dataclasses.fields(obj):
            if f.name.endswith(("share", "_share")) or section in (
                "enrichment", "case_record") or f.name in ("arrest", "charge", "convict"):
                unit(f"{section}.{f.name}", getattr(obj, f.name))
    for kind in ("large", "small", "public"):
        comp = getattr(sc.completeness, kind)
        for f in dataclasses.fields(comp):
            unit(f"completeness.{kind}.{f.name}", getattr(comp, f.name))
    for side in ("referral", "case"):
        corr = getattr(sc.corruption, side)
        for f in dataclasses.fields(corr):
            unit(f"corruption.{side}.{f.name}", getattr(corr, f.name))
    if sc.corruption.noise < 0:
        errs.append(f"corruption.noise: {sc.corruption.noise!r} must be >= 0")
    for name in ("urgent_investigate", "no_contact_investigate", "viral_investigate",
                 "urgent_arrest", "abroad_arrest"):
        if getattr(sc.modifiers, name) <= 0:
            errs.append(f"modifiers.{name}: an odds ratio must be > 0")
    for f in dataclasses.fields(sc.lags):
        lag = getattr(sc.lags, f.name)
        if not 0 < lag.median < lag.p90:
            errs.append(f"lags.{f.name}: need 0 < median < p90, got {lag.median}, {lag.p90}")
    if not sc.offense:
        errs.append("offense: at least one [[offense]] is required")
    names = [o.name for o in sc.offense]
    if len(set(names)) != len(names):
        errs.append(f"offense: names must be unique, got {names}")
    for i, off in enumerate(sc.offense):
        for f in dataclasses.fields(off):
            if f.name not in ("name", "incident_type", "charge_label"):
                unit(f"offense[{i}] ({off.name}).{f.name}", getattr(off, f.name))
    for key in ("share", "tip_share"):
        total = sum(getattr(o, key) for o in sc.offense)
        if abs(total - 1.0) > 1e-6:
            errs.append(f"offense.{key}: must sum to 1 over offense types, got {total:.6f}")
    if sc.reporters.n_esp < sc.reporters.large_n or sc.reporters.large_n < 0:
        errs.append("reporters: need 0 <= large_n <= n_esp")
    if any(c.weight < 0 for c in sc.country) or not sc.country:
        errs.append("country: need at least one [[country]] with non-negative weights")
    if not sc.email_domains or any(w <= 0 for _, w in sc.email_domains):
        errs.append("email_domains: need [domain, weight > 0] pairs")
    if sc.people.referrals_per_person_mean < 1:
        errs.append("people.referrals_per_person_mean: must be >= 1")
    return errs
