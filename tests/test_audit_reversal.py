"""Reversal of unsalted SHA-256 phone digests: the kernel, the search and input checks."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from data_gen.identifiers import hash_identifiers, phone_plaintext
from nsf.audit import check_hex_digests, phone_digest_word7, recover_phones
from nsf.audit._sha256_lanes import DigestWordFilter, phone_message_words
from nsf.errors import NsfError

SUB_SPACE = 200_000  # a sub-space small enough for a test: well under a second per pass


def _word7(phone: str) -> int:
    return int(hashlib.sha256(phone.encode()).hexdigest()[56:], 16)


def test_kernel_matches_hashlib_on_edges_and_random_numbers():
    rng = np.random.default_rng(7)
    suffixes = np.concatenate([[0, 1, 9, 10, 9_999, 10_000, 99_999_999],
                               rng.integers(0, 10**8, 2_000)])
    got = phone_digest_word7(suffixes)
    expected = [_word7(p) for p in phone_plaintext(suffixes)]
    assert got.dtype == np.uint32
    assert got.tolist() == expected


def test_message_words_spell_the_ascii_number():
    w0, w1, w2 = phone_message_words(np.array([12_345_678]))
    raw = b"".join(int(w[0]).to_bytes(4, "big") for w in (w0, w1, w2))
    assert raw == b"01012345678\x80"


def test_filter_has_no_false_negatives():
    phones = phone_plaintext(np.arange(1_000, 2_000))
    bitmap = DigestWordFilter(hash_identifiers(phones, "sha256"))
    assert bitmap.contains(phone_digest_word7(np.arange(1_000, 2_000))).all()


@pytest.mark.parametrize("workers", [1, 2])
def test_every_planted_number_in_the_sub_space_is_recovered(workers):
    rng = np.random.default_rng(11)
    planted = rng.choice(SUB_SPACE, size=300, replace=False) + 5_000_000
    outside = np.array([4_999_999, 5_000_000 + SUB_SPACE, 99_999_999])
    phones = phone_plaintext(np.concatenate([planted, outside]))
    digests = hash_identifiers(phones, "sha256")
    done = []
    result = recover_phones(
        [*digests, None], space_start=5_000_000, space_size=SUB_SPACE, workers=workers,
        chunk_size=8_192, progress=done.append,
    )
    expected = dict(zip(digests[: len(planted)], phones[: len(planted)], strict=True))
    assert result.recovered == expected
    assert result.n_targets == len(planted) + len(outside)
    assert result.recovered_fraction == pytest.approx(300 / 303)
    assert sum(done) == SUB_SPACE
    assert result.hashes_per_s > 0
    assert result.summary()["phone_recovered"] == 300


def test_hmac_digests_recover_nothing():
    suffixes = np.arange(100, 60_000, 97)
    secret = b"a secret the attacker lacks"
    keyed = hash_identifiers(phone_plaintext(suffixes), "hmac-sha256", secret)
    result = recover_phones(keyed, space_start=0, space_size=60_000, workers=1)
    assert result.n_targets == len(suffixes)
    assert result.recovered == {}
    assert result.recovered_fraction == 0.0


def test_sub_space_outside_the_phone_space_is_rejected():
    with pytest.raises(ValueError, match="not inside"):
        recover_phones([], space_start=99_999_990, space_size=20)


@pytest.mark.parametrize(
    ("value", "why"),
    [("ab" * 31, "62 chars"), ("g" * 64, "64 chars"), ("aGVsbG8gd29ybGQ=", "16 chars")],
)
def test_malformed_digests_are_one_clear_error(value, why):
    column = pd.Series(["a" * 64, value, None])
    with pytest.raises(NsfError) as err:
        check_hex_digests(column, source="data/x users", column="phone_hash")
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("data/x users: column 'phone_hash' has 1 value(s)")
    assert why in message and "exactly 64 characters 0-9a-f" in message


def test_upper_case_digests_are_normalised_and_nulls_kept():
    digest = hashlib.sha256(b"01000000001").hexdigest()
    out = check_hex_digests(pd.Series([digest.upper(), None]), source="s", column="phone_hash")
    assert out.iloc[0] == digest
    assert pd.isna(out.iloc[1])
