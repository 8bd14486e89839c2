"""The data-minimisation and fairness study: variants x seeds, intervals, verdicts.

``nsf study CONFIG`` answers questions 1-5 of CASE.md with measurements and uncertainty. The
stage functions here are pure (prepared data and config in, frames and dicts out); MLflow
lives in :mod:`nsf.tracking.study`, arguments and printing in :mod:`nsf.cli._study`.

From Python::

    from nsf.pipeline import prepare
    from nsf.study import run_study, study_tables
    prepared = prepare(cfg, open_dataset(path), latents=True)   # latents: income proxy only
    result = run_study(cfg, prepared)                           # StudyResult; no store
    tables = study_tables(result)                               # the CSV artifacts

Method
------
- Every variant and the baseline (the configured model) are trained with the same K seeds
  (``study.seeds``; the first is the experiment seed, so replicate 0 of the baseline is the
  ``nsf train`` model) on the same split, and predict the same test rows (Apple-registered
  users, ``nsf_appstore``).
- A difference ``metric(variant) - metric(reference)`` gets an interval covering test-row
  sampling and training-seed variance: :func:`nsf.metrics.difference_interval` (rows resampled
  once and shared by both arms and all seeds, stratified by outcome; each arm's seeds
  resampled; Owen's pigeonhole bootstrap). No DeLong test: it is invalid for nested models
  (Demler et al., Stat Med 2012).
- Verdicts (:func:`nsf.metrics.non_inferiority_verdict`, margin ``study.margins``, default
  0.005 AUC) are about the data in question: for a variant that *removes* data from its
  reference, "needed" when removing it costs more than the margin with confidence, "not shown
  needed" when the interval's worst case stays within the margin, "inconclusive" otherwise; for
  a variant that *adds* data (population ``all``, sensitive attributes, ``core+<g>`` against
  ``drop_all_contested``) the roles swap: "needed" when adding it gains more than the margin.
- Minimal sufficient set: backward search over the contested groups (``ranked``: cheapest
  drop-one loss first, one retraining per group; ``greedy``: best worst case at each step),
  every candidate set judged against the baseline.
- Fairness: :func:`nsf.fairness.group_metrics` (fairlearn MetricFrame) per seed, averaged;
  crossed bootstrap intervals (rows within group x outcome cells, seeds); each variant's
  disparity changes on the same row resamples as the baseline (paired).
- Proxies: :func:`nsf.fairness.proxy_strength` of each contested group alone for each
  sensitive attribute (and the latent income's quartile on simulated data), on one row per user
  (the last observation date, all users).
- Reliance (:mod:`nsf.explain`: TreeSHAP and grouped permutation importance of the baseline,
  mean over seeds) is reported beside necessity (the retrained drop), and on simulated data the
  configured dependence strength (the truth) beside both.

Result
------
:func:`run_study` returns a :class:`StudyResult` (:mod:`nsf.study._result`, schema
``nsf.study/2``): a typed, frozen pydantic model logged as ``study.json`` and read back by the
report with validation. Variants carry their family (:data:`nsf.vocabulary.FAMILIES`) and the
groups they are about; comparisons hold, per metric, the estimate, interval, margin and verdict;
``settings`` holds every threshold that decided an answer; ``skipped_families`` the families
that cannot apply to the data, with the reason; ``inventory`` the feature registry as the study
saw it. A family with more to say than comparisons adds its own typed section
(:class:`FamilySections`; see the docstring of :mod:`nsf.study._result`).

CSV artifacts

Method
------
- Every variant and the baseline (the configured model) are trained with the same K seeds
  (``study.seeds``; the first is the experiment seed, so replicate 0 of the baseline is the
  ``nsf train`` model) on the same split, and predict the same test rows (Apple-registered
  users, ``nsf_appstore``).
- A difference ``metric(variant) - metric(reference)`` gets an interval covering test-row
  sampling and training-seed variance: :func:`nsf.metrics.difference_interval` (rows resampled
  once and shared by both arms and all seeds, stratified by outcome; each arm's seeds
  resampled; Owen's pigeonhole bootstrap). No DeLong test: it is invalid for nested models
  (Demler et al., Stat Med 2012).
- Verdicts (:func:`nsf.metrics.non_inferiority_verdict`, margin ``study.margins``, default
  0.005 AUC) are about the data in question: for a variant that *removes* data from its
  reference, "needed" when removing it costs more than the margin with confidence, "not shown
  needed" when the interval's worst case stays within the margin, "inconclusive" otherwise; for
  a variant that *adds* data (population ``all``, sensitive attributes, ``core+<g>`` against
  ``drop_all_contested``) the roles swap: "needed" when adding it gains more than the margin.
- Minimal sufficient set: backward search over the contested groups (``ranked``: cheapest
  drop-one loss first, one retraining per group; ``greedy``: best worst case at each step),
  every candidate set judged against the baseline.
- Fairness: :func:`nsf.fairness.group_metrics` (fairlearn MetricFrame) per seed, averaged;
  crossed bootstrap intervals (rows within group x outcome cells, seeds); each variant's
  disparity changes on the same row resamples as the baseline (paired).
- Proxies: :func:`nsf.fairness.proxy_strength` of each contested group alone for each
  sensitive attribute (and the latent income's quartile on simulated data), on one row per user
  (the last observation date, all users).
- Reliance (:mod:`nsf.explain`: TreeSHAP and grouped permutation importance of the baseline,
  mean over seeds) is reported beside necessity (the retrained drop), and on simulated data the
  configured dependence strength (the truth) beside both.

Result (``study.json``; every float is a plain number, undefined values are ``null``)
------------------------------------------------------------------------------------
::

    schema            "nsf.study/1"
    name              experiment name
    dataset           {kind, source, digest, split, test_rows, test_nsf_rate, train_rows,
                       validation_rows, test_digest}
    config            the resolved ExperimentConfig (JSON)
    seeds             [int]  the K training seeds
    settings          {primary_metric, margins {metric: margin}, metrics, confidence,
                       n_bootstrap, interval_target, fairness_n_bootstrap, threshold, model}
    contested_groups  [group]  the contested groups the study covers
    baseline          {name: "baseline", family, description, selection, population, label,
                       features [name], coarse_features, n_features, seeds, run_ids [per seed],
                       metrics {test_auc: {mean, sd, per_seed [..]}, ...}}
    variants          [ {name, family (drop_one | drop_all | keep_one | coarsen | population |
                         retention | sensitive | custom), description, groups [the groups it
                         is about], selection {drop_groups, coarsen_groups, retention_days,
                         sensitive, keep_groups, latents}, population, label, reference,
                         subject ("removed" | "added"), features, coarse_features, n_features,
                         seeds, same_fits_as (null, or the earlier arm whose fits are identical,
                         e.g. retention_180d = baseline when the feed has no longer window),
                         run_ids [per seed],
                         metrics {test_auc: {mean, sd, per_seed}, ...}  (the nsf train keys),
                         comparisons {reference name: {subject, verdict, metrics {auc: {
                             estimate, lower, upper, standard_error, reference_estimate,
                             variant_estimate, reference_per_seed, variant_per_seed, margin,
                             higher_is_better, verdict}, pr_auc: ..., ...}}}
                             (always against "baseline"; also against the variant's own
                             reference, e.g. core+<g> against drop_all_contested),
                         verdict  (primary metric, against the variant's reference),
                         verdict_metric,
                         disparity_changes {attribute: {disparity: {baseline, variant,
                             estimate (variant - baseline), lower, upper}}},
                         truth_strengths {dependence field: strength} (single-group variants
                             on simulated data)} ]
    minimal_set       null, or {strategy, metric, margin, order [groups tried], removed [..],
                       kept [contested groups kept], uncontested [always kept], complete,
                       steps [{step, round, candidate, removal_set, estimate, lower, upper,
                       verdict, accepted}], features [final model's], metrics {as baseline},
                       comparison {metric: {as in comparisons}} (null when nothing removed),
                       disparity_changes {as in variants}, run_ids}
    fairness          {threshold, skipped [attributes not in the data], attributes {name (an
                       attribute, or "a+b" for an intersection): {columns, threshold,
                       n_groups, groups [{group ("40-49 | female" for intersections), n,
                       n_bad, bad_rate, auc, auc_lower, auc_upper, ece, ece_*, mean_score,
                       mean_score_*, selection_rate, selection_rate_*, false_positive_rate,
                       false_positive_rate_*, false_negative_rate, false_negative_rate_*}],
                       disparities {demographic_parity_difference, demographic_parity_ratio,
                       equalized_odds_difference, auc_difference, ece_difference,
                       false_positive_rate_difference, false_negative_rate_difference,
                       mean_score_difference: {estimate, lower, upper, per_seed}},
                       overall {n, n_bad, bad_rate, auc, ...}}}}
    proxies           [{group, target, metric ("auc" binary | "balanced_accuracy"), score,
                        chance, lift (score - chance), auc, auc_chance, balanced_accuracy,
                        balanced_accuracy_chance, n_classes, n_samples, cv, estimator, note}]
    reliance          [{group, contested, n_features, shap_mean_abs, shap_mean_abs_sd,
                        shap_share, shap_share_sd, permutation_auc_drop,
                        permutation_auc_drop_sd, necessity {variant, metric, estimate, lower,
                        upper, verdict} | null, truth_strength (largest configured strength
                        behind the group) | null, truth_strengths {field: strength} | null}]
    truth             null, or {dependence {field: strength}, group_fields {group: [field]},
                       group_strengths {group: {field: strength}}}  (simulated data)
    fits              {trained, reused, unique}
    run_ids           {parent, children {variant: {seed: run id}}}
    timing            {fits, proxies, fairness, statistics, minimal_set, total} seconds

CSV artifacts (:func:`study_tables`): ``variants.csv`` (variant, family, reference, subject,
metric, estimate, lower, upper, reference_estimate, variant_estimate, margin, verdict,
n_seeds, same_fits_as), ``fairness_groups.csv``, ``fairness_disparities.csv``,
``disparity_changes.csv``, ``proxies.csv``, ``reliance.csv``, ``minimal_set.csv``.
"""

from nsf.study._fairness import GroupRates, disparity_change, fairness_table
from nsf.study._fit import FitOutcome, FitTask, run_fit
from nsf.study._minimal import minimal_sufficient_set
from nsf.study._result import (
    SCHEMA,
    FamilySection,
    FamilySections,
    SkippedFamily,
    StudyResult,
    VariantResult,
)
from nsf.study._run import TRUTH_FIELDS, FitStore, feature_inventory, run_study
from nsf.study._stats import HIGHER_IS_BETTER, compare_arms, verdict_for
from nsf.study._tables import study_tables
from nsf.study._variants import (
    BASELINE,
    ResolvedStudy,
    Variant,
    fit_key,
    replicate_seeds,
    resolve_study,
    resolve_variants,
    stream,
)

__all__ = [
    "BASELINE",
    "HIGHER_IS_BETTER",
    "SCHEMA",
    "TRUTH_FIELDS",
    "FamilySection",
    "FamilySections",
    "FitOutcome",
    "FitStore",
    "FitTask",
    "GroupRates",
    "ResolvedStudy",
    "SkippedFamily",
    "StudyResult",
    "Variant",
    "VariantResult",
    "compare_arms",
    "disparity_change",
    "fairness_table",
    "feature_inventory",
    "fit_key",
    "minimal_sufficient_set",
    "replicate_seeds",
    "resolve_study",
    "resolve_variants",
    "run_fit",
    "run_study",
    "stream",
    "study_tables",
    "verdict_for",
]
