"""The typed result sections of quantity: the learning curve (``volume``) and the ledger.

Each is a :class:`nsf.study.FamilySection` and one optional field of
:class:`nsf.study.FamilySections` (the study result's extension point).
"""

from __future__ import annotations

from pydantic import Field

from nsf.study._result import FamilySection, Num, ResultModel

__all__ = ["LedgerRow", "LedgerSection", "LedgerStep", "PowerLaw", "VolumeDifference",
           "VolumePoint", "VolumeSection"]


class VolumeDifference(ResultModel):
    """A size against all the training subjects (the study's paired comparison)."""

    estimate: Num
    lower: Num
    upper: Num
    verdict: str | None = Field(description="About the subjects beyond this size: 'not shown "
                                "needed' = the smaller training set is non-inferior.")


class VolumePoint(ResultModel):
    """One point of the learning curve."""

    size: int = Field(description="Training subjects.")
    variant: str = Field(description="The arm ('baseline' for all subjects).")
    estimate: Num = Field(description="The primary metric, mean over seeds.")
    lower: Num = Field(description="Percentile interval of the arm's bootstrap replicates.")
    upper: Num
    difference: VolumeDifference | None = Field(description="Against all (None for all).")


class PowerLaw(ResultModel):
    """The inverse power law fitted to the curve, and its extrapolation."""

    fitted: bool
    reason: str | None = Field(description="Why it was not fitted (None when it was).")
    form: str
    higher_is_better: bool
    a: Num
    b: Num
    c: Num
    asymptote: Num
    at: float = Field(description="Where it is extrapolated to (people).")
    extrapolated: Num = Field(description="The metric there: an extrapolation.")
    lower: Num = Field(description="Interval of the extrapolation from the fit's uncertainty "
                       "only.")
    upper: Num
    is_extrapolation: bool = True


class VolumeSection(FamilySection):
    """The volume family's learning curve (:func:`nsf.study.families.volume.learning_curve`)."""

    metric: str
    margin: Num
    n_all: int = Field(description="Training subjects of the baseline ('all').")
    points: list[VolumePoint] = Field(description="Ascending sizes; the last is all.")
    notes: list[str] = Field(description="Default sizes left out, and why.")
    smallest_sufficient: int = Field(description="Smallest size that, with every larger one, "
                                     "is non-inferior to all (n_all when none is).")
    smallest_sufficient_fraction: float
    monotone_within_intervals: bool
    power_law: PowerLaw


class LedgerRow(ResultModel):
    """One factor of the ledger: what was sent, what was needed, and where that comes from."""

    item: str
    unit: str
    sent: Num = Field(description="As sent (None where the case has no figure).")
    needed: Num = Field(description="What a minimal design needs (point).")
    needed_upper: Num = Field(description="The same with the next larger size or longer "
                              "window of each curve.")
    source: str = Field(description="The verdict it comes from.")
    case_fact: str = Field(description="The case fact it is scaled to.")


class LedgerStep(ResultModel):
    """One bar of the waterfall from 'sent' to 'needed' (records)."""

    label: str
    delta: float = Field(description="Records added (negative: removed); a total's value.")
    kind: str = Field(description="'total' or 'step'.")
    source: str


class LedgerSection(FamilySection):
    """The data ledger (:func:`nsf.study._ledger.build_ledger`), at the case's scale."""

    rows: list[LedgerRow]
    steps: list[LedgerStep]
    notes: list[str]
    records_sent: float
    records_needed: float
    records_needed_upper: float
    fraction_needed: float
    fraction_needed_upper: float
    categories_sent: int
    categories_needed: int
    values_fraction_needed: float
    values_fraction_needed_upper: float
    training_subjects_needed: float
    history_days_needed: float
    scoring_records_needed: float
    training_records_needed: float
