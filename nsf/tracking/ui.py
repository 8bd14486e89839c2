"""The MLflow UI of a store: the study's runs view, its URL, and a server that leaves nothing
behind.

The runs view
    MLflow's UI opens an experiment on its GenAI overview unless the browser remembers the
    "Model training" choice (in its local storage), and shows no metric column until the user
    picks some. A link to ``#/experiments/<id>/runs`` opens the runs table in any browser, and
    the query ``viewStateShareKey=<key>`` applies a view saved as the experiment tag
    ``mlflow.sharedViewState.<key>`` (MLflow's own "share view" mechanism): the columns of the
    metric vocabulary, and the latest study's variant runs as flat rows (needed first).

The server
    ``mlflow server`` runs in its own session (its own process group, with its uvicorn
    workers); it gets SIGTERM when ``nsf ui`` dies (``PR_SET_PDEATHSIG``), and a watchdog in
    another session holds the read end of a pipe whose write end only ``nsf ui`` has: when
    ``nsf ui`` ends for any reason, SIGKILL included, the pipe closes and the watchdog stops
    the whole group.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from nsf.config import TrackingConfig
from nsf.tracking._store import artifact_root, open_store
from nsf.tracking._watchdog import group_alive

__all__ = ["RUNS_VIEW_KEY", "UiServer", "runs_url", "runs_view_state", "ui_command",
           "write_runs_view"]

#: Key of the saved runs view (experiment tag ``mlflow.sharedViewState.<key>``).
RUNS_VIEW_KEY = "nsf-study"
_VIEW_TAG = "mlflow.sharedViewState."


def runs_view_state(study_run: str, primary: str = "auc") -> dict:
    """The runs table's state: the variant runs of ``study_run`` (and its minimal-set search)
    as flat rows, needed first, with the vocabulary's columns (MLflow's
    ``ExperimentPageUIState`` and search facets). Sorted by a metric, not by date, MLflow does
    not nest them under the study run, so they show without a click."""
    metrics = [f"{primary}_diff", f"{primary}_diff_lo", f"{primary}_diff_hi",
               f"{primary}_diff_sim_lo", f"{primary}_diff_sim_hi", "verdict", "auc",
               "cost_diff", "swap_rate", "ece"]
    if primary != "auc":
        metrics.insert(6, primary)
    columns = ["tags.`nsf.verdict`", *[f"metrics.`{m}`" for m in dict.fromkeys(metrics)],
               "tags.`nsf.family`", "tags.`nsf.reference`"]
    return {
        # Variants, the reference and the minimal set; the sharing designs have their own
        # runs (filter tags.`nsf.family` = 'designs').
        "searchFilter": f"tags.`nsf.study_run` = '{study_run}' and tags.`nsf.role` != 'seed' "
                        "and tags.`nsf.role` != 'design'",
        "orderByKey": "metrics.`verdict`", "orderByAsc": False,
        "startTime": "ALL", "lifecycleFilter": "Active", "datasetsFilter": [],
        "modelVersionFilter": "All Runs",
        "selectedColumns": columns,
        # The verdict and the difference with its intervals first, then the rest.
        "columnOrder": ["attributes.`Run Name`", *columns],
        "columnWidths": {"attributes.`Run Name`": 280},
        "runsExpanded": {}, "runsPinned": [], "runsHidden": [],
        "runsVisibilityMap": {}, "runsHiddenMode": "FIRST_10_RUNS", "viewMaximized": False,
        "runListHidden": False, "isAccordionReordered": False,
        "useGroupedValuesInCharts": True, "hideEmptyCharts": True, "groupBy": None,
        "groupsExpanded": {}, "autoRefreshEnabled": True,
        "globalLineChartConfig": {"xAxisKey": "step", "lineSmoothness": 0,
                                  "selectedXAxisMetricKey": ""},
    }


def write_runs_view(tracking_uri: str, experiment: str, study_run: str,
                    primary: str = "auc") -> None:
    """Save the runs view of ``study_run`` as the experiment's tag (the latest study wins)."""
    from mlflow.tracking import MlflowClient

    MlflowClient(tracking_uri).set_experiment_tag(
        experiment, _VIEW_TAG + RUNS_VIEW_KEY, json.dumps(runs_view_state(study_run, primary)))


def runs_url(cfg: TrackingConfig, experiment: str, base: str) -> tuple[str, str | None]:
    """``(url, note)``: the runs view of ``experiment`` under ``base``
    (``http://host:port/``), or the UI's home page and why when the experiment is missing."""
    from mlflow.tracking import MlflowClient

    open_store(cfg)
    exp = MlflowClient(cfg.uri).get_experiment_by_name(experiment)
    if exp is None or exp.lifecycle_stage != "active":
        return base, f"experiment {experiment!r} not in the store yet (run `nsf study` first)"
    url = f"{base}#/experiments/{exp.experiment_id}/runs"
    if _VIEW_TAG + RUNS_VIEW_KEY in exp.tags:
        url += f"?viewStateShareKey={RUNS_VIEW_KEY}"
    return url, None


def ui_command(cfg: TrackingConfig, host: str = "127.0.0.1", port: int = 5000) -> \
        tuple[list[str], dict[str, str]]:
    """The ``mlflow server`` command line and environment of a lean local UI.

    Job execution off and one worker: the UI starts in seconds and stays light. Telemetry off:
    nothing reaches the network.
    """
    argv = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", cfg.uri,
            "--host", host, "--port", str(port), "--workers", "1"]
    root = artifact_root(cfg)
    if root is not None:
        argv += ["--default-artifact-root", root]
    env = dict(os.environ, MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false",
               MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true")
    return argv, env


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """SIGTERM to this process when its parent dies (Linux ``PR_SET_PDEATHSIG``)."""
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG = 1


class UiServer:
    """``mlflow server`` in its own process group, stopped with this process whatever ends
    it: :meth:`stop` on a normal exit, the parent-death signal and the watchdog otherwise."""

    def __init__(self, argv: list[str], env: dict[str, str]):
        read, self._pipe = os.pipe()  # both ends not inherited by the server
        try:
            self.proc = subprocess.Popen(argv, env=env, start_new_session=True,
                                         preexec_fn=_die_with_parent)
            self.watchdog = subprocess.Popen(
                [sys.executable, str(Path(__file__).with_name("_watchdog.py")),
                 str(self.proc.pid)],
                stdin=read, start_new_session=True, env=env)
        except BaseException:
            os.close(self._pipe)
            if getattr(self, "proc", None) is not None:
                self.stop()
            raise
        finally:
            os.close(read)

    def wait(self) -> int:
        return self.proc.wait()

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM to the server's process group; after ``grace`` seconds SIGKILL to whatever
        is left of it (the server or its workers). Then the watchdog is released."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline and group_alive(self.proc.pid):
                self.proc.poll()
                time.sleep(0.1)
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        with contextlib.suppress(OSError):
            os.close(self._pipe)
        if getattr(self, "watchdog", None) is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.watchdog.wait(timeout=grace + 5)
