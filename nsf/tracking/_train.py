"""Logging a trained model's run: params, tags, metrics, artifacts, native model and scorer.

Used by ``nsf train`` (``nsf.role=train``) and by the study (``study``/``variant`` runs), so
every run carries the same keys and lines up in the UI's compare view.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version

import numpy as np
import pandas as pd
import yaml

from nsf.config import ExperimentConfig, config_to_yaml, flatten
from nsf.tracking._store import experiment_id, git_commit

#: Names of the logged models inside a run.
SCORER_NAME = "model"
_SKOPS_TRUSTED = [
    "numpy.dtype",  # SimpleImputer / OneHotEncoder parameters (logistic pipeline)
    "functools.partial", "sklearn.utils.validation.check_array",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",  # HistGradientBoosting
]
NATIVE_NAME = "native_model"


#: The dataset description's artifact name in every train and study parent run.
DESCRIPTION_ARTIFACT = "dataset_description.json"


def _requirements() -> list[str]:
    # Explicit requirements: MLflow's inference would re-load the model in a subprocess (slow).
    out = []
    for pkg in ("mlflow", "lightgbm", "scikit-learn", "pandas", "numpy", "pyarrow", "pydantic"):
        try:
            out.append(f"{pkg}=={version(pkg)}")
        except PackageNotFoundError:
            out.append(pkg)
    return out


@contextmanager
def tracked_run(cfg: ExperimentConfig, *, role: str, variant: str, seed: int, model: str,
                run_name: str | None = None, nested: bool = False,
                tags: dict[str, str] | None = None) -> Iterator[str]:
    """An MLflow run in the experiment ``cfg.name``; yields its id.

    A failure inside the block marks the run FAILED (MLflow's run context), never RUNNING.
    Tags ``nsf.role``, ``nsf.variant``, ``nsf.seed``, ``nsf.model`` and ``nsf.git_commit`` are
    set here; ``nsf.dataset_digest`` by :func:`log_trained_model` once the data is read.
    """
    import mlflow

    exp = experiment_id(cfg.tracking, cfg.name)
    all_tags = {"nsf.role": role, "nsf.variant": variant, "nsf.seed": str(seed),
                "nsf.model": model, "nsf.git_commit": git_commit(), **(tags or {})}
    with mlflow.start_run(experiment_id=exp, run_name=run_name or f"{role}-{variant}-{seed}",
                          nested=nested, tags=all_tags) as run:
        yield run.info.run_id


def config_params(cfg: ExperimentConfig) -> dict[str, str]:
    """The resolved config flattened to ``section.field`` params (secrets masked)."""
    flat = flatten(cfg.model_dump(mode="json"))
    return {k: ("null" if v is None else str(v)) for k, v in flat.items()}


def log_config(cfg: ExperimentConfig) -> None:
    """Flattened config as params and the resolved YAML as ``config.yaml``."""
    import mlflow

    mlflow.log_params(config_params(cfg))
    mlflow.log_text(config_to_yaml(cfg), "config.yaml")


def log_description(description) -> None:
    """Log the dataset description into the active run (``dataset_description.json``), so a
    report regenerated later reads what the run saw, not what the current code would derive."""
    import mlflow

    if description is not None:
        mlflow.log_text(description.to_json(), DESCRIPTION_ARTIFACT)


#: Rows in the scorer's input example.
EXAMPLE_ROWS = 5


def _pseudonyms(example: pd.DataFrame, columns: list[str]) -> None:
    """Replace the values of ``columns`` by ``id-1``, ``id-2``, ... (one per distinct value
    across them), so equal values stay equal and nothing of the originals is kept."""
    names: dict[object, str] = {}
    for c in columns:
        example[c] = [None if pd.isna(v) else names.setdefault(v, f"id-{len(names) + 1}")
                      for v in example[c]]


def _synthetic(example: pd.DataFrame, column: str, spec, fitted) -> None:
    """A user's table column replaced by synthetic values: numbers evenly spaced over the
    sample's range (whole numbers stay whole), categories the model's own most frequent levels
    in turn, so no value is copied from a row."""
    values = example[column]
    n = len(values)
    if spec.kind == "categorical":
        levels = (getattr(fitted.encoder, "levels_", {}) or {}).get(spec.name) or []
        if not levels or pd.api.types.is_bool_dtype(values):
            return
        fill = pd.Series([levels[i % min(len(levels), 3)] for i in range(n)], dtype=object)
        if pd.api.types.is_numeric_dtype(values):  # integer codes: levels are their text
            numbers = pd.to_numeric(fill, errors="coerce")
            if numbers.notna().all():
                example[column] = numbers.astype(values.dtype).to_numpy()
            return
        example[column] = fill.to_numpy()
        return
    if pd.api.types.is_bool_dtype(values) or not pd.api.types.is_numeric_dtype(values):
        return
    finite = values.to_numpy(dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return
    grid = np.linspace(finite.min(), finite.max(), n)
    dtype = values.dtype
    if not isinstance(dtype, np.dtype):  # a pandas extension type: numpy cannot cast to it
        return
    example[column] = np.round(grid).astype(dtype) \
        if pd.api.types.is_integer_dtype(values) else grid.astype(dtype)


def _mask_local_part(example: pd.DataFrame, column: str) -> None:
    example[column] = [None if pd.isna(v) else "xx@" + str(v).rpartition("@")[2]
                       for v in example[column]]


def example_rows(rows: pd.DataFrame, fitted) -> pd.DataFrame:
    """The scorer's input example: no value identifies a person, the columns and types are
    those the scorer takes, and the features computed from it are well defined.

    - No row is a person's row: each column (or columns read together by one feature) is
      taken from the sample rows shifted by its own offset.
    - Identifiers read only for a derived feature are replaced: the hashes compared for the
      Kakao account ID's kind become pseudonyms ``id-1``, ``id-2`` (equal stays equal), and a
      masked e-mail keeps only its domain.
    - Integers are widened to int64 and floats to float64 in the signature, so feeds written
      with narrower types convert safely under MLflow's schema enforcement.
    """
    columns = fitted.input_columns
    sample = rows[columns].head(EXAMPLE_ROWS).reset_index(drop=True)
    n = len(sample)
    # Columns read together by one feature (the hashes compared for the account ID's kind)
    # keep one offset, so that feature's value is a real row's.
    offset: dict[str, int] = {}
    for spec in fitted.features:
        shared = next((offset[c] for c in spec.sources if c in offset), len(offset))
        for c in spec.sources:
            offset.setdefault(c, shared)
    ex = pd.DataFrame({c: sample[c].iloc[[(i + offset.get(c, j)) % n for i in range(n)]]
                       .to_numpy() for j, c in enumerate(columns)})
    for spec in fitted.features:
        if spec.op == "account_id_kind":
            _pseudonyms(ex, list(spec.sources))
        elif spec.op == "email_domain":
            _mask_local_part(ex, spec.sources[0])
        elif spec.category == "table" and len(spec.sources) == 1:
            _synthetic(ex, spec.sources[0], spec, fitted)
    for c in ex.columns:
        if pd.api.types.is_integer_dtype(ex[c]) and not pd.api.types.is_bool_dtype(ex[c]):
            ex[c] = ex[c].astype(np.int64)
        elif pd.api.types.is_float_dtype(ex[c]):
            ex[c] = ex[c].astype(np.float64)
        elif pd.api.types.is_datetime64_any_dtype(ex[c]):
            ex[c] = ex[c].astype("datetime64[ns]")
        elif pd.api.types.is_string_dtype(ex[c]):
            ex[c] = ex[c].astype(object)
    return ex


def log_trained_model(fitted, evaluation, *, dataset_digest: str, sample_rows: pd.DataFrame,
                      registry=None, log_models: bool = True) -> dict[str, str]:
    """Log one fitted model and its evaluation into the active run.

    Parameters
    ----------
    fitted : :class:`nsf.models.FittedModel`.
    evaluation : :class:`nsf.pipeline.Evaluation` (metrics, bands, test predictions).
    dataset_digest : tag ``nsf.dataset_digest``.
    sample_rows : raw rows (e.g. a few test rows) for the scorer's signature and input example
        (made from them by :func:`example_rows`: no value in it identifies a person).
    registry : the feature registry, logged next to the features used.
    log_models : also log the native model and the pyfunc scorer (the study may skip them).

    Returns
    -------
    dict
        ``scorer_uri`` and ``native_uri`` (when models are logged).
    """
    import mlflow
    from mlflow.models import infer_signature

    from nsf.tracking._plots import calibration_figure, roc_pr_figure
    from nsf.tracking._pyfunc import NsfScorer

    mlflow.set_tag("nsf.dataset_digest", dataset_digest)
    mlflow.log_metrics({k: float(v) for k, v in evaluation.metrics.items()})
    features = {"features_used": fitted.describe()}
    if registry is not None:
        features["registry"] = registry.describe()
    mlflow.log_text(yaml.safe_dump(features, sort_keys=False, allow_unicode=True),
                    "features.yaml")
    bands = evaluation.bands.reset_index()
    mlflow.log_text(bands.to_csv(index=False), "score_bands.csv")
    mlflow.log_figure(roc_pr_figure(evaluation.y_true, evaluation.p_model, evaluation.p_true),
                      "plots/roc_pr.png")
    mlflow.log_figure(calibration_figure(evaluation.y_true, evaluation.p_model,
                                         evaluation.p_true), "plots/calibration.png")
    import matplotlib.pyplot as plt

    plt.close("all")
    if not log_models:
        return {}
    example = example_rows(sample_rows, fitted)
    scorer = NsfScorer(fitted)
    # ``reasons``: K reason codes per row when asked (0: none), see NsfScorer.predict.
    signature = infer_signature(example, scorer.predict(None, example),
                                params={"reasons": 0})
    reqs = _requirements()
    info = mlflow.pyfunc.log_model(
        name=SCORER_NAME, python_model=scorer, signature=signature, input_example=example,
        pip_requirements=reqs)
    X = fitted.encoder.transform(example)
    native_sig = infer_signature(X, fitted.estimator_.predict_proba(X)[:, 1])
    if fitted.model_cfg.kind == "lightgbm":
        native = mlflow.lightgbm.log_model(fitted.estimator_, name=NATIVE_NAME,
                                           signature=native_sig, pip_requirements=reqs)
    else:
        # skops (MLflow's default sklearn format) loads only types it is told to trust; these
        # are the ones our own estimators hold (we wrote the file, so we trust it).
        native = mlflow.sklearn.log_model(fitted.estimator_, name=NATIVE_NAME,
                                          signature=native_sig, pip_requirements=reqs,
                                          skops_trusted_types=_SKOPS_TRUSTED)
    return {"scorer_uri": info.model_uri, "native_uri": native.model_uri}
