"""The tracking store: URI, artifact root beside it, checks, experiments, tags."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from urllib.parse import urlparse

from nsf.config import TrackingConfig
from nsf.errors import NsfError

#: Tags every run carries (the same keys everywhere so the UI can filter and compare).
TAG_KEYS = ("nsf.role", "nsf.variant", "nsf.seed", "nsf.model", "nsf.dataset_digest",
            "nsf.git_commit")
#: Tags of every experiment the project creates: MLflow's UI then opens it on the runs table
#: (without the kind it opens on an empty GenAI overview).
EXPERIMENT_TAGS = {"mlflow.experimentKind": "custom_model_development"}
#: Stores this process has opened (created or migrated) under the store lock.
_OPENED: set[str] = set()


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI, else None."""
    if not uri.startswith("sqlite:"):
        return None
    path = uri[len("sqlite:///"):] if uri.startswith("sqlite:///") else ""
    if not path or path == ":memory:":
        raise NsfError(f"tracking.uri {uri!r}: expected sqlite:///<file> (a relative or "
                       "absolute path)")
    return Path(path)


def artifact_root(cfg: TrackingConfig) -> str | None:
    """Artifact location for new experiments: configured, or ``mlartifacts`` beside the SQLite
    file (absolute, so runs stay readable from any working directory)."""
    if cfg.artifact_location is not None:
        return cfg.artifact_location
    db = sqlite_path(cfg.uri)
    if db is None:
        return None
    return (db.resolve().parent / "mlartifacts").as_uri()


def check_store(cfg: TrackingConfig) -> None:
    """Fail fast, with one line, if the tracking store cannot be written.

    Raises
    ------
    NsfError
        The SQLite folder is missing or not writable, or the URI scheme is unsupported.
    """
    uri = cfg.uri
    db = sqlite_path(uri)
    if db is not None:
        folder = db.resolve().parent
        if not folder.is_dir():
            raise NsfError(f"tracking.uri {uri!r}: folder {folder} does not exist")
        target = db if db.exists() else folder
        if not os.access(target, os.W_OK):
            raise NsfError(f"tracking.uri {uri!r}: {target} is not writable")
        root = artifact_root(cfg)
        if root and root.startswith("file:"):
            art = Path(urlparse(root).path)
            probe = art if art.exists() else art.parent
            if not os.access(probe, os.W_OK):
                raise NsfError(f"tracking artifacts {art}: not writable")
        return
    scheme = urlparse(uri).scheme
    if scheme in ("http", "https", "postgresql", "mysql", "mssql", "databricks"):
        return
    if scheme in ("", "file"):
        raise NsfError(f"tracking.uri {uri!r}: the file store is retired in MLflow 3; use "
                       "sqlite:///mlflow.db")
    raise NsfError(f"tracking.uri {uri!r}: unsupported scheme {scheme!r}")


def lock_folder(cfg: TrackingConfig) -> Path:
    """Where the locks of runs on this store live (created if missing): ``.nsf-locks`` beside
    a SQLite file, else in the system's temporary folder (a remote store's runs are then
    serialised per machine only).

    Raises
    ------
    NsfError
        The folder cannot be created.
    """
    import hashlib
    import tempfile

    db = sqlite_path(cfg.uri)
    if db is not None:
        folder = db.resolve().parent / ".nsf-locks"
    else:
        digest = hashlib.sha256(cfg.uri.encode()).hexdigest()[:16]
        folder = Path(tempfile.gettempdir()) / f"nsf-locks-{digest}"
    try:
        folder.mkdir(exist_ok=True)
    except OSError as exc:
        raise NsfError(f"tracking.uri {cfg.uri!r}: cannot create the lock folder {folder} "
                       f"({exc.strerror})") from None
    return folder


def store_lock(cfg: TrackingConfig):
    """The file lock serialising creation and migration of the store (and experiments)."""
    from filelock import FileLock

    db = sqlite_path(cfg.uri)
    name = f"{db.name}.lock" if db is not None else "store.lock"
    return FileLock(lock_folder(cfg) / name, timeout=600)


def _create_sqlite_store(cfg: TrackingConfig, db: Path) -> None:
    """Create a new SQLite store in a temporary file beside ``db`` and move it into place only
    once every schema migration has run (call under :func:`store_lock`).

    MLflow migrates a new store in many steps; one stopped half-way (a full disk, a kill)
    leaves a file that no later run can migrate (``_alembic_tmp_... already exists``). Here a
    failure leaves nothing at ``db``, and the next run starts afresh.

    Raises
    ------
    NsfError
        The schema could not be created (one line, e.g. "database or disk is full").
    """
    import sqlalchemy.exc
    from mlflow.exceptions import MlflowException
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    folder = db.resolve().parent
    for stale in folder.glob(f".{db.name}.*.new*"):  # left by a creation that was killed
        stale.unlink(missing_ok=True)
    tmp = folder / f".{db.name}.{os.getpid()}.new"
    try:
        store = SqlAlchemyStore(f"sqlite:///{tmp}", artifact_root(cfg))
        store.engine.dispose()
        os.replace(tmp, db)
    except (MlflowException, sqlalchemy.exc.SQLAlchemyError, OSError) as exc:
        for leftover in folder.glob(f"{tmp.name}*"):  # the file and its journal
            leftover.unlink(missing_ok=True)
        detail = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
        raise NsfError(f"tracking store {cfg.uri!r}: cannot create {db} ({detail}); nothing "
                       "was kept, so a rerun starts afresh") from None


def open_store(cfg: TrackingConfig) -> None:
    """Create or migrate the store once per process, under :func:`store_lock`, so processes
    that first use a new SQLite store at the same time do not race on its schema.

    Raises
    ------
    NsfError
        The store cannot be reached or the lock is not released within 10 minutes.
    """
    import mlflow
    from filelock import Timeout
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    check_store(cfg)
    mlflow.set_tracking_uri(cfg.uri)
    if cfg.uri in _OPENED:
        return
    lock = store_lock(cfg)
    try:
        with lock:
            db = sqlite_path(cfg.uri)
            if db is not None and not db.exists():
                _create_sqlite_store(cfg, db)
            # The first query runs any pending migrations (creates the tables of a store
            # that is not SQLite).
            client = MlflowClient(cfg.uri)
            client.search_experiments(max_results=1)
            if db is not None:
                hide_default_experiment(client)
    except Timeout:
        raise NsfError(f"tracking.uri {cfg.uri!r}: another process holds {lock.lock_file} "
                       "for over 10 minutes") from None
    except MlflowException as exc:
        raise NsfError(f"tracking store {cfg.uri!r}: {str(exc).splitlines()[0]}") from None
    _OPENED.add(cfg.uri)


def hide_default_experiment(client) -> bool:
    """Delete MLflow's own ``Default`` experiment (id 0) when it holds no run at all, so the
    UI's experiment list shows only the project's experiments (the project never logs to it;
    MLflow creates it with every new store). Restorable in the UI. Returns whether it was
    deleted."""
    from mlflow.entities import ViewType
    from mlflow.exceptions import MlflowException

    try:
        default = client.get_experiment("0")
        if default.name != "Default" or default.lifecycle_stage != "active":
            return False
        if client.search_runs(["0"], run_view_type=ViewType.ALL, max_results=1):
            return False
        client.delete_experiment("0")
    except MlflowException:
        return False
    return True


def git_commit() -> str:
    """The project's git commit (``unknown`` outside a checkout)."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else "unknown"


def experiment_id(cfg: TrackingConfig, name: str) -> str:
    """Id of the experiment ``name`` in the store, created (with the artifact root) if missing.

    Raises
    ------
    NsfError
        If the store cannot be reached.
    """
    import mlflow
    from filelock import Timeout
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    open_store(cfg)
    try:
        experiment = mlflow.get_experiment_by_name(name)
        if experiment is None:
            # Under the store lock: two processes creating the same experiment do not race.
            with store_lock(cfg):
                experiment = mlflow.get_experiment_by_name(name)
                if experiment is None:
                    return mlflow.create_experiment(name, artifact_location=artifact_root(cfg),
                                                    tags=EXPERIMENT_TAGS)
        if experiment.lifecycle_stage == "deleted":
            raise NsfError(f"MLflow experiment {name!r} is deleted; restore it in the UI or "
                           "rename the config")
        for key, value in EXPERIMENT_TAGS.items():
            if key not in experiment.tags:  # created by an earlier version
                MlflowClient(cfg.uri).set_experiment_tag(experiment.experiment_id, key, value)
        return experiment.experiment_id
    except Timeout:
        raise NsfError(f"tracking.uri {cfg.uri!r}: another process holds the store lock for "
                       "over 10 minutes") from None
    except MlflowException as exc:
        raise NsfError(f"tracking store {cfg.uri!r}: {str(exc).splitlines()[0]}") from None
