# SPDX-License-Identifier: Apache-2.0
"""Benchmark DKIM signing: the cost per message of listserv.outbound.signing.Signer.sign.

Makes a 2048-bit RSA key with ``listserv dkim keygen`` in a temporary
directory, builds a decorated-looking list post of about 5 KB and one of
about 100 KB, and times Signer.sign on each: a fresh signature every time
(the cost of a personal copy with personalize=full) and a repeated one (the
later jobs of a bulk post, whose bytes are the same: a digest and a cache
hit), a fresh signature with an ARC seal (a post with the results listserv
recorded about it as received), and the check of a signed post as received
(DKIM verification, as listserv.outbound.authentication makes it for every post when a
key is configured). Every signature and seal is checked with dkimpy against
the published key.

The cost of a bulk fan-out with signing on is measured by the post path
benchmark: ``python bench/post_path.py --sink aiosmtpd --scenarios cv --dkim``.

Run from the repository root:  python bench/signing.py [--rounds N]
"""

import argparse
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from email.message import EmailMessage
from email.policy import SMTP
from functools import partial
from pathlib import Path

import dkim

from listserv.outbound.signing import Key, Signer

LISTSERV = Path(sys.executable).with_name("listserv")
DOMAIN = "example.com"
SELECTOR = "bench"
SIZES = (5 * 1024, 100 * 1024)
HOST = "lists.example.com"  # listserv's authserv-id: its results go into the ARC seal
RECORDED = f"Authentication-Results: {HOST}; dkim=pass header.d=example.org; arc=none\r\n" \
    .encode()
TARGET_FRESH_MS = 25.0  # per fresh signature of a 100 KB post on a 2-core machine
TARGET_REPEATED_MS = 0.1  # per repeated signature (a bulk post's later jobs)


def post(size: int) -> bytes:
    """A list post as decoration leaves it, with a body of about size bytes."""
    message = EmailMessage()
    for name, value in (("From", "Alice Author <alice@example.org>"),
                        ("To", "ops@example.com"), ("Subject", "[ops] Valve seals"),
                        ("Date", "Sat, 28 Nov 2026 02:00:00 +0000"),
                        ("Message-ID", "<bench@example.org>"),
                        ("List-Id", "Operations <ops.example.com>"),
                        ("List-Post", "<mailto:ops@example.com>"),
                        ("List-Unsubscribe", "<mailto:ops-leave@example.com>"),
                        ("Sender", "ops-bounces@example.com")):
        message[name] = value
    line = "Which seals hold up best at 180 degrees? We keep replacing ours.\n"
    message.set_content(line * (size // len(line)))
    return message.as_bytes(policy=SMTP)


def make_key(directory: Path) -> tuple[bytes, bytes]:
    """The private key and the TXT record, as an operator would make them."""
    result = subprocess.run([str(LISTSERV), "dkim", "keygen", DOMAIN, "--selector", SELECTOR,
                             "--dir", str(directory)], capture_output=True, text=True,
                            check=True, timeout=120)
    record = "".join(re.findall(r'"([^"]*)"', result.stdout))
    return (directory / f"{DOMAIN}.{SELECTOR}.pem").read_bytes(), record.encode()


def timed(rounds: int, sign: Callable[[], bytes]) -> float:
    started = time.perf_counter()
    for _ in range(rounds):
        sign()
    return (time.perf_counter() - started) / rounds * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=100)
    args = parser.parse_args()
    passed = True
    with tempfile.TemporaryDirectory(prefix="listserv-bench-") as tmp:
        private_key, record = make_key(Path(tmp))
    key = Key(SELECTOR.encode(), private_key)

    def dnsfunc(name: bytes, timeout: int = 5) -> bytes:
        return record if name.rstrip(b".") == f"{SELECTOR}._domainkey.{DOMAIN}".encode() else b""

    sender = f"ops-bounces@{DOMAIN}"
    for size in SIZES:
        raw = post(size)
        # A new Signer each round: no cache, a fresh signature as for a personal copy.
        fresh = timed(args.rounds, partial(lambda r: Signer({}, key).sign(r, sender), raw))
        signer = Signer({}, key)
        signed = signer.sign(raw, sender)  # the first job's signature, kept for the others
        repeated = timed(args.rounds, partial(signer.sign, raw, sender))
        sealed = timed(args.rounds, partial(
            lambda r: Signer({}, key, seal_as=HOST).sign(r, sender), RECORDED + raw))
        arc_set = Signer({}, key, seal_as=HOST).sign(RECORDED + raw, sender)
        checked = timed(args.rounds, partial(lambda r: dkim.verify(r, dnsfunc=dnsfunc), signed))
        valid = bool(dkim.verify(signed, dnsfunc=dnsfunc)) \
            and dkim.arc_verify(arc_set, dnsfunc=dnsfunc)[0] == dkim.CV_Pass
        print(f"{len(raw):>7,} bytes: fresh signature {fresh:6.2f} ms, repeated "
              f"{repeated:6.3f} ms, fresh signature and ARC seal {sealed:6.2f} ms, "
              f"check of a signed post {checked:5.2f} ms, verify: {valid}")
        passed &= valid and fresh <= TARGET_FRESH_MS and repeated <= TARGET_REPEATED_MS
    print(f"targets: fresh <= {TARGET_FRESH_MS} ms, repeated <= {TARGET_REPEATED_MS} ms, "
          "every signature verifies")
    print("PASS" if passed else "FAIL")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
