"""Which features the model sees (by attribute group)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class FeaturesConfig(BaseModel):
    """Feature selection by attribute group (the registry lists groups: ``nsf features``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    retention_days: int | None = Field(
        None, ge=1,
        description="History the recipient keeps: only windowed aggregates over at most this "
        "many days are used (null: every window in the feed).",
    )
    drop_groups: tuple[str, ...] = Field((), description="Attribute groups left out.")
    coarsen_groups: tuple[str, ...] = Field(
        (), description="Attribute groups replaced by their coarse version (bands, years, ...)."
    )
    sensitive: tuple[str, ...] = Field(
        (),
        description="Sensitive columns of the dataset description added as features (study "
        "only, never the default model), by their own names.",
    )
    contested_groups: tuple[str, ...] | None = Field(
        None, description="Override which groups count as contested (null: the registry's)."
    )

    @model_validator(mode="after")
    def _disjoint(self) -> FeaturesConfig:
        both = sorted(set(self.drop_groups) & set(self.coarsen_groups))
        if both:
            raise ValueError(f"groups both dropped and coarsened: {both}")
        return self
