"""The report summary's answers to the case's questions, and the small formats they share with
the rest of the report model (:mod:`nsf.report._model`)."""

from __future__ import annotations

from nsf.report._schema import AuditMeasures, Comparison, Cost, Words
from nsf.study import StudyResult
from nsf.views import num
from nsf.vocabulary import NEEDED, NOT_SHOWN_NEEDED

#: A finite float, or None (the views' one definition).
_num = num


def _f3(x: float | None, signed: bool = False) -> str:
    if x is None:
        return "n/a"
    return f"{x:+.3f}" if signed else f"{x:.3f}"


def _interval(lo: float | None, hi: float | None, signed: bool = True) -> str:
    return f"[{_f3(lo, signed)}, {_f3(hi, signed)}]"


def _verdict_words(row: Comparison) -> str:
    return row.verdict or "no verdict"


def _diff_text(row: Comparison | Cost, metric: str) -> str:
    return f"{_f3(row.estimate, True)} {metric.upper()} {_interval(row.lower, row.upper)}"


# --- words ------------------------------------------------------------------------------------

#: The simulated world's words for the outcome, the decision and the rows.
SIMULATED_WORDS = Words()


def _words(study: StudyResult | None) -> Words:
    """How the report names a positive row, the decision and the rows: the simulator's words
    for simulated data, the dataset description's for a table."""
    if study is None or study.dataset.kind == "simulated" or study.description is None:
        return SIMULATED_WORDS
    d = study.description
    return Words(positive=d.positive_name, decision=d.decision, subjects=d.subjects,
                 probability="P(outcome)")


# --- the summary's answers ----------------------------------------------------------------

def _answer_attributes(rows: list[Comparison], drop_all: list[Comparison], metric: str,
                       margin: float | None, conf: str) -> str:
    if not rows:
        return "Not answered: the study has no drop-one variants (the family was not run or " \
               "every variant failed)."
    needed = [r for r in rows if r.verdict == NEEDED]
    not_shown = [r for r in rows if r.verdict == NOT_SHOWN_NEEDED]
    inconcl = [r for r in rows if r.verdict not in (NEEDED, NOT_SHOWN_NEEDED)]
    parts = [f"Of {len(rows)} contested attribute groups, {len(needed)} "
             f"{'is' if len(needed) == 1 else 'are'} needed (removing it costs more than "
             f"{_f3(margin)} {metric.upper()} with {conf} confidence)"]
    if needed:
        parts[0] += ": " + "; ".join(f"{r.groups[0] if r.groups else r.variant} "
                                     f"{_diff_text(r, metric)}" for r in needed)
    parts.append(f"{len(not_shown)} not shown needed"
                 + (f" ({', '.join(g for r in not_shown for g in r.groups)})"
                    if not_shown else ""))
    parts.append(f"{len(inconcl)} inconclusive (interval too wide to tell)")
    text = "; ".join(parts) + "."
    if drop_all:
        r = drop_all[0]
        text += (f" Removing all contested groups together changes {metric.upper()} by "
                 f"{_diff_text(r, metric)} ({_verdict_words(r)}).")
    return text


def _answer_granularity(rows: list[Comparison], metric: str) -> str:
    if not rows:
        return "Not answered: the study has no coarsening variants."
    # One group per variant, plus variants that coarsen several groups at once (coarse_all).
    single = [r for r in rows if len(r.groups) == 1]
    combined = [r for r in rows if len(r.groups) != 1]
    text = ""
    if single:
        ok = [r.groups[0] for r in single if r.verdict == NOT_SHOWN_NEEDED]
        worse = [r for r in single if r.verdict == NEEDED]
        rest = [r.groups[0] for r in single
                if r.verdict not in (NEEDED, NOT_SHOWN_NEEDED)]
        text = (f"The coarse version is non-inferior to the raw data for {len(ok)} of "
                f"{len(single)} groups" + (f" ({', '.join(ok)})" if ok else ""))
        if worse:
            text += "; coarsening costs more than the margin for " + "; ".join(
                f"{r.groups[0]} {_diff_text(r, metric)}" for r in worse)
        if rest:
            text += f"; inconclusive for {', '.join(rest)}"
        text += "."
    for r in combined:
        what = ", ".join(r.groups) if r.groups else r.variant
        text += (f" Coarsening {len(r.groups)} groups together ({r.variant}: {what}) "
                 f"changes {metric.upper()} by {_diff_text(r, metric)} ({_verdict_words(r)}).")
    return text.strip()


def _answer_population(rows: list[Comparison], metric: str, evaluated_on: str | None) -> str:
    if not rows:
        return "Not answered: the study has no population variant."
    out = []
    evaluated_on = evaluated_on or "the evaluation population"
    for r in rows:
        who = "every row" if r.population == "all" else f"{evaluated_on} only"
        out.append(f"Training on {who} (label {r.label or 'n/a'}) instead of the baseline "
                   f"changes {metric.upper()} on {evaluated_on} by "
                   f"{_diff_text(r, metric)}: the extra users' data is "
                   f"{_verdict_words(r)}.")
    return " ".join(out)


def _answer_retention(rows: list[Comparison], metric: str, full_days: int | None) -> str:
    if not rows:
        return "Not answered: the study has no retention variants."
    rows = sorted(rows, key=lambda r: r.retention_days or 0)
    # A window at least as long as the feed's longest is the baseline itself (same fits).
    shorter = [r for r in rows if r.same_fits_as != "baseline"]
    same = [r for r in rows if r.same_fits_as == "baseline"]
    ok = [r for r in shorter if r.verdict == NOT_SHOWN_NEEDED]
    text = "; ".join(f"{r.retention_days} days {_diff_text(r, metric)} "
                     f"({_verdict_words(r)})" for r in shorter)
    full = f"the full history ({full_days} days)" if full_days else "the full history"
    text = f"Against {full}: {text or 'no shorter window studied'}."
    if same:
        text += (" Windows of " + ", ".join(str(r.retention_days) for r in same)
                 + " days equal the full history (same model).")
    if ok:
        text += (f" The shortest window shown sufficient is {ok[0].retention_days} "
                 "days.")
    else:
        text += " No shorter window was shown sufficient."
    return text


def _answer_fairness(fair: dict, inventory: dict, threshold: float, cut: float) -> str:
    attrs = fair["attributes"]
    if not attrs:
        return "Not answered: the study logged no fairness tables."
    worst = []
    for name, a in attrs.items():
        if "+" in name:
            continue
        d = a["disparities"].get("equalized_odds_difference")
        if d and d["estimate"] is not None:
            worst.append((d["estimate"], name, d))
    worst.sort(reverse=True)
    text = ""
    if worst:
        est, name, d = worst[0]
        text = (f"The largest equalized-odds difference is by {name}: {_f3(est)} "
                f"{_interval(d['lower'], d['upper'], False)}")
        clear = [n for e, n, dd in worst if dd["lower"] is not None and dd["lower"] > cut]
        text += (f"; attributes whose lower bound exceeds {cut:g}: {', '.join(clear)}. "
                 if clear else f"; no attribute's lower bound exceeds {cut:g}. ")
    strong = sorted(((r["proxy"]["lift"], r["group"], r["proxy"]["target"])
                     for r in inventory["rows"] if r["proxy"]
                     and r["proxy"]["lift"] >= threshold), reverse=True)
    seen: dict[str, tuple] = {}
    for lift, g, t in strong:
        seen.setdefault(g, (lift, t))
    if seen:
        text += "Proxies (lift at or above " + f"{threshold:g}): " + ", ".join(
            f"{g} for {t} ({lift:.3f})" for g, (lift, t) in seen.items()) + "."
    else:
        text += f"No contested group reaches the proxy threshold ({threshold:g})."
    return text


def _answer_identifiers(study: StudyResult | None) -> str:
    declared = study.dataset.identifier_columns if study is not None else []
    which = (f"the declared identifier columns ({', '.join(declared)})" if declared else
             "no column was declared in dataset.table.identifier_columns")
    return ("Not applicable: the de-identification audit attacks shared hashed identifiers; "
            f"this table shares none with the model. {which[0].upper()}{which[1:]}; a feature "
            "column that looks like an identifier (digests, e-mail or phone patterns, nearly one "
            "value per row) stops the study before any fit, so no identifier is a feature or "
            "reaches the logged models.")


def _answer_audit(audit: dict | None) -> str:
    if not audit or not audit["available"]:
        return ("Not measured in this experiment: run `nsf audit CONFIG` (same config) and "
                "regenerate the report.")
    m = AuditMeasures.model_validate(audit["metrics"])

    def pct(v):
        return "n/a" if v is None else f"{100 * v:.1f}%"

    text = (f"Unsalted SHA-256 is reversible by enumeration: {pct(m.phone_recovered_fraction)} "
            f"of phone digests were recovered in an enumerated sub-space of "
            f"{m.phone_space_size or 0:,.0f} numbers "
            f"({pct(m.phone_recovered_in_space_fraction)} of those in it), at "
            f"{m.hashes_per_s or 0:,.0f} hashes/s, so the whole 10^8 "
            f"space takes about {m.full_space_seconds_est or 0:,.0f} s on one machine. "
            f"{pct(m.link_fraction)} of the recipient's rows were linked "
            f"({pct(m.link_precision)} correctly). {pct(m.unique_fraction)} of users are unique "
            f"on the shared quasi-identifiers ({pct(m.unique_fraction_coarse)} after "
            "coarsening).")
    if "hmac_phone_recovered_fraction" in audit["metrics"]:
        text += (f" With a keyed HMAC: {pct(m.hmac_phone_recovered_fraction)} recovered, "
                 f"{pct(m.hmac_link_fraction)} linked.")
    return text
