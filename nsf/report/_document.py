"""The report model laid out as a document: sections of blocks (paragraphs, tables, figures).

HTML and Markdown render the same blocks, so both say the same thing with the same numbers.
Formatting is consistent: AUC and its differences to 3 decimals, intervals as ``[lo, hi]``,
rates as percentages, missing values as ``n/a``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import yaml

from nsf.report._families import family_document_sections, family_headlines
from nsf.report._figures import FIGURES
from nsf.report._model import KEY_DISPARITIES
from nsf.views import (  # noqa: F401  (fmt, interval: re-exported)
    DECIDED_BY,
    decided_by_cell,
    fmt,
    interval,
    simultaneous_cell,
    verdict_cell,
)

__all__ = ["SECTIONS", "build_document", "build_documents", "fmt", "interval"]

#: (id, title) of the technical appendix's core sections, in order; the families' sections
#: come after ``method``, and the reproducibility record and the glossary close the appendix.
SECTIONS = (
    ("summary", "Summary of the answers"),
    ("inventory", "Data inventory: the 24 shared categories"),
    ("attributes", "Attributes"),
    ("granularity", "Granularity, population and retention"),
    ("fairness", "Fairness"),
    ("deidentification", "De-identification"),
    ("reliance", "Reliance vs necessity"),
    ("minimal_set", "Minimal sufficient set"),
    ("model_card", "Model card"),
    ("method", "Method and assumptions"),
    ("reproducibility", "Reproducibility"),
    ("glossary", "Glossary"),
)
#: Sections after the families' own.
_CLOSING = ("reproducibility", "glossary")


#: Marks a group value left out of the disparities (too few rows behind it).
SMALL_MARK = "†"


def _conf(settings: dict) -> str:
    c = settings.get("confidence")
    return "n/a" if c is None else f"{100 * c:g}%"


def _p(text: str) -> dict:
    return {"type": "p", "text": text}


def _note(text: str) -> dict:
    return {"type": "note", "text": text}


def _list(items: list[str]) -> dict:
    return {"type": "list", "items": list(items)}


def _table(caption: str, headers: list[str], rows: Sequence[Sequence[str | list[str]]],
           numeric: set[int] | None = None) -> dict:
    return {"type": "table", "caption": caption, "headers": headers, "rows": rows,
            "numeric": sorted(numeric or set())}


def _figure(name: str, figures: dict) -> list[dict]:
    if name not in figures:
        return []
    return [{"type": "figure", "name": name, "caption": FIGURES[name]}]


def _h(text: str) -> dict:
    return {"type": "h3", "text": text}


def _kv(pairs: list[tuple[str, str]], caption: str = "") -> dict:
    return _table(caption, ["item", "value"], [[k, v] for k, v in pairs])


def _comparison_table(rows: list[dict], caption: str, metric: str, *, show_groups=True,
                      extra: tuple[tuple[str, str, str], ...] = ()) -> dict:
    headers = ["variant", "reference", "reference " + metric.upper(),
               "variant " + metric.upper(), "difference", "interval (per comparison)",
               "simultaneous interval", "verdict", "decided by"]
    headers += [h for h, _, _ in extra]
    body = []
    for r in rows:
        line = [r["variant"] + (f" (= {r['same_fits_as']})" if r.get("same_fits_as") else ""),
                r["reference"], fmt(r["reference_estimate"]), fmt(r["variant_estimate"]),
                fmt(r["estimate"], "+3"), interval(r["lower"], r["upper"]),
                simultaneous_cell(r), verdict_cell(r), decided_by_cell(r)]
        line += [fmt(r.get(key), kind) for _, key, kind in extra]
        body.append(line)
    return _table(caption, headers, body, {2, 3, 4, 5, 6})


def _none_block(what: str) -> dict:
    return _note(f"Missing: {what}. The study result has no such part (the variant family was "
                 "not run or failed); the rest of the report is unaffected.")


def _skipped(m: dict, family: str) -> str | None:
    """Why ``family`` cannot apply to this dataset, or None when it could."""
    return next((f["reason"] for f in m.get("skipped_families") or []
                 if f["family"] == family), None)


def _absent(m: dict, family: str, what: str) -> dict:
    """The note for a family without rows: not applicable (with the study's reason), or
    missing."""
    reason = _skipped(m, family)
    if reason is not None:
        return _note(f"{what[0].upper()}{what[1:]}: not applicable: {reason}.")
    return _none_block(what)


# --- sections -------------------------------------------------------------------------------

def _summary(m: dict) -> list[dict]:
    s = m["settings"]
    # The families' headline answers (the data ledger) open the report.
    blocks: list[dict] = family_headlines(m)
    if m["missing"]:
        blocks.append(_note("This report is incomplete. Missing: " + "; ".join(m["missing"])))
    base = m["baseline"]["metrics"].get(f"test_{s['primary_metric']}") or {}
    src = m["source"]
    blocks.append(_p(
        f"Study run {src['parent_run_id']} of experiment '{src['experiment']}' "
        f"({src['status']}): a {s.get('model')} model scoring the risk that "
        f"{s.get('outcome') or 'the outcome happens'}, baseline test "
        f"{s['primary_metric'].upper()} {fmt(base.get('mean'))} "
        f"(SD {fmt(base.get('sd'), '4')} over {s['n_seeds']} seeds). Each answer below gives the "
        f"difference to the reference with its {_conf(s)} interval and "
        f"the verdict against a margin of {fmt(s.get('margin'))} "
        f"{s['primary_metric'].upper()}."))
    ev = m["model_card"]["evaluation_data"]
    if ev.get("plain_cv_auc") is not None:
        blocks.append(_note(
            f"Cross-fitted: {ev['split']}. Each fold's model also gives up a calibration fold "
            "and trains on re-drawn rows, so the study's AUC "
            f"{fmt((m['baseline']['metrics'].get('test_auc') or {}).get('mean'))} is below the "
            f"usual cross-validated AUC of the same learner, {fmt(ev['plain_cv_auc'])} "
            f"({ev.get('plain_cv_note')}): compare that one with published figures. The "
            "verdicts compare variants under the same protocol, so both arms pay the same."))
    skipped = m.get("skipped_families") or []
    if skipped:
        blocks.append(_note("Families not applicable to this dataset (skipped, not missing): "
                            + "; ".join(f"{f['family']}: not applicable: {f['reason']}"
                                        for f in skipped)))
    power = m.get("power")
    if power and power["margin_below_resolution"]:
        blocks.append(_note(_power_text(power, s)))
    readout = m.get("power_readout") or []
    if any(line.startswith("undecided") for line in readout):
        blocks.append(_note("What this study can tell, and what would decide the questions "
                            "it left undecided: " + "; ".join(readout) + "."))
    rows = [[str(a["number"]) if a["number"] else "-", a["question"], a["answer"]]
            for a in m["summary"]]
    blocks.append(_table("Answers to the questions of the case" if _simulated(m) else
                         "Answers", ["#", "question", "answer"], rows))
    return blocks


def _simulated(m: dict) -> bool:
    return m["settings"].get("simulated", True)


def _words(m: dict) -> dict:
    from nsf.report._model import SIMULATED_WORDS

    return {**SIMULATED_WORDS, **(m["settings"].get("words") or {})}


def _power_text(power: dict, s: dict) -> str:
    metric = s["primary_metric"].upper()
    return (f"What the table can resolve: the drop-one comparisons have a median standard "
            f"error of {fmt(power['median_standard_error'], '4')} {metric}, so the smallest "
            f"difference they detect with {power['power']:.0%} power at the {_conf(s)} level "
            f"is about (z + z_power) x SE = {fmt(power['detectable_difference'])}. "
            + (f"The margin {fmt(power['margin'])} is below it, so most verdicts stay "
               "inconclusive whatever the data; a margin of about "
               f"{fmt(power['suggested_margin'])} (study.margins) lets them decide, or more "
               "rows and seeds narrow the intervals."
               if power["margin_below_resolution"] else
               f"The margin {fmt(power['margin'])} is within reach."))


def _data(m: dict) -> list[dict]:
    """A table's data as read: missing values per column, what reading found, how the models
    treat missing values."""
    d = m.get("data")
    if not d:
        return []
    blocks: list[dict] = [_h("The data as read")]
    shares = d["missing_share"]
    with_missing = [r for r in shares if r["share"] > 0]
    if with_missing:
        blocks.append(_table(
            f"Missing values: {len(with_missing)} of {len(shares)} feature and sensitive "
            "columns have some",
            ["column", "role", "missing"],
            [[r["column"], "sensitive" if r["sensitive"] else "feature",
              fmt(r["share"], "pct")] for r in sorted(shares, key=lambda r: -r["share"])],
            {2}))
    else:
        blocks.append(_p(f"No missing values in the {len(shares)} feature and sensitive "
                         "columns."))
    blocks.append(_p("How missing values are treated (this study's model: "
                     f"{d.get('model') or 'n/a'}):"))
    blocks.append(_list([*d["treatment"], d["sensitive_missing"]]))
    if d["reading_notes"]:
        blocks.append(_p("What reading the table found (also printed before the study "
                         "started):"))
        blocks.append(_list(d["reading_notes"]))
    power = m.get("power")
    if power:
        blocks.append(_p(_power_text(power, m["settings"])))
    return blocks


def _cmp_cell(c: dict | None, used: bool) -> list[str] | str:
    if not used:
        return "- (not used)"
    if not c:
        return "n/a"
    sim = "" if c.get("simultaneous_lower") is None else \
        f"; simultaneous {interval(c['simultaneous_lower'], c['simultaneous_upper'])}"
    return [f"{fmt(c['estimate'], '+3')} {interval(c['lower'], c['upper'])}{sim}",
            verdict_cell(c) if c.get("verdict") else "no verdict"]


def _inventory(m: dict) -> list[dict]:
    inv = m["inventory"]
    what = ("Every shared category, the attribute group its features belong to, and what "
            if inv["unit"] == "category" else "Every attribute group of the table and what ")
    blocks = [*_data(m), _p(
        what + "the study measured about that group: necessity (AUC change when "
                 "the group is removed, with its interval and verdict), the coarse version "
                 "(AUC change when it is coarsened), reliance (share of mean |SHAP|), and its "
                 "strongest proxy lift for a protected attribute "
                 f"({', '.join(inv['protected_targets'])}). The recommendation follows from "
                 "those numbers by this rule, applied in order:"),
              _list(inv.get("rule_steps") or [inv["rule"]]),
              _p(f"Proxy threshold: a lift of {fmt(inv['proxy_lift_threshold'], 'g')} over "
                 "chance (AUC - 0.5 for two classes, balanced accuracy - 1/k for k classes).")]
    if not inv["rows"]:
        return [*blocks, _none_block("the data inventory (no study result)")]
    if inv["unit"] != "category":
        blocks.insert(len(_data(m)), _h("Attribute groups"))
    rows = []
    rec_of = {r["key"]: r for r in m.get("recommendations") or []}
    for r in inv["rows"]:
        rel, prox = r["reliance"], r["proxy"]
        shared = ("public" if r.get("public") else "FSS list" if r.get("source") == "CASE"
                  else "project's choice") if r.get("public") is not None else "table"
        rows.append([
            f"{r['category']}. {r['name']}" if r["category"] else r["name"],
            f"{shared} [{r['source']}]",
            [r["group"], "contested" if r["contested"] else "uncontested"],
            "yes" if r["used"] else "no",
            _cmp_cell(r["necessity"], r["used"]), _cmp_cell(r["coarse"], r["used"]),
            "-" if not r["used"] else ("n/a" if not rel else fmt(rel["shap_share"], "pct")),
            "n/a" if not prox else [fmt(prox["lift"]), interval(prox.get("lift_lower"),
                                                                prox.get("lift_upper"), "3"),
                                    prox["target"]],
            rec_of[_rec_key(r)]["action"].upper() if _rec_key(r) in rec_of else "n/a",
            [f"this group alone: {r['recommendation']} (step {r['rule']}: {r['reason']})",
             *(f"[{flag}]" for flag in r["flags"])],
        ])
    recs = m.get("recommendations") or []
    c = {a: sum(r["action"] == a for r in recs) for a in ("drop", "coarsen", "keep")}
    unit = "categories" if inv["unit"] == "category" else "attribute groups"
    blocks.append(_p(
        "The recommendation column is the category's one recommendation (derived once; the "
        "report, the minimal set, the ledger and the money section read the same): a category "
        "is kept when the model needs one of its groups (kept by the minimal-set search, or "
        "uncontested), shared coarse when that group's coarse version does as well, and "
        "dropped otherwise. The rule above judges each group alone; where the two differ, the "
        "minimal-set search, which removes the groups together, decides (the why column shows "
        "both)."))
    blocks.append(_table(
        f"Inventory: drop {c['drop']}, coarsen {c['coarsen']}, keep {c['keep']} of "
        f"{len(recs)} {unit} "
        + ("(rows: category x group)" if inv["unit"] == "category" else
           "(rows: attribute groups)"),
        ["category", "shared as", "group", "used", "necessity (drop)", "coarse version",
         "reliance", "max proxy lift", "recommendation", "why"], rows, {4, 5, 6, 7}))
    return blocks


def _rec_key(row: dict) -> str:
    return str(row["category"]) if row.get("category") is not None else row["name"]


def _attributes(m: dict) -> list[dict]:
    s, att = m["settings"], m["attributes"]
    metric = s["primary_metric"]
    blocks: list[dict] = [_p(
        "Each contested group is removed and the model retrained with every seed; the table "
        f"gives test {metric.upper()} of the baseline and the variant (mean over seeds) and the "
        "paired difference with its own interval and with the interval that holds jointly "
        "over the variant's family (see the method); 'decided by' says which one gave the "
        "verdict. Negative differences mean the variant is worse.")]
    if att["drop_one"] or att["drop_all"]:
        blocks.append(_comparison_table(att["drop_one"] + att["drop_all"],
                                        "Removing contested data", metric))
        blocks += _figure("attributes", m["_figures"])
    else:
        blocks.append(_absent(m, "drop_one", "the drop-one and drop-all variants"))
    if att.get("uncontested"):
        blocks.append(_p("For reference, each uncontested group removed the same way: these "
                         "groups are not contested, so their verdicts change no recommendation "
                         "(uncontested data are kept)."))
        blocks.append(_comparison_table(att["uncontested"],
                                        "Removing uncontested data (not contested)", metric))
    if att["keep_one"]:
        blocks.append(_p("Added one at a time to the uncontested core (reference: the model "
                         "without any contested group): positive means the group helps."))
        blocks.append(_comparison_table(att["keep_one"], "Adding one group to the core",
                                        metric))
        blocks += _figure("keep_one", m["_figures"])
    if att["custom"]:
        blocks.append(_comparison_table(att["custom"], "Variants declared in the config",
                                        metric))
    other = [k for k in m["settings"]["metrics"] if k != metric]
    if other and m["variant_metrics"]:
        rows = []
        for name, per in m["variant_metrics"].items():
            line = [name]
            for k in [metric, *other]:
                c = per.get(k)
                line.append("n/a" if not c else
                            f"{fmt(c['estimate'], '+3')} {interval(c['lower'], c['upper'])}")
            rows.append(line)
        blocks.append(_table("Every variant, every metric: difference to the baseline "
                             "[interval] (Brier, log-loss, ECE: lower is better)",
                             ["variant", *[k.upper() for k in [metric, *other]]], rows))
    return blocks


def _granularity(m: dict) -> list[dict]:
    metric = m["settings"]["primary_metric"]
    blocks: list[dict] = [_h("Granularity")]
    if m["granularity"]["rows"]:
        blocks.append(_p("A coarse version replaces the raw values (" + (
            "balance bands, join year, e-mail provider, capped counts" if _simulated(m) else
            "numbers cut into log2 bands") + "); 'not shown needed' means the coarse "
            "version is as good as the raw one within the margin."))
        blocks.append(_comparison_table(m["granularity"]["rows"], "Coarse against raw",
                                        metric))
        blocks += _figure("granularity", m["_figures"])
    else:
        blocks.append(_absent(m, "coarsen", "the coarsening variants"))
    blocks.append(_h("Population"))
    pop = m["population"]["rows"] + m["attributes"]["sensitive"]
    if pop:
        evaluated_on = m["settings"].get("population") or "the evaluation rows"
        blocks.append(_p("Population variants change who the model is trained on; the test "
                         f"rows are always {evaluated_on}. "
                         "The sensitive variant adds "
                         "protected attributes as features (never done in the default model)."))
        blocks.append(_comparison_table(pop, "Population and sensitive attributes", metric))
        blocks += _figure("population", m["_figures"])
        if not m["population"]["rows"] and _skipped(m, "population") is not None:
            blocks.append(_absent(m, "population", "the population variants"))
    else:
        blocks.append(_absent(m, "population", "the population variants"))
    blocks.append(_h("Retention"))
    if m["retention"]["rows"]:
        blocks.append(_p(
            "Only aggregates over at most the given number of days are kept. A window at least "
            "as long as the feed's longest is the baseline itself (shown as '= baseline')."))
        blocks.append(_comparison_table(m["retention"]["rows"], "History kept", metric,
                                        extra=(("days", "retention_days", "int"),)))
        blocks += _figure("retention", m["_figures"])
    else:
        blocks.append(_absent(m, "retention", "the retention variants"))
    return blocks


def _fairness(m: dict) -> list[dict]:
    f = m["fairness"]
    w = _words(m)
    source = f.get("threshold_source")
    blocks: list[dict] = [_p(
        f"Group metrics of the baseline on the test rows at the operating threshold "
        f"{f.get('threshold')} (a score at or above it is flagged: {w['decision']}"
        + (f"; the threshold is {source}" if source else "")
        + "). Every value is the mean over seeds with its interval. A missing value of a "
        "sensitive column is its own group, '(missing)'; rare levels are pooled into "
        "'(pooled rare levels)'.")]
    if not f["attributes"]:
        return [*blocks, _none_block("the fairness tables")]
    gaps = m.get("largest_gaps") or {}
    if gaps:
        from nsf.report._answer import _fairness_answer

        blocks.append(_note(
            "The threshold of this section is the configured score threshold, a score band "
            "that describes the score; the policy decides at its own thresholds (section "
            "'Decisions and money', its table by sensitive group). The largest gap at each, "
            "as the report names it: " + (_fairness_answer(gaps) or "")))
    if f["skipped"]:
        blocks.append(_note("Not in the data, so not evaluated: " + ", ".join(f["skipped"])))
    blocks += _figure("fairness", m["_figures"])
    if "fairness_thresholds" in m["_figures"]:
        blocks.append(_p("A single threshold can hide a gap: the figure below shows the "
                         "baseline's equalized-odds difference and the share flagged at every "
                         f"threshold from 5 to 95 (the operating threshold {f.get('threshold')} "
                         "marked)."))
        blocks += _figure("fairness_thresholds", m["_figures"])
    drows = []
    single = [n for n, a in f["attributes"].items() if len(a["groups"]) < 2]
    for name, a in f["attributes"].items():
        if name in single:
            continue
        for d in ("equalized_odds_difference", "auc_difference", "ece_difference",
                  "demographic_parity_difference"):
            v = a["disparities"].get(d)
            if v:
                drows.append([name, d.replace("_", " "), fmt(v["estimate"]),
                              fmt(v.get("bias_corrected")),
                              interval(v["lower"], v["upper"], "3")])
    blocks.append(_p(
        "Disparities are max - min over groups, which sampling noise inflates: the estimate is "
        "the observed spread, the bias-corrected value subtracts the bootstrap's estimate of "
        "that inflation (2 x estimate - mean of the replicates), and the interval is the basic "
        "(pivotal) bootstrap interval around it, clipped to the disparity's range. Group "
        "metrics have percentile intervals."))
    blocks.append(_table("Disparities of the baseline (largest minus smallest group)",
                         ["attribute", "disparity", "estimate", "bias-corrected", "interval"],
                         drows, {2, 3, 4}))
    if single:
        blocks.append(_note("One group only among the test rows, so no disparity: "
                            + ", ".join(single) + "."))

    def est(g: dict, key: str, kind: str) -> str:
        lo, hi = g.get(f"{key}_lower"), g.get(f"{key}_upper")
        small = SMALL_MARK if key in (g.get("below_support") or []) else ""
        return f"{fmt(g.get(key), kind)} {interval(lo, hi, kind)}{small}".strip()

    supports = {a.get("min_support") for a in f["attributes"].values()} - {None}
    marked = [n for n, a in f["attributes"].items()
              if any(g.get("below_support") for g in a["groups"])]
    if supports:
        blocks.append(_note(
            f"{SMALL_MARK} A group with fewer than {', '.join(str(s) for s in sorted(supports))} "
            f"rows behind a metric ({w['positive']} rows for the false-negative rate, "
            f"non-{w['positive']} rows for the "
            "false-positive rate, both for AUC, all rows otherwise) is shown but left out of "
            "that metric's disparity: a rate from a handful of rows would set the max - min "
            "alone. " + (f"Such groups occur by {', '.join(marked)}." if marked else
                         "No group is that small here.")))
    for name, a in f["attributes"].items():
        rows = []
        for g in a["groups"]:
            rows.append([str(g.get("group")), fmt(g.get("n"), "int"),
                         fmt(g.get("n_bad"), "int"),
                         fmt(g.get("bad_rate"), "pct"), est(g, "auc", "3"), est(g, "ece", "3"),
                         est(g, "selection_rate", "pct"),
                         est(g, "false_positive_rate", "pct"),
                         est(g, "false_negative_rate", "pct")])
        blocks.append(_table(f"Groups by {name}", ["group", "n", f"{w['positive']} rows",
                                                   f"{w['positive']} rate", "AUC",
                                                   "ECE", "flagged", "false-positive rate",
                                                   "false-negative rate"], rows,
                             {1, 2, 3, 4, 5, 6, 7, 8}))
    # Rates and AUC differences share a 0-1 scale; the mean score gap (0-100) is in report.json.
    changes = [c for c in f["changes"] if c["lower"] is not None and c["upper"] is not None
               and (c["lower"] > 0 or c["upper"] < 0) and c["disparity"] in KEY_DISPARITIES]
    changes.sort(key=lambda c: -abs(c["estimate"] or 0))
    shown = changes[:40]
    blocks.append(_p(
        f"Disparity changes per variant: {len(f['changes'])} (variant, attribute, disparity) "
        f"changes were measured against the baseline on the same resamples; {len(changes)} "
        "have an interval that excludes zero among the rate and AUC disparities"
        + (f" (the {len(shown)} largest shown; all are in report.json)." if changes else ".")))
    if shown:
        blocks.append(_table("Disparity changes whose interval excludes zero (variant minus "
                             "baseline; positive = wider gap)",
                             ["variant", "attribute", "disparity", "baseline", "variant value",
                              "change", "interval"],
                             [[c["variant"], c["attribute"], c["disparity"].replace("_", " "),
                               fmt(c["baseline"]), fmt(c["variant_value"]),
                               fmt(c["estimate"], "+3"), interval(c["lower"], c["upper"])]
                              for c in shown], {3, 4, 5, 6}))
    blocks.append(_h("Proxy strength"))
    if f["proxies"]:
        blocks.append(_p("How well each contested group alone predicts a sensitive attribute "
                         "(cross-validated); lift = score - chance, with a bootstrap interval "
                         "over the rows (out-of-fold predictions resampled within each class)."
                         + (" income_band is the simulator's latent income quartile (not a "
                            "protected attribute; shown for context)." if _simulated(m)
                            else "")))
        blocks += _figure("proxies", m["_figures"])
        top = sorted(f["proxies"], key=lambda p: -(p.get("lift") or -9))[:15]
        blocks.append(_table("Strongest proxies", ["group", "attribute", "metric", "score",
                                                   "chance", "lift"],
                             [[p["group"], p["target"], p.get("metric") or "n/a",
                               f"{fmt(p.get('score'))} "
                               f"{interval(p.get('score_lower'), p.get('score_upper'), '3')}",
                               fmt(p.get("chance")),
                               f"{fmt(p.get('lift'), '+3')} "
                               f"{interval(p.get('lift_lower'), p.get('lift_upper'))}"]
                              for p in top], {3, 4, 5}))
    else:
        blocks.append(_none_block("the proxy-strength table"))
    return blocks


def _reliance(m: dict) -> list[dict]:
    rel = m["reliance"]
    if not rel["rows"]:
        return [_none_block("the reliance table")]
    blocks = [_p("Reliance says what this model uses; necessity says what it loses when "
                 "retrained without the group. A group the model leans on but can do without "
                 "(correlated data takes over) sits right of the chart inside the grey band.")]
    blocks += _figure("reliance", m["_figures"])
    if rel["relied_not_needed"]:
        blocks.append(_note("Relied on but not shown needed (top-three SHAP share, necessity "
                            "not 'needed'): " + ", ".join(rel["relied_not_needed"])))
    rows = []
    for r in rel["rows"]:
        nec = r["necessity"]
        rows.append([r["group"], "yes" if r["contested"] else "no",
                     fmt(r["n_features"], "int"),
                     f"{fmt(r['shap_share'], 'pct')} (SD {fmt(r['shap_share_sd'], 'pct')})",
                     f"{fmt(r['permutation_auc_drop'])} (SD {fmt(r['permutation_auc_drop_sd'])})",
                     "n/a" if not nec else _cmp_cell(nec, True)[0],
                     "n/a" if not nec else verdict_cell(nec),
                     fmt(r["truth_strength"], "g")])
    blocks.append(_table("Reliance and necessity by group",
                         ["group", "contested", "features", "SHAP share", "permutation AUC drop",
                          "necessity (AUC change)", "verdict", "true dependence strength"],
                         rows, {2, 3, 4, 5}))
    return blocks


def _minimal(m: dict) -> list[dict]:
    ms = m["minimal_set"]
    metric = m["settings"]["primary_metric"]
    if not ms:
        return [_none_block("the minimal-set search (disabled or failed)")]
    cost = ms["cost"]
    blocks = [_p(
        f"Backward search ({ms['strategy']}): a contested group is removed when the model "
        f"without everything removed so far stays non-inferior to the baseline (margin "
        f"{fmt(ms['margin'])} {metric.upper()}). Kept: {', '.join(ms['kept']) or 'none'}. "
        f"Removed: {', '.join(ms['removed']) or 'none'}. Always kept (uncontested): "
        f"{', '.join(ms['uncontested']) or 'none'}."),
        _kv([("features (minimal set / baseline)",
              f"{ms['n_features']} / {ms['n_features_baseline']}"),
             (f"{metric.upper()} baseline -> minimal set",
              f"{fmt(ms['baseline_value'])} -> {fmt(ms['final_value'])}"),
             ("cost (difference, interval, verdict)",
              "nothing removed: no cost" if not cost else
              f"{fmt(cost['estimate'], '+3')} {interval(cost['lower'], cost['upper'])} "
              f"{cost['verdict']}"),
             ("search complete", fmt(ms["complete"], "bool"))], "What the minimal set costs")]
    blocks += _figure("minimal_set", m["_figures"])
    blocks.append(_table("Search steps", ["step", "candidate", "removal set", "difference",
                                          "interval", "verdict", "accepted"],
                         [[str(s.get("step")), str(s.get("candidate")),
                           ", ".join(s.get("removal_set") or []), fmt(s.get("estimate"), "+3"),
                           interval(s.get("lower"), s.get("upper")), s.get("verdict") or "n/a",
                           fmt(s.get("accepted"), "bool")] for s in ms["steps"]], {3, 4}))
    return blocks


_AUDIT_ROWS = (
    ("phone numbers recovered", "phone_recovered_fraction", "pct"),
    ("  of those in the enumerated sub-space", "phone_recovered_in_space_fraction", "pct"),
    ("  recoveries that are the right number", "phone_recovery_correct_fraction", "pct"),
    ("enumerated sub-space (numbers)", "phone_space_size", "int"),
    ("enumeration time (s)", "reversal_seconds", "1"),
    ("hashes per second", "hashes_per_s", "int"),
    ("whole 10^8 phone space at that rate (s)", "full_space_seconds_est", "1"),
    ("recipient rows linked", "link_fraction", "pct"),
    ("  links to the right user", "link_precision", "pct"),
    ("users unique on shared attributes", "unique_fraction", "pct"),
    ("  after the recommended coarsening", "unique_fraction_coarse", "pct"),
    ("users in classes with k < 5", "k_lt_5_fraction", "pct"),
    ("  after coarsening", "k_lt_5_fraction_coarse", "pct"),
    ("HMAC counterfactual: phone numbers recovered", "hmac_phone_recovered_fraction", "pct"),
    ("HMAC counterfactual: recipient rows linked", "hmac_link_fraction", "pct"),
)


def _deid(m: dict) -> list[dict]:
    d = m["deidentification"]
    if not d["available"] and not _simulated(m):
        answer = next((a["answer"] for a in m["summary"] if a["key"] == "deidentification"),
                      "")
        return [_p(answer)]
    if not d["available"]:
        return [_note("No de-identification audit run in this experiment. Run it with the "
                      "same config and tracking store, then regenerate this report:"),
                {"type": "pre", "text": d["how_to_run"]}]
    met = d["metrics"]
    blocks = [_p(f"From audit run {d['run_id']} (dataset {d.get('dataset') or 'n/a'}): the "
                 "shared phone and e-mail digests are attacked by enumeration (reversal) and "
                 "matched against a recipient's own identifiers (linkage); uniqueness on the "
                 "shared attributes measures re-identification risk without identifiers. The "
                 "HMAC counterfactual repeats the attacks with a keyed hash.")]
    blocks.append(_table("Audit results", ["measure", "value"],
                         [[label, fmt(met.get(key), kind)] for label, key, kind in _AUDIT_ROWS
                          if key in met], {1}))
    q = d.get("quasi") or {}
    if q:
        blocks.append(_p("Quasi-identifiers: " + ", ".join(q.get("columns") or [])
                         + "; coarsening: " + "; ".join(
                             f"{c.get('column')} {c.get('op')}"
                             + ("" if c.get("value") is None else f" {c['value']:g}")
                             for c in q.get("coarsening") or []) + "."))
    return blocks


def _model_card(m: dict) -> list[dict]:
    mc = m["model_card"]
    d = mc["details"]
    blocks: list[dict] = [_h("Model details"), _kv([
        ("model", str(d["model"])), ("score", d["score"]), ("target", d["target"]),
        ("training population / label", f"{d['population']} / {d['label']}"),
        ("features", fmt(d["n_features"], "int")),
        ("seeds", ", ".join(str(s) for s in d["seeds"])), ("developed by", d["developed_by"]),
        ("MLflow runs (baseline per seed)", ", ".join(d["run_ids"]))])]
    blocks += [_h("Intended use"), _list(mc["intended_use"])]
    fac = mc["factors"]
    blocks += [_h("Factors"), _p("Evaluated: " + (", ".join(fac["evaluated"]) or "none")
                                 + ". " + fac["note"])]
    met = mc["metrics"]
    blocks += [_h("Metrics"), _p(
        f"Primary: {str(met['primary']).upper()}. Reported: "
        + ", ".join(met["reported"]) + f". Operating threshold {met['threshold']}: "
        f"{met['threshold_meaning']}. Uncertainty: {met['uncertainty']}.")]
    ev, tr = mc["evaluation_data"], mc["training_data"]
    blocks += [_h("Evaluation data"), _kv([
        ("split", str(ev["split"])), ("test rows", fmt(ev["test_rows"], "int")),
        (f"test {_words(m)['positive']} rate", fmt(ev["test_nsf_rate"], "pct")),
        ("test rows digest", str(ev["test_digest"])),
        *([("plain cross-validated AUC (no calibration fold)", fmt(ev["plain_cv_auc"]))]
          if ev.get("plain_cv_auc") is not None else [])])]
    blocks += [_h("Training data"), _kv([
        ("kind", str(tr["kind"])), ("source", str(tr["source"])),
        ("dataset digest", str(tr["digest"])), ("training rows", fmt(tr["train_rows"], "int")),
        ("validation rows", fmt(tr["validation_rows"], "int"))])]
    qa = mc["quantitative_analyses"]
    blocks += [_h("Quantitative analyses"), _table(
        "Baseline test metrics over seeds (group breakdowns: section 5)",
        ["metric", "mean", "SD", "per seed"],
        [_metric_row(k if _simulated(m) else k.replace("nsf_rate", "positive_rate"), v)
         for k, v in qa.items()], {1, 2})]
    blocks += [_h("Ethical considerations"), _list(mc["ethical_considerations"]),
               _h("Caveats and recommendations"), _list(mc["caveats"])]
    return blocks


def _metric_row(name: str, v: dict) -> list[str]:
    """A metric over seeds; a yes/no check (every seed 0 or 1) as how many seeds passed."""
    seeds = v.get("per_seed") or []
    if seeds and all(x in (0, 1, 0.0, 1.0) for x in seeds) and not name.endswith(
            ("auc", "brier", "ece", "log_loss", "ks", "gini", "rate")):
        yes = sum(1 for x in seeds if x)
        return [name + " (a yes/no check)", f"yes in {yes} of {len(seeds)} seeds", "",
                ", ".join("yes" if x else "no" for x in seeds)]
    return [name, fmt(v["mean"]), fmt(v["sd"], "4"), ", ".join(fmt(x) for x in seeds)]


def _value(v: Any) -> str:
    if isinstance(v, list | dict):
        return json.dumps(v)
    return "not set" if v is None else str(v)


def _not_set(text: str | None) -> str:
    """A config field's description with ``null`` (YAML for "not set") in words."""
    import re

    return re.sub(r"\bnull\b", "not set", text or "")


def _method(m: dict) -> list[dict]:
    meth = m["method"]
    rows = [[a["field"], a["source"], _value(a["value"])
             + ("" if not a["changed"] else f" (default {_value(a['default'])})"),
             _not_set(a["description"])] for a in meth["assumptions"]]
    n_case = sum(a["source"] == "CASE" for a in meth["assumptions"])
    if _simulated(m):
        blocks: list[dict] = [_h("The simulator's facts and assumptions"), _p(
            f"{n_case} settings are facts of the public record [CASE]; "
            f"{len(rows) - n_case} are the project's assumptions [ASSUMPTION]. Values are the "
            "ones this study used (a changed default is marked).")]
        blocks.append(_table("Facts and assumptions with their source",
                             ["setting", "source", "value", "meaning"], rows))
    else:
        blocks = [_h("Assumptions"), _p(
            f"{len(rows)} settings of this study are the project's assumptions [ASSUMPTION]. "
            "Values are the ones this study used (a changed default is marked).")]
        blocks.append(_table("Assumptions", ["setting", "source", "value", "meaning"], rows))
    cal = meth["calibration"]
    if _simulated(m):
        blocks.append(_h("Calibration summary"))
    if not _simulated(m):
        pass
    elif cal["available"]:
        if cal.get("note"):
            blocks.append(_p(cal["note"]))
        blocks.append(_table("Simulated world against its calibration targets",
                             ["quantity", "meaning", "target", "simulated", "relative error"],
                             [[r["name"], r["meaning"] or "", fmt(r["target"], "g"),
                               fmt(r["simulated"]), fmt(r["relative_error"], "pct")]
                              for r in cal["rows"]], {2, 3, 4}))
        if cal.get("oracle"):
            o = cal["oracle"]
            blocks.append(_p(
                f"Oracle check on {fmt(o.get('rows'), 'int')} evaluation rows: mean true "
                f"P(NSF) {fmt(o.get('mean_p_nsf_appstore'))} against a realised rate of "
                f"{fmt(o.get('realised_nsf_appstore_rate'))}."))
    else:
        blocks.append(_note(f"Unavailable: {cal['note']}."))
    blocks += [_h("Statistics"), _list(meth["statistics"]), _h("Limitations"),
               _list(meth["limitations"])]
    return blocks


def _reproducibility(m: dict) -> list[dict]:
    r = m["reproducibility"]
    blocks: list[dict] = [_kv([
        ("experiment seed", str(r["experiment_seed"])),
        ("training seeds", ", ".join(str(s) for s in r["seeds"])),
        ("dataset digest", str(r["dataset_digest"])), ("dataset folder", str(r["dataset_source"])),
        ("test rows digest", str(r["test_digest"])), ("git commit", str(r["git_commit"])),
        ("MLflow tracking URI", str(m["source"]["tracking_uri"])),
        ("parent run (study)", str(r["run_ids"]["parent"])),
        ("audit run", str(r["run_ids"]["audit"] or "none")),
        ("fits trained / reused", "n/a" if not r["fits"] else
         f"{r['fits'].get('trained')} / {r['fits'].get('reused')}"),
        ("report generated", str(m["generated_at"]))], "Provenance")]
    blocks += [_h("Commands to rerun"), {"type": "pre", "text": "\n".join(r["commands"])}]
    children = r["run_ids"]["children"]
    if children:
        blocks.append(_table("Child runs (variant x seed)", ["variant", "seed: run id"],
                             [[v, [f"seed {s}: {rid}" for s, rid in seeds.items()]]
                              for v, seeds in children.items()]))
    blocks.append(_table("Package versions (the environment that generated this report)",
                         ["package", "version"], [[k, v] for k, v in r["packages"].items()]))
    text = r["config_yaml"]
    if not text:
        text = "# config.yaml not logged; not available"
    elif not _simulated(m):
        text = _table_config(text, set(m["settings"].get("families") or []))
    blocks += [_h("Resolved config"), {"type": "pre", "text": text}]
    return blocks


#: Config sections that only a simulated study reads (left out of a table's report; the full
#: config is config.yaml beside the report).
_SIMULATION_SECTIONS = ("world", "simulate", "audit", "target")


def _table_config(text: str, ran: set[str]) -> str:
    config = yaml.safe_load(text) or {}
    if not isinstance(config, dict):
        return text
    # The policy prices decisions; without the decisions family nothing read it.
    drop = (*_SIMULATION_SECTIONS, *(("policy",) if "decisions" not in ran else ()))
    kept = {k: v for k, v in config.items() if k not in drop}
    study = kept.get("study")
    if isinstance(study, dict):
        kept["study"] = {k: v for k, v in study.items() if k != "ledger"}
    dataset = kept.get("dataset")
    if isinstance(dataset, dict):  # the signature vouches for a simulated dataset's manifest
        kept["dataset"] = {k: v for k, v in dataset.items() if not k.startswith("signing_key")}
    return ("# the settings a table study reads (the full config, with the sections it does "
            "not read, is config.yaml beside this report)\n"
            + yaml.safe_dump(kept, sort_keys=False, allow_unicode=True))


_BUILDERS = {"summary": _summary, "inventory": _inventory, "attributes": _attributes,
             "granularity": _granularity, "fairness": _fairness, "reliance": _reliance,
             "minimal_set": _minimal, "deidentification": _deid, "model_card": _model_card,
             "method": _method, "reproducibility": _reproducibility}


def _glossary(m: dict) -> list[dict]:
    from nsf.report._words import GLOSSARY

    return [_p("Every metric and term of the report and this appendix, in a sentence."),
            _table("", ["term", "meaning"], [[t, d] for t, d in GLOSSARY])]


_BUILDERS["glossary"] = _glossary


def build_document(model: dict, figures: dict[str, bytes]) -> list[dict]:
    """Sections ``{id, title, blocks}`` of the technical appendix, in order: the core
    sections, the families' own sections, then the reproducibility record and the glossary.
    Variants are named in words."""
    from nsf.report._answer import reconcile

    if "recommendations" not in model:
        model = reconcile(model)
    m = dict(model, _figures=figures)
    sections = []
    for sid, title in SECTIONS:
        if sid in _CLOSING:
            continue
        if sid == "inventory" and m["inventory"]["unit"] == "group":
            title = "Data inventory: the attribute groups"  # a user's table
        sections.append({"id": sid, "title": title, "blocks": _BUILDERS[sid](m)})
    sections += family_document_sections(m, 0)
    sections += [{"id": sid, "title": title, "blocks": _BUILDERS[sid](m)}
                 for sid, title in SECTIONS if sid in _CLOSING]
    out = []
    for i, sec in enumerate(sections):
        title = sec["title"].split(". ", 1)[1] if sec["id"].startswith("family-") \
            else sec["title"]
        out.append({**sec, "title": f"A{i + 1}. {title}",
                    "blocks": plain_blocks(sec["blocks"], model)})
    return out


def build_documents(model: dict, figures: dict[str, bytes]) -> dict[str, list[dict]]:
    """``{"report": sections, "appendix": sections}``: the two documents of one study."""
    from nsf.report._answer import build_report, reconcile

    if "recommendations" not in model:
        model = reconcile(model)
    return {"report": [dict(s, blocks=plain_blocks(s["blocks"], model))
                       for s in build_report(model, figures)],
            "appendix": build_document(model, figures)}


def _variant_names(model: dict) -> dict[str, str]:
    from nsf.report._words import variant_words

    names = set(model.get("variant_metrics") or {})
    for key in ("drop_one", "drop_all", "keep_one", "uncontested", "custom", "sensitive"):
        names |= {r["variant"] for r in (model.get("attributes") or {}).get(key) or []}
    for key in ("granularity", "population", "retention"):
        names |= {r["variant"] for r in (model.get(key) or {}).get("rows") or []}
    names.discard("baseline")
    return {n: variant_words(n) for n in names}


def plain_blocks(blocks: list[dict], model: dict) -> list[dict]:
    """The blocks with every variant identifier (``core+email``, ``train_all_users_nsf_any``)
    replaced by its name in words ("e-mail added to the core")."""
    import re

    names = _variant_names(model)
    if not names:
        return blocks
    pattern = re.compile(r"(?<![\w+:])(" + "|".join(re.escape(n) for n in
                                                    sorted(names, key=len, reverse=True))
                         + r")(?![\w+])")

    def sub(x):
        if isinstance(x, str):
            return pattern.sub(lambda mt: names[mt.group(1)], x)
        if isinstance(x, list):
            return [sub(v) for v in x]
        return x

    out = []
    for b in blocks:
        if b["type"] in ("p", "note", "h3"):
            b = {**b, "text": sub(b["text"])}
        elif b["type"] == "list":
            b = {**b, "items": sub(b["items"])}
        elif b["type"] == "table":
            b = {**b, "caption": sub(b["caption"]), "rows": [sub(r) for r in b["rows"]]}
        out.append(b)
    return out


def config_yaml_from(study) -> str | None:
    """The study's resolved config as YAML (fallback when config.yaml was not logged)."""
    if study is None or not study.config:
        return None
    return yaml.safe_dump(study.config, sort_keys=False, allow_unicode=True)
