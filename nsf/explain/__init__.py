"""Group reliance of a fitted model: how much its predictions lean on each attribute group.

Reliance is not necessity. A model can lean heavily on a group that a retrained model would do
equally well without (another group carries the same information); the study reports both side
by side. Two measures:

- :func:`group_shap`: exact TreeSHAP of LightGBM (``booster.predict(X, pred_contrib=True)``,
  Lundberg et al. 2020, Nature Machine Intelligence 2:56-67), in the model's log-odds. A
  group's value on a row is the sum of its features' SHAP values; by additivity the groups'
  values add up to the row's log-odds minus the expected log-odds. (This is the usual grouped
  SHAP, not the Shapley value of a game whose players are the groups.) Reported as the mean
  absolute group value over a sample of rows and its share of the total.
- :func:`grouped_permutation_importance`: the fall of a metric (AUC) when all the group's
  columns are permuted together (one row permutation, so within-group dependence is kept).

Both are pure functions of a fitted model and rows; :func:`group_reliance` runs both.
"""

from nsf.explain._reliance import (
    group_reliance,
    group_shap,
    grouped_permutation_importance,
)

__all__ = ["group_reliance", "group_shap", "grouped_permutation_importance"]
