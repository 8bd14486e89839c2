"""What each sharing design exposes: adversaries on the shared data, beside its utility.

:mod:`nsf.privacy._designs` holds the designs and the frontier, :mod:`nsf.privacy._adversaries`
the adversaries (re-identification, attribute inference, identifier reversal). The designs of a
finished study (and its ``designs`` section) are :mod:`nsf.study._designs`: this package does not
import the study.
"""

from nsf.privacy._adversaries import (
    IDENTIFIERS,
    ReversalProbe,
    Share,
    attribute_inference,
    identifier_reversal,
    reidentification,
    reversal_probe,
)
from nsf.privacy._designs import (
    CaseScale,
    Design,
    DesignData,
    dominates,
    evaluate_designs,
    exposure,
    pareto,
)

__all__ = ["IDENTIFIERS", "CaseScale", "Design", "DesignData", "ReversalProbe", "Share",
           "attribute_inference", "dominates", "evaluate_designs", "exposure",
           "identifier_reversal", "pareto", "reidentification", "reversal_probe"]
