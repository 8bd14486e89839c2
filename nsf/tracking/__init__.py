"""MLflow access: the only package that talks to MLflow (one module per caller)."""

import logging

from nsf.tracking._store import (
    EXPERIMENT_TAGS,
    TAG_KEYS,
    artifact_root,
    check_store,
    experiment_id,
    git_commit,
    lock_folder,
    open_store,
)
from nsf.tracking._train import (
    DESCRIPTION_ARTIFACT,
    NATIVE_NAME,
    SCORER_NAME,
    config_params,
    log_config,
    log_description,
    log_trained_model,
    tracked_run,
)
from nsf.tracking.ui import ui_command

# Creating or migrating a SQLite store logs several INFO lines per command; they are not ours to
# show. Warnings and errors still come through.
for _name in ("mlflow.store.db.utils", "alembic.runtime.migration"):
    logging.getLogger(_name).setLevel(logging.WARNING)

__all__ = [
    "DESCRIPTION_ARTIFACT",
    "EXPERIMENT_TAGS",
    "NATIVE_NAME",
    "SCORER_NAME",
    "TAG_KEYS",
    "artifact_root",
    "check_store",
    "config_params",
    "experiment_id",
    "git_commit",
    "load_fitted",
    "lock_folder",
    "log_config",
    "log_description",
    "log_trained_model",
    "open_store",
    "tracked_run",
    "ui_command",
]


def __getattr__(name):
    # The scorer class imports mlflow.pyfunc at import time: load it only when asked for.
    if name == "load_fitted":
        from nsf.tracking._pyfunc import load_fitted

        return load_fitted
    raise AttributeError(name)
