"""The bundle-or-charge policy the score drives: costs, thresholds, churn, who pays.

Pure functions on arrays and frames (no MLflow, no files). A user is bundled when the score is
at or below a threshold; :func:`evaluate_decisions` runs every arm's predictions through the
policy and returns money per 1,000 users per month with paired intervals over test rows and
training seeds (the bootstrap engine of :mod:`nsf.metrics`).
"""

from nsf.decisions._churn import (
    N_BANDS,
    SwapShares,
    migration_table,
    psi,
    seed_churn,
    swap_shares,
)
from nsf.decisions._costs import (
    OUTCOME_COLUMNS,
    ROW_COLUMNS,
    CostInputs,
    RowCosts,
    cost_inputs,
    expected_row_costs,
    per_1k_month,
    row_costs,
    table_cost_columns,
)
from nsf.decisions._evaluate import (
    ANCHORS,
    GROUP_METRICS,
    ArmPredictions,
    DecisionsResult,
    evaluate_decisions,
)
from nsf.decisions._threshold import (
    NO_ONE,
    bundle,
    bundle_rate_threshold,
    choose_threshold,
    cost_by_threshold,
    optimal_threshold,
    scores_of,
)

__all__ = [
    "ANCHORS",
    "GROUP_METRICS",
    "NO_ONE",
    "N_BANDS",
    "OUTCOME_COLUMNS",
    "ROW_COLUMNS",
    "ArmPredictions",
    "CostInputs",
    "DecisionsResult",
    "RowCosts",
    "SwapShares",
    "bundle",
    "bundle_rate_threshold",
    "choose_threshold",
    "cost_by_threshold",
    "cost_inputs",
    "evaluate_decisions",
    "expected_row_costs",
    "migration_table",
    "optimal_threshold",
    "per_1k_month",
    "psi",
    "row_costs",
    "scores_of",
    "seed_churn",
    "swap_shares",
    "table_cost_columns",
]
