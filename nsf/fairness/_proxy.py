"""Proxy strength: how well a feature group alone predicts a sensitive attribute.

A feature group that predicts age or gender well above chance lets a model treat groups
differently even when the sensitive attribute itself is never an input.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import sklearn
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score, roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from threadpoolctl import threadpool_limits

from nsf.metrics import (
    ScoreCells,
    auc_from_class_weights,
    check_confidence,
    check_rng,
    iter_resample_counts,
    percentile_interval,
)

ESTIMATORS = ("hist_gradient_boosting", "logistic_regression")

#: HistGradientBoosting handles at most this many categories natively (its ``max_bins``).
_MAX_NATIVE_CATEGORIES = 255


@dataclass(frozen=True)
class ProxyStrength:
    """Cross-validated predictability of a sensitive attribute from a feature group.

    Attributes
    ----------
    metric : {"auc", "balanced_accuracy"}
        The headline measure: ROC AUC for a binary attribute, balanced accuracy otherwise.
    score, chance : float
        The headline measure and its chance level (0.5 for AUC, 1 / n_classes for balanced
        accuracy).
    auc, auc_chance : float
        ROC AUC (macro one-vs-rest for several classes) and its chance level, 0.5.
    balanced_accuracy, balanced_accuracy_chance : float
        Balanced accuracy of the prior-corrected prediction and its chance level.
    n_classes, n_samples, cv : int
    estimator : str
    score_lower, score_upper : float
        Bootstrap percentile interval of ``score`` over the rows (the out-of-fold predictions
        resampled within each class; the fitted folds are kept), NaN without resamples.
    """

    metric: str
    score: float
    chance: float
    auc: float
    auc_chance: float
    balanced_accuracy: float
    balanced_accuracy_chance: float
    n_classes: int
    n_samples: int
    cv: int
    estimator: str
    score_lower: float = np.nan
    score_upper: float = np.nan

    @property
    def lift(self) -> float:
        """``score - chance``: 0 for a feature group that carries no information."""
        return self.score - self.chance

    def to_dict(self) -> dict:
        return asdict(self) | {"lift": self.lift, "lift_lower": self.score_lower - self.chance,
                               "lift_upper": self.score_upper - self.chance}


def _encode(features: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Integer-code non-numeric columns (missing stays NaN); return the coded frame and the
    names of the categorical columns."""
    coded = {}
    categorical = []
    for column in features.columns:
        values = features[column]
        if pd.api.types.is_bool_dtype(values) or (
            pd.api.types.is_numeric_dtype(values)
            and not isinstance(values.dtype, pd.CategoricalDtype)
        ):
            coded[column] = values.astype(np.float64)
            continue
        codes = pd.Series(pd.Categorical(values).codes, index=values.index).astype(np.float64)
        coded[column] = codes.where(codes >= 0)
        categorical.append(column)
    return pd.DataFrame(coded, index=features.index), categorical


def _make_estimator(name: str, coded: pd.DataFrame, categorical: list[str], random_state: int):
    """The estimator of a proxy check, fitted on ``coded.to_numpy()`` (columns by position:
    the same arithmetic as on the frame, without pandas' per-call overhead)."""
    if name == "hist_gradient_boosting":
        native = [
            column for column in categorical if coded[column].nunique() <= _MAX_NATIVE_CATEGORIES
        ]
        # Beyond 255 categories the codes are used as an (arbitrary) ordered feature.
        mask = np.array([column in native for column in coded.columns])
        return HistGradientBoostingClassifier(
            max_iter=100,
            max_leaf_nodes=15,
            categorical_features=mask if mask.any() else None,
            early_stopping=False,
            random_state=random_state,
        )
    numeric = [i for i, column in enumerate(coded.columns) if column not in categorical]
    nominal = [i for i, column in enumerate(coded.columns) if column in categorical]
    transformer = ColumnTransformer(
        [
            (
                "numeric",
                make_pipeline(SimpleImputer(strategy="median"), StandardScaler()),
                numeric,
            ),
            (
                "categorical",
                make_pipeline(
                    SimpleImputer(strategy="constant", fill_value=-1),
                    OneHotEncoder(handle_unknown="ignore"),
                ),
                nominal,
            ),
        ]
    )
    return make_pipeline(transformer, LogisticRegression(max_iter=2_000))


def proxy_strength(
    X_group: pd.DataFrame,
    sensitive: pd.Series,
    *,
    rng: np.random.Generator,
    cv: int = 3,
    estimator: str = "hist_gradient_boosting",
    n_threads: int | None = None,
    n_resamples: int = 200,
    confidence: float = 0.95,
) -> ProxyStrength:
    """How well a feature group alone predicts a sensitive attribute, against chance.

    Out-of-fold class probabilities come from stratified ``cv``-fold cross-validation of a
    small scikit-learn classifier trained on ``X_group`` only; the measures are computed on all
    out-of-fold predictions together.

    Parameters
    ----------
    X_group : pandas.DataFrame
        The features of one attribute group. Numeric and boolean columns are used as they are;
        other columns (strings, categoricals) are integer-coded and treated as categorical.
        Missing values are allowed.
    sensitive : pandas.Series
        The sensitive attribute (e.g. age band), no missing values, same length as ``X_group``.
    rng : numpy.random.Generator
        Seeds the fold split and the estimator.
    cv : int, default=3
        Number of folds; every class needs at least ``cv`` rows.
    estimator : {"hist_gradient_boosting", "logistic_regression"}, default="hist_gradient_boosting"
        Gradient boosting captures non-linear proxies; logistic regression (one-hot
        categoricals, standardised numerics) is faster and shows linear ones.
    n_threads : int, optional
        Cap on the OpenMP/BLAS threads used while fitting (via ``threadpoolctl``), e.g. 1 when
        several proxy checks or study workers run in parallel: oversubscribed OpenMP threads
        can make gradient boosting on small data many times slower. ``None`` leaves the
        libraries' defaults.
    n_resamples : int, default=200
        Bootstrap replicates of the score's interval (0: no interval). Rows are resampled
        within each class, so every replicate keeps the class sizes; the interval covers the
        sampling of the rows, not the refitting of the folds.
    confidence : float, default=0.95

    Returns
    -------
    ProxyStrength
        For a binary attribute the headline is ROC AUC (chance 0.5); for several classes it is
        balanced accuracy (chance ``1 / n_classes``), with macro one-vs-rest AUC also reported.
        Balanced accuracy predicts the class maximising ``P(class | x) / P(class)``, which
        suits the balanced measure better than the most probable class; without it a skewed
        attribute would look unpredictable because the majority class always wins.
    """
    if not isinstance(X_group, pd.DataFrame) or X_group.shape[1] == 0:
        raise ValueError("X_group must be a pandas DataFrame with at least one column")
    if not isinstance(sensitive, pd.Series):
        raise ValueError(f"sensitive must be a pandas Series, got {type(sensitive).__name__}")
    if len(sensitive) != len(X_group):
        raise ValueError(f"sensitive has {len(sensitive)} rows but X_group has {len(X_group)}")
    if sensitive.isna().any():
        raise ValueError("sensitive has missing values; code them as a class first")
    if isinstance(cv, bool) or not isinstance(cv, int | np.integer) or cv < 2:
        raise ValueError(f"cv must be an integer >= 2, got {cv!r}")
    if n_threads is not None and (
        isinstance(n_threads, bool) or not isinstance(n_threads, int | np.integer) or n_threads < 1
    ):
        raise ValueError(f"n_threads must be None or an integer >= 1, got {n_threads!r}")
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {list(ESTIMATORS)}, got {estimator!r}")
    check_rng(rng)
    classes, target = np.unique(sensitive.to_numpy(), return_inverse=True)
    n_classes = classes.size
    if n_classes < 2:
        raise ValueError("sensitive holds one class only; there is nothing to predict")
    class_counts = np.bincount(target, minlength=n_classes)
    if class_counts.min() < cv:
        raise ValueError(
            f"every class of sensitive needs at least cv={cv} rows; class "
            f"{classes[class_counts.argmin()]!r} has {class_counts.min()}"
        )

    if isinstance(n_resamples, bool) or not isinstance(n_resamples, int | np.integer) \
            or n_resamples < 0:
        raise ValueError(f"n_resamples must be an integer >= 0, got {n_resamples!r}")
    confidence = check_confidence(confidence)
    split_seed, model_seed = (int(seed) for seed in rng.integers(0, 2**32 - 1, size=2))
    coded, categorical = _encode(X_group.reset_index(drop=True))
    model = _make_estimator(estimator, coded, categorical, model_seed)
    folds = StratifiedKFold(n_splits=cv, shuffle=True, random_state=split_seed)
    # Validation skipped inside the folds: the matrix is checked float64 (NaN allowed) here, and
    # scikit-learn would re-check it in every transformer of every fold (most of a small
    # check's time); the arithmetic is the same.
    with threadpool_limits(limits=n_threads), \
            sklearn.config_context(skip_parameter_validation=True):
        proba = cross_val_predict(model, coded.to_numpy(dtype=np.float64), target, cv=folds,
                                  method="predict_proba")

    prior = class_counts / class_counts.sum()
    predicted = np.argmax(proba / prior, axis=1)
    balanced = float(balanced_accuracy_score(target, predicted))
    if n_classes == 2:
        auc = float(roc_auc_score(target, proba[:, 1]))
    else:
        auc = float(roc_auc_score(target, proba, multi_class="ovr", average="macro"))
    binary = n_classes == 2
    lower = upper = np.nan
    if n_resamples:
        # Drawn after the folds' seeds, so the point values do not depend on n_resamples.
        boot = np.random.default_rng(int(rng.integers(0, 2**63 - 1)))
        if binary:
            replicates = _auc_replicates(target, proba[:, 1], n_resamples, boot)
        else:
            replicates = _balanced_accuracy_replicates(target, predicted, n_classes,
                                                       n_resamples, boot)
        lower, upper = percentile_interval(replicates, confidence)
    return ProxyStrength(
        metric="auc" if binary else "balanced_accuracy",
        score=auc if binary else balanced,
        chance=0.5 if binary else 1.0 / n_classes,
        auc=auc,
        auc_chance=0.5,
        balanced_accuracy=balanced,
        balanced_accuracy_chance=1.0 / n_classes,
        n_classes=int(n_classes),
        n_samples=int(target.size),
        cv=int(cv),
        estimator=estimator,
        score_lower=lower,
        score_upper=upper,
    )


def _auc_replicates(target: np.ndarray, score: np.ndarray, n_resamples: int,
                    rng: np.random.Generator) -> np.ndarray:
    cells = ScoreCells(target, score)
    return np.concatenate([
        auc_from_class_weights(*cells.counts(counts))
        for counts in iter_resample_counts(target, n_resamples=n_resamples, rng=rng)])


def _balanced_accuracy_replicates(target: np.ndarray, predicted: np.ndarray, n_classes: int,
                                  n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    correct = (predicted == target).astype(np.float64)
    member = np.eye(n_classes)[target]  # (n, classes)
    out = []
    for counts in iter_resample_counts(target, n_resamples=n_resamples, rng=rng):
        recall = (counts * correct) @ member / (counts @ member)
        out.append(recall.mean(axis=1))
    return np.concatenate(out)
