"""The full-population job, step by step, with each step's wall time, peak memory and disk.

Runs ``experiments/full_population.yaml`` as the command line does, one ``nsf`` subprocess per
step, on one backend:

1. ``nsf simulate``       the world (40.45 M users; no event log, binned feed, zstd)
2. ``nsf study``          the study on a stratified sample of subjects (study.sample_subjects)
3. ``nsf train``          the scoring model, on a stratified sample (model.sample_subjects)
4. ``nsf export-latest``  every user's latest feed row, as a folder of Parquet parts
5. ``nsf score``          all of them, partition by partition on the executor

For each step it prints the wall time, the peak resident memory of the step's own process and
of its largest worker (local pool or Dask worker: every process of the step's process tree is
sampled every half second with psutil, so a peak shorter than that can be missed), the peak of
the whole tree, and the disk the step's output takes. Memory must stay below 4 GiB per process
at 40.45 M users: every step reads its data file by file or as a sample.

    python benchmarks/run_full_population.py --backend local --users 1000000   # a rehearsal
    python benchmarks/run_full_population.py --backend dask                    # 40.45 M users
    python benchmarks/run_full_population.py --backend dask \\
        --set execution.address=tcp://HOST:8786 --workdir /shared/nsf-full      # a cluster

The work folder (default ``full_population-<backend>`` here) holds the dataset, the MLflow
store, the report, the latest rows and the scores; a step whose output exists is run again
(the simulator and the study resume from their finished chunks and fits).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "experiments" / "full_population.yaml"
GIB = 1024 ** 3


class PeakMemory:
    """Peak resident memory of a process and of each process of its tree, sampled."""

    def __init__(self, pid: int, every: float = 0.5):
        self.pid, self.every = pid, every
        self.peaks: dict[int, int] = {}
        self.tree_peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _watch(self) -> None:
        try:
            root = psutil.Process(self.pid)
        except psutil.NoSuchProcess:
            return
        while not self._stop.is_set():
            total = 0
            try:
                procs = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            for proc in procs:
                try:
                    rss = proc.memory_info().rss
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue
                total += rss
                self.peaks[proc.pid] = max(self.peaks.get(proc.pid, 0), rss)
            self.tree_peak = max(self.tree_peak, total)
            self._stop.wait(self.every)

    @property
    def main(self) -> int:
        return self.peaks.get(self.pid, 0)

    @property
    def largest_worker(self) -> int:
        return max((v for k, v in self.peaks.items() if k != self.pid), default=0)


def du(path: Path) -> int:
    """Bytes on disk under ``path`` (0 when missing)."""
    if not path.exists():
        return 0
    if path.is_file():
        return path.stat().st_blocks * 512
    return sum(p.stat().st_blocks * 512 for p in path.rglob("*") if p.is_file())


def run_step(name: str, args: list[str], cwd: Path, log: Path) -> dict:
    """Run ``nsf ARGS`` in ``cwd`` (output appended to ``log``); its time and memory."""
    began = time.perf_counter()
    with open(log, "a") as out:
        out.write(f"\n$ nsf {' '.join(args)}\n")
        out.flush()
        proc = subprocess.Popen([sys.executable, "-m", "nsf", *args], cwd=cwd,
                                stdout=subprocess.PIPE, stderr=out, text=True,
                                env={**os.environ, "PYTHONPATH": str(ROOT)})
        with PeakMemory(proc.pid) as memory:
            stdout, _ = proc.communicate()
        out.write(stdout)
    took = time.perf_counter() - began
    if proc.returncode != 0:
        raise SystemExit(f"step {name} failed (exit {proc.returncode}); see {log}")
    return {"step": name, "seconds": took, "main": memory.main,
            "worker": memory.largest_worker, "tree": memory.tree_peak, "stdout": stdout}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("local", "dask"), required=True)
    parser.add_argument("--users", type=int, default=None,
                        help="Users to simulate (default: the config's 40,450,000).")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="Work folder (default: ./full_population-<backend>[-<users>]).")
    parser.add_argument("--config", type=Path, default=CONFIG)
    parser.add_argument("--set", dest="sets", action="append", default=[],
                        help="Config override passed to every step (repeatable).")
    parser.add_argument("--data", type=Path, default=None,
                        help="Dataset folder root (default: <workdir>/data). Pointing a second "
                             "backend's run at the first one's data reuses its dataset (the "
                             "checksums do not depend on the backend): its simulate step then "
                             "only verifies the row counts.")
    parser.add_argument("--fresh", action="store_true",
                        help="Remove the work folder first (nothing reused).")
    args = parser.parse_args(argv)

    suffix = "" if args.users is None else f"-{args.users}"
    work = (args.workdir or Path(f"full_population-{args.backend}{suffix}")).resolve()
    if args.fresh and work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    data = (args.data or work / "data").resolve()
    latest, scores = work / "latest", work / "scores"
    sets = [f"simulate.data_dir={data}", f"tracking.uri=sqlite:///{work / 'mlflow.db'}",
            f"execution.backend={args.backend}", "study.audit=false", *args.sets]
    if args.users is not None:
        sets.insert(0, f"world.population.n_users={args.users}")
    opts = [x for s in sets for x in ("--set", s)]
    config = str(args.config.resolve())
    log = work / "run.log"
    steps = []

    def step(name, nsf_args, output=None):
        result = run_step(name, nsf_args, work, log)
        result["disk"] = du(output) if output is not None else 0
        steps.append(result)
        print(f"{name}: {result['seconds']:.0f}s, peak RSS {result['main'] / GIB:.2f} GiB "
              f"(largest worker {result['worker'] / GIB:.2f} GiB)", flush=True)
        return result

    sim = step("simulate", ["simulate", config, "-q", *opts])
    dataset = Path(sim["stdout"].split()[1])  # "dataset PATH (built in ...)"
    steps[-1]["disk"] = du(dataset)
    step("study", ["study", config, "-q", *opts])
    trained = step("train", ["train", config, "-q", "--data", str(dataset), *opts])
    scorer = next(line.split("scorer:")[1].strip() for line in trained["stdout"].splitlines()
                  if "scorer:" in line)
    if latest.exists():
        shutil.rmtree(latest)
    step("export-latest", ["export-latest", config, str(latest), "--data", str(dataset),
                           *opts], latest)
    step("score", ["score", scorer, str(latest), str(scores), "--config", config, *opts],
         scores)

    users = args.users or 40_450_000
    print(f"\nfull-population job, {users:,} users, backend {args.backend} "
          f"({os.cpu_count()} cores, {psutil.virtual_memory().total / GIB:.0f} GiB RAM); "
          f"work folder {work}")
    print(f"{'step':<14}{'wall':>10}{'peak RSS':>12}{'largest':>12}{'tree':>10}{'disk':>11}")
    print(f"{'':<14}{'(s)':>10}{'main (GiB)':>12}{'worker':>12}{'(GiB)':>10}{'(GB)':>11}")
    for r in steps:
        print(f"{r['step']:<14}{r['seconds']:>10.0f}{r['main'] / GIB:>12.2f}"
              f"{r['worker'] / GIB:>12.2f}{r['tree'] / GIB:>10.2f}{r['disk'] / 1e9:>11.2f}")
    total = sum(r["seconds"] for r in steps)
    worst = max(max(r["main"], r["worker"]) for r in steps)
    print(f"total {total:.0f}s ({total / 3600:.2f} h); largest process {worst / GIB:.2f} GiB "
          f"({'under' if worst < 4 * GIB else 'OVER'} 4 GiB); disk {du(work) / 1e9:.2f} GB")


if __name__ == "__main__":
    main()
