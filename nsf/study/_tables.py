"""Flat tables of a study result (the CSV artifacts), one row per reported number."""

from __future__ import annotations

import pandas as pd


def study_tables(result: dict) -> dict[str, pd.DataFrame]:
    """The study result as flat tables.

    Returns
    -------
    dict
        ``variants`` (variant, family, reference, subject, metric, estimate, lower, upper,
        reference_estimate, variant_estimate, margin, verdict, n_seeds, same_fits_as),
        ``fairness_groups`` (attribute, group, n, n_bad, bad_rate, metric, estimate, lower,
        upper), ``fairness_disparities`` (attribute, disparity, estimate, lower, upper),
        ``disparity_changes`` (variant, attribute, disparity, baseline, variant_value,
        estimate, lower, upper), ``proxies``, ``reliance`` and ``minimal_set`` (its steps).
    """
    rows = []
    n_seeds = len(result["seeds"])
    for v in result["variants"]:
        for ref, comp in v["comparisons"].items():
            for metric, m in comp["metrics"].items():
                rows.append({
                    "variant": v["name"], "family": v["family"], "reference": ref,
                    "subject": comp["subject"], "metric": metric, "estimate": m["estimate"],
                    "lower": m["lower"], "upper": m["upper"],
                    "reference_estimate": m["reference_estimate"],
                    "variant_estimate": m["variant_estimate"], "margin": m["margin"],
                    "verdict": m["verdict"], "n_seeds": n_seeds,
                    "same_fits_as": v["same_fits_as"]})
    minimal = result.get("minimal_set")
    if minimal and minimal.get("comparison"):
        for metric, m in minimal["comparison"].items():
            rows.append({
                "variant": "minimal_set", "family": "minimal_set", "reference": "baseline",
                "subject": "removed", "metric": metric, "estimate": m["estimate"],
                "lower": m["lower"], "upper": m["upper"],
                "reference_estimate": m["reference_estimate"],
                "variant_estimate": m["variant_estimate"], "margin": m["margin"],
                "verdict": m["verdict"], "n_seeds": n_seeds, "same_fits_as": None})
    tables = {"variants": pd.DataFrame(rows)}

    group_rows, disp_rows = [], []
    for attr, table in result["fairness"]["attributes"].items():
        for g in table["groups"]:
            for metric in ("auc", "ece", "mean_score", "selection_rate", "false_positive_rate",
                           "false_negative_rate"):
                group_rows.append({
                    "attribute": attr, "group": g["group"], "n": g["n"], "n_bad": g["n_bad"],
                    "bad_rate": g["bad_rate"], "metric": metric, "estimate": g[metric],
                    "lower": g[f"{metric}_lower"], "upper": g[f"{metric}_upper"]})
        for name, d in table["disparities"].items():
            disp_rows.append({"attribute": attr, "disparity": name, "estimate": d["estimate"],
                              "lower": d["lower"], "upper": d["upper"]})
    tables["fairness_groups"] = pd.DataFrame(group_rows)
    tables["fairness_disparities"] = pd.DataFrame(disp_rows)

    change_rows = []
    changes = [(v["name"], v["disparity_changes"]) for v in result["variants"]]
    if minimal and minimal.get("disparity_changes"):
        changes.append(("minimal_set", minimal["disparity_changes"]))
    for name, by_attr in changes:
        for attr, by_disp in (by_attr or {}).items():
            for disp, c in by_disp.items():
                change_rows.append({"variant": name, "attribute": attr, "disparity": disp,
                                    "baseline": c["baseline"], "variant_value": c["variant"],
                                    "estimate": c["estimate"], "lower": c["lower"],
                                    "upper": c["upper"]})
    tables["disparity_changes"] = pd.DataFrame(change_rows)
    tables["proxies"] = pd.DataFrame(result["proxies"])
    rel = []
    for r in result["reliance"]:
        nec = r.get("necessity") or {}
        rel.append({k: v for k, v in r.items() if k not in ("necessity", "truth_strengths")}
                   | {"necessity_estimate": nec.get("estimate"),
                      "necessity_lower": nec.get("lower"), "necessity_upper": nec.get("upper"),
                      "necessity_verdict": nec.get("verdict")})
    tables["reliance"] = pd.DataFrame(rel)
    steps = minimal["steps"] if minimal else []
    tables["minimal_set"] = pd.DataFrame(
        [st | {"removal_set": "+".join(st["removal_set"])} for st in steps])
    return tables
