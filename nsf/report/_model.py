"""The report's content as one JSON-ready dict: a pure function of what the study logged.

:func:`build_report_model` takes the study result (``study.json``), the audit result, the
dataset's calibration summary and the provenance, and returns every number the report shows,
raw (unrounded) and with its source. The renderers only format it. Missing parts (a failed
variant, no audit, no summary) become entries of ``missing`` and sections that say so.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from nsf.report._assumptions import method_assumptions
from nsf.report._rules import PROXY_LIFT_THRESHOLD, RULE_STEPS, RULE_TEXT, recommend

__all__ = ["PROTECTED_TARGETS", "REPORT_SCHEMA", "build_report_model"]

#: Schema id of report.json (nsf/schemas/report.schema.json).
REPORT_SCHEMA = "nsf.report/1"
#: Proxy targets that count as protected attributes for the inventory's proxy rule (the latent
#: income quartile is shown, but ability to pay is what the score is meant to measure).
PROTECTED_TARGETS = ("age_band", "gender", "nationality", "region", "device_os")
#: Disparities shown in the compact fairness tables (all are in report.json).
KEY_DISPARITIES = ("equalized_odds_difference", "auc_difference", "ece_difference",
                   "demographic_parity_difference", "false_positive_rate_difference",
                   "false_negative_rate_difference")
QUESTIONS = {
    "attributes": "How much accuracy does each contested attribute add?",
    "granularity": "Is a coarse version as good as the raw one?",
    "population": "Does training on users who never used Apple's billing help score those "
                  "who do?",
    "retention": "How much history is needed?",
    "fairness": "Do groups get different error rates or calibration, and do contested "
                "attributes act as proxies for them?",
    "deidentification": "Can the hashed identifiers be reversed or linked, and how fast?",
}


def _num(x: Any) -> float | None:
    if x is None or isinstance(x, bool):
        return None
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _f3(x: float | None, signed: bool = False) -> str:
    if x is None:
        return "n/a"
    return f"{x:+.3f}" if signed else f"{x:.3f}"


def _interval(lo: float | None, hi: float | None, signed: bool = True) -> str:
    return f"[{_f3(lo, signed)}, {_f3(hi, signed)}]"


def _comparison(variant: dict, metric: str, reference: str | None = None) -> dict | None:
    ref = reference or variant.get("reference") or "baseline"
    comp = (variant.get("comparisons") or {}).get(ref) or {}
    m = (comp.get("metrics") or {}).get(metric)
    if not m:
        return None
    return {
        "variant": variant.get("name"), "family": variant.get("family"), "reference": ref,
        "subject": comp.get("subject", variant.get("subject")),
        "groups": list(variant.get("groups") or []),
        "description": variant.get("description"),
        "metric": metric,
        "estimate": _num(m.get("estimate")), "lower": _num(m.get("lower")),
        "upper": _num(m.get("upper")), "standard_error": _num(m.get("standard_error")),
        "reference_estimate": _num(m.get("reference_estimate")),
        "variant_estimate": _num(m.get("variant_estimate")),
        "margin": _num(m.get("margin")), "verdict": m.get("verdict"),
        "same_fits_as": variant.get("same_fits_as"),
        "n_features": variant.get("n_features"),
        "retention_days": (variant.get("selection") or {}).get("retention_days"),
        "population": variant.get("population"), "label": variant.get("label"),
        "run_ids": list(variant.get("run_ids") or []),
    }


def _rows(variants: Iterable[dict], families: tuple[str, ...], metric: str,
          reference: str | None = None) -> list[dict]:
    out = []
    for v in variants:
        if v.get("family") in families:
            row = _comparison(v, metric, reference)
            if row is not None:
                out.append(row)
    return out


def _verdict_words(row: dict) -> str:
    return row.get("verdict") or "no verdict"


def _diff_text(row: dict, metric: str) -> str:
    return (f"{_f3(row['estimate'], True)} {metric.upper()} "
            f"{_interval(row['lower'], row['upper'])}")


# --- sections -------------------------------------------------------------------------------

def _settings(study: dict) -> dict:
    s = study.get("settings") or {}
    metric = s.get("primary_metric", "auc")
    margins = s.get("margins") or {}
    return {"primary_metric": metric, "margin": _num(margins.get(metric)),
            "margins": {k: _num(v) for k, v in margins.items()},
            "confidence": _num(s.get("confidence")), "n_bootstrap": s.get("n_bootstrap"),
            "fairness_n_bootstrap": s.get("fairness_n_bootstrap"),
            "interval_target": s.get("interval_target"), "threshold": s.get("threshold"),
            "metrics": list(s.get("metrics") or []), "model": s.get("model"),
            "n_seeds": len(study.get("seeds") or [])}


def _registry(config: dict, dataset_kind: str | None):
    if dataset_kind != "simulated":
        return None
    from nsf.features import feed_registry

    feed = ((config.get("world") or {}).get("feed") or {})
    windows = tuple(feed.get("windows") or (7, 30, 90, 180))
    return feed_registry(windows, feed.get("format", "raw"))


def _proxy_by_group(proxies: list[dict]) -> dict[str, dict]:
    """group -> its strongest proxy row among the protected targets."""
    best: dict[str, dict] = {}
    for p in proxies:
        lift = _num(p.get("lift"))
        if p.get("target") not in PROTECTED_TARGETS or lift is None:
            continue
        g = p.get("group")
        if g not in best or lift > best[g]["lift"]:
            best[g] = {"target": p.get("target"), "lift": lift, "metric": p.get("metric"),
                       "score": _num(p.get("score")), "chance": _num(p.get("chance")),
                       "lift_lower": _num(p.get("lift_lower")),
                       "lift_upper": _num(p.get("lift_upper"))}
    return best


def _inventory(study: dict, registry, metric: str, threshold: float) -> dict:
    variants = study.get("variants") or []
    by_name = {v.get("name"): v for v in variants}
    base_features = set((study.get("baseline") or {}).get("features") or [])
    reliance = {r.get("group"): r for r in study.get("reliance") or []}
    proxies = _proxy_by_group(study.get("proxies") or [])
    contested = set(study.get("contested_groups") or [])
    rows: list[dict] = []

    def judge(group: str, used_features: list[str], category: dict, columns: list[str],
              group_contested: bool) -> dict:
        drop = by_name.get(f"drop_{group}")
        coarse = by_name.get(f"coarse_{group}")
        nec = _comparison(drop, metric, "baseline") if drop else None
        crs = _comparison(coarse, metric, "baseline") if coarse else None
        rel = reliance.get(group)
        prox = proxies.get(group)
        used = bool(used_features)
        rec = recommend(used=used, contested=group_contested,
                        necessity=nec["verdict"] if nec else None,
                        coarse=crs["verdict"] if crs else None,
                        proxy_lift=prox["lift"] if prox else None,
                        proxy_target=prox["target"] if prox else None, threshold=threshold)
        return {
            **category, "group": group, "contested": group_contested, "columns": columns,
            "used": used, "features": used_features,
            "necessity": None if nec is None else {k: nec[k] for k in (
                "variant", "estimate", "lower", "upper", "verdict", "margin")},
            "coarse": None if crs is None else {k: crs[k] for k in (
                "variant", "estimate", "lower", "upper", "verdict", "margin")},
            "reliance": None if rel is None else {
                "shap_share": _num(rel.get("shap_share")),
                "shap_share_sd": _num(rel.get("shap_share_sd")),
                "permutation_auc_drop": _num(rel.get("permutation_auc_drop")),
                "permutation_auc_drop_sd": _num(rel.get("permutation_auc_drop_sd"))},
            "proxy": prox,
            "recommendation": rec.action, "rule": rec.rule, "reason": rec.reason,
            "flags": list(rec.flags),
        }

    if registry is not None:
        from data_gen.categories import CATEGORIES

        windows_specs = list(registry)
        for cat in CATEGORIES:
            key = f"{cat.number} {cat.name}"
            specs = [s for s in windows_specs if s.category == key]
            info = {"category": cat.number, "name": cat.name, "public": cat.public,
                    "source": cat.source, "meaning": cat.meaning}
            groups = list(dict.fromkeys(s.group for s in specs)) or ["(none)"]
            for g in groups:
                mine = [s for s in specs if s.group == g]
                used = [s.name for s in mine if s.kind != "excluded" and s.name in base_features]
                gi = registry.groups.get(g)
                is_contested = g in contested if contested else bool(gi and gi.contested)
                row = judge(g, used, info, sorted({c for s in mine for c in s.sources}),
                            is_contested)
                excluded = [f"{s.name}: {s.note}" for s in mine if s.kind == "excluded"]
                row["excluded"] = excluded
                rows.append(row)
        unit = "category"
    else:
        # A user's own table: no shared categories, one row per attribute group.
        groups = list(dict.fromkeys([*contested, *(r.get("group") for r in
                                                   study.get("reliance") or [])]))
        for g in groups:
            info = {"category": None, "name": g, "public": None, "source": "table",
                    "meaning": "attribute group of the user's table"}
            row = judge(g, ["(table)"], info, [], g in contested)
            row["excluded"] = []
            rows.append(row)
        unit = "group"
    counts = {a: sum(r["recommendation"] == a for r in rows) for a in ("drop", "coarsen", "keep")}
    return {"unit": unit, "rule": RULE_TEXT, "rule_steps": list(RULE_STEPS),
            "proxy_lift_threshold": threshold,
            "protected_targets": list(PROTECTED_TARGETS), "rows": rows, "counts": counts}


def _fairness(study: dict, metric: str) -> dict:
    fair = study.get("fairness") or {}
    attrs = {}
    for name, table in (fair.get("attributes") or {}).items():
        groups = []
        for g in table.get("groups") or []:
            groups.append({k: (v if k in ("group", "below_support") else _num(v))
                           for k, v in g.items()})
        disp = {}
        for d, val in (table.get("disparities") or {}).items():
            disp[d] = {"estimate": _num(val.get("estimate")),
                       "bias_corrected": _num(val.get("bias_corrected")),
                       "lower": _num(val.get("lower")), "upper": _num(val.get("upper"))}
        attrs[name] = {"columns": table.get("columns"), "n_groups": table.get("n_groups"),
                       "min_support": table.get("min_support"), "groups": groups,
                       "disparities": disp}
    changes = []
    for v in study.get("variants") or []:
        for attr, ds in (v.get("disparity_changes") or {}).items():
            for d, c in (ds or {}).items():
                changes.append({"variant": v.get("name"), "family": v.get("family"),
                                "attribute": attr, "disparity": d,
                                "baseline": _num(c.get("baseline")),
                                "variant_value": _num(c.get("variant")),
                                "estimate": _num(c.get("estimate")),
                                "lower": _num(c.get("lower")), "upper": _num(c.get("upper"))})
    proxies = [{k: (_num(v) if isinstance(v, int | float) and not isinstance(v, bool) else v)
                for k, v in p.items()} for p in study.get("proxies") or []]
    return {"threshold": fair.get("threshold"), "skipped": list(fair.get("skipped") or []),
            "attributes": attrs, "changes": changes, "proxies": proxies}


def _minimal(study: dict, metric: str) -> dict | None:
    m = study.get("minimal_set")
    if not m:
        return None
    comp = (m.get("comparison") or {}).get(metric)
    base = ((study.get("baseline") or {}).get("metrics") or {}).get(f"test_{metric}") or {}
    final = (m.get("metrics") or {}).get(f"test_{metric}") or {}
    return {
        "strategy": m.get("strategy"), "metric": m.get("metric"), "margin": _num(m.get("margin")),
        "kept": list(m.get("kept") or []), "removed": list(m.get("removed") or []),
        "uncontested": list(m.get("uncontested") or []), "complete": m.get("complete"),
        "n_features": len(m.get("features") or []),
        "n_features_baseline": len((study.get("baseline") or {}).get("features") or []),
        "steps": [{k: (_num(v) if k in ("estimate", "lower", "upper") else v)
                   for k, v in s.items()} for s in m.get("steps") or []],
        "cost": None if not comp else {k: _num(comp.get(k)) for k in (
            "estimate", "lower", "upper", "reference_estimate", "variant_estimate", "margin")}
        | {"verdict": comp.get("verdict")},
        "baseline_value": _num(base.get("mean")), "final_value": _num(final.get("mean")),
        "run_ids": list(m.get("run_ids") or []),
    }


def _reliance(study: dict) -> list[dict]:
    out = []
    for r in study.get("reliance") or []:
        nec = r.get("necessity") or None
        out.append({
            "group": r.get("group"), "contested": r.get("contested"),
            "n_features": r.get("n_features"),
            "shap_mean_abs": _num(r.get("shap_mean_abs")),
            "shap_share": _num(r.get("shap_share")), "shap_share_sd": _num(r.get("shap_share_sd")),
            "permutation_auc_drop": _num(r.get("permutation_auc_drop")),
            "permutation_auc_drop_sd": _num(r.get("permutation_auc_drop_sd")),
            "necessity": None if not nec else {
                "variant": nec.get("variant"), "estimate": _num(nec.get("estimate")),
                "lower": _num(nec.get("lower")), "upper": _num(nec.get("upper")),
                "verdict": nec.get("verdict")},
            "truth_strength": _num(r.get("truth_strength")),
        })
    return out


def _reliance_gaps(rows: list[dict], margin: float | None) -> list[str]:
    """Groups the model leans on (top reliance) whose removal was not shown to cost."""
    if not rows:
        return []
    shares = sorted((r["shap_share"] or 0.0 for r in rows), reverse=True)
    cut = shares[min(2, len(shares) - 1)]  # the top three by SHAP share
    return [r["group"] for r in rows if r.get("contested") and (r["shap_share"] or 0) >= cut
            and (r["shap_share"] or 0) > 0 and r["necessity"]
            and r["necessity"]["verdict"] != "needed"]


# --- summary answers ------------------------------------------------------------------------

def _answer_attributes(rows: list[dict], drop_all: list[dict], metric: str,
                       margin: float | None, conf: str) -> str:
    if not rows:
        return "Not answered: the study has no drop-one variants (the family was not run or " \
               "every variant failed)."
    needed = [r for r in rows if r["verdict"] == "needed"]
    not_shown = [r for r in rows if r["verdict"] == "not shown needed"]
    inconcl = [r for r in rows if r["verdict"] not in ("needed", "not shown needed")]
    parts = [f"Of {len(rows)} contested attribute groups, {len(needed)} "
             f"{'is' if len(needed) == 1 else 'are'} needed (removing it costs more than "
             f"{_f3(margin)} {metric.upper()} with {conf} confidence)"]
    if needed:
        parts[0] += ": " + "; ".join(f"{r['groups'][0] if r['groups'] else r['variant']} "
                                     f"{_diff_text(r, metric)}" for r in needed)
    parts.append(f"{len(not_shown)} not shown needed"
                 + (f" ({', '.join(g for r in not_shown for g in r['groups'])})"
                    if not_shown else ""))
    parts.append(f"{len(inconcl)} inconclusive (interval too wide to tell)")
    text = "; ".join(parts) + "."
    if drop_all:
        r = drop_all[0]
        text += (f" Removing all contested groups together changes {metric.upper()} by "
                 f"{_diff_text(r, metric)} ({_verdict_words(r)}).")
    return text


def _answer_granularity(rows: list[dict], metric: str) -> str:
    if not rows:
        return "Not answered: the study has no coarsening variants."
    # One group per variant, plus variants that coarsen several groups at once (coarse_all).
    single = [r for r in rows if len(r["groups"]) == 1]
    combined = [r for r in rows if len(r["groups"]) != 1]
    text = ""
    if single:
        ok = [r["groups"][0] for r in single if r["verdict"] == "not shown needed"]
        worse = [r for r in single if r["verdict"] == "needed"]
        rest = [r["groups"][0] for r in single
                if r["verdict"] not in ("needed", "not shown needed")]
        text = (f"The coarse version is non-inferior to the raw data for {len(ok)} of "
                f"{len(single)} groups" + (f" ({', '.join(ok)})" if ok else ""))
        if worse:
            text += "; coarsening costs more than the margin for " + "; ".join(
                f"{r['groups'][0]} {_diff_text(r, metric)}" for r in worse)
        if rest:
            text += f"; inconclusive for {', '.join(rest)}"
        text += "."
    for r in combined:
        what = ", ".join(r["groups"]) if r["groups"] else r["variant"]
        text += (f" Coarsening {len(r['groups'])} groups together ({r['variant']}: {what}) "
                 f"changes {metric.upper()} by {_diff_text(r, metric)} ({_verdict_words(r)}).")
    return text.strip()


def _answer_population(rows: list[dict], metric: str) -> str:
    if not rows:
        return "Not answered: the study has no population variant."
    out = []
    for r in rows:
        who = "all users" if r.get("population") == "all" else "Apple-registered users only"
        out.append(f"Training on {who} (label {r.get('label') or 'n/a'}) instead of the baseline "
                   f"changes {metric.upper()} on Apple-registered users by "
                   f"{_diff_text(r, metric)}: the extra users' data is "
                   f"{_verdict_words(r)}.")
    return " ".join(out)


def _answer_retention(rows: list[dict], metric: str, full_days: int | None) -> str:
    if not rows:
        return "Not answered: the study has no retention variants."
    rows = sorted(rows, key=lambda r: r.get("retention_days") or 0)
    # A window at least as long as the feed's longest is the baseline itself (same fits).
    shorter = [r for r in rows if r.get("same_fits_as") != "baseline"]
    same = [r for r in rows if r.get("same_fits_as") == "baseline"]
    ok = [r for r in shorter if r["verdict"] == "not shown needed"]
    text = "; ".join(f"{r.get('retention_days')} days {_diff_text(r, metric)} "
                     f"({_verdict_words(r)})" for r in shorter)
    full = f"the full history ({full_days} days)" if full_days else "the full history"
    text = f"Against {full}: {text or 'no shorter window studied'}."
    if same:
        text += (" Windows of " + ", ".join(str(r.get("retention_days")) for r in same)
                 + " days equal the full history (same model).")
    if ok:
        text += (f" The shortest window shown sufficient is {ok[0].get('retention_days')} "
                 "days.")
    else:
        text += " No shorter window was shown sufficient."
    return text


def _answer_fairness(fair: dict, inventory: dict, threshold: float) -> str:
    attrs = fair.get("attributes") or {}
    if not attrs:
        return "Not answered: the study logged no fairness tables."
    worst = []
    for name, a in attrs.items():
        if "+" in name:
            continue
        d = (a.get("disparities") or {}).get("equalized_odds_difference")
        if d and d.get("estimate") is not None:
            worst.append((d["estimate"], name, d))
    worst.sort(reverse=True)
    text = ""
    if worst:
        est, name, d = worst[0]
        text = (f"The largest equalized-odds difference is by {name}: {_f3(est)} "
                f"{_interval(d['lower'], d['upper'], False)}")
        clear = [n for e, n, dd in worst if dd.get("lower") is not None and dd["lower"] > 0.05]
        text += (f"; attributes whose lower bound exceeds 0.05: {', '.join(clear)}. "
                 if clear else "; no attribute's lower bound exceeds 0.05. ")
    strong = sorted(((r["proxy"]["lift"], r["group"], r["proxy"]["target"])
                     for r in inventory.get("rows") or [] if r.get("proxy")
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


def _answer_audit(audit: dict | None) -> str:
    if not audit or not audit.get("available"):
        return ("Not measured in this experiment: run `nsf audit CONFIG` (same config) and "
                "regenerate the report.")
    m = audit.get("metrics") or {}

    def pct(key):
        v = m.get(key)
        return "n/a" if v is None else f"{100 * v:.1f}%"

    text = (f"Unsalted SHA-256 is reversible by enumeration: {pct('phone_recovered_fraction')} "
            f"of phone digests were recovered in an enumerated sub-space of "
            f"{m.get('phone_space_size', 0):,.0f} numbers "
            f"({pct('phone_recovered_in_space_fraction')} of those in it), at "
            f"{m.get('hashes_per_s', 0):,.0f} hashes/s, so the whole 10^8 "
            f"space takes about {m.get('full_space_seconds_est', 0):,.0f} s on one machine. "
            f"{pct('link_fraction')} of the recipient's rows were linked "
            f"({pct('link_precision')} correctly). {pct('unique_fraction')} of users are unique on "
            f"the shared quasi-identifiers ({pct('unique_fraction_coarse')} after coarsening).")
    if "hmac_phone_recovered_fraction" in m:
        text += (f" With a keyed HMAC: {pct('hmac_phone_recovered_fraction')} recovered, "
                 f"{pct('hmac_link_fraction')} linked.")
    return text


# --- model card, method, reproducibility ----------------------------------------------------

def _model_card(study: dict, settings: dict, fair: dict) -> dict:
    base = study.get("baseline") or {}
    ds = study.get("dataset") or {}
    cfg = study.get("config") or {}
    metrics = base.get("metrics") or {}

    def mean_sd(key):
        m = metrics.get(key) or {}
        return {"mean": _num(m.get("mean")), "sd": _num(m.get("sd")),
                "per_seed": [_num(x) for x in m.get("per_seed") or []]}

    horizon = ((cfg.get("world") or {}).get("calendar") or {}).get("horizon_days")
    return {
        "details": {
            "model": settings.get("model"), "score": "round(100 x calibrated P(NSF)), 0-100",
            "target": f"a grouped App Store charge fails within {horizon or 'H'} days "
                      "(nsf_appstore)",
            "population": base.get("population"), "label": base.get("label"),
            "n_features": base.get("n_features"), "seeds": list(base.get("seeds") or []),
            "run_ids": list(base.get("run_ids") or []),
            "developed_by": "nsf (reproduction of the Kakao Pay / Alipay / Apple NSF score "
                            "for audit; not the original model)",
        },
        "intended_use": [
            "Research and audit: measure which shared data the score needed and who it treats "
            "differently, to inform data-protection and fairness assessments.",
            "Out of scope: decisions about real people. The model is trained on simulated (or "
            "the user's own) data and reproduces the kind of score, not Apple's or Alipay's.",
        ],
        "factors": {
            "evaluated": list((fair.get("attributes") or {}).keys()),
            "skipped": fair.get("skipped") or [],
            "note": "Sensitive attributes are used only for evaluation, never as features of "
                    "the default model (the 'sensitive' variant shows what adding them would "
                    "change).",
        },
        "metrics": {
            "primary": settings.get("primary_metric"),
            "reported": ["test_auc", "test_pr_auc", "test_brier", "test_log_loss", "test_ece",
                         "test_ks", "test_gini"],
            "threshold": settings.get("threshold"),
            "threshold_meaning": "a score at or above it means 'charge each purchase "
                                 "immediately' (flagged)",
            "uncertainty": "mean and SD over training seeds; differences with paired bootstrap "
                           "intervals over test rows and seeds",
        },
        "evaluation_data": {"split": ds.get("split"), "test_rows": ds.get("test_rows"),
                            "test_nsf_rate": _num(ds.get("test_nsf_rate")),
                            "test_digest": ds.get("test_digest")},
        "training_data": {"kind": ds.get("kind"), "source": ds.get("source"),
                          "digest": ds.get("digest"), "train_rows": ds.get("train_rows"),
                          "validation_rows": ds.get("validation_rows")},
        "quantitative_analyses": {k: mean_sd(k) for k in metrics},
        "ethical_considerations": [
            "The case: every Kakao Pay user's data (including the >80% who never used Apple's "
            "billing) was sent abroad and pseudonymised with unsalted SHA-256; regulators found "
            "it excessive and reversible.",
            "Contested attributes can act as proxies for age, gender, nationality or region; "
            "the proxy table and the inventory's proxy rule make this visible.",
            "A score that decides billing treatment can shift costs (immediate charging) onto "
            "groups with higher error rates; see the fairness section.",
        ],
        "caveats": [
            "Simulated data: effects follow the simulator's documented assumptions; "
            "real data can differ.",
            "Small studies (such as the smoke config) give wide intervals: 'inconclusive' "
            "means the data cannot tell, not that an attribute is harmless or needed.",
            "Reliance (SHAP, permutation) describes this model, not necessity: a group the "
            "model relies on can be replaced by correlated data when it is removed.",
        ],
    }


def _statistics_text(settings: dict) -> list[str]:
    conf = settings.get("confidence")
    conf_s = "n/a" if conf is None else f"{conf:.0%}"
    return [
        f"Every variant and the baseline are trained with the same {settings.get('n_seeds')} "
        "seeds on the same split and evaluated on the same test rows (Apple-registered users).",
        f"Differences to the reference get {conf_s} intervals from a paired bootstrap "
        f"({settings.get('n_bootstrap')} replicates): test rows resampled once (stratified by "
        "outcome) and shared by both arms and all seeds, seeds resampled within each arm "
        f"(interval target: {settings.get('interval_target')}). No DeLong test: it is invalid "
        "for nested models (Demler et al., Stat Med 2012).",
        f"Non-inferiority verdicts against a margin of {_f3(settings.get('margin'))} "
        f"{str(settings.get('primary_metric')).upper()}: 'needed' when removing the data costs "
        "more than the margin with confidence; 'not shown needed' when the worst case stays "
        "within the margin; 'inconclusive' otherwise (roles swap for data a variant adds).",
        f"Fairness: group metrics (fairlearn MetricFrame) averaged over seeds, crossed "
        f"bootstrap intervals ({settings.get('fairness_n_bootstrap')} replicates; rows within "
        "group x outcome cells, and seeds); each variant's disparity change is paired with the "
        "baseline on the same resamples.",
        "Proxy strength: each contested group alone predicts a sensitive attribute with a "
        "cross-validated classifier; lift = score - chance (AUC - 0.5 for two classes, "
        "balanced accuracy - 1/k for k).",
        "Reliance: TreeSHAP share and grouped permutation AUC drop of the baseline, mean over "
        "seeds; kept apart from necessity (retraining without the group).",
    ]


def _limitations(study: dict, settings: dict) -> list[str]:
    ds = study.get("dataset") or {}
    out = [
        "The data are simulated: absolute numbers are illustrations; the direction and the "
        "method carry over, not the values.",
        f"Test rows: {ds.get('test_rows', 'n/a')} with an NSF rate of "
        f"{(ds.get('test_nsf_rate') or 0):.1%}; intervals shrink with more rows and seeds.",
        "Verdicts are per attribute group, not per column; a group judged not needed may "
        "still hold one useful column.",
        "Proxy lifts are point estimates from cross-validation without intervals.",
        "Multiple comparisons: each verdict is at its own confidence level; with many variants "
        "some verdicts are expected to be wrong by chance.",
    ]
    if settings.get("n_seeds", 0) < 3:
        out.append("Fewer than three training seeds: seed variance is poorly estimated.")
    return out


def _calibration(dataset_summary: dict | None, note: str | None) -> dict:
    if not dataset_summary:
        return {"available": False, "note": note or "the dataset summary (summary.json) is "
                "not available", "rows": [], "oracle": None}
    rows = []
    for name, c in sorted((dataset_summary.get("calibration") or {}).items()):
        rows.append({"name": name, "meaning": c.get("meaning"), "target": _num(c.get("target")),
                     "simulated": _num(c.get("simulated")),
                     "relative_error": _num(c.get("relative_error"))})
    oracle = dataset_summary.get("oracle")
    return {"available": True, "note": note, "rows": rows,
            "oracle": None if not oracle else {k: _num(v) for k, v in oracle.items()}}


def _commands(study: dict, parent_run_id: str | None, tracking_uri: str | None,
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

def build_report_model(study: dict | None, audit: dict | None, dataset_summary: dict | None,
                       *, source: dict, environment: dict,
                       proxy_threshold: float = PROXY_LIFT_THRESHOLD,
                       dataset_summary_note: str | None = None) -> dict:
    """Everything the report shows, as one JSON-ready dict (schema ``nsf.report/1``).

    Parameters
    ----------
    study : ``study.json`` (``nsf.study/1``), or None when the study never finished.
    audit : the audit run as ``{run_id, metrics, audit}`` (``audit`` = ``audit.json``), or
        None when the experiment has no audit run.
    dataset_summary : the dataset's ``summary.json`` (calibration targets vs simulated), or
        None.
    source : provenance: ``tracking_uri``, ``experiment``, ``experiment_id``,
        ``parent_run_id``, ``status``, ``tags``, ``metrics`` (the parent run's), ``missing``
        (parts that could not be read), ``config_yaml``.
    environment : ``generated_at``, ``packages`` {name: version}.
    proxy_threshold : proxy lift of the inventory's proxy rule.
    dataset_summary_note : where the summary came from, or why it is missing.

    Returns
    -------
    dict
        Valid against ``nsf/schemas/report.schema.json``.
    """
    missing = list(source.get("missing") or [])
    study = study or {}
    if not study:
        missing.append("study result: the parent run has no study.json, so no section has "
                       "numbers")
    settings = _settings(study)
    metric, margin = settings["primary_metric"], settings["margin"]
    conf = "n/a" if settings["confidence"] is None else f"{settings['confidence']:.0%}"
    variants = study.get("variants") or []
    if study and study.get("schema") not in (None, "nsf.study/1"):
        missing.append(f"study schema {study.get('schema')!r} is not nsf.study/1: read as far "
                       "as it matches")
    families_present = {v.get("family") for v in variants}
    config_families = ((study.get("config") or {}).get("study") or {}).get("families") or []
    skipped_families = {f.get("family") for f in study.get("skipped_families") or []}
    for fam in config_families:
        if fam not in families_present and fam not in skipped_families:
            missing.append(f"variant family {fam!r}: configured but absent from the result "
                           "(failed or produced no variant)")
    for v in variants:
        comp = (v.get("comparisons") or {}).get(v.get("reference") or "baseline")
        if not comp or metric not in (comp.get("metrics") or {}):
            missing.append(f"variant {v.get('name')!r}: no {metric} comparison (failed)")

    dataset = study.get("dataset") or {}
    registry = _registry(study.get("config") or {}, dataset.get("kind")) if study else None
    inventory = _inventory(study, registry, metric, proxy_threshold) if study else {
        "unit": "category", "rule": RULE_TEXT, "rule_steps": list(RULE_STEPS),
        "proxy_lift_threshold": proxy_threshold,
        "protected_targets": list(PROTECTED_TARGETS), "rows": [],
        "counts": {"drop": 0, "coarsen": 0, "keep": 0}}

    drop_one = _rows(variants, ("drop_one",), metric, "baseline")
    drop_all = _rows(variants, ("drop_all",), metric, "baseline")
    keep_one = _rows(variants, ("keep_one",), metric)
    custom = _rows(variants, ("custom",), metric)
    coarsen = _rows(variants, ("coarsen",), metric, "baseline")
    population = _rows(variants, ("population",), metric)
    retention = sorted(_rows(variants, ("retention",), metric, "baseline"),
                       key=lambda r: r.get("retention_days") or 0)
    sensitive = _rows(variants, ("sensitive",), metric)
    all_metrics = {v.get("name"): {m: _comparison(v, m, "baseline")
                                   for m in settings["metrics"]} for v in variants}
    fair = _fairness(study, metric)
    reliance = _reliance(study)
    windows = (((study.get("config") or {}).get("world") or {}).get("feed") or {}).get("windows")
    full_days = max(windows) if windows else None
    minimal = _minimal(study, metric)

    audit_section: dict[str, Any]
    if audit:
        a = audit.get("audit") or {}
        audit_section = {"available": True, "run_id": audit.get("run_id"),
                         "metrics": {k: _num(v) for k, v in (audit.get("metrics") or {}).items()},
                         "reversal": a.get("reversal"), "linkage": a.get("linkage"),
                         "quasi": a.get("quasi"), "counterfactual": a.get("counterfactual"),
                         "dataset": a.get("dataset"),
                         "how_to_run": "nsf audit CONFIG"}
        if not a:
            missing.append(f"audit.json of audit run {audit.get('run_id')}: unreadable; the "
                           "section shows the run's metrics only")
    else:
        audit_section = {"available": False, "run_id": None, "metrics": {},
                         "how_to_run": "nsf audit CONFIG   (same config and tracking store; "
                                       "then regenerate with nsf report)"}

    calibration = _calibration(dataset_summary, dataset_summary_note)
    if not calibration["available"]:
        missing.append(f"calibration summary: {calibration['note']}")

    summary = [
        {"key": "attributes", "number": 1, "question": QUESTIONS["attributes"],
         "answer": _answer_attributes(drop_one, drop_all, metric, margin, conf)},
        {"key": "granularity", "number": 2, "question": QUESTIONS["granularity"],
         "answer": _answer_granularity(coarsen, metric)},
        {"key": "population", "number": 3, "question": QUESTIONS["population"],
         "answer": _answer_population(population, metric)},
        {"key": "retention", "number": 4, "question": QUESTIONS["retention"],
         "answer": _answer_retention(retention, metric, full_days)},
        {"key": "fairness", "number": 5, "question": QUESTIONS["fairness"],
         "answer": _answer_fairness(fair, inventory, proxy_threshold)},
        {"key": "deidentification", "number": 6, "question": QUESTIONS["deidentification"],
         "answer": _answer_audit(audit_section)},
    ]
    if minimal:
        cost = minimal["cost"]
        summary.append({
            "key": "minimal_set", "number": None,
            "question": "What is the smallest set of contested data that does as well?",
            "answer": (f"The {minimal['strategy']} search keeps {len(minimal['kept'])} of "
                       f"{len(minimal['kept']) + len(minimal['removed'])} contested groups and "
                       f"removes {', '.join(minimal['removed']) or 'none'}"
                       + (f"; cost {_diff_text(cost, metric)} ({cost['verdict']})"
                          if cost else "") + ".")})
    summary.append({
        "key": "inventory", "number": None,
        "question": "What should be done with each shared category?",
        "answer": (f"Following the stated rule: drop {inventory['counts']['drop']}, coarsen "
                   f"{inventory['counts']['coarsen']}, keep {inventory['counts']['keep']} "
                   f"(of {len(inventory['rows'])} category-group rows).")})

    base_metrics = (study.get("baseline") or {}).get("metrics") or {}
    parent = source.get("parent_run_id")
    return {
        "schema": REPORT_SCHEMA,
        "title": f"Data-minimisation report: {study.get('name') or source.get('experiment')}",
        "generated_at": environment.get("generated_at"),
        "source": {"tracking_uri": source.get("tracking_uri"),
                   "experiment": source.get("experiment"),
                   "experiment_id": source.get("experiment_id"),
                   "parent_run_id": parent, "status": source.get("status"),
                   "audit_run_id": audit_section.get("run_id"),
                   "study_schema": study.get("schema")},
        "missing": missing,
        "settings": settings,
        "baseline": {"metrics": {k: {"mean": _num(v.get("mean")), "sd": _num(v.get("sd")),
                                     "per_seed": [_num(x) for x in v.get("per_seed") or []]}
                                 for k, v in base_metrics.items()},
                     "n_features": (study.get("baseline") or {}).get("n_features"),
                     "run_ids": list((study.get("baseline") or {}).get("run_ids") or [])},
        "summary": summary,
        "inventory": inventory,
        "attributes": {"drop_one": drop_one, "drop_all": drop_all, "keep_one": keep_one,
                       "custom": custom, "sensitive": sensitive},
        "granularity": {"rows": coarsen},
        "population": {"rows": population},
        "retention": {"rows": retention,
                      "full_history_days": full_days},
        "variant_metrics": all_metrics,
        "fairness": fair,
        "reliance": {"rows": reliance, "relied_not_needed": _reliance_gaps(reliance, margin)},
        "minimal_set": minimal,
        "model_card": _model_card(study, settings, fair),
        "method": {"assumptions": method_assumptions(study.get("config") or {}),
                   "calibration": calibration,
                   "statistics": _statistics_text(settings),
                   "limitations": _limitations(study, settings)},
        "deidentification": audit_section,
        "reproducibility": {
            "config_yaml": source.get("config_yaml"),
            "seeds": list(study.get("seeds") or []),
            "experiment_seed": (study.get("config") or {}).get("seed"),
            "dataset_digest": dataset.get("digest"), "test_digest": dataset.get("test_digest"),
            "dataset_source": dataset.get("source"),
            "git_commit": (source.get("tags") or {}).get("nsf.git_commit"),
            "packages": dict(environment.get("packages") or {}),
            "run_ids": {"parent": parent,
                        "children": (study.get("run_ids") or {}).get("children") or {},
                        "audit": audit_section.get("run_id")},
            "parent_metrics": {k: _num(v) for k, v in (source.get("metrics") or {}).items()},
            "fits": study.get("fits"), "timing": study.get("timing"),
            "commands": _commands(study, parent, source.get("tracking_uri"),
                                  (source.get("tags") or {}).get("nsf.git_commit")),
        },
    }
