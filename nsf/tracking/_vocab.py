"""The metric names a study logs to MLflow: a short vocabulary a reader compares first, under
stable names, and everything else under :data:`OTHER_PREFIX` so it sorts after them.

Listed in the README ("Comparing runs in the MLflow UI"); a new stable name is added here and
there together.
"""

from __future__ import annotations

import math

from nsf.vocabulary import INCONCLUSIVE, NEEDED, NOT_SHOWN_NEEDED

__all__ = ["OTHER_PREFIX", "VERDICT_NUMBER", "VOCABULARY", "defined", "metric_name"]

#: Stable names and what each holds (``<m>`` in a name is the study's metric, ``auc`` unless
#: ``study.primary_metric`` says otherwise; ``auc`` is always under its stable name).
VOCABULARY: dict[str, str] = {
    "auc": "test AUC: the seed mean on a variant run, the seed's own on a seed run",
    "auc_diff": "AUC of the variant minus its reference's (seed means)",
    "auc_diff_lo": "lower end of the difference's per-comparison interval",
    "auc_diff_hi": "upper end of the difference's per-comparison interval",
    "auc_diff_sim_lo": "lower end of the simultaneous interval over the variant's family",
    "auc_diff_sim_hi": "upper end of the simultaneous interval over the variant's family",
    "verdict": "the verdict as a number: 1 needed, 0 inconclusive, -1 not shown needed "
               "(in words: tag nsf.verdict)",
    "mde": "minimum detectable loss of the primary metric at its margin: margin + (z + "
           "z_power) x SE at the verdict's level, power 0.8",
    "look": "with study.until decided: the look that decided the verdict (or the last one)",
    "seeds_used": "training seeds per arm at that look",
    "test_subjects_used": "test subjects at that look (with study.budget.subjects on simulated "
                          "data: the first look's and those simulated on demand)",
    "cost_diff": "money per 1,000 users a month of the variant's decisions minus the "
                 "baseline's (positive: the variant costs more)",
    "cost_diff_lo": "lower end of the cost difference's interval",
    "cost_diff_hi": "upper end of the cost difference's interval",
    "swap_rate": "share of test rows whose bundle-or-charge decision differs from the "
                 "baseline's",
    "ece": "test expected calibration error (seed mean on a variant run)",
}
#: Every other metric: ``x/<name>`` (sorts after the vocabulary; a section of its own in the
#: UI's charts).
OTHER_PREFIX = "x/"
#: The verdict as a number (metric ``verdict``).
VERDICT_NUMBER: dict[str, float] = {NEEDED: 1.0, INCONCLUSIVE: 0.0, NOT_SHOWN_NEEDED: -1.0}

#: Run metrics of a fit under a stable name.
_STABLE_FIT = {"test_auc": "auc", "test_ece": "ece"}


def metric_name(key: str) -> str:
    """The logged name of a fit's metric ``key`` (``test_auc`` -> ``auc``, ``test_brier`` ->
    ``x/test_brier``)."""
    return _STABLE_FIT.get(key, OTHER_PREFIX + key)


def defined(metrics: dict[str, float | None]) -> dict[str, float]:
    """Only the finite values, as floats: a metric that is not defined is not logged (the
    UI's compare view would show NaN)."""
    out = {}
    for key, value in metrics.items():
        if value is None:
            continue
        try:
            number = float(value)
        except (TypeError, ValueError):
            continue
        if math.isfinite(number):
            out[key] = number
    return out
