# SPDX-License-Identifier: Apache-2.0
"""The last touch to outgoing list mail: forged Authentication-Results out, DKIM and ARC on.

DKIM (RFC 6376) signs with the key of the list's domain: RSA, and Ed25519 too
where one is configured (RFC 8463 recommends both, since many receivers do
not verify Ed25519 yet); a domain may also have an Ed25519 key only.
Authentication-Results that claim the front MTA's authserv-id but came with
the message are removed first (RFC 8601, section 5; core.authresults), so
that members whose mail server trusts that authserv-id are not misled.

A post carries, at the top, the Authentication-Results listserv recorded
about it as received (listserv.outbound.authentication). Those become the
ARC-Authentication-Results of an ARC set (RFC 8617) sealed with the same RSA
key over the message as the list changed it, and the field itself is removed:
members' providers see in the seal what the post was like at our border.
ARC knows no Ed25519: a domain without an RSA key gets no seal.

The signature is made where the bytes are final, just before they go to the
smarthost (workers._send_from): once per bulk job, once per personal copy.
The jobs of one post carry the same bytes, so the last signatures are kept
by digest and reused (an RSA signature costs milliseconds, a digest
microseconds); a big message is signed in a worker thread (listserv.offload),
several at once. Signing must never stop mail: a failure sends the message
without that signature and is logged once per kind. This module reads the
key files once, at start-up (settings checked them), and sends nothing.
"""

import base64
import functools
import hashlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.asymmetric.rsa import (
    RSAPrivateKey,
    RSAPrivateNumbers,
    RSAPublicNumbers,
)
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from listserv.core.authresults import (
    header_fields,
    results_of,
    without_forged,
    without_results,
)
from listserv.core.signatures import SignDigest, body_hash, body_of, signature_field
from listserv.outbound.dkimpy import dkim
from listserv.settings import Settings

log = logging.getLogger(__name__)

# The headers a list message is signed over, when present (RFC 6376, 5.4.1).
SIGNED_HEADERS = (
    b"from", b"subject", b"date", b"message-id", b"to", b"cc", b"list-id",
    b"list-unsubscribe", b"list-unsubscribe-post", b"list-post", b"reply-to", b"sender",
)
CANONICALIZE = (b"relaxed", b"relaxed")
CACHED_SIGNATURES = 64  # about the posts and notices in flight at once
# The fields that differ from one member's copy to the next (core.personal). The DKIM
# signature covers them; the ARC set, made once per post, does not, so that one seal
# serves every copy.
UNSEALED = ("list-unsubscribe", "list-unsubscribe-post")
RSA_SHA256 = b"rsa-sha256"
ED25519_SHA256 = b"ed25519-sha256"


# dkimpy makes RSA signatures in pure Python, about 6 ms each; OpenSSL (through
# cryptography) makes the same bytes, PKCS #1 v1.5 being deterministic, in about
# 0.3 ms. A personalised copy takes three (DKIM, and ARC's message signature and
# seal), so dkimpy's routine is replaced by one that hands its key to OpenSSL.
_PURE_PYTHON_RSA_SIGN = dkim.RSASSA_PKCS1_v1_5_sign
_HASHES: dict[str, hashes.HashAlgorithm] = {"sha256": hashes.SHA256(), "sha1": hashes.SHA1()}
_RSA_FIELDS = ("prime1", "prime2", "privateExponent", "exponent1", "exponent2",
               "coefficient", "publicExponent", "modulus")  # dkimpy's names, in our order


def _openssl_rsa_sign(digest: Any, private_key: dict[str, int]) -> bytes:
    """RSASSA-PKCS1-v1_5 over digest (a hash object) with dkimpy's parsed private key."""
    algorithm = _HASHES.get(digest.name.lower())
    if algorithm is None:
        return bytes(_PURE_PYTHON_RSA_SIGN(digest, private_key))
    key = _openssl_key(*(private_key[field] for field in _RSA_FIELDS))
    return key.sign(digest.digest(), PKCS1v15(), Prehashed(algorithm))


@functools.lru_cache(maxsize=16)
def _openssl_key(p: int, q: int, d: int, dmp1: int, dmq1: int, iqmp: int,
                 e: int, n: int) -> RSAPrivateKey:
    return RSAPrivateNumbers(p, q, d, dmp1, dmq1, iqmp, RSAPublicNumbers(e, n)).private_key()


dkim.RSASSA_PKCS1_v1_5_sign = _openssl_rsa_sign


@dataclass(frozen=True, slots=True)
class Key:
    """A domain's keys: a selector and its PEM RSA key, and an Ed25519 pair where configured.

    The Ed25519 key is the base64 of its 32-byte seed (RFC 8463, as dknewkey
    writes it). Without an RSA key (private_key None) only Ed25519 signs.
    """

    selector: bytes
    private_key: bytes | None
    ed25519_selector: bytes = b""
    ed25519_private_key: bytes | None = None


def present_headers(raw: bytes) -> list[bytes]:
    """The SIGNED_HEADERS that raw's header section holds, in SIGNED_HEADERS order."""
    return _present(header_fields(raw))


def _present(fields: list[tuple[str, bytes]]) -> list[bytes]:
    names = {name.encode("ascii", "replace") for name, _ in fields}
    return [name for name in SIGNED_HEADERS if name in names]


@dataclass(frozen=True, slots=True)
class Prepared:
    """A message ready to be signed (Signer.prepare): its bytes without forged results
    nor listserv's own, those own results (sealed into the ARC set), the signing domain and
    its key (None: it goes out unsigned)."""

    raw: bytes
    results: bytes
    domain: str
    key: "Key | None"


class Signer:
    """Signs raw messages with the key of their envelope sender's domain."""

    def __init__(self, keys: Mapping[str, Key], default: Key | None = None, *,
                 seal_as: str | None = None, trusted: str | None = None) -> None:
        self._keys = dict(keys)
        self._default = default
        self._seal_as = seal_as  # listserv's authserv-id: its results are sealed
        self._trusted = trusted  # the front MTA's authserv-id: forged ones are removed
        self._logged: set[str] = set()
        self._recent: OrderedDict[tuple[str, bytes], bytes] = OrderedDict()
        self._arc_sets: OrderedDict[tuple[str, bytes], bytes] = OrderedDict()
        self._bodies: OrderedDict[bytes, bytes] = OrderedDict()  # body digest -> bh=
        self._recent_lock = threading.Lock()  # sign runs in the sender tasks' threads

    @classmethod
    def from_settings(cls, settings: Settings) -> "Signer":
        """The keys the settings name (their files were checked when the settings loaded)."""
        default = None
        if settings.dkim_private_key is not None or settings.dkim_ed25519_private_key is not None:
            default = _key(settings.dkim_selector, settings.dkim_private_key,
                           settings.dkim_ed25519_selector, settings.dkim_ed25519_private_key)
        keys = {domain: _key(key.selector, key.private_key,
                             key.ed25519_selector, key.ed25519_private_key)
                for domain, key in settings.dkim_keys.items()}
        return cls(keys, default, seal_as=settings.hostname,
                   trusted=settings.trusted_authserv_id)

    @property
    def signs(self) -> bool:
        """Whether any domain's mail is signed."""
        return bool(self._keys) or self._default is not None

    def key_for(self, domain: str) -> Key | None:
        """The domain's own key, else the default key, else None."""
        return self._keys.get(domain.lower(), self._default)

    def prepare(self, raw: bytes, mail_from: str) -> "Prepared":
        """raw as it goes out before signing, and what signing it for mail_from takes."""
        if self._trusted:
            raw = without_forged(raw, self._trusted)
        results = b""  # listserv's own Authentication-Results, for the seal
        if self._seal_as:
            results = results_of(raw, self._seal_as)
            if results:
                raw = without_results(raw, self._seal_as)
        domain = mail_from.rpartition("@")[2].strip().lower()
        return Prepared(raw, results, domain, self.key_for(domain) if domain else None)

    def sign(self, raw: bytes, mail_from: str) -> bytes:
        """raw with DKIM signatures (and an ARC set) of mail_from's domain, if a key applies."""
        prepared = self.prepare(raw, mail_from)
        if prepared.key is None:
            return prepared.raw
        digest = (prepared.domain, hashlib.sha256(prepared.results + prepared.raw).digest())
        with self._recent_lock:
            prefix = self._recent.get(digest)
        if prefix is None:
            prefix = self._signatures(prepared, prepared.raw)
            with self._recent_lock:
                self._recent[digest] = prefix
                if len(self._recent) > CACHED_SIGNATURES:
                    self._recent.popitem(last=False)
        return prefix + prepared.raw

    def sign_copy(self, prepared: "Prepared", raw: bytes) -> bytes:
        """raw, one member's copy made of prepared.raw, with its own signatures."""
        return self._signatures(prepared, raw) + raw

    def sign_copies(self, prepared: "Prepared", make: Callable[[str], tuple[str, bytes]],
                    members: Sequence[str]) -> list[tuple[str, bytes]]:
        """The members' copies of prepared.raw, each an envelope sender and its signed bytes,
        made by make (in a signing process: listserv.offload.in_process)."""
        made = []
        for member in members:
            mail_from, raw = make(member)
            made.append((mail_from, self.sign_copy(prepared, raw)))
        return made

    def __reduce__(self) -> tuple[Any, ...]:
        # A signing process is sent the keys, not the caches, and keeps one Signer for them
        # (so its caches serve every batch of a post).
        return _signer, (tuple(self._keys.items()), self._default, self._seal_as, self._trusted)

    def _signatures(self, prepared: "Prepared", raw: bytes) -> bytes:
        """The DKIM-Signatures (RSA above Ed25519), then the ARC set where results were recorded.

        Both signatures cover the same headers of raw, not each other, so
        either verifies on its own.
        """
        key, domain = prepared.key, prepared.domain
        if key is None:
            return b""
        fields = header_fields(raw)
        rsa = self._dkim_signature(fields, raw, domain, key.selector, key.private_key,
                                   RSA_SHA256)
        signed = rsa + self._dkim_signature(fields, raw, domain, key.ed25519_selector,
                                            key.ed25519_private_key, ED25519_SHA256)
        if not prepared.results or not rsa:  # nothing to seal, or no RSA key
            return signed
        return self._arc_set(prepared.results + _without_fields(raw, fields, UNSEALED),
                             domain, key) + signed

    def _arc_set(self, sealed: bytes, domain: str, key: Key) -> bytes:
        """The ARC set over sealed (the message without its UNSEALED fields, our results on
        top), made once for all the copies of a post that differ in those fields only, or
        b"" where dkimpy fails."""
        digest = (domain, hashlib.sha256(sealed).digest())
        with self._recent_lock:
            known = self._arc_sets.get(digest)
        if known is not None:
            return known
        try:
            # dkimpy copies our results into the ARC-Authentication-Results; it seals
            # nothing when they carry no arc= result for an existing chain.
            arc_set = b"".join(bytes(line) for line in dkim.arc_sign(
                sealed, key.selector, domain.encode(), key.private_key,
                self._seal_as.encode() if self._seal_as else b""))
        except Exception as exc:  # a chain dkimpy cannot extend: the DKIM signatures only
            self._log_once("ARC", domain, exc)
            return b""
        with self._recent_lock:
            self._arc_sets[digest] = arc_set
            if len(self._arc_sets) > CACHED_SIGNATURES:
                self._arc_sets.popitem(last=False)
        return arc_set

    def _dkim_signature(self, fields: list[tuple[str, bytes]], raw: bytes, domain: str,
                        selector: bytes, private_key: bytes | None, algorithm: bytes) -> bytes:
        """One DKIM-Signature field made with private_key, or b"" without a key or on failure."""
        if private_key is None:
            return b""
        try:
            return signature_field(fields, domain=domain.encode(), selector=selector,
                                   algorithm=algorithm, names=_present(fields),
                                   bh=self._body_hash(body_of(raw)), timestamp=int(time.time()),
                                   sign=_digest_signer(private_key, algorithm))
        except Exception as exc:  # no From, or a key that does not load: sent without it
            self._log_once(f"DKIM {algorithm.decode()}", domain, exc)
            return b""

    def _body_hash(self, body: bytes) -> bytes:
        """bh= of body, computed once for all the copies of a post that share it."""
        digest = hashlib.sha256(body).digest()
        with self._recent_lock:
            known = self._bodies.get(digest)
        if known is None:
            known = body_hash(body)
            with self._recent_lock:
                self._bodies[digest] = known
                if len(self._bodies) > CACHED_SIGNATURES:
                    self._bodies.popitem(last=False)
        return known

    def _log_once(self, what: str, domain: str, exc: Exception) -> None:
        kind = f"{what} {type(exc).__name__}"
        if kind not in self._logged:
            self._logged.add(kind)
            log.warning("%s signing for %s failed (%s: %s); such mail goes out without it",
                        what, domain, type(exc).__name__, exc)


@functools.lru_cache(maxsize=4)
def _signer(keys: tuple[tuple[str, Key], ...], default: Key | None, seal_as: str | None,
            trusted: str | None) -> Signer:
    return Signer(dict(keys), default, seal_as=seal_as, trusted=trusted)


def _without_fields(raw: bytes, fields: list[tuple[str, bytes]],
                    names: tuple[str, ...]) -> bytes:
    """raw (whose header_fields are fields) without the fields called names (lower case)."""
    if not any(name in names for name, _ in fields):
        return raw
    head = b"".join(field for name, field in fields if name not in names)
    return head + raw[sum(len(field) for _, field in fields):]


@functools.lru_cache(maxsize=16)
def _digest_signer(private_key: bytes, algorithm: bytes) -> SignDigest:
    """The key's operation on a SHA-256 digest, the key loaded once: PEM RSA, or the
    base64 of an Ed25519 seed (RFC 8463, as dknewkey writes it)."""
    if algorithm == ED25519_SHA256:
        ed25519 = Ed25519PrivateKey.from_private_bytes(base64.b64decode(private_key))
        return ed25519.sign
    rsa = serialization.load_pem_private_key(private_key, password=None)
    if not isinstance(rsa, RSAPrivateKey):
        raise ValueError("not an RSA private key")
    padding, prehashed = PKCS1v15(), Prehashed(hashes.SHA256())
    return lambda digest: rsa.sign(digest, padding, prehashed)


def _key(selector: str, private_key: Path | None,
         ed25519_selector: str, ed25519_private_key: Path | None) -> Key:
    """A Key with the contents of the files the settings name."""
    return Key(selector.encode(), private_key.read_bytes() if private_key else None,
               ed25519_selector.encode(),
               ed25519_private_key.read_bytes().strip() if ed25519_private_key else None)
