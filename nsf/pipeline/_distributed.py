"""The baseline trained across a Dask cluster (``model.distributed: true``).

The estimator's training rows are never gathered in this process: they form a Dask dataframe
whose partitions the workers read from the simulated dataset's Parquet files (one feed file and
its outcomes file per partition), keep the training rows of (same rule as
:func:`nsf.pipeline.prepare`'s split) and encode with the encoder this process learned;
``lightgbm.dask.DaskLGBMClassifier`` trains on them across the workers. Calibration and
evaluation use the validation and test rows prepared here (``model.sample_subjects`` keeps
that small). The model logged is a plain ``LGBMClassifier`` (``to_local()``) behind the same
integer-coded pipeline as a local fit, so it scores like any other.

Distributed LightGBM is not bit-identical to a local fit: each worker bins its own rows and the
histograms are summed over the network, so split points and hence scores differ slightly (the
tests check that the AUC is close, and that the same seed, data and worker count give the same
model).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from nsf.config import ExperimentConfig
from nsf.data import Dataset
from nsf.errors import NsfError
from nsf.features import FeatureSelection, select_features
from nsf.models import Calibrator, FeatureEncoder, FittedModel, make_estimator
from nsf.pipeline._prepare import KEYS, PreparedData, _user_permutation

#: Label column of the Dask dataframe (the features are ``Column_<j>``, as LightGBM names the
#: columns of a matrix, so the booster is the same kind of object as a local fit's).
_LABEL = "label"


@dataclass(frozen=True)
class TrainingRule:
    """Which rows of the whole dataset are training rows (the split of :func:`prepare`)."""

    train_days: tuple[int, ...]
    validation_users: np.ndarray | None
    population: str
    require_charge: bool
    label: str


def training_rule(cfg: ExperimentConfig, dataset: Dataset) -> TrainingRule:
    """The training rows of ``dataset`` under ``cfg.split``, as :func:`assign_split` draws
    them on the whole dataset (validation users: from every user id of the dataset).

    Raises
    ------
    NsfError
        A split by users (distributed training needs an out-of-time split), or too few dates.
    """
    split = cfg.split
    if split.kind == "user":
        raise NsfError("model.distributed needs an out-of-time split (split.kind: time or "
                       "auto); the training rows are chosen by date on the workers")
    days = np.unique(np.array(dataset.observation_dates, dtype="datetime64[D]").astype(np.int64))
    if days.size <= split.test_dates:
        raise NsfError(f"split.test_dates={split.test_dates} but the data has only {days.size} "
                       "observation dates; nothing is left to train on")
    rest = days[:-split.test_dates]
    mode = split.validation
    if mode == "auto":
        mode = "dates" if rest.size > split.validation_dates else "users"
    users = None
    if mode == "dates":
        if rest.size <= split.validation_dates:
            raise NsfError("split.validation='dates' needs more observation dates; use "
                           "split.validation: users")
        train = rest[:-split.validation_dates]
    else:
        train = rest
        ids, _ = dataset.subject_labels(cfg.target.label)
        perm = _user_permutation(ids, cfg.seed)
        users = np.sort(perm[:round(split.validation_fraction * perm.size)])
    return TrainingRule(tuple(int(d) for d in train), users, cfg.target.population,
                        cfg.target.require_charge, cfg.target.label)


def _training_part(pair: tuple[str, str], encoder: FeatureEncoder,
                   rule: TrainingRule) -> pd.DataFrame:
    """One partition: the training rows of a feed file and its outcomes file, encoded."""
    feed_file, outcomes_file = pair
    columns = list(dict.fromkeys([*KEYS, "apple_registered", *encoder_columns(encoder)]))
    feed = pq.read_table(feed_file, columns=columns)
    outcomes = pq.read_table(outcomes_file, columns=[*KEYS, rule.label, "n_charge_attempts"])
    by_key = [(k, "ascending") for k in KEYS]
    feed = feed.take(pc.sort_indices(feed, sort_keys=by_key))
    outcomes = outcomes.take(pc.sort_indices(outcomes, sort_keys=by_key))
    if not (feed.select(KEYS).equals(outcomes.select(KEYS))):
        raise ValueError(f"{feed_file} and {outcomes_file} do not hold the same rows")
    days = feed["observation_date"].cast(pa.int32()).to_numpy().astype(np.int64)
    mask = np.isin(days, np.asarray(rule.train_days, dtype=np.int64))
    if rule.validation_users is not None:
        mask &= ~np.isin(feed["user_id"].to_numpy(), rule.validation_users)
    if rule.population == "apple":
        mask &= feed["apple_registered"].to_numpy(zero_copy_only=False).astype(bool)
    if rule.require_charge:
        mask &= outcomes["n_charge_attempts"].to_numpy() > 0
    rows = feed.filter(pa.array(mask))
    X = encoder.transform(rows)
    part = pd.DataFrame(X, columns=[f"Column_{j}" for j in range(X.shape[1])])
    part[_LABEL] = outcomes[rule.label].to_numpy()[mask].astype(np.int8)
    return part


def encoder_columns(encoder: FeatureEncoder) -> list[str]:
    from nsf.features import required_columns

    return required_columns(encoder.specs)


def training_frame(dataset: Dataset, encoder: FeatureEncoder, rule: TrainingRule):
    """The training rows of the whole dataset as a Dask dataframe (one partition per feed
    file, read on the workers when computed)."""
    import dask.dataframe as dd

    feed = dataset.manifest["tables"]["feed"]["files"]
    outcomes = dataset.manifest["tables"]["outcomes"]["files"]
    if len(feed) != len(outcomes):
        raise NsfError(f"{dataset.path}: the feed and outcomes tables have different files")
    pairs = [(str(dataset.path / f), str(dataset.path / o)) for f, o in
             zip(sorted(feed), sorted(outcomes), strict=True)]
    n = len(encoder.specs)
    meta = pd.DataFrame({**{f"Column_{j}": pd.Series(dtype=np.float32) for j in range(n)},
                         _LABEL: pd.Series(dtype=np.int8)})
    return dd.from_map(_training_part, pairs, encoder=encoder, rule=rule, meta=meta,
                       enforce_metadata=False)


def fit_distributed(cfg: ExperimentConfig, prepared: PreparedData, dataset: Dataset,
                    client) -> FittedModel:
    """The configured baseline (LightGBM) trained on every training row of ``dataset`` across
    the Dask cluster of ``client``; calibrated on ``prepared``'s validation rows.

    Raises
    ------
    NsfError
        A model other than LightGBM, a split by users, or training rows of one class only.
    """

    model_cfg = cfg.model
    if model_cfg.kind != "lightgbm":
        raise NsfError(f"model.distributed trains LightGBM (lightgbm.dask); model.kind is "
                       f"{model_cfg.kind!r}")
    selection = FeatureSelection.from_config(cfg.features)
    try:
        chosen = select_features(prepared.registry, selection)
    except ValueError as exc:
        raise NsfError(str(exc)) from None
    rule = training_rule(cfg, dataset)
    # The category codes are learned on this process's training rows (the sample's, with
    # model.sample_subjects): levels only, the most frequent first.
    train = prepared.train_index
    encoder = FeatureEncoder(chosen, selection.coarsen_groups).fit(prepared.frame.iloc[train])
    missing = [c for c in encoder_columns(encoder)
               if c not in pq.read_schema(_first_feed(dataset)).names]
    if missing:
        raise NsfError(f"model.distributed reads the feed only; the features need {missing}")
    with client.as_current():  # the executor's client, not a process-wide default one
        return _fit_on_cluster(cfg, prepared, dataset, client, encoder, rule, selection)


def _fit_on_cluster(cfg, prepared, dataset, client, encoder, rule, selection) -> FittedModel:
    from lightgbm.dask import DaskLGBMClassifier

    model_cfg = cfg.model
    frame = client.persist(training_frame(dataset, encoder, rule))
    counts = client.compute(frame[_LABEL].value_counts()).result()
    if counts.size < 2:
        raise NsfError(f"{dataset.path}: the distributed training rows hold one class only")
    estimator, fit_kw = make_estimator(model_cfg, encoder.categorical_mask, cfg.seed)
    params = estimator.get_params()
    # Each worker trains with its own thread count (lightgbm.dask sets it from the worker).
    params.pop("n_jobs", None)
    distributed = DaskLGBMClassifier(client=client, **params)
    features = [c for c in frame.columns if c != _LABEL]
    with warnings.catch_warnings():
        # lightgbm.dask always passes the estimator's n_jobs (None here) and then warns that
        # it ignores it: each worker's thread count is used instead, as wanted.
        warnings.filterwarnings("ignore", message="Parameter n_jobs will be ignored",
                                category=UserWarning)
        distributed.fit(frame[features], frame[_LABEL], **fit_kw)
    local = distributed.to_local()
    n_train = int(counts.sum())
    info = {"population": rule.population, "label": rule.label,
            "require_charge": rule.require_charge, "train_rows": n_train,
            "train_subjects": None, "validation_rows": int(prepared.validation_index.size),
            "split": prepared.split_note, "selection": selection.describe(),
            "dataset_digest": prepared.digest,
            "distributed": {"workers": len(client.scheduler_info()["workers"]),
                            "partitions": int(frame.npartitions)}}
    fitted = FittedModel(encoder, local, Calibrator("none"), model_cfg, int(cfg.seed), info)
    validation = prepared.validation_index
    p_val = fitted.raw_proba(encoder.transform(prepared.frame.iloc[validation]))
    y_val = prepared.rows["nsf_appstore"].to_numpy()[validation]
    fitted.calibrator_ = Calibrator(model_cfg.calibration).fit(p_val, y_val)
    return fitted


def _first_feed(dataset: Dataset) -> Path:
    return dataset.path / dataset.manifest["tables"]["feed"]["files"][0]
