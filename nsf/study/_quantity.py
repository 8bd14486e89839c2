"""The typed section of the data ledger (the learning curve's section, ``volume``, is its
family's: :mod:`nsf.study.families.volume`, re-exported here).

A :class:`nsf.study.FamilySection` and one optional field of :class:`nsf.study.FamilySections`.
"""

from __future__ import annotations

from pydantic import Field

from nsf.study._section import FamilySection, Num, ResultModel
from nsf.study.families.volume import (
    PowerLaw,
    VolumeDifference,
    VolumePoint,
    VolumeSection,
)

__all__ = ["LedgerRow", "LedgerSection", "LedgerStep", "PowerLaw", "VolumeDifference",
           "VolumePoint", "VolumeSection"]


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
