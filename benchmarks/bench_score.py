"""Benchmark: batch-score a Parquet file of shared feed rows with the default model.

Simulates a small world (default config's feed windows), trains the default LightGBM scorer
(no MLflow), tiles the feed into a Parquet file of ``--rows`` rows, scores it with
``nsf.scoring.score_file`` (the code path of ``nsf score``) and ends with ``rows_per_s=<float>``.
Target: >= 500,000 rows/s, so 40.45 M users take under 2 minutes.

    python benchmarks/bench_score.py                   # 4 M rows
    python benchmarks/bench_score.py --rows 1000000    # quicker
    python benchmarks/bench_score.py --reasons 3       # also 3 reason codes per row

With ``--reasons K`` the same file is scored twice, without and with K reason codes per row,
and the ratio of the times is printed (target: at most 2).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from data_gen.dataset import build_dataset
from nsf.config import load_config
from nsf.data import open_dataset
from nsf.pipeline import FeatureSelection, fit_variant, prepare
from nsf.scoring import score_file

POPULATION = 40_450_000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=4_000_000, help="rows scored")
    parser.add_argument("--users", type=int, default=20_000, help="simulated users")
    parser.add_argument("--batch-rows", type=int, default=None,
                        help="rows per batch (default: the config's scoring.batch_rows)")
    parser.add_argument("--reasons", type=int, default=0,
                        help="also score with this many reason codes per row and compare")
    args = parser.parse_args(argv)

    cfg = load_config(None, [f"world.population.n_users={args.users}", "world.calendar.days=300",
                             "world.truth.oracle_draws=1", "world.truth.oracle_snapshots=1"])
    with tempfile.TemporaryDirectory() as tmp:
        path, _, _ = build_dataset(cfg.world, seed=cfg.seed, name="bench", data_dir=Path(tmp),
                                   chunk_users=8192 * 2, workers=1)
        prepared = prepare(cfg, open_dataset(path))
        fitted = fit_variant(prepared, FeatureSelection(), cfg.model, cfg.seed)
        feed = pa.concat_tables([pq.read_table(p) for p in sorted((path / "feed").glob(
            "*.parquet"))])
        tiles = -(-args.rows // feed.num_rows)
        rows_file = Path(tmp) / "rows.parquet"
        with pq.ParquetWriter(rows_file, feed.schema) as writer:
            for _ in range(tiles):
                writer.write_table(feed, row_group_size=256_000)
        out = Path(tmp) / "scores.parquet"
        batch_rows = args.batch_rows or cfg.scoring.batch_rows
        stats = score_file(fitted, rows_file, out, batch_rows=batch_rows)
        scored = pq.read_metadata(out).num_rows
        print(f"model={cfg.model.kind} trees={cfg.model.lightgbm.n_estimators} "
              f"features={len(fitted.feature_names)} rows={scored} "
              f"seconds={stats['seconds']:.2f} rows_per_s={stats['rows_per_s']:.1f}")
        if args.reasons:
            plain = stats
            stats = score_file(fitted, rows_file, out, batch_rows=batch_rows,
                               reasons=args.reasons)
            print(f"with --reasons {args.reasons}: seconds={stats['seconds']:.2f} "
                  f"(explainer set-up included) rows_per_s={stats['rows_per_s']:.1f}")
            print(f"reasons_time_ratio={stats['seconds'] / plain['seconds']:.2f}")
    print(f"population_{POPULATION}_seconds_est={POPULATION / stats['rows_per_s']:.1f}")
    print(f"rows_per_s={stats['rows_per_s']:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
