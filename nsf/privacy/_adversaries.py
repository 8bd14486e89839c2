"""Adversaries run on what a sharing design would share: each returns a share with an interval.

* re-identification: the share of people singled out by the shared quasi-identifiers (a class
  of one, :func:`nsf.audit._quasi.k_anonymity`), or identified through a reversible identifier;
* attribute inference: how well a classifier predicts a sensitive attribute from the shared
  columns, as lift over chance (:func:`nsf.fairness._proxy.proxy_strength`);
* identifier reversal: the share of identifiers an adversary recovers, and the time the
  enumeration of the phone numbering plan takes (:func:`reversal_probe`: identifiers of each
  kind made for numbers drawn at random, attacked with the audit's enumeration,
  :func:`nsf.audit.recover_phones`);
* exposure: records and people shared.

Intervals are percentile bootstraps over the people (``n_resamples`` replicates drawn from the
caller's generator; a share's replicates drawn as binomial counts, their exact distribution),
so the same seed gives the same figures.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from nsf.fairness import proxy_strength
from nsf.metrics import percentile_interval

__all__ = ["IDENTIFIERS", "ReversalProbe", "Share", "attribute_inference", "identified_people",
           "identifier_reversal", "reidentification", "reversal_probe", "reversal_share"]

#: Identifier kinds a design may share, and the share of them an adversary recovers: an
#: unsalted SHA-256 digest of a phone number is reversed by hashing the whole numbering plan
#: (the audit measures 100%); a keyed HMAC (key kept by the sender) or a random pseudonym
#: cannot be recomputed by the recipient.
IDENTIFIERS: dict[str, float] = {"sha256": 1.0, "hmac": 0.0, "random": 0.0}
#: Classes of a sensitive attribute with fewer people are pooled before inference.
MIN_CLASS = 10


@dataclass(frozen=True)
class Share:
    """A share (or a lift) with its percentile interval."""

    estimate: float
    lower: float
    upper: float

    def to_dict(self) -> dict:
        return asdict(self)


def _interval(indicator: np.ndarray, rng: np.random.Generator, n_resamples: int,
              confidence: float) -> Share:
    est = float(indicator.mean()) if indicator.size else 0.0
    if n_resamples == 0 or indicator.size == 0:
        return Share(est, est, est)
    # The bootstrap mean of n draws with replacement from a 0/1 sample is Binomial(n, est) / n:
    # the same distribution as resampling the people, without an n-by-replicates table.
    n = indicator.size
    reps = rng.binomial(n, est, size=n_resamples) / n
    lo, hi = percentile_interval(reps, confidence)
    return Share(est, lo, hi)


def reversal_share(identifier: str) -> float:
    """Share of identifiers of kind ``identifier`` (see :data:`IDENTIFIERS`) recovered."""
    if identifier not in IDENTIFIERS:
        raise ValueError(f"identifier must be one of {sorted(IDENTIFIERS)}, got {identifier!r}")
    return IDENTIFIERS[identifier]


def identifier_reversal(identifier: str, n_people: int) -> Share:
    """The share of the shared identifiers recovered (exact: no sampling involved)."""
    share = reversal_share(identifier) if n_people else 0.0
    return Share(share, share, share)


@dataclass(frozen=True)
class ReversalProbe:
    """What an adversary recovers from each kind of identifier, and how fast it hashes.

    ``n_targets`` phone numbers drawn at random inside a block of ``hashed`` consecutive
    numbers are turned into identifiers of each kind (an unsalted SHA-256 digest, a keyed HMAC
    whose key the adversary lacks, a random pseudonym); the adversary enumerates the block
    with the audit's kernel and confirms each candidate with a full hash. The enumeration is
    exhaustive, so the share recovered is exact (no sampling): the whole numbering plan
    recovers every digest of a number in it. The time is measured, chunk by chunk.

    Attributes
    ----------
    recovered : identifier kind -> identifiers recovered (of ``n_targets``).
    n_targets : identifiers made of each kind.
    hashed : candidates hashed.
    seconds_per_hash : one core's time per candidate: the total over the chunks, with the
        chunks' percentile interval.
    space : candidates in the whole numbering plan (``010`` + 8 digits).
    """

    recovered: dict[str, int]
    n_targets: int
    hashed: int
    seconds_per_hash: Share
    space: int

    def share(self, identifier: str) -> Share:
        """The share of identifiers of this kind recovered (exact)."""
        if identifier not in self.recovered:
            raise ValueError(f"identifier must be one of {sorted(self.recovered)}, "
                             f"got {identifier!r}")
        share = self.recovered[identifier] / self.n_targets if self.n_targets else 0.0
        return Share(share, share, share)

    def seconds_to_reverse(self, identifier: str) -> Share | None:
        """One core's time to enumerate the whole numbering plan, which recovers every
        identifier of this kind; None when the enumeration recovers none (no time helps
        without the key)."""
        if self.share(identifier).estimate == 0.0:
            return None
        s = self.seconds_per_hash
        return Share(s.estimate * self.space, s.lower * self.space, s.upper * self.space)


def reversal_probe(rng: np.random.Generator, *, n_targets: int = 100, chunks: int = 12,
                   chunk_size: int = 16_384, confidence: float = 0.95) -> ReversalProbe:
    """Measure identifier reversal (see :class:`ReversalProbe`) on ``chunks`` blocks of
    ``chunk_size`` numbers at a random place in the numbering plan (one core)."""
    from nsf.audit import PHONE_SPACE, recover_phones

    size = chunks * chunk_size
    start = int(rng.integers(0, PHONE_SPACE - size + 1))
    suffixes = start + rng.choice(size, size=min(n_targets, size), replace=False)
    phones = [f"010{int(x):08d}".encode() for x in suffixes]
    key = rng.bytes(32)  # the sender's key: never given to the adversary
    made = {"sha256": [hashlib.sha256(p).hexdigest() for p in phones],
            "hmac": [hmac.new(key, p, hashlib.sha256).hexdigest() for p in phones],
            "random": [rng.bytes(32).hex() for _ in phones]}
    # The adversary does not know which kind it holds: it attacks all of them at once.
    targets = [d for digests in made.values() for d in digests]
    found: set[str] = set()
    per_hash = np.empty(chunks)
    total = 0.0
    for i in range(chunks):
        res = recover_phones(targets, space_start=start + i * chunk_size,
                             space_size=chunk_size, workers=1)
        found.update(res.recovered)
        per_hash[i] = res.seconds / chunk_size
        total += res.seconds
    lo, hi = percentile_interval(per_hash, confidence)
    return ReversalProbe(
        recovered={kind: sum(d in found for d in digests) for kind, digests in made.items()},
        n_targets=len(phones), hashed=size,
        seconds_per_hash=Share(total / size, lo, hi), space=PHONE_SPACE)


def identified_people(shared: pd.DataFrame, *, identifier: str,
                      reversed_share: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(singled_out, identified)`` per person (see :func:`reidentification`)."""
    n = len(shared)
    if n and shared.shape[1]:
        class_id = shared.groupby(list(shared.columns), dropna=False, sort=False,
                                  observed=True).ngroup().to_numpy()
        unique = np.bincount(class_id)[class_id] == 1  # k = 1 (nsf.audit._quasi.k_anonymity)
    else:
        unique = np.zeros(n, dtype=bool)
    if reversed_share is None:
        reversed_share = reversal_share(identifier)
    return unique, unique | np.full(n, reversed_share >= 1.0)


def reidentification(shared: pd.DataFrame, *, identifier: str, rng: np.random.Generator,
                     n_resamples: int = 200, confidence: float = 0.95,
                     reversed_share: float | None = None) -> tuple[Share, Share]:
    """``(singled_out, identified)``: the share of people whose combination of shared columns
    is unique, and the share identified by either that or a reversible identifier.

    ``shared`` holds one row per person and only the quasi-identifiers the design shares (not
    its pseudonym: a pseudonym the recipient cannot reverse singles out a row but links it to
    nobody). ``reversed_share``: the share of such identifiers the adversary recovers (None:
    :func:`reversal_share`); everyone is identified through it when it is 1.
    """
    unique, identified = identified_people(shared, identifier=identifier,
                                           reversed_share=reversed_share)
    return (_interval(unique, rng, n_resamples, confidence),
            _interval(identified, rng, n_resamples, confidence))


def attribute_inference(shared: pd.DataFrame, attribute: pd.Series, *,
                        rng: np.random.Generator, max_rows: int = 4000,
                        n_resamples: int = 200, confidence: float = 0.95) -> Share:
    """Lift over chance of predicting ``attribute`` from the shared columns (AUC - 0.5 for a
    binary attribute, balanced accuracy - 1 / classes otherwise), cross-validated logistic
    regression on at most ``max_rows`` people. Nothing shared: lift 0 (the adversary's best
    guess is the base rate); NaN when fewer than two classes have ``MIN_CLASS`` people."""
    attribute = attribute.reset_index(drop=True)
    keep = attribute.notna().to_numpy()
    shared = shared.reset_index(drop=True).loc[keep]
    attribute = attribute.loc[keep].astype(str)
    if len(attribute) > max_rows:
        rows = np.sort(rng.choice(len(attribute), size=max_rows, replace=False))
        shared, attribute = shared.iloc[rows], attribute.iloc[rows]
    if shared.shape[1] == 0:
        return Share(0.0, 0.0, 0.0)
    counts = attribute.value_counts()
    rare = counts.index[counts < MIN_CLASS]
    if len(rare):  # pooled, so that every fold sees every class
        attribute = attribute.where(~attribute.isin(rare), "(other)")
        counts = attribute.value_counts()
    if counts.size < 2 or counts.min() < MIN_CLASS:
        return Share(np.nan, np.nan, np.nan)  # not measurable on these people
    res = proxy_strength(shared.reset_index(drop=True), attribute.reset_index(drop=True),
                         rng=rng, cv=3, estimator="logistic_regression", n_threads=1,
                         n_resamples=n_resamples, confidence=confidence)
    return Share(res.lift, res.score_lower - res.chance, res.score_upper - res.chance)
