"""Benchmark: the same simulate + study + scoring on the local backend and on a Dask LocalCluster.

Each step runs as the command line does (``nsf simulate``, ``nsf study``, ``nsf score``), in a
fresh temporary folder per backend (dataset, MLflow store, reports: nothing reused), with the
same worker count on both backends. Prints each step's wall time per backend, checks that both
backends built the same dataset (checksums) and reached the same verdicts, and ends with
``dask_overhead=<ratio>``: the Dask total over the local total (goal <= 1.15).

Scoring (``nsf score``) reads, encodes and predicts with threads of one process: it does not go
through the executor, so its time is the same work on both backends and is printed for
completeness.

    python benchmarks/bench_scale.py                     # smoke study, 16,384 users, 2 workers
    python benchmarks/bench_scale.py --workers 2 --set world.population.n_users=50000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BACKENDS = ("local", "dask")


def _nsf(args: list[str], cwd: Path) -> tuple[float, str]:
    began = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "nsf", *args], cwd=cwd, text=True,
                          capture_output=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    took = time.perf_counter() - began
    if proc.returncode != 0:
        raise SystemExit(f"nsf {args[0]} failed ({proc.returncode}): {proc.stderr.strip()}")
    return took, proc.stdout


def _run(backend: str, config: str, workers: int, overrides: list[str], tmp: Path) -> dict:
    sets = [*overrides, f"simulate.data_dir={tmp / 'data'}",
            f"tracking.uri=sqlite:///{tmp / 'mlflow.db'}", f"execution.backend={backend}",
            f"execution.workers={workers}", "study.audit=false"]
    opts = [x for s in sets for x in ("--set", s)]
    out: dict = {}
    out["simulate_s"], text = _nsf(["simulate", config, "-q", *opts], tmp)
    dataset = Path(text.split()[1]) / "manifest.json"  # "dataset PATH (built in ...)"
    out["study_s"], _ = _nsf(["study", config, "-q", "--fresh", *opts], tmp)
    # The model to score with (not timed: the same single-process fit on both backends).
    _, text = _nsf(["train", config, "-q", *opts], tmp)
    scorer = next(line.split("scorer:")[1].strip() for line in text.splitlines()
                  if "scorer:" in line)
    feed = sorted((dataset.parent / "feed").glob("*.parquet"))[0]
    out["score_s"], _ = _nsf(["score", scorer, feed.as_uri(), (tmp / "scores.parquet").as_uri(),
                              "--config", config, *opts], tmp)
    out["checksums"] = json.loads(dataset.read_text())["checksums"]
    out["study"] = _study_numbers(f"sqlite:///{tmp / 'mlflow.db'}")
    return out


def _study_numbers(uri: str) -> list:
    """Each variant's verdict and its comparisons' intervals, from the logged study.json."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    runs = client.search_runs(
        [e.experiment_id for e in client.search_experiments()],
        filter_string="tags.`nsf.role` = 'study' and attributes.status = 'FINISHED'")
    [run] = runs
    study = json.loads(_load(client, run))
    return [(v["name"], v["verdict"], v["comparisons"]) for v in study["variants"]]


def _load(client, run) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        path = client.download_artifacts(run.info.run_id, "study.json", tmp)
        return Path(path).read_text()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", nargs="?", default=str(ROOT / "experiments" / "smoke.yaml"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--set", action="append", default=[], dest="overrides",
                        help="extra dotted.key=value overrides")
    args = parser.parse_args(argv)
    overrides = ["world.population.n_users=16384", "simulate.chunk_users=8192",
                 *args.overrides]
    config = str(Path(args.config).resolve())
    results = {}
    for backend in BACKENDS:
        with tempfile.TemporaryDirectory() as tmp:
            results[backend] = _run(backend, config, args.workers, overrides, Path(tmp))
        r = results[backend]
        print(f"backend={backend} workers={args.workers} simulate_s={r['simulate_s']:.1f} "
              f"study_s={r['study_s']:.1f} score_s={r['score_s']:.1f}", flush=True)
    local, dask = results["local"], results["dask"]
    same_data = local["checksums"] == dask["checksums"]
    same_verdicts = local["study"] == dask["study"]
    print(f"identical_checksums={same_data} identical_verdicts_and_intervals={same_verdicts}")
    steps = ("simulate_s", "study_s", "score_s")
    total = {b: sum(results[b][s] for s in steps) for b in BACKENDS}
    print(f"local_s={total['local']:.1f} dask_s={total['dask']:.1f}")
    print(f"dask_overhead={total['dask'] / total['local']:.3f}")
    return 0 if same_data and same_verdicts else 1


if __name__ == "__main__":
    sys.exit(main())
