"""From P(NSF) to the 0-100 score, reason codes, and batch scoring of files of shared rows.

The score scale itself (:func:`probability_to_score`) lives with the models that produce the
probability (:mod:`nsf.models`); it is re-exported here for the reader who looks for it under
scoring.
"""

from nsf.models import probability_to_score
from nsf.scoring._batch import score_file
from nsf.scoring._partitions import plan_partitions, score_partitions
from nsf.scoring._reasons import (
    ReasonExplainer,
    check_reasons,
    reason_columns,
    score_points,
    top_reasons,
)

__all__ = [
    "ReasonExplainer",
    "check_reasons",
    "plan_partitions",
    "probability_to_score",
    "reason_columns",
    "score_file",
    "score_partitions",
    "score_points",
    "top_reasons",
]
