"""The three model families on the encoded feature matrix, and the calibrators."""

from __future__ import annotations

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from nsf.config import ModelConfig
from nsf.streams import model_seed


def make_estimator(cfg: ModelConfig, categorical_mask: np.ndarray, seed: int):
    """An unfitted estimator of ``cfg.kind`` for a float matrix whose categorical columns hold
    integer codes (NaN missing).
    """
    cat_idx = np.flatnonzero(categorical_mask).tolist()
    num_idx = np.flatnonzero(~categorical_mask).tolist()
    rs = model_seed(seed)
    if cfg.kind == "lightgbm":
        import lightgbm as lgb

        lgbm = cfg.lightgbm
        return lgb.LGBMClassifier(
            objective="binary", n_estimators=lgbm.n_estimators, learning_rate=lgbm.learning_rate,
            num_leaves=lgbm.num_leaves, min_child_samples=lgbm.min_child_samples,
            subsample=lgbm.subsample, subsample_freq=lgbm.subsample_freq,
            colsample_bytree=lgbm.colsample_bytree, reg_lambda=lgbm.reg_lambda, random_state=rs,
            n_jobs=cfg.num_threads, force_row_wise=True, verbose=-1,
            deterministic=True,
        ), {"categorical_feature": cat_idx or "auto"}
    if cfg.kind == "hist_gb":
        from sklearn.ensemble import HistGradientBoostingClassifier

        hgb = cfg.hist_gb
        return HistGradientBoostingClassifier(
            max_iter=hgb.max_iter, learning_rate=hgb.learning_rate,
            max_leaf_nodes=hgb.max_leaf_nodes, min_samples_leaf=hgb.min_samples_leaf,
            l2_regularization=hgb.l2_regularization,
            categorical_features=categorical_mask if cat_idx else None,
            early_stopping=False, random_state=rs,
        ), {}
    if cfg.kind == "logistic":
        logit = cfg.logistic
        parts: list[tuple[str, Pipeline, list[int]]] = []
        if num_idx:
            parts.append(("numeric", make_pipeline(SimpleImputer(strategy="median"),
                                                   StandardScaler()), num_idx))
        if cat_idx:
            parts.append(("categorical", make_pipeline(
                SimpleImputer(strategy="constant", fill_value=-1.0),
                OneHotEncoder(handle_unknown="ignore", sparse_output=False)), cat_idx))
        return Pipeline([
            ("columns", ColumnTransformer(parts)),
            ("logistic", LogisticRegression(C=logit.C, max_iter=logit.max_iter, random_state=rs)),
        ]), {}
    raise ValueError(f"unknown model kind {cfg.kind!r}")


_EPS = 1e-6
#: Calibrated probabilities are kept inside [P_FLOOR, 1 - P_FLOOR]: an isotonic step fitted on a
#: few thousand validation rows can reach exactly 0 or 1, which no finite sample supports and
#: which would make the log-loss of a single surprise infinite.
P_FLOOR = 1e-4


class Calibrator:
    """Map raw model probabilities to calibrated ones, fitted on validation rows.

    Parameters
    ----------
    method : ``isotonic``, ``sigmoid`` (Platt scaling on the log-odds) or ``none``.
    """

    def __init__(self, method: str = "isotonic"):
        self.method = method

    def fit(self, p_raw: np.ndarray, y: np.ndarray) -> Calibrator:
        p_raw = np.asarray(p_raw, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        if self.method == "isotonic":
            iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(p_raw, y)
            # Store the step function itself: np.interp is the fastest way to apply it.
            self.x_ = np.asarray(iso.X_thresholds_, dtype=np.float64)
            self.y_ = np.asarray(iso.y_thresholds_, dtype=np.float64)
        elif self.method == "sigmoid":
            z = _logit(p_raw).reshape(-1, 1)
            lr = LogisticRegression(C=1e6, max_iter=1000).fit(z, y)
            self.a_ = float(lr.coef_[0, 0])
            self.b_ = float(lr.intercept_[0])
        elif self.method != "none":
            raise ValueError(f"unknown calibration {self.method!r}")
        return self

    def transform(self, p_raw: np.ndarray) -> np.ndarray:
        p_raw = np.asarray(p_raw, dtype=np.float64)
        if self.method == "isotonic":
            p = np.interp(p_raw, self.x_, self.y_)
        elif self.method == "sigmoid":
            p = 1.0 / (1.0 + np.exp(-(self.a_ * _logit(p_raw) + self.b_)))
        else:
            p = p_raw
        return np.clip(p, P_FLOOR, 1.0 - P_FLOOR)

    def describe(self) -> dict:
        if self.method == "isotonic":
            return {"method": "isotonic", "n_steps": int(self.x_.size)}
        if self.method == "sigmoid":
            return {"method": "sigmoid", "slope": self.a_, "intercept": self.b_}
        return {"method": "none"}


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, _EPS, 1 - _EPS)
    return np.log(p / (1 - p))
