"""The report model laid out as a document: sections of blocks (paragraphs, tables, figures).

HTML and Markdown render the same blocks, so both say the same thing with the same numbers.
Formatting is consistent: AUC and its differences to 3 decimals, intervals as ``[lo, hi]``,
rates as percentages, missing values as ``n/a``.
"""

from __future__ import annotations

from typing import Any

import yaml

from nsf.report._appendix_blocks import (
    SMALL_MARK,
    _absent,
    _cmp_cell,
    _comparison_table,
    _conf,
    _figure,
    _h,
    _kv,
    _list,
    _none_block,
    _note,
    _p,
    _simulated,
    _skipped,
    _table,
    _words,
)
from nsf.report._appendix_record import _method, _model_card, _reproducibility
from nsf.report._blocks import Block, Heading, Items, Note, Para, Table, as_blocks
from nsf.report._families import family_document_sections, family_headlines
from nsf.report._model import KEY_DISPARITIES
from nsf.report._schema import (
    InventoryRow,
    Power,
    ReportModel,
    Settings,
    as_model,
)
from nsf.study import FairnessGroup
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


def _summary(m: ReportModel, figs: dict[str, bytes]) -> list[dict]:
    s = m.settings
    # The families' headline answers (the data ledger) open the report.
    blocks: list[dict] = family_headlines(m)
    if m.missing:
        blocks.append(_note("This report is incomplete. Missing: " + "; ".join(m.missing)))
    base = m.baseline.test(s.primary_metric)
    src = m.source
    blocks.append(_p(
        f"Study run {src.parent_run_id} of experiment '{src.experiment}' "
        f"({src.status}): a {s.model} model scoring the risk that "
        f"{s.outcome or 'the outcome happens'}, baseline test "
        f"{s.primary_metric.upper()} {fmt(base.mean if base else None)} "
        f"(SD {fmt(base.sd if base else None, '4')} over {s.n_seeds} seeds). Each answer "
        "below gives the "
        f"difference to the reference with its {_conf(s)} interval and "
        f"the verdict against a margin of {fmt(s.margin)} "
        f"{s.primary_metric.upper()}."))
    ev = m.model_card.evaluation_data
    if ev.plain_cv_auc is not None:
        blocks.append(_note(
            f"Cross-fitted: {ev.split}. Each fold's model also gives up a calibration fold "
            "and trains on re-drawn rows, so the study's AUC "
            f"{fmt(auc.mean if (auc := m.baseline.test('auc')) else None)} is below the "
            f"usual cross-validated AUC of the same learner, {fmt(ev.plain_cv_auc)} "
            f"({ev.plain_cv_note}): compare that one with published figures. The "
            "verdicts compare variants under the same protocol, so both arms pay the same."))
    skipped = m.skipped_families
    if skipped:
        blocks.append(_note("Families not applicable to this dataset (skipped, not missing): "
                            + "; ".join(f"{f.family}: not applicable: {f.reason}"
                                        for f in skipped)))
    power = m.power
    if power and power.margin_below_resolution:
        blocks.append(_note(_power_text(power, s)))
    readout = m.power_readout
    if any(line.startswith("undecided") for line in readout):
        blocks.append(_note("What this study can tell, and what would decide the questions "
                            "it left undecided: " + "; ".join(readout) + "."))
    rows = [[str(a.number) if a.number else "-", a.question, a.answer]
            for a in m.summary]
    blocks.append(_table("Answers to the questions of the case" if _simulated(m) else
                         "Answers", ["#", "question", "answer"], rows))
    return blocks


def _power_text(power: Power, s: Settings) -> str:
    metric = s.primary_metric.upper()
    return (f"What the table can resolve: the drop-one comparisons have a median standard "
            f"error of {fmt(power.median_standard_error, '4')} {metric}, so the smallest "
            f"difference they detect with {power.power:.0%} power at the {_conf(s)} level "
            f"is about (z + z_power) x SE = {fmt(power.detectable_difference)}. "
            + (f"The margin {fmt(power.margin)} is below it, so most verdicts stay "
               "inconclusive whatever the data; a margin of about "
               f"{fmt(power.suggested_margin)} (study.margins) lets them decide, or more "
               "rows and seeds narrow the intervals."
               if power.margin_below_resolution else
               f"The margin {fmt(power.margin)} is within reach."))


def _data(m: ReportModel) -> list[dict]:
    """A table's data as read: missing values per column, what reading found, how the models
    treat missing values."""
    d = m.data
    if not d:
        return []
    blocks: list[dict] = [_h("The data as read")]
    shares = d.missing_share
    with_missing = [r for r in shares if r.share > 0]
    if with_missing:
        blocks.append(_table(
            f"Missing values: {len(with_missing)} of {len(shares)} feature and sensitive "
            "columns have some",
            ["column", "role", "missing"],
            [[r.column, "sensitive" if r.sensitive else "feature",
              fmt(r.share, "pct")] for r in sorted(shares, key=lambda r: -r.share)],
            {2}))
    else:
        blocks.append(_p(f"No missing values in the {len(shares)} feature and sensitive "
                         "columns."))
    blocks.append(_p("How missing values are treated (this study's model: "
                     f"{d.model or 'n/a'}):"))
    blocks.append(_list([*d.treatment, d.sensitive_missing]))
    if d.reading_notes:
        blocks.append(_p("What reading the table found (also printed before the study "
                         "started):"))
        blocks.append(_list(d.reading_notes))
    power = m.power
    if power:
        blocks.append(_p(_power_text(power, m.settings)))
    return blocks


def _inventory(m: ReportModel, figs: dict[str, bytes]) -> list[dict]:
    inv = m.inventory
    what = ("Every shared category, the attribute group its features belong to, and what "
            if inv.unit == "category" else "Every attribute group of the table and what ")
    blocks = [*_data(m), _p(
        what + "the study measured about that group: necessity (AUC change when "
                 "the group is removed, with its interval and verdict), the coarse version "
                 "(AUC change when it is coarsened), reliance (share of mean |SHAP|), and its "
                 "strongest proxy lift for a protected attribute "
                 f"({', '.join(inv.protected_targets)}). The recommendation follows from "
                 "those numbers by this rule, applied in order:"),
              _list(inv.rule_steps or [inv.rule]),
              _p(f"Proxy threshold: a lift of {fmt(inv.proxy_lift_threshold, 'g')} over "
                 "chance (AUC - 0.5 for two classes, balanced accuracy - 1/k for k classes).")]
    if not inv.rows:
        return [*blocks, _none_block("the data inventory (no study result)")]
    if inv.unit != "category":
        blocks.insert(len(_data(m)), _h("Attribute groups"))
    rows: list[list[str | list[str]]] = []
    rec_of = {r.key: r for r in m.recommendations}
    for r in inv.rows:
        rel, prox = r.reliance, r.proxy
        shared = ("public" if r.public else "FSS list" if r.source == "CASE"
                  else "project's choice") if r.public is not None else "table"
        rows.append([
            f"{r.category}. {r.name}" if r.category else r.name,
            f"{shared} [{r.source}]",
            [r.group, "contested" if r.contested else "uncontested"],
            "yes" if r.used else "no",
            _cmp_cell(r.necessity, r.used), _cmp_cell(r.coarse, r.used),
            "-" if not r.used else ("n/a" if not rel else fmt(rel.shap_share, "pct")),
            "n/a" if not prox else [fmt(prox.lift), interval(prox.lift_lower,
                                                                prox.lift_upper, "3"),
                                    prox.target],
            rec_of[_rec_key(r)].action.upper() if _rec_key(r) in rec_of else "n/a",
            [f"this group alone: {r.recommendation} (step {r.rule}: {r.reason})",
             *(f"[{flag}]" for flag in r.flags)],
        ])
    recs = m.recommendations
    c = {a: sum(r.action == a for r in recs) for a in ("drop", "coarsen", "keep")}
    unit = "categories" if inv.unit == "category" else "attribute groups"
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
        + ("(rows: category x group)" if inv.unit == "category" else
           "(rows: attribute groups)"),
        ["category", "shared as", "group", "used", "necessity (drop)", "coarse version",
         "reliance", "max proxy lift", "recommendation", "why"], rows, {4, 5, 6, 7}))
    return blocks


def _rec_key(row: InventoryRow) -> str:
    return str(row.category) if row.category is not None else row.name


def _attributes(m: ReportModel, figs: dict[str, bytes]) -> list[dict]:
    s, att = m.settings, m.attributes
    metric = s.primary_metric
    blocks: list[dict] = [_p(
        "Each contested group is removed and the model retrained with every seed; the table "
        f"gives test {metric.upper()} of the baseline and the variant (mean over seeds) and the "
        "paired difference with its own interval and with the interval that holds jointly "
        "over the variant's family (see the method); 'decided by' says which one gave the "
        "verdict. Negative differences mean the variant is worse.")]
    if att.drop_one or att.drop_all:
        blocks.append(_comparison_table(att.drop_one + att.drop_all,
                                        "Removing contested data", metric))
        blocks += _figure("attributes", figs)
    else:
        blocks.append(_absent(m, "drop_one", "the drop-one and drop-all variants"))
    if att.uncontested:
        blocks.append(_p("For reference, each uncontested group removed the same way: these "
                         "groups are not contested, so their verdicts change no recommendation "
                         "(uncontested data are kept)."))
        blocks.append(_comparison_table(att.uncontested,
                                        "Removing uncontested data (not contested)", metric))
    if att.keep_one:
        blocks.append(_p("Added one at a time to the uncontested core (reference: the model "
                         "without any contested group): positive means the group helps."))
        blocks.append(_comparison_table(att.keep_one, "Adding one group to the core",
                                        metric))
        blocks += _figure("keep_one", figs)
    if att.custom:
        blocks.append(_comparison_table(att.custom, "Variants declared in the config",
                                        metric))
    other = [k for k in m.settings.metrics if k != metric]
    if other and m.variant_metrics:
        rows = []
        for name, per in m.variant_metrics.items():
            line = [name]
            for k in [metric, *other]:
                c = per.get(k)
                line.append("n/a" if not c else
                            f"{fmt(c.estimate, '+3')} {interval(c.lower, c.upper)}")
            rows.append(line)
        blocks.append(_table("Every variant, every metric: difference to the baseline "
                             "[interval] (Brier, log-loss, ECE: lower is better)",
                             ["variant", *[k.upper() for k in [metric, *other]]], rows))
    return blocks


def _granularity(m: ReportModel, figs: dict[str, bytes]) -> list[dict]:
    metric = m.settings.primary_metric
    blocks: list[dict] = [_h("Granularity")]
    if m.granularity.rows:
        blocks.append(_p("A coarse version replaces the raw values (" + (
            "balance bands, join year, e-mail provider, capped counts" if _simulated(m) else
            "numbers cut into log2 bands") + "); 'not shown needed' means the coarse "
            "version is as good as the raw one within the margin."))
        blocks.append(_comparison_table(m.granularity.rows, "Coarse against raw",
                                        metric))
        blocks += _figure("granularity", figs)
    else:
        blocks.append(_absent(m, "coarsen", "the coarsening variants"))
    blocks.append(_h("Population"))
    pop = m.population.rows + m.attributes.sensitive
    if pop:
        evaluated_on = m.settings.population or "the evaluation rows"
        blocks.append(_p("Population variants change who the model is trained on; the test "
                         f"rows are always {evaluated_on}. "
                         "The sensitive variant adds "
                         "protected attributes as features (never done in the default model)."))
        blocks.append(_comparison_table(pop, "Population and sensitive attributes", metric))
        blocks += _figure("population", figs)
        if not m.population.rows and _skipped(m, "population") is not None:
            blocks.append(_absent(m, "population", "the population variants"))
    else:
        blocks.append(_absent(m, "population", "the population variants"))
    blocks.append(_h("Retention"))
    if m.retention.rows:
        blocks.append(_p(
            "Only aggregates over at most the given number of days are kept. A window at least "
            "as long as the feed's longest is the baseline itself (shown as '= baseline')."))
        blocks.append(_comparison_table(m.retention.rows, "History kept", metric,
                                        extra=(("days", "retention_days", "int"),)))
        blocks += _figure("retention", figs)
    else:
        blocks.append(_absent(m, "retention", "the retention variants"))
    return blocks


def _fairness(m: ReportModel, figs: dict[str, bytes]) -> list[dict]:
    f = m.fairness
    w = _words(m)
    source = f.threshold_source
    blocks: list[dict] = [_p(
        f"Group metrics of the baseline on the test rows at the operating threshold "
        f"{f.threshold} (a score at or above it is flagged: {w.decision}"
        + (f"; the threshold is {source}" if source else "")
        + "). Every value is the mean over seeds with its interval. A missing value of a "
        "sensitive column is its own group, '(missing)'; rare levels are pooled into "
        "'(pooled rare levels)'.")]
    if not f.attributes:
        return [*blocks, _none_block("the fairness tables")]
    gaps = m.largest_gaps
    if gaps:
        from nsf.report._page_one import _fairness_answer

        blocks.append(_note(
            "The threshold of this section is the configured score threshold, a score band "
            "that describes the score; the policy decides at its own thresholds (section "
            "'Decisions and money', its table by sensitive group). The largest gap at each, "
            "as the report names it: " + (_fairness_answer(gaps) or "")))
    if f.skipped:
        blocks.append(_note("Not in the data, so not evaluated: " + ", ".join(f.skipped)))
    blocks += _figure("fairness", figs)
    if "fairness_thresholds" in figs:
        blocks.append(_p("A single threshold can hide a gap: the figure below shows the "
                         "baseline's equalized-odds difference and the share flagged at every "
                         f"threshold from 5 to 95 (the operating threshold {f.threshold} "
                         "marked)."))
        blocks += _figure("fairness_thresholds", figs)
    drows = []
    single = [n for n, a in f.attributes.items() if len(a.groups) < 2]
    for name, a in f.attributes.items():
        if name in single:
            continue
        ds = a.disparities
        for d, v in (("equalized_odds_difference", ds.equalized_odds_difference),
                     ("auc_difference", ds.auc_difference),
                     ("ece_difference", ds.ece_difference),
                     ("demographic_parity_difference", ds.demographic_parity_difference)):
            if v:
                drows.append([name, d.replace("_", " "), fmt(v.estimate),
                              fmt(v.bias_corrected),
                              interval(v.lower, v.upper, "3")])
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

    def est(g: FairnessGroup, key: str, kind: str) -> str:
        lo, hi = getattr(g, f"{key}_lower"), getattr(g, f"{key}_upper")
        small = SMALL_MARK if key in (g.below_support or []) else ""
        return f"{fmt(getattr(g, key), kind)} {interval(lo, hi, kind)}{small}".strip()

    supports = {a.min_support for a in f.attributes.values() if a.min_support is not None}
    marked = [n for n, a in f.attributes.items()
              if any(g.below_support for g in a.groups)]
    if supports:
        blocks.append(_note(
            f"{SMALL_MARK} A group with fewer than {', '.join(str(s) for s in sorted(supports))} "
            f"rows behind a metric ({w.positive} rows for the false-negative rate, "
            f"non-{w.positive} rows for the "
            "false-positive rate, both for AUC, all rows otherwise) is shown but left out of "
            "that metric's disparity: a rate from a handful of rows would set the max - min "
            "alone. " + (f"Such groups occur by {', '.join(marked)}." if marked else
                         "No group is that small here.")))
    for name, a in f.attributes.items():
        rows = []
        for g in a.groups:
            rows.append([str(g.group), fmt(g.n, "int"),
                         fmt(g.n_bad, "int"),
                         fmt(g.bad_rate, "pct"), est(g, "auc", "3"), est(g, "ece", "3"),
                         est(g, "selection_rate", "pct"),
                         est(g, "false_positive_rate", "pct"),
                         est(g, "false_negative_rate", "pct")])
        blocks.append(_table(f"Groups by {name}", ["group", "n", f"{w.positive} rows",
                                                   f"{w.positive} rate", "AUC",
                                                   "ECE", "flagged", "false-positive rate",
                                                   "false-negative rate"], rows,
                             {1, 2, 3, 4, 5, 6, 7, 8}))
    # Rates and AUC differences share a 0-1 scale; the mean score gap (0-100) is in report.json.
    changes = [c for c in f.changes if c.lower is not None and c.upper is not None
               and (c.lower > 0 or c.upper < 0) and c.disparity in KEY_DISPARITIES]
    changes.sort(key=lambda c: -abs(c.estimate or 0))
    shown = changes[:40]
    blocks.append(_p(
        f"Disparity changes per variant: {len(f.changes)} (variant, attribute, disparity) "
        f"changes were measured against the baseline on the same resamples; {len(changes)} "
        "have an interval that excludes zero among the rate and AUC disparities"
        + (f" (the {len(shown)} largest shown; all are in report.json)." if changes else ".")))
    if shown:
        blocks.append(_table("Disparity changes whose interval excludes zero (variant minus "
                             "baseline; positive = wider gap)",
                             ["variant", "attribute", "disparity", "baseline", "variant value",
                              "change", "interval"],
                             [[c.variant, c.attribute, c.disparity.replace("_", " "),
                               fmt(c.baseline), fmt(c.variant_value),
                               fmt(c.estimate, "+3"), interval(c.lower, c.upper)]
                              for c in shown], {3, 4, 5, 6}))
    blocks.append(_h("Proxy strength"))
    if f.proxies:
        blocks.append(_p("How well each contested group alone predicts a sensitive attribute "
                         "(cross-validated); lift = score - chance, with a bootstrap interval "
                         "over the rows (out-of-fold predictions resampled within each class)."
                         + (" income_band is the simulator's latent income quartile (not a "
                            "protected attribute; shown for context)." if _simulated(m)
                            else "")))
        blocks += _figure("proxies", figs)
        top = sorted(f.proxies, key=lambda p: -(p.lift or -9))[:15]
        blocks.append(_table("Strongest proxies", ["group", "attribute", "metric", "score",
                                                   "chance", "lift"],
                             [[p.group, p.target, p.metric or "n/a",
                               f"{fmt(p.score)} "
                               f"{interval(p.score_lower, p.score_upper, '3')}",
                               fmt(p.chance),
                               f"{fmt(p.lift, '+3')} "
                               f"{interval(p.lift_lower, p.lift_upper)}"]
                              for p in top], {3, 4, 5}))
    else:
        blocks.append(_none_block("the proxy-strength table"))
    return blocks


def _reliance(m: ReportModel, figs: dict[str, bytes]) -> list[dict]:
    rel = m.reliance
    if not rel.rows:
        return [_none_block("the reliance table")]
    blocks = [_p("Reliance says what this model uses; necessity says what it loses when "
                 "retrained without the group. A group the model leans on but can do without "
                 "(correlated data takes over) sits right of the chart inside the grey band.")]
    blocks += _figure("reliance", figs)
    if rel.relied_not_needed:
        blocks.append(_note("Relied on but not shown needed (top-three SHAP share, necessity "
                            "not 'needed'): " + ", ".join(rel.relied_not_needed)))
    rows = []
    for r in rel.rows:
        nec = r.necessity
        rows.append([r.group, "yes" if r.contested else "no",
                     fmt(r.n_features, "int"),
                     f"{fmt(r.shap_share, 'pct')} (SD {fmt(r.shap_share_sd, 'pct')})",
                     f"{fmt(r.permutation_auc_drop)} (SD {fmt(r.permutation_auc_drop_sd)})",
                     "n/a" if not nec else _cmp_cell(nec, True)[0],
                     "n/a" if not nec else verdict_cell(nec.verdict),
                     fmt(r.truth_strength, "g")])
    blocks.append(_table("Reliance and necessity by group",
                         ["group", "contested", "features", "SHAP share", "permutation AUC drop",
                          "necessity (AUC change)", "verdict", "true dependence strength"],
                         rows, {2, 3, 4, 5}))
    return blocks


def _minimal(m: ReportModel, figs: dict[str, bytes]) -> list[dict]:
    ms = m.minimal_set
    metric = m.settings.primary_metric
    if not ms:
        return [_none_block("the minimal-set search (disabled or failed)")]
    cost = ms.cost
    blocks = [_p(
        f"Backward search ({ms.strategy}): a contested group is removed when the model "
        f"without everything removed so far stays non-inferior to the baseline (margin "
        f"{fmt(ms.margin)} {metric.upper()}). Kept: {', '.join(ms.kept) or 'none'}. "
        f"Removed: {', '.join(ms.removed) or 'none'}. Always kept (uncontested): "
        f"{', '.join(ms.uncontested) or 'none'}."),
        _kv([("features (minimal set / baseline)",
              f"{ms.n_features} / {ms.n_features_baseline}"),
             (f"{metric.upper()} baseline -> minimal set",
              f"{fmt(ms.baseline_value)} -> {fmt(ms.final_value)}"),
             ("cost (difference, interval, verdict)",
              "nothing removed: no cost" if not cost else
              f"{fmt(cost.estimate, '+3')} {interval(cost.lower, cost.upper)} "
              f"{cost.verdict}"),
             ("search complete", fmt(ms.complete, "bool"))], "What the minimal set costs")]
    blocks += _figure("minimal_set", figs)
    blocks.append(_table("Search steps", ["step", "candidate", "removal set", "difference",
                                          "interval", "verdict", "accepted"],
                         [[str(s.step), str(s.candidate),
                           ", ".join(s.removal_set), fmt(s.estimate, "+3"),
                           interval(s.lower, s.upper), s.verdict or "n/a",
                           fmt(s.accepted, "bool")] for s in ms.steps], {3, 4}))
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


def _deid(m: ReportModel, figs: dict[str, bytes]) -> list[dict]:
    d = m.deidentification
    if not d.available and not _simulated(m):
        answer = next((a.answer for a in m.summary if a.key == "deidentification"),
                      "")
        return [_p(answer)]
    if not d.available:
        return [_note("No de-identification audit run in this experiment. Run it with the "
                      "same config and tracking store, then regenerate this report:"),
                {"type": "pre", "text": d.how_to_run}]
    met = d.metrics
    blocks = [_p(f"From audit run {d.run_id} (dataset {d.dataset or 'n/a'}): the "
                 "shared phone and e-mail digests are attacked by enumeration (reversal) and "
                 "matched against a recipient's own identifiers (linkage); uniqueness on the "
                 "shared attributes measures re-identification risk without identifiers. The "
                 "HMAC counterfactual repeats the attacks with a keyed hash.")]
    blocks.append(_table("Audit results", ["measure", "value"],
                         [[label, fmt(met[key], kind)] for label, key, kind in _AUDIT_ROWS
                          if key in met], {1}))
    q = d.quasi
    if q:
        blocks.append(_p("Quasi-identifiers: " + ", ".join(q.columns)
                         + "; coarsening: " + "; ".join(
                             f"{c.column} {c.op}"
                             + ("" if c.value is None else f" {c.value:g}")
                             for c in q.coarsening) + "."))
    return blocks


_BUILDERS = {"summary": _summary, "inventory": _inventory, "attributes": _attributes,
             "granularity": _granularity, "fairness": _fairness, "reliance": _reliance,
             "minimal_set": _minimal, "deidentification": _deid, "model_card": _model_card,
             "method": _method, "reproducibility": _reproducibility}


def _glossary(m: ReportModel, figs: dict[str, bytes]) -> list[dict]:
    from nsf.report._words import GLOSSARY

    return [_p("Every metric and term of the report and this appendix, in a sentence."),
            _table("", ["term", "meaning"], [[t, d] for t, d in GLOSSARY])]


_BUILDERS["glossary"] = _glossary


def build_document(model: ReportModel | dict, figures: dict[str, bytes]) -> list[dict]:
    """Sections ``{id, title, blocks}`` of the technical appendix, in order: the core
    sections, the families' own sections, then the reproducibility record and the glossary.
    Variants are named in words; the blocks are typed (:mod:`nsf.report._blocks`)."""
    m = _reconciled(model)
    sections: list[dict[str, Any]] = []
    for sid, title in SECTIONS:
        if sid in _CLOSING:
            continue
        if sid == "inventory" and m.inventory.unit == "group":
            title = "Data inventory: the attribute groups"  # a user's table
        sections.append({"id": sid, "title": title, "blocks": _BUILDERS[sid](m, figures)})
    sections += family_document_sections(m, 0)
    sections += [{"id": sid, "title": title, "blocks": _BUILDERS[sid](m, figures)}
                 for sid, title in SECTIONS if sid in _CLOSING]
    out = []
    for i, sec in enumerate(sections):
        title = sec["title"].split(". ", 1)[1] if sec["id"].startswith("family-") \
            else sec["title"]
        out.append({**sec, "title": f"A{i + 1}. {title}",
                    "blocks": plain_blocks(as_blocks(sec["blocks"]), m)})
    return out


def _reconciled(model: ReportModel | dict) -> ReportModel:
    """The typed model, with what several sections name derived once."""
    from nsf.report._answer import reconcile

    m = as_model(model)
    return m if "recommendations" in m.model_fields_set else reconcile(m)


def build_documents(model: ReportModel | dict,
                    figures: dict[str, bytes]) -> dict[str, list[dict]]:
    """``{"report": sections, "appendix": sections}``: the two documents of one study."""
    from nsf.report._answer import build_report

    m = _reconciled(model)
    return {"report": [dict(s, blocks=plain_blocks(s["blocks"], m))
                       for s in build_report(m, figures)],
            "appendix": build_document(m, figures)}


def _variant_names(model: ReportModel) -> dict[str, str]:
    from nsf.report._words import variant_words

    att = model.attributes
    names = set(model.variant_metrics)
    for rows in (att.drop_one, att.drop_all, att.keep_one, att.uncontested, att.custom,
                 att.sensitive, model.granularity.rows, model.population.rows,
                 model.retention.rows):
        names |= {r.variant for r in rows}
    names.discard("baseline")
    return {n: variant_words(n) for n in names}


def plain_blocks(blocks: list[Block], model: ReportModel) -> list[Block]:
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

    out: list[Block] = []
    for b in blocks:
        if isinstance(b, Para | Note | Heading):
            b = b.model_copy(update={"text": sub(b.text)})
        elif isinstance(b, Items):
            b = b.model_copy(update={"items": sub(b.items)})
        elif isinstance(b, Table):
            b = b.model_copy(update={"caption": sub(b.caption), "rows": [sub(r) for r in b.rows]})
        out.append(b)
    return out


def config_yaml_from(study) -> str | None:
    """The study's resolved config as YAML (fallback when config.yaml was not logged)."""
    if study is None or not study.config:
        return None
    return yaml.safe_dump(study.config, sort_keys=False, allow_unicode=True)
