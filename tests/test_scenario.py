"""Scenario loading: defaults, inheritance, overrides and error reporting."""

from __future__ import annotations

from pathlib import Path

import pytest

from linkage.errors import ConfigError
from linkage.generation.scenario import available_scenarios, load_scenario


def test_default_scenario_loads_with_overrides() -> None:
    sc = load_scenario("default", scale=0.002, seed=9)
    assert (sc.scale, sc.seed, sc.n_tips) == (0.002, 9, 41_000)
    assert abs(sum(o.share for o in sc.offense) - 1) < 1e-9
    assert "default" in available_scenarios()
    assert sc.to_dict()["study"]["end_date"] == "2025-12-31"


def test_base_inheritance_merges_tables_key_by_key(tmp_path: Path) -> None:
    path = tmp_path / "hard.toml"
    path.write_text('base = "default"\nscale = 0.05\n[corruption]\nnoise = 2.0\n'
                    "[corruption.case]\nname_typo = 0.2\n")
    sc = load_scenario(path)
    default = load_scenario()
    assert sc.scale == 0.05 and sc.corruption.noise == 2.0
    assert sc.corruption.case.name_typo == 0.2
    assert sc.corruption.case.nickname == default.corruption.case.nickname  # inherited
    assert sc.offense == default.offense


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('base = "default"\nscale = -1\n[volume]\ntipz = 3\nus_share = 2\n'
                    '[lags]\ntip_to_referral = { median = 9.0, p90 = 2.0 }\n')
    with pytest.raises(ConfigError) as info:
        load_scenario(path)
    msg = str(info.value)
    assert "4 problem(s)" in msg
    assert "volume.tipz: unknown key (allowed: actionable_share" in msg
    assert "scale: -1.0 must be in (0, 10]" in msg
    assert "volume.us_share: 2.0 is not a probability in [0, 1]" in msg
    assert "lags.tip_to_referral: need 0 < median < p90" in msg


def test_shares_must_sum_to_one_and_types_are_checked(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    text = load_scenario().source  # the shipped file's name
    assert text == "default"
    path.write_text('base = "default"\nseed = "seven"\n[[offense]]\nname = "x"\n'
                    'incident_type = "x"\ncharge_label = "x"\nshare = 0.5\ntip_share = 1.0\n'
                    "urgent_share = 0.1\nabroad_share = 0.0\ninvestigate = 0.2\narrest = 0.1\n"
                    "charge = 0.9\nconvict = 0.9\n")
    with pytest.raises(ConfigError) as info:
        load_scenario(path)
    assert "seed: expected int, got 'seven'" in str(info.value)


def test_unknown_scenario_and_bad_toml_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown scenario 'nope'.*default"):
        load_scenario("nope")
    bad = tmp_path / "broken.toml"
    bad.write_text("scale = = 1")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_scenario(bad)
    loop = tmp_path / "loop.toml"
    loop.write_text(f'base = "{loop}"\n')
    with pytest.raises(ConfigError, match="loops back"):
        load_scenario(loop)
