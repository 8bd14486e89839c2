"""The report a reader who is not a statistician reads: the answers, each linked to its
evidence in the technical appendix.

Two steps, both pure functions of the report model:

- :func:`reconcile` derives, once, what several sections name: one recommendation per shared
  category (:func:`nsf.report._rules.category_recommendations`) and the largest error-rate gap
  (at the policy's decision threshold and at the configured score threshold). The summary's
  answers are rewritten from them, so no two sections can disagree.
- :func:`build_report` lays out the report: page one answers the case by name (its answer
  table: :mod:`nsf.report._page_one`), then what the study could not decide and what would
  decide it; then the categories, the groups treated differently and how to read the numbers.

The pieces every part shares (links into the appendix, numbers and money in words, a family
section's content) are in :mod:`nsf.report._phrases`.
"""

from __future__ import annotations

import math
import statistics

from nsf.report._blocks import Block, Figure, Link, Note, Para, Table, as_blocks
from nsf.report._page_one import _fairness_answer, _money_answer, _page_one
from nsf.report._phrases import (
    _DECISION_METRICS,
    _auc_loss,
    _family,
    _names,
    _pct,
    _thr,
    category_words,
    link,
)
from nsf.report._rules import category_recommendations
from nsf.report._schema import (
    CategoryRecommendation,
    FairnessAtDecision,
    ReportModel,
    as_model,
)
from nsf.report._words import GLOSSARY, group_words, number_with_interval
from nsf.vocabulary import INCONCLUSIVE

__all__ = ["REPORT_SECTIONS", "build_report", "category_words", "largest_gaps", "reconcile"]

#: (id, title) of the report's sections, in order.
REPORT_SECTIONS = (
    ("answer", "The answer"),
    ("undecided", "What the study could not decide, and what would decide it"),
    ("categories", "The shared data, category by category"),
    ("groups", "Who is treated differently"),
    ("reading", "How to read the numbers"),
    ("about", "About this study"),
)


# --- derived once ---------------------------------------------------------------------------

def _decision_gap(model: ReportModel) -> FairnessAtDecision | None:
    """The largest gap between two groups in the share refused bundling although their
    payments would not fail, at the thresholds the policy uses (the decisions family)."""
    dec = _family(model, "decisions")
    if not dec:
        return None
    base = dec["baseline"]
    arm = next((a for a in dec["arms"] if a["name"] == base), None)
    by_attr: dict[str, list[dict]] = {}
    for g in dec["groups"]:
        if g["arm"] != base or g["small"] or "refused_safe_rate" not in g["metrics"]:
            continue
        rate = g["metrics"]["refused_safe_rate"]
        if rate["estimate"] is None:
            continue
        by_attr.setdefault(g["attribute"], []).append({"group": g["group"], **rate})
    best = None
    for attr, groups in by_attr.items():
        if len(groups) < 2:
            continue
        hi = max(groups, key=lambda g: g["estimate"])
        lo = min(groups, key=lambda g: g["estimate"])
        gap = hi["estimate"] - lo["estimate"]
        if best is None or gap > best["estimate"]:
            best = {"attribute": attr, "estimate": gap, "metric": "refused_safe_rate",
                    "high": hi, "low": lo}
    thresholds = arm["thresholds"] if arm else []
    return FairnessAtDecision(
        threshold=float(statistics.median(thresholds)) if thresholds else None,
        thresholds=list(thresholds), attribute=best["attribute"] if best else None,
        estimate=best["estimate"] if best else None,
        metric="refused_safe_rate",
        high_group=best["high"]["group"] if best else None,
        high_rate=best["high"]["estimate"] if best else None,
        low_group=best["low"]["group"] if best else None,
        low_rate=best["low"]["estimate"] if best else None,
        source="decisions: the baseline's decisions by sensitive group (groups with "
               "enough rows)")


def _score_band_gap(model: ReportModel) -> FairnessAtDecision | None:
    """The largest equalized-odds difference at the configured score threshold (every
    attribute, intersections included)."""
    f = model.fairness
    best = None
    for name, a in f.attributes.items():
        d = a.disparities.equalized_odds_difference
        if not d or d.estimate is None or len(a.groups) < 2:
            continue
        if best is None or d.estimate > best[2]:
            best = (name, d, d.estimate)
    if best is None:
        return None
    name, d, _ = best
    return FairnessAtDecision(
        threshold=f.threshold, attribute=name, estimate=d.estimate, lower=d.lower,
        upper=d.upper, metric="equalized_odds_difference",
        source="fairness: disparities of the baseline at the configured score threshold")


def largest_gaps(model: ReportModel) -> dict[str, FairnessAtDecision]:
    """``{"decision": ..., "score_band": ...}``: the largest gap at each threshold (absent
    when the study has no such measurement)."""
    out = {}
    dec = _decision_gap(model)
    if dec and dec.attribute:
        out["decision"] = dec
    band = _score_band_gap(model)
    if band:
        out["score_band"] = band
    return out


def _inventory_answer(model: ReportModel, recs: list[CategoryRecommendation]) -> str:
    counts = {a: sum(r.action == a for r in recs) for a in ("drop", "coarsen", "keep")}
    unit = "categories" if model.inventory.unit == "category" else "attribute groups"
    text = (f"One recommendation per {unit[:-3] + 'y' if unit == 'categories' else 'group'}"
            f" ({len(recs)} {unit}): drop {counts['drop']}, share coarse {counts['coarsen']}, "
            f"keep {counts['keep']}.")
    kept = [r for r in recs if r.action != "drop"]
    if kept:
        text += " Kept: " + "; ".join(
            f"{category_words(r)} ({'coarse' if r.action == 'coarsen' else 'raw'}"
            f"{', provisional' if r.provisional else ''})" for r in kept) + "."
    return text


def _neg(x: float | None) -> float | None:
    return None if x is None else -x


def _minimal_answer(model: ReportModel) -> str | None:
    ms = model.minimal_set
    if not ms:
        return None
    cost = ms.cost
    kept = [group_words(g) for g in ms.kept]
    removed = [group_words(g) for g in ms.removed]
    text = (f"The search keeps {len(kept)} of {len(kept) + len(removed)} contested groups "
            f"({', '.join(kept) or 'none'}) and removes {', '.join(removed) or 'none'}")
    if cost:
        text += (f"; the model with only those loses "
                 f"{number_with_interval(_neg(cost.estimate), _neg(cost.upper), _neg(cost.lower))} "
                 f"AUC ({cost.verdict})")
    return text + "."


def reconcile(model: ReportModel | dict) -> ReportModel:
    """The model with what several sections name derived once: ``recommendations`` (one per
    category) and ``largest_gaps``; the summary's inventory, minimal-set and fairness answers
    are rewritten from them. Idempotent."""
    model = as_model(model)
    recs = category_recommendations(model.inventory.rows, model.minimal_set)
    gaps = largest_gaps(model)
    summary = []
    for a in model.summary:
        if a.key == "inventory" and recs:
            a = a.model_copy(update={"answer": _inventory_answer(model, recs)})
        elif a.key == "minimal_set":
            a = a.model_copy(update={"answer": _minimal_answer(model) or a.answer})
        elif a.key == "fairness":
            fair = _fairness_answer(gaps)
            if fair:
                rest = a.answer
                cut = rest.find("Proxies (")
                cut = rest.find("No contested group") if cut < 0 else cut
                a = a.model_copy(update={"answer": fair + ("" if cut < 0 else
                                                           " " + rest[cut:])})
        summary.append(a)
    out = model.model_copy(update={"summary": summary, "recommendations": recs,
                                   "largest_gaps": gaps})
    # The money answer reads the one recommendation too (not a list of every variant).
    if _family(out, "decisions"):
        money = _money_answer(out)[0] + " Every variant: section 'Decisions and money'."
        out = out.model_copy(update={"summary": [
            a.model_copy(update={"answer": money}) if a.key == "decisions" else a
            for a in out.summary]})
    return out


# --- what could not be decided ----------------------------------------------------------------

def _undecided(model: ReportModel) -> list[dict]:
    items: list[list] = []
    prov = [r for r in model.recommendations if r.provisional]
    if prov:
        one = len(prov) == 1
        it = "it" if one else "them"
        how = ("the minimal-set search did not remove " + it if model.minimal_set is not None else
               "no minimal-set search removed " + it + " with the other groups")
        items.append([f"Whether {_names(prov)} {'is' if one else 'are'} needed: kept "
                      f"provisionally, because removing {it} alone was not shown to cost more "
                      f"than the margin, yet the study could not show that the model does as "
                      f"well without {it} ({how}).",
                      [link("s-inventory", "inventory"), link("s-attributes", "attributes"),
                       *([link("s-minimal_set", "minimal set")]
                         if model.minimal_set is not None else [])]])
    for r in model.retention.rows:
        if r.verdict == INCONCLUSIVE and r.same_fits_as != "baseline":
            items.append([f"Whether the last {r.retention_days} days of history are "
                          f"enough (loss {_auc_loss(r)} AUC).", [link("s-granularity")]])
    fr = _family(model, "freshness")
    if fr and fr["retraining_needed"] is None:
        items.append(["Whether retraining after the build helped.",
                      [link("s-family-freshness", "freshness")]])
    dec = _family(model, "decisions")
    if dec:
        inc = [c for c in dec["comparisons"] if c["verdict"] == INCONCLUSIVE]
        if inc:
            items.append([f"The money cost of {len(inc)} of {len(dec['comparisons'])} variants "
                          "(their cost intervals reach across the margin).",
                          [link("s-family-decisions", "money")]])
    blocks: list[dict] = []
    if items:
        blocks.append({"type": "table", "caption": "", "headers": ["not decided", "evidence"],
                       "rows": items, "numeric": [], "class": "answers"})
    else:
        blocks.append({"type": "p", "text": "Every question above was decided."})
    power = model.power
    decide = []
    if power:
        se, detect, margin = (power.median_standard_error, power.detectable_difference,
                              power.margin)
        if margin and detect and detect > margin:
            factor = math.ceil((detect / margin) ** 2)
            decide.append(
                f"More test rows: the comparisons resolve differences of about "
                f"{detect:.3f} AUC, more than the margin {margin:g}; about {factor} times "
                "as many test rows (or people) would bring that down to the margin.")
        else:
            decide.append(
                f"The comparisons resolve differences of about {detect:.3f} AUC (standard "
                f"error {se:.4f}), within the margin {margin:g}: what stays undecided is close "
                "to the margin; more test rows and training seeds narrow the intervals.")
    decide.append("More training seeds narrow the part of each interval that comes from "
                  "chance in training.")
    decide.append("Real data from the recipient: every answer here is measured on simulated "
                  "data built to the case's published facts and documented assumptions."
                  if model.settings.simulated else
                  "The same study on another period of the table.")
    blocks.append({"type": "p", "text": "What would decide it:"})
    blocks.append({"type": "list", "items": decide})
    blocks.append({"type": "p", "text": "The method, and what the comparisons can resolve:",
                   "links": [link("s-method", "method"), link("s-attributes", "attributes")]})
    return blocks


# --- categories -----------------------------------------------------------------------------

_ACTION_WORDS = {"drop": "drop", "coarsen": "share coarse", "keep": "keep raw"}


def _categories(model: ReportModel) -> list[dict]:
    recs = model.recommendations
    if not recs:
        return [{"type": "p", "text": "No inventory."}]
    rows = []
    for r in recs:
        what = _ACTION_WORDS[r.action] + (" (provisional)" if r.provisional else "")
        rows.append([category_words(r), "contested" if r.contested else "uncontested",
                     what, _plain_reason(r), [link("s-inventory", "inventory")]])
    unit = "category" if model.inventory.unit == "category" else "attribute group"
    return [{"type": "p", "text": (
        f"One recommendation per {unit}, derived once; every section of this report and of "
        "the appendix reads the same one. A category is kept when the model needs a group of "
        "its data (the minimal-set search keeps the group, or the group is uncontested), and "
        "shared coarse when the coarse version does as well."),
        "links": [link("s-inventory", "inventory and its rule"),
                  link("s-minimal_set", "minimal set")]},
            {"type": "table", "caption": "", "headers": [unit, "status", "recommendation",
                                                         "why", "evidence"],
             "rows": rows, "numeric": [], "class": "answers"}]


def _plain_reason(r: CategoryRecommendation) -> str:
    if r.action == "drop":
        if r.reason == "not used by the model":
            return "the model does not use it"
        if r.basis == "minimal set":
            return "the model does as well without it"
        return r.reason
    groups = ", ".join(group_words(g) for g in r.needed_groups)
    if not r.contested:
        return f"uncontested: {groups}"
    return (f"needed through {groups}"
            + ("; the coarse version does as well" if r.action == "coarsen" else ""))


# --- groups ---------------------------------------------------------------------------------

def _groups(model: ReportModel) -> list[dict]:
    gaps = model.largest_gaps
    blocks: list[dict] = []
    if "decision" in gaps:
        dec = gaps["decision"]
        blocks.append({"type": "p", "text": (
            "At the decision the policy takes (score threshold "
            f"{_thr(dec.thresholds)}): "
            f"{_pct(dec.high_rate)} of {dec.attribute} {dec.high_group} are "
            f"{_DECISION_METRICS['refused_safe_rate']}, against {_pct(dec.low_rate)} of "
            f"{dec.low_group}: the largest gap between two groups of one attribute "
            "(intersections included)."), "links": [link("s-family-decisions",
                                                         "decisions by group")]})
    if "score_band" in gaps:
        band = gaps["score_band"]
        rows = []
        for name, a in model.fairness.attributes.items():
            d = a.disparities.equalized_odds_difference
            if not d or len(a.groups) < 2:
                continue
            rows.append([name, number_with_interval(d.estimate, d.lower,
                                                    d.upper),
                         "largest" if name == band.attribute else ""])
        blocks.append({"type": "p", "text": (
            f"At the configured score threshold {band.threshold} (a score band used to "
            "describe the score, not the policy's decision): the equalized-odds difference, "
            "the largest gap between two groups in either error rate (wrongly flagged, or "
            "missed), by attribute."), "links": [link("s-fairness", "fairness")]})
        blocks.append({"type": "table", "caption": "", "headers": [
            "attribute", "equalized-odds difference [interval]", ""], "rows": rows,
            "numeric": [1]})
    if not blocks:
        blocks.append({"type": "p", "text": "Not measured (no fairness tables)."})
    return blocks


# --- reading --------------------------------------------------------------------------------

_READING_TERMS = ("AUC", "margin", "needed", "not shown needed", "inconclusive", "interval",
                  "contested data", "coarsen", "minimal sufficient set", "data ledger",
                  "equalized-odds difference", "score bands")


def _reading(model: ReportModel) -> list[dict]:
    gloss = dict(GLOSSARY)
    return [{"type": "list", "items": [f"{t}: {gloss[t]}" for t in _READING_TERMS]},
            {"type": "p", "text": "Every other term, every table and every interval:",
             "links": [link("s-glossary", "glossary"), link("s-summary", "appendix")]}]


def _about(model: ReportModel) -> list[dict]:
    s, src = model.settings, model.source
    r = model.reproducibility
    return [{"type": "p", "text": (
        f"Model: {s.model}, trained with {s.n_seeds} seeds, evaluated on the "
        f"same test rows for every variant. Study run {src.parent_run_id} of "
        f"experiment '{src.experiment}' ({src.status}), code "
        f"{(r.git_commit or 'n/a')[:12]}, generated {model.generated_at}. "
        "The technical appendix holds every table, interval, method and assumption, and "
        "the record to reproduce this report."), "links": [
            link("s-reproducibility", "reproducibility")]}]


_BUILDERS = {"answer": _page_one, "undecided": _undecided, "categories": _categories,
             "groups": _groups, "reading": _reading, "about": _about}


def build_report(model: ReportModel | dict,
                 figures: dict[str, bytes] | None = None) -> list[dict]:
    """Sections ``{id, title, blocks}`` of the report (the short document), its blocks typed
    (:mod:`nsf.report._blocks`)."""
    model = as_model(model)
    if "recommendations" not in model.model_fields_set or (
            not model.recommendations and model.inventory.rows):
        model = reconcile(model)
    from nsf.report._document import SECTIONS

    anchors = {f"s-{sid}" for sid, _ in SECTIONS} | {
        f"s-family-{name}" for name in model.family_sections}
    out = []
    for i, (sid, title) in enumerate(REPORT_SECTIONS):
        blocks = [_keep_links(b, anchors) for b in as_blocks(_BUILDERS[sid](model))]
        if sid == "answer" and figures and "ledger" in figures:
            blocks.append(Figure(type="figure", name="ledger",
                                 caption="The data ledger: from what was sent to what was "
                                         "needed (records, at the case's scale)."))
        out.append({"id": sid, "title": f"{i + 1}. {title}", "blocks": blocks})
    return out


def _keep_links(block: Block, anchors: set[str]) -> Block:
    """The block without links to sections the appendix does not have (a family that did not
    run)."""
    def ok(x):
        return not isinstance(x, Link) or x.anchor in anchors

    def cell(c):
        if not isinstance(c, list):
            return c
        kept = [x for x in c if ok(x)]
        # a family that did not run: the appendix's summary says so
        return kept if kept or not c else [Link.model_validate(link("s-summary", "summary"))]

    if isinstance(block, Para | Note):
        return block.model_copy(update={"links": [x for x in block.links if ok(x)]})
    if isinstance(block, Table):
        return block.model_copy(update={"rows": [[cell(c) for c in row] for row in block.rows]})
    return block
