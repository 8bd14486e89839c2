"""The report model's model card and method texts (statistics, limitations), from the typed
study result and the report's settings (:mod:`nsf.report._model`)."""

from __future__ import annotations

from nsf.report._answers import _f3
from nsf.report._schema import Settings
from nsf.study import Settings as StudySettings
from nsf.study import StudyResult


def _model_card(study: StudyResult | None, settings: Settings, fair: dict) -> dict:
    base = study.baseline if study is not None else None
    ds = study.dataset if study is not None else None
    metrics = base.metrics if base is not None else {}
    simulated = ds is None or ds.kind == "simulated"
    words = settings.words

    def mean_sd(key):
        return metrics[key].model_dump()

    return {
        "details": {
            "model": settings.model,
            "score": f"round(100 x calibrated {words.probability}), 0-100",
            "target": settings.outcome or "n/a",
            "population": (base.population if simulated else settings.population)
            if base else None,
            "label": (base.label if simulated else (study.description.target_column
                                                     if study is not None and study.description
                                                     else "the target"))
            if base else None,
            "n_features": base.n_features if base else None,
            "seeds": list(base.seeds) if base else [],
            "run_ids": list(base.run_ids) if base else [],
            "developed_by": "nsf (reproduction of the Kakao Pay / Alipay / Apple NSF score "
                            "for audit; not the original model)" if simulated else
                            "nsf (a data-minimisation and fairness study of a score trained on "
                            "the user's table; not a production model)",
        },
        "intended_use": [
            "Research and audit: measure which shared data the score needed and who it treats "
            "differently, to inform data-protection and fairness assessments.",
            "Out of scope: decisions about real people. The model is trained on simulated data "
            "and reproduces the kind of score, not Apple's or Alipay's." if simulated else
            "Out of scope: decisions about real people. The model is a study model of the "
            "user's table, trained to measure what each attribute group adds.",
        ],
        "factors": {
            "evaluated": list(fair["attributes"]),
            "skipped": fair["skipped"],
            "note": "Sensitive attributes are used only for evaluation, never as features of "
                    "the default model (the 'sensitive' variant shows what adding them would "
                    "change).",
        },
        "metrics": {
            "primary": settings.primary_metric,
            "reported": ["test_auc", "test_pr_auc", "test_brier", "test_log_loss", "test_ece",
                         "test_ks", "test_gini"],
            "threshold": settings.threshold,
            "threshold_meaning": "a score at or above it means 'charge each purchase "
                                 "immediately' (flagged)" if simulated else
                                 f"a score at or above it means '{words.decision}' (flagged; "
                                 f"{settings.threshold_source or 'study.threshold'})",
            "uncertainty": "mean and SD over training seeds; differences with paired bootstrap "
                           "intervals over test rows and seeds",
        },
        "evaluation_data": {k: getattr(ds, k, None) for k in (
            "split", "test_rows", "test_nsf_rate", "test_digest", "plain_cv_auc",
            "plain_cv_note")},
        "training_data": {k: getattr(ds, k, None) for k in (
            "kind", "source", "digest", "train_rows", "validation_rows")},
        "quantitative_analyses": {k: mean_sd(k) for k in metrics},
        "ethical_considerations": [
            *(["The case: every Kakao Pay user's data (including the >80% who never used "
               "Apple's billing) was sent abroad and pseudonymised with unsalted SHA-256; "
               "regulators found it excessive and reversible."] if simulated else []),
            "Contested attributes can act as proxies for the sensitive attributes ("
            + (", ".join(fair["attributes"]) or "none evaluated")
            + "); the proxy table and the inventory's proxy rule make this visible.",
            "A score that decides billing treatment can shift costs (immediate charging) onto "
            "groups with higher error rates; see the fairness section." if simulated else
            f"A score that decides who is {words.decision} can shift its burden onto "
            "groups with higher error rates; see the fairness section.",
        ],
        "caveats": [
            "Simulated data: effects follow the simulator's documented assumptions; "
            "real data can differ." if simulated else "The user's own table: effects hold for "
            "its rows and may not carry over to another population or period.",
            "Small studies (such as the smoke config) give wide intervals: 'inconclusive' "
            "means the data cannot tell, not that an attribute is harmless or needed.",
            "Reliance (SHAP, permutation) describes this model, not necessity: a group the "
            "model relies on can be replaced by correlated data when it is removed.",
        ],
    }


def _statistics_text(settings: Settings, logged: StudySettings | None) -> list[str]:
    """The method's statistics, from the report's settings and the study's own (``logged``;
    None without a study)."""
    conf = settings.confidence
    conf_s = "n/a" if conf is None else f"{conf:.0%}"
    resample = (logged.training_resample if logged is not None else None) or "none"
    if resample == "none":
        training = ("each seed changes only the model's seed, on the same training rows, so "
                    "the intervals describe this one training sample")
        seeds = "seeds resampled within each arm"
    else:
        fraction = logged.training_fraction if logged is not None else None
        drawn = ("a bootstrap of subjects" if resample == "bootstrap" else
                 "a subsample of the subjects" if fraction is None else
                 f"a subsample of {fraction:g} of the subjects")
        training = (f"each seed re-draws the training and calibration subjects ({drawn}), the "
                    "same draw for every variant, so the intervals cover the training sample "
                    "too")
        seeds = ("seeds resampled together for both arms (paired), and the interval widened "
                 "by t / z at the Welch-Satterthwaite degrees of freedom of its rows and seeds "
                 "parts")
    return [
        f"Every variant and the baseline are trained with the same {settings.n_seeds} "
        "seeds on the same split and evaluated on the same test rows "
        f"({settings.population or 'the evaluation population'}); {training}.",
        f"Differences to the reference get {conf_s} intervals from a paired bootstrap "
        f"({settings.n_bootstrap} replicates): test rows resampled once (stratified by "
        f"outcome) and shared by both arms and all seeds, {seeds} "
        f"(interval target: {settings.interval_target}). No DeLong test: it is invalid "
        "for nested models (Demler et al., Stat Med 2012).",
        f"Non-inferiority verdicts against a margin of {_f3(settings.margin)} "
        f"{str(settings.primary_metric).upper()}: 'needed' when removing the data costs "
        "more than the margin with confidence; 'not shown needed' when the worst case stays "
        "within the margin; 'inconclusive' otherwise (roles swap for data a variant adds).",
        _multiplicity_text(settings.multiplicity, conf_s),
        *_sequential_text(logged),
        f"Fairness: group metrics (fairlearn MetricFrame) averaged over seeds, crossed "
        f"bootstrap intervals ({settings.fairness_n_bootstrap} replicates; rows within "
        "group x outcome cells, and seeds); each variant's disparity change is paired with the "
        "baseline on the same resamples.",
        "Proxy strength: each contested group alone predicts a sensitive attribute with a "
        "cross-validated classifier; lift = score - chance (AUC - 0.5 for two classes, "
        "balanced accuracy - 1/k for k).",
        "Reliance: TreeSHAP share and grouped permutation AUC drop of the baseline, mean over "
        "seeds; kept apart from necessity (retraining without the group).",
    ]

def _sequential_text(logged: StudySettings | None) -> list[str]:
    """The method section's sentence on study.until 'decided' (none for a fixed study)."""
    if logged is None or logged.until != "decided":
        return []
    budget = logged.budget
    step, most = (budget.seed_step, budget.seeds) if budget is not None else (None, None)
    subjects = budget.subjects if budget is not None else 0
    added = (f"; on simulated data, further users of the same world join the test subjects on "
             f"a schedule fixed in advance (doubling at each look, up to {subjects:,} more), "
             "scored by every fitted model, and each look judges on all test subjects so far "
             "(a table of fixed size keeps its test rows)" if subjects else "")
    return [f"Until decided: after the first seeds, the comparisons still inconclusive get "
            f"{step if step else 'as many'} more seeds at each look, up to "
            f"{most}{added}; each look judges at the family-wise level "
            "1 - alpha / looks (Bonferroni over the planned looks, counting looks that add "
            "seeds and looks that add test subjects), so the chance of any wrong "
            "verdict over all looks stays within alpha. A comparison that even an optimistic "
            "projection cannot decide within the budget stops early. Only the primary metric's "
            "verdicts are sequential."]


def _multiplicity_text(method: str | None, conf: str) -> str:
    """The method section's sentence on how the verdicts of a family hold jointly."""
    if method == "max_statistic":
        how = ("every interval of the family is widened to one per-comparison level at which "
               "all of them cover their paired bootstrap replicates jointly (max-statistic on "
               "the percentile scale; Mandel & Betensky 2008), and the verdict is read from "
               "that simultaneous interval")
    elif method == "holm":
        how = ("the verdicts come from Holm's step-down procedure on one-sided paired "
               "bootstrap p-values; the simultaneous interval shown is Bonferroni's")
    else:
        return ("Multiplicity: none; every verdict is read from its own per-comparison "
                "interval (no family-wise control).")
    return (f"Multiplicity ({method}): within each family (its variants against one "
            f"reference, per metric) the verdicts control the family-wise error at {conf}: "
            f"{how}. Tables show the per-comparison interval, the simultaneous one and which "
            "decided the verdict.")


def _limitations(study: StudyResult | None, settings: Settings) -> list[str]:
    ds = study.dataset if study is not None else None
    out = [
        "The data are simulated: absolute numbers are illustrations; the direction and the "
        "method carry over, not the values." if ds is None or ds.kind == "simulated" else
        "The data are the user's own table: the numbers describe that table and its sample.",
        f"Test rows: {ds.test_rows if ds else 'n/a'} with a "
        f"{settings.words.positive} rate of "
        f"{((ds.test_nsf_rate if ds else None) or 0):.1%}; intervals shrink with more rows and "
        "seeds.",
        "Verdicts are per attribute group, not per column; a group judged not needed may "
        "still hold one useful column.",
        "Proxy lifts are point estimates from cross-validation without intervals.",
    ]
    if settings.multiplicity in (None, "none"):
        out.append("Multiple comparisons: each verdict is at its own confidence level; with "
                   "many variants some verdicts are expected to be wrong by chance.")
    else:
        out.append("Simultaneous verdicts are more cautious: with a family of many variants, "
                   "an effect that one comparison alone would call 'needed' can stay "
                   "'inconclusive'. The minimal-set search judges its steps one at a time.")
    if settings.n_seeds < 3:
        out.append("Fewer than three training seeds: seed variance is poorly estimated.")
    return out
