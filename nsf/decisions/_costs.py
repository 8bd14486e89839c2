"""What each decision costs, per evaluation row and over its horizon.

Bundled, a user's purchases go out as grouped charges: one fee per grouped charge, and a grouped
charge whose first attempt fails for insufficient funds costs its retries and collection plus
the unrecovered share of its amount (its purchases were already delivered). Charged at once,
each purchase pays its own fee and a failure simply stops that purchase, which costs nothing
more. [ASSUMPTION] the same purchases are made either way: the decision changes how they are
charged, not whether they are bought.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from nsf.config import CostColumnsConfig, PolicyConfig

#: Days in the "per month" of the money figures.
DAYS_PER_MONTH = 30
#: The money figures are per this many users.
PER_USERS = 1000
#: The ``outcomes`` columns of a simulated dataset that carry the costs' inputs.
OUTCOME_COLUMNS = {
    "purchases": "n_grouped_purchases",
    "grouped_charges": "n_grouped_charges",
    "grouped_amount": "grouped_amount",
    "failed_charges": "n_failed_charges",
    "failed_amount": "failed_charge_amount",
}

#: The same inputs as columns of the prepared rows (``PreparedData.rows``), for either door.
ROW_COLUMNS = {key: f"cost_{key}" for key in OUTCOME_COLUMNS}


@dataclass(frozen=True, eq=False)
class CostInputs:
    """Per evaluation row, what the horizon held (the inputs of both decisions' costs).

    Attributes
    ----------
    purchases : purchases carried by the grouped charges that fell due in the horizon.
    grouped_charges : those grouped charges.
    grouped_amount : their total amount (money).
    failed_charges : grouped charges whose first attempt failed for insufficient funds.
    failed_amount : their total amount (money).
    horizon_days : days each row covers.
    """

    purchases: np.ndarray
    grouped_charges: np.ndarray
    grouped_amount: np.ndarray
    failed_charges: np.ndarray
    failed_amount: np.ndarray
    horizon_days: int

    def __post_init__(self) -> None:
        n = self.purchases.shape[0]
        for name in OUTCOME_COLUMNS:
            values = getattr(self, name)
            if values.shape != (n,) or not np.isfinite(values).all() or (values < 0).any():
                raise ValueError(f"{name} must be {n} finite numbers >= 0")
        if (self.failed_charges > self.grouped_charges).any():
            raise ValueError("failed_charges cannot exceed grouped_charges")
        if not self.horizon_days >= 1:
            raise ValueError(f"horizon_days must be >= 1 (got {self.horizon_days!r})")

    def __len__(self) -> int:
        return int(self.purchases.shape[0])

    def take(self, rows: np.ndarray) -> CostInputs:
        """The inputs of ``rows`` (positions)."""
        return CostInputs(**{name: getattr(self, name)[rows] for name in OUTCOME_COLUMNS},
                          horizon_days=self.horizon_days)


def cost_inputs(frame: pd.DataFrame, columns: dict[str, str], horizon_days: int) -> CostInputs:
    """Cost inputs from a frame whose ``columns`` (keys of :data:`OUTCOME_COLUMNS` -> column
    names) carry them, e.g. a simulated dataset's ``outcomes`` with :data:`OUTCOME_COLUMNS`.

    Raises
    ------
    ValueError
        A named column is missing, or holds missing, negative or non-numeric values.
    """
    missing = sorted(c for c in columns.values() if c not in frame.columns)
    if missing:
        raise ValueError(f"cost columns missing from the data: {missing}")
    values = {}
    for name, column in columns.items():
        try:
            values[name] = pd.to_numeric(frame[column]).to_numpy(dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"cost column {column!r} is not numeric") from None
        if np.isnan(values[name]).any():
            raise ValueError(f"cost column {column!r} has missing values")
    return CostInputs(**values, horizon_days=int(horizon_days))


def table_cost_columns(columns: CostColumnsConfig) -> tuple[dict[str, str] | None, str]:
    """The cost columns a user's table declares (``policy.columns``), or None and the reason
    the decisions family does not apply."""
    named = {key: getattr(columns, key) for key in OUTCOME_COLUMNS}
    missing = sorted(key for key, column in named.items() if column is None)
    if missing or columns.horizon_days is None:
        need = [f"policy.columns.{k}" for k in [*missing, *(
            ["horizon_days"] if columns.horizon_days is None else [])]]
        return None, f"the table declares no cost columns ({', '.join(need)} not set)"
    return named, ""


@dataclass(frozen=True, eq=False)
class RowCosts:
    """Realised cost of each row under each decision (money, over the row's horizon)."""

    if_bundled: np.ndarray
    if_charged: np.ndarray
    horizon_days: int

    def of(self, bundled: np.ndarray) -> np.ndarray:
        """Each row's realised cost under the decisions ``bundled`` (True: bundle)."""
        return np.where(bundled, self.if_bundled, self.if_charged)

    @property
    def saving(self) -> np.ndarray:
        """What bundling saves on each row (negative: bundling costs more)."""
        return self.if_charged - self.if_bundled


def bundled_charges(inputs: CostInputs, policy: PolicyConfig) -> np.ndarray:
    """Grouped charges of a bundled user: the data's, or with ``policy.bundling_window_days``
    one per window of the horizon (never more than the purchases, never fewer than the
    failures)."""
    if policy.bundling_window_days is None:
        return inputs.grouped_charges
    per_horizon = np.ceil(inputs.horizon_days / policy.bundling_window_days)
    charges = np.where(inputs.purchases > 0, np.minimum(inputs.purchases, per_horizon), 0.0)
    return np.maximum(charges, inputs.failed_charges)


def row_costs(inputs: CostInputs, policy: PolicyConfig) -> RowCosts:
    """Realised cost of bundling and of charging at once, per row.

    ``if_bundled = fee * grouped charges + retry_cost * failed charges + loss_share * failed
    amount``; ``if_charged = fee * purchases``.
    """
    bundled = (policy.fee_per_charge * bundled_charges(inputs, policy)
               + policy.retry_cost * inputs.failed_charges
               + policy.loss_share * inputs.failed_amount)
    return RowCosts(bundled, policy.fee_per_charge * inputs.purchases, inputs.horizon_days)


def expected_row_costs(inputs: CostInputs, policy: PolicyConfig, prob) -> RowCosts:
    """The costs a model expects: a bundled row fails with its P(NSF) ``prob`` and then loses
    one grouped charge of its mean size (the realised grouped amount over grouped charges)."""
    p = np.asarray(prob, dtype=np.float64)
    if p.shape != (len(inputs),):
        raise ValueError(f"prob must have one value per row ({len(inputs)})")
    charges = bundled_charges(inputs, policy)
    mean_charge = np.divide(inputs.grouped_amount, inputs.grouped_charges,
                            out=np.zeros(len(inputs)), where=inputs.grouped_charges > 0)
    exposure = np.where(charges > 0, policy.retry_cost + policy.loss_share * mean_charge, 0.0)
    return RowCosts(policy.fee_per_charge * charges + p * exposure,
                    policy.fee_per_charge * inputs.purchases, inputs.horizon_days)


def per_1k_month(cost_per_row, horizon_days: int):
    """Money per row over its horizon -> money per 1,000 users per 30-day month."""
    return np.asarray(cost_per_row) * (PER_USERS * DAYS_PER_MONTH / horizon_days)
