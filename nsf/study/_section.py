"""The bases of the study result's parts, apart so that a family's module can subclass them
without importing the whole result (whose ``FamilySections`` imports the family's section)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

#: A number of the result: a plain float, or None when undefined (never NaN).
Num = float | None


class ResultModel(BaseModel):
    """Base of every part of the result: frozen, no unknown fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class FamilySection(ResultModel):
    """Base of a family's own typed section (see :mod:`nsf.study._result`)."""
