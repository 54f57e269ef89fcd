"""The audit's sampling design: recording probabilities per agency x outcome and their
Horvitz-Thompson weights, on hand-made data with exactly known answers."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from test_estimate import _identity_fit, _tiny_inputs

from linkage.estimation.recording import (
    cell_probabilities,
    inverse_probabilities,
    shrinkage_strength,
)


def test_no_agency_effect_pools_fully():
    """Every agency records half its cases: no between-agency spread, one pooled share."""
    n = np.array([10.0, 20.0, 30.0])
    assert shrinkage_strength(n, n / 2) == float("inf")


def test_agency_effect_is_kept_and_outcome_cells_are_separate():
    """Agency 0 records all 4 arrested and 0 of 4 others; agency 1 the reverse at 1 of 4
    arrested and all 4 others. Between agencies the shares differ completely (rho = 1, no
    shrinkage), so each cell's share is its own."""
    agency = np.repeat([0, 0, 1, 1], 4)
    outcome = np.tile(np.repeat([1, 0], 4), 2)
    recorded = np.r_[np.ones(4), np.zeros(4), [1, 0, 0, 0], np.ones(4)].astype(float)
    p = cell_probabilities(agency, np.ones(16, bool), recorded, outcome)
    # agency 0 others (share 0) fall back to the group's pooled 4 / 8
    np.testing.assert_allclose(p, np.r_[[1.0] * 4, [0.5] * 4, [0.25] * 4, [1.0] * 4])


def test_inverse_probabilities_only_for_recording_cases():
    inv = inverse_probabilities(np.array([0.2, 0.2, 0.5]), np.array([1.0, 0.0, 1.0]))
    np.testing.assert_allclose(inv, [5.0, 0.0, 2.0])


def test_reference_set_bounds_the_denominators():
    """Only reference cases count in a cell's denominator: 1 recorded of 2 reference cases
    (the third case is not a referral case) gives 0.5."""
    p = cell_probabilities(np.zeros(3, np.int64), np.array([True, True, False]),
                           np.array([1.0, 0.0, 0.0]), np.zeros(3, np.int64))
    np.testing.assert_allclose(p, [0.5] * 3)


def test_correction_weights_each_audit_case_by_its_own_probability():
    """The tiny study of test_estimate: C0 recorded with p = 0.5 (weight 1 / p - 1 = 1) and
    C1 with p = 0.2 (weight 4): R0's under-score +0.2 x 1, R1's missed link x 4, R2's false
    pair into C0 -0.2 x 1."""
    from linkage.estimation.correction import missed_correction

    fit = dataclasses.replace(_identity_fit([1.0] * 3),
                              inverse_recording=np.array([2.0, 5.0, 0.0]))
    corr = missed_correction(_tiny_inputs(), fit)
    np.testing.assert_allclose(corr, [[0.2, 0, 0, 0], [4, 4, 0, 0], [-0.2, 0, 0, 0], [0] * 4])
    assert fit.inverse_rate(np.array([0, 1])).tolist() == pytest.approx([2.0, 5.0])
