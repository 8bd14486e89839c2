"""nsf.streams: one place for every random stream, whose draws never move."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from nsf.streams import ENTROPY_SALTS, SPAWN_SALTS, model_seed, seed_sequence, stream

SEEDS = (0, 7, 12345, 2**40 + 3)


@pytest.mark.parametrize("seed", SEEDS)
def test_salted_streams_keep_their_original_derivation(seed):
    """The streams drawn before the named scheme draw exactly what they drew (results that were
    published from them do not move)."""
    for name, salt in {"training-resample": 0x7EA5A3, "subject-subsample": 0x5B5A,
                       "cross-fit-folds": 0xC505F17, "sample-subjects": 0x5AB5EC7,
                       "user-permutation": 0x5B117}.items():
        old = np.random.default_rng(np.random.SeedSequence([seed, salt]))
        assert stream(seed, name).integers(0, 2**62, 8).tolist() == \
            old.integers(0, 2**62, 8).tolist()
    old = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0x0AC1E,)))
    assert stream(seed, "oracle-interval").random(4).tolist() == old.random(4).tolist()
    for i in (1, 2, 9):
        assert seed_sequence(seed, "replicate-seeds", i).generate_state(2).tolist() == \
            np.random.SeedSequence(seed, spawn_key=(0x57D7, i)).generate_state(2).tolist()
    assert model_seed(seed) == int(np.random.SeedSequence(seed).generate_state(1)[0] >> 1)


def test_named_streams_are_the_crc32_of_their_name_and_labels():
    key = [zlib.crc32(x.encode()) for x in ("fairness-rows", "drop_email")]
    old = np.random.default_rng(np.random.SeedSequence(3, spawn_key=key))
    assert stream(3, "fairness-rows", "drop_email").random(4).tolist() == old.random(4).tolist()
    assert stream(3, "fairness-rows", "a").random() != stream(3, "fairness-rows", "b").random()
    assert stream(3, "x").random() != stream(4, "x").random()


def test_every_salt_is_used_once_and_misuse_is_refused():
    salts = [*ENTROPY_SALTS.values(), *SPAWN_SALTS.values()]
    assert len(set(salts)) == len(salts)
    with pytest.raises(ValueError, match="takes no labels"):
        stream(1, "training-resample", "extra")
    with pytest.raises(ValueError, match="needs a seed"):
        stream(None, "fairness-rows")  # type: ignore[arg-type]
