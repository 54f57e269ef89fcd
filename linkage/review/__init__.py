"""Clerical review: a designed probability sample of referrals that measures linkage error.

``draw_sample`` draws a stratified sample (offense type x match-probability band) with
known inclusion probabilities and writes the reviewer's file; ``import_labels`` validates
and stores the decisions; ``review_error_rates`` and ``review_conversion_rates`` turn them
into design-weighted false- and missed-link rates and corrected conversion rates;
``simulate_review`` answers a sheet from the truth (synthetic studies only) and
``simulated_review`` does a whole review that way (what the simulation's review sweep uses);
``write_review_page`` renders the sheet as an offline HTML page.
"""

from linkage._lazy import lazy_exports

_EXPORTS = {
    "ReviewSampleSummary": "linkage.review.sample",
    "draw_sample": "linkage.review.sample",
    "has_labels": "linkage.review.labels",
    "import_labels": "linkage.review.labels",
    "review_conversion_rates": "linkage.review.estimates",
    "review_error_rates": "linkage.review.estimates",
    "review_weights": "linkage.review.estimates",
    "plan_review": "linkage.review.planning",
    "publish_review_rates": "linkage.review.estimates",
    "simulate_review": "linkage.review.reviewer",
    "simulated_review": "linkage.review.reviewer",
    "write_review_page": "linkage.review.page",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
