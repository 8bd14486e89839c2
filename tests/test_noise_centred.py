"""The training draws bias nothing: a pure-noise group's difference stays centred on 0 under
the default half-sampling (no subject copied into a training set)."""

import numpy as np
import pytest

from data_gen.dataset import build_dataset
from nsf.config import load_config
from nsf.data import open_dataset
from nsf.pipeline import prepare
from nsf.study import run_study

#: Worlds that differ only in their seed.
WORLDS = 6
#: Standard errors of the across-world mean allowed on either side of 0 (a centred difference
#: fails this about 0.3% of the time).
TOLERANCE_SE = 3.0

OVERRIDES = [
    "world.population.n_users=8000", "world.calendar.days=120",
    "world.calendar.warmup_days=60", "world.feed.windows=[7,30]",
    "world.truth.oracle_snapshots=0", "world.dependence.email_domain=0",
    "study.groups=[email]", "study.families=[drop_one]", "study.until=fixed",
    "study.training_resample=subsample", "study.margins={auc: 0.02}", "study.n_bootstrap=200",
    "study.fairness_n_bootstrap=50", "study.proxy_targets=[]",
    "study.minimal_set.enabled=false", "study.fairness_attributes=[gender]",
    "study.intersections=[]", "study.shap_rows=100", "study.permutation_rows=300",
    "study.permutation_repeats=1", "study.audit=false", "study.designs=[]",
]


@pytest.mark.slow
def test_a_pure_noise_group_stays_centred_on_zero(tmp_path):
    estimates = []
    for r in range(WORLDS):
        cfg = load_config(None, [f"name=noise{r}", f"seed={2000 + r}", *OVERRIDES])
        path, _, _ = build_dataset(cfg.world, seed=cfg.seed, name=cfg.name, data_dir=tmp_path,
                                   chunk_users=cfg.simulate.chunk_users)
        result = run_study(cfg, prepare(cfg, open_dataset(path)))
        estimates.append(result.variant_for("drop_one", "email")
                         .comparisons["baseline"].metrics["auc"].estimate)
    x = np.asarray(estimates)
    se = x.std(ddof=1) / np.sqrt(x.size)
    assert abs(x.mean()) <= TOLERANCE_SE * se, (x.mean(), se, estimates)
