"""volume: how many subjects' data does training need? A learning curve of nested subsamples.

Each size ``n`` of ``study.volume_sizes`` is the baseline trained on the rows of ``n`` training
subjects only (:func:`nsf.pipeline.nested_subjects`: one random order of the training subjects
per seed, so for a seed every smaller sample is inside every larger one); "all" is the baseline
itself, whose fits are reused. Every size is trained with the study's seeds and compared with
the baseline by the study's paired bootstrap (subject ``removed``: the subjects left out), so
its verdict says whether the subjects beyond ``n`` were needed at the margin.

:func:`learning_curve` then gives the curve (the primary metric against size with intervals),
the smallest size non-inferior to "all", and an inverse power law ``m(n) = a - b n^-c`` fitted
to the points (:func:`scipy.optimize.curve_fit`), extrapolated to the real population of the
case (``study.ledger.people``: 40.45 million users, docs/case.md) and marked as an extrapolation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure
from pydantic import Field
from scipy.stats import norm

from nsf.config import LedgerConfig
from nsf.errors import NsfError
from nsf.metrics import percentile_interval
from nsf.streams import replicate_seeds, stream
from nsf.study._section import FamilySection, Num, ResultModel
from nsf.study.families.base import BASELINE, Family, FamilyContext, Proposal, StudyRun
from nsf.views import MARKERS, FamilyView, fmt, interval, note, num, para, png, table
from nsf.vocabulary import NOT_SHOWN_NEEDED

#: [ASSUMPTION] Default learning-curve sizes (training subjects); "all" is the baseline.
DEFAULT_SIZES: tuple[int, ...] = (1_000, 3_000, 10_000, 30_000, 100_000)
#: Points the power law needs beyond its three parameters to be fitted at all.
MIN_CURVE_POINTS = 4


@dataclass(frozen=True)
class VolumePlan:
    """The sizes the family runs, the training population, and why others were left out."""

    sizes: tuple[int, ...]
    n_all: int
    notes: tuple[str, ...]
    configured: bool


def _seeds(ctx: FamilyContext) -> list[int]:
    return replicate_seeds(ctx.cfg.seed, ctx.cfg.study.seeds)


def plan(ctx: FamilyContext) -> VolumePlan:
    """The learning curve's sizes for this dataset.

    Raises
    ------
    NsfError
        Sizes set in ``study.volume_sizes`` that are not below the training population, or
        whose subsample (for some seed) lacks one of the two classes.
    """
    from nsf.pipeline import nested_subjects

    prepared = ctx.prepared
    train = prepared.rows_for("train")
    users = prepared.rows["user_id"].to_numpy()[train]
    n_all = int(np.unique(users).size)
    label = prepared.rows[prepared.target.label].to_numpy()
    sizes_set = ctx.cfg.study.volume_sizes
    configured = sizes_set is not None
    wanted = sizes_set if sizes_set is not None else DEFAULT_SIZES
    notes = []
    too_big = [n for n in wanted if n >= n_all]
    if too_big and configured:
        raise NsfError(f"study.volume_sizes: {too_big} not below the training population "
                       f"({n_all:,} subjects; 'all' is the baseline itself)")
    if too_big:
        notes.append(f"sizes {', '.join(f'{n:,}' for n in too_big)} left out: not below the "
                     f"training population ({n_all:,} subjects)")
    sizes = []
    seeds = _seeds(ctx)
    for n in (n for n in wanted if n < n_all):
        one_class = [s for s in seeds
                     if np.unique(label[nested_subjects(prepared, train, n, s)]).size < 2]
        if one_class and configured:
            raise NsfError(f"study.volume_sizes: {n:,} subjects hold one class only for seed "
                           f"{one_class[0]} (both outcomes are needed to train); use larger "
                           "sizes")
        if one_class:
            notes.append(f"size {n:,} left out: its subsample holds one class only")
            continue
        sizes.append(int(n))
    return VolumePlan(tuple(sizes), n_all, tuple(notes), configured)


def applies(ctx: FamilyContext) -> str | None:
    if ctx.prepared.crossfit is not None:
        return ("the table is cross-fitted (fewer evaluation rows than study.crossfit_below): "
                "a learning curve needs one fixed training split")
    p = plan(ctx)
    if not p.sizes:
        return (f"no learning-curve size below the training population ({p.n_all:,} subjects)"
                + (f": {'; '.join(p.notes)}" if p.notes else "")
                + "; set study.volume_sizes")
    return None


def variants(ctx: FamilyContext) -> list[Proposal]:
    p = plan(ctx)
    return [Proposal(f"volume_{n}", ctx.base, train_subjects=n,
                     description=f"trained on {n:,} of the {p.n_all:,} training subjects "
                     "(nested subsample per seed)")
            for n in p.sizes]


# --- The learning curve ------------------------------------------------------------------------


def power_law(n, a, b, c):
    """``a - b * (n / 1000) ** -c``: an inverse power law in thousands of subjects."""
    return a - b * np.power(np.asarray(n, dtype=np.float64) / 1000.0, -c)


def fit_power_law(sizes, values, sigma=None, *, higher_is_better: bool = True,
                  at: float | None = None, rng: np.random.Generator | None = None,
                  confidence: float = 0.95, draws: int = 2000) -> dict:
    """Fit :func:`power_law` to ``values`` against ``sizes`` and extrapolate to ``at``.

    ``at``: where to extrapolate (default: the case's population, ``study.ledger.people``).
    For a metric where lower is better the curve is fitted to its negative. The interval of
    the extrapolation draws the parameters from the fit's normal approximation
    (``pcov``); it covers the fit's uncertainty only, not whether the law holds beyond the
    data (which is why it is marked as an extrapolation).

    Returns
    -------
    dict
        ``{"fitted": bool, "reason", "a", "b", "c", "asymptote", "at", "extrapolated",
        "lower", "upper", "is_extrapolation": True}``.
    """
    from scipy.optimize import curve_fit

    at = LedgerConfig.model_fields["people"].default if at is None else at
    x = np.asarray(sizes, dtype=np.float64)
    sign = 1.0 if higher_is_better else -1.0
    y = sign * np.asarray(values, dtype=np.float64)
    out = {"fitted": False, "reason": None, "a": None, "b": None, "c": None,
           "asymptote": None, "at": float(at), "extrapolated": None, "lower": None,
           "upper": None, "is_extrapolation": True, "higher_is_better": higher_is_better,
           "form": "m(n) = a - b (n/1000)^-c" if higher_is_better else
           "m(n) = a + b (n/1000)^-c"}
    if x.size < MIN_CURVE_POINTS:
        out["reason"] = (f"{x.size} points; the power law needs at least {MIN_CURVE_POINTS}")
        return out
    s = np.ones_like(y) if sigma is None else np.maximum(np.asarray(sigma, dtype=np.float64),
                                                        1e-6)
    # Start from the best exponent on a grid (a and b then by weighted least squares, b >= 0),
    # which a steep first point cannot lead astray; then refine all three together.
    best = None
    for c0 in np.geomspace(0.02, 3.0, 60):
        design = np.column_stack([np.ones_like(x), -np.power(x / 1000.0, -c0)]) / s[:, None]
        (a0, b0), *_ = np.linalg.lstsq(design, y / s, rcond=None)
        if b0 < 0:
            continue
        loss = float(np.sum(((y - power_law(x, a0, b0, c0)) / s) ** 2))
        if best is None or loss < best[0]:
            best = (loss, (float(a0), float(b0), float(c0)))
    if best is None:
        out["reason"] = "the metric does not improve with size (no decreasing power law fits)"
        return out
    try:
        popt, pcov = curve_fit(power_law, x, y, p0=best[1], sigma=s,
                               absolute_sigma=sigma is not None,
                               bounds=([-np.inf, 0.0, 1e-3], [np.inf, np.inf, 3.0]),
                               maxfev=20_000)
    except (RuntimeError, ValueError):
        popt, pcov = np.asarray(best[1]), np.full((3, 3), np.nan)
    a, b, c = (float(v) for v in popt)
    out.update(fitted=True, a=sign * a, b=b, c=c, asymptote=sign * a,
               extrapolated=float(sign * power_law(at, a, b, c)))
    if rng is not None and np.all(np.isfinite(pcov)):
        theta = rng.multivariate_normal(popt, pcov, size=draws, check_valid="ignore")
        theta[:, 2] = np.clip(theta[:, 2], 1e-3, 3.0)
        theta[:, 1] = np.maximum(theta[:, 1], 0.0)
        pred = sign * power_law(at, theta[:, 0], theta[:, 1], theta[:, 2])
        lo, hi = percentile_interval(pred, confidence)
        out.update(lower=float(lo), upper=float(hi))
    return out


def learning_curve(points: list[dict], *, metric: str, higher_is_better: bool, margin: float,
                   plan_: VolumePlan, rng: np.random.Generator, confidence: float,
                   at: float | None = None) -> dict:
    """The learning curve from the study's points.

    Parameters
    ----------
    points : one per size, ascending, the last being "all" (the baseline): ``{"size",
        "variant", "estimate", "lower", "upper"}`` (the metric with its interval) and, except
        for "all", ``"difference"`` (``{"estimate", "lower", "upper", "verdict"}`` against all).
    metric, higher_is_better, margin : the primary metric and its non-inferiority margin.
    plan_ : the family's :class:`VolumePlan` (training population, notes).
    rng : stream of the extrapolation interval.
    confidence : interval level.
    at : where the power law is extrapolated to (default: the case's population).

    Returns
    -------
    dict
        ``{"metric", "margin", "n_all", "points", "notes", "smallest_sufficient",
        "smallest_sufficient_fraction", "monotone_within_intervals", "power_law"}``;
        ``smallest_sufficient`` is the smallest size that, with every larger size, is
        non-inferior to "all" ("not shown needed": the subjects beyond it were not needed);
        ``n_all`` when no smaller size is.
    """
    sizes = [p["size"] for p in points]
    smallest = plan_.n_all
    for p in reversed(points[:-1]):
        if p["difference"]["verdict"] != NOT_SHOWN_NEEDED:
            break
        smallest = p["size"]
    # Monotone within intervals: no larger size is worse than a smaller one beyond both
    # intervals (the larger one's best case below the smaller one's worst case).
    def best(p):
        return p["upper"] if higher_is_better else -p["lower"]

    def worst(p):
        return p["lower"] if higher_is_better else -p["upper"]

    monotone = all(best(points[j]) >= worst(points[i])
                   for i in range(len(points)) for j in range(i + 1, len(points)))
    z = 2.0 * float(norm.ppf(0.5 + confidence / 2.0))
    sigma = [(p["upper"] - p["lower"]) / z for p in points]
    law = fit_power_law(sizes, [p["estimate"] for p in points], sigma,
                        higher_is_better=higher_is_better, rng=rng, confidence=confidence,
                        at=at)
    return {"metric": metric, "margin": margin, "n_all": plan_.n_all, "points": points,
            "notes": list(plan_.notes), "smallest_sufficient": int(smallest),
            "smallest_sufficient_fraction": smallest / plan_.n_all,
            "monotone_within_intervals": bool(monotone), "power_law": law}


def curve_from_study(study: StudyRun, compared: dict) -> dict | None:
    """:func:`learning_curve` of a finished study's volume variants (None without them).

    Each point's interval is the percentile interval of the arm's bootstrap replicates (the
    study's row resamples, seeds resampled as in its comparisons); the difference to "all" and
    its verdict are the study's comparison of the variant with the baseline.
    """
    from nsf.metrics import seed_average
    from nsf.study._stats import HIGHER_IS_BETTER

    cfg, s = study.cfg, study.cfg.study
    arms = [v for v in study.variants if v.family == "volume"]
    if not arms:
        return None
    metric = s.primary_metric

    def point(v, size, difference):
        rep = study.arms[study.arm_id(v)]["metrics"][metric]
        avg = seed_average(rep["replicates"], stream(cfg.seed, "volume-curve", v.name),
                           s.interval_target,
                           unbiased_spread=s.training_resample != "none")
        lo, hi = percentile_interval(avg, s.confidence)
        return {"size": int(size), "variant": v.name, "estimate": float(rep["per_seed"].mean()),
                "lower": float(lo), "upper": float(hi), "difference": difference}

    p = plan(FamilyContext(cfg=cfg, prepared=study.prepared, base=study.baseline.selection,
                           covered=(), contested=()))
    sizes = {}
    for v in arms:
        if v.train_subjects is None:  # never: the family's variants are training sizes
            raise RuntimeError(f"volume variant {v.name!r} has no training size")
        sizes[v.name] = v.train_subjects
    points = []
    for v in sorted(arms, key=lambda a: sizes[a.name]):
        d = compared[f"{v.name}@{BASELINE}"]["metrics"][metric]
        points.append(point(v, sizes[v.name], {k: d[k] for k in
                                               ("estimate", "lower", "upper", "verdict")}))
    points.append(point(study.baseline, p.n_all, None))
    curve = learning_curve(points, metric=metric, higher_is_better=HIGHER_IS_BETTER[metric],
                           margin=s.margins[metric], plan_=p,
                           rng=stream(cfg.seed, "volume-extrapolation"),
                           confidence=s.confidence, at=s.ledger.people)
    sample = study.prepared.sample
    if sample is not None:
        curve["notes"].append(sample_verdict(sample.size, curve["n_all"],
                                             curve["smallest_sufficient"]))
    return curve


def sample_verdict(sample_subjects: int, n_all: int, smallest: int) -> str:
    """Whether the learning curve justifies the study's sample (``study.sample_subjects``).

    Justified when a training set smaller than the sample's was already non-inferior to all of
    the sample's training subjects (the curve flattened within the sample); otherwise a warning.
    """
    if smallest < n_all:
        return (f"The study ran on a stratified sample of {sample_subjects:,} subjects "
                f"({n_all:,} of them training subjects); the learning curve justifies it: "
                f"{smallest:,} training subjects ({smallest / n_all:.0%} of them) were already "
                "non-inferior to all of them (the closer to 100%, the less room the sample "
                "leaves).")
    return (f"WARNING: the study ran on a stratified sample of {sample_subjects:,} subjects "
            f"and no smaller training set was shown non-inferior to its {n_all:,} training "
            "subjects: the learning curve has not flattened within the sample, so more subjects "
            "may change the results (raise study.sample_subjects).")


# --- Its section of the study result -----------------------------------------------------


class VolumeDifference(ResultModel):
    """A size against all the training subjects (the study's paired comparison)."""

    estimate: Num
    lower: Num
    upper: Num
    verdict: str | None = Field(description="About the subjects beyond this size: 'not shown "
                                "needed' = the smaller training set is non-inferior.")


class VolumePoint(ResultModel):
    """One point of the learning curve."""

    size: int = Field(description="Training subjects.")
    variant: str = Field(description="The arm ('baseline' for all subjects).")
    estimate: Num = Field(description="The primary metric, mean over seeds.")
    lower: Num = Field(description="Percentile interval of the arm's bootstrap replicates.")
    upper: Num
    difference: VolumeDifference | None = Field(description="Against all (None for all).")


class PowerLaw(ResultModel):
    """The inverse power law fitted to the curve, and its extrapolation."""

    fitted: bool
    reason: str | None = Field(description="Why it was not fitted (None when it was).")
    form: str
    higher_is_better: bool
    a: Num
    b: Num
    c: Num
    asymptote: Num
    at: float = Field(description="Where it is extrapolated to (people).")
    extrapolated: Num = Field(description="The metric there: an extrapolation.")
    lower: Num = Field(description="Interval of the extrapolation from the fit's uncertainty "
                       "only.")
    upper: Num
    is_extrapolation: bool = True


class VolumeSection(FamilySection):
    """The volume family's learning curve (:func:`nsf.study.families.volume.learning_curve`)."""

    metric: str
    margin: Num
    n_all: int = Field(description="Training subjects of the baseline ('all').")
    points: list[VolumePoint] = Field(description="Ascending sizes; the last is all.")
    notes: list[str] = Field(description="Default sizes left out, and why.")
    smallest_sufficient: int = Field(description="Smallest size that, with every larger one, "
                                     "is non-inferior to all (n_all when none is).")
    smallest_sufficient_fraction: float
    monotone_within_intervals: bool
    power_law: PowerLaw


#: Caption of the learning curve's figure.
CAPTION = ("Learning curve: test metric against the training subjects (log scale), with "
              "intervals; dashed: the fitted inverse power law; hollow diamond: its "
              "extrapolation to the case's population (an extrapolation, not a measurement).")


# --- The report view ------------------------------------------------------------------------


def volume_model(section, study) -> dict:
    """The volume section's numbers for ``report.json`` (the section as logged)."""
    return section.model_dump(mode="json")


def volume_answer(curve: dict) -> str:
    """One line: how many training subjects were needed."""
    metric = curve["metric"].upper()
    n_all, smallest = curve["n_all"], curve["smallest_sufficient"]
    if smallest >= n_all:
        text = (f"No smaller training set was shown non-inferior to all {n_all:,} training "
                "subjects")
    else:
        text = (f"{smallest:,} of the {n_all:,} training subjects ({fmt(smallest / n_all, 'pct')}"
                ") were non-inferior to all of them at the margin")
    law = curve.get("power_law") or {}
    if law.get("fitted"):
        text += (f"; the fitted inverse power law levels off at {metric} {law['asymptote']:.3f} "
                 f"(at {law['at'] / 1e6:.2f}M people: {law['extrapolated']:.3f}, an "
                 "extrapolation)")
    return text + "."


def volume_blocks(curve: dict) -> list[dict]:
    """The volume section's blocks."""
    metric = curve["metric"].upper()
    blocks: list[dict] = [para(
        "How many people's data does training need? The baseline retrained on nested "
        "subsamples of the training subjects (every size with the study's seeds; for a seed "
        "each smaller sample lies inside each larger one), scored on the same test rows. 'not "
        "shown needed' means the subjects beyond that size were not needed: the smaller "
        f"training set is non-inferior to all of them within the margin ({fmt(curve['margin'])}"
        f" {metric}).")]
    blocks += [note(n) for n in curve.get("notes") or []]
    body = []
    for pt in curve["points"]:
        d = pt.get("difference")
        body.append([f"{pt['size']:,}" + (" (all)" if d is None else ""),
                     fmt(pt["estimate"]), interval(pt["lower"], pt["upper"], "3"),
                     "-" if d is None else fmt(d["estimate"], "+3"),
                     "-" if d is None else interval(d["lower"], d["upper"]),
                     "-" if d is None else (d.get("verdict") or "n/a")])
    blocks.append(table(f"Learning curve ({metric} on the test rows)",
                         ["training subjects", metric, "interval", "difference to all",
                          "interval", "verdict"], body, {1, 2, 3, 4}))
    if curve["points"]:
        blocks.append({"type": "figure", "name": "volume", "caption": CAPTION})
    n_all, smallest = curve["n_all"], curve["smallest_sufficient"]
    blocks.append(para(
        f"Smallest training set non-inferior to all {n_all:,} subjects (with every larger "
        f"size): {smallest:,} ({fmt(smallest / n_all, 'pct')}). The curve is "
        + ("monotone within its intervals." if curve.get("monotone_within_intervals")
           else "NOT monotone within its intervals: a larger training set did worse beyond "
                "both intervals.")))
    law = curve.get("power_law") or {}
    if law.get("fitted"):
        bounds = ("" if law.get("lower") is None else
                  f" (interval {interval(law['lower'], law['upper'], '3')} from the fit's "
                  "uncertainty only)")
        blocks.append(note(
            f"Extrapolation, not a measurement: {law['form']} with a = {law['a']:.4f}, "
            f"b = {law['b']:.4f}, c = {law['c']:.3f}, fitted to the points above, gives "
            f"{metric} {law['extrapolated']:.3f} at {law['at']:,.0f} people (the case's "
            f"population){bounds}. That the law holds so far beyond the data is an "
            "assumption."))
    else:
        blocks.append(note(f"No power law fitted: {law.get('reason')}."))
    blocks.append(para("Answer: " + volume_answer(curve)))
    return blocks


def _volume_figure(curve: dict | None, metric: str) -> bytes | None:
    if not curve or not curve.get("points"):
        return None
    import numpy as np

    pts = curve["points"]
    fig = Figure(figsize=(7.5, 3.8))
    ax = fig.add_subplot()
    xs = [pt["size"] for pt in pts]
    ax.plot(xs, [pt["estimate"] for pt in pts], color="black", linewidth=1.2, zorder=1)
    seen = set()
    for pt in pts:
        if num(pt.get("lower")) is not None and num(pt.get("upper")) is not None:
            ax.plot([pt["size"]] * 2, [pt["lower"], pt["upper"]], color="black",
                    linewidth=1.0, marker="_", markersize=8)
        verdict = (pt.get("difference") or {}).get("verdict")
        label = "all (baseline)" if pt.get("difference") is None else verdict
        marker, face = MARKERS.get(verdict, MARKERS[None])
        ax.plot([pt["size"]], [pt["estimate"]], marker=marker, markerfacecolor=face,
                markeredgecolor="black", linestyle="none", markersize=7, zorder=3,
                label=None if label in seen else label)
        seen.add(label)
    law = curve.get("power_law") or {}
    if law.get("fitted"):
        grid = np.geomspace(min(xs), law["at"], 200)
        sign = 1.0 if law.get("higher_is_better", True) else -1.0
        ax.plot(grid, sign * power_law(grid, sign * law["a"], law["b"], law["c"]), color="0.35",
                linestyle="--", linewidth=0.9, label="inverse power law (fit)")
        ax.plot([law["at"]], [law["extrapolated"]], marker="D", markerfacecolor="white",
                markeredgecolor="black", linestyle="none", markersize=7,
                label="extrapolation")
        if law.get("lower") is not None:
            ax.plot([law["at"]] * 2, [law["lower"], law["upper"]], color="0.35",
                    linestyle=":", linewidth=1.0)
    ax.set_xscale("log")
    ax.set_xlabel("training subjects (log scale)")
    ax.set_ylabel(f"test {metric.upper()}")
    ax.set_title("Volume: accuracy against the number of training subjects", fontsize=10)
    ax.grid(color="0.85", linewidth=0.6)
    ax.legend(fontsize=7, loc="lower right")
    return png(fig)


def volume_figures(curve: dict) -> dict[str, bytes]:
    png = _volume_figure(curve, curve["metric"])
    return {} if png is None else {"volume": png}


def ledger_subjects(result, facts, pool: float) -> dict:
    """The ledger's training subjects: the learning curve's smallest sufficient size."""
    curve = result.sections.volume
    if curve is None:
        return {"needed": pool, "upper": pool, "verdict": "not studied (family volume did not "
                "run): every user of the training pool counts as needed"}
    sizes = [p.size for p in curve.points]
    smallest = curve.smallest_sufficient
    if smallest >= curve.n_all:
        return {"needed": pool, "upper": pool,
                "verdict": f"no training set smaller than all {curve.n_all:,} simulated "
                "subjects was shown non-inferior: every user of the training pool counts as "
                "needed"}
    i = sizes.index(smallest)
    upper = sizes[i + 1] if sizes[i + 1] < curve.n_all else pool
    d = curve.points[i].difference
    return {"needed": float(min(smallest, pool)), "upper": float(min(upper, pool)),
            "verdict": f"learning curve: {smallest:,} subjects non-inferior to all "
            f"{curve.n_all:,} ({curve.metric.upper()} difference {d.estimate:+.3f}, interval "
            f"[{d.lower:+.3f}, {d.upper:+.3f}], margin {curve.margin:g}); a sample size, "
            "taken as the same count at case scale [ASSUMPTION]"}



def volume_metrics(curve: VolumeSection) -> dict[str, float]:
    """The parent run's metrics of the learning curve (``volume_*``)."""
    out = {"volume_n_all": float(curve.n_all),
           "volume_smallest_sufficient": float(curve.smallest_sufficient),
           "volume_smallest_sufficient_fraction": float(curve.smallest_sufficient_fraction)}
    if curve.power_law.fitted and curve.power_law.extrapolated is not None:
        out[f"volume_extrapolated_{curve.metric}"] = float(curve.power_law.extrapolated)
    return out


FAMILY = Family(
    "volume", "How many subjects' data does training need?",
    "more training subjects than the smallest learning-curve size", applies, variants,
    section=VolumeSection, curve=curve_from_study, metrics=volume_metrics,
    ledger=ledger_subjects, ledger_role="subjects",
    config=("study.volume_sizes",),
    view=FamilyView("Volume: how many people's data training needs", model=volume_model,
                    blocks=volume_blocks, figures=volume_figures, position=10))
