"""decisions: what each variant's scores cost in money when they drive the bundle-or-charge
decision, and who pays for the difference.

The family trains nothing: it runs the study's own predictions (every arm, every seed; the
thresholds on the validation rows, the costs on the test rows) through
:func:`nsf.decisions.evaluate_decisions`. It needs what the costs need per row (purchases,
grouped charges and their amount, failed grouped charges and their amount, the horizon): a
simulated dataset carries them in its ``outcomes`` table, a user's table names them in
``policy.columns``; without them the family is skipped with its reason.
"""

from __future__ import annotations

import numpy as np

from nsf.decisions import (
    OUTCOME_COLUMNS,
    ROW_COLUMNS,
    ArmPredictions,
    CostInputs,
    DecisionsResult,
    table_cost_columns,
)
from nsf.decisions import evaluate_decisions as _evaluate
from nsf.study._section import FamilySection
from nsf.study.families.base import Family, FamilyContext, Proposal

NAME = "decisions"


class DecisionsSection(FamilySection):
    """The decisions family's section of the study result (money per 1,000 users a month)."""

    result: DecisionsResult
    arms: list[str]
    seconds: float


def cost_horizon_days(cfg, prepared) -> int | None:
    """Days each row's cost counts cover: the simulated world's horizon, or the table's
    ``policy.columns.horizon_days``."""
    if cfg.dataset.kind == "table":
        return cfg.policy.columns.horizon_days
    calendar = (prepared.manifest or {}).get("config", {}).get("calendar", {})
    horizon = calendar.get("horizon_days")
    return int(horizon) if horizon is not None else None


def applies(ctx: FamilyContext) -> str | None:
    if ctx.prepared.crossfit is not None:
        return ("the table is cross-fitted (fewer evaluation rows than study.crossfit_below): "
                "the policy's thresholds need one fixed validation split")
    rows = ctx.prepared.rows
    if not all(c in rows.columns for c in ROW_COLUMNS.values()):
        if ctx.cfg.dataset.kind == "table":
            return table_cost_columns(ctx.cfg.policy.columns)[1]
        return ("the dataset's outcomes carry no cost columns ("
                f"{', '.join(OUTCOME_COLUMNS.values())}); simulate it again with --force")
    if cost_horizon_days(ctx.cfg, ctx.prepared) is None:
        return "the dataset does not say how many days each row's costs cover"
    if ctx.prepared.validation_index.size == 0:
        return "no validation rows to set each model's threshold on"
    return None


def variants(ctx: FamilyContext) -> list[Proposal]:
    return []  # the decisions reuse every other family's predictions


FAMILY = Family(NAME, "What does dropping the data cost in money, and who bears it?",
                "cost columns per row (purchases, grouped charges, failures, amounts)",
                applies, variants)


def _inputs(prepared, index: np.ndarray, horizon: int) -> CostInputs:
    rows = prepared.rows
    return CostInputs(**{key: rows[col].to_numpy(dtype=np.float64)[index]
                         for key, col in ROW_COLUMNS.items()}, horizon_days=horizon)


def decisions_section(cfg, prepared, arms: dict[str, ArmPredictions], *, baseline: str,
                      rng: np.random.Generator,
                      sensitive: dict[str, np.ndarray]) -> DecisionsSection:
    """Run the arms' predictions through the configured policy (see the module docstring).

    ``sensitive`` maps each fairness attribute (or intersection) to the test rows' groups.
    """
    import time

    t0 = time.perf_counter()
    horizon = cost_horizon_days(cfg, prepared)
    vi, ti = prepared.validation_index, prepared.test_index
    p_true = prepared.rows["p_true"].to_numpy(dtype=np.float64)
    s = cfg.study
    result = _evaluate(
        cfg.policy, _inputs(prepared, vi, horizon), _inputs(prepared, ti, horizon), arms,
        baseline=baseline, strata=prepared.rows["nsf_appstore"].to_numpy()[ti],
        cost_margin=s.cost_margin, rng=rng, p_true_test=p_true[ti],
        p_true_validation=p_true[vi], sensitive=sensitive, n_resamples=s.n_bootstrap,
        group_n_resamples=s.fairness_n_bootstrap, confidence=s.confidence,
        target=s.interval_target, min_group_support=s.min_group_support,
        multiplicity=s.multiplicity)
    return DecisionsSection(result=result, arms=list(arms),
                            seconds=time.perf_counter() - t0)
