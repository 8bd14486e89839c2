"""The report's content as one JSON-ready dict: a pure function of what the study logged.

:func:`build_report_model` takes the study result (``study.json``), the audit result, the
dataset's calibration summary and the provenance, and returns every number the report shows,
raw (unrounded) and with its source. The renderers only format it. Missing parts (a failed
variant, no audit, no summary) become entries of ``missing`` and sections that say so.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict

from nsf.report._answers import (  # noqa: F401  (SIMULATED_WORDS: re-exported)
    SIMULATED_WORDS,
    _answer_attributes,
    _answer_audit,
    _answer_fairness,
    _answer_granularity,
    _answer_identifiers,
    _answer_population,
    _answer_retention,
    _diff_text,
    _num,
    _words,
)
from nsf.report._families import family_sections, family_summaries
from nsf.report._method import _limitations, _model_card, _statistics_text
from nsf.report._rules import RULE_STEPS, RULE_TEXT, recommend
from nsf.report._schema import Comparison, Cost, Settings
from nsf.study import BASELINE, SCHEMA, StudyResult, VariantResult
from nsf.study.families import FAMILIES
from nsf.vocabulary import NEEDED, Metric

__all__ = ["REPORT_SCHEMA", "build_report_model"]

#: Schema id of report.json (nsf/schemas/report.schema.json).
REPORT_SCHEMA = "nsf.report/2"
#: Disparities shown in the compact fairness tables (all are in report.json).
KEY_DISPARITIES = ("equalized_odds_difference", "auc_difference", "ece_difference",
                   "demographic_parity_difference", "false_positive_rate_difference",
                   "false_negative_rate_difference")
QUESTIONS = {
    "attributes": "How much accuracy does each contested attribute add?",
    "granularity": "Is a coarse version as good as the raw one?",
    "population": "Does training on users who never used Apple's billing help score those "
                  "who do?",
    "population_table": "Does training on a wider population with a proxy label help?",
    "retention": "How much history is needed?",
    "fairness": "Do groups get different error rates or calibration, and do contested "
                "attributes act as proxies for them?",
    "deidentification": "Can the hashed identifiers be reversed or linked, and how fast?",
    "identifiers_table": "Are the columns that identify a person kept out of the model and its "
                         "records?",
}

_T = TypeVar("_T")


def _of_metric(by_metric: Mapping[Metric, _T], metric: str) -> _T | None:
    """``by_metric[metric]`` for a metric named in plain text (None when it is absent)."""
    return {str(k): v for k, v in by_metric.items()}.get(metric)


def _comparison(variant: VariantResult | None, metric: str,
                reference: str | None = None) -> Comparison | None:
    if variant is None:
        return None
    comp = variant.comparison(reference)
    if comp is None:
        return None
    m = _of_metric(comp.metrics, metric)
    if m is None:
        return None
    return Comparison(
        variant=variant.name, family=variant.family, reference=comp.reference,
        subject=comp.subject, groups=list(variant.groups),
        description=variant.description, metric=metric,
        estimate=m.estimate, lower=m.lower, upper=m.upper,
        standard_error=m.standard_error, reference_estimate=m.reference_estimate,
        variant_estimate=m.variant_estimate, margin=m.margin, verdict=m.verdict,
        simultaneous_lower=m.simultaneous_lower, simultaneous_upper=m.simultaneous_upper,
        simultaneous_level=m.simultaneous_level, family_size=m.family_size,
        per_comparison_verdict=m.per_comparison_verdict, decided_by=m.decided_by,
        same_fits_as=variant.same_fits_as, n_features=variant.n_features,
        retention_days=variant.selection.retention_days,
        population=variant.population, label=variant.label,
        run_ids=list(variant.run_ids))


def _json(rows: list[Comparison]) -> list[dict]:
    """Comparison rows in report.json's form."""
    return [r.model_dump() for r in rows]


#: What the inventory keeps of a comparison.
_SHORT = {"variant", "estimate", "lower", "upper", "verdict", "margin", "simultaneous_lower",
          "simultaneous_upper", "decided_by"}


def _rows(study: StudyResult, families: tuple[str, ...], metric: str,
          reference: str | None = None) -> list[Comparison]:
    out = []
    for v in study.variants_of(*families):
        row = _comparison(v, metric, reference)
        if row is not None:
            out.append(row)
    return out


#: The report's comparison tables (``"<section>.<key>"`` of report.json); each family names its
#: own (its contract's ``comparisons``), the user's declared variants go to ``custom``.
SLOTS = ("attributes.drop_one", "attributes.drop_all", "attributes.keep_one",
         "attributes.uncontested", "attributes.custom", "attributes.sensitive",
         "granularity.rows", "population.rows", "retention.rows")


def _comparison_slots(study: StudyResult | None, metric: str) -> dict[str, list[Comparison]]:
    """Slot -> the comparison rows of the families that show theirs there, in registry
    order (empty without a study)."""
    out: dict[str, list[Comparison]] = {slot: [] for slot in SLOTS}
    if study is None:
        return out
    for family in FAMILIES.values():
        view = family.comparisons
        if view is None:
            continue
        rows = _rows(study, (family.name,), metric, view.reference)
        order_by = view.order_by
        if order_by is not None:
            rows = sorted(rows, key=lambda r: getattr(r, order_by) or 0)
        out.setdefault(view.slot, []).extend(rows)
    out["attributes.custom"] = _rows(study, ("custom",), metric)
    return out


def _sections_of(slots: dict[str, list[Comparison]]) -> dict[str, dict[str, list[dict]]]:
    """``{"attributes": {"drop_one": rows, ...}, "granularity": {"rows": rows}, ...}``."""
    out: dict[str, dict[str, list[dict]]] = {}
    for slot, rows in slots.items():
        section, key = slot.split(".", 1)
        out.setdefault(section, {})[key] = _json(rows)
    return out


def _inventory_variant(study: StudyResult, reads: str, group: str) -> VariantResult | None:
    """The variant about exactly ``group`` that the inventory's rule reads as ``reads``
    (``necessity``, ``coarse``): the first family, in registry order, that gives one."""
    for family in FAMILIES.values():
        if family.comparisons is not None and family.comparisons.inventory == reads:
            v = study.variant_for(family.name, group)
            if v is not None:
                return v
    return None


# --- what the report is built from ------------------------------------------------------------

class _Input(BaseModel):
    """A part handed to :func:`build_report_model`, read by name (other keys are ignored)."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class Provenance(_Input):
    """Where the study's numbers come from (the tracking store and the parent run)."""

    tracking_uri: str | None = None
    experiment: str | None = None
    experiment_id: str | None = None
    parent_run_id: str | None = None
    status: str | None = None
    tags: dict[str, str] = {}
    metrics: dict[str, Any] = {}
    missing: list[str] = []
    config_yaml: str | None = None


class Environment(_Input):
    generated_at: str | None = None
    packages: dict[str, str] = {}


class AuditFile(_Input):
    """The parts of ``audit.json`` the report shows."""

    reversal: dict[str, Any] | None = None
    linkage: dict[str, Any] | None = None
    quasi: dict[str, Any] | None = None
    counterfactual: dict[str, Any] | None = None
    dataset: str | None = None


class AuditRun(_Input):
    run_id: str | None = None
    metrics: dict[str, Any] = {}
    audit: dict[str, Any] | None = None


class CalibrationTarget(_Input):
    meaning: str | None = None
    target: Any = None
    simulated: Any = None
    relative_error: Any = None


class DatasetSummary(_Input):
    """The parts of the dataset's ``summary.json`` the report shows."""

    calibration: dict[str, CalibrationTarget] | None = None
    oracle: dict[str, Any] | None = None


# --- sections -------------------------------------------------------------------------------

def _settings(study: StudyResult | None) -> Settings:
    if study is None:
        return Settings(primary_metric="auc", margin=None, margins={}, confidence=None,
                        n_bootstrap=None, fairness_n_bootstrap=None, interval_target=None,
                        multiplicity=None, threshold=None, metrics=[], model=None, n_seeds=0,
                        outcome=None, population=None, thresholds={}, simulated=True,
                        words=_words(None), threshold_source=None, families=[])
    s = study.settings
    return Settings(primary_metric=s.primary_metric, margin=s.margins[s.primary_metric],
                    margins={k: v for k, v in s.margins.items()}, confidence=s.confidence,
                    n_bootstrap=s.n_bootstrap, fairness_n_bootstrap=s.fairness_n_bootstrap,
                    interval_target=s.interval_target, multiplicity=s.multiplicity,
                    threshold=s.threshold, metrics=list(s.metrics), model=s.model,
                    n_seeds=len(study.seeds),
                    outcome=_outcome(study), population=_population(study),
                    thresholds=s.model_dump(mode="json"),
                    simulated=study.dataset.kind == "simulated", words=_words(study),
                    families=list(study.families),
                    threshold_source=s.threshold_source)


#: Power of the readout of what the comparisons can resolve.
POWER = 0.8


def _power(rows: list[Comparison], settings: Settings) -> dict | None:
    """What the drop-one comparisons can resolve: the smallest difference detected with
    ``POWER`` at the study's level, (z_{1-alpha/2} + z_power) x SE, from their median standard
    error, beside the margin, with a suggested margin (that difference rounded up to 0.005)."""
    from scipy.stats import norm

    ses = sorted(r.standard_error for r in rows if r.standard_error)
    conf = settings.confidence
    if not ses or conf is None:
        return None
    se = ses[len(ses) // 2] if len(ses) % 2 else 0.5 * (ses[len(ses) // 2 - 1]
                                                         + ses[len(ses) // 2])
    factor = float(norm.ppf(1 - (1 - conf) / 2) + norm.ppf(POWER))
    detectable = factor * se
    margin = settings.margin
    return {"comparisons": len(ses), "median_standard_error": se, "power": POWER,
            "factor": factor, "detectable_difference": detectable, "margin": margin,
            "suggested_margin": math.ceil(detectable / 0.005 - 1e-9) * 0.005,
            "margin_below_resolution": margin is not None and margin < detectable}


def _power_readout(study) -> list[str]:
    """What the study can tell, its looks, and what would decide each inconclusive verdict
    (:func:`nsf.study._power.readout_lines`)."""
    if study is None:
        return []
    from nsf.study._power import readout_lines

    return readout_lines(study)


#: How each model family treats a missing value (the report's data section).
MISSING_TREATMENT = {
    "lightgbm": "LightGBM: a missing number follows the side of each split learned in "
                "training; a missing category is sent with the levels that split chose for it.",
    "hist_gb": "Histogram gradient boosting: a missing value follows the side of each split "
               "learned in training (its own bin), for numbers and categories alike.",
    "logistic": "Logistic regression: a missing number is replaced by the training rows' "
                "median before scaling; a missing category is a level of its own.",
}


def _data_section(study: StudyResult | None) -> dict | None:
    """A table's data as read: missing shares, what reading found, how models treat gaps."""
    if study is None or study.description is None or study.dataset.kind == "simulated":
        return None
    d = study.description
    sensitive = set(d.sensitive_names)
    return {"missing_share": [{"column": c, "share": v, "sensitive": c in sensitive}
                              for c, v in d.missing_share.items()],
            "reading_notes": list(d.reading_notes),
            "treatment": [MISSING_TREATMENT[k] for k in ("lightgbm", "hist_gb", "logistic")],
            "model": study.settings.model,
            "sensitive_missing": "A missing value of a sensitive column is its own group, "
                                 "'(missing)'; levels with fewer rows than "
                                 f"{d.rare_level_rows} are pooled into '(pooled rare levels)', "
                                 "a name no level of the data has."}


def _outcome(study: StudyResult) -> str:
    """What the model scores, in the dataset's own words."""
    if study.description is not None:
        return study.description.outcome
    if study.dataset.kind == "simulated":  # the horizon H is the description's to say
        return "a grouped App Store charge fails within H days"
    return "the target column's positive outcome"


def _population(study: StudyResult) -> str:
    """Which rows the model is evaluated on, in the dataset's own words."""
    if study.description is not None:
        return study.description.population
    return "Apple-registered users" if study.dataset.kind == "simulated" else "every row"


def _proxy_by_group(study: StudyResult) -> dict[str, dict]:
    """group -> its strongest proxy row among the protected targets."""
    protected = set(study.settings.protected_targets)
    best: dict[str, dict] = {}
    for p in study.proxies:
        if p.target not in protected or p.lift is None:
            continue
        if p.group not in best or p.lift > best[p.group]["lift"]:
            best[p.group] = {"target": p.target, "lift": p.lift, "metric": p.metric,
                             "score": p.score, "chance": p.chance,
                             "lift_lower": p.lift_lower, "lift_upper": p.lift_upper}
    return best


def _inventory(study: StudyResult, metric: str) -> dict:
    """The data inventory, from the feature registry the study logged (never the current
    code's): one row per shared category and group (simulated data) or per attribute group
    (a user's table)."""
    threshold = study.settings.proxy_lift_threshold
    reliance = {r.group: r for r in study.reliance}
    proxies = _proxy_by_group(study)
    inv = study.inventory
    contested = {g.name: g.contested for g in inv.groups}
    rows: list[dict] = []

    def judge(group: str, used_features: list[str], category: dict,
              columns: list[str]) -> dict:
        # A group's contested status is the registry's, whatever subset study.groups covered.
        group_contested = contested.get(group, False)
        nec = _comparison(_inventory_variant(study, "necessity", group), metric, BASELINE)
        crs = _comparison(_inventory_variant(study, "coarse", group), metric, BASELINE)
        rel = reliance.get(group)
        prox = proxies.get(group)
        used = bool(used_features)
        rec = recommend(used=used, contested=group_contested,
                        necessity=nec.verdict if nec else None,
                        coarse=crs.verdict if crs else None,
                        proxy_lift=prox["lift"] if prox else None,
                        proxy_target=prox["target"] if prox else None, threshold=threshold)
        return {
            **category, "group": group, "contested": group_contested, "columns": columns,
            "used": used, "features": used_features,
            "necessity": None if nec is None else nec.model_dump(include=_SHORT),
            "coarse": None if crs is None else crs.model_dump(include=_SHORT),
            "reliance": None if rel is None else {
                "shap_share": rel.shap_share, "shap_share_sd": rel.shap_share_sd,
                "permutation_auc_drop": rel.permutation_auc_drop,
                "permutation_auc_drop_sd": rel.permutation_auc_drop_sd},
            "proxy": prox,
            "recommendation": rec.action, "rule": rec.rule, "reason": rec.reason,
            "flags": list(rec.flags),
        }

    if inv.categories:
        for cat in inv.categories:
            key = f"{cat.number} {cat.name}"
            specs = [f for f in inv.features if f.category == key]
            info = {"category": cat.number, "name": cat.name, "public": cat.public,
                    "source": cat.source, "meaning": cat.meaning}
            groups = list(dict.fromkeys(f.group for f in specs)) or ["(none)"]
            for g in groups:
                mine = [f for f in specs if f.group == g]
                used = [f.name for f in mine if f.kind != "excluded" and f.in_baseline]
                row = judge(g, used, info, sorted({c for f in mine for c in f.sources}))
                row["excluded"] = [f"{f.name}: {f.note}" for f in mine if f.kind == "excluded"]
                rows.append(row)
        unit = "category"
    else:
        # A user's own table: no shared categories, one row per attribute group.
        for entry in inv.groups:
            mine = [f for f in inv.features if f.group == entry.name]
            used = [f.name for f in mine if f.kind != "excluded" and f.in_baseline]
            info = {"category": None, "name": entry.name, "public": None, "source": "table",
                    "meaning": entry.meaning}
            row = judge(entry.name, used, info, sorted({c for f in mine for c in f.sources}))
            row["excluded"] = [f"{f.name}: {f.note}" for f in mine if f.kind == "excluded"]
            rows.append(row)
        unit = "group"
    counts = {a: sum(r["recommendation"] == a for r in rows) for a in ("drop", "coarsen", "keep")}
    return {"unit": unit, "rule": RULE_TEXT, "rule_steps": list(RULE_STEPS),
            "proxy_lift_threshold": threshold,
            "protected_targets": list(study.settings.protected_targets), "rows": rows,
            "counts": counts}


def _empty_inventory() -> dict:
    return {"unit": "category", "rule": RULE_TEXT, "rule_steps": list(RULE_STEPS),
            "proxy_lift_threshold": None, "protected_targets": [], "rows": [],
            "counts": {"drop": 0, "coarsen": 0, "keep": 0}}


def _fairness(study: StudyResult | None) -> dict:
    if study is None:
        return {"threshold": None, "skipped": [], "attributes": {}, "changes": [],
                "proxies": [], "threshold_source": None, "curves": {}}
    fair = study.fairness
    attrs = {}
    for name, table in fair.attributes.items():
        attrs[name] = {
            "columns": list(table.columns), "n_groups": table.n_groups,
            "min_support": table.min_support,
            "groups": [g.model_dump() for g in table.groups],
            "disparities": {d: val.model_dump(include={"estimate", "bias_corrected", "lower",
                                                       "upper"})
                            for d, val in table.disparities.items()}}
    changes = []
    for v in study.variants:
        for attr, ds in v.disparity_changes.items():
            for d, c in ds.items():
                changes.append({"variant": v.name, "family": v.family, "attribute": attr,
                                "disparity": d, "baseline": c.baseline,
                                "variant_value": c.variant, "estimate": c.estimate,
                                "lower": c.lower, "upper": c.upper})
    proxies = [p.model_dump() for p in study.proxies]
    return {"threshold": fair.threshold, "skipped": list(fair.skipped), "attributes": attrs,
            "changes": changes, "proxies": proxies,
            "threshold_source": study.settings.threshold_source,
            "curves": {name: [p.model_dump() for p in table.curve]
                       for name, table in fair.attributes.items() if table.curve}}


def _minimal(study: StudyResult, metric: str) -> dict | None:
    m = study.minimal_set
    if m is None:
        return None
    comp = _of_metric(m.comparison or {}, metric)
    base = study.baseline.metrics.get(f"test_{metric}")
    final = m.metrics.get(f"test_{metric}")
    return {
        "strategy": m.strategy, "metric": m.metric, "margin": m.margin,
        "kept": list(m.kept), "removed": list(m.removed), "uncontested": list(m.uncontested),
        "complete": m.complete, "n_features": len(m.features),
        "n_features_baseline": len(study.baseline.features),
        "steps": [s.model_dump() for s in m.steps],
        "cost": None if comp is None else comp.model_dump(include={
            "estimate", "lower", "upper", "reference_estimate", "variant_estimate", "margin",
            "verdict"}),
        "baseline_value": base.mean if base else None,
        "final_value": final.mean if final else None,
        "run_ids": list(m.run_ids),
    }


def _reliance(study: StudyResult) -> list[dict]:
    out = []
    for r in study.reliance:
        nec = r.necessity
        out.append({
            "group": r.group, "contested": r.contested, "n_features": r.n_features,
            "shap_mean_abs": r.shap_mean_abs, "shap_share": r.shap_share,
            "shap_share_sd": r.shap_share_sd, "permutation_auc_drop": r.permutation_auc_drop,
            "permutation_auc_drop_sd": r.permutation_auc_drop_sd,
            "necessity": None if nec is None else nec.model_dump(
                include={"variant", "estimate", "lower", "upper", "verdict",
                         "simultaneous_lower", "simultaneous_upper", "decided_by"}),
            "truth_strength": r.truth_strength,
        })
    return out


def _reliance_gaps(rows: list[dict], top_k: int) -> list[str]:
    """Groups the model leans on (the ``top_k`` by SHAP share) whose removal was not shown to
    cost more than the margin."""
    if not rows:
        return []
    shares = sorted((r["shap_share"] or 0.0 for r in rows), reverse=True)
    cut = shares[min(top_k, len(shares)) - 1]
    return [r["group"] for r in rows if r["contested"] and (r["shap_share"] or 0) >= cut
            and (r["shap_share"] or 0) > 0 and r["necessity"]
            and r["necessity"]["verdict"] != NEEDED]


# --- summary answers ------------------------------------------------------------------------

# --- calibration, assumptions, reproducibility --------------------------------------------

def _calibration(dataset_summary: dict | None, note: str | None) -> dict:
    if not dataset_summary:
        return {"available": False, "note": note or "the dataset summary (summary.json) is "
                "not available", "rows": [], "oracle": None}
    summary = DatasetSummary.model_validate(dataset_summary)
    rows = []
    for name, c in sorted((summary.calibration or {}).items()):
        rows.append({"name": name, "meaning": c.meaning, "target": _num(c.target),
                     "simulated": _num(c.simulated),
                     "relative_error": _num(c.relative_error)})
    oracle = summary.oracle
    return {"available": True, "note": note, "rows": rows,
            "oracle": None if not oracle else {k: _num(v) for k, v in oracle.items()}}


#: Settings of the simulated world's case and of families that need it, by field prefix, and
#: the family that uses them (None: the case's facts, simulated data only): see
#: :func:`_case_settings`.
def _case_settings() -> tuple[tuple[str, str | None], ...]:
    """The simulated case's settings (owner None) and each family's (its contract's
    ``config``), by field prefix."""
    families = tuple((prefix, f.name) for f in FAMILIES.values() for prefix in f.config)
    return (("study.ledger.", None), *families, ("world.", None), ("simulate.", None))


def _assumptions(study: StudyResult | None) -> list[dict]:
    """The assumptions the study logged; for a table, without the case's facts and the
    settings of families that did not run."""
    if study is None:
        return []
    rows = [a.model_dump() for a in study.assumptions]
    if study.dataset.kind == "simulated":
        return rows
    ran = set(study.families)
    out = []
    for a in rows:
        owner = next((fam for prefix, fam in _case_settings()
                      if a["field"].startswith(prefix)), "")
        if owner is None or (owner and owner not in ran) or a["source"] == "CASE":
            continue
        out.append(a)
    return out


def _commands(parent_run_id: str | None, tracking_uri: str | None,
              commit: str | None) -> list[str]:
    uri = f" --set tracking.uri={tracking_uri}" if tracking_uri else ""
    cmds = [
        f"git checkout {commit or '<the git commit above>'}",
        "pip install -e '.[dev]'",
        f"nsf study config.yaml{uri}   # config.yaml: the resolved config beside this report",
        f"nsf audit config.yaml{uri}",
    ]
    if parent_run_id:
        cmds.append(f"nsf report --run {parent_run_id}{uri}")
    return cmds


# --- entry point ----------------------------------------------------------------------------

def build_report_model(study: StudyResult | None, audit: dict | None,
                       dataset_summary: dict | None, *, source: dict, environment: dict,
                       dataset_summary_note: str | None = None) -> dict:
    """Everything the report shows, as one JSON-ready dict (schema ``nsf.report/2``).

    Parameters
    ----------
    study : the study's result as logged (``study.json``, :class:`nsf.study.StudyResult`), or
        None when the study never finished.
    audit : the audit run as ``{run_id, metrics, audit}`` (``audit`` = ``audit.json``), or
        None when the experiment has no audit run.
    dataset_summary : the dataset's ``summary.json`` (calibration targets vs simulated), or
        None.
    source : provenance: ``tracking_uri``, ``experiment``, ``experiment_id``,
        ``parent_run_id``, ``status``, ``tags``, ``metrics`` (the parent run's), ``missing``
        (parts that could not be read), ``config_yaml``.
    environment : ``generated_at``, ``packages`` {name: version}.
    dataset_summary_note : where the summary came from, or why it is missing.

    Returns
    -------
    dict
        Valid against :class:`nsf.report.ReportModel` (``nsf/schemas/report.schema.json``).
    """
    prov, env = Provenance.model_validate(source), Environment.model_validate(environment)
    missing = list(prov.missing)
    if study is None:
        missing.append("study result: the parent run has no study.json, so no section has "
                       "numbers")
    settings = _settings(study)
    metric, margin = settings.primary_metric, settings.margin
    conf = "n/a" if settings.confidence is None else f"{settings.confidence:.0%}"
    skipped = {} if study is None else {f.family: f.reason for f in study.skipped_families}
    if study is not None:
        # A family without variants of its own (decisions) is present through its section.
        families_present = {v.family for v in study.variants} | set(study.sections.present())
        for fam in study.settings.configured_families or []:
            if fam not in families_present and fam not in skipped:
                missing.append(f"variant family {fam!r}: configured but absent from the result "
                               "(failed or produced no variant)")
        for v in study.variants:
            comp = v.comparison()
            if comp is None or metric not in comp.metrics:
                missing.append(f"variant {v.name!r}: no {metric} comparison (failed)")

    inventory = _inventory(study, metric) if study is not None else _empty_inventory()
    families, unviewed = family_sections(study)
    missing += unviewed
    proxy_threshold = inventory["proxy_lift_threshold"]

    slots = _comparison_slots(study, metric)
    drop_one, drop_all = slots["attributes.drop_one"], slots["attributes.drop_all"]
    coarsen, population = slots["granularity.rows"], slots["population.rows"]
    retention = slots["retention.rows"]
    if study is not None:
        all_metrics = {v.name: {m: _comparison(v, m, BASELINE) for m in settings.metrics}
                       for v in study.variants}
        windows = study.inventory.history_windows
        full_days = max(windows) if windows else None
        minimal = _minimal(study, metric)
        reliance = _reliance(study)
        top_k = study.settings.reliance_top_k
        eo_cut = study.settings.equalized_odds_cut
    else:
        all_metrics, full_days, minimal, reliance, top_k, eo_cut = {}, None, None, [], 1, 0.0
    fair = _fairness(study)

    audit_section: dict[str, Any]
    if audit:
        run = AuditRun.model_validate(audit)
        a = AuditFile.model_validate(run.audit or {})
        audit_section = {"available": True, "run_id": run.run_id,
                         "metrics": {k: _num(v) for k, v in run.metrics.items()},
                         "reversal": a.reversal, "linkage": a.linkage,
                         "quasi": a.quasi, "counterfactual": a.counterfactual,
                         "dataset": a.dataset,
                         "how_to_run": "nsf audit CONFIG"}
        if not run.audit:
            missing.append(f"audit.json of audit run {run.run_id}: unreadable; the "
                           "section shows the run's metrics only")
    else:
        audit_section = {"available": False, "run_id": None, "metrics": {},
                         "how_to_run": "nsf audit CONFIG   (same config and tracking store; "
                                       "then regenerate with nsf report)"}

    calibration = _calibration(dataset_summary, dataset_summary_note)
    # Only a simulated dataset has calibration targets: for a user's table it is not missing.
    simulated = study is None or study.dataset.kind == "simulated"
    if not calibration["available"] and simulated:
        missing.append(f"calibration summary: {calibration['note']}")

    owners = {f.comparisons.slot: f.name for f in FAMILIES.values()
              if f.comparisons is not None}

    def answer(slot: str, text: str) -> str:
        # A family that cannot apply to this dataset is said so, not counted as missing.
        family = owners.get(slot)
        if family in skipped:
            return f"Not applicable: {skipped[family]}."
        return text

    summary = [
        {"key": "attributes", "number": 1, "question": QUESTIONS["attributes"],
         "answer": answer("attributes.drop_one",
                          _answer_attributes(drop_one, drop_all, metric, margin, conf))},
        {"key": "granularity", "number": 2, "question": QUESTIONS["granularity"],
         "answer": answer("granularity.rows", _answer_granularity(coarsen, metric))},
        {"key": "population", "number": 3,
         "question": QUESTIONS["population"] if simulated else QUESTIONS["population_table"],
         "answer": answer("population.rows", _answer_population(population, metric,
                                                           settings.population))},
        {"key": "retention", "number": 4, "question": QUESTIONS["retention"],
         "answer": answer("retention.rows", _answer_retention(retention, metric, full_days))},
        {"key": "fairness", "number": 5, "question": QUESTIONS["fairness"],
         "answer": _answer_fairness(fair, inventory, proxy_threshold, eo_cut)},
        {"key": "deidentification", "number": 6,
         "question": QUESTIONS["deidentification"] if simulated else
         QUESTIONS["identifiers_table"],
         "answer": _answer_audit(audit_section) if audit or simulated else
         _answer_identifiers(study)},
    ]
    if minimal:
        cost = minimal["cost"]
        summary.append({
            "key": "minimal_set", "number": None,
            "question": "What is the smallest set of contested data that does as well?",
            "answer": (f"The {minimal['strategy']} search keeps {len(minimal['kept'])} of "
                       f"{len(minimal['kept']) + len(minimal['removed'])} contested groups and "
                       f"removes {', '.join(minimal['removed']) or 'none'}"
                       + (f"; cost {_diff_text(Cost.model_validate(cost), metric)} "
                          f"({cost['verdict']})"
                          if cost else "") + ".")})
    summary += family_summaries(families)
    summary.append({
        "key": "inventory", "number": None,
        "question": "What should be done with each shared category?"
        if inventory["unit"] == "category" else "What should be done with each attribute group?",
        "answer": (f"Following the stated rule: drop {inventory['counts']['drop']}, coarsen "
                   f"{inventory['counts']['coarsen']}, keep {inventory['counts']['keep']} "
                   f"(of {len(inventory['rows'])} "
                   f"{'category-group' if inventory['unit'] == 'category' else 'attribute-group'}"
                   " rows).")})

    parent = prov.parent_run_id
    base = study.baseline if study is not None else None
    dataset = study.dataset if study is not None else None
    commit = prov.tags.get("nsf.git_commit")
    return {
        "schema": REPORT_SCHEMA,
        "title": "Data-minimisation report: "
                 f"{study.name if study is not None else prov.experiment}",
        "generated_at": env.generated_at,
        "source": {"tracking_uri": prov.tracking_uri,
                   "experiment": prov.experiment,
                   "experiment_id": prov.experiment_id,
                   "parent_run_id": parent, "status": prov.status,
                   "audit_run_id": audit_section["run_id"],
                   "study_schema": SCHEMA if study is not None else None},
        "missing": missing,
        "settings": settings.model_dump(mode="json"),
        "skipped_families": [{"family": f, "reason": r} for f, r in skipped.items()],
        "baseline": {"metrics": {} if base is None else
                     {k: v.model_dump() for k, v in base.metrics.items()},
                     "n_features": base.n_features if base is not None else None,
                     "run_ids": list(base.run_ids) if base is not None else []},
        "summary": summary,
        "inventory": inventory,
        **_sections_of(slots),
        "retention": {"rows": _json(retention), "full_history_days": full_days},
        "variant_metrics": {name: {m: c.model_dump() if c is not None else None
                                   for m, c in per.items()}
                            for name, per in all_metrics.items()},
        "fairness": fair,
        "reliance": {"rows": reliance, "relied_not_needed": _reliance_gaps(reliance, top_k)},
        "minimal_set": minimal,
        "family_sections": families,
        "model_card": _model_card(study, settings, fair),
        "data": _data_section(study),
        "power": _power(drop_one, settings),
        "power_readout": _power_readout(study),
        "method": {"assumptions": _assumptions(study),
                   "calibration": calibration,
                   "statistics": _statistics_text(
                       settings, study.settings if study is not None else None),
                   "limitations": _limitations(study, settings)},
        "deidentification": audit_section,
        "reproducibility": {
            "config_yaml": prov.config_yaml,
            "seeds": list(study.seeds) if study is not None else [],
            "experiment_seed": study.settings.experiment_seed if study is not None else None,
            "dataset_digest": dataset.digest if dataset else None,
            "test_digest": dataset.test_digest if dataset else None,
            "dataset_source": dataset.source if dataset else None,
            "git_commit": commit,
            "packages": dict(env.packages),
            "run_ids": {"parent": parent,
                        "children": study.run_ids.children if study is not None else {},
                        "audit": audit_section["run_id"]},
            "parent_metrics": {k: _num(v) for k, v in prov.metrics.items()},
            "fits": study.fits.model_dump() if study is not None else None,
            "timing": study.timing.model_dump() if study is not None else None,
            "commands": _commands(parent, prov.tracking_uri, commit),
        },
    }
