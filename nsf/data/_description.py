"""The dataset description: one typed contract that both doors produce.

A simulated dataset carries it in its manifest (``manifest["description"]``, a plain dict written
by ``data_gen``, validated here); a user's table gets it from ``dataset.table.*`` and the column
types found when the file is read. Everything downstream (feature groups, which groups are
contested, which families of variants apply, which columns fairness is broken down by, how the
outcome is worded) reads it from here, so the simulator and a user's table are studied alike.
"""

from __future__ import annotations

import json
from typing import Final, Literal

from pydantic import ConfigDict, Field, model_validator

from nsf.config import Frozen

#: Version of the description's JSON form (bumped on an incompatible change).
DESCRIPTION_SCHEMA: Final = "nsf.dataset-description/1"

Door = Literal["simulated", "table"]


class AttributeGroup(Frozen):
    """An attribute group: the unit the study drops, keeps or coarsens."""

    name: str = Field(..., min_length=1, description="Group name.")
    columns: tuple[str, ...] = Field(
        (), description="Raw input columns of the group (empty for a simulated feed group, "
        "whose features the feed registry derives from the dataset's windows).")
    contested: bool = Field(..., description="Whether the group's necessity is disputed.")
    meaning: str = Field("", description="One line for the report.")
    coarse: bool = Field(False, description="Whether the group has a coarse version.")


class FeedFeature(Frozen):
    """One shared column of a feed as the data's writer describes it: the feature derived from
    it (or why none is), its group, source category and coarse version."""

    name: str = Field(..., min_length=1, description="Feature name in the model.")
    group: str = Field(..., min_length=1, description="Its attribute group.")
    category: str = Field(..., description="The shared category it comes from, e.g. "
                          "'7 pay_money_balance'.")
    sources: tuple[str, ...] = Field(..., min_length=1, description="Raw columns it is "
                                     "computed from.")
    kind: Literal["numeric", "categorical", "excluded"] = Field(
        ..., description="'numeric', 'categorical' or 'excluded' (shared but not a feature).")
    op: str = Field("value", description="How it is computed from its sources (see "
                    "nsf.features.FeatureSpec).")
    window: int | None = Field(None, description="History window in days, if windowed.")
    coarsen: str = Field("none", description="Its coarse version (see "
                         "nsf.features.FeatureSpec; 'none': already coarse).")
    note: str = Field("as shared", description="Derivation, or why it is excluded.")


class SharedCategory(Frozen):
    """One category of shared data (the case's list and the project's choice)."""

    number: int = Field(..., ge=1, description="Its number in the list.")
    name: str = Field(..., min_length=1, description="Its name.")
    public: bool = Field(..., description="Whether the public record names it.")
    source: str = Field(..., description="'CASE' or 'ASSUMPTION'.")
    meaning: str = Field("", description="One line for the report.")
    columns: tuple[str, ...] = Field((), description="Its columns (windowed ones carry "
                                     "'{w}').")


class SensitiveColumn(Frozen):
    """A protected attribute under its own name (fairness, proxies, 'sensitive' variants)."""

    name: str = Field(..., min_length=1, description="Column name, as in the data.")
    kind: Literal["numeric", "categorical"] = Field(
        ..., description="'numeric' (banded into quantile bands for fairness, used as a number "
        "by the sensitive variant) or 'categorical' (used as it is).")
    bands: int | None = Field(
        None, ge=2, le=20, description="Quantile bands of a numeric column for fairness.")


class DatasetDescription(Frozen):
    """What a dataset is: its subject id, target, groups, sensitive columns and outcome.

    Attributes are read, never re-derived from the current code, so a description logged with
    a study says what that study saw.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    schema_: Literal["nsf.dataset-description/1"] = Field(
        DESCRIPTION_SCHEMA, alias="schema", description="Version of this description's form.")
    door: Door = Field(..., description="How the data came in: 'simulated' or 'table'.")
    id_column: str | None = Field(
        None, description="Column identifying the subject (None: one subject per row, the row "
        "number).")
    target_column: str = Field(..., min_length=1, description="The outcome column.")
    positive_label: str | int | bool = Field(
        1, description="The target value that counts as the outcome happening.")
    time_column: str | None = Field(None, description="Observation date column, if any.")
    population_column: str | None = Field(
        None, description="Boolean column marking the evaluation population, if any.")
    proxy_label_column: str | None = Field(
        None, description="A label defined outside the evaluation population (the population "
        "family trains on every row with it), if any.")
    groups: tuple[AttributeGroup, ...] = Field(..., min_length=1, description="Attribute groups.")
    sensitive: tuple[SensitiveColumn, ...] = Field(
        (), description="Protected attributes, never features of the default model.")
    rare_level_rows: int = Field(
        0, ge=0, description="Levels of a sensitive column with fewer rows than this are pooled "
        "into '(pooled rare levels)' for fairness (0: none pooled).")
    windows: tuple[int, ...] = Field(
        (), description="History windows (days) of windowed aggregates; empty: none.")
    outcome: str = Field(..., min_length=1, description="One line: what the target means.")
    population: str = Field(
        "every row", description="One line: which rows the model is evaluated on.")
    positive_name: str = Field(
        "positive", min_length=1,
        description="Short name of a row whose outcome happened, for the report's tables.")
    decision: str = Field(
        "flagged as high risk", min_length=1,
        description="What a score at or above the threshold leads to, for the report.")
    subjects: str = Field("rows", min_length=1, description="What a row is, plural.")
    missing_share: dict[str, float] = Field(
        default_factory=dict,
        description="Share of missing values of each feature and sensitive column as read "
        "(a table's; empty for a simulated dataset).")
    reading_notes: tuple[str, ...] = Field(
        (), description="What reading the table found and did (missing-value markers, "
        "numbers read from text, integer columns that may be categories), one line each.")
    features: tuple[FeedFeature, ...] = Field(
        (), description="A feed's shared columns and the features derived from them, in "
        "feature order (a simulated dataset's; a table's features are its groups' columns).")
    categories: tuple[SharedCategory, ...] = Field(
        (), description="The categories of shared data the features come from (a simulated "
        "dataset's).")
    coarse_bands: dict[str, tuple[int, ...]] = Field(
        default_factory=dict, description="Parameters of the coarse versions: "
        "'amount_band' -> band edges, 'count_cap' -> (the cap,).")

    @model_validator(mode="after")
    def _consistent(self) -> DatasetDescription:
        names = [g.name for g in self.groups]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"attribute groups named twice: {dup}")
        sens = [s.name for s in self.sensitive]
        dup = sorted({n for n in sens if sens.count(n) > 1})
        if dup:
            raise ValueError(f"sensitive columns named twice: {dup}")
        unknown = sorted({f.group for f in self.features} - set(names))
        if unknown:
            raise ValueError(f"features in undeclared groups: {unknown}")
        features = {c for g in self.groups for c in g.columns}
        clash = sorted(features & set(sens))
        if clash:
            raise ValueError(f"sensitive columns cannot be features: {clash}")
        keys = {self.id_column, self.target_column, self.time_column,
                self.population_column} - {None}
        clash = sorted(features & keys)
        if clash:
            raise ValueError(f"id/target/time/population columns cannot be features: {clash}")
        if self.id_column is not None and self.id_column == self.target_column:
            raise ValueError(f"the id column {self.id_column!r} is the target column")
        return self

    # -- views -----------------------------------------------------------------------------
    @property
    def group_names(self) -> tuple[str, ...]:
        return tuple(g.name for g in self.groups)

    @property
    def contested_groups(self) -> tuple[str, ...]:
        return tuple(g.name for g in self.groups if g.contested)

    @property
    def uncontested_groups(self) -> tuple[str, ...]:
        return tuple(g.name for g in self.groups if not g.contested)

    @property
    def sensitive_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.sensitive)

    def sensitive_kinds(self) -> dict[str, str]:
        """Sensitive column -> 'numeric' or 'categorical'."""
        return {s.name: s.kind for s in self.sensitive}

    def with_contested(self, contested) -> DatasetDescription:
        """A copy where exactly ``contested`` groups are contested (None: unchanged)."""
        if contested is None:
            return self
        contested = set(contested)
        unknown = sorted(contested - set(self.group_names))
        if unknown:
            raise ValueError(f"features.contested_groups: unknown attribute groups {unknown} "
                             f"(known: {', '.join(self.group_names)})")
        groups = tuple(g.model_copy(update={"contested": g.name in contested})
                       for g in self.groups)
        return self.model_copy(update={"groups": groups})

    def check_sensitive(self, names, field: str) -> None:
        """Raise ``ValueError`` naming ``field`` if a name is not a sensitive column."""
        unknown = [n for n in names if n not in self.sensitive_names]
        if unknown:
            known = ", ".join(self.sensitive_names) or "none declared"
            raise ValueError(f"{field}: {unknown} are not sensitive columns of this dataset "
                             f"(has: {known})")

    # -- serialisation ---------------------------------------------------------------------
    def to_dict(self) -> dict:
        """JSON-ready dict (the form logged as ``dataset_description.json``)."""
        return self.model_dump(mode="json", by_alias=True)

    def to_json(self) -> str:
        """The description as indented JSON (the ``dataset_description.json`` artifact)."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=False) + "\n"

    @classmethod
    def from_dict(cls, data: dict) -> DatasetDescription:
        """Validate a plain dict (a manifest's ``description`` or a logged artifact)."""
        return cls.model_validate(data)


def description_from_manifest(manifest: dict) -> DatasetDescription:
    """The description a simulated dataset's manifest carries.

    Raises
    ------
    ValueError
        If the manifest has no description, or it does not validate.
    """
    data = manifest.get("description")
    if data is None:
        raise ValueError("the manifest holds no dataset description (a dataset written before "
                         "descriptions; rebuild it with `nsf simulate --force`)")
    return DatasetDescription.from_dict(data)
