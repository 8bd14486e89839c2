"""Benchmark: recover 010 phone numbers from unsalted SHA-256 over the whole 10^8 space.

Plants synthetic numbers (never a real person's: drawn from a seeded generator), enumerates the
space with ``nsf.audit.recover_phones`` in worker processes, checks every planted number came
back, and ends with the line ``hashes_per_s=<float>``.

    python benchmarks/bench_audit.py                      # whole space, 2 workers
    python benchmarks/bench_audit.py --space 4000000      # a quick sub-space
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

from data_gen.identifiers import hash_identifiers, phone_plaintext
from nsf.audit import PHONE_SPACE, recover_phones


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", type=int, default=PHONE_SPACE, help="suffixes enumerated")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--targets", type=int, default=100_000, help="planted numbers")
    parser.add_argument("--chunk-size", type=int, default=65_536)
    parser.add_argument("--seed", type=int, default=20190711)
    args = parser.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    planted = rng.choice(args.space, size=min(args.targets, args.space), replace=False)
    digests = hash_identifiers(phone_plaintext(planted), "sha256")
    result = recover_phones(digests, space_start=0, space_size=args.space,
                            workers=args.workers, chunk_size=args.chunk_size)
    per_core = result.hashes_per_s / args.workers
    print(f"space={args.space} workers={args.workers} targets={result.n_targets} "
          f"recovered={result.n_recovered} candidates_checked={result.n_candidates}")
    print(f"seconds={result.seconds:.2f} hashes_per_s_per_worker={per_core:.0f} "
          f"full_space_seconds_est={result.full_space_seconds:.1f}")
    if result.n_recovered != result.n_targets:
        print("ERROR: not every planted number was recovered", file=sys.stderr)
        return 1
    print(f"hashes_per_s={result.hashes_per_s:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
