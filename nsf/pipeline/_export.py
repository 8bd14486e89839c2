"""A simulated dataset as one flat table plus the table config that describes it.

The same data through both doors: the study of the exported table (``dataset.kind: table``)
sees the features the simulated feed gives, in the same attribute groups, with the same
contested groups, sensitive columns, time split and subjects, so its verdicts can be checked
against the native study's.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from nsf.config import SIMULATED_THRESHOLD, ExperimentConfig
from nsf.errors import NsfError
from nsf.features import build_features
from nsf.pipeline._prepare import PreparedData

#: Columns of the exported table that are not features.
SUBJECT, TIME, POPULATION, TARGET = "subject", "observation_date", "in_population", "outcome"


def _overrides(value: Any, default: Any) -> Any:
    """The parts of ``value`` that differ from ``default`` (nested dicts), or None."""
    if isinstance(value, dict) and isinstance(default, dict):
        out = {}
        for key, v in value.items():
            d = _overrides(v, default.get(key, object()))
            if d is not None:
                out[key] = d
        return out or None
    return None if value == default else value


def export_table(cfg: ExperimentConfig, prepared: PreparedData, path: str) -> tuple[
        pd.DataFrame, dict]:
    """The flat table of a prepared simulated dataset and the config that reads it as a table.

    Parameters
    ----------
    cfg : the experiment config of the simulated dataset.
    prepared : :func:`nsf.pipeline.prepare` of it.
    path : where the table will be written (the config's ``dataset.table.path``).

    Returns
    -------
    frame, config
        One row per (observation date, subject): a pseudonymous subject number (the rank of the
        simulator's internal index; no identifier or hash is exported), the observation date, the
        evaluation-population flag, every usable feature of the feed (categorical ones as text),
        the description's sensitive columns, and the target as 0/1; and the config (a plain dict
        for YAML) with the table's groups, contested groups, sensitive columns and outcome, and
        the experiment's own overrides of the split, model, features and study (cross-fitting
        off, so both doors run the same split).
    """
    description = prepared.description
    if description is None:
        raise NsfError("the prepared data has no dataset description to export with")
    specs = [s for s in prepared.registry.usable]
    features = build_features(prepared.frame.reset_index(drop=True), specs)
    subjects = prepared.rows["user_id"].to_numpy()
    _, rank = np.unique(subjects, return_inverse=True)
    frame = pd.DataFrame({SUBJECT: rank.astype(np.int64),
                          TIME: pd.to_datetime(prepared.rows["observation_date"]).dt.date,
                          POPULATION: prepared.rows["apple_registered"].to_numpy(dtype=bool)})
    frame = pd.concat([frame, features.reset_index(drop=True)], axis=1)
    for col in description.sensitive_names:
        frame[col] = prepared.sensitive[col].to_numpy()
    frame[TARGET] = prepared.rows["nsf_appstore"].to_numpy(dtype=np.int8)
    # Groups in the registry's order; the features keep the feed's order through the file's
    # column order (the model sees them in the same order through both doors).
    groups = {g: [s.name for s in specs if s.group == g] for g in prepared.registry.groups}
    groups = {g: cols for g, cols in groups.items() if cols}
    table = {
        "path": str(path), "target_column": TARGET, "positive_label": 1,
        "outcome": description.outcome, "id_column": SUBJECT, "time_column": TIME,
        "population_column": POPULATION, "groups": groups,
        "contested_groups": [g for g in prepared.registry.contested_groups if g in groups],
        "categorical_columns": [s.name for s in specs if s.kind == "categorical"],
        "sensitive_columns": list(description.sensitive_names), "rare_level_rows": 0,
    }
    defaults = ExperimentConfig().model_dump(mode="json")
    mine = cfg.model_dump(mode="json")
    config: dict[str, Any] = {"name": f"{cfg.name}-table", "seed": cfg.seed,
                              "dataset": {"kind": "table", "table": table}}
    for section in ("tracking", "target", "split", "features", "model", "study"):
        diff = _overrides(mine[section], defaults[section])
        if diff:
            config[section] = diff
    features_cfg = config.get("features") or {}
    features_cfg.pop("contested_groups", None)
    features_cfg.pop("retention_days", None)
    if features_cfg:
        config["features"] = features_cfg
    else:
        config.pop("features", None)
    study = config.setdefault("study", {})
    study["crossfit_below"] = 0
    # The simulated data's fairness threshold, so both doors measure fairness alike.
    study.setdefault("threshold", SIMULATED_THRESHOLD)
    study.pop("audit", None)
    return frame, config
