"""Group reliance of a fitted model: how much its predictions lean on each attribute group.

Reliance is not necessity. A model can lean heavily on a group that a retrained model would do
equally well without (another group carries the same information); the study reports both side
by side. Two measures:

- :func:`group_shap`: SHAP values of every family in the model's log-odds (:func:`shap_values`:
  exact path-dependent TreeSHAP for LightGBM, ``pred_contrib``, and HistGradientBoosting,
  ``shap.TreeExplainer``; Lundberg et al. 2020, Nature Machine Intelligence 2:56-67; and
  ``shap.LinearExplainer`` on the training rows for logistic regression). A group's value on a
  row is the sum of its features' SHAP values; by additivity the groups' values add up to the
  row's log-odds minus the base value. (This is the usual grouped SHAP, not the Shapley value
  of a game whose players are the groups.) Reported as the mean absolute group value over a
  sample of rows and its share of the total.
- :func:`grouped_permutation_importance`: the fall of a metric (AUC) when all the group's
  columns are permuted together (one row permutation, so within-group dependence is kept).

Both are pure functions of a fitted model and rows; :func:`group_reliance` runs both.

Also: :func:`reliance_stability` (rank correlation of reliance across seeds and families, with
a bootstrap interval), :func:`withheld_group_effect` (per person: is the decision the same if
one group is withheld from that person alone), and :class:`CellTreeShap` (LightGBM's TreeSHAP
by table look-up, for reason codes at scoring speed), and :func:`explanation_views` (the data of
the beeswarm, dependence and waterfall views, drawn by ``nsf.report``).
"""

from nsf.explain._cells import CellTreeShap
from nsf.explain._reliance import (
    group_reliance,
    group_shap,
    grouped_permutation_importance,
)
from nsf.explain._shap import GroupAttribution, explainable, shap_values
from nsf.explain._stability import reliance_stability
from nsf.explain._views import explanation_views
from nsf.explain._withhold import withheld_group_effect

__all__ = [
    "CellTreeShap",
    "GroupAttribution",
    "explainable",
    "explanation_views",
    "group_reliance",
    "group_shap",
    "grouped_permutation_importance",
    "reliance_stability",
    "shap_values",
    "withheld_group_effect",
]
