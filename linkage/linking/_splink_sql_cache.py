"""Workaround for Splink 5.0: exact-match detection re-parses level SQL on every query built.

Splink decides whether a comparison level is an exact match (``_is_exact_match``,
``_exact_match_colnames`` of ``ComparisonLevel``) by parsing, normalising and simplifying
its SQL condition with sqlglot, and asks again each time it writes the SQL of a
prediction or of an EM iteration: for every term-frequency level, over the levels of its
comparison until it finds the exact-match one. With this model (a 14-level household
comparison with five term-frequency levels) that is about 950 parses per linkage, a third
of the CPU time of linking a 5%-scale study, for answers that depend only on the
condition's text and dialect.

``memoised_exact_match()`` memoises the two properties on that text while it is active and
puts Splink's own back afterwards; the SQL Splink generates, hence every score, is the same.
Every linkage uses it (``link(memoise_sql=False)`` turns it off): it takes about 1.5 s
off the 5 s a 12,000-referral study spends training. Upstream: no issue for it as of
Splink 5.0.0; that SQL generation costs more than its execution is a maintainer's
measurement in moj-analytical-services/splink#2426. The properties are private, hence
this module.

Example:
    >>> with memoised_exact_match():
    ...     pass
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from splink.internals.comparison_level import ComparisonLevel

_PROPERTIES = ("_is_exact_match", "_exact_match_colnames")


def _memoised(prop: property, cache: dict) -> property:
    def get(level: ComparisonLevel):  # type: ignore[no-untyped-def]
        key = (level.sql_condition, level.sqlglot_dialect, level._is_else_level)
        if key not in cache:
            cache[key] = prop.fget(level)  # an exception propagates and is not stored
        return cache[key]

    return property(get, doc=prop.__doc__)


@contextlib.contextmanager
def memoised_exact_match() -> Iterator[None]:
    """Memoise Splink's exact-match detection of comparison levels within the block."""
    originals = {name: ComparisonLevel.__dict__[name] for name in _PROPERTIES}
    if any(not isinstance(p, property) for p in originals.values()):  # pragma: no cover
        raise RuntimeError("Splink's ComparisonLevel changed: remove this workaround")
    try:
        for name, prop in originals.items():
            setattr(ComparisonLevel, name, _memoised(prop, {}))
        yield
    finally:
        for name, prop in originals.items():
            setattr(ComparisonLevel, name, prop)
