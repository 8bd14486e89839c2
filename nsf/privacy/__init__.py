"""What each sharing design exposes: adversaries on the shared data, beside its utility.

:mod:`nsf.privacy._designs` holds the designs and the frontier, :mod:`nsf.privacy._adversaries`
the adversaries (re-identification, attribute inference, identifier reversal). The designs of a
finished study (and its ``designs`` section) are :mod:`nsf.study._designs`: this package does not
import the study.
"""

from nsf.privacy._adversaries import (
    IDENTIFIERS,
    Share,
    attribute_inference,
    identifier_reversal,
    reidentification,
)
from nsf.privacy._designs import Design, DesignData, dominates, evaluate_designs, pareto

__all__ = ["IDENTIFIERS", "Design", "DesignData", "Share", "attribute_inference", "dominates",
           "evaluate_designs", "identifier_reversal", "pareto", "reidentification"]
