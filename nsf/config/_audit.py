"""De-identification audit settings."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

#: Identifier columns of the shared users table that the audit attacks.
IDENTIFIER_COLUMNS = ("phone_hash", "email_hash")


class CoarsenRule(BaseModel):
    """One coarsening of a quasi-identifier before it is shared."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    column: str = Field(..., min_length=1, description="Column to coarsen.")
    op: Literal["year", "month", "cap", "bin", "domain", "drop"] = Field(
        ...,
        description="'year'/'month': a date to its year/month; 'cap': numbers above `value` "
        "become `value`; 'bin': numbers floored to a multiple of `value`; 'domain': a (masked) "
        "e-mail to its domain; 'drop': not shared at all.",
    )
    value: float | None = Field(
        None, gt=0, description="The cap or bin width (for 'cap' and 'bin' only)."
    )

    @model_validator(mode="after")
    def _value_matches_op(self) -> CoarsenRule:
        needs = self.op in ("cap", "bin")
        if needs and self.value is None:
            raise ValueError(f"op {self.op!r} needs a positive value")
        if not needs and self.value is not None:
            raise ValueError(f"op {self.op!r} takes no value")
        return self


class AuditConfig(BaseModel):
    """What `nsf audit` attacks and how hard."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    phone_space_start: int = Field(
        0, ge=0, le=99_999_999,
        description="First phone suffix enumerated (010 + 8 digits); with phone_space_size it "
        "selects a sub-space.",
    )
    phone_space_size: int = Field(
        100_000_000, ge=1, le=100_000_000,
        description="Phone suffixes enumerated (010 + 8 digits: 10^8 is the whole space); a "
        "smaller sub-space keeps tests and smoke runs short.",
    )
    workers: int = Field(2, ge=1, le=256, description="Processes enumerating the phone space.")
    chunk_size: int = Field(
        65_536, ge=1_024, le=1_048_576,
        description="Phone numbers hashed per vectorised pass in a worker (speed only; 2^16 is "
        "fastest on a 1-2 MB L2 cache).",
    )
    counterfactual: bool = Field(
        True,
        description="Also run the same attacks against keyed HMAC-SHA-256 with a secret the "
        "attacker lacks (the key is drawn from the seed and never logged).",
    )
    quasi_identifiers: tuple[str, ...] = Field(
        ("join_date", "id_verified", "n_cards", "masked_email", "masked_phone"),
        min_length=1,
        description="Attributes shared in the clear whose combination may single a user out "
        "(users-table columns; sensitive-table columns such as age_band only where a scenario "
        "shares them). Tenure is join date seen from the snapshot date, so it adds nothing.",
    )
    coarsen: tuple[CoarsenRule, ...] = Field(
        (
            CoarsenRule(column="join_date", op="year"),
            CoarsenRule(column="n_cards", op="cap", value=3),
            CoarsenRule(column="masked_email", op="domain"),
            CoarsenRule(column="masked_phone", op="drop"),
        ),
        description="The coarsening the study recommends, applied in order to the "
        "quasi-identifiers (YAML: a list of {column, op, value}).",
    )

    @model_validator(mode="after")
    def _fits(self) -> AuditConfig:
        end = self.phone_space_start + self.phone_space_size
        if end > 100_000_000:
            raise ValueError(
                f"phone_space_start + phone_space_size ({end}) must not exceed 100000000"
            )
        unknown = [r.column for r in self.coarsen if r.column not in self.quasi_identifiers]
        if unknown:
            raise ValueError(f"coarsen names columns not in quasi_identifiers: {unknown}")
        if len(set(self.quasi_identifiers)) != len(self.quasi_identifiers):
            raise ValueError("quasi_identifiers has duplicates")
        return self
