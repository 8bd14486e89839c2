"""The data-minimisation and fairness study: variants x seeds, intervals, verdicts.

``nsf study CONFIG`` answers questions 1-5 of docs/case.md with measurements and uncertainty. The
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
  (``study.seeds``; the first is the experiment seed) on the same split, and predict the same
  test rows (Apple-registered users, ``nsf_appstore``). Each seed re-draws the training and
  calibration subjects (``study.training_resample``: a bootstrap of subjects by default), the
  same draw for every variant, so the intervals cover the training sample too; with ``none``
  replicate 0 of the baseline is the ``nsf train`` model.
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
- Simultaneous verdicts (``study.multiplicity``): within a family (its variants against one
  reference, per metric; the decisions family's cost differences too) the verdicts control the
  family-wise error at ``study.confidence``. The default ``max_statistic`` widens every
  interval of the family to one level at which all cover their paired bootstrap replicates
  jointly (:func:`nsf.metrics.simultaneous_intervals`; the replicates share the row
  resamples, so no new fits); ``holm`` applies Holm's procedure to bootstrap p-values. Each
  comparison keeps its per-comparison interval and verdict beside the simultaneous ones.
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
report with validation. Variants carry their family (registered in
:data:`nsf.study.families.FAMILIES`) and the groups they are about; comparisons hold, per
metric, the estimate, interval, margin and verdict (:mod:`nsf.vocabulary`); ``settings`` holds
every threshold that decided an answer; ``skipped_families`` the families that cannot apply to
the data, with the reason; ``inventory`` the feature registry as the study saw it;
``description`` the dataset description. A family with more to say than comparisons declares
its own typed section in its module (the family contract, :class:`nsf.study.families.Family`:
section, procedure or curve, report view, MLflow metrics, ledger factor, config); the result's
:class:`FamilySections` has one field per such registered family.

CSV artifacts (:func:`study_tables`): ``variants.csv`` (variant, family, reference, subject,
metric, estimate, lower, upper, reference_estimate, variant_estimate, margin, verdict,
n_seeds, same_fits_as), ``fairness_groups.csv``, ``fairness_disparities.csv``,
``disparity_changes.csv``, ``proxies.csv``, ``reliance.csv``, ``minimal_set.csv``,
``skipped_families.csv``.
"""

from nsf.streams import replicate_seeds, stream
from nsf.study._explain_section import ExplanationsSection
from nsf.study._fairness import disparity_change, fairness_table
from nsf.study._fit import FitOutcome, FitTask, run_fit
from nsf.study._minimal import minimal_sufficient_set
from nsf.study._pool import warm_workers
from nsf.study._result import (
    SCHEMA,
    Assumption,
    FairnessGroup,
    FamilySection,
    FamilySections,
    FitCounts,
    MinimalSetStep,
    ProxyResult,
    SeedSummary,
    SequentialBudget,
    Settings,
    SkippedFamily,
    StudyResult,
    ThresholdPoint,
    Timing,
    VariantResult,
)
from nsf.study._run import TRUTH_FIELDS, FitStore, feature_inventory, run_study
from nsf.study._stats import HIGHER_IS_BETTER, verdict_for
from nsf.study._tables import study_tables
from nsf.study._variants import (
    BASELINE,
    ResolvedStudy,
    Variant,
    fit_key,
    resolve_study,
    resolve_variants,
)

__all__ = [
    "BASELINE",
    "HIGHER_IS_BETTER",
    "SCHEMA",
    "TRUTH_FIELDS",
    "Assumption",
    "ExplanationsSection",
    "FairnessGroup",
    "FamilySection",
    "FamilySections",
    "FitCounts",
    "FitOutcome",
    "FitStore",
    "FitTask",
    "MinimalSetStep",
    "ProxyResult",
    "ResolvedStudy",
    "SeedSummary",
    "SequentialBudget",
    "Settings",
    "SkippedFamily",
    "StudyResult",
    "ThresholdPoint",
    "Timing",
    "Variant",
    "VariantResult",
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
    "warm_workers",
]
