# SPDX-License-Identifier: Apache-2.0
"""Moderator passwords, stored as scrypt hashes (the salt is the caller's randomness)."""

import hashlib
import hmac

_N, _R, _P = 2**14, 8, 1


def hash_password(password: str, salt: bytes) -> str:
    """Return ``scrypt$N$r$p$salt$hash`` for storing."""
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P)
    return f"scrypt${_N}${_R}${_P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    """Whether password matches a hash made by hash_password (False for an empty hash)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    candidate = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt),
                               n=int(n), r=int(r), p=int(p))
    return hmac.compare_digest(candidate.hex(), digest)
