"""The study's random streams and replicate seeds, derived from the experiment seed.

The bottom of the study package: it imports nothing from ``nsf.study``, so the runner, the
variants and every family module can use it.
"""

from __future__ import annotations

import zlib

import numpy as np

__all__ = ["replicate_seeds", "stream"]


def stream(seed: int, *labels: str | int) -> np.random.Generator:
    """An independent generator for one named purpose, derived from the experiment seed.

    The same labels give the same stream whatever the order in which tasks run or the process
    that runs them, which is what makes parallel results identical to serial ones.
    """
    key = [zlib.crc32(str(label).encode()) for label in labels]
    return np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=key))


def replicate_seeds(seed: int, k: int) -> list[int]:
    """K training seeds: the experiment seed first (with ``study.training_resample: none``
    replicate 0 is the `nsf train` model), then seeds derived from it."""
    if seed is None:
        raise ValueError("replicate_seeds needs the experiment seed")
    out = [int(seed)]
    for i in range(1, k):
        state = np.random.SeedSequence(int(seed), spawn_key=(0x57D7, i)).generate_state(2)
        out.append(int((int(state[0]) << 32 | int(state[1])) >> 2))
    return out
