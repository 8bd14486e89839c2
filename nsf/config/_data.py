"""What the model learns from: the dataset, the label and the train/validation/test split."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from nsf.config._frozen import Frozen


class TableConfig(Frozen):
    """The user's own table (``dataset.kind: table``): one row per subject (and time), a binary
    target.

    Only ``path`` and ``target_column`` are required. Without ``id_column`` every row is its own
    subject (the row number); without ``groups`` every column that is not the id, target, time,
    population, sensitive or an excluded column is a feature in a group of its own. Every column
    named anywhere must exist in the file (checked when the table is read, with the missing
    names in the message).
    """

    path: Path = Field(..., description="CSV or Parquet file (or a folder of Parquet parts).")
    format: Literal["auto", "csv", "parquet"] = Field(
        "auto", description="File format; 'auto' decides from the suffix (.csv or .parquet)."
    )
    encoding: str = Field(
        "utf-8", min_length=1,
        description="Text encoding of a CSV file (e.g. 'latin-1', 'cp1252'); bytes that do not "
        "decode stop the study with the file, line and encoding named.",
    )
    na_values: tuple[str, ...] | None = Field(
        None,
        description="Cell values that mean 'missing' (compared after trimming spaces). null: "
        "the common markers '', '?', 'NA', 'N/A', 'n/a', 'NULL', 'null', 'NaN', 'nan', '-', "
        "'#N/A' (each one found is reported before the study starts); [] : only empty numeric "
        "cells are missing.",
    )
    non_numbers: Literal["missing", "refuse"] = Field(
        "missing",
        description="A text column whose values are numbers but for a few (at most "
        "1 - numeric_share of them): 'missing' reads it as numbers and the others as missing, "
        "with a warning naming the column and the values; 'refuse' stops with that line.",
    )
    numeric_share: float = Field(
        0.9, gt=0.5, le=1.0,
        description="[ASSUMPTION] A text column is mostly numbers when at least this share of "
        "its non-missing values parse as numbers (a few stray entries such as '12 units' "
        "or 'n.a.', not a category whose levels happen to be digits).",
    )
    identifier_columns: tuple[str, ...] = Field(
        (),
        description="Columns that identify a person (names, e-mails, phone numbers, hashed "
        "ids): never features, never logged. A feature column that looks like one "
        "(64-hex digests, e-mail or phone patterns, nearly one distinct text value per row) "
        "and is not declared here stops the study.",
    )
    id_column: str | None = Field(
        None, min_length=1,
        description="Column identifying the subject (null: one subject per row, the row number).",
    )
    target_column: str = Field(
        ..., min_length=1, description="Binary outcome column (two distinct values)."
    )
    positive_label: str | int | bool | None = Field(
        None,
        description="The target value meaning the outcome happened (e.g. 'bad'); null: the "
        "target must be 0/1 or false/true and 1/true is the outcome.",
    )
    outcome: str | None = Field(
        None, min_length=1, max_length=200,
        description="One line saying what the target means, for the report (null: 'the "
        "<target column> column equals <positive label>').",
    )
    positive_name: str | None = Field(
        None, min_length=1, max_length=60,
        description="Short name of a row whose outcome happened, for the report's tables (e.g. "
        "'reoffended'); null: 'positive'.",
    )
    decision: str | None = Field(
        None, min_length=1, max_length=120,
        description="What a score at or above the threshold leads to, for the report (e.g. "
        "'referred for review'); null: 'flagged as high risk'.",
    )
    subjects: str | None = Field(
        None, min_length=1, max_length=40,
        description="What a row (or subject) is, plural, for the report (e.g. 'applicants', "
        "'defendants'); null: 'rows'.",
    )
    time_column: str | None = Field(
        None,
        description="Column of the observation date (needed for the out-of-time split; without "
        "it the split is by subject).",
    )
    population_column: str | None = Field(
        None,
        description="Boolean column (0/1, false/true) marking the rows the model is evaluated "
        "on (null: every row).",
    )
    groups: dict[str, tuple[str, ...]] | None = Field(
        None, description="Attribute groups: group name -> feature columns (none empty); null: "
        "one group per feature column.",
    )
    exclude_columns: tuple[str, ...] = Field(
        (), description="Columns that are neither features nor keys (only with groups: null).",
    )
    contested_groups: tuple[str, ...] | None = Field(
        None, description="Groups whose necessity is disputed (default: all groups; a study "
        "family that needs an uncontested group then says so and is skipped).",
    )
    categorical_columns: tuple[str, ...] | None = Field(
        None,
        description="Feature columns to treat as categorical (default: text and boolean columns).",
    )
    sensitive_columns: tuple[str, ...] = Field(
        (), description="Protected attributes under their own names (fairness, proxies and the "
        "'sensitive' variant only; never features of the default model). Numeric ones (e.g. an "
        "age in years) are banded into quantile bands for fairness.",
    )
    sensitive_bands: int = Field(
        4, ge=2, le=20,
        description="[ASSUMPTION] Quantile bands of a numeric sensitive column in the fairness "
        "tables (quartiles by default).",
    )
    rare_level_rows: int = Field(
        30, ge=0,
        description="[ASSUMPTION] Levels of a sensitive column with fewer rows than this are "
        "pooled into '(pooled rare levels)' for fairness (0: none pooled).",
    )

    @field_validator("groups")
    @classmethod
    def _groups(cls, v: dict[str, tuple[str, ...]] | None) -> dict[str, tuple[str, ...]] | None:
        if v is None:
            return v
        if not v:
            raise ValueError("needs at least one attribute group (or null: one per column)")
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
        if self.id_column is not None and self.id_column == self.target_column:
            raise ValueError(f"id_column {self.id_column!r} is the target column")
        keys = {"id_column": self.id_column, "time_column": self.time_column,
                "population_column": self.population_column}
        for name, col in keys.items():
            if col is not None and col == self.target_column:
                raise ValueError(f"{name} {col!r} is the target column")
        clash = sorted(set(self.sensitive_columns) & ({*keys.values(), self.target_column}
                                                      - {None}))
        if clash:
            raise ValueError(f"sensitive columns cannot be the id/target/time/population "
                             f"column: {clash}")
        clash = sorted(set(self.identifier_columns) & ({*keys.values(), self.target_column,
                                                         *self.sensitive_columns} - {None}))
        if clash:
            raise ValueError(f"identifier_columns cannot be the id/target/time/population or a "
                             f"sensitive column: {clash}")
        if self.groups is None:
            if self.contested_groups is not None:
                unknown = sorted(set(self.contested_groups) & (
                    set(self.sensitive_columns) | set(self.exclude_columns)
                    | set(self.identifier_columns)
                    | set(keys.values()) | {self.target_column}))
                if unknown:
                    raise ValueError(f"contested_groups names non-feature columns: {unknown}")
            return self
        if self.exclude_columns:
            raise ValueError("exclude_columns is only used without groups (groups: null)")
        features = {c for cols in self.groups.values() for c in cols}
        clash = sorted(features & set(self.identifier_columns))
        if clash:
            raise ValueError(f"identifier columns cannot be features: {clash}")
        for name, col in [*keys.items(), ("target_column", self.target_column)]:
            if col is not None and col in features:
                raise ValueError(f"{name} {col!r} cannot be a feature (it is in "
                                 f"dataset.table.groups)")
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


class DatasetConfig(Frozen):
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
    verify: Literal["checksums", "rows"] = Field(
        "checksums",
        description="How a simulated dataset is checked against its manifest whenever it is "
        "read: 'checksums' (row counts and each table's content checksum) or 'rows' (row "
        "counts only: faster on large datasets; recorded with the run as this parameter).",
    )
    signing_key: SecretStr | None = Field(
        None, min_length=1,
        description="Secret key of a simulated dataset's manifest signature (HMAC-SHA256): "
        "`nsf simulate` signs the manifest with it and every reader then requires the "
        "signature, so an edit that also recomputes the manifest's plain digest is caught "
        "(for datasets shared between people). Prefer signing_key_env; the key is never "
        "written, shown or logged. Null and the variable unset: the plain digest only.",
    )
    signing_key_env: str = Field(
        "NSF_DATASET_SIGNING_KEY", min_length=1,
        description="Environment variable holding the signing key (read when signing_key is "
        "null; empty or unset: no key).",
    )

    def signing_secret(self, environ: Mapping[str, str]) -> bytes | None:
        """The signing key: ``signing_key``, else the variable ``signing_key_env`` names in
        ``environ`` (the caller passes the environment: read at the edge only), else None."""
        if self.signing_key is not None:
            return self.signing_key.get_secret_value().encode()
        value = environ.get(self.signing_key_env, "")
        return value.encode() if value else None

    @model_validator(mode="after")
    def _kind(self) -> DatasetConfig:
        if self.kind == "table" and self.table is None:
            raise ValueError("kind 'table' needs dataset.table (at least path and target_column)")
        if self.kind == "simulated" and self.table is not None:
            raise ValueError("dataset.table is only used with kind 'table'")
        return self


class TargetConfig(Frozen):
    """The label. [ASSUMPTION] documented in docs/case.md: score = round(100 x calibrated P(NSF)).

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


class SplitConfig(Frozen):
    """Train / validation / test rows. Out-of-time by observation date by default."""

    kind: Literal["auto", "time", "user"] = Field(
        "auto",
        description="'time': the last observation dates are the test rows (out of time); "
        "'user': subjects are split at random (all dates); 'auto': 'time' when the data has a "
        "time column, else 'user'.",
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
