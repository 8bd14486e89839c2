"""SHA-256 of Korean mobile numbers, vectorised over numpy uint32 lanes.

The message ``010`` + 8 digits is 11 bytes: one 64-byte block whose padding and length words are
constant, so only message words 0-2 vary (``"010d"``, ``"dddd"``, ``"ddd\\x80"``); words 3-14 are
zero and word 15 is the bit length 88. Values known before the lanes exist are folded as Python
integers, so the first rounds and the zero schedule words cost nothing.

Only digest word 7 (bytes 28-31) is computed: it equals ``H7 + e`` after round 60, so rounds 61-63
and schedule words 61-63 are skipped. A 32-bit word is a filter, not a proof: callers confirm
every lane that passes with :mod:`hashlib` before reporting a recovery.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable

import numpy as np

_MASK = 0xFFFFFFFF

_K = (
    0x428A2F98, 0x71374491, 0xB5C0FBCF, 0xE9B5DBA5, 0x3956C25B, 0x59F111F1, 0x923F82A4, 0xAB1C5ED5,
    0xD807AA98, 0x12835B01, 0x243185BE, 0x550C7DC3, 0x72BE5D74, 0x80DEB1FE, 0x9BDC06A7, 0xC19BF174,
    0xE49B69C1, 0xEFBE4786, 0x0FC19DC6, 0x240CA1CC, 0x2DE92C6F, 0x4A7484AA, 0x5CB0A9DC, 0x76F988DA,
    0x983E5152, 0xA831C66D, 0xB00327C8, 0xBF597FC7, 0xC6E00BF3, 0xD5A79147, 0x06CA6351, 0x14292967,
    0x27B70A85, 0x2E1B2138, 0x4D2C6DFC, 0x53380D13, 0x650A7354, 0x766A0ABB, 0x81C2C92E, 0x92722C85,
    0xA2BFE8A1, 0xA81A664B, 0xC24B8B70, 0xC76C51A3, 0xD192E819, 0xD6990624, 0xF40E3585, 0x106AA070,
    0x19A4C116, 0x1E376C08, 0x2748774C, 0x34B0BCB5, 0x391C0CB3, 0x4ED8AA4A, 0x5B9CCA4F, 0x682E6FF3,
    0x748F82EE, 0x78A5636F, 0x84C87814, 0x8CC70208, 0x90BEFFFA, 0xA4506CEB, 0xBEF9A3F7, 0xC67178F2,
)  # fmt: skip
_H0 = (
    0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A, 0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19,
)  # fmt: skip

#: The last round whose output is needed: digest word 7 = H7 + e after round 60.
_LAST_ROUND = 60

PHONE_SPACE = 100_000_000

# Four decimal digits packed one per byte, big-endian: 1234 -> 0x01020304.
_PACKED_DIGITS = np.array(
    [((n // 1000) << 24) | ((n // 100 % 10) << 16) | ((n // 10 % 10) << 8) | (n % 10)
     for n in range(10_000)],
    dtype=np.uint32,
)  # fmt: skip

Word = int | np.ndarray  # a value known up front (Python int) or one per lane


def _u32(x: int) -> np.uint32:
    return np.uint32(x & _MASK)


def _add(*terms: Word) -> Word:
    const = 0
    lanes: np.ndarray | None = None
    for t in terms:
        if isinstance(t, int):
            const = (const + t) & _MASK
        elif lanes is None:
            lanes = t
        else:
            lanes = lanes + t
    if lanes is None:
        return const
    return lanes + _u32(const) if const else lanes


def _bitop(a: Word, b: Word, lane_op: np.ufunc, const_op: Callable[[int, int], int]) -> Word:
    if isinstance(a, int) and isinstance(b, int):
        return const_op(a, b) & _MASK
    if isinstance(a, int):
        a, b = b, a
    return lane_op(a, _u32(b) if isinstance(b, int) else b)


def _xor(a: Word, b: Word) -> Word:
    return _bitop(a, b, np.bitwise_xor, operator.xor)


def _and(a: Word, b: Word) -> Word:
    return _bitop(a, b, np.bitwise_and, operator.and_)


def _or(a: Word, b: Word) -> Word:
    return _bitop(a, b, np.bitwise_or, operator.or_)


def _rotr(x: Word, n: int) -> Word:
    if isinstance(x, int):
        return ((x >> n) | (x << (32 - n))) & _MASK
    return (x >> np.uint32(n)) | (x << np.uint32(32 - n))


def _shr(x: Word, n: int) -> Word:
    if isinstance(x, int):
        return x >> n
    return x >> np.uint32(n)


def _big_sigma(x: Word, r1: int, r2: int, r3: int) -> Word:
    return _xor(_xor(_rotr(x, r1), _rotr(x, r2)), _rotr(x, r3))


def _small_sigma(x: Word, r1: int, r2: int, s: int) -> Word:
    return _xor(_xor(_rotr(x, r1), _rotr(x, r2)), _shr(x, s))


def phone_message_words(suffixes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Message words 0-2 of ``"010%08d" % suffix`` (big-endian ASCII, with the 0x80 pad byte).

    Parameters
    ----------
    suffixes
        Integer phone suffixes in ``[0, 10^8)``.
    """
    s = np.asarray(suffixes, dtype=np.int64)
    high = _PACKED_DIGITS[s // 10_000]  # digits 1-4 of the suffix
    low = _PACKED_DIGITS[s % 10_000]  # digits 5-8
    w0 = (high >> np.uint32(24)) + np.uint32(0x30313030)  # "010" + digit 1
    w1 = ((high & np.uint32(0xFFFFFF)) << np.uint32(8)) + (low >> np.uint32(24))
    w1 += np.uint32(0x30303030)
    w2 = ((low & np.uint32(0xFFFFFF)) << np.uint32(8)) + np.uint32(0x30303080)
    return w0, w1, w2


def phone_digest_word7(suffixes: np.ndarray) -> np.ndarray:
    """Digest word 7 (the last 4 bytes, big-endian) of SHA-256 of each ``010`` phone number.

    Parameters
    ----------
    suffixes
        Integer phone suffixes in ``[0, 10^8)``; the plaintext is ``"010%08d" % suffix``.

    Returns
    -------
    numpy.ndarray
        ``uint32`` per suffix, equal to ``int(sha256(plaintext).hexdigest()[56:], 16)``.
    """
    w0, w1, w2 = phone_message_words(suffixes)
    schedule: list[Word] = [w0, w1, w2, *([0] * 12), 88]
    state: list[Word] = list(_H0)
    a, b, c, d, e, f, g, h = state
    for t in range(_LAST_ROUND + 1):
        if t >= 16:
            schedule.append(
                _add(
                    _small_sigma(schedule[t - 2], 17, 19, 10),
                    schedule[t - 7],
                    _small_sigma(schedule[t - 15], 7, 18, 3),
                    schedule[t - 16],
                )
            )
            schedule[t - 16] = 0  # no longer needed; frees the lane array
        choose = _xor(g, _and(e, _xor(f, g)))
        t1 = _add(h, _big_sigma(e, 6, 11, 25), choose, _K[t], schedule[t])
        if t == _LAST_ROUND:
            return np.asarray(_add(d, t1, _H0[7]), dtype=np.uint32)
        majority = _or(_and(a, b), _and(c, _or(a, b)))
        t2 = _add(_big_sigma(a, 2, 13, 22), majority)
        h, g, f, e, d, c, b, a = g, f, e, _add(d, t1), c, b, a, _add(t1, t2)
    raise AssertionError("unreachable")  # pragma: no cover


class DigestWordFilter:
    """A bitmap over the top bits of digest word 7 of a set of target digests.

    Membership is a necessary condition for a full match (false positives at a rate of about
    ``n_targets / 2**bits``), so every lane that passes must be confirmed with a full hash.

    Parameters
    ----------
    hex_digests
        Lower-case hex SHA-256 digests (64 characters each).
    """

    def __init__(self, hex_digests: Iterable[str]) -> None:
        words = np.fromiter((int(h[56:64], 16) for h in hex_digests), dtype=np.uint32)
        n = max(int(words.size), 1)
        # ~2^-10 false-positive rate per target, bounded so the bitmap stays <= 32 MB.
        self.bits = int(min(28, max(16, int(np.ceil(np.log2(n))) + 10)))
        self.bitmap = np.zeros(1 << (self.bits - 3), dtype=np.uint8)
        index = words >> np.uint32(32 - self.bits)
        bit = np.left_shift(np.uint8(1), (index & np.uint32(7)).astype(np.uint8))
        np.bitwise_or.at(self.bitmap, index >> np.uint32(3), bit)

    def contains(self, word7: np.ndarray) -> np.ndarray:
        """Boolean mask: may this digest word belong to a target?"""
        index = word7 >> np.uint32(32 - self.bits)
        byte = self.bitmap[index >> np.uint32(3)]
        return ((byte >> (index & np.uint32(7)).astype(np.uint8)) & np.uint8(1)).astype(bool)
