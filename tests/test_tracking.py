"""The study's runs in MLflow: stale runs of a killed study, the metric vocabulary, the runs
view the UI opens on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from nsf.config import load_config

ROOT = Path(__file__).resolve().parents[1]

#: A study process that logged one fit, started a second and was killed (SIGKILL) before it
#: could mark that run finished: what `kill -9` of `nsf study` mid-fit leaves.
_KILLED_MID_FIT = textwrap.dedent("""
    import os, signal, sys
    from mlflow.tracking import MlflowClient
    from nsf.config import load_config
    from nsf.tracking.study import study_run

    cfg = load_config(None, sys.argv[1:])
    with study_run(cfg) as (run_id, resumed):
        client = MlflowClient(cfg.tracking.uri)
        exp = client.get_run(run_id).info.experiment_id
        tags = {"mlflow.parentRunId": run_id, "nsf.study_run": run_id, "nsf.role": "seed",
                "nsf.variant": "drop_email", "nsf.seed": "1"}
        done = client.create_run(exp, tags={**tags, "nsf.child_key": "a"})
        client.set_terminated(done.info.run_id, status="FINISHED")
        client.create_run(exp, tags={**tags, "nsf.child_key": "b"})
        print(run_id, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
""")


def _kill_mid_fit(sets: list[str]) -> str:
    proc = subprocess.run([sys.executable, "-c", _KILLED_MID_FIT, *sets], capture_output=True,
                          text=True, timeout=120, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == -9, proc.stderr[-2000:]
    return proc.stdout.split()[0]


def _statuses(uri: str, parent: str) -> dict[str, str]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    exp = client.get_run(parent).info.experiment_id
    runs = client.search_runs([exp], filter_string=f"tags.`nsf.study_run` = '{parent}'")
    return {r.data.tags["nsf.child_key"]: r.info.status for r in runs}


@pytest.mark.parametrize("fresh", [False, True])
def test_a_killed_study_leaves_no_run_running_after_the_rerun(tmp_path, fresh, tracking_store):
    from mlflow.tracking import MlflowClient

    from nsf.tracking.study import study_run

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    sets = [f"tracking.uri={uri}", "name=killed"]
    parent = _kill_mid_fit(sets)
    client = MlflowClient(uri)
    assert client.get_run(parent).info.status == "RUNNING"
    assert _statuses(uri, parent) == {"a": "FINISHED", "b": "RUNNING"}

    with study_run(load_config(None, sets), fresh=fresh) as (run_id, resumed):
        # The rerun (which holds the study's lock) closed what the killed process left.
        assert resumed is not fresh and (run_id == parent) is not fresh
        assert _statuses(uri, parent) == {"a": "FINISHED", "b": "KILLED"}
        if fresh:
            assert client.get_run(parent).info.status == "KILLED"
            assert client.get_run(parent).data.tags["nsf.closed_by"] == run_id


def test_vocabulary_names_and_undefined_values():
    from nsf.tracking._vocab import OTHER_PREFIX, VERDICT_NUMBER, VOCABULARY, defined, metric_name
    from nsf.vocabulary import VERDICTS

    assert metric_name("test_auc") == "auc" and metric_name("test_ece") == "ece"
    assert metric_name("test_brier") == "x/test_brier"
    assert set(VERDICT_NUMBER) == set(VERDICTS)
    # Every other name sorts after the vocabulary.
    assert all(name < OTHER_PREFIX for name in VOCABULARY)
    assert defined({"a": 1, "b": None, "c": float("nan"), "d": float("inf"), "e": 0.5}) == \
        {"a": 1.0, "e": 0.5}
    # The documentation of the runs view lists the vocabulary.
    readme = (ROOT / "docs" / "commands.md").read_text(encoding="utf-8")
    assert all(f"`{name}`" in readme for name in VOCABULARY), \
        [n for n in VOCABULARY if f"`{n}`" not in readme]


def test_runs_view_is_saved_on_the_experiment_and_linked(tmp_path, tracking_store):
    from mlflow.tracking import MlflowClient

    from nsf.tracking import experiment_id
    from nsf.tracking.ui import RUNS_VIEW_KEY, runs_url, write_runs_view

    cfg = load_config(None, [f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}", "name=viewed"])
    base = "http://127.0.0.1:5000/"
    url, note = runs_url(cfg.tracking, "viewed", base)
    assert (url, "not in the store" in note) == (base, True)
    exp = experiment_id(cfg.tracking, "viewed")
    assert runs_url(cfg.tracking, "viewed", base) == (f"{base}#/experiments/{exp}/runs", None)
    write_runs_view(cfg.tracking.uri, exp, "abc123")
    url, note = runs_url(cfg.tracking, "viewed", base)
    assert url == f"{base}#/experiments/{exp}/runs?viewStateShareKey={RUNS_VIEW_KEY}"
    client = MlflowClient(cfg.tracking.uri)
    state = json.loads(client.get_experiment(exp).tags[f"mlflow.sharedViewState.{RUNS_VIEW_KEY}"])
    assert "tags.`nsf.study_run` = 'abc123'" in state["searchFilter"]
    assert state["orderByKey"] == "metrics.`verdict`"  # flat rows, not nested under the study
    assert {"tags.`nsf.verdict`", "metrics.`auc_diff`", "metrics.`auc_diff_lo`",
            "metrics.`auc_diff_hi`"} <= set(state["selectedColumns"])
    # The study's experiment carries the kind tag; MLflow's empty Default is deleted.
    assert client.get_experiment(exp).tags["mlflow.experimentKind"] == \
        "custom_model_development"
    assert [e.name for e in client.search_experiments()] == ["viewed"]


def test_a_finished_fit_whose_artifacts_are_gone_is_trained_again(tmp_path, tracking_store):
    """A store kept without its artifact folder (deleted to save space, say): the fit it lists
    is not reused, and the study goes on instead of stopping on MLflow's error."""
    import shutil

    from mlflow.tracking import MlflowClient

    from nsf.tracking import experiment_id
    from nsf.tracking.study import MlflowFitStore

    cfg = load_config(None, [f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}", "name=gone"])
    client = MlflowClient(cfg.tracking.uri)
    exp = experiment_id(cfg.tracking, cfg.name)
    child = client.create_run(exp, tags={"nsf.role": "seed", "nsf.child_key": "k"})
    client.log_text(child.info.run_id, "{}", "fit/outcome.json")
    client.set_terminated(child.info.run_id)
    shutil.rmtree(tmp_path / "mlartifacts")
    store = MlflowFitStore(cfg, "parent", "digest")
    assert store.lookup("k") is None
    assert len(store.unreadable) == 1 and child.info.run_id in store.unreadable[0]
    assert store.lookup("k") is None and len(store.unreadable) == 1  # not tried again
