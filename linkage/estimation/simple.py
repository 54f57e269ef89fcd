"""The simple estimators: each turns the candidate pairs into a per-referral probability
of having reached each stage (``pi``, an (n_referrals, 4) array), with no correction.

* ``deterministic`` - the ``cybertip_ref`` join only;
* ``threshold`` - the best link per referral above the threshold (``links``);
* ``weighted`` - Lahiri-Larsen / fastLink style: sum over candidate cases of p(r, c) x
  stage(c), probabilities normalised so they add up to at most 1 per referral.
"""

from __future__ import annotations

import numpy as np

from linkage.estimation import rates as rt


def normalise(q: np.ndarray, pair_ref: np.ndarray, n_referrals: int) -> np.ndarray:
    """Scale each referral's pair probabilities down so they add up to at most 1.

    Example:
        >>> normalise(np.array([0.8, 0.6, 0.3]), np.array([0, 0, 1]), 2).round(3).tolist()
        [0.571, 0.429, 0.3]
    """
    total = np.bincount(pair_ref, weights=q, minlength=n_referrals)
    return q / np.maximum(total, 1.0)[pair_ref]



def per_referral(inputs: rt.RateInputs, q: np.ndarray) -> np.ndarray:
    """Sum q * stage over each referral's pairs: an (n_referrals, 4) array."""
    n = inputs.n_referrals
    out = np.empty((n, inputs.stages.shape[1]))
    for k in range(inputs.stages.shape[1]):
        out[:, k] = np.bincount(inputs.pair_ref, weights=q * inputs.stages[:, k], minlength=n)
    return np.clip(out, 0.0, 1.0)


def pi_deterministic(inputs: rt.RateInputs) -> np.ndarray:
    """Per-referral stages through the cybertip_ref (audit) join only.

    Example:
        >>> pi_deterministic(inputs)[:, 0].mean()  # doctest: +SKIP
        0.016
    """
    return per_referral(inputs, inputs.audit_pair.astype(float))


def pi_threshold(inputs: rt.RateInputs, links: np.ndarray | None = None) -> np.ndarray:
    """Per-referral stages of the links: ``inputs.link`` (the ``links`` table), or the
    pair mask ``links`` (``rates.link_mask`` at another threshold: the same rule).

    Example:
        >>> pi_threshold(inputs, rt.link_mask(con, 0.8)).shape  # doctest: +SKIP
        (16625, 4)
    """
    chosen = inputs.link if links is None else links
    return per_referral(inputs, chosen.astype(float))


def pi_weighted(inputs: rt.RateInputs) -> np.ndarray:
    """Per-referral expected stages from Splink probabilities, normalised to sum <= 1.

    Example:
        >>> pi_weighted(inputs)[:, 1].sum()  # doctest: +SKIP
        230.4
    """
    q = np.where(inputs.scored, np.nan_to_num(inputs.prob), 0.0)
    return per_referral(inputs, normalise(q, inputs.pair_ref, inputs.n_referrals))
