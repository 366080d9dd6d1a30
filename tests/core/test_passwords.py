# SPDX-License-Identifier: Apache-2.0
from listserv.core.passwords import hash_password, verify_password


def test_password_verifies_only_itself() -> None:
    stored = hash_password("correct horse", b"0123456789abcdef")
    assert "correct horse" not in stored
    assert verify_password("correct horse", stored)
    assert not verify_password("Correct horse", stored)
    assert not verify_password("correct horse", "")
