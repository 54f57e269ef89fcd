"""Workaround for Splink 5.0: an EM session can end on an m probability of (nearly) 0.

EM can estimate m = 0, or a denormal such as 1e-321, for a comparison level when no pair of
the training block that falls in it is ever likely a match (the match posterior underflows),
and Splink 5.0's m-probability setter then rejects any value below 1e-300 with
``ValueError``. Upstream:
moj-analytical-services/splink#2333 (zero trained m values) and the setter validation of
moj-analytical-services/splink#2851. It shows on small studies (a few hundred referrals),
where one EM block holds few pairs. Worse, the linker is left without the comparisons the
session had set aside for its blocking rule, so it cannot simply carry on.

So the model is saved (public ``save_model_to_json``) before each session; on this one
error the session is skipped with a warning and a new ``Linker`` is built from the saved
model on the same inputs. That block's m values stay as the other sessions (or Splink's
defaults) set them, which Splink reports at predict time as "not fully trained". Any
other ``ValueError`` propagates.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from splink import Linker

log = logging.getLogger(__name__)

ZERO_M_MESSAGE = "m_probability value 0.0 is below the minimum allowed value"
_UNDERFLOW = re.compile(r"m_probability value \S+ is below the minimum allowed value")


def run_em_session(linker: Linker, inputs: list[Any], rule: str, **kwargs: Any) -> Linker:
    """Run one EM session on ``linker``; return the linker to carry on with (a rebuilt one
    when the session had to be skipped because EM estimated an m probability of 0).

    Example:
        >>> linker = run_em_session(linker, inputs, "l.email = r.email")  # doctest: +SKIP
    """
    saved = linker.misc.save_model_to_json()
    try:
        linker.training.estimate_parameters_using_expectation_maximisation(rule, **kwargs)
    except ValueError as exc:
        if not _UNDERFLOW.search(str(exc)):
            raise
        log.warning("EM on %r estimated an m probability of about 0 (Splink 5.0 rejects it, "
                    "splink#2333): session skipped, its m values stay untrained", rule)
        return Linker(inputs, saved, log_level=None)
    return linker
