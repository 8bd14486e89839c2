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

import io
from typing import Any

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
from nsf.streams import stream
from nsf.study._fairness import attribute_groups
from nsf.study._section import FamilySection
from nsf.study.families.base import BASELINE, Family, FamilyContext, Proposal, StudyRun
from nsf.views import FamilyView, decided_by_cell, verdict_cell
from nsf.vocabulary import INCONCLUSIVE, NEEDED, NOT_SHOWN_NEEDED

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
    if horizon is None:  # applies() leaves the family out of such a study
        raise ValueError("the dataset does not say how many days each row's costs cover")
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


def run_decisions(run: StudyRun, attributes: dict) -> DecisionsSection:
    """The family's procedure in the study: every arm's predictions through the policy (no new
    fits); the money metrics added to each arm's own fit runs."""
    cfg, prepared = run.cfg, run.prepared
    arms, runs = {}, {}
    for v in [run.baseline, *run.variants]:
        outs = [run.outcomes[k] for k in run.keys(v)]
        validation = []
        for o in outs:
            if o.p_validation is None:  # never: the study keeps no fit without them here
                raise RuntimeError(f"fit {o.key} has no validation predictions")
            validation.append(o.p_validation)
        arms[v.name] = ArmPredictions(validation, [o.p_test for o in outs])
        # A fit shared with an earlier arm keeps that arm's metrics.
        runs[v.name] = [o.run_id if o.variant == v.name else None for o in outs]
    test = prepared.sensitive.iloc[prepared.test_index]
    sensitive = {name: attribute_groups(test, cols)[2].to_numpy(dtype=str)
                 for name, cols in attributes.items()}
    section = decisions_section(cfg, prepared, arms, baseline=BASELINE, sensitive=sensitive,
                                rng=stream(cfg.seed, "decisions"))
    log = getattr(run.store, "log_metrics", None)
    if log is not None:
        result = section.result
        compared = {c.variant: c for c in result.comparisons}
        for arm in result.arms:
            c = compared.get(arm.name)
            shared = {} if c is None else {
                "cost_diff_per_1k": c.cost_diff_per_1k.estimate, "swap_rate": c.swap.swap,
                "psi": c.psi}
            for i, run_id in enumerate(runs[arm.name]):
                metrics = {"test_cost_per_1k": arm.per_seed_cost_per_1k[i],
                           "decision_threshold": float(arm.thresholds[i]), **shared}
                metrics = {k: float(x) for k, x in metrics.items()
                           if x is not None and np.isfinite(x)}
                if run_id is not None:
                    log(run_id, metrics)
    return section


def decisions_threshold(cfg) -> tuple[int, str] | None:
    """The fairness tables' threshold when the family runs: the policy's fixed threshold (for
    simulated data, or a table whose cost columns are named)."""
    if cfg.policy.threshold_rule == "fixed" and (
            cfg.dataset.kind == "simulated" or cfg.policy.columns is not None):
        return int(cfg.policy.threshold), "the policy's fixed threshold (policy.threshold)"
    return None


def decisions_arm_metrics(section: DecisionsSection, arm: str) -> dict[str, float | None]:
    """The money an arm's run carries: its cost, and its cost against the baseline (plain
    names; tracking files those outside its vocabulary under ``x/``)."""
    decisions = section.result
    out: dict[str, float | None] = {}
    c = next((c for c in decisions.comparisons if c.variant == arm), None)
    if c is not None:
        out.update({"cost_diff": c.cost_diff_per_1k.estimate,
                    "cost_diff_lo": c.cost_diff_per_1k.lower,
                    "cost_diff_hi": c.cost_diff_per_1k.upper, "swap_rate": c.swap.swap,
                    "psi": c.psi})
        if c.cost_diff_simultaneous is not None:
            out["cost_diff_sim_lo"] = c.cost_diff_simultaneous.lower
            out["cost_diff_sim_hi"] = c.cost_diff_simultaneous.upper
    cost = next((a for a in decisions.arms if a.name == arm), None)
    if cost is not None:
        out["cost"] = cost.cost_per_1k.estimate
    return out


# --- The report view ("Decisions and money") ------------------------------------------------


#: The figure of the section (``figures/decisions.png``).
FIGURE = "decisions"
FIGURE_CAPTION = ("Cost of the decision per 1,000 users a month, with 95% intervals: each "
                  "arm's policy beside the anchors (dashed: the oracle policy).")
#: Group-table rows shown in the document (report.json holds every row).
MAX_GROUP_ROWS = 40


def _iv(i) -> dict:
    """An interval of the result (:class:`nsf.decisions.Interval`) as report numbers."""
    return {"estimate": i.estimate, "lower": i.lower, "upper": i.upper}


def decisions_model(section, study) -> dict[str, Any]:
    """The section's numbers (JSON-ready) for ``report.json``."""
    r = section.result
    label = {v.name: (v.description or v.name) for v in study.variants}
    return {
        "unit": "money per 1,000 users per month (the data's currency; KRW when simulated)",
        "policy": r.policy, "horizon_days": r.horizon_days, "n_test": r.n_test,
        "n_validation": r.n_validation, "baseline": r.baseline,
        "margin": study.settings.cost_margin if study.settings.cost_margin is not None
        else study.config.get("study", {}).get("cost_margin"),  # a result before it was logged
        "oracle_note": r.oracle_note, "seconds": section.seconds,
        "anchors": [{"name": a.name, "cost": _iv(a.cost_per_1k),
                     "bundle_rate": a.bundle_rate, "thresholds": a.thresholds,
                     "threshold_rows": a.threshold_rows} for a in r.anchors],
        "arms": [{"name": a.name, "cost": _iv(a.cost_per_1k),
                  "expected_cost": a.expected_cost_per_1k, "bundle_rate": a.bundle_rate,
                  "thresholds": a.thresholds,
                  "oracle_gap": _iv(a.oracle_gap_per_1k)
                  if a.oracle_gap_per_1k else None} for a in r.arms],
        "comparisons": [{"variant": c.variant, "label": label.get(c.variant, c.variant),
                         "diff": _iv(c.cost_diff_per_1k), "verdict": c.verdict,
                         "simultaneous": _iv(c.cost_diff_simultaneous)
                         if c.cost_diff_simultaneous else None,
                         "per_comparison_verdict": c.per_comparison_verdict,
                         "decided_by": c.decided_by,
                         "swap": c.swap.swap, "to_charged": c.swap.to_charged,
                         "to_bundled": c.swap.to_bundled, "psi": c.psi,
                         "migration": c.migration} for c in r.comparisons],
        "floor": {"swap": r.seed_churn.swap if r.seed_churn else None,
                  "to_charged": r.seed_churn.to_charged if r.seed_churn else None,
                  "to_bundled": r.seed_churn.to_bundled if r.seed_churn else None,
                  "psi": r.seed_psi},
        "groups": [g.model_dump() for g in r.groups],
        "flags": r.flags,
    }


def _money(x) -> str:
    return "n/a" if x is None else f"{x:,.0f}"


def _share(x) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def _ci(i: dict, fmt=_money) -> str:
    if i.get("lower") is None:
        return fmt(i.get("estimate"))
    return f"{fmt(i['estimate'])} [{fmt(i['lower'])}, {fmt(i['upper'])}]"


def decisions_summary(content: dict) -> dict | None:
    """One summary answer: what dropping each data costs, grouped by verdict (the variants whose
    cost change is needed or inconclusive named with their figures, the rest counted), the swap
    shares beside the baseline's own churn, and who bears the largest changes; every variant's
    row is in the section."""
    if not content["comparisons"]:
        return None
    flags = {f["variant"]: f for f in content["flags"]
             if f["metric"] == "cost_per_1k" and f["interval_excludes_zero"]}
    by_verdict: dict[str, list[dict]] = {v: [] for v in (NEEDED, INCONCLUSIVE, NOT_SHOWN_NEEDED)}
    for c in content["comparisons"]:
        by_verdict.setdefault(c["verdict"], []).append(c)
    parts = []
    for verdict in (NEEDED, INCONCLUSIVE):
        named = by_verdict.get(verdict) or []
        if named:
            parts.append(f"{verdict} ({len(named)}): " + "; ".join(
                f"{c['variant']} {_ci(c['diff'])}" for c in named))
    rest = by_verdict.get(NOT_SHOWN_NEEDED) or []
    if rest:
        parts.append(f"{NOT_SHOWN_NEEDED} ({len(rest)}): "
                     + ", ".join(c["variant"] for c in rest))
    swaps = [c["swap"] for c in content["comparisons"] if c["swap"] is not None]
    floor = content["floor"]["swap"]
    text = (f"Cost of the decision against the baseline, {content['unit']}, with 95% intervals "
            f"(margin {_money(content['margin'])}). " + ". ".join(parts) + ". ")
    if swaps:
        text += (f"Decisions changed for {_share(min(swaps))} to {_share(max(swaps))} of users "
                 f"(retraining the baseline alone: {_share(floor)}). ")
    if flags:
        worst = sorted(flags.values(), key=lambda f: -abs(f["change"] or 0))[:3]
        text += "Largest changes in cost per user: " + "; ".join(
            f"{f['variant']} on {f['attribute']} {f['group']} ({_money(f['change'])})"
            for f in worst) + ". "
    text += "Every variant: section 'Decisions and money'."
    return {"question": "What does dropping each data cost in money, and who bears it?",
            "answer": text}


def decisions_figures(content: dict) -> dict[str, bytes]:
    """The costs of every arm and anchor with their intervals, as one PNG."""
    from matplotlib.figure import Figure

    rows = [(a["name"], a["cost"]) for a in content["anchors"]] + \
        [(a["name"], a["cost"]) for a in content["arms"]]
    rows = [(n, c) for n, c in rows if c["estimate"] is not None]
    if not rows:
        return {}
    fig = Figure(figsize=(8, 0.28 * len(rows) + 1.2), dpi=110)
    ax = fig.subplots()
    for y, (name, c) in enumerate(rows):
        anchor = y < len(content["anchors"])
        lo = c["lower"] if c["lower"] is not None else c["estimate"]
        hi = c["upper"] if c["upper"] is not None else c["estimate"]
        ax.errorbar(c["estimate"], y, xerr=[[c["estimate"] - lo], [hi - c["estimate"]]],
                    fmt="s" if anchor else "o", color="tab:gray" if anchor else "tab:blue",
                    capsize=2, markersize=4)
        if name == "oracle":
            ax.axvline(c["estimate"], color="tab:green", linestyle="--", linewidth=1)
    ax.set_yticks(range(len(rows)), [n for n, _ in rows], fontsize=7)
    ax.invert_yaxis()
    ax.ticklabel_format(axis="x", style="plain", useOffset=False)
    ax.set_xlabel(content["unit"], fontsize=8)
    ax.set_title("Decisions: cost of each policy", fontsize=9)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", facecolor="white", metadata={"Software": None})
    return {FIGURE: buf.getvalue()}


def decisions_blocks(content: dict) -> list[dict]:
    """Document blocks of the section."""
    p = content["policy"]
    blocks: list[dict] = [
        {"type": "p", "text": (
            "Each model's score drives one decision per user: bundle the user's small purchases "
            "into grouped charges (score at or below the model's threshold) or charge each at "
            f"once. Costs: {_money(p['fee_per_charge'])} per charge; a failed grouped charge "
            f"costs {_money(p['retry_cost'])} to retry and collect plus "
            f"{100 * p['loss_share']:.0f}% of its amount never recovered. Thresholds: "
            f"{p['threshold_rule']} rule on the {content['n_validation']:,} validation rows; "
            f"costs on the {content['n_test']:,} test rows over {content['horizon_days']} "
            f"days, in {content['unit']}.")},
        {"type": "figure", "name": FIGURE, "caption": FIGURE_CAPTION},
    ]
    if content["oracle_note"]:
        blocks.append({"type": "note", "text": f"Oracle policy: {content['oracle_note']}."})
    blocks.append({"type": "table", "caption": "Cost of each policy (arms and anchors)",
                   "headers": ["policy", "cost [95% interval]", "bundled", "threshold(s)",
                               "model-expected cost", "oracle minus policy"],
                   "rows": [[a["name"], _ci(a["cost"]), _share(a["bundle_rate"]),
                             ", ".join(map(str, a["thresholds"])), "", ""]
                            for a in content["anchors"]]
                   + [[a["name"], _ci(a["cost"]), _share(a["bundle_rate"]),
                       ", ".join(map(str, a["thresholds"])), _money(a["expected_cost"]),
                       _ci(a["oracle_gap"]) if a["oracle_gap"] else ""]
                      for a in content["arms"]],
                   "numeric": [1, 2, 4, 5]})
    floor = content["floor"]
    blocks.append({"type": "table", "caption": (
        "Each variant against the baseline: cost difference (variant minus baseline) with "
        f"its verdict at margin {_money(content['margin'])}, swap set (decisions changed: "
        "bundled to charged, charged to bundled) and PSI of the scores. Floor (the baseline "
        f"retrained with another seed): swap {_share(floor['swap'])}, PSI "
        f"{floor['psi']:.3f}." if floor["psi"] is not None else
        "Each variant against the baseline (one seed: no seed-to-seed floor)."),
        "headers": ["variant", "cost difference [per-comparison interval]",
                    "simultaneous interval", "verdict", "decided by", "swap", "to charged",
                    "to bundled", "PSI"],
        "rows": [[c["variant"], _ci(c["diff"]),
                  _ci(c["simultaneous"]) if c.get("simultaneous") else "n/a",
                  verdict_cell(c["verdict"], c["per_comparison_verdict"]),
                  decided_by_cell(c["verdict"], c["decided_by"]), _share(c["swap"]),
                  _share(c["to_charged"]), _share(c["to_bundled"]), f"{c['psi']:.3f}"]
                 for c in content["comparisons"]],
        "numeric": [1, 2, 5, 6, 7, 8]})
    if content["comparisons"]:
        top = max(content["comparisons"], key=lambda c: c["swap"])
        table = top["migration"]
        blocks.append({"type": "table", "caption": (
            f"Score-band migration of {top['variant']} (the largest swap set): share of test "
            "users by baseline decile (rows) and variant band (columns, the baseline's "
            "deciles; tied deciles merged). Every variant's table is in report.json."),
            "headers": ["baseline band", *[f"{j + 1}" for j in range(len(table))]],
            "rows": [[str(i + 1), *[_share(x) for x in row]] for i, row in enumerate(table)],
            "numeric": list(range(1, len(table) + 1))})
    flagged = [f for f in content["flags"] if f["interval_excludes_zero"]]
    blocks.append({"type": "table", "caption": (
        "Who pays: for each variant and decision metric, the sensitive group with the largest "
        "change against the baseline among groups with enough rows (rate among users who "
        "would not have failed that are refused bundling; failure rate among the bundled; "
        "cost per 1,000 users a month). Only changes whose 95% interval excludes 0 are "
        f"listed ({len(flagged)} of {len(content['flags'])})."),
        "headers": ["variant", "metric", "group", "change [95% interval]"],
        "rows": [[f["variant"], f["metric"], f"{f['attribute']}: {f['group']}",
                  _ci({"estimate": f["change"], "lower": f["lower"], "upper": f["upper"]},
                      _money if f["metric"] == "cost_per_1k" else _share)]
                 for f in flagged],
        "numeric": [3]})
    base = [g for g in content["groups"] if g["arm"] == content["baseline"]][:MAX_GROUP_ROWS]
    blocks.append({"type": "table", "caption": (
        "The baseline's decisions by sensitive group (seed means, 95% intervals; groups "
        "marked * have fewer rows than the study's min_group_support)."),
        "headers": ["group", "rows", "bundled", "safe users refused", "failures among "
                    "bundled", "cost per 1,000 a month"],
        "rows": [[f"{g['attribute']}: {g['group']}{' *' if g['small'] else ''}", str(g["n"]),
                  _ci(g["metrics"]["bundle_rate"], _share),
                  _ci(g["metrics"]["refused_safe_rate"], _share),
                  _ci(g["metrics"]["failure_among_bundled"], _share),
                  _ci(g["metrics"]["cost_per_1k"])] for g in base],
        "numeric": [1, 2, 3, 4, 5]})
    return blocks


FAMILY = Family(
    NAME, "What does dropping the data cost in money, and who bears it?",
    "cost columns per row (purchases, grouped charges, failures, amounts)", applies, variants,
    section=DecisionsSection, procedure=run_decisions, arm_metrics=decisions_arm_metrics,
    config=("policy.", "study.cost_margin"), needs_validation=True,
    threshold=decisions_threshold,
    view=FamilyView("Decisions and money", model=decisions_model, blocks=decisions_blocks,
                    figures=decisions_figures, summary=decisions_summary, position=30))
