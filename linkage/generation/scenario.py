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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from linkage.errors import ConfigError
from linkage.generation._typed_toml import build
from linkage.generation.scenario_checks import check
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
    # Case subjects from other sources given the first name and surname of a referral
    # suspect and a home in the suspect's state: same name, other person.
    namesake_share: float = 0.0


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


# --- mechanisms: each section's defaults are the generator's behaviour before it existed ---


@dataclass(frozen=True)
class RepeatReferrals:
    """What happens to a suspect's later referrals to the agency that has the first one
    (shares summing to 1): they join its case (and share its fate), are declined (never
    investigated, whatever the case), or start a case of their own (their own decision)."""

    join: float = 1.0
    decline: float = 0.0
    new_case: float = 0.0


@dataclass(frozen=True)
class Audit:
    """How agencies record the tip number (``cybertip_ref``) on a referral's case.

    Each agency's recording rate is Beta(a, a(1 - m)/m) around ``volume.cybertip_ref_share``
    = m with a = ``agency_shape`` (small: a few agencies record most tip numbers; large:
    every agency near m). Odds ratios then move each case's chance: by whether its arrest
    is observed (``arrested_odds``, ``not_arrested_odds``; 0 = never) and per identifier
    family its lead referral carries beyond the average (``identifier_odds``)."""

    agency_shape: float = 0.5
    arrested_odds: float = 1.0
    not_arrested_odds: float = 1.0
    identifier_odds: float = 1.0


@dataclass(frozen=True)
class ReferralFamilies:
    """Identifier families a referral carries at all (tips as reported, and what the
    tipline adds): false = the column is empty everywhere."""

    email: bool = True
    username: bool = True
    phone: bool = True
    ip: bool = True
    name: bool = True
    dob: bool = True


@dataclass(frozen=True)
class CaseFamilies:
    """Identifier families an agency's case record holds at all."""

    name: bool = True
    dob: bool = True
    email: bool = True
    phone: bool = True
    username: bool = True
    address: bool = True


@dataclass(frozen=True)
class Identifiers:
    referral: ReferralFamilies = field(default_factory=ReferralFamilies)
    case: CaseFamilies = field(default_factory=CaseFamilies)


@dataclass(frozen=True)
class Conversion:
    """Odds ratios applied to every offense type's stage probability (1 = as listed)."""

    investigate: float = 1.0
    arrest: float = 1.0
    charge: float = 1.0
    convict: float = 1.0


@dataclass(frozen=True)
class Drift:
    """Identifier completeness of tips drifting over the study window (a platform changes
    what it reports): each factor multiplies a family's completeness at the window's end,
    1 at its start, linearly in between; with ``step`` the whole factor applies from the
    window's midpoint on. Capped at complete."""

    email: float = 1.0
    username: float = 1.0
    phone: float = 1.0
    ip: float = 1.0
    name: float = 1.0
    dob: float = 1.0
    step: bool = False


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
    description: str = ""  # one line: what this world stresses
    repeat_referrals: RepeatReferrals = field(default_factory=RepeatReferrals)
    audit: Audit = field(default_factory=Audit)
    identifiers: Identifiers = field(default_factory=Identifiers)
    conversion: Conversion = field(default_factory=Conversion)
    drift: Drift = field(default_factory=Drift)
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


def describe_scenarios() -> list[tuple[str, str]]:
    """(name, one-line description) of every shipped scenario, by name.

    Example:
        >>> dict(describe_scenarios())["hard_noise"][:35]
        'Twice the corruption and missing sh'
    """
    return [(name, load_scenario(name).description) for name in available_scenarios()]


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
    scenario = build(Scenario, raw, "", errors)
    # Domain checks need well-typed values; unknown keys alone do not stop them.
    if scenario is not None and all(": unknown key" in e for e in errors):
        errors.extend(check(scenario))
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
    inherited = _read_with_base(base, seen + (path,))
    inherited.pop("description", None)  # a world says what it stresses itself
    return _merge(inherited, data)


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


