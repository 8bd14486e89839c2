"""How far the oracle AUC is from its limit, by number of Monte-Carlo draws M.

Builds the same world (same seed, so the same users, paths and realised labels) once per
setting, changing only the oracle: the brute-force reference (``indicator``: the average of
M yes/no re-simulations, M = 1024 by default) and the project's estimator (``conditional``:
Rao-Blackwellised paths) at several M. For each it prints the raw AUC of the oracle
probability against the realised labels, the AUC corrected for Monte-Carlo noise by the
delete-a-group jackknife (``nsf.metrics.oracle_auc``) with its 95% bootstrap interval, the
difference to the reference, and the build time. The last line is
``default_error=<corrected AUC at the default M minus the reference> reference_auc=<float>``.

    python benchmarks/bench_oracle.py                       # 60,000 users (the issue's world)
    python benchmarks/bench_oracle.py --users 20000 --draws 8 16 32 64
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from data_gen.config import TruthConfig
from data_gen.dataset import build_dataset
from nsf.config import load_config
from nsf.metrics import oracle_auc

ROOT = Path(__file__).resolve().parents[1]
KEYS = ["user_id", "observation_date"]


def measure(config: Path | None, n_users: int, method: str, draws: int, workers: int,
            n_resamples: int, tmp: Path, seed: int | None) -> dict:
    extra = [] if seed is None else [f"seed={seed}"]
    cfg = load_config(config, [*extra, f"world.population.n_users={n_users}",
                               f"world.truth.oracle_draws={draws}",
                               f"world.truth.oracle_method={method}", "world.feed.events=false"])
    t0 = time.perf_counter()
    path, _, _ = build_dataset(cfg.world, seed=cfg.seed, name=f"{method}{draws}", data_dir=tmp,
                               chunk_users=cfg.simulate.chunk_users, workers=workers)
    seconds = time.perf_counter() - t0
    rows = pd.read_parquet(path / "truth").merge(
        pd.read_parquet(path / "outcomes", columns=[*KEYS, "nsf_appstore"]), on=KEYS)
    shutil.rmtree(path)
    y = rows["nsf_appstore"].to_numpy(np.int8)
    groups = rows.filter(like="p_nsf_appstore_group_").to_numpy() if draws >= 2 else None
    res = oracle_auc(y, rows["p_nsf_appstore"].to_numpy(), p_groups=groups, draws=draws,
                     n_resamples=n_resamples,
                     rng=np.random.default_rng(np.random.SeedSequence(cfg.seed)))
    return {"method": method, "draws": draws, "rows": len(rows), "nsf_rate": float(y.mean()),
            "mean_p": float(rows["p_nsf_appstore"].mean()), "raw": res.raw,
            "estimate": res.estimate, "lower": res.lower, "upper": res.upper,
            "seconds": seconds}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, default=None,
                    help="experiment config (default: the package defaults, 360 days)")
    ap.add_argument("--users", type=int, default=60_000)
    ap.add_argument("--draws", type=int, nargs="+", default=[4, 8, 16, 32, 64, 128])
    ap.add_argument("--reference-draws", type=int, default=1024)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--n-resamples", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=None, help="world seed (default: the config's)")
    args = ap.parse_args()
    default_draws = TruthConfig().oracle_draws
    draws = sorted(set(args.draws) | {default_draws})
    tmp = Path(tempfile.mkdtemp(prefix="bench_oracle_"))
    try:
        ref = measure(args.config, args.users, "indicator", args.reference_draws, args.workers,
                      args.n_resamples, tmp, args.seed)
        results = [ref]
        results += [measure(args.config, args.users, m, d, args.workers, args.n_resamples, tmp,
                            args.seed)
                    for d in draws for m in ("indicator", "conditional")]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"world: {args.users:,} users, {ref['rows']:,} oracle rows (Apple-registered, last "
          f"observation date), realised NSF rate {ref['nsf_rate']:.4f}")
    print(f"reference: indicator, M={ref['draws']}: raw AUC {ref['raw']:.4f}")
    print(f"{'method':<12}{'M':>6}{'mean p':>9}{'raw AUC':>9}{'raw-ref':>9}{'corrected':>11}"
          f"{'95% interval':>18}{'corr-ref':>10}{'build s':>9}")
    for r in results:
        interval = f"[{r['lower']:.4f}, {r['upper']:.4f}]"
        print(f"{r['method']:<12}{r['draws']:>6}{r['mean_p']:>9.4f}{r['raw']:>9.4f}"
              f"{r['raw'] - ref['raw']:>+9.4f}{r['estimate']:>11.4f}{interval:>18}"
              f"{r['estimate'] - ref['raw']:>+10.4f}{r['seconds']:>9.1f}")
    default = next(r for r in results
                   if r["method"] == TruthConfig().oracle_method and r["draws"] == default_draws)
    print(f"default_error={default['estimate'] - ref['raw']:.4f} reference_auc={ref['raw']:.4f}")


if __name__ == "__main__":
    main()
