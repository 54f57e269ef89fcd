"""Shared by the benchmark scripts: generate a synthetic study in a child process, so the
generator's memory is not counted in the parent's peak RSS."""

from __future__ import annotations

import multiprocessing as mp
import sys


def _generate(scenario: str, scale: float, seed: int | None, out: str) -> None:
    from linkage.generation.scenario import load_scenario
    from linkage.generation.writer import generate

    generate(load_scenario(scenario, scale=scale, seed=seed), out)


def generate_in_child(scenario: str, scale: float, seed: int | None, out: str) -> bool:
    """Generate ``scenario`` at ``scale`` into ``out`` in a spawned process; False (and a
    line on stderr) when it failed."""
    proc = mp.get_context("spawn").Process(target=_generate, args=(scenario, scale, seed, out))
    proc.start()
    proc.join()
    if proc.exitcode != 0:
        print("generation failed", file=sys.stderr)
        return False
    return True
