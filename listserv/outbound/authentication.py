# SPDX-License-Identifier: Apache-2.0
"""What listserv finds about a post as received: its DKIM signatures and ARC chain.

The results go into an Authentication-Results field of listserv's own
authserv-id (its hostname) at the top of the list message, where the signer
(listserv.outbound.signing) copies them into the ARC-Authentication-Results of the
seal it adds after all the list's changes, and removes the field itself
(RFC 8617, section 4.1.1). Results the trusted front MTA recorded that
listserv cannot check itself (SPF, DMARC) are carried over.

The keys are looked up through the process's TXT cache first; dkimpy then
verifies without the network. Nothing here raises: a message dkimpy cannot
read counts as failing.
"""

import logging
from collections.abc import Callable

from listserv.core.authresults import (
    AUTHENTICATION_RESULTS,
    Result,
    Signature,
    compose,
    signatures,
    trusted,
    without_results,
)
from listserv.offload import off_loop
from listserv.outbound.dkimpy import dkim
from listserv.outbound.resolver import Failed, txt_cache
from listserv.settings import Settings

log = logging.getLogger(__name__)

# What the front MTA knows better: the SMTP session (spf, iprev) and the policy it applied.
_CARRIED_OVER = frozenset({"spf", "dmarc", "iprev", "auth"})
# DKIM signatures checked, topmost first, as OpenDKIM's MaximumSignaturesToVerify (3): each
# costs a key lookup and a hash of the whole body, and 100 KB of header holds 170 (#14.2).
MAX_CHECKED = 5
# ARC signatures whose keys are looked up: seal and message signature of ten hops.
MAX_ARC_KEYS = 20


async def record(outgoing: bytes, received: bytes, settings: Settings) -> bytes:
    """outgoing with listserv's Authentication-Results about received at the top.

    Fields of listserv's authserv-id that came with the message are removed:
    only listserv writes those.
    """
    assert settings.seal_as is not None
    results = await verify(received, settings)
    field = f"{AUTHENTICATION_RESULTS.title()}: {compose(settings.seal_as, results)}\r\n"
    return field.encode("utf-8") + without_results(outgoing, settings.seal_as)


async def verify(raw: bytes, settings: Settings) -> list[Result]:
    """The results of raw's DKIM signatures and ARC chain, then the front MTA's others."""
    found = signatures(raw)
    checked = [s for s in found if s.field == "dkim-signature"][:MAX_CHECKED]
    keys, failed = await _keys(
        [*checked, *[s for s in found if s.field != "dkim-signature"][:MAX_ARC_KEYS]], settings)
    results = await off_loop(len(raw), _checked, raw, checked, keys, failed)
    if settings.trusted_authserv_id:
        results += [result for field in trusted(raw, settings.trusted_authserv_id)
                    for result in field.results if result.method in _CARRIED_OVER]
    return results


async def _keys(found: list[Signature],
                settings: Settings) -> tuple[dict[str, bytes], set[str]]:
    """The published keys the signatures name, and the names whose lookup failed."""
    cache = txt_cache(settings.dns_nameserver)
    keys: dict[str, bytes] = {}
    failed: set[str] = set()
    for name in dict.fromkeys(signature.key_name.lower() for signature in found
                              if signature.domain and signature.selector):
        texts = await cache.txt(name)
        if isinstance(texts, Failed):
            failed.add(name)
        elif texts:
            keys[name] = texts[0].encode("utf-8")
    return keys, failed


def _checked(raw: bytes, checked: list[Signature], keys: dict[str, bytes],
             failed: set[str]) -> list[Result]:
    """The results of the checked DKIM signatures and of the ARC chain, with the keys found."""

    def published(name: bytes, timeout: int = 5) -> bytes:
        return keys.get(name.decode("ascii", "replace").rstrip(".").lower(), b"")

    verifier = _parsed(raw)
    results = [_dkim(verifier, index, signature, keys, failed, published)
               for index, signature in enumerate(checked)]
    return [*(results or [Result("dkim", "none")]), Result("arc", _arc(raw, published))]


def _parsed(raw: bytes) -> dkim.DKIM | None:
    try:
        return dkim.DKIM(raw)
    except Exception:  # a header section dkimpy cannot split
        return None


def _dkim(verifier: dkim.DKIM | None, index: int, signature: Signature, keys: dict[str, bytes],
          failed: set[str], published: Callable[..., bytes]) -> Result:
    """One DKIM-Signature's result (RFC 8601 section 2.7.1), named by d=, s= and b=."""
    name = signature.key_name.lower()
    if name in failed:
        result = "temperror"
    elif verifier is None or name not in keys:
        result = "permerror"  # no key published, or no signature dkimpy can read
    else:
        try:
            result = "pass" if verifier.verify(idx=index, dnsfunc=published) else "fail"
        except Exception:  # dkimpy raises on some broken signatures instead of failing them
            result = "fail"
    properties = (("header.d", signature.domain), ("header.s", signature.selector),
                  ("header.b", signature.b[:8]))
    return Result("dkim", result, tuple((key, value) for key, value in properties if value))


def _arc(raw: bytes, published: Callable[..., bytes]) -> str:
    """The ARC chain's validation: none, pass or fail (RFC 8617 section 5.2)."""
    try:
        validation = dkim.arc_verify(raw, dnsfunc=published)[0]
    except Exception as exc:  # an ARC set dkimpy cannot read
        log.info("ARC chain unreadable (%s): fail", exc)
        return "fail"
    return str(validation.decode("ascii", "replace"))
