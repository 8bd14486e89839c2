"""What a variant family is (the family contract): what it needs from the dataset, the
variants or procedure it runs, its typed section of the result, its report view, its MLflow
metrics, its ledger factor and its config."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from nsf.features import FeatureSelection
from nsf.study._section import FamilySection
from nsf.views import ComparisonView, FamilyView

if TYPE_CHECKING:
    from nsf.config import ExperimentConfig, LedgerConfig
    from nsf.data import DatasetDescription
    from nsf.pipeline import PreparedData
    from nsf.study._fit import FitOutcome
    from nsf.study._pool import TaskPool
    from nsf.study._result import StudyResult
    from nsf.study._run import FitStore
    from nsf.study._variants import Variant

#: The arm every default verdict compares with unless a family says otherwise.
BASELINE = "baseline"
#: The uncontested-core variant (family ``drop_all``); ``keep_one`` variants compare with it.
DROP_ALL = "drop_all_contested"


@dataclass(frozen=True)
class Proposal:
    """One variant a family proposes (the study checks it against the registry)."""

    name: str
    selection: FeatureSelection
    description: str
    groups: tuple[str, ...] = ()
    population: str | None = None
    label: str | None = None
    reference: str = BASELINE
    subject: str = "removed"
    train_subjects: int | None = None


@dataclass(frozen=True)
class FamilyContext:
    """What a family may look at when deciding whether it applies and what it proposes.

    Attributes
    ----------
    cfg : the experiment config.
    prepared : the prepared data (its ``description`` and feature ``registry``).
    base : the baseline's feature selection.
    covered : contested groups the default variants cover (``study.groups`` narrows them).
    contested : every contested group the baseline uses (never narrowed).
    sensitive : sensitive columns the 'sensitive' variant may add (resolved names).
    """

    cfg: ExperimentConfig
    prepared: PreparedData
    base: FeatureSelection
    covered: tuple[str, ...]
    contested: tuple[str, ...]
    sensitive: tuple[str, ...] = ()

    @property
    def description(self) -> DatasetDescription:
        """The dataset description (both doors into the study set it)."""
        if self.prepared.description is None:
            raise RuntimeError("the prepared data carry no dataset description")
        return self.prepared.description

    @property
    def used_groups(self) -> tuple[str, ...]:
        """Groups with a usable feature that the baseline keeps."""
        registry = self.prepared.registry
        dropped = set(self.base.drop_groups)
        keep = self.base.keep_groups
        return tuple(g for g in registry.groups
                     if g not in dropped and (keep is None or g in keep)
                     and any(s.group == g for s in registry.usable))


class StudyRun(Protocol):
    """What a family's procedure sees of the running study (``nsf.study._run``).

    Attributes
    ----------
    cfg, prepared : the experiment config (``study.threshold`` resolved) and the prepared data.
    pool : the study's task pool (``pool.run(fn, items)``, ``pool.workers``).
    store : where fits are kept (``log_metrics(run_id, metrics)``), or None.
    seeds : the study's training seeds.
    baseline, variants : the arms (:class:`nsf.study.Variant`).
    outcomes : fit key -> finished fit; ``keys(arm)`` gives an arm's fit keys.
    arms : arm id -> bootstrap replicates (``{"metrics": {metric: {"replicates",
        "per_seed"}}, ...}``); ``arm_id(arm)``.
    progress : ``progress(stage, done, total)``.
    """

    cfg: ExperimentConfig
    prepared: PreparedData
    pool: TaskPool
    store: FitStore | None
    seeds: list[int]
    baseline: Variant
    variants: list[Variant]
    outcomes: dict[str, FitOutcome]
    arms: dict[str, dict]
    progress: Callable[[str, int, int], None]

    def keys(self, v: Variant) -> list[str]: ...

    def arm_id(self, v: Variant) -> str: ...


@dataclass(frozen=True)
class Family:
    """A family of variants, answering one question: everything the study, its result, the
    report and MLflow know about it (the family contract).

    Attributes
    ----------
    name : the family's name (``study.families``, the report's sections, the result's section).
    question : one line: what its verdicts answer.
    needs : one line: what it needs from the dataset.
    applies : ``applies(ctx) -> reason | None``: None when it can run on this dataset, else
        why not (shown in the report as "not applicable: <reason>").
    variants : ``variants(ctx) -> list[Proposal]`` (empty for a family with its own procedure).
    requires : families whose variants it compares with (they run when it runs).
    section : its typed section of the result (a :class:`nsf.study.FamilySection` subclass;
        the field ``sections.<name>`` of ``study.json``), or None (comparisons only).
    curve : ``curve(run, compared) -> section | dict | None``: its section from the
        variants' comparisons (``compared["<variant>@<reference>"]``, replicates still
        there), computed with the study's statistics.
    procedure : ``procedure(run, attributes) -> section | None``: its own procedure, run
        after the minimal set (timed as ``timing.<name>``); ``attributes``: fairness
        attribute -> its columns.
    metrics : ``metrics(section) -> {name: float}``: the parent run's MLflow metrics from
        its section.
    arm_metrics : ``arm_metrics(section, arm_name) -> {name: float | None}``: metrics its
        section adds to an arm's MLflow run (the baseline's and each variant's; None values
        are not logged).
    ledger : its factor of the data ledger (``ledger(result, facts, pool) -> dict``, read by
        :mod:`nsf.study._ledger` under :attr:`ledger_role`), or None.
    ledger_role : what its factor counts in the ledger ('subjects', 'history', 'retraining',
        'population').
    config : the config fields it owns (dotted prefixes, e.g. ``"study.freshness."``); the
        report leaves them out of a study where the family did not run.
    needs_validation : whether it reads every fit's validation predictions (a fit from an
        earlier run without them is retrained).
    threshold : ``threshold(cfg) -> (threshold, how) | None``: the operating threshold it
        imposes on the fairness tables when it runs (None: none).
    view : its report view (:class:`nsf.views.FamilyView`, report and appendix), for its
        section (None: no section of its own).
    comparisons : where the report's core tables show its variants' comparisons
        (:class:`nsf.views.ComparisonView`; None: not there, e.g. the learning curve's points
        are in its own section).
    """

    name: str
    question: str
    needs: str
    applies: Callable[[FamilyContext], str | None]
    variants: Callable[[FamilyContext], list[Proposal]]
    requires: tuple[str, ...] = field(default=())
    section: type[FamilySection] | None = None
    curve: Callable[[StudyRun, dict], FamilySection | dict | None] | None = None
    procedure: Callable[[StudyRun, dict], FamilySection | None] | None = None
    metrics: Callable[[Any], dict[str, float]] | None = None
    arm_metrics: Callable[[Any, str], Mapping[str, float | None]] | None = None
    ledger: Callable[[StudyResult, LedgerConfig, float], dict] | None = None
    ledger_role: str | None = None
    config: tuple[str, ...] = ()
    needs_validation: bool = False
    threshold: Callable[[ExperimentConfig], tuple[int, str] | None] | None = None
    view: FamilyView | None = None
    comparisons: ComparisonView | None = None


def with_changes(base: FeatureSelection, **changes) -> FeatureSelection:
    """``base`` with some fields changed (dropped groups are never also coarsened)."""
    changed = dataclasses.replace(base, **changes)
    drop = tuple(dict.fromkeys(changed.drop_groups))
    coarsen = tuple(g for g in dict.fromkeys(changed.coarsen_groups) if g not in drop)
    return FeatureSelection(drop_groups=drop, coarsen_groups=coarsen,
                            retention_days=changed.retention_days,
                            sensitive=tuple(dict.fromkeys(changed.sensitive)),
                            keep_groups=changed.keep_groups)
