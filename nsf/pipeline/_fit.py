"""Stage 2: fit one model variant."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from nsf.config import ModelConfig
from nsf.errors import NsfError
from nsf.features import FeatureSelection, extra_specs, select_features
from nsf.models import FittedModel, fit_model
from nsf.pipeline._prepare import PreparedData
from nsf.streams import stream

__all__ = ["FeatureSelection", "TrainingResample", "fit_variant", "nested_subjects",
           "predict_proba"]


@dataclass(frozen=True)
class TrainingResample:
    """How one seed re-draws the training subjects (``study.training_resample``).

    Attributes
    ----------
    kind : ``bootstrap`` (each subject's rows are repeated a Poisson(1) number of times: a
        bootstrap of subjects whose draw for one subject does not depend on which other
        subjects a variant trains on) or ``subsample`` (each subject kept with probability
        ``fraction``).
    fraction : share of subjects kept by ``subsample``.
    """

    kind: Literal["bootstrap", "subsample"]
    fraction: float = 0.5

    def __post_init__(self):
        if self.kind not in ("bootstrap", "subsample"):
            raise ValueError(f"kind must be 'bootstrap' or 'subsample' (got {self.kind!r})")
        if not 0.0 < self.fraction < 1.0:
            raise ValueError(f"fraction must be in (0, 1) (got {self.fraction!r})")

    def row_weights(self, subjects: np.ndarray, seed: int) -> np.ndarray:
        """How many times each row enters the seed's training sample (0: left out).

        ``subjects`` holds every row's subject; all rows of a subject get its one draw. The
        draw comes from a stream named by ``seed`` over the sorted distinct subjects, so every
        variant trained with ``seed`` on the same data gets the same draw (paired).
        """
        if seed is None:
            raise ValueError("a training resample needs a seed")
        n_subjects, inverse = _subject_index(subjects)
        rng = stream(seed, "training-resample")
        if self.kind == "bootstrap":
            per_subject = rng.poisson(1.0, size=n_subjects)
        else:
            per_subject = (rng.random(n_subjects) < self.fraction).astype(np.int64)
        return per_subject[inverse]

    def describe(self) -> str:
        if self.kind == "bootstrap":
            return "bootstrap of subjects (Poisson(1) copies each)"
        return f"subsample of subjects ({self.fraction:g} of them)"


#: The last subject indexes of :func:`_subject_index` (every fit of a study asks for the same).
_SUBJECT_INDEX: dict[str, tuple[int, np.ndarray]] = {}


def _subject_index(subjects: np.ndarray) -> tuple[int, np.ndarray]:
    """Number of distinct subjects, and each row's position among them (sorted): computed once
    per process for the same subjects."""
    values = np.ascontiguousarray(subjects)
    if values.dtype.hasobject:  # text identifiers of a user's table: no byte key
        uniq, inverse = np.unique(values, return_inverse=True)
        return int(uniq.size), inverse.ravel()
    key = f"{values.dtype.str}:{values.shape}:" + hashlib.sha1(values.tobytes()).hexdigest()
    hit = _SUBJECT_INDEX.get(key)
    if hit is None:
        uniq, inverse = np.unique(values, return_inverse=True)
        hit = (int(uniq.size), inverse.ravel())
        hit[1].setflags(write=False)
        _SUBJECT_INDEX.clear()  # one dataset at a time
        _SUBJECT_INDEX[key] = hit
    return hit


def nested_subjects(prepared: PreparedData, rows: np.ndarray, n: int, seed: int) -> np.ndarray:
    """The rows of ``n`` subjects drawn from those of ``rows``, nested in ``n`` for one seed.

    The subjects (``rows['user_id']``) of ``rows`` are put in one random order derived from
    ``seed``; the first ``n`` are kept, so for the same seed a smaller sample is a subset of a
    larger one (a learning curve's nested subsamples). Returns the kept positions, sorted.
    """
    users = prepared.rows["user_id"].to_numpy()[rows]
    uniq = np.unique(users)
    if not 1 <= n <= uniq.size:
        raise ValueError(f"{n} subjects requested, the rows hold {uniq.size}")
    order = stream(seed, "subject-subsample").permutation(uniq.size)
    return rows[np.isin(users, uniq[np.sort(order[:n])])]


def fit_variant(prepared: PreparedData, selection: FeatureSelection, model_cfg: ModelConfig,
                seed: int, *, population: str | None = None,
                label: str | None = None, train_subjects: int | None = None,
                resample: TrainingResample | None = None) -> FittedModel:
    """Fit the model of ``model_cfg`` on the features ``selection`` keeps.

    The estimator learns on the training rows of ``population`` with ``label``; the calibrator
    learns on the validation rows of the evaluation population (Apple-registered users,
    ``nsf_appstore``), so that whatever the training rows, the output is a calibrated
    P(grouped App Store charge fails) and scores of different variants mean the same thing.

    Parameters
    ----------
    prepared : from :func:`prepare`.
    selection : which groups are dropped or coarsened, the retention window, extra features.
    model_cfg : family, hyper-parameters, calibration.
    seed : the estimator's seed (the experiment seed or a replicate's).
    population : 'apple' or 'all' training rows (default: ``prepared.target.population``).
    label : 'nsf_appstore' or 'nsf_any' (default: ``prepared.target.label``).
    train_subjects : learn on the rows of this many training subjects only
        (:func:`nested_subjects` with ``seed``; None: every training subject).
    resample : re-draw the training and calibration subjects with ``seed``
        (:class:`TrainingResample`; applied after ``train_subjects``); None: the rows as they
        are, only the estimator's seed changes.

    Raises
    ------
    NsfError
        If the selection names unknown groups or sensitive columns, keeps no feature, or the
        training rows hold one class only.
    """
    if seed is None:
        raise NsfError("fit_variant needs a seed")
    label = prepared.target.label if label is None else label
    if label not in ("nsf_appstore", "nsf_any"):
        raise NsfError(f"label must be 'nsf_appstore' or 'nsf_any' (got {label!r})")
    missing = [c for c in selection.sensitive if c not in prepared.frame.columns]
    if missing:
        raise NsfError(f"sensitive features {missing} are not in the data (has: "
                       f"{list(prepared.sensitive.columns)})")
    if selection.latents and not prepared.latents:
        raise NsfError("selection.latents needs prepare(..., latents=True)")
    specs, groups = extra_specs(selection.sensitive, selection.latents,
                                 prepared.sensitive_kinds())
    registry = prepared.registry.extended(specs, groups) if specs else prepared.registry
    try:
        chosen = select_features(registry, selection)
    except ValueError as exc:
        raise NsfError(str(exc)) from None
    train = prepared.rows_for("train", population)
    if train_subjects is not None:
        try:
            train = nested_subjects(prepared, train, int(train_subjects), seed)
        except ValueError as exc:
            raise NsfError(f"train_subjects: {exc}") from None
    validation = prepared.validation_index
    frame, rows = prepared.frame, prepared.rows
    if resample is not None:
        weights = resample.row_weights(rows["user_id"].to_numpy(), seed)
        train = np.repeat(train, weights[train])
        validation = np.repeat(validation, weights[validation])
    info = {
        "population": population or prepared.target.population, "label": label,
        "require_charge": prepared.target.require_charge, "train_rows": int(train.size),
        "train_subjects": None if train_subjects is None else int(train_subjects),
        "validation_rows": int(validation.size), "split": prepared.split_note,
        "training_resample": None if resample is None else resample.describe(),
        "selection": selection.describe(), "dataset_digest": prepared.digest,
    }
    try:
        return fit_model(
            frame.iloc[train], rows[label].to_numpy()[train], frame.iloc[validation],
            rows["nsf_appstore"].to_numpy()[validation], chosen, model_cfg, seed,
            coarsen_groups=selection.coarsen_groups, info=info)
    except ValueError as exc:
        drawn = "" if resample is None else f" (seed {seed}'s {resample.describe()})"
        raise NsfError(f"{prepared.source}: {exc}{drawn}") from None


def predict_proba(fitted: FittedModel, frame: pd.DataFrame) -> np.ndarray:
    """Calibrated P(NSF) of raw rows (a frame with ``fitted.input_columns``)."""
    return fitted.predict_proba(frame)

