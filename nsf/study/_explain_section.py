"""The typed explanations section of the study result (built by :mod:`nsf.study._explain`).

Imported by :mod:`nsf.study._result` only, after the base classes it builds on.
"""

from __future__ import annotations

from pydantic import Field

from nsf.study._section import FamilySection, ResultModel

Num = float | None


class StabilityPair(ResultModel):
    a: str
    b: str
    correlation: Num
    lower: Num
    upper: Num
    stable: bool | None


class WithheldGroup(ResultModel):
    group: str
    decision_unchanged: Num = Field(description="Share of test rows whose decision stays the "
                                    "same with the group withheld from them alone (mean over "
                                    "seeds).")
    band_unchanged: Num = Field(description="Share whose score band stays the same.")
    both_unchanged: Num = Field(description="Share whose decision and band both stay.")
    score_unchanged: Num = Field(description="Share whose 0-100 score stays the same.")
    mean_abs_change: Num = Field(description="Mean absolute score change (points).")


class ExplanationsSection(FamilySection):
    """SHAP views of the baseline, stability of its reliance ranking, per-person view."""

    method: str = Field(description="How the SHAP values were computed.")
    rows: int = Field(description="Test rows explained (the same rows for every seed).")
    stability_method: str
    stability_threshold: float = Field(description="A pair of seeds agrees enough to act on "
                                       "when the lower end of its interval reaches this.")
    stability_level: float
    stability: list[StabilityPair] = Field(description="Every pair of baseline seeds.")
    stable: bool | None = Field(description="Every pair stable (None: fewer than two seeds).")
    withheld: list[WithheldGroup]
    n_test_rows: int | None = None
    threshold: int = Field(description="Operating threshold of the decisions.")
    views: dict = Field(description="Data of the beeswarm, dependence and waterfall views "
                        "(first seed; nsf.explain.explanation_views).")
