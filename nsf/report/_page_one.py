"""Page one of the report: the case's questions answered by name, one row each (which data was
needed, in what form, how much history, from whom, how many people's, for how long after the
build, at what cost and to whom, the ledger, whether the identifiers were anonymous, who is
treated differently, which way of sharing), each with its evidence in the appendix."""

from __future__ import annotations

from nsf.report._phrases import (
    _DECISION_METRICS,
    _auc_loss,
    _big,
    _family,
    _ledger,
    _ledger_row,
    _money,
    _names,
    _not_run,
    _pct,
    _thr,
    link,
)
from nsf.report._schema import FairnessAtDecision, ReportModel
from nsf.report._words import number_with_interval, variant_words
from nsf.study import SeedSummary
from nsf.vocabulary import INCONCLUSIVE, NEEDED, NOT_SHOWN_NEEDED

__all__: list[str] = []


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
