"""The study's result: a typed, versioned, frozen pydantic model (``study.json``).

:func:`nsf.study.run_study` returns a :class:`StudyResult`; ``nsf study`` logs it as
``study.json`` (``result.model_dump_json()``), and the report reads it back with
:meth:`StudyResult.load` (validation; an older schema is a one-line error asking for a
re-run). Every number is a plain float, undefined values are ``None`` (never NaN).

What the result holds, so a report regenerated later says what the study did then without
consulting the current code: the arms (baseline, variants, minimal set) with their family,
the groups they are about and their feature selection; each variant's comparisons (per metric:
estimate, per-comparison interval, the interval that holds over its family, margin, verdict
and what decided it); fairness tables and disparity changes; proxy strengths;
reliance; the minimal sufficient set; the families that ran and those skipped (with the
reason); the feature inventory (every feature with its group and category, the groups with
whether they are contested); the dataset description; every threshold that decides an answer
(:class:`Settings`); timing and MLflow run ids.

Extension point for new families
--------------------------------
A variant family whose results need more than comparisons (decisions in money, a learning
curve, ...) declares its typed section in its own module (:mod:`nsf.study.families`, the
family contract): a subclass of :class:`FamilySection` (imported from ``nsf.study._section``;
frozen, extra fields forbidden, every float ``None`` when undefined) named by the family's
``section``. :class:`FamilySections` holds one optional field per registered family with a
section (built from :data:`nsf.study.families.FAMILIES`), beside the sections that belong to no
family (the ledger, the explanations, the sharing designs); the report shows a section with
the family's ``view``.

Its variants are ordinary :class:`VariantResult` entries whose ``family`` is the family's name.
Bump :data:`SCHEMA` only for a change
that breaks reading an older ``study.json`` (a new optional section does not).
"""

from __future__ import annotations

from typing import Any, ClassVar, Final, Literal

from pydantic import ConfigDict, Field, ValidationError, create_model, model_validator

from nsf.data import DatasetDescription
from nsf.errors import NsfError
from nsf.study._designs_section import DesignsSection
from nsf.study._explain_section import ExplanationsSection
from nsf.study._power import ComparisonPower
from nsf.study._quantity import LedgerSection
from nsf.study._section import FamilySection, Num, ResultModel
from nsf.study._sequential import SequentialDecision, SequentialSummary
from nsf.study.families import FAMILIES
from nsf.vocabulary import Metric, Subject, Verdict

__all__ = [
    "SCHEMA",
    "Arm",
    "Assumption",
    "Comparison",
    "DatasetInfo",
    "DisparityChange",
    "FairnessDisparity",
    "FairnessGroup",
    "FairnessResult",
    "FairnessTable",
    "FamilySection",
    "FamilySections",
    "FeatureEntry",
    "FeatureInventory",
    "FitCounts",
    "GroupEntry",
    "MetricComparison",
    "MinimalSet",
    "MinimalSetStep",
    "Necessity",
    "ProxyResult",
    "RelianceResult",
    "RunIds",
    "SeedSummary",
    "Selection",
    "SequentialBudget",
    "Settings",
    "SkippedFamily",
    "StudyResult",
    "Timing",
    "Truth",
    "VariantResult",
]

#: Version of the result's JSON form; ``nsf.study/1`` was an untyped dict.
SCHEMA: Final = "nsf.study/2"




# --- arms and comparisons -------------------------------------------------------------------

class SeedSummary(ResultModel):
    """A metric over the training seeds."""

    mean: Num = Field(description="Mean over seeds.")
    sd: Num = Field(description="Standard deviation over seeds (0 for one seed).")
    per_seed: list[Num] = Field(description="One value per seed, in seed order.")


class Selection(ResultModel):
    """Which features an arm uses, as changes of the feature registry."""

    drop_groups: list[str] = Field(description="Attribute groups left out.")
    coarsen_groups: list[str] = Field(description="Groups in their coarse version.")
    retention_days: int | None = Field(description="Longest history window kept (None: all).")
    sensitive: list[str] = Field(description="Sensitive attributes added as features.")
    keep_groups: list[str] | None = Field(description="Only these groups (None: all but the "
                                                      "dropped ones).")
    latents: bool = Field(description="Whether simulator latents were features (tests only).")


class Arm(ResultModel):
    """One trained arm (the baseline, a variant or the minimal set's model)."""

    name: str = Field(description="Unique name (MLflow tag nsf.variant).")
    family: str = Field(description="Its family: a registered variant family "
                        "(nsf.study.families.FAMILIES), 'custom' (declared in study.variants), "
                        "'baseline' or 'minimal_set'.")
    description: str = Field(description="One line for the report.")
    groups: list[str] = Field(description="The attribute groups the arm is about (what a "
                              "drop/keep/coarsen variant changes), in registry order.")
    selection: Selection
    population: str = Field(description="Training rows ('apple' or 'all').")
    label: str = Field(description="Training label.")
    features: list[str] = Field(description="Feature names, in model order.")
    coarse_features: list[str] = Field(description="The features used in a coarse version.")
    n_features: int
    seeds: list[int] = Field(description="Training seeds.")
    run_ids: list[str | None] = Field(description="MLflow child run per seed (None: not "
                                                  "logged).")
    metrics: dict[str, SeedSummary] = Field(description="Run metrics (test_<metric>, ...) "
                                                        "over seeds.")
    train_subjects: int | None = Field(
        None, description="Trained on this many training subjects only (family volume; None: "
        "all of them).")


class MetricComparison(ResultModel):
    """``metric(variant) - metric(reference)`` with its interval and verdict."""

    estimate: Num = Field(description="Difference of the seed means.")
    lower: Num = Field(description="Lower interval bound.")
    upper: Num = Field(description="Upper interval bound.")
    standard_error: Num = Field(description="Bootstrap standard error of the difference.")
    reference_estimate: Num
    variant_estimate: Num
    reference_per_seed: list[Num]
    variant_per_seed: list[Num]
    margin: Num = Field(description="Non-inferiority margin (None: no verdict for this "
                                    "metric).")
    higher_is_better: bool
    verdict: Verdict | None = Field(description="None when the metric has no margin; decided "
                                    "as ``decided_by`` says.")
    simultaneous_lower: Num = Field(
        None, description="Lower bound of the interval that holds jointly over the family "
        "(settings.multiplicity; Bonferroni's for 'holm').")
    simultaneous_upper: Num = Field(None, description="Upper bound of that interval.")
    simultaneous_level: Num = Field(
        None, description="Per-comparison level of the simultaneous interval (>= the "
        "confidence; equal to it for a family of one).")
    family_size: int | None = Field(
        None, description="Comparisons in the family (every variant of one family against "
        "one reference).")
    per_comparison_verdict: Verdict | None = Field(
        None, description="The verdict of the per-comparison interval [lower, upper].")
    decided_by: Literal["simultaneous", "holm", "per_comparison"] | None = Field(
        None, description="What decided ``verdict``: the simultaneous interval, Holm's "
        "procedure on the bootstrap p-values, or the per-comparison interval (None: a result "
        "from before simultaneous verdicts, decided per comparison; also the minimal set's "
        "search, whose steps are judged one at a time).")
    power: ComparisonPower | None = Field(
        None, description="What the comparison can tell at its margin (minimum detectable "
        "loss) and, when inconclusive, the seeds or test subjects that would decide it.")
    sequential: SequentialDecision | None = Field(
        None, description="study.until 'decided': the look that decided the verdict (primary "
        "metric only).")


class DisparityChange(ResultModel):
    """A disparity's change, variant minus baseline, paired on the same resamples."""

    baseline: Num
    variant: Num
    estimate: Num
    lower: Num
    upper: Num


class Comparison(ResultModel):
    """A variant against one reference arm."""

    reference: str = Field(description="The reference arm's name.")
    subject: Subject = Field(description="What the verdict is about: the data the variant "
                             "lacks ('removed') or has beyond the reference ('added').")
    verdict: Verdict | None = Field(description="The primary metric's verdict.")
    metrics: dict[Metric, MetricComparison]


class VariantResult(Arm):
    """A variant: an arm with its comparisons (always against the baseline; also against its
    own reference when that is another variant)."""

    reference: str = Field(description="The arm its headline verdict compares with.")
    subject: Subject
    same_fits_as: str | None = Field(description="An earlier arm whose fits are identical "
                                     "(e.g. a retention window the feed does not exceed).")
    comparisons: dict[str, Comparison] = Field(description="Reference name -> comparison.")
    verdict: Verdict | None = Field(description="Primary metric, against ``reference``.")
    verdict_metric: Metric
    disparity_changes: dict[str, dict[str, DisparityChange]] = Field(
        description="Attribute -> disparity -> change against the baseline.")
    truth_strengths: dict[str, Num] | None = Field(
        None, description="Configured dependence strengths behind a single-group variant "
        "(simulated data).")

    def comparison(self, reference: str | None = None) -> Comparison | None:
        """The comparison with ``reference`` (default: the variant's own reference)."""
        return self.comparisons.get(reference or self.reference)


# --- fairness, proxies, reliance -------------------------------------------------------------

class FairnessGroup(ResultModel):
    """One group of a sensitive attribute (or intersection): metrics averaged over seeds with
    crossed-bootstrap intervals."""

    group: str
    n: int
    n_bad: int
    bad_rate: Num
    auc: Num = None
    auc_lower: Num = None
    auc_upper: Num = None
    ece: Num = None
    ece_lower: Num = None
    ece_upper: Num = None
    mean_score: Num = None
    mean_score_lower: Num = None
    mean_score_upper: Num = None
    selection_rate: Num = None
    selection_rate_lower: Num = None
    selection_rate_upper: Num = None
    false_positive_rate: Num = None
    false_positive_rate_lower: Num = None
    false_positive_rate_upper: Num = None
    false_negative_rate: Num = None
    false_negative_rate_lower: Num = None
    false_negative_rate_upper: Num = None
    below_support: list[str] = Field(
        [], description="Metrics this group is too small to enter a disparity for.")


class FairnessDisparity(ResultModel):
    estimate: Num
    bias_corrected: Num = None
    lower: Num
    upper: Num
    per_seed: list[Num] = Field([])


class ThresholdPoint(ResultModel):
    """The baseline's disparities at one score threshold (mean over seeds, no interval)."""

    threshold: int
    flagged: Num = Field(description="Share of the rows flagged (score at or above).")
    demographic_parity_difference: Num
    equalized_odds_difference: Num
    false_positive_rate_difference: Num
    false_negative_rate_difference: Num


class FairnessTable(ResultModel):
    """Group metrics and disparities of the baseline for one attribute or intersection."""

    columns: list[str]
    threshold: int
    n_groups: int
    min_support: int | None = None
    groups: list[FairnessGroup]
    disparities: dict[str, FairnessDisparity]
    overall: dict[str, Num]
    curve: list[ThresholdPoint] = Field(
        [], description="Disparities of the baseline (mean over seeds) at a range of "
        "thresholds, for the report's figure (empty in results from before it existed).")


class FairnessResult(ResultModel):
    threshold: int = Field(description="Operating score threshold (flagged at or above).")
    skipped: list[str] = Field(description="Attributes (or intersections) not in the data.")
    attributes: dict[str, FairnessTable] = Field(description="Attribute name ('a+b' for an "
                                                 "intersection) -> table.")


class ProxyResult(ResultModel):
    """How well one contested group alone predicts one sensitive attribute."""

    group: str
    target: str
    metric: Literal["auc", "balanced_accuracy"] | None = None
    score: Num = None
    chance: Num = None
    lift: Num = Field(None, description="score - chance.")
    lift_lower: Num = None
    lift_upper: Num = None
    score_lower: Num = None
    score_upper: Num = None
    auc: Num = None
    auc_chance: Num = None
    balanced_accuracy: Num = None
    balanced_accuracy_chance: Num = None
    n_classes: int | None = None
    n_samples: int | None = None
    cv: int | None = None
    estimator: str | None = None
    note: str = Field("", description="Why the check could not run ('' when it ran).")


class Necessity(ResultModel):
    """The drop-one comparison of a group, beside its reliance."""

    variant: str
    metric: Metric
    estimate: Num
    lower: Num
    upper: Num
    verdict: Verdict | None
    simultaneous_lower: Num = None
    simultaneous_upper: Num = None
    decided_by: Literal["simultaneous", "holm", "per_comparison"] | None = None


class RelianceResult(ResultModel):
    """Reliance of the baseline on one group (mean over seeds), kept apart from necessity."""

    group: str
    contested: bool | None
    n_features: int
    shap_mean_abs: Num = None
    shap_mean_abs_sd: Num = None
    shap_share: Num = None
    shap_share_sd: Num = None
    permutation_auc_drop: Num = None
    permutation_auc_drop_sd: Num = None
    necessity: Necessity | None
    truth_strength: Num = None
    truth_strengths: dict[str, Num] | None = None


# --- minimal set ---------------------------------------------------------------------------

class MinimalSetStep(ResultModel):
    step: int
    round: int
    candidate: str
    removal_set: list[str]
    estimate: Num
    lower: Num
    upper: Num
    verdict: Verdict | None
    accepted: bool


class MinimalSet(ResultModel):
    """The backward search for a minimal sufficient set of contested groups."""

    strategy: Literal["ranked", "greedy"]
    metric: Metric
    margin: Num
    order: list[str] = Field(description="Groups in the order tried.")
    removed: list[str]
    kept: list[str] = Field(description="Contested groups kept.")
    uncontested: list[str] = Field(description="Groups always kept.")
    complete: bool = Field(description="False when study.minimal_set.max_steps cut it short.")
    steps: list[MinimalSetStep]
    features: list[str] = Field(description="The final model's features.")
    metrics: dict[str, SeedSummary] = Field(description="The final model's run metrics.")
    comparison: dict[Metric, MetricComparison] | None = Field(
        description="Final model against the baseline (None when nothing was removed).")
    disparity_changes: dict[str, dict[str, DisparityChange]] | None
    run_ids: list[str | None]


# --- what the study knew -------------------------------------------------------------------

class DatasetInfo(ResultModel):
    kind: str = Field(description="'simulated' or 'table'.")
    source: str | None = Field(description="The dataset folder or table file.")
    digest: str = Field(description="Digest of the dataset (manifest or file).")
    split: str = Field(description="How the rows were split, in words.")
    train_rows: int
    validation_rows: int
    test_rows: int
    test_nsf_rate: Num
    test_digest: str = Field(description="Digest of the test rows and their labels.")
    plain_cv_auc: Num = Field(
        None, description="A cross-fitted table's plain cross-validated AUC of the same learner "
        "(no calibration fold, no re-drawn training rows), for comparison with published "
        "figures; None when the data were split once.")
    plain_cv_note: str | None = Field(None, description="How plain_cv_auc was computed.")
    identifier_columns: list[str] = Field(
        [], description="Columns declared to identify a person (dataset.table.identifier_columns:"
        " never features, never logged); empty for simulated data.")


class FeatureEntry(ResultModel):
    """One feature of the registry the study used (or a shared column excluded as a feature)."""

    name: str
    group: str
    category: str = Field(description="Shared category ('7 pay_money_balance'), 'table', ...")
    sources: list[str] = Field(description="Raw input columns.")
    kind: Literal["numeric", "categorical", "excluded"]
    coarsen: str = Field(description="Its coarse version ('none': already coarse).")
    window: int | None = Field(description="History window in days (None: not windowed).")
    note: str = Field(description="Derivation, or why it is excluded.")
    in_baseline: bool = Field(description="Whether the baseline model uses it.")


class GroupEntry(ResultModel):
    name: str
    contested: bool
    meaning: str


class CategoryEntry(ResultModel):
    """A shared data category (simulated data: the case's 24 categories)."""

    number: int
    name: str
    public: bool
    source: str
    meaning: str


class FeatureInventory(ResultModel):
    """The feature registry as the study saw it: what the report's inventory is built from."""

    features: list[FeatureEntry]
    groups: list[GroupEntry]
    categories: list[CategoryEntry] = Field(
        description="Shared categories, in order (empty for a user's table: the inventory is "
        "by attribute group).")
    history_windows: list[int] = Field(description="History windows of the feed (days).")


class SequentialBudget(ResultModel):
    """What ``study.until: decided`` could spend (study.budget)."""

    seeds: int = Field(description="Most training seeds per arm.")
    seed_step: int | None = Field(None, description="Seeds added at each look (None: "
                                  "study.seeds).")
    minutes: float | None = Field(None, description="No new look after this many minutes "
                                  "(None: no limit).")
    subjects: int = Field(0, description="Most test subjects added on demand on simulated data "
                          "(0 in results written before the setting existed).")


class Settings(ResultModel):
    """Every setting and threshold that decided a number, verdict or recommendation."""

    primary_metric: Metric
    metrics: list[Metric]
    margins: dict[Metric, float] = Field(description="Non-inferiority margin per metric.")
    confidence: float
    n_bootstrap: int
    interval_target: Literal["mean", "single"]
    training_resample: Literal["bootstrap", "subsample", "none"] = Field(
        "none", description="How each seed re-drew the training subjects ('none' in results "
        "written before the setting existed).")
    training_fraction: float | None = Field(
        None, description="Share of subjects each seed kept ('subsample' only).")
    multiplicity: Literal["max_statistic", "holm", "none"] = Field(
        "none", description="How each family's verdicts control the family-wise error at "
        "``confidence`` (study.multiplicity; 'none' for a result from before it existed).")
    fairness_n_bootstrap: int
    until: str = Field("fixed", description="study.until: 'fixed' (one look) or 'decided' "
                       "(looks until each verdict is decided or the budget is spent).")
    budget: SequentialBudget | None = Field(
        None, description="study.budget under study.until 'decided' (None: a fixed study).")
    cost_margin: float | None = Field(
        None, description="Non-inferiority margin of the decisions' cost verdicts, money per "
        "1,000 users a month (study.cost_margin; None in results written before it was "
        "logged here).")
    threshold: int = Field(description="Operating score threshold of the fairness tables.")
    threshold_source: str = Field(
        "set in study.threshold", description="How the threshold was chosen (the decision's "
        "threshold, the simulated policy's, or derived from the data's base rate).")
    n_bins: int = Field(description="Equal-width bins of each group's ECE.")
    min_group_support: int
    proxy_lift_threshold: float = Field(description="Proxy lift that flags a proxy.")
    protected_targets: list[str] = Field(description="Proxy targets that count as protected "
                                         "attributes for the inventory's proxy rule.")
    equalized_odds_cut: float = Field(description="Lower bound of the equalized-odds "
                                      "difference the fairness answer names.")
    reliance_top_k: int = Field(description="Top-k SHAP groups checked for 'relied on, not "
                                "shown needed'.")
    proxy_rows: int
    proxy_cv: int
    proxy_estimator: str
    shap_rows: int
    permutation_rows: int
    permutation_repeats: int
    minimal_set_strategy: Literal["ranked", "greedy"]
    crossfit_below: int = Field(description="Tables with fewer evaluation rows are "
                                "cross-fitted instead of split once.")
    crossfit_folds: int
    model: str = Field(description="Model kind.")
    experiment_seed: int | None = Field(
        None, description="The config's root seed (seed), from which every random stream is "
        "drawn (None in results written before it was logged here).")
    configured_families: list[str] | None = Field(
        None, description="study.families as configured (None: every registered family); a "
        "configured family absent from the result is reported missing.")

    @model_validator(mode="after")
    def _primary_has_margin(self) -> Settings:
        if self.primary_metric not in self.margins:
            raise ValueError(f"margins has no margin for the primary metric "
                             f"{self.primary_metric!r}")
        return self


class Assumption(ResultModel):
    """A config default documented as a fact of the case or as the project's assumption."""

    field: str = Field(description="Dotted config field (or module-level choice).")
    source: Literal["CASE", "ASSUMPTION"]
    sources: list[Literal["CASE", "ASSUMPTION"]]
    value: Any = Field(description="The value the study used.")
    default: Any = Field(description="The default of the code that ran the study.")
    changed: bool
    description: str


class SkippedFamily(ResultModel):
    family: str = Field(description="A registered variant family.")
    reason: str = Field(description="Why it cannot apply to this dataset.")


class Truth(ResultModel):
    """The simulator's configured dependence strengths (simulated data only)."""

    dependence: dict[str, Any]
    group_fields: dict[str, list[str]]
    group_strengths: dict[str, dict[str, Num]]


class FitCounts(ResultModel):
    trained: int
    reused: int
    unique: int
    shared: int = Field(0, description="Fit requests served by a fit this run had already made "
                        "under the same key (an arm of another family, a minimal-set step, "
                        "with the same features and seeds).")

    @property
    def requested(self) -> int:
        """Every fit the study asked for: trained, loaded from an earlier run, or shared."""
        return self.trained + self.reused + self.shared

    @property
    def hit_rate(self) -> float:
        """Share of the requests served without training (by key, this run or an earlier one).
        """
        return (self.reused + self.shared) / self.requested if self.requested else 0.0


class RunIds(ResultModel):
    parent: str | None = Field(description="The study's parent run.")
    children: dict[str, dict[str, str | None]] = Field(
        description="Arm name -> seed -> child run id.")


class Timing(ResultModel):
    """Seconds per stage; a family with its own procedure adds its own (``timing.<name>``).
    ``total`` is the whole run's, and the keys of :attr:`NOT_STAGES` are no stage's either."""

    model_config = ConfigDict(extra="allow", frozen=True)
    #: Keys that are not a stage's own wall seconds (the stages' sum is at most ``total``).
    NOT_STAGES: ClassVar[tuple[str, ...]] = ("total", "fits_estimator_cpu", "fits_floor")

    fits: float = Field(0.0, description="Every fit of the study, wherever a stage asked for "
                        "it (the first batch, the looks' further seeds, the minimal-set search): "
                        "trained, read from the store or trained again. The other stages' "
                        "seconds leave out the fits they waited for.")
    subjects: float = Field(0.0, description="Further test subjects of the looks "
                            "(study.until: decided): simulated, prepared and scored.")
    proxies: float = 0.0
    fairness: float = 0.0
    statistics: float = Field(0.0, description="Bootstrap replicates, comparisons, verdicts "
                              "and the looks' statistics (their fits and test subjects apart).")
    minimal_set: float = Field(0.0, description="The minimal-set search, its fits apart.")
    plain_cv: float = Field(0.0, description="The plain cross-validated AUC of a cross-fitted "
                            "table (one extra fit per fold).")
    total: float = 0.0
    fits_estimator_cpu: float = Field(
        0.0, description="CPU seconds (not wall) of the estimators' own training, summed over "
        "every fit the study trained (LightGBM's binning and boosting, for instance): what no "
        "reuse of the study's work or schedule of its tasks removes.")
    fits_floor: float = Field(
        0.0, description="fits_estimator_cpu / the study's workers: the least wall time those "
        "fits can take on them, everything else free.")




#: The result's sections that belong to no family: name -> (model, description).
OTHER_SECTIONS: dict[str, tuple[type[FamilySection], str]] = {
    "ledger": (LedgerSection, "The data ledger: needed against sent, at the case's scale."),
    "explanations": (ExplanationsSection, "SHAP views of the baseline, stability of its "
                     "reliance ranking across seeds, and the per-person withheld-group view "
                     "(nsf.study._explain)."),
    "designs": (DesignsSection, "Every sharing design's adversaries (re-identification, "
                "attribute inference, identifier reversal, exposure) beside its AUC and cost: "
                "the privacy-utility frontier (nsf.privacy)."),
}


def section_model(name: str) -> type[FamilySection] | None:
    """The typed model of the section ``name``: a registered family's, or another section's."""
    family = FAMILIES.get(name)
    if family is not None and family.section is not None:
        return family.section
    other = OTHER_SECTIONS.get(name)
    return other[0] if other is not None else None


class _Sections(ResultModel):
    """One optional field per family that reports more than comparisons (and per section that
    belongs to no family). A family registered after this model was built (a test's toy
    family) is validated with its own section model all the same."""

    model_config = ConfigDict(extra="allow", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _registered(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        out = dict(data)
        for name, value in data.items():
            if name in cls.model_fields or value is None:
                continue
            model = section_model(name)
            if model is None:
                raise ValueError(f"unknown section {name!r}: neither a registered family's "
                                 "section nor " + ", ".join(sorted(OTHER_SECTIONS)))
            out[name] = value if isinstance(value, model) else model.model_validate(value)
        return out

    def present(self) -> dict[str, FamilySection]:
        """Name -> section, for every section the result holds (fields, then late families)."""
        out = {name: getattr(self, name) for name in type(self).model_fields}
        out.update(self.model_extra or {})
        return {name: section for name, section in out.items() if section is not None}


def _section_fields() -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for family in FAMILIES.values():
        if family.section is not None:
            fields[family.name] = (family.section | None, Field(
                None, description=f"Section of the family {family.name} ({family.question})"))
    for name, (model, description) in OTHER_SECTIONS.items():
        fields[name] = (model | None, Field(None, description=description))
    return fields


FamilySections = create_model("FamilySections", __base__=_Sections, __module__=__name__,
                              __doc__="One optional field per family that reports more than "
                              "comparisons (its contract's section), and per section that "
                              "belongs to no family.", **_section_fields())


# --- the result ----------------------------------------------------------------------------

class StudyResult(ResultModel):
    """The study's result (``study.json``, schema :data:`SCHEMA`)."""

    schema_: Literal["nsf.study/2"] = Field(SCHEMA, alias="schema",
                                            description="Version of this form.")
    name: str = Field(description="Experiment name.")
    dataset: DatasetInfo
    description: DatasetDescription | None = Field(
        None, description="The dataset description the study read (as logged).")
    config: dict[str, Any] = Field(description="The resolved experiment config (JSON).")
    seeds: list[int] = Field(description="The K training seeds.")
    settings: Settings
    families: list[str] = Field(description="Families whose variants ran, in order.")
    skipped_families: list[SkippedFamily] = Field(
        [], description="Configured families that cannot apply to this dataset, with why.")
    contested_groups: list[str] = Field(description="Every contested group (whatever "
                                        "study.groups covers).")
    covered_groups: list[str] = Field(description="Contested groups the default variants "
                                      "cover (study.groups).")
    inventory: FeatureInventory
    baseline: Arm
    variants: list[VariantResult]
    minimal_set: MinimalSet | None
    fairness: FairnessResult
    proxies: list[ProxyResult]
    reliance: list[RelianceResult]
    truth: Truth | None
    assumptions: list[Assumption] = Field(
        description="The config's documented facts and assumptions, with the values used.")
    sections: FamilySections = Field(default_factory=FamilySections)
    fits: FitCounts
    run_ids: RunIds
    resumed_parent: bool = Field(False, description="Whether the parent run was resumed.")
    timing: Timing
    sequential: SequentialSummary | None = Field(
        None, description="study.until 'decided': the looks, their level and what the budget "
        "left undecided (None: a fixed study).")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _logged_before(cls, data: Any) -> Any:
        """A result written before its settings carried the experiment seed and the configured
        families, and its dataset the declared identifier columns: those come from its logged
        config, so a report regenerated from it says what the study ran with."""
        if not (isinstance(data, dict) and isinstance(data.get("config"), dict)
                and isinstance(data.get("settings"), dict)
                and isinstance(data.get("dataset"), dict)):
            return data
        config = data["config"]
        study = config.get("study") if isinstance(config.get("study"), dict) else {}
        table = (config.get("dataset") or {}).get("table") or {}
        settings = {"experiment_seed": config.get("seed"),
                    "configured_families": study.get("families")} | data["settings"]
        dataset = {"identifier_columns": list(table.get("identifier_columns") or [])} \
            | data["dataset"]
        return data | {"settings": settings, "dataset": dataset}

    # -- views -------------------------------------------------------------------------------
    def variants_of(self, *families: str) -> list[VariantResult]:
        """The variants of these families, in result order."""
        return [v for v in self.variants if v.family in families]

    def variant_for(self, family: str, group: str) -> VariantResult | None:
        """The variant of ``family`` about exactly the one group ``group`` (e.g. the drop-one
        variant of a group), or None."""
        return next((v for v in self.variants if v.family == family and v.groups == [group]),
                    None)

    # -- JSON ------------------------------------------------------------------------------
    def to_json(self) -> str:
        """``study.json``: the result as JSON (``null`` for undefined values)."""
        return self.model_dump_json(by_alias=True, indent=1)

    @classmethod
    def load(cls, text: str | bytes, *, where: str = "study.json") -> StudyResult:
        """Validate ``study.json`` text.

        Raises
        ------
        NsfError
            One line: a result of an older schema (re-run the study), or invalid content.
        """
        import json

        try:
            head = json.loads(text)
        except ValueError as exc:
            raise NsfError(f"{where}: not JSON ({exc})") from None
        schema = head.get("schema") if isinstance(head, dict) else None
        if schema != SCHEMA:
            raise NsfError(f"{where} has schema {schema!r}, this version reads {SCHEMA!r}: "
                           "re-run the study (nsf study CONFIG) to report on it")
        try:
            return cls.model_validate_json(text)
        except ValidationError as exc:
            err = exc.errors()[0]
            at = "/".join(str(p) for p in err["loc"]) or "(top level)"
            raise NsfError(f"{where} does not match {SCHEMA} at {at}: {err['msg']}") from None
