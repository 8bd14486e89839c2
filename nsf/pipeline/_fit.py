"""Stage 2: fit one model variant."""

from __future__ import annotations

import numpy as np
import pandas as pd

from nsf.config import ModelConfig
from nsf.errors import NsfError
from nsf.features import FeatureSelection, extra_specs, select_features
from nsf.models import FittedModel, fit_model
from nsf.pipeline._prepare import PreparedData

__all__ = ["FeatureSelection", "fit_variant", "nested_subjects", "predict_proba"]


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
    order = np.random.default_rng(np.random.SeedSequence([int(seed), 0x5B5A])).permutation(
        uniq.size)
    return rows[np.isin(users, uniq[np.sort(order[:n])])]


def fit_variant(prepared: PreparedData, selection: FeatureSelection, model_cfg: ModelConfig,
                seed: int, *, population: str | None = None,
                label: str | None = None, train_subjects: int | None = None) -> FittedModel:
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
    info = {
        "population": population or prepared.target.population, "label": label,
        "require_charge": prepared.target.require_charge, "train_rows": int(train.size),
        "train_subjects": None if train_subjects is None else int(train_subjects),
        "validation_rows": int(validation.size), "split": prepared.split_note,
        "selection": selection.describe(), "dataset_digest": prepared.digest,
    }
    try:
        return fit_model(
            frame.iloc[train], rows[label].to_numpy()[train], frame.iloc[validation],
            rows["nsf_appstore"].to_numpy()[validation], chosen, model_cfg, seed,
            coarsen_groups=selection.coarsen_groups, info=info)
    except ValueError as exc:
        raise NsfError(f"{prepared.source}: {exc}") from None


def predict_proba(fitted: FittedModel, frame: pd.DataFrame) -> np.ndarray:
    """Calibrated P(NSF) of raw rows (a frame with ``fitted.input_columns``)."""
    return fitted.predict_proba(frame)

