"""Benchmark: the privacy-utility frontier's added time on a finished study, ending
``designs_share=<float>`` (the frontier's wall time over the study's).

Reads a finished study (its ``study.json``: the MLflow artifact of ``nsf study``) and the
dataset of the config it ran with (read only), and times the ``designs`` section alone
(:func:`nsf.study._designs.designs_section`: the adversaries on what every design would
share, the reversal probe, the inference fits on the study's executor) against the study's
own total (``timing.total``, which does not include the frontier). Prints wall and CPU
seconds (this process and its workers); nothing is written.

    python benchmarks/bench_designs.py experiments/default.yaml STUDY_JSON --dataset DATASET
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The checkout this file belongs to, not whichever copy of nsf is installed.
sys.path.insert(0, str(ROOT))


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config")
    parser.add_argument("study_json")
    parser.add_argument("--dataset", default=None, help="the simulated dataset folder, read "
                        "as it is (default: the config's, built if missing)")
    parser.add_argument("--out", default=None, help="also write the section (JSON) here")
    parser.add_argument("--set", action="append", default=[], dest="overrides",
                        help="dotted.key=value overrides (those the study ran with)")
    args = parser.parse_args(argv)

    from nsf.cli._simulate import ensure_dataset
    from nsf.config import load_config
    from nsf.data import open_dataset
    from nsf.pipeline import prepare
    from nsf.study import StudyResult
    from nsf.study._designs import designs_section

    cfg = load_config(args.config, args.overrides)
    result = StudyResult.model_validate(json.loads(Path(args.study_json).read_text()))
    if cfg.dataset.kind == "simulated":
        path = args.dataset or ensure_dataset(cfg, quiet=True)[0]
        dataset = open_dataset(path)
    else:
        dataset = None
    latents = cfg.study.proxy_targets is None or "income_band" in cfg.study.proxy_targets
    prepared = prepare(cfg, dataset, latents=latents)
    prepared = prepared.for_study(cfg.study.crossfit_below, cfg.study.crossfit_folds)
    cpu0, t0 = _cpu(), time.perf_counter()
    section = designs_section(result, prepared, cfg)
    wall, cpu = time.perf_counter() - t0, _cpu() - cpu0
    if isinstance(section, str):
        print(section)
        return 2
    if args.out:
        Path(args.out).write_text(json.dumps(section, indent=1, default=str))
    by_role = {d["role"]: d for d in section["designs"] if d["role"]}
    for role in ("case", "recommended"):
        d = by_role.get(role)
        if d is not None:
            r, a = d["at_risk"], d["auc_diff"] or {}
            print(f"{role}: {d['name']} at_risk={r['estimate']:.4f} [{r['lower']:.4f}, "
                  f"{r['upper']:.4f}] auc_diff={a.get('estimate')} [{a.get('lower')}, "
                  f"{a.get('upper')}]")
    print(f"recommended_dominates={section['recommended_dominates']} "
          f"efficient_auc={[d['name'] for d in section['designs'] if d['efficient_auc']]}")
    study_s = result.timing.total
    print(f"config={args.config} designs={len(section['designs'])} "
          f"people_sampled={section['people_sampled']} workers={cfg.study.workers}")
    sph = section["seconds_per_hash"]
    if sph is not None:
        print(f"reversal_probe: hashed={section['probe_hashed']} "
              f"hashes_per_s={1 / sph['estimate']:,.0f} "
              f"[{1 / sph['upper']:,.0f}, {1 / sph['lower']:,.0f}] (one core)")
    print(f"designs_s={wall:.1f} designs_cpu_s={cpu:.1f} study_s={study_s:.1f}")
    print(f"designs_share={wall / study_s:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
