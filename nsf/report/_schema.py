"""The form of ``report.json`` as pydantic models: ``nsf/schemas/report.schema.json`` is generated
from :class:`ReportModel` (``model_json_schema()``), never written by hand.

:func:`nsf.report.build_report_model` returns a plain dict (what the renderers read);
:func:`nsf.report.validate_report` checks it against :class:`ReportModel`. Parts that repeat
the study's result reuse its models (:mod:`nsf.study`), so the two stay one definition.
``study.schema.json`` is generated the same way from :class:`nsf.study.StudyResult`.
Regenerate both after a change with :func:`write_schemas`
(``python -c "from nsf.report._schema import write_schemas; write_schemas()"``); a test checks
the committed files equal the generated ones.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from nsf.study import (
    Assumption,
    FairnessGroup,
    FitCounts,
    MinimalSetStep,
    ProxyResult,
    SeedSummary,
    SkippedFamily,
    StudyResult,
    ThresholdPoint,
    Timing,
)
from nsf.vocabulary import Subject, Verdict

__all__ = ["ReportModel", "Words", "as_model", "report_json_schema", "study_json_schema",
           "write_schemas"]

Num = float | None

#: Where the generated schemas are committed (package data).
SCHEMA_DIR = Path(__file__).resolve().parents[1] / "schemas"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Open(BaseModel):
    """A part whose listed keys are checked and whose other keys are kept as they are."""

    model_config = ConfigDict(extra="allow", frozen=True)


class Source(_Strict):
    tracking_uri: str | None
    experiment: str | None
    experiment_id: str | None
    parent_run_id: str | None
    status: str | None
    audit_run_id: str | None
    study_schema: str | None


class Words(_Strict):
    """How the report names a positive row, the decision, the rows and the scored
    probability: the simulator's words for simulated data (the defaults), the dataset
    description's for a table."""

    positive: str = "NSF"
    decision: str = "each purchase charged at once"
    subjects: str = "users"
    probability: str = "P(NSF)"


class Settings(_Strict):
    primary_metric: str
    margin: Num
    margins: dict[str, Num]
    confidence: Num
    n_bootstrap: int | None
    fairness_n_bootstrap: int | None
    interval_target: str | None
    multiplicity: str | None = Field(None, description="How each family's verdicts control "
                                     "the family-wise error (study.multiplicity).")
    threshold: int | None
    metrics: list[str]
    model: str | None
    n_seeds: int = Field(ge=0)
    outcome: str | None = Field(description="What the model scores, in the dataset's words.")
    population: str | None = Field(description="The rows it is evaluated on, in the dataset's "
                                   "words.")
    thresholds: dict[str, Any] = Field(description="Every setting and threshold the study "
                                       "logged (its settings).")
    simulated: bool = Field(True, description="Whether the data are simulated (the case's "
                            "sections and words) or a user's table (the table's words).")
    words: Words = Field(default_factory=Words, description="How the report names a positive "
                         "row, the decision, the rows and the scored probability.")
    threshold_source: str | None = Field(None, description="How the fairness threshold was "
                                         "chosen.")
    families: list[str] = Field([], description="The families that ran.")


class Baseline(_Strict):
    metrics: dict[str, SeedSummary]
    n_features: int | None
    run_ids: list[str | None]

    def test(self, metric: str) -> SeedSummary | None:
        """The baseline's test ``metric`` over seeds (None when not logged)."""
        return self.metrics.get(f"test_{metric}")


class Answer(_Strict):
    key: str
    number: int | None
    question: str
    answer: str = Field(min_length=1)


DecidedBy = Literal["simultaneous", "holm", "per_comparison"]


class ShortComparison(_Strict):
    variant: str | None
    estimate: Num
    lower: Num
    upper: Num
    verdict: Verdict | None
    margin: Num = None
    simultaneous_lower: Num = None
    simultaneous_upper: Num = None
    decided_by: DecidedBy | None = None


class Interval(_Open):
    estimate: Num
    lower: Num
    upper: Num


class Comparison(_Strict):
    """One variant against its reference, for one metric."""

    variant: str
    family: str | None
    reference: str
    subject: Subject | None
    groups: list[str]
    description: str | None
    metric: str
    estimate: Num
    lower: Num
    upper: Num
    standard_error: Num
    reference_estimate: Num
    variant_estimate: Num
    margin: Num
    verdict: Verdict | None
    simultaneous_lower: Num = Field(None, description="The interval that holds jointly over "
                                    "the variant's family (settings.multiplicity).")
    simultaneous_upper: Num = None
    simultaneous_level: Num = Field(None, description="Its per-comparison level.")
    family_size: int | None = None
    per_comparison_verdict: Verdict | None = Field(
        None, description="The verdict of the per-comparison interval.")
    decided_by: DecidedBy | None = Field(
        None, description="What decided 'verdict' (None: per comparison).")
    same_fits_as: str | None
    n_features: int | None
    retention_days: int | None
    population: str | None
    label: str | None
    run_ids: list[str | None]


class Reliance(_Strict):
    shap_share: Num
    shap_share_sd: Num
    permutation_auc_drop: Num
    permutation_auc_drop_sd: Num


class Proxy(_Strict):
    target: str
    lift: float
    metric: str | None
    score: Num
    chance: Num
    lift_lower: Num
    lift_upper: Num


class InventoryRow(_Strict):
    category: int | None = Field(ge=1, le=24)
    name: str
    public: bool | None
    source: str
    meaning: str | None
    group: str
    contested: bool
    columns: list[str]
    used: bool
    features: list[str]
    necessity: ShortComparison | None
    coarse: ShortComparison | None
    reliance: Reliance | None
    proxy: Proxy | None
    recommendation: Literal["drop", "coarsen", "keep"]
    rule: int = Field(ge=0, le=6)
    reason: str
    flags: list[str]
    excluded: list[str]


class Counts(_Strict):
    drop: int
    coarsen: int
    keep: int


class Inventory(_Strict):
    unit: Literal["category", "group"]
    rule: str
    rule_steps: list[str]
    proxy_lift_threshold: float | None
    protected_targets: list[str]
    rows: list[InventoryRow]
    counts: Counts


class CategoryRecommendation(_Strict):
    """One shared category's recommendation, derived once (``nsf.report._rules``)."""

    category: int | None
    name: str
    key: str
    groups: list[str]
    contested: bool
    action: Literal["drop", "coarsen", "keep"]
    form: Literal["raw", "coarse"] | None
    needed_groups: list[str]
    provisional: bool
    basis: Literal["rule", "minimal set"]
    reason: str


class FairnessAtDecision(_Strict):
    """The largest error-rate gap, at the policy's decision threshold and at the configured
    score threshold (one definition, read by every section that names it)."""

    threshold: int | float | None
    attribute: str | None
    estimate: Num = None
    metric: str
    source: str
    thresholds: list[int | float] = Field([], description="The policy's thresholds (one per "
                                    "training seed; decision threshold only).")
    high_group: str | None = None
    high_rate: Num = None
    low_group: str | None = None
    low_rate: Num = None
    lower: Num = None
    upper: Num = None


class Attributes(_Strict):
    drop_one: list[Comparison]
    drop_all: list[Comparison]
    uncontested: list[Comparison] = Field(
        [], description="Uncontested groups removed one at a time, for reference (family "
        "drop_uncontested; their verdicts change no recommendation).")
    keep_one: list[Comparison]
    custom: list[Comparison]
    sensitive: list[Comparison]


class Rows(_Strict):
    rows: list[Comparison]


class Retention(_Strict):
    rows: list[Comparison]
    full_history_days: int | None


class Disparity(_Strict):
    estimate: Num
    bias_corrected: Num
    lower: Num
    upper: Num


class Disparities(_Strict):
    """The baseline's disparities of one attribute, by name (those of
    :data:`nsf.fairness.DISPARITIES`, in its order); None: not in the result."""

    demographic_parity_difference: Disparity | None = None
    demographic_parity_ratio: Disparity | None = None
    equalized_odds_difference: Disparity | None = Field(
        None, description="The disparity the report's answers name.")
    auc_difference: Disparity | None = None
    ece_difference: Disparity | None = None
    false_positive_rate_difference: Disparity | None = None
    false_negative_rate_difference: Disparity | None = None
    mean_score_difference: Disparity | None = None


class FairnessAttribute(_Strict):
    columns: list[str]
    n_groups: int
    min_support: int | None = Field(ge=1)
    groups: list[FairnessGroup]
    disparities: Disparities


class DisparityChangeRow(_Strict):
    variant: str
    family: str
    attribute: str
    disparity: str
    baseline: Num
    variant_value: Num
    estimate: Num
    lower: Num
    upper: Num


class Fairness(_Strict):
    threshold: int | None
    skipped: list[str]
    attributes: dict[str, FairnessAttribute]
    changes: list[DisparityChangeRow]
    proxies: list[ProxyResult]
    threshold_source: str | None = Field(None, description="How the threshold was chosen.")
    curves: dict[str, list[ThresholdPoint]] = Field(
        {}, description="Attribute -> the baseline's disparities at a range of thresholds.")


class MissingShare(_Strict):
    column: str
    share: float = Field(ge=0, le=1)
    sensitive: bool


class DataSection(_Strict):
    """A table's data as read (None for simulated data)."""

    missing_share: list[MissingShare]
    reading_notes: list[str] = Field(description="What reading the table found and did.")
    treatment: list[str] = Field(description="How each model family treats missing values.")
    model: str | None
    sensitive_missing: str


class Power(_Strict):
    """What the drop-one comparisons can resolve, beside the margin."""

    comparisons: int
    median_standard_error: float
    power: float
    factor: float = Field(description="z_{1-alpha/2} + z_power.")
    detectable_difference: float
    margin: Num
    suggested_margin: float
    margin_below_resolution: bool


class RelianceRow(_Strict):
    group: str
    contested: bool | None
    n_features: int
    shap_mean_abs: Num
    shap_share: Num
    shap_share_sd: Num
    permutation_auc_drop: Num
    permutation_auc_drop_sd: Num
    necessity: ShortComparison | None
    truth_strength: Num


class RelianceSection(_Strict):
    rows: list[RelianceRow]
    relied_not_needed: list[str]


class Cost(_Strict):
    estimate: Num
    lower: Num
    upper: Num
    reference_estimate: Num
    variant_estimate: Num
    margin: Num
    verdict: Verdict | None


class MinimalSetSection(_Strict):
    strategy: Literal["ranked", "greedy"]
    metric: str
    margin: Num
    kept: list[str]
    removed: list[str]
    uncontested: list[str]
    complete: bool
    n_features: int
    n_features_baseline: int
    steps: list[MinimalSetStep]
    cost: Cost | None
    baseline_value: Num
    final_value: Num
    run_ids: list[str | None]


class CalibrationRow(_Strict):
    name: str
    meaning: str | None
    target: Num
    simulated: Num
    relative_error: Num


class Oracle(_Open):
    """The simulator's oracle check (summary.json); other keys are kept as they are."""

    rows: Num = None
    mean_p_nsf_appstore: Num = None
    realised_nsf_appstore_rate: Num = None


class Calibration(_Strict):
    available: bool
    note: str | None
    rows: list[CalibrationRow]
    oracle: Oracle | None


class Method(_Strict):
    assumptions: list[Assumption]
    calibration: Calibration
    statistics: list[str]
    limitations: list[str]


class CoarseningRule(_Open):
    column: str
    op: str
    value: float | None = None


class QuasiIdentifiers(_Open):
    """The audit's quasi-identifiers and the coarsening it tried (audit.json)."""

    columns: list[str] = []
    coarsening: list[CoarseningRule] = []


class AuditMeasures(_Open):
    """The audit's measures the report names (a run's metrics; others kept as they are)."""

    phone_recovered_fraction: Num = None
    phone_recovered_in_space_fraction: Num = None
    phone_space_size: Num = None
    full_space_seconds_est: Num = None
    hashes_per_s: Num = None
    link_fraction: Num = None
    link_precision: Num = None
    hmac_phone_recovered_fraction: Num = None
    hmac_link_fraction: Num = None
    unique_fraction: Num = None
    unique_fraction_coarse: Num = None


class Deidentification(_Strict):
    available: bool
    run_id: str | None
    metrics: dict[str, Num]
    how_to_run: str
    reversal: dict[str, Any] | None = None
    linkage: dict[str, Any] | None = None
    quasi: QuasiIdentifiers | None = None
    counterfactual: dict[str, Any] | None = None
    dataset: str | None = None

    def measures(self) -> AuditMeasures:
        """The audit run's metrics, by name (None where the run did not log one)."""
        return AuditMeasures.model_validate(self.metrics)


class ReproRunIds(_Strict):
    parent: str | None
    children: dict[str, dict[str, str | None]]
    audit: str | None


class Reproducibility(_Strict):
    config_yaml: str | None
    seeds: list[int]
    experiment_seed: int | None
    dataset_digest: str | None
    test_digest: str | None
    dataset_source: str | None
    git_commit: str | None
    packages: dict[str, str]
    run_ids: ReproRunIds
    parent_metrics: dict[str, Num]
    fits: FitCounts | None
    timing: Timing | None
    commands: list[str] = Field(min_length=1)


class CardDetails(_Strict):
    model: str | None
    score: str
    target: str
    population: str | None
    label: str | None
    n_features: int | None
    seeds: list[int]
    run_ids: list[str | None]
    developed_by: str


class CardFactors(_Strict):
    evaluated: list[str]
    skipped: list[str]
    note: str


class CardMetrics(_Strict):
    primary: str | None
    reported: list[str]
    threshold: int | None
    threshold_meaning: str
    uncertainty: str


class EvaluationData(_Strict):
    split: str | None = None
    test_rows: int | None = None
    test_nsf_rate: Num = None
    test_digest: str | None = None
    plain_cv_auc: Num = None
    plain_cv_note: str | None = None


class TrainingData(_Strict):
    kind: str | None = None
    source: str | None = None
    digest: str | None = None
    train_rows: int | None = None
    validation_rows: int | None = None


class ModelCard(_Strict):
    details: CardDetails
    intended_use: list[str]
    factors: CardFactors
    metrics: CardMetrics
    evaluation_data: EvaluationData
    training_data: TrainingData
    quantitative_analyses: dict[str, SeedSummary]
    ethical_considerations: list[str]
    caveats: list[str]


class FamilySectionView(_Strict):
    """A family's own section, as its registered view puts it (see
    :func:`nsf.report.register_family_section`)."""

    title: str
    content: dict[str, Any]


class ReportModel(_Strict):
    """``report.json``: every number of the report, raw, with its source."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True,
                              json_schema_extra={"$id": "https://nsf.invalid/report.schema.json"})

    schema_: Literal["nsf.report/2"] = Field(alias="schema")
    title: str
    generated_at: str | None
    source: Source
    missing: list[str] = Field(description="Parts that could not be read; empty when complete.")
    settings: Settings
    skipped_families: list[SkippedFamily] = Field(
        description="Families that cannot apply to the dataset (not applicable, not missing).")
    baseline: Baseline
    summary: list[Answer] = Field(min_length=6)
    inventory: Inventory
    attributes: Attributes
    granularity: Rows
    population: Rows
    retention: Retention
    variant_metrics: dict[str, dict[str, Comparison | None]]
    fairness: Fairness
    reliance: RelianceSection
    minimal_set: MinimalSetSection | None
    family_sections: dict[str, FamilySectionView] = Field(
        description="Families' own sections (name -> title and content).")
    model_card: ModelCard
    data: DataSection | None = None
    power: Power | None = None
    power_readout: list[str] = Field(
        [], description="What the study can tell (the median minimum detectable loss), its "
        "looks under study.until 'decided', and what would decide each inconclusive verdict.")
    method: Method
    deidentification: Deidentification
    reproducibility: Reproducibility
    recommendations: list[CategoryRecommendation] = Field(
        [], description="One recommendation per shared category (per attribute group for a "
        "user's table), derived once from the inventory rule and the minimal-set search; every "
        "section that names a recommendation reads it.")
    largest_gaps: dict[str, FairnessAtDecision] = Field(
        {}, description="The largest error-rate gap at the policy's decision threshold "
        "('decision') and at the configured score threshold ('score_band').")


def as_model(model: ReportModel | dict) -> ReportModel:
    """The report model, typed: validated once from its JSON form (``report.json``'s dict)."""
    return model if isinstance(model, ReportModel) else ReportModel.model_validate(model)


def report_json_schema() -> dict:
    """The JSON schema of ``report.json``, generated from :class:`ReportModel`."""
    return _schema(ReportModel)


def study_json_schema() -> dict:
    """The JSON schema of ``study.json``, generated from :class:`nsf.study.StudyResult`."""
    return _schema(StudyResult)


def _schema(model: type[BaseModel]) -> dict:
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            **model.model_json_schema(by_alias=True)}


def rendered_schemas() -> dict[str, str]:
    """File name -> the schema text the committed file holds (``nsf/schemas/``)."""
    return {name: json.dumps(make(), indent=1, sort_keys=True) + "\n"
            for name, make in (("report.schema.json", report_json_schema),
                               ("study.schema.json", study_json_schema))}


def write_schemas() -> list[Path]:
    """Regenerate the committed schemas; returns their paths."""
    out = []
    for name, text in rendered_schemas().items():
        path = SCHEMA_DIR / name
        path.write_text(text, encoding="utf-8")
        out.append(path)
    return out
