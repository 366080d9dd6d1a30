# SPDX-License-Identifier: Apache-2.0
import pytest

from listserv.core.authresults import (
    Authenticity,
    AuthResults,
    Result,
    Signature,
    author_verdict,
    compose,
    header_fields,
    parse,
    signatures,
    trusted,
    without_forged,
    without_results,
)

FRONT = "mx.example.com"


def message(*headers: str, body: str = "Hi.\r\n") -> bytes:
    return ("\r\n".join([*headers, "From: alice@example.org", "Subject: hi"]) + "\r\n\r\n"
            + body).encode()


@pytest.mark.parametrize(("value", "expected"), [
    ("mx.example.com; dkim=pass header.d=example.org header.s=s1; spf=fail smtp.mailfrom=x.net",
     AuthResults(FRONT, (Result("dkim", "pass", (("header.d", "example.org"),
                                                 ("header.s", "s1"))),
                         Result("spf", "fail", (("smtp.mailfrom", "x.net"),))))),
    ("MX.Example.COM 1; none", AuthResults(FRONT, ())),
    ('mx.example.com; dmarc = pass (p=reject dis=none) header.from = example.org',
     AuthResults(FRONT, (Result("dmarc", "pass", (("header.from", "example.org"),)),))),
    ('mx.example.com; dkim/1=FAIL reason="bad; signature (really)" header.i=@example.org',
     AuthResults(FRONT, (Result("dkim", "fail", (("reason", "bad; signature (really)"),
                                                 ("header.i", "@example.org"))),))),
    ("(a comment (nested)) mx.example.com; dkim", AuthResults(FRONT, ())),
    ("mx.example.com; =pass; dkim=", AuthResults(FRONT, ())),
    ("", None),
    ("   ;dkim=pass", None),
    ("(unclosed comment mx.example.com; dkim=pass", None),
    ('"unterminated; dkim=pass', AuthResults("unterminated;", ())),  # results nobody trusts
])
def test_parse_reads_the_authserv_id_and_each_result(value: str,
                                                      expected: AuthResults | None) -> None:
    assert parse(value) == expected


@pytest.mark.parametrize(("raw", "trusted_ids"), [
    # Added by the front MTA above its Received field, or just below it: trusted.
    (message(f"Authentication-Results: {FRONT}; dmarc=pass", "Received: from a by mx",
             "Received: from b by a"), ["pass"]),
    (message("Received: from a by mx", f"Authentication-Results: {FRONT}; dmarc=pass",
             "Received: from b by a"), ["pass"]),
    # Below the second Received: written by the sender, to be believed. Not trusted.
    (message("Received: from a by mx", "Received: from b by a",
             f"Authentication-Results: {FRONT}; dmarc=pass"), []),
    # Another authserv-id: not ours to trust.
    (message("Authentication-Results: mx.other.example; dmarc=pass", "Received: x"), []),
    (message(f"Authentication-Results:\r\n  {FRONT.upper()};\r\n  dmarc=fail",
             "Received: x"), ["fail"]),
    (b"", []),
    (b"\x00\xff: \xfe\r\n\r\n", []),
])
def test_only_the_front_mtas_results_above_the_second_received_are_trusted(
        raw: bytes, trusted_ids: list[str]) -> None:
    assert [r.result for field in trusted(raw, FRONT) for r in field.results] == trusted_ids


@pytest.mark.parametrize(("raw", "expected"), [
    (message("Received: a", "Received: b", f"Authentication-Results: {FRONT}; dmarc=pass",
             "Authentication-Results: other.example; dkim=pass"),
     message("Received: a", "Received: b", "Authentication-Results: other.example; dkim=pass")),
    (message(f"Authentication-Results: {FRONT}; dkim=pass", "Received: a", "Received: b"),
     message(f"Authentication-Results: {FRONT}; dkim=pass", "Received: a", "Received: b")),
    # The forged field last in the header: the body stays where it was.
    (b"Received: a\r\nReceived: b\r\nAuthentication-Results: mx.example.com; dkim=pass\r\n"
     b"\r\nBody\r\n", b"Received: a\r\nReceived: b\r\n\r\nBody\r\n"),
    (b"Received: a\nReceived: b\nAuthentication-Results: mx.example.com;\n dkim=pass\n\nBody",
     b"Received: a\nReceived: b\n\nBody"),
    (b"", b""),
])
def test_forged_results_are_removed_and_nothing_else_changes(raw: bytes,
                                                             expected: bytes) -> None:
    assert without_forged(raw, FRONT) == expected


def test_listservs_own_results_are_removed_wherever_they_are() -> None:
    raw = message("Authentication-Results: listserv.test; dkim=pass", "Received: a",
                  f"Authentication-Results: {FRONT}; dkim=pass", "Received: b",
                  "Authentication-Results: LISTSERV.test (forged); arc=pass")
    assert without_results(raw, "listserv.test") == message(
        "Received: a", f"Authentication-Results: {FRONT}; dkim=pass", "Received: b")


@pytest.mark.parametrize("results", [
    (Result("dkim", "pass", (("header.d", "example.org"), ("header.s", "s1"),
                             ("header.b", "ab/+cd12"))),
     Result("arc", "none"), Result("spf", "pass", (("smtp.mailfrom", "alice@example.org"),))),
    (Result("dkim", "fail", (("reason", "bad signature; really (truly)"),)),),
    (),
])
def test_composed_results_read_back_the_same(results: tuple[Result, ...]) -> None:
    value = compose("listserv.test", results)
    assert parse(value) == AuthResults("listserv.test", results)
    assert "\n" not in value


def test_composed_results_are_plain_where_they_can_be() -> None:
    assert compose("listserv.test", [Result("dkim", "pass", (("header.i", "@example.org"),)),
                                     Result("arc", "none")]) == \
        "listserv.test; dkim=pass header.i=@example.org; arc=none"


def test_signatures_name_their_domain_and_selector() -> None:
    raw = message("DKIM-Signature: v=1; a=rsa-sha256; d=Example.ORG; s=s1;\r\n b=abc\r\n def",
                  "ARC-Seal: i=1; a=rsa-sha256; cv=none; d=fwd.example; s=arc; b=xyz",
                  "ARC-Message-Signature: nonsense", "DKIM-Signature: \xff")
    assert signatures(raw) == [
        Signature("dkim-signature", "example.org", "s1", "abcdef"),
        Signature("arc-seal", "fwd.example", "arc", "xyz"),
        Signature("arc-message-signature", "", "", ""),
        Signature("dkim-signature", "", "", "")]
    assert signatures(raw)[0].key_name == "s1._domainkey.example.org"


def test_header_fields_keep_folded_lines_together() -> None:
    assert header_fields(b"A: 1\r\n 2\r\nB: 3\r\n\r\nC: body") == [
        ("a", b"A: 1\r\n 2\r\n"), ("b", b"B: 3\r\n")]


def results(*texts: str) -> list[AuthResults]:
    return [field for text in texts if (field := parse(f"{FRONT}; {text}")) is not None]


@pytest.mark.parametrize(("fields", "domain", "verdict"), [
    (results("dmarc=pass header.from=example.org"), "example.org", Authenticity.PASS),
    (results("dmarc=fail header.from=example.org", "dkim=pass header.d=example.org"),
     "example.org", Authenticity.FAIL),
    (results("dmarc=none header.from=example.org"), "example.org", Authenticity.FAIL),
    (results("dmarc=pass header.from=other.example"), "example.org", Authenticity.FAIL),
    (results("dkim=pass header.d=example.org"), "Example.ORG", Authenticity.PASS),
    (results("dkim=pass header.d=example.org"), "lists.example.org", Authenticity.PASS),
    (results("dkim=pass header.i=@example.org"), "example.org", Authenticity.PASS),
    (results("dkim=pass header.d=org"), "example.org", Authenticity.FAIL),
    (results("dkim=pass header.d=evil.example"), "example.org", Authenticity.FAIL),
    (results("dkim=fail header.d=example.org", "spf=pass smtp.mailfrom=example.org"),
     "example.org", Authenticity.FAIL),
    (results("none"), "example.org", Authenticity.FAIL),
    (results("dkim=pass header.d=example.org"), "", Authenticity.FAIL),
    ([], "example.org", Authenticity.UNKNOWN),
])
def test_the_author_passes_only_by_dmarc_or_an_aligned_dkim_signature(
        fields: list[AuthResults], domain: str, verdict: Authenticity) -> None:
    assert author_verdict(fields, domain) is verdict
