"""Simulator throughput and memory.

Builds the dataset of a config at several population sizes (event log on by default) into a
temporary folder and prints, per size: wall time, events generated and written per second,
user-days per second, and peak resident memory (the whole process tree, and the largest single
process). The last line is ``events_per_s=<float> peak_rss_mib=<float>`` for the largest size.

    python benchmarks/bench_simulate.py                      # 100k and 1M users, events on
    python benchmarks/bench_simulate.py --config experiments/full_population.yaml \\
        --sizes 1000000 4000000 --no-events                 # full-population extrapolation
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import threading
import time
from pathlib import Path

import psutil

from data_gen.dataset import build_dataset
from nsf.config import load_config

ROOT = Path(__file__).resolve().parents[1]


class PeakRSS:
    """Samples the resident memory of this process and its children in a thread."""

    def __init__(self, interval: float = 0.1):
        self.interval = interval
        self.total = 0
        self.single = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            try:
                procs = [me, *me.children(recursive=True)]
                rss = []
                for p in procs:
                    try:
                        rss.append(p.memory_info().rss)
                    except psutil.NoSuchProcess:
                        continue
                self.total = max(self.total, sum(rss))
                self.single = max(self.single, max(rss))
            except psutil.Error:
                pass
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def run(config: Path, n_users: int, *, events: bool, workers: int, chunk_users: int | None,
        days: int | None) -> dict:
    overrides = [f"world.population.n_users={n_users}", f"world.feed.events={str(events).lower()}"]
    if chunk_users:
        overrides.append(f"simulate.chunk_users={chunk_users}")
    if days:
        overrides.append(f"world.calendar.days={days}")
    cfg = load_config(config, overrides)
    tmp = Path(tempfile.mkdtemp(prefix="bench_sim_"))
    try:
        with PeakRSS() as peak:
            t0 = time.perf_counter()
            path, manifest, _ = build_dataset(
                cfg.world, seed=cfg.seed, name=cfg.name, data_dir=tmp,
                chunk_users=cfg.simulate.chunk_users, workers=workers)
            wall = time.perf_counter() - t0
        import json

        totals = json.loads((path / "summary.json").read_text())["totals"]
        size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {
        "n_users": n_users, "wall_s": wall, "events": totals["events"],
        "events_written": manifest["rows"].get("events", 0),
        "user_days": totals["user_days"], "events_per_s": totals["events"] / wall,
        "user_days_per_s": totals["user_days"] / wall,
        "peak_rss_mib": peak.total / 2**20, "peak_single_rss_mib": peak.single / 2**20,
        "disk_mib": size / 2**20, "chunk_users": cfg.simulate.chunk_users, "workers": workers,
        "days": cfg.world.calendar.days,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, default=ROOT / "experiments/default.yaml")
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--events", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--chunk-users", type=int, default=None)
    ap.add_argument("--days", type=int, default=None)
    ap.add_argument("--extrapolate", type=int, default=40_450_000,
                    help="population to extrapolate the wall time to (linear in users)")
    args = ap.parse_args()
    results = []
    for n in args.sizes:
        r = run(args.config, n, events=args.events, workers=args.workers,
                chunk_users=args.chunk_users, days=args.days)
        results.append(r)
        print(f"users={n:>11,} days={r['days']} workers={r['workers']} chunk={r['chunk_users']:,}"
              f" wall={r['wall_s']:.1f}s events={r['events']:,} (written {r['events_written']:,})"
              f" events/s={r['events_per_s']:,.0f} user-days/s={r['user_days_per_s']:,.0f}"
              f" peak_rss_tree={r['peak_rss_mib']:.0f}MiB"
              f" peak_rss_process={r['peak_single_rss_mib']:.0f}MiB disk={r['disk_mib']:.0f}MiB",
              flush=True)
    if len(results) >= 2:
        a, b = results[-2], results[-1]
        per_user = (b["wall_s"] - a["wall_s"]) / (b["n_users"] - a["n_users"])
        fixed = b["wall_s"] - per_user * b["n_users"]
        est = fixed + per_user * args.extrapolate
        print(f"extrapolated wall time for {args.extrapolate:,} users: {est / 60:.1f} min "
              f"(linear through the last two sizes)")
    last = results[-1]
    print(f"events_per_s={last['events_per_s']:.1f} peak_rss_mib={last['peak_rss_mib']:.1f}")


if __name__ == "__main__":
    main()
