"""Stage 1: read the dataset once, label the rows and split them."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from nsf.config import ExperimentConfig, SplitConfig, TargetConfig
from nsf.data import (
    Dataset,
    DatasetDescription,
    categorical_columns,
    describe_table,
    open_dataset,
    read_user_table,
)
from nsf.decisions import OUTCOME_COLUMNS, ROW_COLUMNS, cost_inputs, table_cost_columns
from nsf.errors import NsfError
from nsf.features import (
    LATENT_FEATURES,
    SENSITIVE_FEATURES,
    FeatureRegistry,
    feed_registry,
    table_registry,
)
from nsf.streams import seed_sequence, stream

KEYS = ["observation_date", "user_id"]
SPLITS = ("train", "validation", "test")


@dataclass(frozen=True)
class CrossFit:
    """Repeated stratified K-fold cross-fitting of a small table (study only).

    Each seed of the study draws its own partition of the subjects into ``folds`` folds,
    stratified by the label (subjects kept together when the table has an id column). For fold
    k the model trains on the other folds but one and is calibrated on that one (fold k+1), and
    predicts fold k, so every evaluation row is a test row once per seed and the paired
    intervals come from the out-of-fold predictions.
    """

    folds: int
    grouped: bool

    def assign(self, labels: np.ndarray, subjects: np.ndarray, seed: int) -> np.ndarray:
        """Fold number (0..folds-1) of every row for one seed."""
        from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

        state = int(seed_sequence(seed, "cross-fit-folds").generate_state(1)[0])
        fold = np.empty(labels.size, dtype=np.int64)
        dummy = np.zeros((labels.size, 1))
        if self.grouped:
            splitter = StratifiedGroupKFold(n_splits=self.folds, shuffle=True,
                                            random_state=state)
            parts = splitter.split(dummy, labels, groups=subjects)
        else:
            parts = StratifiedKFold(n_splits=self.folds, shuffle=True,
                                    random_state=state).split(dummy, labels)
        for k, (_, test) in enumerate(parts):
            fold[test] = k
        return fold

    def describe(self, n_rows: int) -> str:
        return (f"cross-fitted: {self.folds} stratified folds"
                f"{' of subjects' if self.grouped else ''} per seed over {n_rows} rows "
                f"(each fold's model trains on {self.folds - 2} folds, is calibrated on one and "
                "tests on the last; every row a test row once per seed)")


@dataclass
class PreparedData:
    """Everything the fitting and evaluation stages need, loaded once.

    Attributes
    ----------
    frame : raw model inputs, one row per (observation_date, user_id), sorted: the shared feed
        (or the user's table), the sensitive columns, and latent traits if asked for.
    rows : same order as ``frame``: ``observation_date``, ``user_id``, ``split``,
        ``apple_registered``, ``nsf_appstore``, ``nsf_any``, ``label`` (the configured training
        label), ``has_charge``, ``p_true`` (oracle P(NSF), NaN where the truth has no row).
    registry : the feature registry of this data source.
    sensitive : the description's sensitive columns as fairness groups, aligned with ``rows``
        (numeric ones in quantile bands, missing values as '(missing)', rare levels pooled).
    description : the dataset description (contested groups as configured, coarse versions
        as the registry has them).
    target : the label config; ``split_note`` says how the split was made.
    digest : the dataset digest (manifest digest, or the user table's SHA-256).
    source : dataset folder or table path.
    """

    frame: pd.DataFrame
    rows: pd.DataFrame
    registry: FeatureRegistry
    sensitive: pd.DataFrame
    target: TargetConfig
    digest: str
    source: str
    split_note: str = ""
    description: DatasetDescription | None = None
    crossfit: CrossFit | None = None
    manifest: dict = field(default_factory=dict, repr=False)
    latents: bool = False
    sample: SubjectSample | None = None

    def for_study(self, below: int, folds: int) -> PreparedData:
        """The data as the study sees it: a table with fewer than ``below`` evaluation rows is
        cross-fitted (every evaluation row is a test row, folds drawn per seed); anything else
        keeps its split. Simulated datasets keep their out-of-time split (the simulator makes
        as many rows as asked for)."""
        if self.crossfit is not None or self.description is None or \
                self.description.door != "table":
            return self
        n_eval = int(self.rows["apple_registered"].to_numpy(dtype=bool).sum())
        if n_eval >= below:
            return self
        labels = self.rows["nsf_appstore"].to_numpy(dtype=np.int8)
        smallest = int(min(labels.sum(), labels.size - labels.sum()))
        if smallest < folds:
            raise NsfError(f"{self.source}: {smallest} rows of the rarer class cannot fill "
                           f"study.crossfit_folds = {folds} folds")
        plan = CrossFit(folds=folds, grouped=self.description.id_column is not None)
        rows = self.rows.copy()
        rows["split"] = "test"
        return replace(self, rows=rows, crossfit=plan, split_note=plan.describe(n_eval))

    def fold_view(self, fold: np.ndarray, k: int) -> PreparedData:
        """Fold ``k`` of a cross-fitted partition: test rows fold k, calibration rows fold
        k+1, training rows the rest."""
        n_folds = int(fold.max()) + 1
        split = np.full(fold.size, "train", dtype=object)
        split[fold == k] = "test"
        split[fold == (k + 1) % n_folds] = "validation"
        rows = self.rows.copy()
        rows["split"] = split
        return replace(self, rows=rows, crossfit=None)

    def sensitive_kinds(self) -> dict[str, str]:
        """Sensitive column -> 'numeric' or 'categorical' (from the description)."""
        return self.description.sensitive_kinds() if self.description is not None else {}

    def rows_for(self, split: str, population: str | None = None,
                 require_charge: bool | None = None) -> np.ndarray:
        """Positions of the rows of ``split`` in ``population`` ('apple' or 'all').

        ``population`` and ``require_charge`` default to the target config's.
        """
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS} (got {split!r})")
        population = self.target.population if population is None else population
        require_charge = self.target.require_charge if require_charge is None else \
            require_charge
        mask = (self.rows["split"] == split).to_numpy().copy()
        if population == "apple":
            mask &= self.rows["apple_registered"].to_numpy(dtype=bool)
        elif population != "all":
            raise ValueError(f"population must be 'apple' or 'all' (got {population!r})")
        if require_charge:
            mask &= self.rows["has_charge"].to_numpy(dtype=bool)
        return np.flatnonzero(mask)

    @property
    def train_index(self) -> np.ndarray:
        """Training rows of the configured population."""
        return self.rows_for("train")

    @property
    def validation_index(self) -> np.ndarray:
        """Calibration rows: validation rows of the evaluation population (Apple-registered)."""
        return self.rows_for("validation", "apple")

    @property
    def test_index(self) -> np.ndarray:
        """Evaluation rows: Apple-registered test rows (label ``nsf_appstore``)."""
        return self.rows_for("test", "apple")


@dataclass(frozen=True)
class SubjectSample:
    """The study's stratified sample of subjects (``study.sample_subjects``)."""

    size: int
    population: int
    positives: int
    population_positives: int

    def describe(self) -> str:
        return (f"study on a sample of {self.size:,} of {self.population:,} subjects "
                f"(stratified by outcome: {self.positives:,} of {self.population_positives:,} "
                "subjects with a positive row), all their rows")


def stratified_subjects(subjects: np.ndarray, positive: np.ndarray, size: int, seed: int,
                        source: str = "") -> tuple[np.ndarray, SubjectSample]:
    """A sample of ``size`` subjects, stratified by outcome, drawn from ``seed``.

    Each stratum (subjects with a positive row, the others) gets its share of ``size``
    (rounded), and at least two subjects, drawn without replacement.

    Parameters
    ----------
    subjects : distinct subject ids, ascending.
    positive : whether each subject has a row with the label 1.
    size : subjects to draw.
    seed : the experiment seed.
    source : the data's name for the messages.

    Returns
    -------
    The sampled ids (ascending) and what was drawn.

    Raises
    ------
    NsfError
        ``size`` above the number of subjects, or too small to hold two subjects of each
        outcome.
    """
    n = int(subjects.size)
    n_pos = int(np.count_nonzero(positive))
    where = f" ({source})" if source else ""
    if size > n:
        raise NsfError(f"study.sample_subjects = {size:,} is more than the {n:,} subjects of "
                       f"the data{where}; use at most {n:,}, or null for all")
    take_pos = round(size * n_pos / n) if n else 0
    take_pos = min(max(take_pos, 2), n_pos)
    take_neg = min(size - take_pos, n - n_pos)
    take_pos = size - take_neg
    if take_pos < 2 or take_neg < 2 or take_pos > n_pos:
        raise NsfError(f"study.sample_subjects = {size:,} cannot hold two subjects of each "
                       f"outcome ({n_pos:,} of {n:,} subjects have a positive row{where}); "
                       + ("use at least 4" if min(n_pos, n - n_pos) >= 2 else
                          "the data has fewer than two subjects of one outcome"))
    rng = stream(seed, "sample-subjects")
    chosen = np.concatenate([rng.choice(subjects[positive], take_pos, replace=False),
                             rng.choice(subjects[~positive], take_neg, replace=False)])
    return np.sort(chosen), SubjectSample(size=size, population=n, positives=take_pos,
                                          population_positives=n_pos)


def _user_permutation(users: np.ndarray, seed: int) -> np.ndarray:
    rng = stream(seed, "user-permutation")
    return rng.permutation(np.unique(users))


def assign_split(dates: pd.Series | None, users: pd.Series, cfg: SplitConfig,
                 seed: int) -> tuple[np.ndarray, str]:
    """Split label per row ('train', 'validation', 'test') and a one-line description.

    Parameters
    ----------
    dates : observation date per row (None for a table without time: 'user' split only).
    users : user id per row.
    cfg : the split config.
    seed : the experiment seed (user hold-outs are drawn from it).

    Raises
    ------
    NsfError
        If the data has too few observation dates for the requested out-of-time split.
    """
    n = len(users)
    split = np.full(n, "train", dtype=object)
    user_arr = users.to_numpy()
    kind = cfg.kind
    if kind == "auto":
        kind = "time" if dates is not None else "user"
    if kind == "user":
        perm = _user_permutation(user_arr, seed)
        n_test = round(cfg.test_fraction * perm.size)
        n_val = round(cfg.validation_fraction * perm.size)
        split[np.isin(user_arr, perm[:n_test])] = "test"
        split[np.isin(user_arr, perm[n_test:n_test + n_val])] = "validation"
        return split, (f"users at random: test {cfg.test_fraction:g}, validation "
                       f"{cfg.validation_fraction:g} of {perm.size} users, all dates")
    if dates is None:
        raise NsfError("split.kind 'time' needs a time column (dataset.table.time_column); "
                       "or use split.kind: user (or auto)")
    uniq = np.sort(dates.unique())
    if uniq.size <= cfg.test_dates:
        raise NsfError(f"split.test_dates={cfg.test_dates} but the data has only {uniq.size} "
                       "observation dates; nothing is left to train on")
    test_dates = uniq[-cfg.test_dates:]
    date_arr = dates.to_numpy()
    is_test = np.isin(date_arr, test_dates)
    split[is_test] = "test"
    rest = uniq[:-cfg.test_dates]
    mode = cfg.validation
    if mode == "auto":
        mode = "dates" if rest.size > cfg.validation_dates else "users"
    if mode == "dates":
        if rest.size <= cfg.validation_dates:
            raise NsfError(f"split.validation='dates' needs more than test_dates + "
                           f"validation_dates = {cfg.test_dates + cfg.validation_dates} "
                           f"observation dates (the data has {uniq.size}); use "
                           "split.validation: users")
        val_dates = rest[-cfg.validation_dates:]
        split[np.isin(date_arr, val_dates)] = "validation"
        fmt = lambda d: str(pd.Timestamp(d).date())  # noqa: E731
        return split, (f"out of time: train {fmt(rest[0])}..{fmt(rest[-cfg.validation_dates - 1])}"
                       f", validation {fmt(val_dates[0])}..{fmt(val_dates[-1])}, test "
                       f"{fmt(test_dates[0])}..{fmt(test_dates[-1])}")
    perm = _user_permutation(user_arr, seed)
    val_users = perm[:round(cfg.validation_fraction * perm.size)]
    split[~is_test & np.isin(user_arr, val_users)] = "validation"
    return split, (f"out of time: test {pd.Timestamp(test_dates[0]).date()!s}.."
                   f"{pd.Timestamp(test_dates[-1]).date()!s}; validation "
                   f"{cfg.validation_fraction:g} of users on the {rest.size} earlier dates")


def default_dataset(cfg: ExperimentConfig) -> Dataset:
    """The dataset ``cfg.dataset.path`` names, opened and verified as the config says."""
    if cfg.dataset.path is None:
        raise NsfError("dataset.path is not set (the CLI simulates the configured world when "
                       "it is missing; from Python pass dataset=open_dataset(path))")
    # The Python door's fallback: the signing key is taken as the CLI takes it.
    return open_dataset(cfg.dataset.path, verify=cfg.dataset.verify,
                        signing_key=cfg.dataset.signing_secret(os.environ))


#: Oracle columns of the truth table kept with the rows, and their names there: the true
#: P(NSF) and the number of Monte-Carlo draws behind it; its estimate from each group of
#: draws (``p_nsf_appstore_group_<g>``) is kept too, as ``p_true_group_<g>``.
TRUTH_COLUMNS = {"p_nsf_appstore": "p_true", "oracle_draws": "oracle_draws"}
_TRUTH_GROUP = "p_nsf_appstore_group_"


def _prepare_simulated(cfg: ExperimentConfig, dataset: Dataset, latents: bool,
                       sample_subjects: int | None) -> PreparedData:
    users, sample = None, None
    if sample_subjects is not None:
        ids, positive = dataset.subject_labels(cfg.target.label)
        users, sample = stratified_subjects(ids, positive, sample_subjects, cfg.seed,
                                            str(dataset.path))
        del ids, positive  # every subject of the population: not kept beyond the draw
    feed = dataset.table("feed", users=users)
    outcomes = dataset.table("outcomes", users=users)
    if len(feed) != len(outcomes) or not (
            feed[KEYS].reset_index(drop=True).equals(outcomes[KEYS].reset_index(drop=True))):
        raise NsfError(f"{dataset.path}: feed and outcomes do not have the same rows")
    sensitive_users = (dataset.table("sensitive", users=users) if dataset.has("sensitive")
                       else None)
    rows = pd.DataFrame({
        "observation_date": feed["observation_date"].to_numpy(),
        "user_id": feed["user_id"].to_numpy(),
        "apple_registered": feed["apple_registered"].to_numpy(dtype=bool),
        "nsf_appstore": outcomes["nsf_appstore"].to_numpy(dtype=np.int8),
        "nsf_any": outcomes["nsf_any"].to_numpy(dtype=np.int8),
        "has_charge": (outcomes["n_charge_attempts"].to_numpy() > 0),
    })
    # What the decisions' costs need (datasets simulated before these columns have none).
    if all(c in outcomes.columns for c in OUTCOME_COLUMNS.values()):
        for key, column in OUTCOME_COLUMNS.items():
            rows[ROW_COLUMNS[key]] = outcomes[column].to_numpy(dtype=np.float64)
    rows["label"] = rows[cfg.target.label]
    if dataset.has("truth"):
        truth = dataset.table("truth", users=users)
        oracle = {k: v for k, v in TRUTH_COLUMNS.items() if k in truth.columns}
        oracle |= {c: "p_true_group_" + c.removeprefix(_TRUTH_GROUP) for c in truth.columns
                   if c.startswith(_TRUTH_GROUP)}
        rows = rows.merge(truth[[*KEYS, *oracle]], on=KEYS, how="left", validate="one_to_one")
        rows = rows.rename(columns=oracle)
    else:
        rows["p_true"] = np.nan
    frame = feed
    sensitive = pd.DataFrame(index=rows.index)
    if sensitive_users is not None:
        cols = [c for c in sensitive_users.columns if c != "user_id"]
        per_row = pd.DataFrame({"user_id": rows["user_id"]}).merge(
            sensitive_users, on="user_id", how="left", validate="many_to_one")
        sensitive = per_row[cols].reset_index(drop=True)
        frame = pd.concat([feed, sensitive[[c for c in cols if c in SENSITIVE_FEATURES]]],
                          axis=1)
    if latents:
        truth_users = dataset.table("truth_users", ["user_id", *LATENT_FEATURES], users=users)
        lat = pd.DataFrame({"user_id": rows["user_id"]}).merge(
            truth_users, on="user_id", how="left", validate="many_to_one")
        frame = pd.concat([frame, lat[list(LATENT_FEATURES)].reset_index(drop=True)], axis=1)
    split, note = assign_split(rows["observation_date"], rows["user_id"], cfg.split, cfg.seed)
    if sample is not None:
        note = f"{note}; {sample.describe()}"
    rows["split"] = split
    description = dataset.description
    try:
        registry = feed_registry(description)
        registry.check_groups(description.group_names, f"{dataset.path}: description groups")
        registry = registry.with_contested(description.contested_groups)
        registry = registry.with_contested(cfg.features.contested_groups)
        description = description.with_contested(cfg.features.contested_groups)
    except ValueError as exc:
        raise NsfError(str(exc)) from None
    description = _with_coarse(description, registry)
    missing = [c for c in description.sensitive_names if c not in sensitive.columns]
    if missing:
        raise NsfError(f"{dataset.path}: the description's sensitive columns {missing} are not "
                       "in the sensitive table")
    return PreparedData(frame=frame, rows=rows, registry=registry,
                        sensitive=fairness_groups(sensitive, description),
                        target=cfg.target, digest=dataset.digest, source=str(dataset.path),
                        split_note=note, description=description, manifest=dataset.manifest,
                        latents=latents, sample=sample)


def _sample_table(frame: pd.DataFrame, tcfg, size: int,
                  seed: int) -> tuple[pd.DataFrame, SubjectSample]:
    """The rows of a stratified sample of the table's subjects (rows without an id column)."""
    y = frame[tcfg.target_column].to_numpy() == 1  # 0/1 once read (read_user_table)
    ids = (frame[tcfg.id_column].to_numpy() if tcfg.id_column
           else np.arange(len(frame), dtype=np.int64))
    subjects, inverse = np.unique(ids, return_inverse=True)
    positive = np.bincount(inverse, weights=y, minlength=subjects.size) > 0
    chosen, sample = stratified_subjects(np.arange(subjects.size), positive, size, seed,
                                         str(tcfg.path))
    keep = np.isin(inverse, chosen)
    return frame.loc[keep].reset_index(drop=True), sample


def _prepare_table(cfg: ExperimentConfig, sample_subjects: int | None = None) -> PreparedData:
    tcfg = cfg.dataset.table
    if tcfg is None:
        raise NsfError("dataset.table is not set (dataset.kind: table needs it)")
    notes: list[str] = []
    frame, digest = read_user_table(tcfg, notes)
    sample = None
    if sample_subjects is not None:
        frame, sample = _sample_table(frame, tcfg, sample_subjects, cfg.seed)
    description = describe_table(tcfg, frame, notes)
    groups = {g.name: g.columns for g in description.groups}
    registry = table_registry(groups, categorical_columns(tcfg, frame),
                              description.contested_groups, column_order=frame.columns)
    try:
        registry = registry.with_contested(cfg.features.contested_groups)
        description = description.with_contested(cfg.features.contested_groups)
    except ValueError as exc:
        raise NsfError(str(exc)) from None
    description = _with_coarse(description, registry)
    y = frame[tcfg.target_column].to_numpy(dtype=np.int8)
    dates = frame[tcfg.time_column] if tcfg.time_column else None
    # Without an id column every row is its own subject, keyed by its row number.
    subjects = (frame[tcfg.id_column].to_numpy() if tcfg.id_column
                else np.arange(len(frame), dtype=np.int64))
    population = (frame[tcfg.population_column].to_numpy(dtype=bool)
                  if tcfg.population_column else True)
    rows = pd.DataFrame({
        "observation_date": dates.to_numpy() if dates is not None else pd.NaT,
        "user_id": subjects,
        "apple_registered": population, "nsf_appstore": y, "nsf_any": y, "label": y,
        "has_charge": True, "p_true": np.nan,
    })
    _table_costs(cfg, frame, registry, rows)
    split, note = assign_split(dates, rows["user_id"], cfg.split, cfg.seed)
    if sample is not None:
        note = f"{note}; {sample.describe()}"
    rows["split"] = split
    sensitive = frame[list(tcfg.sensitive_columns)].reset_index(drop=True)
    return PreparedData(frame=frame, rows=rows, registry=registry,
                        sensitive=fairness_groups(sensitive, description),
                        target=cfg.target, digest=digest, source=str(tcfg.path),
                        split_note=note, description=description, sample=sample)


def _table_costs(cfg: ExperimentConfig, frame: pd.DataFrame, registry: FeatureRegistry,
                 rows: pd.DataFrame) -> None:
    """Add the decisions' cost inputs the table declares (``policy.columns``) to ``rows``."""
    named, _ = table_cost_columns(cfg.policy.columns)
    horizon_days = cfg.policy.columns.horizon_days
    if named is None or horizon_days is None or cfg.dataset.table is None:
        return
    path = cfg.dataset.table.path
    for key, column in named.items():
        if column not in frame.columns:
            raise NsfError(f"policy.columns.{key}: column {column!r} is not in {path}")
        if any(column in spec.sources for spec in registry.usable):
            raise NsfError(f"policy.columns.{key}: column {column!r} of {path} is a model "
                           "feature; an outcome cannot be one (list it in "
                           "dataset.table.exclude_columns)")
    try:
        inputs = cost_inputs(frame, named, horizon_days)
    except ValueError as exc:
        raise NsfError(f"policy.columns ({path}): {exc}") from None
    for key, column in ROW_COLUMNS.items():
        rows[column] = getattr(inputs, key)


def _with_coarse(description: DatasetDescription, registry: FeatureRegistry) -> \
        DatasetDescription:
    """The description with each group's coarse flag as the registry has it."""
    coarse = {s.group for s in registry.usable if s.coarsen != "none"}
    groups = tuple(g.model_copy(update={"coarse": g.name in coarse})
                   for g in description.groups)
    return description.model_copy(update={"groups": groups})


def _band_labels(edges: np.ndarray) -> list[str]:
    last = edges.size - 2
    return [f"[{edges[i]:g}, {edges[i + 1]:g}{']' if i == last else ')'}"
            for i in range(edges.size - 1)]


#: The fairness group of a sensitive column's pooled rare levels.
POOLED_LEVELS = "(pooled rare levels)"


def fairness_groups(raw: pd.DataFrame, description: DatasetDescription) -> pd.DataFrame:
    """The sensitive columns as groups for the fairness tables.

    Numeric columns are cut into ``bands`` quantile bands (labelled by their edges; fewer when
    values tie), missing values become '(missing)', and levels with fewer than
    ``description.rare_level_rows`` rows are pooled into '(pooled rare levels)' (named so it
    cannot be taken for a level of the data such as 'Other'). Columns not declared
    sensitive are kept as they are (the simulator's raw age, for the audit).
    """
    out = raw.reset_index(drop=True).copy()
    for col in description.sensitive:
        values = out[col.name]
        if col.kind == "numeric":
            numbers = pd.to_numeric(values, errors="coerce")
            finite = numbers.dropna().to_numpy(dtype=np.float64)
            edges = np.unique(np.quantile(finite, np.linspace(0, 1, (col.bands or 4) + 1))) \
                if finite.size else np.array([0.0])
            if edges.size < 2:
                text = numbers.map(lambda x: "(missing)" if pd.isna(x) else f"{x:g}")
            else:
                codes = np.clip(np.searchsorted(edges, numbers.to_numpy(dtype=np.float64),
                                                side="right") - 1, 0, edges.size - 2)
                labels = np.asarray(_band_labels(edges), dtype=object)
                text = pd.Series(labels[codes], index=values.index)
                text[numbers.isna()] = "(missing)"
        else:
            text = values.astype(object).where(values.notna(), "(missing)").astype(str)
        if description.rare_level_rows > 0:
            counts = text.value_counts()
            rare = counts.index[counts < description.rare_level_rows]
            if len(rare) and len(rare) < len(counts):
                text = text.where(~text.isin(rare), POOLED_LEVELS)
        out[col.name] = text.astype(object)
    return out


def prepare(cfg: ExperimentConfig, dataset: Dataset | None = None, *,
            latents: bool = False, sample_subjects: int | None = None) -> PreparedData:
    """Read the configured dataset once, label and split its rows.

    Parameters
    ----------
    cfg : the experiment config (dataset, target, split, features.contested_groups, seed).
    dataset : an opened simulated dataset (default: ``cfg.dataset.path``); ignored for
        ``dataset.kind: table``.
    latents : also load the simulator's latent traits into ``frame`` (pipeline checks only).
    sample_subjects : read only a stratified sample of this many subjects, all their rows
        (the study's ``study.sample_subjects``; :func:`stratified_subjects`).

    Raises
    ------
    NsfError
        One line: no or invalid dataset, a table that does not match its declaration, too few
        dates for the split, no positive label in the training or test rows.
    """
    if cfg.dataset.kind == "table":
        if latents:
            raise NsfError("latent traits exist only in simulated datasets")
        prepared = _prepare_table(cfg, sample_subjects)
    else:
        prepared = _prepare_simulated(cfg, dataset or default_dataset(cfg), latents,
                                      sample_subjects)
    for name, idx in (("training", prepared.train_index),
                      ("validation", prepared.validation_index),
                      ("test", prepared.test_index)):
        if idx.size == 0:
            raise NsfError(f"{prepared.source}: no {name} rows ({prepared.split_note})")
    return prepared
