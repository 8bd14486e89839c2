"""Power and precision of a comparison: what it can tell, and what would decide it.

From the two variance components the study estimates for every paired difference (the test
rows', over the row resamples, and the training draws', from the spread of the per-seed
differences), at the level its verdict is judged at (the family's simultaneous level when the
verdict holds over a family):

- ``mde``: the minimum detectable loss at the margin, ``margin + (z_level + z_power) x SE``
  (``z_level``: half the width of the interval that decides the verdict over its SE):
  a true loss at least this large is called "needed" with probability ``power`` (normal
  approximation of the interval).
- ``tolerable``: the largest true loss still shown non-inferior ("not shown needed") with that
  probability, ``margin - (z_level + z_power) x SE`` (negative: not even a model as good as the
  reference can be shown non-inferior).
- for an inconclusive verdict, the test subjects and training seeds that would decide it,
  under the stated assumption: the true difference equals the estimate; the test rows' part of
  the variance falls as 1 / test subjects, the training draws' part as 1 / seeds (interval
  target ``mean``; for ``single`` it does not fall); the same level and power; no few-seeds
  widening (many seeds).
"""

from __future__ import annotations

import math

import numpy as np
from pydantic import Field

from nsf.study._section import ResultModel

#: Power of every readout (the chance of a decision when the effect is as stated).
POWER = 0.8

#: The readout's assumption, stated with every result.
ASSUMPTION = ("[ASSUMPTION] the true difference equals the estimate; the test rows' variance "
              "falls as 1/test subjects, the training draws' as 1/seeds (interval target "
              "'mean'); normal approximation at the verdict's level, power 0.8, no few-seeds "
              "widening")

#: Largest multiple of the current sizes a projection reports (beyond it: None, "out of reach").
MAX_FACTOR = 1000.0


def variance_components(reference: dict, variant: dict, *, target: str,
                        resampled_training: bool, total_variance: float) -> tuple[float, float]:
    """``(row_variance, seed_variance)`` of a paired difference ``variant - reference``.

    ``row_variance``: variance over the row resamples of the seed-averaged difference;
    ``seed_variance``: ``s^2 / K`` (``mean``) or ``s^2`` (``single``) of the K per-seed
    differences when the training subjects are re-drawn per seed, else what the seeds add to
    the rows' variance (``total_variance - row_variance``, at least 0).
    """
    paired = np.asarray(variant["replicates"]) - np.asarray(reference["replicates"])
    row = float(np.var(paired.mean(axis=1), ddof=1)) if paired.shape[0] > 1 else 0.0
    per_seed = np.asarray(variant["per_seed"]) - np.asarray(reference["per_seed"])
    k = per_seed.size
    if resampled_training and k > 1:
        s2 = float(np.var(per_seed, ddof=1))
        seed = s2 / k if target == "mean" else s2
    else:
        seed = max(float(total_variance) - row, 0.0)
    return row, seed


def _z(level: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(1.0 - (1.0 - level) / 2.0))


def comparison_power(*, estimate: float, standard_error: float, margin: float | None,
                     row_variance: float, seed_variance: float, level: float, seeds: int,
                     test_subjects: int, higher_is_better: bool, subject: str, verdict: str | None,
                     target: str = "mean", power: float = POWER,
                     half_width: float | None = None) -> dict | None:
    """The power readout of one comparison (:class:`nsf.study.ComparisonPower` fields).

    Parameters
    ----------
    estimate, standard_error : the difference ``variant - reference`` and its bootstrap SE.
    margin : the metric's margin (None: no verdict, no readout).
    row_variance, seed_variance : :func:`variance_components`.
    level : the per-comparison level the verdict is judged at.
    seeds, test_subjects : the current sizes.
    higher_is_better, subject : orient the difference as a loss (:func:`verdict_for`).
    verdict : the comparison's verdict; a projection is made for an inconclusive one only.
    target : the interval target (``mean`` or ``single``).
    power : the readout's power.
    half_width : half the width of the interval that decides the verdict; its ratio to the SE
        stands for ``z_level`` (a percentile interval far in the replicates' tails is not a
        normal one). None: ``z_level`` of ``level``.

    Returns
    -------
    dict or None
        ``{"power", "level", "resolution", "mde", "tolerable", "row_variance",
        "seed_variance", "seeds", "test_subjects", "distance", "seeds_to_decide",
        "test_subjects_to_decide", "assumption"}``; None without a margin or a finite SE.
    """
    from scipy.stats import norm

    if margin is None or not np.isfinite(standard_error) or not np.isfinite(estimate):
        return None
    se = float(standard_error)
    if half_width is not None and np.isfinite(half_width) and se > 0.0:
        z_level = float(half_width) / se
    else:
        z_level = _z(min(float(level), 1.0 - 1e-9))
    factor = z_level + float(norm.ppf(power))
    resolution = factor * float(standard_error)
    # Loss as a positive number: what lacking the data costs (removed), or what the reference
    # lacks against the variant (added).
    sign = (1.0 if higher_is_better else -1.0) * (1.0 if subject == "removed" else -1.0)
    loss = -sign * float(estimate)
    distance = abs(loss - float(margin))
    out = {"power": float(power), "level": float(level), "resolution": resolution,
           "mde": float(margin) + resolution, "tolerable": float(margin) - resolution,
           "row_variance": float(row_variance), "seed_variance": float(seed_variance),
           "seeds": int(seeds), "test_subjects": int(test_subjects), "distance": distance,
           "seeds_to_decide": None, "test_subjects_to_decide": None, "scale_to_decide": None,
           "assumption": ASSUMPTION}
    if verdict != "inconclusive":
        return out
    need = (distance / factor) ** 2  # the variance that would decide it
    if need <= 0.0:
        return out
    reducible_seed = seed_variance if target == "mean" else 0.0
    fixed_seed = seed_variance - reducible_seed
    # More seeds, the same test subjects: row + fixed + reducible * K0 / K <= need.
    room = need - row_variance - fixed_seed
    if room > 0.0:
        k = seeds if reducible_seed <= 0.0 else math.ceil(seeds * reducible_seed / room)
        if k <= seeds * MAX_FACTOR:
            out["seeds_to_decide"] = max(int(k), seeds + 1)
    # More test subjects, the same seeds: row * n0 / n + seed <= need.
    room = need - seed_variance
    if room > 0.0 and row_variance > 0.0:
        n = math.ceil(test_subjects * row_variance / room)
        if n <= test_subjects * MAX_FACTOR:
            out["test_subjects_to_decide"] = max(int(n), test_subjects + 1)
    # Both sizes times f: (row + reducible) / f + fixed <= need.
    room = need - fixed_seed
    if room > 0.0:
        f = (row_variance + reducible_seed) / room
        if 1.0 < f <= MAX_FACTOR:
            out["scale_to_decide"] = float(f)
    return out


def table_resolution(readouts: list[dict | None]) -> dict | None:
    """What a table of fixed size can tell, from its comparisons' readouts: the median
    minimum detectable loss and the range (``{"comparisons", "median_mde", "min_mde",
    "max_mde", "power"}``)."""
    mdes = sorted(r["mde"] for r in readouts if r is not None)
    if not mdes:
        return None
    return {"comparisons": len(mdes), "median_mde": float(np.median(mdes)),
            "min_mde": float(mdes[0]), "max_mde": float(mdes[-1]), "power": POWER}


def refresh_power(c: dict, *, level: float, subject: str, target: str,
                  half_width: float | None = None) -> None:
    """Redo the ``power`` readout of a comparison dict (:func:`nsf.study._stats.compare_replicates`)
    at ``level`` and with its current verdict (in place; nothing without a readout)."""
    p = c.get("power")
    if not p:
        return
    c["power"] = comparison_power(
        estimate=c["estimate"], standard_error=c["standard_error"], margin=c["margin"],
        row_variance=p["row_variance"], seed_variance=p["seed_variance"], level=level,
        seeds=p["seeds"], test_subjects=p["test_subjects"],
        higher_is_better=c["higher_is_better"], subject=subject, verdict=c["verdict"],
        target=target, power=p["power"], half_width=half_width)


def test_subjects(prepared) -> int:
    """Distinct subjects among the evaluation rows of prepared data (``user_id``)."""
    ids = prepared.rows["user_id"].to_numpy()[prepared.test_index]
    return int(np.unique(ids).size)


class ComparisonPower(ResultModel):
    """What a comparison can tell at its margin, and what would decide it
    (:func:`comparison_power`)."""

    power: float = Field(description="Power of the readout.")
    level: float = Field(description="Per-comparison level the verdict is judged at.")
    resolution: float = Field(description="(z_level + z_power) x SE: how far from the margin "
                              "a true difference must lie to be decided with that power.")
    mde: float = Field(description="Minimum detectable loss: margin + resolution. A true "
                       "loss at least this large is called 'needed' with that power.")
    tolerable: float = Field(description="margin - resolution: a true loss at most this large "
                             "is shown non-inferior ('not shown needed') with that power "
                             "(negative: not even no loss can be).")
    row_variance: float = Field(description="Variance of the difference from the test rows.")
    seed_variance: float = Field(description="Variance of the difference from the training "
                                 "draws (s^2 / K for the mean of K seeds).")
    seeds: int
    test_subjects: int
    distance: float = Field(description="|estimated loss - margin|.")
    seeds_to_decide: int | None = Field(
        None, description="Inconclusive only: seeds per arm that would decide it with the "
        "test subjects unchanged (None: not decided, or more seeds alone cannot).")
    test_subjects_to_decide: int | None = Field(
        None, description="Inconclusive only: test subjects that would decide it with the "
        "seeds unchanged (None: not decided, or more subjects alone cannot).")
    scale_to_decide: float | None = Field(
        None, description="Inconclusive only: the factor by which both the seeds and the test "
        "subjects would have to grow to decide it (None: not decided, or out of reach).")
    assumption: str


def readout_lines(result) -> list[str]:
    """What a study result could tell (``"this study can tell losses of at least X"``), its
    looks (``study.until: decided``), and for each inconclusive headline verdict what would
    decide it (:func:`comparison_power`'s projection, under :data:`ASSUMPTION`)."""
    metric = result.settings.primary_metric
    # A failed variant has no comparison; a comparison may lack the primary metric.
    pairs = [(v, c.metrics[metric]) for v in result.variants
             if (c := v.comparisons.get(v.reference)) is not None and metric in c.metrics]
    res = table_resolution([m.power.model_dump() if m.power else None for _, m in pairs])
    lines = []
    if res is not None:
        lines.append(f"this study can tell losses of at least {res['median_mde']:.4f} {metric} "
                     f"(median minimum detectable loss over {res['comparisons']} comparisons, "
                     f"{res['power']:.0%} power; range {res['min_mde']:.4f} to "
                     f"{res['max_mde']:.4f})")
    seq = result.sequential
    if seq is not None:
        subjects = ""
        if seq.budget_subjects:
            subjects = (f", test subjects per look {seq.subjects_per_look} (further users of "
                        f"the same world, at most {seq.budget_subjects:,} added)")
        lines.append(f"until decided: {seq.looks_run} of {seq.looks_planned} looks "
                     f"(family-wise level {seq.level_per_look:.4f} each, Bonferroni over "
                     f"looks), {seq.fits_added} fits added{subjects}; decided per look "
                     f"{seq.decided_per_look}")
        # Each look's decided verdicts with the sizes they were decided at.
        by_look: dict[tuple[int, int, int], list[str]] = {}
        for v, m in pairs:
            rec = m.sequential
            if rec is not None and rec.status == "decided":
                by_look.setdefault((rec.look, rec.seeds, rec.test_subjects), []).append(v.name)
        for (look, seeds, subjects_at), names in sorted(by_look.items()):
            lines.append(f"decided at look {look} ({seeds} seeds, {subjects_at:,} test "
                         f"subjects): {', '.join(names)}")
    for v, m in pairs:
        if m.verdict != "inconclusive" or m.power is None:
            continue
        p = m.power
        f = p.scale_to_decide
        options = [f"{p.seeds_to_decide} seeds" if p.seeds_to_decide else "",
                   f"{p.test_subjects_to_decide:,} test subjects" if p.test_subjects_to_decide
                   else "",
                   f"{math.ceil(p.seeds * f)} seeds with {math.ceil(p.test_subjects * f):,} "
                   "test subjects" if f else ""]
        ways = [w for w in options if w]
        lines.append(f"undecided: {v.name} (estimate {m.estimate:+.4f}, margin "
                     f"{m.margin}, {p.seeds} seeds, {p.test_subjects:,} test subjects): would "
                     "be decided by " + (" or ".join(ways) if ways else
                                         "no size within reach (the estimate sits at the "
                                         "margin)"))
    if any(line.startswith("undecided") for line in lines):
        lines.append(f"(projection: {ASSUMPTION})")
    return lines
