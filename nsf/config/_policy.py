"""The bundle-or-charge decision the score drives, and what each outcome costs (``policy``).

Per user and horizon, Apple either bundles the user's small App Store purchases into grouped
charges (one processing fee per grouped charge, but a grouped charge that fails has already
delivered its purchases, so part of it is lost and it must be retried and collected) or charges
each purchase at once (one fee per purchase; a failure simply stops that purchase). A user is
bundled when the score is at or below a threshold. Money is in the unit of the data's amounts
(KRW for the simulated world).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from nsf.config._frozen import Frozen


class CostColumnsConfig(Frozen):
    """Columns of a user's table (``dataset.kind: table``) that carry what the costs need.

    Each is counted over the row's horizon (the period its label looks at). Without all of
    them (and ``horizon_days``) the decisions family is skipped as not applicable. A simulated
    dataset carries them in its ``outcomes`` table and ignores these names.
    """

    purchases: str | None = Field(
        None, description="Purchases the horizon's grouped charges carry (count).")
    grouped_charges: str | None = Field(
        None, description="Grouped charges that fell due in the horizon (count).")
    grouped_amount: str | None = Field(
        None, description="Total amount of those grouped charges (money).")
    failed_charges: str | None = Field(
        None, description="Grouped charges whose first attempt failed for insufficient funds "
        "(count).")
    failed_amount: str | None = Field(
        None, description="Total amount of those failed grouped charges (money).")
    horizon_days: int | None = Field(
        None, ge=1, le=366, description="Days each row's counts cover (money per month is "
        "scaled by 30 / horizon_days); a simulated dataset's is world.calendar.horizon_days.")


class PolicyConfig(Frozen):
    """The decision rule and its unit costs (the ``decisions`` family of the study)."""

    fee_per_charge: float = Field(
        300.0, ge=0, allow_inf_nan=False, description="Fixed cost of one charge (a grouped "
        "charge or a single purchase): processing fee and handling, in money units. "
        "[ASSUMPTION] KRW 300 (about USD 0.22), the order of a fixed per-transaction fee plus "
        "handling; not public.")
    bundling_window_days: int | None = Field(
        None, ge=1, le=90, description="Days a bundled user's purchases are grouped before one "
        "charge. null: the grouped charges as the data record them (the simulated world's "
        "world.behaviour.grouping_delay_days). A number replaces each row's grouped charges by "
        "min(purchases, ceil(horizon / window)) to price another window. [ASSUMPTION] null: "
        "the data's own grouping.")
    loss_share: float = Field(
        0.1, ge=0, le=1, description="Share of a failed grouped charge's amount never "
        "recovered (its purchases were already delivered). [ASSUMPTION] 10%: retries and "
        "collection recover most failed bundles; not public.")
    retry_cost: float = Field(
        200.0, ge=0, allow_inf_nan=False, description="Retry and collection cost of one failed "
        "grouped charge (retried attempts, notices, support), in money units. [ASSUMPTION] "
        "two thirds of a charge's fixed cost: the retries are automatic.")
    threshold_rule: Literal["optimal", "fixed", "bundle_rate"] = Field(
        "optimal", description="How each model's threshold is set: 'optimal' minimises the "
        "realised cost on the validation rows (an exact search over every score 0-100); "
        "'fixed' uses policy.threshold; 'bundle_rate' bundles the share "
        "policy.target_bundle_rate of the validation rows. [ASSUMPTION] optimal: the cheapest "
        "rule the data support.")
    threshold: int = Field(
        20, ge=0, le=100, description="Score at or below which a user is bundled "
        "(threshold_rule 'fixed'). [ASSUMPTION] the study's fairness operating point.")
    target_bundle_rate: float = Field(
        0.8, gt=0, lt=1, description="Share of validation rows bundled (threshold_rule "
        "'bundle_rate'): the threshold whose validation bundle rate is nearest. [ASSUMPTION] "
        "most users are safe to bundle.")
    columns: CostColumnsConfig = CostColumnsConfig()
