"""The digests the audit computes itself: what a recipient can compute from a plaintext
identifier (unsalted SHA-256, the case's scheme), and the keyed counterfactual (HMAC-SHA-256
under a key the recipient does not hold)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

__all__ = ["HASH_SCHEMES", "hash_identifiers"]

HASH_SCHEMES = ("sha256", "hmac-sha256")


def hash_identifiers(values: Iterable[str], scheme: str = "sha256",
                     key: bytes | None = None) -> list[str]:
    """Hex digests of plaintext identifiers (UTF-8) under ``scheme``.

    Parameters
    ----------
    values : the identifiers' canonical plaintext (a phone as 11 digits, ``01012345678``).
    scheme : ``"sha256"`` (unsalted) or ``"hmac-sha256"`` (keyed).
    key : the secret; required for ``"hmac-sha256"``, refused for ``"sha256"``.

    Raises
    ------
    ValueError
        An unknown scheme, a key for the unsalted one, or no key for the keyed one.
    """
    if scheme == "sha256":
        if key is not None:
            raise ValueError("scheme 'sha256' is unsalted and takes no key")
        return [hashlib.sha256(v.encode()).hexdigest() for v in values]
    if scheme == "hmac-sha256":
        if not key:
            raise ValueError("scheme 'hmac-sha256' needs a non-empty secret key")
        return [hmac.new(key, v.encode(), hashlib.sha256).hexdigest() for v in values]
    raise ValueError(f"unknown hash scheme {scheme!r}; allowed: {', '.join(HASH_SCHEMES)}")
