"""Identifier generation and pseudonymisation as in the case.

The shared identifiers (internal customer number, Kakao account ID, phone number, e-mail) are sent
as hex digests. The case's scheme is *unsalted* SHA-256 (FSS finding); the project's alternative is
keyed HMAC-SHA-256 with a secret the recipient does not hold.

Canonical plaintext forms (what is hashed, UTF-8 encoded):

- phone: 11 digits, no separators, e.g. ``01012345678``;
- e-mail: lower-case ``local@domain``;
- customer number: decimal digits of the internal number;
- Kakao account ID: the account's string as generated.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Sequence

import numpy as np

HASH_SCHEMES = ("sha256", "hmac-sha256")


def phone_plaintext(phone_suffix: np.ndarray) -> list[str]:
    """Canonical phone strings ``010`` + 8 digits from integer suffixes in [0, 10^8)."""
    return [f"010{int(s):08d}" for s in phone_suffix]


def hash_identifiers(
    values: Iterable[str], scheme: str = "sha256", key: bytes | None = None
) -> list[str]:
    """Hex digests of identifiers under the chosen scheme.

    Parameters
    ----------
    values
        Canonical plaintext identifiers.
    scheme
        ``"sha256"`` (unsalted, as in the case) or ``"hmac-sha256"`` (keyed).
    key
        Secret key; required for ``"hmac-sha256"``, forbidden for ``"sha256"``.
    """
    if scheme == "sha256":
        if key is not None:
            raise ValueError("scheme 'sha256' is unsalted and takes no key")
        sha = hashlib.sha256
        return [sha(v.encode()).hexdigest() for v in values]
    if scheme == "hmac-sha256":
        if not key:
            raise ValueError("scheme 'hmac-sha256' needs a non-empty secret key")
        new = hmac.new
        return [new(key, v.encode(), hashlib.sha256).hexdigest() for v in values]
    raise ValueError(f"unknown hash scheme {scheme!r}; allowed: {', '.join(HASH_SCHEMES)}")


def mask_email(local_parts: Sequence[str], domains: Sequence[str]) -> list[str]:
    """Masked e-mail as shared: first two characters of the local part, ``***``, full domain."""
    return [f"{loc[:2]}***@{dom}" for loc, dom in zip(local_parts, domains, strict=True)]


def mask_phone(phone_suffix: np.ndarray) -> list[str]:
    """Masked phone as shared: ``010-****-`` and the last four digits."""
    return [f"010-****-{int(s) % 10000:04d}" for s in phone_suffix]
