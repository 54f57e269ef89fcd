"""Defaults shared by the Python API and the command line, so both behave the same.

Example:
    >>> DEFAULT_SEED, SIMULATION_SEED
    (42, 1000)
"""

DEFAULT_SEED = 42
"""Seed of Splink's u sampling and the estimators' draws when no scenario gives one (a
user's own data; ``linkage link`` / ``linkage estimate``)."""

SIMULATION_SEED = 1000
"""Seed of the methodology simulation's first replicate (then + 1, ...): apart from the
shipped scenarios' own seeds, so a replicate never repeats the default study."""
