"""``model.distributed``: the baseline trained with lightgbm.dask on a 2-worker LocalCluster.

Distributed LightGBM is not bit-identical to a local fit (each worker bins its own rows, the
histograms are summed over the network), so the test compares its AUC with the local fit's
within a tolerance, and checks that the same seed, data and worker count give the same model.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from nsf.config import ExecutionConfig, load_config
from nsf.data import open_dataset
from nsf.execution import Executor
from nsf.pipeline import FeatureSelection, fit_variant
from nsf.pipeline._distributed import fit_distributed, training_frame, training_rule
from tests.conftest import ROOT, SMOKE, in_process

#: How far the distributed fit's test AUC may lie from the local fit's (the smoke test set has
#: about 40 positives: its AUC moves by a few hundredths between seeds already).
AUC_TOLERANCE = 0.05


@pytest.fixture(scope="module")
def dask_cfg():
    return load_config(SMOKE, ["execution.backend=dask", "execution.workers=2",
                               "model.distributed=true"])


def _test_auc(prepared, fitted) -> float:
    test = prepared.test_index
    p = fitted.predict_proba(prepared.frame.iloc[test])
    return roc_auc_score(prepared.rows["nsf_appstore"].to_numpy()[test], p)


def test_workers_read_exactly_the_prepared_training_rows(dask_cfg, smoke_dataset,
                                                         smoke_prepared):
    from nsf.features import select_features
    from nsf.models import FeatureEncoder

    dataset = open_dataset(smoke_dataset)
    rule = training_rule(dask_cfg, dataset)
    chosen = select_features(smoke_prepared.registry, FeatureSelection())
    train = smoke_prepared.train_index
    encoder = FeatureEncoder(chosen).fit(smoke_prepared.frame.iloc[train])
    frame = training_frame(dataset, encoder, rule).compute()
    local = encoder.transform(smoke_prepared.frame.iloc[train])
    assert len(frame) == train.size
    # Same rows (the feed's order is the prepared order within a date), same encoding.
    got = frame.drop(columns="label").to_numpy()
    order = np.lexsort(got.T[::-1])
    expect = np.lexsort(local.T[::-1])
    np.testing.assert_array_equal(got[order], local[expect])
    assert frame["label"].sum() == smoke_prepared.rows["label"].to_numpy()[train].sum()


def test_distributed_fit_scores_like_the_local_one_and_repeats(dask_cfg, smoke_dataset,
                                                               smoke_prepared):
    local = fit_variant(smoke_prepared, FeatureSelection(), dask_cfg.model, dask_cfg.seed)
    dataset = open_dataset(smoke_dataset)
    with Executor(ExecutionConfig(backend="dask", workers=2)) as executor:
        client = executor.client()
        client.wait_for_workers(2, timeout=60)
        first = fit_distributed(dask_cfg, smoke_prepared, dataset, client)
        again = fit_distributed(dask_cfg, smoke_prepared, dataset, client)
    import lightgbm as lgb

    assert isinstance(first.estimator_, lgb.LGBMClassifier)  # a plain model, not a Dask one
    assert first.info["distributed"] == {"workers": 2, "partitions": 1}
    assert first.info["train_rows"] == smoke_prepared.train_index.size
    auc_local, auc_dist = _test_auc(smoke_prepared, local), _test_auc(smoke_prepared, first)
    assert abs(auc_dist - auc_local) <= AUC_TOLERANCE, (auc_local, auc_dist)
    # The same seed, data and worker count: the same trees (the parameters differ only in the
    # network ports the workers listened on).
    trees = [m.estimator_.booster_.dump_model()["tree_info"] for m in (first, again)]
    assert trees[0] == trees[1]
    scores = [m.predict_proba(smoke_prepared.frame) for m in (first, again)]
    np.testing.assert_array_equal(scores[0], scores[1])


@pytest.mark.slow
def test_nsf_train_distributed_logs_a_scorer_that_scores(tmp_path, smoke_dataset):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    sets = ["--set", f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}",
            "--set", "execution.backend=dask", "--set", "execution.workers=2",
            "--set", "model.distributed=true"]
    proc = subprocess.run([sys.executable, "-m", "nsf", "train", str(SMOKE), "-q", "--data",
                           str(smoke_dataset), *sets], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    scorer = next(line.split("scorer:")[1].strip() for line in proc.stdout.splitlines()
                  if "scorer:" in line)
    feed = sorted((smoke_dataset / "feed").glob("*.parquet"))[0]
    out = tmp_path / "scores.parquet"
    proc = subprocess.run([sys.executable, "-m", "nsf", "score", scorer, str(feed), str(out),
                           "--config", str(SMOKE), *sets[:2]], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    scores = pd.read_parquet(out)
    assert len(scores) == 6_000 and scores["score"].between(0, 100).all()
    assert scores["score"].nunique() > 5


@pytest.mark.parametrize(("override", "message"), [
    (["model.distributed=true"], "set execution.backend: dask (got 'local')"),
    (["model.distributed=true", "execution.backend=dask", "model.kind=logistic"],
     "set model.kind: lightgbm (got 'logistic')"),
    (["model.distributed=true", "execution.backend=dask", "model.sample_subjects=1000"],
     "model.sample_subjects needs split.validation: dates (got 'auto')"),
])
def test_distributed_misconfigured_is_one_line(tmp_path, monkeypatch, capsys, smoke_dataset,
                                               override, message):
    sets = [x for o in [*override, f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}"]
            for x in ("--set", o)]
    monkeypatch.chdir(tmp_path)
    proc = in_process(capsys, "train", str(SMOKE), "-q", "--data", str(smoke_dataset), *sets)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]
