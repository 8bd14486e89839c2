"""Decision churn: whose decision a variant changes, and how the scores move between bands.

Bands are the reference's score deciles; where scores tie across a decile edge (0-100 scores
bunch at the low end) neighbouring deciles merge, so a table may have fewer than ten bands.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations, product

import numpy as np

#: Score bands of the migration table and the PSI (deciles of the reference's scores).
N_BANDS = 10
#: Share floor of an empty band in the PSI (its logarithm must stay finite).
PSI_FLOOR = 1e-4


@dataclass(frozen=True)
class SwapShares:
    """Share of rows whose decision differs between two policies (mean over seed pairs).

    Attributes
    ----------
    swap : bundled under one and charged under the other.
    to_charged : bundled under the reference, charged under the variant.
    to_bundled : charged under the reference, bundled under the variant.
    pairs : seed pairs averaged.
    """

    swap: float
    to_charged: float
    to_bundled: float
    pairs: int


def _shares(pairs: list[tuple[np.ndarray, np.ndarray]]) -> SwapShares:
    to_charged = np.mean([np.mean(a & ~b) for a, b in pairs])
    to_bundled = np.mean([np.mean(~a & b) for a, b in pairs])
    return SwapShares(float(to_charged + to_bundled), float(to_charged), float(to_bundled),
                      len(pairs))


def swap_shares(reference: Sequence[np.ndarray], variant: Sequence[np.ndarray]) -> SwapShares:
    """Swap set of ``variant`` against ``reference`` (decisions per seed, True = bundled),
    averaged over every pair of a reference seed and a variant seed."""
    return _shares([(np.asarray(a, bool), np.asarray(b, bool))
                    for a, b in product(reference, variant)])


def seed_churn(decisions: Sequence[np.ndarray]) -> SwapShares | None:
    """The swap set between two seeds of the same arm, averaged over the pairs of distinct
    seeds: the churn retraining alone causes (None with one seed)."""
    if len(decisions) < 2:
        return None
    arrays = [np.asarray(d, bool) for d in decisions]
    return _shares([(arrays[i], arrays[j]) for i, j in combinations(range(len(arrays)), 2)])


def band_edges(reference_prob, n_bands: int = N_BANDS) -> np.ndarray:
    """Inner edges of the reference's score quantile bands (duplicates merged)."""
    q = np.quantile(np.asarray(reference_prob, dtype=np.float64),
                    np.arange(1, n_bands) / n_bands)
    return np.unique(q)


def bands(prob, edges: np.ndarray) -> np.ndarray:
    """Band of each probability (0 .. len(edges)); a value on an edge goes to the lower band."""
    return np.searchsorted(edges, np.asarray(prob, dtype=np.float64), side="left")


def migration_table(reference_prob, variant_prob, n_bands: int = N_BANDS) -> np.ndarray:
    """Share of rows in each (reference band, variant band) cell; bands are the reference's
    deciles, so rows on the diagonal kept their band."""
    edges = band_edges(reference_prob, n_bands)
    k = edges.size + 1
    a, b = bands(reference_prob, edges), bands(variant_prob, edges)
    table = np.bincount(a * k + b, minlength=k * k).reshape(k, k)
    return table / max(1, a.size)


def psi(reference_prob, variant_prob, n_bands: int = N_BANDS) -> float:
    """Population stability index of the variant's scores against the reference's deciles:
    ``sum (q - p) ln(q / p)`` over bands (shares floored at :data:`PSI_FLOOR`)."""
    edges = band_edges(reference_prob, n_bands)
    k = edges.size + 1
    p = np.bincount(bands(reference_prob, edges), minlength=k) / np.size(reference_prob)
    q = np.bincount(bands(variant_prob, edges), minlength=k) / np.size(variant_prob)
    p, q = np.maximum(p, PSI_FLOOR), np.maximum(q, PSI_FLOOR)
    return float(np.sum((q - p) * np.log(q / p)))


def mean_psi(reference: Sequence[np.ndarray], variant: Sequence[np.ndarray]) -> float:
    """PSI averaged over every pair of a reference seed and a variant seed."""
    return float(np.mean([psi(a, b) for a, b in product(reference, variant)]))


def seed_psi(probs: Sequence[np.ndarray]) -> float | None:
    """PSI between two seeds of one arm, averaged over the pairs of distinct seeds (both
    orders): the floor retraining alone gives (None with one seed)."""
    if len(probs) < 2:
        return None
    return float(np.mean([psi(probs[i], probs[j]) for i in range(len(probs))
                          for j in range(len(probs)) if i != j]))
