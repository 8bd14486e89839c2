"""Metrics of a P(NSF) forecast and bootstrap intervals: pure functions, no I/O.

Point metrics follow scikit-learn's ``(y_true, y_prob, *, ...)`` signature. Bootstrap functions
take a ``numpy.random.Generator`` and never seed anything globally. One bootstrap engine
(:mod:`nsf.metrics._cells`: weighted counts per group, distinct probability and outcome) serves
the intervals here, the study's comparisons and the fairness tables.
"""

from ._bootstrap import (
    INCONCLUSIVE,
    NEEDED,
    NOT_SHOWN_NEEDED,
    BootstrapResult,
    DifferenceInterval,
    PairedBootstrap,
    bootstrap_metric,
    crossed_replicates,
    difference_interval,
    non_inferiority_verdict,
    paired_bootstrap,
    ratio_difference,
    ratio_intervals,
    seed_average,
    seed_replicates,
)
from ._cells import GroupRates
from ._classification import (
    DEFAULT_SCORE_EDGES,
    auc,
    brier,
    calibration_error_vs_truth,
    ece,
    evaluate,
    gini,
    is_monotonic,
    ks,
    log_loss,
    pr_auc,
    score_bands,
)
from ._oracle import OracleAUC, oracle_auc
from ._simultaneous import (
    MULTIPLICITY,
    SimultaneousIntervals,
    bootstrap_p_values,
    holm_verdicts,
    simultaneous_intervals,
)

__all__ = [
    "DEFAULT_SCORE_EDGES",
    "INCONCLUSIVE",
    "MULTIPLICITY",
    "NEEDED",
    "NOT_SHOWN_NEEDED",
    "BootstrapResult",
    "DifferenceInterval",
    "GroupRates",
    "OracleAUC",
    "PairedBootstrap",
    "SimultaneousIntervals",
    "auc",
    "bootstrap_metric",
    "bootstrap_p_values",
    "brier",
    "calibration_error_vs_truth",
    "crossed_replicates",
    "difference_interval",
    "ece",
    "evaluate",
    "gini",
    "holm_verdicts",
    "is_monotonic",
    "ks",
    "log_loss",
    "non_inferiority_verdict",
    "oracle_auc",
    "paired_bootstrap",
    "pr_auc",
    "ratio_difference",
    "ratio_intervals",
    "score_bands",
    "seed_average",
    "seed_replicates",
    "simultaneous_intervals",
]
