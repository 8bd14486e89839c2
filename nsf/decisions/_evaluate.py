"""Every arm's scores run through the bundle-or-charge policy, in money, with intervals.

One call takes each arm's validation and test predictions per training seed (the study's, no
new fits), sets each seed's threshold on the validation rows, and returns the costs on the test
rows beside three anchors on the same rows ("bundle no one", "bundle everyone" and the oracle
policy from the true probability), the difference of each variant to the baseline with a
non-inferiority verdict in money, the decision churn, and a table per sensitive group.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from fairlearn.metrics import MetricFrame, count

from nsf.config import Frozen, PolicyConfig
from nsf.decisions._churn import (
    SwapShares,
    mean_psi,
    migration_table,
    seed_churn,
    seed_psi,
    swap_shares,
)
from nsf.decisions._costs import CostInputs, expected_row_costs, per_1k_month, row_costs
from nsf.decisions._threshold import bundle, choose_threshold, optimal_threshold, scores_of
from nsf.metrics import (
    INCONCLUSIVE,
    DifferenceInterval,
    crossed_replicates,
    holm_verdicts,
    non_inferiority_verdict,
    percentile_bounds,
    ratio_difference,
    ratio_intervals,
    safe_divide,
    simultaneous_intervals,
)

#: Per-group metrics of the decisions (the columns of the group tables).
GROUP_METRICS = ("bundle_rate", "refused_safe_rate", "failure_among_bundled", "cost_per_1k")
#: Anchors: fixed policies on the same rows.
ANCHORS = ("bundle_no_one", "bundle_everyone", "oracle")


class Interval(Frozen):
    """A point estimate and its interval (over test rows, and training seeds for models)."""

    estimate: float | None
    lower: float | None
    upper: float | None

    @classmethod
    def of(cls, d: DifferenceInterval, scale: float = 1.0) -> Interval:
        def num(x: float) -> float | None:
            return float(x) * scale if np.isfinite(x) else None
        return cls(estimate=num(d.estimate), lower=num(d.lower), upper=num(d.upper))


class Swap(Frozen):
    """Share of rows whose decision differs (mean over seed pairs)."""

    swap: float
    to_charged: float
    to_bundled: float
    pairs: int

    @classmethod
    def of(cls, s: SwapShares) -> Swap:
        return cls(swap=s.swap, to_charged=s.to_charged, to_bundled=s.to_bundled, pairs=s.pairs)


class PolicyCost(Frozen):
    """One policy (an anchor or a model arm) on the test rows."""

    name: str
    cost_per_1k: Interval
    bundle_rate: float
    thresholds: list[int]
    expected_cost_per_1k: float | None = None
    threshold_rows: str = "validation"
    oracle_gap_per_1k: Interval | None = None
    per_seed_cost_per_1k: list[float] = []  # noqa: RUF012 (pydantic copies defaults)


class Comparison(Frozen):
    """A variant against the baseline (variant minus baseline).

    ``verdict`` is decided as ``decided_by`` says: by the interval that holds jointly over
    every variant of the family (``cost_diff_simultaneous``), by Holm's procedure, or by the
    comparison's own interval (``cost_diff_per_1k``, whose verdict is
    ``per_comparison_verdict``).
    """

    variant: str
    cost_diff_per_1k: Interval
    verdict: str
    cost_diff_simultaneous: Interval | None = None
    per_comparison_verdict: str | None = None
    decided_by: str | None = None
    swap: Swap
    psi: float
    migration: list[list[float]]
    oracle_gap_per_1k: Interval | None = None


class GroupRow(Frozen):
    """One sensitive group under one arm: seed-averaged metrics with intervals."""

    attribute: str
    group: str
    arm: str
    n: int
    small: bool
    metrics: dict[str, Interval]
    change: dict[str, Interval] = {}  # noqa: RUF012 (pydantic copies defaults)


class DecisionsResult(Frozen):
    """What :func:`evaluate_decisions` returns (money per 1,000 users per 30-day month)."""

    policy: dict
    horizon_days: int
    n_test: int
    n_validation: int
    baseline: str
    anchors: list[PolicyCost]
    arms: list[PolicyCost]
    comparisons: list[Comparison]
    seed_churn: Swap | None
    seed_psi: float | None
    groups: list[GroupRow]
    flags: list[dict]
    oracle_note: str = ""


@dataclass(frozen=True, eq=False)
class ArmPredictions:
    """One arm's calibrated P(NSF) per training seed on the validation and the test rows."""

    validation: Sequence[np.ndarray] = field(repr=False)
    test: Sequence[np.ndarray] = field(repr=False)

    def __post_init__(self) -> None:
        if not self.test or len(self.validation) != len(self.test):
            raise ValueError("an arm needs validation and test predictions for each seed")


def _failed(inputs: CostInputs) -> np.ndarray:
    return inputs.failed_charges > 0


def _group_metrics_from_sums(n, n_failed, bundled_failed, bundled_safe, cost):
    """:data:`GROUP_METRICS` from a group's (weighted) sums: rows, failed rows, and per
    arm-seed column the bundled failed rows, bundled safe rows and cost. Returns
    ``(..., n_columns, 4)``; NaN where a rate has no rows."""
    n = np.asarray(n, dtype=np.float64)[..., None]
    n_failed = np.asarray(n_failed, dtype=np.float64)[..., None]
    safe = n - n_failed
    bundled = bundled_failed + bundled_safe
    out = np.stack([safe_divide(bundled, n * np.ones_like(bundled)),
                    safe_divide(safe - bundled_safe, safe * np.ones_like(bundled)),
                    safe_divide(bundled_failed, bundled),
                    safe_divide(cost, n * np.ones_like(cost))], axis=-1)
    return out


class _GroupSums:
    """Per arm-seed column, the per-row values whose group sums give every group metric:
    bundled and failed, bundled and safe, cost (money per 1,000 users per month)."""

    def __init__(self, decisions: list[np.ndarray], costs: list[np.ndarray],
                 failed: np.ndarray):
        f = failed.astype(np.float64)
        b = np.column_stack(decisions).astype(np.float64)
        self.failed = f
        self.values = np.concatenate([b * f[:, None], b * (1.0 - f[:, None]),
                                      np.column_stack(costs)], axis=1)
        # The bootstrap's sums in single precision (twice as fast; a replicate's relative
        # error stays below 1e-6, far inside any interval); point values in double.
        self.values32 = self.values.astype(np.float32)
        self.m = b.shape[1]

    def metrics(self, weights: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Group metrics of the rows ``rows`` for each weight vector: ``(r, m, 4)``."""
        w = weights[:, rows]
        if weights.dtype == np.float32:
            sums = (w @ self.values32[rows]).astype(np.float64)
        else:
            sums = w @ self.values[rows]
        m = self.m
        return _group_metrics_from_sums(w.sum(axis=1), w @ self.failed[rows], sums[:, :m],
                                        sums[:, m:2 * m], sums[:, 2 * m:])

    def metric_frame_function(self):
        """A MetricFrame metric: a group's metrics (flattened ``(m, 4)``) from its rows."""
        def group_metrics(y_true, y_pred) -> np.ndarray:
            rows = np.asarray(y_pred, dtype=np.int64)
            return self.metrics(np.ones((1, self.failed.size)), rows)[0].ravel()
        return group_metrics


def _cost_verdict(diff: Interval, cost_margin: float) -> str:
    """The verdict on a rise of the realised cost; an undefined interval decides nothing."""
    if diff.lower is None or diff.upper is None:
        return INCONCLUSIVE
    return non_inferiority_verdict(diff.lower, diff.upper, cost_margin, higher_is_better=False)


def _group_tables(
    arms: dict[str, list[np.ndarray]], costs: dict[str, list[np.ndarray]], failed: np.ndarray,
    sensitive: Mapping[str, np.ndarray], *, baseline: str, strata: np.ndarray,
    n_resamples: int, confidence: float, target: Literal["mean", "single"],
    rng: np.random.Generator, min_support: int,
) -> tuple[list[GroupRow], list[dict]]:
    """Per sensitive attribute: MetricFrame point values per group and arm (seed means);
    intervals and changes against the baseline from one paired bootstrap over rows and seeds
    of every arm and group of the attribute."""
    names = list(arms)
    seeds_of: dict[str, list[int]] = {}
    columns: list[tuple[np.ndarray, np.ndarray]] = []
    for name in names:
        seeds_of[name] = list(range(len(columns), len(columns) + len(arms[name])))
        columns.extend(zip(arms[name], costs[name], strict=True))
    sums = _GroupSums([c[0] for c in columns], [c[1] for c in columns], failed)
    m, k = sums.m, len(GROUP_METRICS)
    n = failed.shape[0]
    # Every group of every attribute: MetricFrame's point values and the rows of the group.
    cells = []  # (attribute, group, rows, n, point (m, k))
    for attribute, labels in sensitive.items():
        labels = np.asarray(labels).astype(str)
        frame = MetricFrame(metrics={"n": count, "decisions": sums.metric_frame_function()},
                            y_true=failed, y_pred=np.arange(n),
                            sensitive_features=pd.Series(labels, name=attribute))
        for group in frame.by_group.index:
            cells.append((attribute, str(group), np.flatnonzero(labels == group),
                          int(frame.by_group.loc[group, "n"]),
                          np.asarray(frame.by_group.loc[group, "decisions"]).reshape(m, k)))

    def evaluate(counts: np.ndarray) -> np.ndarray:
        counts = counts.astype(np.float32)
        return np.concatenate([sums.metrics(counts, cell[2]).reshape(counts.shape[0], m * k)
                               for cell in cells], axis=1)

    # One bootstrap for all attributes: column (cell g, arm-seed c, metric j) is
    # g * m * k + c * k + j; one seed-averaged replicate vector per (cell, arm, metric).
    arm_columns = [[g * m * k + c * k + j for c in seeds_of[name]]
                   for g in range(len(cells)) for name in names for j in range(k)]
    reps = np.stack(crossed_replicates(
        evaluate, arm_columns, strata, n_resamples=n_resamples, rng=rng, target=target,
        name="decisions by group", undefined="keep")).reshape(len(cells), len(names), k, -1)
    base = names.index(baseline)
    changes = reps - reps[:, base:base + 1]
    # NaN replicates (a rate undefined in some resample) give NaN bounds, shown as none.
    bounds = np.stack(percentile_bounds(np.stack([reps, changes]), confidence, axis=-1))

    def interval(estimate: float, which: int, g: int, a: int, j: int) -> Interval:
        lower, upper = bounds[0, which, g, a, j], bounds[1, which, g, a, j]
        if not np.isfinite(estimate):
            return Interval(estimate=None, lower=None, upper=None)
        ok = np.isfinite(lower) and np.isfinite(upper)
        return Interval(estimate=float(estimate), lower=float(lower) if ok else None,
                        upper=float(upper) if ok else None)

    rows_out: list[GroupRow] = []
    for g, (attribute, group, _rows, size, point) in enumerate(cells):
        means = np.stack([point[seeds_of[name]].mean(axis=0) for name in names])
        for a, name in enumerate(names):
            metrics = {metric: interval(means[a, j], 0, g, a, j)
                       for j, metric in enumerate(GROUP_METRICS)}
            change = {} if name == baseline else {
                metric: interval(means[a, j] - means[base, j], 1, g, a, j)
                for j, metric in enumerate(GROUP_METRICS)}
            rows_out.append(GroupRow(attribute=attribute, group=group, arm=name, n=size,
                                     small=size < min_support, metrics=metrics,
                                     change=change))
    return rows_out, _flags(rows_out, names, baseline)


def _flags(rows: list[GroupRow], names: list[str], baseline: str) -> list[dict]:
    """The largest change of each metric per variant among groups with enough support."""
    flags = []
    for name in names:
        if name == baseline:
            continue
        for metric in GROUP_METRICS:
            changes = [(abs(r.change[metric].estimate or 0.0), r) for r in rows
                       if r.arm == name and not r.small
                       and r.change[metric].estimate is not None]
            if not changes:
                continue
            top = max(changes, key=lambda c: c[0])[1]
            ch = top.change[metric]
            excludes_zero = (ch.lower is not None and ch.upper is not None
                             and (ch.lower > 0 or ch.upper < 0))
            flags.append({"variant": name, "metric": metric, "attribute": top.attribute,
                          "group": top.group, "change": ch.estimate, "lower": ch.lower,
                          "upper": ch.upper, "interval_excludes_zero": bool(excludes_zero)})
    return flags


def _family(diffs: dict[str, DifferenceInterval], *, scale: float, cost_margin: float,
            confidence: float, method: str):
    """The simultaneous intervals of every variant's cost difference (unscaled), and Holm's
    verdicts for ``method="holm"``; None without a comparison or with undefined replicates."""
    if not diffs:
        return None
    replicates = np.column_stack([d.replicates for d in diffs.values()])
    if not np.isfinite(replicates).all():
        return None
    family = simultaneous_intervals(replicates, confidence=confidence, method=method)
    # A cost is a loss: the verdicts' orientation (a negative value is the loss) negates it.
    holm = holm_verdicts(-replicates, cost_margin / scale, confidence=confidence) \
        if method == "holm" else None
    return family, holm


def evaluate_decisions(
    policy: PolicyConfig,
    validation: CostInputs,
    test: CostInputs,
    arms: Mapping[str, ArmPredictions],
    *,
    baseline: str,
    strata,
    cost_margin: float,
    rng: np.random.Generator,
    p_true_test=None,
    p_true_validation=None,
    sensitive: Mapping[str, np.ndarray] | None = None,
    n_resamples: int = 1000,
    group_n_resamples: int = 400,
    confidence: float = 0.95,
    target: Literal["mean", "single"] = "mean",
    min_group_support: int = 30,
    multiplicity: str = "max_statistic",
) -> DecisionsResult:
    """Cost, churn and group tables of every arm's decisions on the test rows.

    Parameters
    ----------
    policy : the decision rule and unit costs.
    validation, test : the cost inputs of the validation and the test rows.
    arms : per arm name, its predictions per seed (validation rows, test rows), in the order of
        ``validation`` and ``test``; must include ``baseline``.
    baseline : the arm the variants are compared with.
    strata : per test row, the stratum of the row resamples (the NSF label, as for AUC).
    cost_margin : largest tolerated rise of the cost, money per 1,000 users per month.
    rng : source of the bootstrap streams (spawned: overall, then one per attribute).
    p_true_test, p_true_validation : the true P(NSF) (simulated data), for the oracle policy;
        its threshold is set on the validation rows when they have it, else on the test rows.
    sensitive : per attribute (or intersection), each test row's group label.
    n_resamples, group_n_resamples, confidence, target : the intervals (see
        :func:`nsf.metrics.ratio_intervals`).
    min_group_support : groups with fewer test rows are shown and marked, not flagged.
    multiplicity : how the verdicts of all the variants control the family-wise error at
        ``confidence`` (:data:`nsf.metrics.MULTIPLICITY`; see
        :func:`nsf.metrics.simultaneous_intervals`).

    Returns
    -------
    DecisionsResult
    """
    if baseline not in arms:
        raise ValueError(f"baseline {baseline!r} is not among the arms {sorted(arms)}")
    if not cost_margin >= 0:
        raise ValueError(f"cost_margin must be >= 0 (got {cost_margin!r})")
    strata = np.asarray(strata)
    n = len(test)
    if strata.shape != (n,):
        raise ValueError(f"strata must have one value per test row ({n})")
    horizon = test.horizon_days
    scale = float(per_1k_month(1.0, horizon))
    val_costs, test_costs = row_costs(validation, policy), row_costs(test, policy)

    decisions: dict[str, list[np.ndarray]] = {}
    thresholds: dict[str, list[int]] = {}
    expected: dict[str, float] = {}
    for name, pred in arms.items():
        thresholds[name], decisions[name], exp = [], [], []
        for p_val, p_test in zip(pred.validation, pred.test, strict=True):
            t = choose_threshold(scores_of(p_val), val_costs.saving, policy)
            b = bundle(scores_of(p_test), t)
            thresholds[name].append(t)
            decisions[name].append(b)
            exp.append(expected_row_costs(test, policy, p_test).of(b).mean())
        expected[name] = float(np.mean(exp)) * scale

    # Anchors: columns 0, 1 (and 2, the oracle); then every arm's seeds.
    columns = [test_costs.if_charged, test_costs.if_bundled]
    anchor_specs = [("bundle_no_one", 0.0, [-1]), ("bundle_everyone", 1.0, [100])]
    oracle_note = ""
    p_true = None if p_true_test is None else np.asarray(p_true_test, dtype=np.float64)
    if p_true is not None and np.isfinite(p_true).all() and p_true.shape == (n,):
        pv = None if p_true_validation is None else np.asarray(p_true_validation, np.float64)
        if pv is not None and pv.shape == (len(validation),) and np.isfinite(pv).all():
            t_oracle = optimal_threshold(scores_of(pv), val_costs.saving)
            rows_used = "validation"
        else:
            t_oracle = optimal_threshold(scores_of(p_true), test_costs.saving)
            rows_used = "test"
            oracle_note = ("the true probability exists on the test rows only: the oracle's "
                           "threshold is the cheapest on those rows (a ceiling, in sample)")
        oracle_bundled = bundle(scores_of(p_true), t_oracle)
        columns.append(test_costs.of(oracle_bundled))
        anchor_specs.append(("oracle", float(oracle_bundled.mean()), [t_oracle]))
    else:
        rows_used = ""
        oracle_note = "no true probability on every test row: no oracle policy"
    arm_columns = [[i] for i in range(len(columns))]
    for name in arms:
        cols = []
        for b in decisions[name]:
            cols.append(len(columns))
            columns.append(test_costs.of(b))
        arm_columns.append(cols)
    overall_rng, group_rng = rng.spawn(2)
    costs = np.column_stack(columns)
    intervals = ratio_intervals(costs, np.ones_like(costs), arm_columns, strata=strata,
                                n_resamples=n_resamples, confidence=confidence,
                                rng=overall_rng, target=target, name="cost_per_1k")[0]
    anchors = [PolicyCost(name=name, cost_per_1k=Interval.of(intervals[i], scale),
                          bundle_rate=rate, thresholds=ts,
                          threshold_rows=rows_used if name == "oracle" else "")
               for i, (name, rate, ts) in enumerate(anchor_specs)]
    k0 = len(anchor_specs)
    arm_intervals = dict(zip(arms, intervals[k0:], strict=True))
    has_oracle = k0 == 3
    arm_results = [PolicyCost(
        name=name, cost_per_1k=Interval.of(arm_intervals[name], scale),
        bundle_rate=float(np.mean([b.mean() for b in decisions[name]])),
        thresholds=thresholds[name], expected_cost_per_1k=expected[name],
        oracle_gap_per_1k=None if not has_oracle else Interval.of(
            ratio_difference(arm_intervals[name], intervals[2]), scale),
        per_seed_cost_per_1k=[float(x) * scale for x in arm_intervals[name].per_seed_b])
        for name in arms]

    base_probs = list(arms[baseline].test)
    # Churn and stability are measured on the 0-100 scores the decision sees: calibrated
    # probabilities are step functions whose steps move between seeds without changing a score.
    base_scores = [scores_of(p) for p in base_probs]
    comparisons = []
    diffs = {name: ratio_difference(arm_intervals[baseline], arm_intervals[name])
             for name in arms if name != baseline}
    family = _family(diffs, scale=scale, cost_margin=cost_margin, confidence=confidence,
                     method=multiplicity)
    for k, (name, pred) in enumerate((n, p) for n, p in arms.items() if n != baseline):
        diff = diffs[name]
        d = Interval.of(diff, scale)
        own = _cost_verdict(d, cost_margin)
        verdict, simultaneous, decided_by = own, None, "per_comparison"
        if family is not None:
            intervals_k, holm = family
            simultaneous = Interval(estimate=d.estimate,
                                    lower=float(intervals_k.lower[k]) * scale,
                                    upper=float(intervals_k.upper[k]) * scale)
            if holm is not None:
                verdict, decided_by = holm[k], "holm"
            elif multiplicity == "max_statistic":
                verdict = _cost_verdict(simultaneous, cost_margin)
                decided_by = "simultaneous"
        gap = None if not has_oracle else Interval.of(
            ratio_difference(arm_intervals[name], intervals[2]), scale)
        comparisons.append(Comparison(
            variant=name, cost_diff_per_1k=d, verdict=verdict,
            cost_diff_simultaneous=simultaneous, per_comparison_verdict=own,
            decided_by=decided_by,
            swap=Swap.of(swap_shares(decisions[baseline], decisions[name])),
            psi=mean_psi(base_scores, [scores_of(p) for p in pred.test]),
            migration=migration_table(
                scores_of(np.mean(base_probs, axis=0)),
                scores_of(np.mean(list(pred.test), axis=0))).round(6).tolist(),
            oracle_gap_per_1k=gap))
    churn = seed_churn(decisions[baseline])

    groups: list[GroupRow] = []
    flags: list[dict] = []
    if sensitive:
        per_arm_costs = {name: [test_costs.of(b) * scale for b in decisions[name]]
                         for name in arms}
        groups, flags = _group_tables(
            decisions, per_arm_costs, _failed(test), sensitive, baseline=baseline,
            strata=strata, n_resamples=group_n_resamples, confidence=confidence, target=target,
            rng=group_rng, min_support=min_group_support)
    return DecisionsResult(
        policy=policy.model_dump(mode="json"), horizon_days=horizon, n_test=n,
        n_validation=len(validation), baseline=baseline, anchors=anchors, arms=arm_results,
        comparisons=comparisons, seed_churn=None if churn is None else Swap.of(churn),
        seed_psi=seed_psi(base_scores), groups=groups, flags=flags, oracle_note=oracle_note)
