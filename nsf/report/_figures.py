"""The report's figures: matplotlib (no pyplot state, Agg canvas), PNG bytes, grey-scale.

Each function takes parts of the report model and returns PNG bytes, or None when there is
nothing to plot. Verdicts are told apart by marker shape and fill, never by colour alone, so the
figures read the same printed in black and white.
"""

from __future__ import annotations

import io
import math

from matplotlib.figure import Figure

from nsf.report._families import family_figures
from nsf.report._schema import (
    Comparison,
    FairnessAttribute,
    MinimalSetSection,
    RelianceRow,
    ReportModel,
    as_model,
)
from nsf.study import MinimalSetStep, ProxyResult, ThresholdPoint
from nsf.views.shap import SHAP_VIEWS, render_shap_views  # noqa: F401  (the SHAP views)
from nsf.vocabulary import INCONCLUSIVE, NEEDED, NOT_SHOWN_NEEDED

__all__ = ["FIGURES", "render_figures"]

_DPI = 110
_MARKERS = {  # verdict -> (marker, face colour, label)
    NEEDED: ("o", "black", NEEDED),
    NOT_SHOWN_NEEDED: ("o", "white", NOT_SHOWN_NEEDED),
    INCONCLUSIVE: ("s", "0.6", INCONCLUSIVE),
    None: ("x", "black", "no verdict"),
}


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI, bbox_inches="tight", facecolor="white",
                metadata={"Software": None})
    return buf.getvalue()


def _finite(*xs) -> bool:
    return all(x is not None and math.isfinite(x) for x in xs)


def _forest(rows: list, *, metric: str, margin: float | None, title: str,
            label=lambda r: r.variant, xlabel: str | None = None,
            added: bool = False) -> bytes | None:
    """A forest plot of rows with ``estimate``, ``lower``, ``upper`` and ``verdict``."""
    rows = [r for r in rows if _finite(r.estimate)]
    if not rows:
        return None
    height = 1.2 + 0.32 * len(rows)
    fig = Figure(figsize=(7.5, height))
    ax = fig.add_subplot()
    ys = list(range(len(rows)))[::-1]
    seen = set()
    for y, r in zip(ys, rows, strict=True):
        lo, hi = r.lower, r.upper
        if _finite(lo, hi):
            ax.plot([lo, hi], [y, y], color="black", linewidth=1.2)
        marker, face, lab = _MARKERS[r.verdict]
        ax.plot([r.estimate], [y], marker=marker, markerfacecolor=face,
                markeredgecolor="black", linestyle="none", markersize=7,
                label=None if lab in seen else lab)
        seen.add(lab)
    ax.axvline(0, color="0.4", linewidth=0.8)
    if margin is not None:
        ax.axvline(-margin, color="black", linestyle="--", linewidth=0.9,
                   label=f"margin (-{margin:g})")
        if added:
            ax.axvline(margin, color="black", linestyle=":", linewidth=0.9,
                       label=f"margin (+{margin:g})")
    ax.set_yticks(ys)
    ax.set_yticklabels([label(r) for r in rows], fontsize=8)
    ax.set_xlabel(xlabel or f"difference in {metric.upper()} to the reference "
                  "(AUC units; negative = worse)")
    ax.set_title(title, fontsize=10)
    ax.grid(axis="x", color="0.85", linewidth=0.6)
    ax.set_axisbelow(True)
    ax.legend(fontsize=7, loc="best", frameon=True)
    return _png(fig)


def _retention(rows: list[Comparison], *, metric: str, margin: float | None,
               full_days: int | None) -> bytes | None:
    pts = [(r, r.retention_days, r.estimate) for r in rows
           if r.estimate is not None and _finite(r.estimate) and r.retention_days]
    if not pts:
        return None
    fig = Figure(figsize=(7.5, 3.6))
    ax = fig.add_subplot()
    days = [d for _, d, _ in pts]
    est = [e for _, _, e in pts]
    ax.plot(days, est, color="black", linewidth=1.2, zorder=1)
    seen = set()
    for r, d, e in pts:
        lo, hi = r.lower, r.upper
        if lo is not None and hi is not None and _finite(lo, hi):
            ax.plot([d] * 2, [lo, hi], color="black", linewidth=1.0)
            ax.plot([d] * 2, [lo, hi], color="black", marker="_",
                    linestyle="none", markersize=8)
        marker, face, lab = _MARKERS[r.verdict]
        ax.plot([d], [e], marker=marker, markerfacecolor=face,
                markeredgecolor="black", linestyle="none", markersize=7, zorder=3,
                label=None if lab in seen else lab)
        seen.add(lab)
    ax.axhline(0, color="0.4", linewidth=0.8)
    if margin is not None:
        ax.axhline(-margin, color="black", linestyle="--", linewidth=0.9,
                   label=f"margin (-{margin:g})")
    ax.set_xscale("log")
    ax.set_xticks(days)
    ax.set_xticklabels([str(d) for d in days])
    ax.minorticks_off()
    full = f" ({full_days} days)" if full_days else ""
    ax.set_xlabel("history kept (days, log scale)")
    ax.set_ylabel(f"{metric.upper()} difference to full history{full}")
    ax.set_title("Retention: accuracy against the history kept", fontsize=10)
    ax.grid(color="0.85", linewidth=0.6)
    ax.legend(fontsize=7, loc="lower right")
    return _png(fig)


def _fairness(attributes: dict[str, FairnessAttribute]) -> bytes | None:
    names = [n for n, a in attributes.items() if a.groups and "+" not in n]
    if not names:
        return None
    panels = (("auc", "AUC within group"), ("false_positive_rate", "false-positive rate"),
              ("false_negative_rate", "false-negative rate"))
    n_rows = sum(len(attributes[n].groups) for n in names)
    fig = Figure(figsize=(9.5, 1.0 + 0.22 * n_rows + 0.35 * len(names)))
    axes = fig.subplots(len(names), len(panels), squeeze=False,
                        gridspec_kw={"height_ratios": [len(attributes[n].groups)
                                                       for n in names]})
    for i, name in enumerate(names):
        groups = attributes[name].groups
        ys = list(range(len(groups)))[::-1]
        for j, (key, title) in enumerate(panels):
            ax = axes[i][j]
            for y, g in zip(ys, groups, strict=True):
                v, lo, hi = (getattr(g, key), getattr(g, f"{key}_lower"),
                             getattr(g, f"{key}_upper"))
                if _finite(lo, hi):
                    ax.plot([lo, hi], [y, y], color="black", linewidth=1.0)
                if _finite(v):
                    # Open marker: too few rows behind it, left out of the disparity.
                    small = key in g.below_support
                    ax.plot([v], [y], marker="o", color="black", markersize=4,
                            markerfacecolor="white" if small else "black")
            ax.set_yticks(ys)
            ax.set_yticklabels([str(g.group) for g in groups] if j == 0 else [],
                               fontsize=7)
            ax.set_ylim(-0.7, len(groups) - 0.3)
            ax.tick_params(axis="x", labelsize=7)
            ax.grid(axis="x", color="0.85", linewidth=0.6)
            if j == 0:
                ax.set_ylabel(name, fontsize=8)
            if i == 0:
                ax.set_title(title, fontsize=9)
            if i == len(names) - 1:
                ax.set_xlabel("rate (0-1)" if j else "AUC (0-1)", fontsize=8)
    fig.suptitle("Baseline by group: point and 95% interval (open point: too few rows, "
                 "left out of the disparity)", fontsize=10)
    fig.tight_layout()
    return _png(fig)


def _thresholds(curves: dict[str, list[ThresholdPoint]], threshold: int | None) -> bytes | None:
    """Equalized-odds difference and share flagged of the baseline against the threshold,
    one line style per attribute (single attributes only)."""
    names = [n for n, c in curves.items() if c and "+" not in n]
    if not names:
        return None
    fig = Figure(figsize=(7.5, 3.4))
    ax_eo, ax_flag = fig.subplots(1, 2)
    styles = ["-", "--", ":", "-."]
    for i, name in enumerate(names):
        pts = curves[name]
        xs = [p.threshold for p in pts]
        eo = [p.equalized_odds_difference for p in pts]
        ax_eo.plot([x for x, v in zip(xs, eo, strict=True) if v is not None],
                   [v for v in eo if v is not None], color="black",
                   linestyle=styles[i % len(styles)], label=name)
    first = curves[names[0]]
    ax_flag.plot([p.threshold for p in first], [p.flagged for p in first], color="black")
    for ax in (ax_eo, ax_flag):
        if threshold is not None:
            ax.axvline(threshold, color="0.5", linewidth=0.8, linestyle="--")
        ax.set_xlabel("threshold (score)")
        ax.set_xlim(0, 100)
    ax_eo.set_ylabel("equalized-odds difference")
    ax_flag.set_ylabel("share flagged")
    ax_eo.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return _png(fig)


def _proxies(proxies: list[ProxyResult], targets: list[str] | None = None) -> bytes | None:
    rows = [p for p in proxies if p.lift is not None]
    if not rows:
        return None
    groups = list(dict.fromkeys(p.group for p in rows))
    targets = targets or list(dict.fromkeys(p.target for p in rows))
    grid: list[list[float | None]] = [[None] * len(targets) for _ in groups]
    for p in rows:
        if p.target in targets:
            grid[groups.index(p.group)][targets.index(p.target)] = p.lift
    top = max([abs(v) for r in grid for v in r if v is not None] + [0.05])
    fig = Figure(figsize=(1.6 + 1.05 * len(targets), 0.9 + 0.32 * len(groups)))
    ax = fig.add_subplot()
    data = [[0.0 if v is None else max(v, 0.0) for v in r] for r in grid]
    im = ax.imshow(data, cmap="Greys", vmin=0, vmax=top, aspect="auto")
    for i, r in enumerate(grid):
        for j, v in enumerate(r):
            text = "n/a" if v is None else f"{v:.3f}"
            shade = 0.0 if v is None else max(v, 0.0) / top
            ax.text(j, i, text, ha="center", va="center", fontsize=7,
                    color="white" if shade > 0.55 else "black")
    ax.set_xticks(range(len(targets)))
    ax.set_xticklabels(targets, fontsize=8, rotation=20, ha="right")
    ax.set_yticks(range(len(groups)))
    ax.set_yticklabels(groups, fontsize=8)
    bar = fig.colorbar(im, ax=ax, fraction=0.04)
    bar.set_label("lift over chance (negative shown as 0)", fontsize=8)
    ax.set_title("Proxy strength: each contested group alone predicting an attribute",
                 fontsize=10)
    return _png(fig)


def _reliance(rows: list[RelianceRow], margin: float | None) -> bytes | None:
    pts = [(r, r.necessity, r.shap_share, r.necessity.estimate) for r in rows
           if r.necessity and r.shap_share is not None and r.necessity.estimate is not None
           and _finite(r.shap_share, r.necessity.estimate)]
    if not pts:
        return None
    fig = Figure(figsize=(7.5, 4.6))
    ax = fig.add_subplot()
    if margin is not None:
        ax.axhspan(-margin, max(0.02, max((nec.upper or 0) for _, nec, _, _ in pts)),
                   color="0.92", zorder=0, label="removal costs less than the margin")
        ax.axhline(-margin, color="black", linestyle="--", linewidth=0.9,
                   label=f"margin (-{margin:g})")
    ax.axhline(0, color="0.4", linewidth=0.8)
    seen = set()
    crowded = []
    for r, nec, x, y in pts:
        if nec.lower is not None and nec.upper is not None and _finite(nec.lower, nec.upper):
            ax.plot([x, x], [nec.lower, nec.upper], color="0.3", linewidth=0.9, zorder=2)
        marker, face, lab = _MARKERS[nec.verdict]
        ax.plot([x], [y], marker=marker, markerfacecolor=face, markeredgecolor="black",
                linestyle="none", markersize=7, zorder=3, label=None if lab in seen else lab)
        seen.add(lab)
        if x < 0.02:  # near zero labels overlap: named together below
            crowded.append(r.group)
        else:
            ax.annotate(r.group, (x, y), xytext=(5, 3), textcoords="offset points",
                        fontsize=7)
    if crowded:
        ax.text(0.01, 0.98, "share < 2%: " + ", ".join(crowded), transform=ax.transAxes,
                fontsize=7, va="top", ha="left",
                bbox={"facecolor": "white", "edgecolor": "0.6", "linewidth": 0.6})
    ax.set_xlabel("reliance: share of mean |SHAP| of the baseline (0-1)")
    ax.set_ylabel("necessity: AUC change when retrained without it")
    ax.set_title("Reliance vs necessity (right and in the grey band: relied on, not needed)",
                 fontsize=10)
    ax.grid(color="0.85", linewidth=0.6)
    ax.legend(fontsize=7, loc="lower left")
    return _png(fig)


def _step_label(s: MinimalSetStep) -> str:
    return f"{s.step}. -{s.candidate}" + (" (kept out)" if s.accepted else "")


def _minimal(minimal: MinimalSetSection | None, metric: str) -> bytes | None:
    if not minimal or not minimal.steps:
        return None
    return _forest(minimal.steps, metric=metric, margin=minimal.margin, label=_step_label,
                   title="Minimal-set search: each step's removal set against the baseline")


#: name -> caption (the order of appearance).
FIGURES = {
    "attributes": "Difference in AUC when each contested group (and all of them) is removed, "
                  "with intervals (uncontested groups, marked, for reference); dashed: the "
                  "non-inferiority margin.",
    "keep_one": "Difference in AUC when one contested group is added to the uncontested core.",
    "granularity": "Difference in AUC of coarse versions against the raw data.",
    "population": "Difference in AUC of the population variants (and the sensitive-attribute "
                  "variant) against the baseline.",
    "retention": "AUC difference against the history kept (retention curve).",
    "fairness": "Baseline AUC, false-positive and false-negative rates by group, with "
                "intervals.",
    "fairness_thresholds": "Equalized-odds difference of the baseline by attribute, and the "
                           "share of rows flagged, at every threshold; dashed: the operating "
                           "threshold.",
    "proxies": "Proxy lift of each contested group for each attribute (darker = stronger).",
    "reliance": "Reliance (SHAP share) against necessity (AUC change when retrained "
                "without the group).",
    "minimal_set": "The minimal-set search, step by step.",
}


def _attribute_label(uncontested: list[Comparison]):
    def label(r: Comparison) -> str:
        if len(r.groups) != 1:
            return r.variant
        return ", ".join(r.groups) + (" (not contested)" if r in uncontested else "")
    return label


def render_figures(model: ReportModel | dict) -> dict[str, bytes]:
    """name -> PNG bytes of every figure the model has data for."""
    model = as_model(model)
    metric = model.settings.primary_metric
    margin = model.settings.margin
    att = model.attributes
    out = {
        "attributes": _forest(att.drop_one + att.drop_all + att.uncontested,
                              metric=metric, margin=margin,
                              title="Attributes: removing each group",
                              label=_attribute_label(att.uncontested)),
        "keep_one": _forest(att.keep_one, metric=metric, margin=margin, added=True,
                            title="Attributes: adding one group to the uncontested core",
                            xlabel=f"difference in {metric.upper()} to the core model "
                                   "(positive = the group helps)"),
        "granularity": _forest(model.granularity.rows, metric=metric, margin=margin,
                               title="Granularity: coarse against raw"),
        "population": _forest(model.population.rows + att.sensitive, metric=metric,
                              margin=margin, added=True,
                              title="Population and sensitive attributes",
                              xlabel=f"difference in {metric.upper()} to the baseline "
                                     "(positive = the added data helps)"),
        "retention": _retention(model.retention.rows, metric=metric, margin=margin,
                                full_days=model.retention.full_history_days),
        "fairness": _fairness(model.fairness.attributes),
        "fairness_thresholds": _thresholds(model.fairness.curves, model.fairness.threshold),
        "proxies": _proxies(model.fairness.proxies),
        "reliance": _reliance(model.reliance.rows, margin),
        "minimal_set": _minimal(model.minimal_set, metric),
    }
    out.update(family_figures(model))
    return {k: v for k, v in out.items() if v is not None}
