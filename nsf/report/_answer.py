"""The report a reader who is not a statistician reads: the answers, each linked to its
evidence in the technical appendix.

Two steps, both pure functions of the report model:

- :func:`reconcile` derives, once, what several sections name: one recommendation per shared
  category (:func:`nsf.report._rules.category_recommendations`) and the largest error-rate gap
  (at the policy's decision threshold and at the configured score threshold). The summary's
  answers are rewritten from them, so no two sections can disagree.
- :func:`build_report` lays out the report: page one answers the case by name (which data was
  needed, in what form, how much history, from whom, how many people's, for how long after the
  build, at what cost and to whom, the ledger, whether the identifiers were anonymous), then
  what the study could not decide and what would decide it; then the categories, the groups
  treated differently and how to read the numbers.
"""

from __future__ import annotations

import math
import statistics

from nsf.report._rules import category_recommendations
from nsf.report._schema import (
    CategoryRecommendation,
    Comparison,
    FairnessAtDecision,
    ReportModel,
    as_model,
)
from nsf.report._words import GLOSSARY, group_words, number_with_interval, variant_words
from nsf.study import SeedSummary
from nsf.vocabulary import INCONCLUSIVE, NEEDED, NOT_SHOWN_NEEDED

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

#: Decision metrics of the policy, in words.
_DECISION_METRICS = {"refused_safe_rate": "refused bundling although their payments would not "
                                          "fail",
                     "failure_among_bundled": "failures among the bundled"}


def link(anchor: str, text: str = "evidence") -> dict:
    """A reference into the technical appendix (``appendix.html#<anchor>``)."""
    return {"text": text, "doc": "appendix", "anchor": anchor}


def category_words(rec: CategoryRecommendation) -> str:
    """A category in words: ``7. Pay Money balance`` (number and name)."""
    name = rec.name.replace("_", " ")
    return f"{rec.category}. {name}" if rec.category is not None else \
        group_words(rec.name)


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
        d = a.equalized_odds
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


def _names(recs: list[CategoryRecommendation]) -> str:
    return ", ".join(category_words(r) for r in recs) or "none"


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


def _fairness_answer(gaps: dict[str, FairnessAtDecision]) -> str | None:
    parts = []
    if "decision" in gaps:
        dec = gaps["decision"]
        parts.append(
            f"At the policy's decision threshold (score {_thr(dec.thresholds)}), the largest "
            f"gap is by {dec.attribute}: {_pct(dec.high_rate)} of {dec.high_group} against "
            f"{_pct(dec.low_rate)} of {dec.low_group} are "
            f"{_DECISION_METRICS['refused_safe_rate']}.")
    if "score_band" in gaps:
        band = gaps["score_band"]
        parts.append(
            f"At the configured score threshold {band.threshold} (a score band, not the "
            f"policy's decision), the largest equalized-odds difference is by "
            f"{band.attribute}: "
            f"{number_with_interval(band.estimate, band.lower, band.upper)}.")
    return " ".join(parts) or None


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


# --- formatting -----------------------------------------------------------------------------

def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.0f}%"


def _thr(thresholds: list[float]) -> str:
    ts = sorted(set(thresholds))
    if not ts:
        return "n/a"
    return str(ts[0]) if len(ts) == 1 else f"{ts[0]} to {ts[-1]}, one per training seed"


def _big(x: float | None) -> str:
    if x is None:
        return "n/a"
    for scale, name in ((1e9, " billion"), (1e6, " million")):
        if abs(x) >= scale:
            return f"{x / scale:,.1f}{name}"
    return f"{x:,.0f}"


def _money(x: float | None) -> str:
    if x is None:
        return "n/a"
    # Money to the thousands: the intervals are thousands wide.
    return f"{round(x, -3):,.0f}"


def _auc_loss(c: Comparison | None) -> str:
    """A drop's AUC change as a loss (positive = worse), with its interval."""
    if not c or c.estimate is None:
        return "n/a"
    return number_with_interval(-c.estimate, -c.upper if c.upper is not None
                                else None, -c.lower if c.lower is not None else None)


def _family(model: ReportModel, name: str) -> dict | None:
    """The content of the family section ``name`` (its view's own form), or None."""
    entry = model.family_sections.get(name)
    return entry.content if entry is not None else None


def _ledger(model: ReportModel) -> dict | None:
    return _family(model, "ledger")


def _ledger_row(model: ReportModel, item: str) -> dict | None:
    led = _ledger(model)
    return next((r for r in led["rows"] if r["item"] == item), None) if led else None


# --- page one -------------------------------------------------------------------------------

def _not_run(model: ReportModel, family: str) -> str:
    """Why a family has no answer: not applicable (with the study's reason) or not run."""
    reason = next((f.reason for f in model.skipped_families
                   if f.family == family), None)
    if reason:
        return f"Not applicable: {reason}."
    return f"Not studied (the {family} family did not run)."


def _needed(model: ReportModel) -> tuple[str, list]:
    recs = model.recommendations
    contested = [r for r in recs if r.contested]
    kept = [r for r in contested if r.action != "drop"]
    dropped = [r for r in contested if r.action == "drop"]
    if not recs:
        return "Not answered: the study has no inventory.", [link("s-inventory")]
    basis = ("the minimal-set search: the model with only these does as well as with all"
             if kept and kept[0].basis == "minimal set" else "the inventory's rule")
    text = (f"{len(kept)} of the {len(contested)} contested categories: {_names(kept)} "
            f"(from {basis}). The other {len(dropped)} were not needed: "
            f"{_names(dropped)}.")
    uncontested = [r for r in recs if not r.contested and r.action != "drop"]
    if uncontested:
        text += f" Kept as uncontested: {_names(uncontested)}."
    return text, [link("s-minimal_set", "minimal set"), link("s-inventory", "inventory")]


def _form(model: ReportModel) -> tuple[str, list]:
    kept = [r for r in model.recommendations if r.contested and r.action != "drop"]
    if not kept:
        return "Nothing contested is kept, so no form is needed.", [link("s-granularity")]
    raw = [r for r in kept if r.action == "keep"]
    coarse = [r for r in kept if r.action == "coarsen"]
    parts = []
    if coarse:
        parts.append(f"coarse (bands or counts instead of raw values): {_names(coarse)}")
    if raw:
        parts.append(f"raw: {_names(raw)}")
    prov = [r for r in kept if r.provisional]
    text = "; ".join(parts) + "."
    if prov and len(prov) == len(kept):
        text += " All provisional: the study could not tell whether each is needed alone."
    elif prov:
        text += (f" Provisional (the study could not tell whether they are needed): "
                 f"{_names(prov)}.")
    return text, [link("s-granularity", "granularity"), link("s-inventory", "inventory")]


def _history(model: ReportModel) -> tuple[str, list]:
    rows = [r for r in model.retention.rows if r.same_fits_as != "baseline"]
    full = model.retention.full_history_days
    ev = [link("s-granularity", "retention")]
    if not rows:
        return _not_run(model, "retention"), ev
    ok = sorted((r for r in rows if r.verdict == NOT_SHOWN_NEEDED),
                key=lambda r: r.retention_days or 0)
    led = _ledger_row(model, "history per training subject")
    if ok:
        text = (f"The last {ok[0].retention_days} days of each person's history are enough "
                f"(against {full} days: {ok[0].retention_days} days lose "
                f"{_auc_loss(ok[0])} AUC, within the margin).")
    else:
        shortest = min(rows, key=lambda r: r.retention_days or 0)
        longest = max(rows, key=lambda r: r.retention_days or 0)
        text = (f"All of it: no window shorter than the full {full} days was shown sufficient "
                f"({shortest.retention_days} days lose {_auc_loss(shortest)} AUC, "
                f"{shortest.verdict}; {longest.retention_days} days lose "
                f"{_auc_loss(longest)}, {longest.verdict}).")
    if led and led["needed"] is not None:
        text += f" At the case's scale: {led['needed']:,.0f} of {led['sent']:,.0f} days."
        ev.append(link("s-family-ledger", "ledger"))
    return text, ev


def _whom(model: ReportModel) -> tuple[str, list]:
    rows = model.population.rows
    ev = [link("s-granularity", "population")]
    who = model.settings.population or "the users scored"
    if not rows:
        if any(f.family == "population" for f in model.skipped_families or []):
            return _not_run(model, "population"), ev
        return f"Not studied: the model is trained on {who} only.", ev
    r = rows[0]
    change = number_with_interval(r.estimate, r.lower, r.upper, signed=True)
    if r.verdict == NOT_SHOWN_NEEDED:
        text = (f"Only {who}, the people the score is for: adding everyone else's data did not "
                f"help (AUC change {change} when trained on every user).")
    elif r.verdict == NEEDED:
        text = (f"Every user: training on every user, not only {who}, changed AUC by "
                f"{change}, beyond the margin.")
    else:
        text = (f"Undecided between {who} and every user: training on every user changed AUC "
                f"by {change} (inconclusive).")
    return text, ev


def _volume(model: ReportModel) -> tuple[str, list]:
    v = _family(model, "volume")
    ev = [link("s-family-volume", "volume")]
    led = _ledger_row(model, "training subjects")
    if not v:
        return _not_run(model, "volume"), ev
    who = "simulated people" if model.settings.simulated else \
        model.settings.words.subjects
    n_all, small = v["n_all"], v["smallest_sufficient"]
    if small >= n_all:
        text = (f"All of the training population: no smaller training set was shown as good "
                f"as all {n_all:,} {who}.")
    else:
        text = (f"{small:,} of the {n_all:,} {who} ({100 * small / n_all:.0f}%) "
                "trained a model as good as all of them.")
    if led and led["needed"] is not None:
        text += (f" At the case's scale: {_big(led['needed'])} of the {_big(led['sent'])} "
                 "people whose data was sent.")
        ev.append(link("s-family-ledger", "ledger"))
    return text, ev


def _after_build(model: ReportModel) -> tuple[str, list]:
    fr = _family(model, "freshness")
    ev = [link("s-family-freshness", "freshness")]
    led = _ledger_row(model, "users scored after the build")
    if not fr:
        text = _not_run(model, "freshness")
    else:
        need = fr["retraining_needed"]
        if need is False:
            text = (f"No new data was needed after the model was built ({fr['build_date']}): "
                    "retraining on fresher data did not help.")
        elif need:
            text = (f"Fresh data helped after the build ({fr['build_date']}): retraining "
                    f"every {fr['retrain_days']} days is enough.")
        else:
            text = (f"Undecided: whether retraining after the build ({fr['build_date']}) "
                    f"helped is inconclusive; counted as needed every "
                    f"{fr['retrain_days']} days so as not to understate it.")
    if led and led["needed"] is not None:
        text += (f" After the build only the people scored are needed: {_big(led['needed'])} "
                 f"of the {_big(led['sent'])} whose data kept flowing.")
        ev.append(link("s-family-ledger", "ledger"))
    return text, ev


def _money_answer(model: ReportModel) -> tuple[str, list]:
    dec = _family(model, "decisions")
    ev = [link("s-family-decisions", "money")]
    if not dec or not dec["comparisons"]:
        return _not_run(model, "decisions"), ev
    comps = {c["variant"]: c for c in dec["comparisons"]}
    dropped_groups = {g for r in model.recommendations if r.action == "drop"
                      for g in r.groups}
    kept_groups = {g for r in model.recommendations if r.action != "drop"
                   for g in r.needed_groups}
    dropped_groups -= kept_groups
    singles = [comps[f"drop_{g}"] for g in sorted(dropped_groups) if f"drop_{g}" in comps]
    unit = "per 1,000 users a month"
    parts = []
    if singles:
        worst = max(singles, key=lambda c: c["diff"]["estimate"] or 0)
        verdicts = {v: sum(c["verdict"] == v for c in singles)
                    for v in (NOT_SHOWN_NEEDED, INCONCLUSIVE, NEEDED)}
        parts.append(
            f"Dropping the data the study did not need, one group at a time, changes the cost "
            f"of the billing decision by at most {_money(worst['diff']['estimate'])} "
            f"[{_money(worst['diff']['lower'])}, {_money(worst['diff']['upper'])}] {unit} "
            f"({variant_words(worst['variant'])}); verdicts: "
            + ", ".join(f"{v} for {n}" for v, n in verdicts.items() if n) + ".")
    core = comps.get("drop_all_contested")
    if core:
        parts.append(
            f"Dropping every contested category costs {_money(core['diff']['estimate'])} "
            f"[{_money(core['diff']['lower'])}, {_money(core['diff']['upper'])}] {unit} "
            f"({core['verdict']}; margin {_money(dec['margin'])}).")
    who = _who_pays(dec, dropped_groups)
    if who:
        parts.append(who)
    if model.settings.simulated:
        parts.append("The cost falls on the payer: users charged at once instead of bundled "
                     "pay one fee per purchase.")
    return " ".join(parts), ev


def _who_pays(dec: dict, dropped: set[str]) -> str | None:
    flags = [f for f in dec["flags"] if f["interval_excludes_zero"]
             and f["metric"] == "cost_per_1k"
             and any(f["variant"] == f"drop_{g}" for g in dropped)]
    if not flags:
        return None
    f = max(flags, key=lambda f: abs(f["change"] or 0))
    return (f"Who bears it most: {f['attribute']} {f['group']}, whose cost changes by "
            f"{_money(f['change'])} {('per 1,000 users a month')} "
            f"({variant_words(f['variant'])}).")


def _ledger_answer(model: ReportModel) -> tuple[str, list]:
    led = _ledger(model)
    ev = [link("s-family-ledger", "ledger")]
    if not led:
        return _not_run(model, "ledger"), ev
    kept = [r for r in model.recommendations if r.action != "drop"]
    extra = led["categories_needed"] - len(kept)
    cats = (f"{led['categories_needed']} of the {led['categories_sent']} categories: the "
            f"{len(kept)} above"
            + (f" and {extra} identifier to match each person to their Apple account"
               if extra > 0 else ""))
    return (f"A design limited to what was needed would have sent "
            f"{_big(led['records_needed'])} of the {_big(led['records_sent'])} records "
            f"({100 * led['fraction_needed']:.0f}%), each with {cats}: "
            f"{100 * led['values_fraction_needed']:.1f}% of the values sent (scaled to the "
            "case's volumes)."), ev


def _identifiers(model: ReportModel) -> tuple[str, list]:
    d = model.deidentification
    ev = [link("s-deidentification", "de-identification")]
    if not d.available:
        if not model.settings.simulated:
            return ("Not applicable: no identifier is shared with the model (a table "
                    "study).", ev)
        return ("Not measured in this study (run `nsf audit` with the same config, then "
                "regenerate the report).", ev)
    m = d.measures()
    rec = m.phone_recovered_fraction
    link_f = m.link_fraction
    text = ("No. " if (rec or 0) > 0 or (link_f or 0) > 0 else "Yes, against these attacks. ")
    space = m.phone_space_size
    in_space = m.phone_recovered_in_space_fraction
    tried = ("" if not space or space >= 1e8 else
             f" (the audit tried {space:,.0f} of the 10^8 numbers and recovered "
             f"{_pct(in_space)} of the digests among them)")
    text += (f"The unsalted SHA-256 digests were reversed by trying phone numbers: "
             f"{_pct(rec)} of phone digests recovered{tried}; every possible number takes "
             f"about {m.full_space_seconds_est or 0:,.0f} s on one machine; "
             f"{_pct(link_f)} of the recipient's rows linked to the person.")
    if "hmac_phone_recovered_fraction" in d.metrics:
        text += (f" A keyed hash (HMAC) would have prevented it: "
                 f"{_pct(m.hmac_phone_recovered_fraction)} recovered, "
                 f"{_pct(m.hmac_link_fraction)} linked.")
    if m.unique_fraction is not None:
        text += (f" Without identifiers, {_pct(m.unique_fraction)} of users are unique on "
                 f"the shared attributes ({_pct(m.unique_fraction_coarse)} after "
                 "coarsening).")
    return text, ev


def _groups_answer(model: ReportModel) -> tuple[str, list]:
    text = _fairness_answer(model.largest_gaps)
    return (text or "Not measured (no fairness tables)."), [link("s-fairness", "fairness"),
                                                            link("s-family-decisions",
                                                                 "decisions by group")]


def _designs_answer(model: ReportModel) -> tuple[str, list] | None:
    """The sharing designs' own answer (the frontier's), or None when they did not run."""
    entry = next((a for a in model.summary if a.key == "designs"), None)
    if entry is None:
        return None
    return entry.answer, [link("s-family-designs", "sharing designs and their frontier")]


def _answers(model: ReportModel) -> list[tuple[str, str, list]]:
    rows = [("Which contested data was needed?", *_needed(model)),
            ("In what form?", *_form(model)),
            ("How much history?", *_history(model)),
            ("From whom?", *_whom(model)),
            ("How many people's data?", *_volume(model)),
            ("For how long after the build?", *_after_build(model)),
            ("At what cost in money, and to whom?", *_money_answer(model)),
            ("The data ledger", *_ledger_answer(model)),
            ("Were the identifiers anonymous?", *_identifiers(model)),
            ("Are groups of people treated differently?", *_groups_answer(model))]
    designs = _designs_answer(model)
    if designs is not None:
        rows.append(("Which way of sharing exposes least for what it costs?", *designs))
    if not model.settings.simulated:
        rows = [r for r in rows if r[0] not in ("For how long after the build?",
                                                "The data ledger")]
    return rows


def _lead(model: ReportModel) -> str:
    s = model.settings
    base = model.baseline.test(s.primary_metric)
    if s.simulated:
        case = ("The case: a payment company sent the data of all its users, 24 categories a "
                "day for years, abroad to build a score of the risk that an App Store charge "
                "fails, hashed without a secret. This study rebuilds such a score on simulated "
                "data and measures what it needed. ")
    else:
        case = ("This study measures what a risk score trained on the user's table needs. ")
    return (case + f"The score ranks people by the risk that {s.outcome or 'the outcome'}"
            f" (AUC {_round_auc(base)}; 0.5 is guessing, 1 is perfect). Data counts as needed "
            f"when removing it costs more than {s.margin or 'the margin'} AUC, beyond "
            "the uncertainty of the measurement.")


def _round_auc(m: SeedSummary | None) -> str:
    v = m.mean if m is not None else None
    if v is None:
        return "n/a"
    return f"{v:.2f}"


def _page_one(model: ReportModel) -> list[dict]:
    blocks: list[dict] = [{"type": "p", "text": _lead(model), "links": [
        link("s-model_card", "the model"), link("s-method", "method and assumptions")]}]
    if model.missing:
        blocks.append({"type": "note", "text": "This report is incomplete: "
                       + "; ".join(model.missing[:5])
                       + ("; ..." if len(model.missing) > 5 else "") + ".",
                       "links": [link("s-summary", "what is missing")]})
    rows = [[q, a, ev] for q, a, ev in _answers(model)]
    blocks.append({"type": "table", "caption": "", "headers": ["question", "answer",
                                                              "evidence"],
                   "rows": rows, "numeric": [], "class": "answers"})
    return blocks


# --- what could not be decided ----------------------------------------------------------------

def _undecided(model: ReportModel) -> list[dict]:
    items: list[list] = []
    prov = [r for r in model.recommendations if r.provisional]
    if prov:
        items.append([f"Whether {_names(prov)} "
                      f"{'is' if len(prov) == 1 else 'are'} needed: kept provisionally, "
                      "because removing them alone cost an amount the study could not "
                      "tell from the margin.", [link("s-inventory", "inventory"),
                                                link("s-attributes", "attributes")]])
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
            d = a.equalized_odds
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
    """Sections ``{id, title, blocks}`` of the report (the short document)."""
    model = as_model(model)
    if "recommendations" not in model.model_fields_set or (
            not model.recommendations and model.inventory.rows):
        model = reconcile(model)
    from nsf.report._document import SECTIONS

    anchors = {f"s-{sid}" for sid, _ in SECTIONS} | {
        f"s-family-{name}" for name in model.family_sections}
    out = []
    for i, (sid, title) in enumerate(REPORT_SECTIONS):
        blocks = [_keep_links(b, anchors) for b in _BUILDERS[sid](model)]
        if sid == "answer" and figures and "ledger" in figures:
            blocks.append({"type": "figure", "name": "ledger",
                           "caption": "The data ledger: from what was sent to what was needed "
                                      "(records, at the case's scale)."})
        out.append({"id": sid, "title": f"{i + 1}. {title}", "blocks": blocks})
    return out


def _keep_links(block: dict, anchors: set[str]) -> dict:
    """The block without links to sections the appendix does not have (a family that did not
    run)."""
    def ok(x):
        return not isinstance(x, dict) or x.get("anchor") in anchors

    def cell(c):
        if not isinstance(c, list):
            return c
        kept = [x for x in c if ok(x)]
        # a family that did not run: the appendix's summary says so
        return kept if kept or not c else [link("s-summary", "summary")]

    if block.get("links"):
        block = {**block, "links": [x for x in block["links"] if ok(x)]}
    if block["type"] == "table":
        block = {**block, "rows": [[cell(c) for c in row] for row in block["rows"]]}
    return block
