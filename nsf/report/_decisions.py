"""The report's "Decisions and money" section (the decisions family's registered view).

From the study result's ``sections.decisions`` alone: each arm's cost of the bundle-or-charge
decision beside the anchors (bundle no one, bundle everyone, the oracle policy), the cost of
each variant against the baseline with its verdict in money, its swap set and score-band
migration against the seed-to-seed floor, and who bears the change (per sensitive group).
"""

from __future__ import annotations

import io
from typing import Any

from nsf.report._document import decided_by_cell, verdict_cell
from nsf.report._families import register_family_section
from nsf.vocabulary import INCONCLUSIVE, NEEDED, NOT_SHOWN_NEEDED

#: The figure of the section (``figures/decisions.png``).
FIGURE = "decisions"
FIGURE_CAPTION = ("Cost of the decision per 1,000 users a month, with 95% intervals: each "
                  "arm's policy beside the anchors (dashed: the oracle policy).")
#: Group-table rows shown in the document (report.json holds every row).
MAX_GROUP_ROWS = 40


def _iv(i: dict | None) -> dict:
    i = i or {}
    return {"estimate": i.get("estimate"), "lower": i.get("lower"), "upper": i.get("upper")}


def decisions_model(section, study) -> dict[str, Any]:
    """The section's numbers (JSON-ready) for ``report.json``."""
    r = section.result
    label = {v.name: (v.description or v.name) for v in study.variants}
    return {
        "unit": "money per 1,000 users per month (the data's currency; KRW when simulated)",
        "policy": r.policy, "horizon_days": r.horizon_days, "n_test": r.n_test,
        "n_validation": r.n_validation, "baseline": r.baseline,
        "margin": study.config.get("study", {}).get("cost_margin"),
        "oracle_note": r.oracle_note, "seconds": section.seconds,
        "anchors": [{"name": a.name, "cost": _iv(a.cost_per_1k.model_dump()),
                     "bundle_rate": a.bundle_rate, "thresholds": a.thresholds,
                     "threshold_rows": a.threshold_rows} for a in r.anchors],
        "arms": [{"name": a.name, "cost": _iv(a.cost_per_1k.model_dump()),
                  "expected_cost": a.expected_cost_per_1k, "bundle_rate": a.bundle_rate,
                  "thresholds": a.thresholds,
                  "oracle_gap": _iv(a.oracle_gap_per_1k.model_dump())
                  if a.oracle_gap_per_1k else None} for a in r.arms],
        "comparisons": [{"variant": c.variant, "label": label.get(c.variant, c.variant),
                         "diff": _iv(c.cost_diff_per_1k.model_dump()), "verdict": c.verdict,
                         "simultaneous": _iv(c.cost_diff_simultaneous.model_dump())
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
                  verdict_cell(c), decided_by_cell(c), _share(c["swap"]),
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


register_family_section("decisions", title="Decisions and money", model=decisions_model,
                        blocks=decisions_blocks, figures=decisions_figures,
                        summary=decisions_summary)
