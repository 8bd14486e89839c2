"""Random streams by fixed user block, so outputs do not depend on chunking or workers.

The root ``SeedSequence(seed)`` conceptually spawns one child per block of
:data:`~data_gen.config.BLOCK_USERS` users; a child is addressed directly by its spawn key,
``SeedSequence(seed, spawn_key=(block, purpose, ...))``, which equals the corresponding child of
``spawn`` without materialising all of them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: Purposes of a block's streams (the second element of the spawn key).
INIT, DAYS, ORACLE, SHOWN_BALANCE = 0, 1, 2, 3


def block_generator(seed: int, block: int, purpose: int, *extra: int) -> np.random.Generator:
    """The generator of one block for one purpose."""
    seq = np.random.SeedSequence(seed, spawn_key=(block, purpose, *extra))
    return np.random.Generator(np.random.PCG64(seq))


class BlockRNG:
    """Chunk-wide draws that come block by block from each block's own generator.

    Rows are laid out block after block (``sizes[i]`` rows for ``generators[i]``); a draw of
    ``n_rows`` values gives row ``r`` the value its own block's generator produced, so the result
    is the same however blocks are grouped into chunks.
    """

    def __init__(self, generators: Sequence[np.random.Generator], sizes: Sequence[int]):
        if len(generators) != len(sizes):
            raise ValueError("one size per generator")
        self.generators = list(generators)
        self.sizes = [int(s) for s in sizes]
        self.bounds = np.concatenate([[0], np.cumsum(self.sizes)]).astype(np.int64)
        self.n = int(self.bounds[-1])

    def _segments(self):
        for g, lo, hi in zip(self.generators, self.bounds[:-1], self.bounds[1:], strict=True):
            yield g, int(lo), int(hi)

    def random(self) -> np.ndarray:
        """Uniform [0, 1) per row."""
        out = np.empty(self.n)
        for g, lo, hi in self._segments():
            g.random(out=out[lo:hi])
        return out

    def normal(self) -> np.ndarray:
        """Standard normal per row."""
        out = np.empty(self.n)
        for g, lo, hi in self._segments():
            g.standard_normal(out=out[lo:hi])
        return out

    def integers(self, low: int, high: int) -> np.ndarray:
        """Integers in [low, high) per row."""
        out = np.empty(self.n, dtype=np.int64)
        for g, lo, hi in self._segments():
            out[lo:hi] = g.integers(low, high, size=hi - lo)
        return out
