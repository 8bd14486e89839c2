"""Flat tables of a study result (the CSV artifacts), one row per reported number."""

from __future__ import annotations

import pandas as pd

from nsf.study._fairness import GROUP_METRICS
from nsf.study._result import StudyResult


def study_tables(result: StudyResult) -> dict[str, pd.DataFrame]:
    """The study result as flat tables.

    Returns
    -------
    dict
        ``variants`` (variant, family, reference, subject, metric, estimate, lower, upper,
        simultaneous_lower, simultaneous_upper, family_size, reference_estimate,
        variant_estimate, margin, verdict, per_comparison_verdict, decided_by, n_seeds,
        same_fits_as),
        ``fairness_groups`` (attribute, group, n, n_bad, bad_rate, metric, estimate, lower,
        upper), ``fairness_disparities`` (attribute, disparity, estimate, lower, upper),
        ``disparity_changes`` (variant, attribute, disparity, baseline, variant_value,
        estimate, lower, upper), ``proxies``, ``reliance``, ``minimal_set`` (its steps) and
        ``skipped_families`` (family, reason).
    """
    rows = []
    n_seeds = len(result.seeds)

    def comparison_rows(name, family, reference, subject, metrics, same_fits_as):
        for metric, m in metrics.items():
            rows.append({
                "variant": name, "family": family, "reference": reference,
                "subject": subject, "metric": metric, "estimate": m.estimate,
                "lower": m.lower, "upper": m.upper,
                "simultaneous_lower": m.simultaneous_lower,
                "simultaneous_upper": m.simultaneous_upper, "family_size": m.family_size,
                "reference_estimate": m.reference_estimate,
                "variant_estimate": m.variant_estimate, "margin": m.margin,
                "verdict": m.verdict, "per_comparison_verdict": m.per_comparison_verdict,
                "decided_by": m.decided_by, "n_seeds": n_seeds, "same_fits_as": same_fits_as})

    for v in result.variants:
        for ref, comp in v.comparisons.items():
            comparison_rows(v.name, v.family, ref, comp.subject, comp.metrics, v.same_fits_as)
    minimal = result.minimal_set
    if minimal is not None and minimal.comparison:
        comparison_rows("minimal_set", "minimal_set", "baseline", "removed", minimal.comparison,
                        None)
    tables = {"variants": pd.DataFrame(rows)}

    group_rows, disp_rows = [], []
    for attr, table in result.fairness.attributes.items():
        for g in table.groups:
            for metric in GROUP_METRICS:
                group_rows.append({
                    "attribute": attr, "group": g.group, "n": g.n, "n_bad": g.n_bad,
                    "bad_rate": g.bad_rate, "metric": metric, "estimate": getattr(g, metric),
                    "lower": getattr(g, f"{metric}_lower"),
                    "upper": getattr(g, f"{metric}_upper")})
        for name, d in table.disparities.items():
            disp_rows.append({"attribute": attr, "disparity": name, "estimate": d.estimate,
                              "lower": d.lower, "upper": d.upper})
    tables["fairness_groups"] = pd.DataFrame(group_rows)
    tables["fairness_disparities"] = pd.DataFrame(disp_rows)

    change_rows = []
    changes = [(v.name, v.disparity_changes) for v in result.variants]
    if minimal is not None and minimal.disparity_changes:
        changes.append(("minimal_set", minimal.disparity_changes))
    for name, by_attr in changes:
        for attr, by_disp in by_attr.items():
            for disp, c in by_disp.items():
                change_rows.append({"variant": name, "attribute": attr, "disparity": disp,
                                    "baseline": c.baseline, "variant_value": c.variant,
                                    "estimate": c.estimate, "lower": c.lower,
                                    "upper": c.upper})
    tables["disparity_changes"] = pd.DataFrame(change_rows)
    tables["proxies"] = pd.DataFrame([p.model_dump() for p in result.proxies])
    rel = []
    for r in result.reliance:
        nec = r.necessity
        rel.append(r.model_dump(exclude={"necessity", "truth_strengths"})
                   | {"necessity_estimate": nec.estimate if nec else None,
                      "necessity_lower": nec.lower if nec else None,
                      "necessity_upper": nec.upper if nec else None,
                      "necessity_verdict": nec.verdict if nec else None})
    tables["reliance"] = pd.DataFrame(rel)
    steps = minimal.steps if minimal is not None else []
    tables["minimal_set"] = pd.DataFrame(
        [st.model_dump() | {"removal_set": "+".join(st.removal_set)} for st in steps])
    tables["skipped_families"] = pd.DataFrame(
        [f.model_dump() for f in result.skipped_families], columns=["family", "reason"])
    return tables
