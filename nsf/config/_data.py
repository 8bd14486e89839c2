"""What the model learns from: the dataset, the label and the train/validation/test split."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TableConfig(_Frozen):
    """The user's own table (``dataset.kind: table``): one row per id and time, a binary target.

    Attribute groups are lists of columns; every column named anywhere must exist in the file
    (checked when the table is read, with the missing names in the message).
    """

    path: Path = Field(..., description="CSV or Parquet file (or a folder of Parquet parts).")
    format: Literal["auto", "csv", "parquet"] = Field(
        "auto", description="File format; 'auto' decides from the suffix (.csv or .parquet)."
    )
    id_column: str = Field(..., min_length=1, description="Column identifying the subject.")
    target_column: str = Field(
        ..., min_length=1, description="Binary outcome column (0/1 or false/true; 1 = NSF)."
    )
    time_column: str | None = Field(
        None,
        description="Column of the observation date (needed for the out-of-time split; without "
        "it use split.kind: user).",
    )
    groups: dict[str, tuple[str, ...]] = Field(
        ..., description="Attribute groups: group name -> feature columns (none empty)."
    )
    contested_groups: tuple[str, ...] | None = Field(
        None, description="Groups whose necessity is disputed (default: all groups)."
    )
    categorical_columns: tuple[str, ...] | None = Field(
        None,
        description="Feature columns to treat as categorical (default: text and boolean columns).",
    )
    sensitive_columns: tuple[str, ...] = Field(
        (), description="Protected attributes (fairness evaluation only; never features)."
    )

    @field_validator("groups")
    @classmethod
    def _groups(cls, v: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        if not v:
            raise ValueError("needs at least one attribute group")
        empty = [g for g, cols in v.items() if not cols]
        if empty:
            raise ValueError(f"empty attribute groups: {empty}")
        seen: dict[str, str] = {}
        for g, cols in v.items():
            for c in cols:
                if c in seen:
                    raise ValueError(f"column {c!r} is in groups {seen[c]!r} and {g!r}")
                seen[c] = g
        return v

    @model_validator(mode="after")
    def _consistent(self) -> TableConfig:
        features = {c for cols in self.groups.values() for c in cols}
        keys = {self.id_column, self.target_column, self.time_column} - {None}
        clash = sorted(features & keys)
        if clash:
            raise ValueError(f"id/target/time columns cannot be features: {clash}")
        clash = sorted(features & set(self.sensitive_columns))
        if clash:
            raise ValueError(f"sensitive columns cannot be features: {clash}")
        if self.contested_groups is not None:
            unknown = sorted(set(self.contested_groups) - set(self.groups))
            if unknown:
                raise ValueError(f"contested_groups names unknown groups: {unknown}")
        if self.categorical_columns is not None:
            unknown = sorted(set(self.categorical_columns) - features)
            if unknown:
                raise ValueError(f"categorical_columns are not in any group: {unknown}")
        return self


class DatasetConfig(_Frozen):
    """Where the rows come from."""

    kind: Literal["simulated", "table"] = Field(
        "simulated",
        description="'simulated': a dataset folder written by `nsf simulate`; 'table': the "
        "user's own CSV/Parquet table described in dataset.table.",
    )
    path: Path | None = Field(
        None,
        description="Simulated dataset folder; default: the one the world config builds under "
        "simulate.data_dir (simulated first if missing).",
    )
    table: TableConfig | None = Field(None, description="The user's table (kind: table).")

    @model_validator(mode="after")
    def _kind(self) -> DatasetConfig:
        if self.kind == "table" and self.table is None:
            raise ValueError("kind 'table' needs dataset.table (path, id/target columns, groups)")
        if self.kind == "simulated" and self.table is not None:
            raise ValueError("dataset.table is only used with kind 'table'")
        return self


class TargetConfig(_Frozen):
    """The label. [ASSUMPTION] documented in CASE.md: score = round(100 x calibrated P(NSF)).

    Default: ``nsf_appstore`` (a grouped App Store charge in the next H days fails) on all
    Apple-registered rows, 0 when no charge fell due. This is the quantity the oracle's
    ``p_nsf_appstore`` measures, so oracle metrics compare like with like; restricting to rows
    with a charge (``require_charge``) changes the question to P(fail | charged).
    """

    label: Literal["nsf_appstore", "nsf_any"] = Field(
        "nsf_appstore",
        description="Training label: 'nsf_appstore' (failed grouped App Store charge) or "
        "'nsf_any' (any insufficient-funds decline: the proxy for non-Apple users).",
    )
    population: Literal["apple", "all"] = Field(
        "apple", description="Training rows: Apple-registered users only, or every user."
    )
    require_charge: bool = Field(
        False,
        description="Keep only rows with at least one grouped charge attempt in the horizon "
        "(training and test rows alike).",
    )


class SplitConfig(_Frozen):
    """Train / validation / test rows. Out-of-time by observation date by default."""

    kind: Literal["time", "user"] = Field(
        "time",
        description="'time': the last observation dates are the test rows (out of time); "
        "'user': users are split at random (all dates).",
    )
    test_dates: int = Field(1, ge=1, description="'time': number of last dates used for test.")
    validation: Literal["auto", "dates", "users"] = Field(
        "auto",
        description="'time': calibration rows are the validation_dates dates before the test "
        "dates ('dates'), or a random validation_fraction of the users on the training dates "
        "('users'); 'auto' uses dates when at least one training date remains, else users.",
    )
    validation_dates: int = Field(1, ge=1, description="Dates before the test dates.")
    validation_fraction: float = Field(
        0.25, gt=0, lt=1, description="Share of users held out for validation ('users')."
    )
    test_fraction: float = Field(
        0.25, gt=0, lt=1, description="'user' split: share of users held out for test."
    )

    @model_validator(mode="after")
    def _fractions(self) -> SplitConfig:
        if self.kind == "user" and self.validation_fraction + self.test_fraction >= 1:
            raise ValueError("validation_fraction + test_fraction must be below 1")
        return self
