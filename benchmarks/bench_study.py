"""Benchmark: wall time of ``nsf study`` per stage, ending ``study_s=<float>``.

Runs the whole study of an experiment file (default: experiments/default.yaml) as the CLI
does, into a fresh temporary MLflow store (nothing reused), on the dataset of that config
(built first if missing; the build is timed separately and not counted in ``study_s``).
Prints each stage's wall seconds (and, with ``--workers 1``, each stage's CPU seconds in this
one process), the CPU seconds of the fits' estimators' own training with the least wall time
it leaves the fits on the workers (``estimator_cpu_s``, ``fits_floor_s``), then ``study_s=``
last.

    python benchmarks/bench_study.py                                  # default, 2 workers
    python benchmarks/bench_study.py experiments/smoke.yaml --workers 1
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The checkout this file belongs to, not whichever copy of nsf is installed.
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", nargs="?", default=str(ROOT / "experiments" / "default.yaml"))
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--data-dir", default=None,
                        help="dataset folder root (default: simulate.data_dir)")
    parser.add_argument("--set", action="append", default=[], dest="overrides",
                        help="extra dotted.key=value overrides")
    parser.add_argument("--out", default=None,
                        help="also write the study result (study.json) to this file")
    args = parser.parse_args(argv)

    from nsf.cli._simulate import ensure_dataset
    from nsf.cli._study import further_subjects
    from nsf.config import load_config
    from nsf.data import open_dataset
    from nsf.pipeline import prepare
    from nsf.study import run_study, study_tables, warm_workers
    from nsf.tracking.study import MlflowFitStore, log_study_result, study_run, with_parent

    overrides = list(args.overrides)
    if args.data_dir:
        overrides.append(f"simulate.data_dir={args.data_dir}")
    with tempfile.TemporaryDirectory() as tmp:
        overrides.append(f"tracking.uri=sqlite:///{Path(tmp) / 'mlflow.db'}")
        cfg = load_config(args.config, overrides)
        t0 = time.perf_counter()
        path, _, reused = ensure_dataset(cfg, quiet=True)
        build_s = time.perf_counter() - t0
        t_start = time.perf_counter()
        warm_workers(cfg, args.workers)  # as `nsf study` does
        with study_run(cfg, fresh=True) as (run_id, _):
            t = time.perf_counter()
            latents = cfg.study.proxy_targets is None or "income_band" in cfg.study.proxy_targets
            prepared = prepare(cfg, open_dataset(path), latents=latents)
            prepare_s = time.perf_counter() - t
            store = MlflowFitStore(cfg, run_id, prepared.digest)
            cpu_start, started = time.process_time(), {}

            def progress(stage: str, done: int, total: int) -> None:
                started.setdefault(stage, time.process_time())

            # Under ``study.until: decided`` on simulated data, further test subjects of the
            # same world as the CLI makes them (their simulation counts in study_s).
            result = run_study(cfg, prepared, store=store, workers=args.workers,
                               dataset_path=path, fresh=True, progress=progress,
                               subjects=further_subjects(cfg, latents, args.workers))
            cpu_end = time.process_time()
            t = time.perf_counter()
            result = with_parent(result, run_id, False)
            log_study_result(result, study_tables(result), dataset_digest=prepared.digest)
            log_s = time.perf_counter() - t
        study_s = time.perf_counter() - t_start
    if args.out:
        Path(args.out).write_text(result.to_json())
    timing = result.timing.model_dump()
    fits = result.fits
    print(f"config={args.config} workers={args.workers} variants={len(result.variants)} "
          f"seeds={len(result.seeds)} fits={fits.trained} test_rows="
          f"{result.dataset.test_rows}" + (f" fits_requested={fits.requested} fits_shared="
                                             f"{fits.shared} fit_cache_hit_rate="
                                             f"{fits.hit_rate:.2f}"
                                             if hasattr(fits, "shared") else ""))
    print(f"dataset_s={build_s:.1f} ({'reused' if reused else 'built'}) prepare_s={prepare_s:.1f}")
    print(" ".join(f"{stage}_s={timing[stage]:.1f}" for stage in
                   ("fits", "subjects", "proxies", "fairness", "statistics", "minimal_set",
                    "decisions", "freshness")
                   if stage in timing) + f" logging_s={log_s:.1f}")
    # The estimators' own training (CPU seconds over every worker) and the least wall time it
    # leaves the fits on these workers: the part of fits_s no change to the study can remove.
    print(f"estimator_cpu_s={timing.get('fits_estimator_cpu', 0.0):.1f} "
          f"fits_floor_s={timing.get('fits_floor', 0.0):.1f}")
    if args.workers == 1:
        # One process does everything: its CPU seconds from one stage's first progress report
        # to the next stage's (the minimal set's include the decisions), less sensitive to
        # other load on the machine than the wall times above.
        marks = [*sorted(started.items(), key=lambda kv: kv[1]), ("end", cpu_end)]
        cpu = {"setup": marks[0][1] - cpu_start} | {
            stage.replace(" ", "_"): marks[i + 1][1] - t for i, (stage, t) in
            enumerate(marks[:-1])}
        print("cpu: " + " ".join(f"{stage}_s={v:.1f}" for stage, v in cpu.items()))
    verdicts = {}
    for v in result.variants:
        verdicts[v.verdict] = verdicts.get(v.verdict, 0) + 1
    print("verdicts: " + ", ".join(f"{k}={n}" for k, n in sorted(verdicts.items(), key=str)))
    designs = result.sections.designs
    if designs is not None:  # the privacy-utility frontier, part of study_s
        print(f"designs={len(designs.designs)} designs_s={designs.seconds:.1f} "
              f"({100 * designs.seconds / study_s:.0f}% of the study)")
    print(f"study_s={study_s:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
