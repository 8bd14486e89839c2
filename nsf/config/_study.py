"""The data-minimisation and fairness study (``nsf study``): variants, seeds, statistics."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field, field_validator, model_validator

from nsf.config._frozen import Frozen as _Frozen
from nsf.vocabulary import STUDY_METRICS, Metric, Subject

#: The proxy target that is not a sensitive column: quartiles of the simulator's latent income
#: (simulated data only).
INCOME_BAND = "income_band"

_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.:+\[\],-]{0,99}$"


class VariantConfig(_Frozen):
    """One model variant: what it changes against the baseline (the configured model).

    Groups are the feature registry's attribute groups (``nsf features`` lists them); unknown
    names are rejected when the study starts, since the groups depend on the dataset.
    """

    name: str = Field(..., pattern=_NAME, description="Unique variant name (MLflow nsf.variant).")
    family: str = Field(
        "custom", pattern=_NAME, description="Which question it answers (the report's "
        "section): a registered family (`nsf config schema`, study.families) or 'custom'.")
    drop_groups: tuple[str, ...] = Field((), description="Groups left out.")
    keep_groups: tuple[str, ...] | None = Field(
        None, description="Only these groups (null: all but drop_groups).")
    coarsen_groups: tuple[str, ...] = Field((), description="Groups in their coarse version.")
    retention_days: int | None = Field(
        None, ge=1, description="Only windowed aggregates over at most this many days.")
    sensitive: tuple[str, ...] = Field((), description="Sensitive attributes added as features.")
    population: Literal["apple", "all"] | None = Field(
        None, description="Training rows (null: the target config's).")
    label: Literal["nsf_appstore", "nsf_any"] | None = Field(
        None, description="Training label (null: the target config's).")
    reference: str = Field(
        "baseline", pattern=_NAME,
        description="The arm the verdict compares with: 'baseline' or another variant's name.")
    subject: Subject | Literal["auto"] = Field(
        "auto",
        description="What the verdict is about: the data the variant removes from the reference "
        "('removed': needed = dropping it costs more than the margin) or adds to it ('added': "
        "needed = adding it gains more than the margin); 'auto': 'added' for population 'all' "
        "and sensitive variants or a reference other than the baseline, else 'removed'.")

    @model_validator(mode="after")
    def _disjoint(self) -> VariantConfig:
        both = sorted(set(self.drop_groups) & set(self.coarsen_groups))
        if both:
            raise ValueError(f"variant {self.name!r}: groups both dropped and coarsened: {both}")
        return self


#: The fairness threshold of a simulated dataset when study.threshold is null: the simulated
#: policy's operating point (a score of 20).
SIMULATED_THRESHOLD = 20


class MinimalSetConfig(_Frozen):
    """The backward search for a minimal sufficient set of contested groups."""

    enabled: bool | None = Field(
        None, description="Run the search (null: when every family runs, i.e. study.families "
        "is null; a family list runs exactly the families it names).")
    strategy: Literal["ranked", "greedy"] = Field(
        "ranked",
        description="'ranked': try the contested groups once each, cheapest drop-one loss "
        "first, keeping a removal when the model without everything removed so far stays "
        "non-inferior to the baseline (one retraining per group); 'greedy': at every step "
        "retrain without each remaining group and remove the one with the best worst case, "
        "stopping when no removal stays non-inferior (quadratic in the number of groups).",
    )
    max_steps: int | None = Field(
        None, ge=1, description="Stop after this many retrainings rounds (null: no limit).")


class LedgerConfig(_Frozen):
    """The data ledger: the case's facts the study's verdicts are scaled to (simulated data)."""

    enabled: bool = Field(True, description="Compute the ledger (simulated data only).")
    people: int = Field(40_450_000, ge=1, description="[CASE] People whose data was sent "
                        "(about 40.45 million).")
    records: float = Field(54.2e9, gt=0, allow_inf_nan=False, description="[CASE] Records "
                           "sent (about 54.2 billion, roughly one per user per day).")
    categories: int = Field(24, ge=1, description="[CASE] Data categories in each record.")
    apple_share: float = Field(0.20, gt=0, le=1, description="[CASE] Share of the users who "
                               "registered Kakao Pay with Apple (fewer than 20%: an upper "
                               "bound, so the needed count is not understated).")
    training_days: int = Field(122, ge=1, description="[CASE] Days of the training batches of "
                               "all users (April to July 2018).")
    retrain_days: int = Field(90, ge=1, description="[ASSUMPTION] Retraining interval counted "
                              "as needed after the build when no freshness verdict says "
                              "otherwise (quarterly).")
    feed_days: int = Field(1790, ge=1, description="[CASE] Days of the daily feed after the "
                           "build (2019-06-27 to 2024-05-21).")
    linkage_categories: int = Field(1, ge=0, description="[ASSUMPTION] Identifier categories "
                                    "a minimal design still needs to match a record to its "
                                    "Apple account (one keyed pseudonym).")


#: Retraining schedules of the freshness family and their interval in days (a month is 30
#: days, the simulator's snapshot interval).
SCHEDULE_DAYS: dict[str, int] = {"monthly": 30, "bimonthly": 60, "quarterly": 90,
                                 "semiannual": 180, "yearly": 360}
Schedule = Literal["monthly", "bimonthly", "quarterly", "semiannual", "yearly"]


class FreshnessConfig(_Frozen):
    """Family ``freshness``: a model frozen at a build date against models retrained on a
    schedule on recent data, scored date by date after the build."""

    schedules: tuple[Schedule, ...] = Field(
        ("monthly", "quarterly"), description="Retraining schedules compared with the frozen "
        "model (a month is 30 days). Each must retrain at least once within the evaluation "
        "period (else the study stops).")
    train_dates: int = Field(
        2, ge=1, le=120, description="[ASSUMPTION] Observation dates in every training window "
        "(the frozen model's and each retrained one's: the same amount of data, so only its "
        "age differs): the latest dates whose outcome horizon has ended by the build or "
        "retraining date. A share split.validation_fraction of the window's subjects "
        "calibrates the model.")
    build_date: dt.date | None = Field(
        None, description="The frozen model's build date: an observation date of the data "
        "(null: the earliest date with train_dates dates of known outcomes before it, which "
        "leaves the longest evaluation period). Every later date is scored.")
    horizon_days: int | None = Field(
        None, ge=0, le=3650, description="Days after an observation date before its outcome is "
        "known (null: the simulated world's outcome horizon; 0 for a table: an outcome is "
        "known by the next date).")

    @field_validator("schedules")
    @classmethod
    def _schedules(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if not v:
            raise ValueError("needs at least one schedule (allowed: "
                             f"{', '.join(SCHEDULE_DAYS)})")
        return tuple(sorted(set(v), key=SCHEDULE_DAYS.__getitem__))


class BudgetConfig(_Frozen):
    """What ``study.until: decided`` may spend before it stops with verdicts left undecided."""

    seeds: int = Field(
        9, ge=1, le=100, description="Most training seeds (re-drawn training samples) per arm; "
        "with study.seeds and seed_step it sets the planned number of looks, 1 + ceil((seeds - "
        "study.seeds) / seed_step), over which the error is split (Bonferroni over looks).")
    seed_step: int | None = Field(
        None, ge=1, le=100, description="Seeds added at each look to the arms of the "
        "comparisons still undecided (null: study.seeds).")
    subjects: int = Field(
        20_000, ge=0, le=10_000_000, description="Simulated data only: most test subjects "
        "added to the first look's, simulated on demand as further users of the same world "
        "(world.population.further_users) and prepared as the test rows are; every fitted "
        "model scores them and each later look judges on all test subjects so far. The "
        "subjects double at each look ([ASSUMPTION] the first look's test subjects, twice as "
        "many at the second, four times at the third, ...) until this many are added; with "
        "the seeds' looks they set the planned looks. 0: the test rows stay the first look's. "
        "A table of fixed size never gets more.")
    minutes: float | None = Field(
        None, gt=0, allow_inf_nan=False, description="No new look starts after the study has "
        "run this many minutes (null: no limit); the looks not taken keep their share of the "
        "error unused.")


class StudyConfig(_Frozen):
    """``nsf study``: variants x seeds, intervals, verdicts, fairness, proxies and reliance."""

    seeds: int = Field(3, ge=1, le=100, description="Training seeds K per variant (and "
                       "baseline); the first is the experiment seed, as in `nsf train`. Each "
                       "seed re-draws the training sample (training_resample).")
    families: tuple[str, ...] | None = Field(
        None, description="Variant families to run (null: every registered family: drop_one, "
        "drop_all, keep_one = uncontested core + one group, coarsen, population, retention, "
        "sensitive, volume = learning curve, decisions = every arm's scores through the "
        "bundle-or-charge policy in money, no fits of its own, freshness = a model frozen at "
        "its build date against models retrained on a schedule). A family the dataset cannot "
        "support is skipped with its reason.")
    designs: tuple[str, ...] | None = Field(
        None, description="Sharing designs put on the privacy-utility frontier, by name (null: "
        "when every family runs, i.e. study.families is null: every design that applies: "
        "the data in use, under keyed HMAC or random pseudonyms, "
        "the evaluation population only, each drop/keep/coarsen/retention variant's data, the "
        "minimal set and the recommended design; []: none). Each design's utility is its "
        "trained arm's; the adversaries run on what it would share.")
    groups: tuple[str, ...] | None = Field(
        None, description="Contested groups the default variants cover (null: every contested "
        "group); narrowing it never changes which groups are contested.")
    crossfit_below: int = Field(
        20_000, ge=0, description="[ASSUMPTION] Tables with fewer evaluation rows than this are "
        "cross-fitted (repeated stratified K-fold: every row a test row once per seed) instead "
        "of split once; 0: never.")
    crossfit_folds: int = Field(
        5, ge=3, le=20, description="Folds K of the cross-fitting (each fold's model trains on "
        "K-2 folds, is calibrated on the next one and predicts its own).")
    variants: tuple[VariantConfig, ...] = Field(
        (), description="Extra variants declared explicitly (added to the default families).")
    retention_days: tuple[int, ...] = Field(
        (7, 30, 90, 180), description="History windows (days) of the retention variants.")
    volume_sizes: tuple[int, ...] | None = Field(
        None, description="Training subjects of the volume family's nested subsamples (the "
        "learning curve; 'all' is the baseline). null: [ASSUMPTION] 1,000, 3,000, 10,000, "
        "30,000 and 100,000, those not below the training population dropped with a note; "
        "sizes given here must all be below it and hold both classes, else the study stops.")
    sensitive_features: tuple[str, ...] | None = Field(
        None,
        description="Sensitive columns the 'sensitive' variant adds as features (never the "
        "default model); null: every sensitive column of the dataset description.")
    metrics: tuple[Metric, ...] = \
        Field(("auc", "pr_auc", "brier", "log_loss", "ece"),
              description="Metrics given a difference interval against the reference.")
    primary_metric: Metric = Field(
        "auc", description="The metric of each variant's headline verdict and of the minimal "
        "set search (needs a margin).")
    margins: dict[str, float] = Field(
        {"auc": 0.005}, description="Non-inferiority margin per metric, in its units (largest "
        "tolerated loss); metrics without one get no verdict.")
    cost_margin: float = Field(
        20_000.0, ge=0, allow_inf_nan=False, description="Non-inferiority margin of the "
        "decisions family: the largest tolerated rise of a variant's realised cost against the "
        "baseline's, in money per 1,000 users per month. [ASSUMPTION] KRW 20 a user a month, "
        "about 2% of the simulated world's cost of the decision.")
    n_bootstrap: int = Field(1000, ge=50, le=100_000,
                             description="Bootstrap replicates of each difference interval.")
    confidence: float = Field(0.95, gt=0.5, lt=1, description="Two-sided interval level; "
                              "with study.multiplicity also the family-wise level of the "
                              "verdicts.")
    training_resample: Literal["bootstrap", "subsample", "none"] = Field(
        "bootstrap", description="How each seed re-draws the training data, so that the "
        "intervals cover the variance of the training sample as well as that of the test rows, "
        "for every model family (a deterministic one too). 'bootstrap' (default): every "
        "subject's training and calibration rows enter the seed's fit a Poisson(1) number of "
        "times (a bootstrap of subjects); 'subsample': each subject's rows are kept with "
        "probability training_fraction (half-sampling: no subject copied, each fit about half "
        "the cost; measured on 20 coverage-benchmark worlds, a pure-noise group's difference "
        "centres at +0.0045 +- 0.0018 AUC, models trained on half the subjects gaining a "
        "little from losing a useless attribute, against -0.0003 +- 0.0026 for bootstrap on "
        "12 of them, and its intervals are wider at three seeds); "
        "'none': every seed trains on the same rows and only the model's "
        "seed changes (the intervals then describe this one training sample). A seed's draw is "
        "the same for every variant (paired), so the intervals resample the seeds of both arms "
        "together: test rows and seeds, a two-level bootstrap, widened by t / z for the few "
        "seeds (Welch-Satterthwaite). Cross-fitted tables re-draw the "
        "subjects of each fold's training rows. [ASSUMPTION] bootstrap: the usual stand-in for "
        "a new training sample of the same size.")
    training_fraction: float = Field(
        0.5, gt=0, lt=1, description="Share of subjects each seed keeps when training_resample "
        "is 'subsample' ([ASSUMPTION] one half: the spread of half-sample fits matches the "
        "spread of full-sample fits for a smooth statistic).")
    until: Literal["fixed", "decided"] = Field(
        "fixed", description="'decided': after the first batch of seeds (study.seeds) the "
        "study looks at the primary metric's verdicts and adds study.budget.seed_step training "
        "seeds to the arms of every comparison still inconclusive, and, where the data can "
        "grow, more test subjects (study.budget.subjects), look after "
        "look, until each is decided, only more test subjects than the budget allows could "
        "decide it (its test rows' variance alone keeps it open), or the budget "
        "(study.budget) is spent; every look judges at the "
        "family-wise level 1 - (1 - confidence) / looks "
        "(Bonferroni over the planned looks, so the error stays controlled however the looks "
        "end); the result says at which look and with how many seeds and test subjects each "
        "verdict was decided, and what the budget left undecided. The other metrics keep the "
        "first look's intervals. 'fixed' (default): one batch of study.seeds, judged at "
        "study.confidence ([ASSUMPTION] a study's time known in advance; 'decided' spends "
        "more fits, and test subjects where the data can grow, where they decide something).")
    budget: BudgetConfig = BudgetConfig()
    multiplicity: Literal["max_statistic", "holm", "none"] = Field(
        "max_statistic", description="[ASSUMPTION] How the verdicts of a family of variants "
        "(every variant of one family against one reference, per metric) control the "
        "family-wise error at study.confidence: 'max_statistic' widens every interval of the "
        "family to one level at which all cover jointly (max-statistic over the paired "
        "bootstrap replicates the comparisons share; no new fits); 'holm' applies Holm's "
        "procedure to the bootstrap p-values; 'none' judges each comparison at its own level. "
        "The per-comparison interval is reported beside the simultaneous one either way. A "
        "large family reaches far into the replicates' tails (40 comparisons: up to the "
        "99.9% level, Bonferroni's), so give it enough study.n_bootstrap.")
    interval_target: Literal["mean", "single"] = Field(
        "mean", description="'mean': difference of the expected performance of the two "
        "training procedures; 'single': of one retrained model each (wider).")
    threshold: int | None = Field(
        None, ge=0, le=100, description="Operating threshold of the fairness tables and the "
        "per-person view: a score at or above it is flagged. null: the threshold the "
        "decision uses: policy.threshold when a fixed policy decides (policy.threshold_rule "
        "'fixed' with the decisions family), 20 for the project's generated datasets "
        "(their policy's operating point), and on a table [ASSUMPTION] "
        "the base rate: flagged when the calibrated probability reaches the share of positive "
        "rows (above-average risk). The report also shows the disparities over a range of "
        "thresholds.")
    fairness_attributes: tuple[str, ...] | None = Field(
        None, description="Sensitive columns the group metrics are broken down by, by their own "
        "names (null: every sensitive column of the dataset description).")
    intersections: tuple[tuple[str, ...], ...] | None = Field(
        None, description="Combinations of sensitive columns also broken down (one group per "
        "observed combination); null: the first two sensitive columns of the description, if "
        "it has two.")
    fairness_n_bootstrap: int = Field(
        400, ge=50, le=100_000, description="Bootstrap replicates of the fairness intervals.")
    n_bins: int = Field(10, ge=2, le=100, description="Equal-width bins of each group's ECE.")
    min_group_support: int = Field(
        30, ge=1, le=1_000_000, description="A group enters a disparity (max - min over groups) "
        "only with at least this many rows in the metric's denominator: NSF rows for the "
        "false-negative rate, non-NSF rows for the false-positive rate, both for AUC, all rows "
        "for selection rate, ECE and mean score. Smaller groups are shown and marked, not "
        "compared: a rate from a handful of rows would set the disparity alone.")
    proxy_targets: tuple[str, ...] | None = Field(
        None, description="Attributes each contested group is tried as a proxy for, by their "
        "own names (null: every sensitive column of the description, plus income_band, the "
        "quartiles of the simulator's latent income, on simulated data).")
    proxy_rows: int = Field(10_000, ge=100, description="Users sampled for the proxy checks.")
    proxy_estimator: Literal["hist_gradient_boosting", "logistic_regression"] = Field(
        "hist_gradient_boosting", description="Classifier of the proxy checks.")
    proxy_cv: int = Field(3, ge=2, le=10, description="Folds of the proxy checks.")
    shap_rows: int = Field(2000, ge=10, description="Test rows of the TreeSHAP reliance sample.")
    permutation_rows: int = Field(
        5000, ge=10, description="Test rows of the grouped permutation importance sample.")
    permutation_repeats: int = Field(5, ge=1, le=100, description="Permutations per group.")
    sample_subjects: int | None = Field(
        None, ge=2, le=1_000_000_000, description="Subjects (users, or the table's ids) the "
        "study reads, all their rows (training, validation and test): a sample stratified by "
        "outcome (a subject is positive when any of its rows has the training label), drawn "
        "from the seed, read from disk for these subjects only so memory follows the sample, "
        "not the population. Stated in the report's split; the volume family's learning curve "
        "says whether it is large enough. null: every subject. `nsf train` never samples.")
    minimal_set: MinimalSetConfig = MinimalSetConfig()
    ledger: LedgerConfig = LedgerConfig()
    freshness: FreshnessConfig = FreshnessConfig()
    workers: int = Field(2, ge=1, le=256, description="Worker processes for the fits and "
                         "statistics (never changes the results; 2 fits a 2-core machine, each "
                         "worker holds its own copy of the prepared data).")
    log_models: bool = Field(False, description="Also log each variant's model (large).")
    audit: bool = Field(
        True, description="Also run the de-identification audit (`nsf audit`, settings in "
        "`audit`) on a simulated dataset before the report, unless an audit of the same dataset "
        "and settings is already logged in the experiment, so the report answers question 6.")
    proxy_lift_threshold: float = Field(
        0.10, ge=0, le=1, description="[ASSUMPTION] A contested group whose cross-validated "
        "proxy score for a protected attribute exceeds chance by at least this much (AUC - 0.5 "
        "for two classes, balanced accuracy - 1/k for k) is flagged as a proxy, and the "
        "inventory does not keep it raw. 0.10: an AUC of 0.60, a moderate proxy, well above the "
        "fold-to-fold noise of the check at its default sample size.")
    equalized_odds_cut: float = Field(
        0.05, ge=0, le=1, description="[ASSUMPTION] The fairness answer names the attributes "
        "whose equalized-odds difference has a lower interval bound above this (a gap in "
        "error rates of five percentage points, shown with confidence).")
    reliance_top_k: int = Field(
        3, ge=1, le=100, description="[ASSUMPTION] The report's 'relied on but not shown "
        "needed' list looks at the groups with the k largest TreeSHAP shares.")
    explain_stability_min: float = Field(
        0.8, ge=-1, le=1, description="[ASSUMPTION] The ranking of the attribute groups by "
        "SHAP reliance is stable enough to act on when, for every pair of baseline seeds, the "
        "lower end of the interval of its Spearman rank correlation reaches this.")

    @field_validator("margins")
    @classmethod
    def _margins(cls, v: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(v) - set(STUDY_METRICS))
        if unknown:
            raise ValueError(f"unknown metrics {unknown} (allowed: {', '.join(STUDY_METRICS)})")
        bad = {k: m for k, m in v.items() if not m >= 0}
        if bad:
            raise ValueError(f"margins must be >= 0 (got {bad})")
        return v

    @field_validator("retention_days")
    @classmethod
    def _retention(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if any(d < 1 for d in v):
            raise ValueError(f"retention windows must be >= 1 day (got {list(v)})")
        return tuple(sorted(set(v)))

    @field_validator("volume_sizes")
    @classmethod
    def _volume(cls, v: tuple[int, ...] | None) -> tuple[int, ...] | None:
        if v is None:
            return v
        if not v:
            raise ValueError("volume_sizes is empty (null: the default sizes)")
        if any(n < 2 for n in v):
            raise ValueError(f"volume sizes must be >= 2 subjects (got {list(v)})")
        return tuple(sorted(set(v)))

    @field_validator("intersections")
    @classmethod
    def _intersections(cls, v):
        for combo in v or ():
            if len(combo) < 2 or len(set(combo)) != len(combo):
                raise ValueError(f"an intersection needs two or more distinct attributes "
                                 f"(got {list(combo)})")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> StudyConfig:
        if self.primary_metric not in self.margins:
            raise ValueError(f"primary_metric {self.primary_metric!r} needs a margin in "
                             f"study.margins (has: {sorted(self.margins)})")
        if self.primary_metric not in self.metrics:
            raise ValueError(f"primary_metric {self.primary_metric!r} must be in study.metrics "
                             f"({list(self.metrics)})")
        names = [v.name for v in self.variants]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"variant names must be unique (repeated: {dup})")
        if "baseline" in names:
            raise ValueError("'baseline' is reserved for the configured model")
        bad = check_design_names(self)
        if bad:
            raise ValueError(bad)
        return self


#: Sharing designs every study may form (study.designs); the others are named after the
#: variants of the families that change what is shared.
FIXED_DESIGNS = ("in_use", "in_use_hmac", "in_use_random", "population_only", "minimal_set",
                 "recommended", "drop_all_contested")
_GROUP_DESIGNS = ("drop_", "coarse_", "core+")


def check_design_names(study: StudyConfig) -> str | None:
    """What is wrong with ``study.designs`` as written (None: nothing), before any data is
    read: a repeated name, a name of no design form, a retention window not in
    ``study.retention_days``, a group outside ``study.groups`` (when given). Whether the data
    forms each design is checked when the study starts, before any fit."""
    if not study.designs:
        return None
    names = list(study.designs)
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        return f"designs: names repeated: {dup} (each design once)"
    variants = {v.name for v in study.variants}
    days = ", ".join(map(str, study.retention_days))
    allowed = (f"{', '.join(FIXED_DESIGNS)}, drop_<group>, coarse_<group>, core+<group>, "
               f"retention_<days>d with days in study.retention_days ({days})"
               + (f", or a study.variants name ({', '.join(sorted(variants))})"
                  if variants else ""))
    for n in names:
        if n in FIXED_DESIGNS or n in variants:
            continue
        if n.startswith("retention_") and n.endswith("d"):
            d = n[len("retention_"):-1]
            if d.isdigit() and int(d) in study.retention_days:
                continue
            return (f"designs: {n!r}: no retention window of {d!r} days (allowed: "
                    f"retention_<days>d with days in study.retention_days: {days})")
        prefix = next((pre for pre in _GROUP_DESIGNS if n.startswith(pre)), None)
        if prefix is not None and len(n) > len(prefix):
            group = n[len(prefix):]
            if study.groups is not None and group not in study.groups:
                return (f"designs: {n!r}: group {group!r} is not in study.groups (allowed: "
                        f"{', '.join(study.groups)})")
            continue
        return f"designs: {n!r} is not a sharing design (allowed: {allowed})"
    return None
