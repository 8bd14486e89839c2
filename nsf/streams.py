"""Every random stream of the project, by name, derived from the experiment's seed.

One scheme: a stream is named by what it draws (kebab-case) and, where one purpose needs many
independent streams, by labels (a variant, a date, a metric):
``stream(seed, "fairness-rows", variant)``. The same seed, name and labels give the same draws
whatever the order in which tasks run or the process that runs them, which is what makes
parallel results identical to serial ones. Nothing else in the package derives a generator from
the seed.

A name's ``SeedSequence`` is ``SeedSequence(seed, spawn_key=[crc32(name), crc32(label), ...])``,
except for the streams that existed before this scheme: they keep the derivation they were
first drawn with (:data:`ENTROPY_SALTS`, :data:`SPAWN_SALTS`), so that every draw, and every
published result, stays as it was. They are asked for by name like the others.
"""

from __future__ import annotations

import zlib

import numpy as np

__all__ = ["ENTROPY_SALTS", "SPAWN_SALTS", "model_seed", "replicate_seeds", "seed_sequence",
           "stream"]

#: Streams derived as ``SeedSequence([seed, salt])`` (no labels).
ENTROPY_SALTS: dict[str, int] = {
    # Each seed's re-draw of the training subjects (study.training_resample).
    "training-resample": 0x7EA5A3,
    # The nested subsamples of training subjects (the volume family's learning curve).
    "subject-subsample": 0x5B5A,
    # The fold assignment of cross-fitted tables.
    "cross-fit-folds": 0xC505F17,
    # The subjects a study keeps (study.sample_subjects).
    "sample-subjects": 0x5AB5EC7,
    # The order of the users before the training/calibration split.
    "user-permutation": 0x5B117,
}

#: Streams derived as ``SeedSequence(seed, spawn_key=(salt, *labels))`` (integer labels).
SPAWN_SALTS: dict[str, int] = {
    # The oracle AUC's interval under a fit's seed (kept apart from the model's draws).
    "oracle-interval": 0x0AC1E,
    # The training seeds after the first (label: the replicate's index).
    "replicate-seeds": 0x57D7,
}


def seed_sequence(seed: int, name: str, *labels: str | int) -> np.random.SeedSequence:
    """The ``SeedSequence`` of the stream ``name`` (with ``labels``) under ``seed``.

    Raises
    ------
    ValueError
        If ``seed`` is None, or a salted stream is given labels it does not take.
    """
    if seed is None:
        raise ValueError(f"the stream {name!r} needs a seed")
    if name in ENTROPY_SALTS:
        if labels:
            raise ValueError(f"the stream {name!r} takes no labels, got {labels!r}")
        return np.random.SeedSequence([int(seed), ENTROPY_SALTS[name]])
    if name in SPAWN_SALTS:
        return np.random.SeedSequence(int(seed),
                                      spawn_key=(SPAWN_SALTS[name], *(int(x) for x in labels)))
    key = [zlib.crc32(str(label).encode()) for label in (name, *labels)]
    return np.random.SeedSequence(int(seed), spawn_key=key)


def stream(seed: int, name: str, *labels: str | int) -> np.random.Generator:
    """An independent generator for one named purpose (see the module), from ``seed``.

    Parameters
    ----------
    seed : int
        The experiment's (or a training replicate's) seed.
    name : str
        What the stream draws, e.g. ``"fairness-rows"``.
    *labels : str or int
        What tells apart the streams of one purpose (a variant, a date, a metric).
    """
    return np.random.default_rng(seed_sequence(seed, name, *labels))


def model_seed(seed: int) -> int:
    """A 31-bit seed for an estimator, derived from the experiment (or replicate) seed."""
    return int(np.random.SeedSequence(int(seed)).generate_state(1)[0] >> 1)


def replicate_seeds(seed: int, k: int) -> list[int]:
    """K training seeds: the experiment seed first (with ``study.training_resample: none``
    replicate 0 is the `nsf train` model), then seeds derived from it."""
    if seed is None:
        raise ValueError("replicate_seeds needs the experiment seed")
    out = [int(seed)]
    for i in range(1, k):
        state = seed_sequence(seed, "replicate-seeds", i).generate_state(2)
        out.append(int((int(state[0]) << 32 | int(state[1])) >> 2))
    return out
