"""Methodology simulation: replicates of whole synthetic studies scored against their truth
(:mod:`linkage.simulate.replicate`: one world, a knob sweep) and the stress matrix over
several worlds (:mod:`linkage.simulate.matrix`).

Example:
    >>> simulate(scale=0.02, replicates=2, seed=1).summary.head()  # doctest: +SKIP
"""

from linkage.reporting.simulation import (
    CELL_KEYS,
    format_headline,
    format_summary,
    format_sweep,
    headline,
    summarise,
)
from linkage.simulate.matrix import MatrixResult, run_matrix
from linkage.simulate.replicate import (
    ReviewSweep,
    SimulationResult,
    lean_u_max_pairs,
    linked_replicate,
    override_scenario,
    run_replicate,
    score_replicate,
    simulate,
    sweep,
)

__all__ = ["CELL_KEYS", "MatrixResult", "ReviewSweep", "SimulationResult", "format_headline",
           "format_summary", "format_sweep", "headline", "lean_u_max_pairs",
           "linked_replicate", "override_scenario", "run_matrix", "run_replicate",
           "score_replicate", "simulate", "summarise", "sweep"]
