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
from ._cells import GroupRates, ScoreCells
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
from ._interval import percentile_bounds, percentile_interval
from ._oracle import OracleAUC, oracle_auc
from ._simultaneous import (
    MULTIPLICITY,
    SimultaneousIntervals,
    bootstrap_p_values,
    holm_verdicts,
    simultaneous_intervals,
)
from ._validation import (
    check_binary,
    check_confidence,
    check_n_bins,
    check_n_resamples,
    check_rng,
)
from ._weighted import (
    auc_from_class_weights,
    iter_resample_counts,
    safe_divide,
    shared_resample_counts,
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
    "ScoreCells",
    "SimultaneousIntervals",
    "auc",
    "auc_from_class_weights",
    "bootstrap_metric",
    "bootstrap_p_values",
    "brier",
    "calibration_error_vs_truth",
    "check_binary",
    "check_confidence",
    "check_n_bins",
    "check_n_resamples",
    "check_rng",
    "crossed_replicates",
    "difference_interval",
    "ece",
    "evaluate",
    "gini",
    "holm_verdicts",
    "is_monotonic",
    "iter_resample_counts",
    "ks",
    "log_loss",
    "non_inferiority_verdict",
    "oracle_auc",
    "paired_bootstrap",
    "percentile_bounds",
    "percentile_interval",
    "pr_auc",
    "ratio_difference",
    "ratio_intervals",
    "safe_divide",
    "score_bands",
    "seed_average",
    "seed_replicates",
    "shared_resample_counts",
    "simultaneous_intervals",
]
