"""The generator's records: tips, referrals, case outcomes and truth, drawn in a fixed order.

Each step draws numpy arrays (``draws``), exposes them to DuckDB as Arrow views and builds
the table named for its SQL file (``sql/generate/gen_*.sql``). Truth (who is who, which
stages each referral really reached, uncensored) is kept in numpy and written at the end.
"""

from __future__ import annotations

from collections.abc import Callable

import duckdb
import numpy as np

from linkage.db import run_macros
from linkage.generation import draws, mechanisms
from linkage.generation import outcomes as gen_outcomes
from linkage.generation.arrow import build_from, put
from linkage.generation.scenario import Scenario

CHUNK = 1_000_000  # tips drawn and assembled per batch: bounds memory at national scale
DAY = 86_400


def _date(days: np.ndarray) -> np.ndarray:
    return days.astype(np.int64).astype("datetime64[D]")


def _ts(seconds: np.ndarray) -> np.ndarray:
    return seconds.astype(np.int64).astype("datetime64[s]")


class StudyGenerator:
    """One generation run; ``run()`` builds every output table in the connection."""

    def __init__(
        self, sc: Scenario, con: duckdb.DuckDBPyConnection,
        progress: Callable[[str, float], None], *, referred_tips_only: bool = False,
    ) -> None:
        self.sc, self.con, self.progress = sc, con, progress
        self.referred_tips_only = referred_tips_only
        # Children of one SeedSequence do not depend on how many are spawned: the mechanism
        # stream (rng_world, last) leaves the six streams of the reference world unchanged.
        streams = np.random.SeedSequence(sc.seed).spawn(7)
        (self.rng_tips, self.rng_people, self.rng_ref, self.rng_case, self.rng_other,
         self.rng_bulk, self.rng_world) = (np.random.default_rng(s) for s in streams)
        self.lk = draws.load_lookups()
        self.noise = sc.corruption.noise
        self.offense_arr = {k: np.array([getattr(o, k) for o in sc.offense]) for k in (
            "share", "tip_share", "urgent_share", "abroad_share", "investigate", "arrest",
            "charge", "convict")}
        conv = sc.conversion
        for k, odds in (("investigate", conv.investigate), ("arrest", conv.arrest),
                        ("charge", conv.charge), ("convict", conv.convict)):
            self.offense_arr[k] = mechanisms.odds_scaled(self.offense_arr[k], odds)

    def run(self) -> dict[str, int]:
        """Draw and assemble everything; return true (uncensored) counts per referral.

        With ``referred_tips_only`` the tips never referred are not drawn (the files then
        hold the referred tips only; everything else is as in a full run)."""
        self._agencies()
        self._lookups()
        self._tip_skeleton()
        self.progress("people and referred tips", 0.1)
        self._referral_people()
        self.ref_tip_masks = self._tips_for(
            np.arange(self.n_ref_tips), self.person_of_tip, self.rng_tips)
        self.con.execute("create table out_tips as select * from gen_tips")
        self.progress("referrals", 0.2)
        gen_outcomes.draw_referrals(self)
        self.progress("case outcomes", 0.3)
        gen_outcomes.draw_cases(self)
        counts = gen_outcomes.write_truth(self)
        if not self.referred_tips_only:
            self._bulk_tips()
        return counts

    # -- reference tables -----------------------------------------------------------------
    def _agencies(self) -> None:
        """ICAC task forces (one per state plus extras), then local affiliates per state."""
        lk, extra = self.lk, self.sc.agencies.extra_task_forces
        ids: list[str] = []
        states: list[int] = []
        tf_of_state = []
        for s, st in enumerate(lk.states):
            k = 1 + int(extra.get(st, 0))
            tf_of_state.append(np.arange(len(ids), len(ids) + k))
            ids += [f"ICAC-{st}" if k == 1 else f"ICAC-{st}-{j + 1}" for j in range(k)]
            states += [s] * k
        self.n_task_forces = len(ids)
        n_aff = self.sc.agencies.affiliates_per_state
        self.aff_start = len(ids)
        for s, st in enumerate(lk.states):
            ids += [f"LE-{st}-{j + 1:03d}" for j in range(n_aff)]
            states += [s] * n_aff
        self.agency_ids, self.agency_state = ids, np.array(states, dtype=np.int32)
        rng = self.rng_people
        self.place_tf = np.array(
            [tf_of_state[s][rng.integers(0, len(tf_of_state[s]))] for s in lk.place_state_idx],
            dtype=np.int32)
        order = np.argsort(lk.place_state_idx, kind="stable")
        self.places_by_state = order
        self.state_start = np.searchsorted(lk.place_state_idx[order], np.arange(len(lk.states)))
        self.state_count = np.bincount(lk.place_state_idx, minlength=len(lk.states))
        # Agencies differ in whether they record the tip number (not a random sample).
        m, a = self.sc.volume.cybertip_ref_share, self.sc.audit.agency_shape
        self.agency_records_tip = rng.beta(a, a * (1 - m) / max(m, 1e-9), len(ids))

    def _lookups(self) -> None:
        sc, lk, con = self.sc, self.lk, self.con
        run_macros(con, "generate/gen_macros.sql")
        tables = {
            "g_first_names": {"name": lk.first_names, "nickname": lk.nickname_of},
            "g_surnames": {"name": lk.surnames},
            "g_places": {"state": lk.place_state, "city": lk.place_city, "zip": lk.place_zip},
            "g_domains": {"domain": [d for d, _ in sc.email_domains]},
            "g_words": {"word": list(draws.HANDLE_WORDS)},
            "g_esps": {"name": [f"ESP-{k + 1:03d}" for k in range(sc.reporters.n_esp)]},
            "g_incidents": {"incident_type": [o.incident_type for o in sc.offense]},
            "g_offenses": {"name": [o.name for o in sc.offense],
                           "charge_label": [o.charge_label for o in sc.offense]},
            "g_countries": {"code": ["US"] + [c.code for c in sc.country]},
            "g_agencies": {"agency_id": self.agency_ids,
                           "state": [lk.states[s] for s in self.agency_state]},
        }
        for name, cols in tables.items():
            n = len(next(iter(cols.values())))
            put(con, "lookup_src", {"idx": np.arange(n, dtype=np.int32), **cols})
            con.execute(f"create table {name} as select * from lookup_src")
            con.unregister("lookup_src")

    def _place_in_state(self, rng: np.random.Generator, state: np.ndarray) -> np.ndarray:
        pick = (rng.random(len(state)) * self.state_count[state]).astype(np.int64)
        return self.places_by_state[self.state_start[state] + pick].astype(np.int32)

    # -- tips -------------------------------------------------------------------------------
    def _tip_skeleton(self) -> None:
        """Every tip's time, number, reporter, country and incident; referred tips first."""
        sc, rng, vol = self.sc, self.rng_tips, self.sc.volume
        n = sc.n_tips
        self.n_us = int(rng.binomial(n, vol.us_share))
        self.n_ref_tips = int(rng.binomial(self.n_us, vol.actionable_share))
        start = np.datetime64(sc.study.window_start, "s").astype(np.int64)
        span = (np.datetime64(sc.study.window_end, "s").astype(np.int64) + DAY) - start
        self.received = start + (rng.random(n) * span).astype(np.int64)
        self.tip_num = np.empty(n, dtype=np.int64)
        self.tip_num[np.argsort(self.received, kind="stable")] = np.arange(1, n + 1)
        rep = sc.reporters
        w = np.empty(rep.n_esp)
        w[0] = rep.top_esp_share
        rest = 1.0 / np.arange(2, rep.n_esp + 1) ** rep.zipf_exponent
        w[1:] = (1 - rep.top_esp_share) * rest / rest.sum()
        self.reporter = draws.choice(rng, w, n)
        self.reporter[rng.random(n) < rep.public_share] = -1
        comp = np.empty((rep.n_esp + 1, len(draws.COMPLETENESS_FIELDS)))
        large = draws.completeness_row(sc.completeness.large)
        small = draws.completeness_row(sc.completeness.small)
        k = rep.completeness_concentration
        comp[: rep.n_esp] = rng.beta(small * k, (1 - small) * k, (rep.n_esp, len(small)))
        comp[: rep.large_n] = large
        comp[rep.n_esp] = draws.completeness_row(sc.completeness.public)
        self.completeness = comp  # row n_esp = the public (index -1 wraps to it)
        off = self.offense_arr
        n_ref = self.n_ref_tips
        self.incident = draws.choice(rng, off["tip_share"], n)
        self.incident[:n_ref] = draws.choice(rng, off["share"], n_ref)
        self.urgent = rng.random(n) < vol.urgent_share_unreferred
        self.urgent[:n_ref] = rng.random(n_ref) < off["urgent_share"][self.incident[:n_ref]]
        self.country = np.zeros(n, dtype=np.int32)  # 0 = US
        foreign = np.arange(n) >= self.n_us
        cw = np.array([c.weight for c in sc.country])
        self.country[foreign] = 1 + draws.choice(rng, cw, int(foreign.sum()))
        unknown = vol.unknown_country_share / max(1e-9, 1 - vol.us_share)
        self.country_null = foreign & (rng.random(n) < unknown)

    def _tips_for(
        self, idx: np.ndarray, person: np.ndarray, rng: np.random.Generator
    ) -> dict[str, np.ndarray]:
        """Build ``gen_tips`` for tips ``idx`` about ``person`` rows of ``gen_people``;
        return the identifier-presence masks drawn for them."""
        sc, noise, n = self.sc, self.noise, len(idx)
        cor = sc.corruption.referral
        comp = mechanisms.drifted_completeness(
            self.completeness[self.reporter[idx]], self._window_share(idx), sc.drift)
        masks = draws.completeness_masks(rng, comp, noise)
        masks = mechanisms.keep_families(masks, sc.identifiers.referral)
        pp = self.people
        dob = draws.corrupt_dob(rng, pp["dob_day"][person], cor, noise)
        fake = rng.random(n) < sc.people.fake_dob_share
        dob = np.where(fake, dob + rng.integers(-3000, 3000, n), dob)
        phone, style = draws.corrupt_phone(rng, pp["phone"][person], cor, noise)
        e_style, e_ws = draws.email_style(rng, cor, noise, n)
        ip = pp["ip"][person]
        ip_mode = rng.random(n)  # home address, same /24 (dynamic IP), elsewhere (VPN, mobile)
        ip = np.where(ip_mode < 0.6, ip, np.where(ip_mode < 0.85, ip // 256 * 256 +
                                                  rng.integers(1, 255, n), ip ^ 0x5A5A00))
        file_count = 1 + rng.geometric(0.35, n)
        cols = {
            "tip_num": self.tip_num[idx], "received_at": _ts(self.received[idx]),
            "reporter_idx": self.reporter[idx], "incident_idx": self.incident[idx],
            "is_urgent": self.urgent[idx], "file_count": file_count,
            "country_idx": self.country[idx], "person_idx": person.astype(np.int64),
            **{f"has_{k}": v for k, v in masks.items()},
            "email_which": rng.random(n) < sc.people.secondary_email_share,
            **draws.name_codes(rng, cor, noise, n, ""),
            "dob": _date(dob), "phone": phone, "phone_style": style,
            "email_style": e_style, "email_ws": e_ws, "ip": ip,
        }
        cols["nickname_flag"] = cols.pop("nickname")
        nulls = {"file_count": rng.random(n) < 0.1, "country_idx": self.country_null[idx]}
        build_from(self.con, "tip_draws", cols, nulls, "generate/gen_tips.sql")
        return masks

    def _window_share(self, idx: np.ndarray) -> np.ndarray:
        """Share of the study window elapsed when tips ``idx`` were received."""
        start = np.datetime64(self.sc.study.window_start, "s").astype(np.int64)
        end = np.datetime64(self.sc.study.window_end, "s").astype(np.int64) + DAY
        return (self.received[idx] - start) / (end - start)

    def _people_table(self, people: dict[str, np.ndarray]) -> None:
        n = len(people["first_idx"])
        cols = {"person_idx": np.arange(n, dtype=np.int64), **people}
        build_from(self.con, "people_draws", cols, None, "generate/gen_people.sql")

    def _referral_people(self) -> None:
        """Suspects of referred tips (repeat suspects, relatives) and other-source subjects."""
        sc, rng = self.sc, self.rng_people
        mean = sc.people.referrals_per_person_mean
        size = int(self.n_ref_tips / mean * 1.3) + 10
        counts = 1 + rng.poisson(mean - 1, size)
        n_persons = int(np.searchsorted(np.cumsum(counts), self.n_ref_tips)) + 1
        tips_of = np.repeat(np.arange(n_persons), counts[:n_persons])[: self.n_ref_tips]
        self.person_of_tip = rng.permutation(tips_of)
        self.n_persons = n_persons
        self.n_other = round(sc.volume.other_source_cases * sc.scale)
        ref = draws.draw_people(rng, self.lk, sc, n_persons)
        draws.make_relatives(rng, ref, ref, sc.people.relative_share / 2)
        other = draws.draw_people(self.rng_other, self.lk, sc, self.n_other)
        self.n_relatives = draws.make_relatives(self.rng_other, other, ref,
                                                sc.people.relative_share)
        state = self.lk.place_state_idx
        self.n_namesakes = mechanisms.make_namesakes(
            self.rng_world, other, ref, sc.people.namesake_share,
            lambda a: self._place_in_state(self.rng_world, state[ref["place_idx"][a]]))
        self.people = {k: np.concatenate([ref[k], other[k]]) for k in ref}
        self._people_table(self.people)

    def _bulk_tips(self) -> None:
        """Tips that were never referred, in batches with their own (unlinked) people."""
        self.con.execute("alter table gen_people rename to study_people")
        rng, sc = self.rng_bulk, self.sc
        total = sc.n_tips - self.n_ref_tips
        for lo in range(self.n_ref_tips, sc.n_tips, CHUNK):
            idx = np.arange(lo, min(lo + CHUNK, sc.n_tips))
            self.people = draws.draw_people(rng, self.lk, sc, len(idx))
            self._people_table(self.people)
            self._tips_for(idx, np.arange(len(idx)), rng)
            self.con.execute("insert into out_tips select * from gen_tips")
            self.progress("tips", 0.4 + 0.55 * (idx[-1] + 1 - self.n_ref_tips) / max(total, 1))

