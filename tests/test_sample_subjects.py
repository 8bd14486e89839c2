"""The study's stratified sample of subjects (``study.sample_subjects``)."""

from __future__ import annotations

import numpy as np
import pytest

from nsf.config import load_config
from nsf.data import open_dataset
from nsf.errors import NsfError
from nsf.pipeline import prepare
from nsf.pipeline._prepare import stratified_subjects
from nsf.study.families.volume import sample_verdict
from tests.conftest import ROOT, SMOKE, in_process


def _population(n: int = 10_000, share: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    ids = np.arange(0, 3 * n, 3, dtype=np.int64)  # not 0..n-1: ids are not positions
    positive = np.zeros(n, dtype=bool)
    positive[np.random.default_rng(1).permutation(n)[:round(share * n)]] = True
    return ids, positive


def test_sample_is_stratified_sized_and_drawn_from_the_seed():
    ids, positive = _population()
    chosen, sample = stratified_subjects(ids, positive, 2_000, seed=5)
    assert chosen.size == 2_000 == sample.size and np.all(np.diff(chosen) > 0)
    assert np.isin(chosen, ids).all()
    pos = positive[np.searchsorted(ids, chosen)]
    assert int(pos.sum()) == sample.positives == 200  # exactly the population's 10 %
    assert (sample.population, sample.population_positives) == (10_000, 1_000)
    again, _ = stratified_subjects(ids, positive, 2_000, seed=5)
    other, _ = stratified_subjects(ids, positive, 2_000, seed=6)
    assert np.array_equal(again, chosen) and not np.array_equal(other, chosen)
    everyone, _ = stratified_subjects(ids, positive, 10_000, seed=5)
    assert np.array_equal(everyone, ids)


def test_a_rare_class_keeps_two_subjects():
    ids, positive = _population(share=0.0003)  # 3 positive subjects
    chosen, sample = stratified_subjects(ids, positive, 100, seed=0)
    assert sample.positives == 2 and positive[np.searchsorted(ids, chosen)].sum() == 2


@pytest.mark.parametrize(("size", "message"), [
    (10_001, r"sample_subjects = 10,001 is more than the 10,000 subjects .*use at most 10,000"),
    (3, r"sample_subjects = 3 cannot hold two subjects of each outcome .*use at least 4"),
])
def test_bad_sizes_are_one_line(size, message):
    ids, positive = _population()
    with pytest.raises(NsfError, match=message) as err:
        stratified_subjects(ids, positive, size, seed=0)
    assert "\n" not in str(err.value)


def test_prepare_reads_only_the_sampled_subjects_all_their_rows(smoke_cfg, smoke_dataset,
                                                                smoke_prepared):
    sampled = prepare(smoke_cfg, open_dataset(smoke_dataset), sample_subjects=1_000)
    users = np.unique(sampled.rows["user_id"])
    assert users.size == 1_000 and sampled.sample.size == 1_000
    assert "sample of 1,000 of 3,000 subjects" in sampled.split_note
    full = smoke_prepared
    expect = full.rows["user_id"].isin(users).to_numpy()
    # Every row of each sampled subject, with the same label and features as unsampled (the
    # validation users are drawn from the sample's users, so the split is the sample's own).
    cols = ["observation_date", "user_id", "label", "p_true"]
    assert sampled.rows[cols].equals(full.rows.loc[expect, cols].reset_index(drop=True))
    assert (sampled.rows["split"] == "test").sum() == (full.rows.loc[expect, "split"]
                                                       == "test").sum()
    assert sampled.frame.equals(full.frame.loc[expect].reset_index(drop=True))
    assert sampled.sensitive.equals(full.sensitive.loc[expect].reset_index(drop=True))
    share = full.rows.groupby("user_id")["label"].max().mean()
    got = sampled.rows.groupby("user_id")["label"].max().mean()
    assert abs(got - share) <= 1 / 1_000  # stratified: the same share of positive subjects


def test_sample_verdict_from_the_learning_curve():
    assert "justifies it: 400 training subjects (57% of them)" in sample_verdict(1_000, 700, 400)
    assert sample_verdict(1_000, 700, 700).startswith("WARNING: ")


def test_task_pool_refuses_data_prepared_without_the_configured_sample(smoke_prepared):
    from nsf.study._pool import TaskPool

    cfg = load_config(SMOKE, ["study.sample_subjects=1000"])
    with pytest.raises(ValueError, match="sample_subjects"):
        TaskPool(cfg, smoke_prepared, dataset_path=None, latents=False)


@pytest.mark.parametrize(("size", "message"), [
    ("5000", "study.sample_subjects = 5,000 is more than the 1,000 subjects"),
    ("3", "study.sample_subjects = 3 cannot hold two subjects of each outcome"),
])
def test_bad_sample_size_from_the_command_line_exits_2(tmp_path, monkeypatch, capsys, size,
                                                       message):
    monkeypatch.chdir(tmp_path)
    proc = in_process(
        capsys, "study", str(ROOT / "experiments" / "own_table.yaml"),
        "-q", "--set", f"study.sample_subjects={size}",
        "--set", f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}",
        "--set", f"dataset.table.path={ROOT / 'examples' / 'credit.csv'}")
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]
    assert not (tmp_path / "mlflow.db").exists() or not list(tmp_path.glob("reports/*"))
