"""Calibration of the study as an instrument, measured on many simulated worlds.

Simulates R small worlds that differ only in their world seed (same knobs: two pure-noise
attributes, e-mail domain and sign-up channel at dependence 0, and the balance, which drives NSF
mechanically), runs the drop-one variants of those three groups in each, and prints:

- coverage: the share of (world, variant) 95% intervals of the AUC difference that contain the
  across-world mean difference of that variant (the best available stand-in for its expected
  value);
- false_needed: the share of (world, noise group) verdicts that call a pure-noise group
  "needed";
- power: the share of worlds whose verdict calls the balance "needed";

each with its Monte-Carlo standard error (binomial, over the verdicts counted), and the
across-world mean difference of each group with its Monte-Carlo error (the balance's as a
multiple of the margin: the effect the power is measured at; a pure-noise group's should be 0).
Under ``study.until: decided`` the intervals and verdicts are those of the look
that decided each comparison (or the last one), and the seeds and test subjects used are
summarised; the test subjects simulated on demand (``study.budget.subjects``) are further users
of each world. The last line
is ``coverage=<float> false_needed=<float> power=<float>``.

    python benchmarks/bench_coverage.py                 # 20 worlds of 10,000 users
    python benchmarks/bench_coverage.py --worlds 5      # a quick look
    python benchmarks/bench_coverage.py --until decided --resample subsample  # the new designs
    python benchmarks/bench_coverage.py --until decided --subjects 40000  # + test subjects
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from data_gen.dataset import build_dataset
from nsf.config import load_config
from nsf.data import open_dataset
from nsf.metrics import NEEDED
from nsf.pipeline import prepare
from nsf.study import run_study
from nsf.study._sequential import FurtherUsers

NOISE = ("email", "signup")
DRIVER = "balance"
WORLD = [
    "world.calendar.days=120", "world.calendar.warmup_days=60", "world.feed.windows=[7,30]",
    "world.truth.oracle_snapshots=0",
    "world.dependence.email_domain=0", "world.dependence.signup_channel=0",
]
STUDY = [
    f"study.groups=[{','.join((*NOISE, DRIVER))}]", "study.families=[drop_one]",
    "study.n_bootstrap=300", "study.fairness_n_bootstrap=50", "study.proxy_targets=[age_band]",
    "study.proxy_estimator=logistic_regression", "study.minimal_set.enabled=false",
    "study.fairness_attributes=[gender]", "study.intersections=[]", "study.shap_rows=200",
    "study.permutation_rows=1000", "study.permutation_repeats=1", "study.audit=false",
]


def further_users(cfg, data_dir: Path) -> FurtherUsers:
    """Test subjects on demand: further users of the world, simulated into ``data_dir``."""

    def make(further):
        path, _, _ = build_dataset(further.world, seed=further.seed, name=further.name,
                                   data_dir=data_dir, chunk_users=further.simulate.chunk_users)
        return prepare(further, open_dataset(path))

    return FurtherUsers(cfg, make)


def one_world(seed: int, n_users: int, margin: float, tmp: Path,
              extra: tuple[str, ...] = ()) -> dict[str, dict]:
    cfg = load_config(None, [f"name=coverage{seed}", f"seed={seed}",
                             f"world.population.n_users={n_users}", *WORLD, *STUDY,
                             f"study.margins={{auc: {margin}}}", *extra])
    path, _, _ = build_dataset(cfg.world, seed=cfg.seed, name=cfg.name, data_dir=tmp,
                               chunk_users=cfg.simulate.chunk_users)
    further = tmp / f"further{seed}"
    source = further_users(cfg, further) \
        if cfg.study.until == "decided" and cfg.study.budget.subjects else None
    result = run_study(cfg, prepare(cfg, open_dataset(path)), subjects=source)
    shutil.rmtree(path)
    shutil.rmtree(further, ignore_errors=True)
    out = {}
    for group in (*NOISE, DRIVER):
        v = result.variant_for("drop_one", group)
        auc = v.comparisons["baseline"].metrics["auc"]
        out[group] = {"estimate": auc.estimate, "lower": auc.lower, "upper": auc.upper,
                      "verdict": v.verdict, "seeds": len(auc.variant_per_seed),
                      "look": auc.sequential.look if auc.sequential is not None else 1,
                      "subjects": (auc.power.test_subjects if auc.power is not None
                                   else result.sequential.subjects_first
                                   if result.sequential is not None else 0)}
    return out


def share(hits: list[bool]) -> tuple[float, float]:
    """Share and its binomial Monte-Carlo standard error."""
    k = len(hits)
    p = float(np.mean(hits)) if k else float("nan")
    return p, float(np.sqrt(p * (1 - p) / k)) if k else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worlds", type=int, default=20)
    ap.add_argument("--users", type=int, default=10_000)
    ap.add_argument("--margin", type=float, default=0.02,
                    help="non-inferiority margin of the AUC (the known-answer tests' margin)")
    ap.add_argument("--first-seed", type=int, default=1000)
    ap.add_argument("--resample", choices=("subsample", "bootstrap", "none"), default=None,
                    help="study.training_resample (default: the config's default)")
    ap.add_argument("--seeds", type=int, default=None, help="study.seeds (default: the "
                    "config's default)")
    ap.add_argument("--until", choices=("fixed", "decided"), default=None,
                    help="study.until (default: the config's default)")
    ap.add_argument("--budget-seeds", type=int, default=None,
                    help="study.budget.seeds (default: the config's default)")
    ap.add_argument("--subjects", type=int, default=None,
                    help="study.budget.subjects: most test subjects simulated on demand under "
                    "--until decided (default: the config's default; 0: none)")
    args = ap.parse_args()
    extra = tuple(x for x in (
        None if args.resample is None else f"study.training_resample={args.resample}",
        None if args.seeds is None else f"study.seeds={args.seeds}",
        None if args.until is None else f"study.until={args.until}",
        None if args.budget_seeds is None else f"study.budget.seeds={args.budget_seeds}",
        None if args.subjects is None else f"study.budget.subjects={args.subjects}")
        if x)
    t0 = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="bench_coverage_"))
    worlds = []
    try:
        for r in range(args.worlds):
            worlds.append(one_world(args.first_seed + r, args.users, args.margin, tmp, extra))
            w = worlds[-1]
            print(f"world {r + 1}/{args.worlds} (seed {args.first_seed + r}): " + "; ".join(
                f"drop_{g} {w[g]['estimate']:+.4f} [{w[g]['lower']:+.4f}, {w[g]['upper']:+.4f}] "
                f"{w[g]['verdict']} ({w[g]['seeds']} seeds, {w[g]['subjects']:,} test "
                f"subjects, look {w[g]['look']})"
                for g in (*NOISE, DRIVER)), flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    covered = []
    for g in (*NOISE, DRIVER):
        estimates = np.array([w[g]["estimate"] for w in worlds])
        mean = float(estimates.mean())
        mean_se = float(estimates.std(ddof=1) / np.sqrt(estimates.size)) \
            if estimates.size > 1 else float("nan")
        hits = [w[g]["lower"] <= mean <= w[g]["upper"] for w in worlds]
        c, se = share(hits)
        print(f"drop_{g}: across-world mean difference {mean:+.4f} ± {mean_se:.4f} "
              f"({mean / args.margin:+.1f} x the margin); its 95% intervals cover it "
              f"in {c:.3f} ± {se:.3f} of worlds")
        covered += hits
    coverage, coverage_se = share(covered)
    false_needed, fn_se = share([w[g]["verdict"] == NEEDED for w in worlds for g in NOISE])
    power, power_se = share([w[DRIVER]["verdict"] == NEEDED for w in worlds])
    seeds = np.array([w[g]["seeds"] for w in worlds for g in (*NOISE, DRIVER)])
    print(f"seeds per comparison: mean {seeds.mean():.1f}, most {seeds.max()} "
          f"({'; '.join(f'{k}: {int((seeds == k).sum())}' for k in np.unique(seeds))})")
    subjects = np.array([w[g]["subjects"] for w in worlds for g in (*NOISE, DRIVER)])
    print(f"test subjects per comparison: mean {subjects.mean():,.0f}, fewest "
          f"{subjects.min():,}, most {subjects.max():,}")
    minutes = (time.perf_counter() - t0) / 60
    print(f"{args.worlds} worlds of {args.users:,} users, margin {args.margin}, "
          f"{minutes:.1f} min: coverage {coverage:.3f} ± {coverage_se:.3f}, false-needed "
          f"{false_needed:.3f} ± {fn_se:.3f}, power {power:.3f} ± {power_se:.3f} (± one "
          "Monte-Carlo standard error)")
    print(f"coverage={coverage:.3f} false_needed={false_needed:.3f} power={power:.3f}")


if __name__ == "__main__":
    main()
