"""The study's explanations section: SHAP views, stability across seeds, per-person view.

Each baseline fit (one per seed) explains the same evenly spaced test rows with the SHAP values
of its family (:func:`nsf.explain.shap_values`), so the seeds' reliance rankings can be
compared row for row (:func:`nsf.explain.reliance_stability`); it also draws the standard views
(:func:`nsf.explain.explanation_views`) and scores every test row again with each contested
group withheld from it alone (:func:`nsf.explain.withheld_group_effect`). The study then keeps
the views of the first seed, the stability of every pair of seeds and the per-person shares
averaged over seeds, in the result's ``sections.explanations``
(:class:`nsf.study._explain_section.ExplanationsSection`).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

#: Rows kept for the beeswarm and dependence views (a sample of the explained rows).
VIEW_ROWS = 300


def explain_fit(fitted, test, *, rows: int, contested, threshold: int,
                rng: np.random.Generator) -> dict:
    """The explanation payload of one baseline fit (JSON-ready, no identifiers).

    Parameters
    ----------
    fitted : the baseline model of one seed.
    test : raw test rows (``prepared.frame.iloc[prepared.test_index]``).
    rows : test rows explained (evenly spaced, the same for every seed).
    contested : contested groups of the model.
    threshold : the operating threshold (score at or above it: flagged).
    rng : the views' sample of rows.
    """
    from nsf.explain import explanation_views, shap_values, withheld_group_effect
    from nsf.scoring import ReasonExplainer, score_points

    n = len(test)
    positions = np.unique(np.linspace(0, n - 1, min(rows, n)).round().astype(np.int64))
    attribution = shap_values(fitted, test.iloc[positions])
    score = 100.0 * fitted.predict_encoded(attribution.X)
    base_score = ReasonExplainer.base_score_of(fitted, attribution.base_value)
    points = score_points(attribution.values, attribution.base_value, score, base_score)
    groups = list(attribution.groups)
    used = [g for g in contested if g in groups]
    views = explanation_views(attribution, score, points, base_score, contested=used,
                              max_rows=VIEW_ROWS, rng=rng)
    withheld = withheld_group_effect(fitted, test, used, threshold=threshold) if used else None
    return {
        "method": attribution.method, "rows": int(positions.size), "groups": groups,
        "values": np.round(attribution.values, 6).tolist(),
        "views": views,
        "withheld": {} if withheld is None else {
            g: {k: float(v) for k, v in row.items()} for g, row in withheld.iterrows()},
    }


def explanations_section(given: Mapping[int, dict | None], *, threshold: int,
                         stability_min: float, level: float, n_bootstrap: int, n_test_rows: int,
                         rng: np.random.Generator) -> dict | None:
    """The section's fields from the baseline fits' payloads (seed -> :func:`explain_fit`, or
    None for a fit without one)."""
    from nsf.explain import reliance_stability

    payloads: dict[int, dict] = {s: p for s, p in given.items() if p}
    if not payloads:
        return None
    seeds = list(payloads)  # in the study's seed order
    first = payloads[seeds[0]]
    pairs: list[dict] = []
    stable = None
    same_rows = len({(p["rows"], tuple(p["groups"])) for p in payloads.values()}) == 1
    if len(seeds) > 1 and same_rows:
        table = reliance_stability(
            {f"seed {k + 1}": np.asarray(payloads[s]["values"]) for k, s in enumerate(seeds)},
            first["groups"],
            n_bootstrap=n_bootstrap, level=level, rng=rng, threshold=stability_min)
        pairs = [{k: (None if isinstance(v, float) and not np.isfinite(v) else v)
                  for k, v in row.items()} for row in table.to_dict("records")]
        stable = all(p["stable"] for p in pairs) if all(p["stable"] is not None
                                                         for p in pairs) else None
    withheld = []
    for g in first["withheld"]:
        rows = [payloads[s]["withheld"].get(g) for s in seeds]
        rows = [r for r in rows if r is not None]
        withheld.append({"group": g, **{k: float(np.mean([r[k] for r in rows])) for k in (
            "decision_unchanged", "band_unchanged", "both_unchanged", "score_unchanged",
            "mean_abs_change")}})
    return {"method": first["method"], "rows": first["rows"],
            "stability_method": "spearman", "stability_threshold": float(stability_min),
            "stability_level": float(level), "stability": pairs, "stable": stable,
            "withheld": withheld, "n_test_rows": int(n_test_rows), "threshold": int(threshold),
            "views": first["views"]}
