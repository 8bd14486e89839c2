"""Reason codes: the attribute groups that raised a row's score most, in points of the score.

A row's SHAP values (:mod:`nsf.explain`) split its margin (log-odds) into the base value plus
one value per attribute group. The 0-100 score is a monotone but non-linear function of the
margin (sigmoid, then the calibration map, then x 100), so margin values are turned into score
points by sharing the row's score change from the base score in proportion to them:

    points_g = (score - base score) x value_g / (margin - base value)

where ``score = 100 x calibrated P(NSF)`` (before rounding) and ``base score`` is the score of
the base value. The points of all groups add up exactly to ``score - base score``, each has the
sign of its margin value, and their ratio is the ratio of the SHAP values; when the margin
equals the base value every group gets 0 points. Since the map is monotone, ``(score - base
score) / (margin - base value)`` is never negative: it is the average slope of the score over
the row's margin change. Reason k of a row is the group with the k-th largest signed points (a
group with negative points lowered the score).
"""

from __future__ import annotations

import numpy as np

from nsf.errors import NsfError

#: Margin changes smaller than this (log-odds) give every group 0 points.
MIN_MARGIN_CHANGE = 1e-12


class ReasonExplainer:
    """Group SHAP values of encoded rows for reason codes, on the fastest exact path.

    LightGBM: :class:`nsf.explain.CellTreeShap` (compiled look-ups, exact) when the trees are
    small enough for its tables, else ``pred_contrib``. Other families: :func:`shap_values`.

    Parameters
    ----------
    fitted : nsf.models.FittedModel

    Raises
    ------
    NsfError
        If the model cannot be explained (the reason is in the message).
    """

    def __init__(self, fitted):
        from nsf.explain import explainable

        reason = explainable(fitted)
        if reason is not None:
            raise NsfError(f"--reasons: cannot explain this model ({reason})")
        self.fitted = fitted
        self.groups = tuple(dict.fromkeys(s.group for s in fitted.features))
        self.cells = None
        if fitted.model_cfg.kind == "lightgbm":
            from nsf.explain import CellTreeShap

            self.cells = CellTreeShap.build(fitted)
        self.base_value = self._base_value()
        self.base_score = self.base_score_of(fitted, self.base_value)

    @staticmethod
    def base_score_of(fitted, base_value: float) -> float:
        """The unrounded 0-100 score of a margin equal to ``base_value``."""
        return float(100.0 * fitted.calibrator_.transform(
            np.array([_sigmoid(fitted, base_value)]))[0])

    @property
    def method(self) -> str:
        if self.cells is not None:
            return "compiled TreeSHAP cell tables (exact)"
        if self.fitted.model_cfg.kind == "lightgbm":
            return "lightgbm pred_contrib"
        return "shap package"

    def _base_value(self) -> float:
        if self.cells is not None:
            return self.cells.base_value
        from nsf.explain import shap_values

        probe = np.full((1, len(self.fitted.feature_names)), np.nan, dtype=np.float32)
        return shap_values(self.fitted, X=probe, num_threads=1).base_value

    def group_values(self, X: np.ndarray, num_threads: int = 1) -> np.ndarray:
        """(n_rows, n_groups) SHAP values in the margin, groups in ``self.groups`` order."""
        if self.cells is not None:
            return self.cells.group_values(X, num_threads=num_threads)
        from nsf.explain import shap_values

        attribution = shap_values(self.fitted, X=X, num_threads=num_threads)
        if attribution.groups != self.groups:
            raise ValueError("group order of the explainer and the model differ")
        return attribution.values


def _sigmoid(fitted, margin):
    """The estimator's uncalibrated P(NSF) of a margin (LightGBM may scale its sigmoid)."""
    scale = 1.0
    if fitted.model_cfg.kind == "lightgbm":
        forest = fitted._forest()
        scale = forest.sigmoid if forest is not None else 1.0
    return 1.0 / (1.0 + np.exp(-scale * np.asarray(margin, dtype=np.float64)))


def score_points(values: np.ndarray, base_value: float, score: np.ndarray,
                 base_score: float) -> np.ndarray:
    """Group SHAP values (margin) -> points of the 0-100 score (see the module docstring).

    Parameters
    ----------
    values : (n_rows, n_groups) group SHAP values; their row sums are ``margin - base_value``.
    base_value : the explainer's base value (margin).
    score : (n_rows,) unrounded scores, ``100 x calibrated P(NSF)``.
    base_score : the score of the base value.

    Returns
    -------
    numpy.ndarray
        (n_rows, n_groups) points; each row sums to ``score - base_score``.
    """
    values = np.asarray(values, dtype=np.float64)
    change = values.sum(axis=1)
    moved = np.abs(change) > MIN_MARGIN_CHANGE
    slope = np.zeros_like(change)
    slope[moved] = (np.asarray(score, np.float64)[moved] - base_score) / change[moved]
    return values * slope[:, None]


def top_reasons(points: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions and points of the ``k`` groups with the largest signed points, per row.

    Ties keep the groups' order (stable), so the same rows always give the same reasons.
    """
    order = np.argsort(-points, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(points, order, axis=1)


def check_reasons(k, n_groups: int) -> int:
    """``k`` as an int in [1, n_groups], else :class:`NsfError` naming the allowed range."""
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or not 1 <= k <= n_groups:
        raise NsfError(f"--reasons must be an integer from 1 to {n_groups} (the model's "
                       f"attribute groups), got {k!r}")
    return int(k)


def reason_columns(k: int) -> list[str]:
    """Output column names: ``reason_1``, ``reason_1_points``, ..., ``reason_k_points``."""
    return [name for i in range(1, k + 1) for name in (f"reason_{i}", f"reason_{i}_points")]
