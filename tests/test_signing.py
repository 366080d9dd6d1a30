# SPDX-License-Identifier: Apache-2.0
"""DKIM signing of outgoing list mail, end to end: every copy the smarthost gets verifies."""

import asyncio
import base64
import hashlib
import logging
import os
import random
import re
import signal
from collections.abc import AsyncIterator, Callable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from dkim import canonicalization
from nacl.signing import SigningKey

from listserv.app import App, running
from listserv.core.personal import Copies, Personalization
from listserv.core.policy import Personalize
from listserv.core.signatures import CANONICAL_PIECE, relaxed_body
from listserv.errors import ConfigError
from listserv.offload import INLINE_BELOW, in_process, stop_processes
from listserv.outbound.signing import Key, Signer, present_headers
from listserv.settings import DkimKey, Settings, load_settings
from tests.helpers import make_message, run_listserv
from tests.sink import Delivered, Sink
from tests.test_post_path import MEMBERS, post, setup_list

DnsFunc = Callable[..., bytes]


@dataclass(frozen=True)
class KeyPair:
    path: Path
    pem: bytes  # the key file's contents (for Ed25519 not PEM: the base64 of its seed)
    record: bytes  # the TXT record to publish


def make_key(path: Path) -> KeyPair:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.DER,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    path.write_bytes(pem)
    return KeyPair(path, pem, b"v=DKIM1; k=rsa; p=" + base64.b64encode(public))


def make_ed25519_key(path: Path) -> KeyPair:
    """An Ed25519 key file as dknewkey --ktype ed25519 writes it: the base64 of the seed."""
    key = SigningKey.generate()
    seed = base64.b64encode(key.encode())
    path.write_bytes(seed)
    return KeyPair(path, seed, b"v=DKIM1; k=ed25519; p=" + base64.b64encode(
        key.verify_key.encode()))


@pytest.fixture(scope="module")
def key_pair(tmp_path_factory: pytest.TempPathFactory) -> KeyPair:
    return make_key(tmp_path_factory.mktemp("dkim") / "example.com.pem")


@pytest.fixture(scope="module")
def ed25519_pair(tmp_path_factory: pytest.TempPathFactory) -> KeyPair:
    return make_ed25519_key(tmp_path_factory.mktemp("dkim") / "example.com.ed.key")


def published(records: dict[bytes, bytes]) -> DnsFunc:
    """A dnsfunc for dkimpy that answers from records, without the network."""
    def lookup(name: bytes, timeout: int = 5) -> bytes:
        return records.get(name.rstrip(b"."), b"")
    return lookup


def verifies(delivered: Delivered, key_pair: KeyPair, selector: bytes = b"lists") -> bool:
    dnsfunc = published({selector + b"._domainkey.example.com": key_pair.record})
    return bool(dkim.verify(delivered.raw, dnsfunc=dnsfunc))


def signature_tags(delivered: Delivered) -> dict[str, str]:
    return tags_of(str(delivered.message["DKIM-Signature"]))


def tags_of(value: str) -> dict[str, str]:
    value = "".join(value.split())
    return dict(tag.split("=", 1) for tag in value.split(";") if tag)


def signatures(raw: bytes) -> list[dict[str, str]]:
    """The tags of raw's DKIM-Signature fields, top first (dkimpy's idx order)."""
    return [tags_of(str(value)) for value in Delivered("", [], raw).message.get_all(
        "DKIM-Signature", [])]


@pytest.fixture
async def signing_app(settings: Settings, key_pair: KeyPair) -> AsyncIterator[App]:
    signing = settings.model_copy(update={"dkim_selector": "lists",
                                          "dkim_private_key": key_pair.path})
    async with running(signing) as running_app:
        yield running_app


# A big post is decided, rendered and signed in a worker thread, a small one's personal
# copies in a signing process where the machine has a core to spare (listserv.offload).
@pytest.mark.parametrize("lines", [1, 2000], ids=["small", "big"])
@pytest.mark.parametrize("personalize", ["none", "verp", "full"])
async def test_every_copy_carries_a_signature_of_the_list_domain_that_verifies(
        signing_app: App, sink: Sink, key_pair: KeyPair, personalize: str, lines: int) -> None:
    await setup_list(signing_app, personalize=personalize,
                     footer="Sent to {member_address}", reply_to="list")
    body = "Which seals hold up best at 180 degrees? We keep replacing ours.\n" * lines
    assert (len(body) > INLINE_BELOW) == (lines > 1)
    await post(signing_app, make_message(subject="Valve seals", body=body))
    await signing_app.settle()
    assert sorted(sink.recipients()) == sorted(MEMBERS)
    for delivered in sink.delivered:
        tags = signature_tags(delivered)
        assert (tags["d"], tags["s"], tags["c"]) == ("example.com", "lists", "relaxed/relaxed")
        assert set(tags["h"].split(":")) == {
            "from", "subject", "date", "message-id", "to", "list-id", "list-unsubscribe",
            "list-post", "reply-to", "sender"}
        assert verifies(delivered, key_pair)


async def test_notices_are_signed_too(signing_app: App, sink: Sink, key_pair: KeyPair) -> None:
    await setup_list(signing_app)
    await post(signing_app, make_message(sender="bob@example.net", to="ops-join@example.com",
                                         subject="subscribe"),
               sender="bob@example.net", recipients=("ops-join@example.com",))
    await signing_app.settle()
    [confirmation] = sink.to("bob@example.net")
    assert confirmation.message["List-Id"] is None
    assert signature_tags(confirmation)["d"] == "example.com"
    assert verifies(confirmation, key_pair)


async def test_nothing_is_signed_without_a_key(app: App, sink: Sink) -> None:
    await setup_list(app)
    await post(app, make_message())
    await app.settle()
    assert len(sink.delivered) == 1
    assert sink.delivered[0].message["DKIM-Signature"] is None


def test_a_domain_with_its_own_key_is_signed_with_it(tmp_path: Path,
                                                     key_pair: KeyPair) -> None:
    other = make_key(tmp_path / "other.pem")
    settings = Settings(dkim_selector="lists", dkim_private_key=key_pair.path,
                        dkim_keys={"Lists.Example.NET": DkimKey(selector="s2",
                                                                private_key=other.path)})
    signer = Signer.from_settings(settings)
    raw = make_message()
    signed = signer.sign(raw, "ops-bounces@lists.example.net")
    dnsfunc = published({b"s2._domainkey.lists.example.net": other.record})
    assert dkim.verify(signed, dnsfunc=dnsfunc)
    assert b"d=example.com" in signer.sign(raw, "ops-bounces@example.com")


@pytest.mark.parametrize(("raw", "mail_from"), [
    (b"Subject: no From header\r\n\r\nbody\r\n", "ops-bounces@example.com"),
    (b"", "ops-bounces@example.com"),
    (b"\x00\xff\r\n\r\n", "ops-bounces@example.com"),
    (make_message(), ""),  # the null sender: no domain, no key
])
def test_what_cannot_be_signed_goes_out_unchanged(key_pair: KeyPair, raw: bytes,
                                                  mail_from: str) -> None:
    signer = Signer({}, Key(b"lists", key_pair.pem))
    assert signer.sign(raw, mail_from) == raw


@pytest.mark.parametrize(("raw", "names"), [
    (b"From: a@x\r\nX-Other: 1\r\nSubject: s\r\n\r\nTo: not a header\r\n",
     [b"from", b"subject"]),
    (b"FROM: a@x\nReply-To:\n  b@x\nCc: c@x\n\nbody", [b"from", b"cc", b"reply-to"]),
    (b"", []),
])
def test_only_the_headers_present_are_signed(raw: bytes, names: list[bytes]) -> None:
    assert present_headers(raw) == names


NOT_ED25519 = "LISTSERV_DKIM_ED25519_PRIVATE_KEY: not an Ed25519 private key, the base64 of a " \
    "32-byte seed (make one with: listserv dkim keygen DOMAIN --type ed25519)"


@pytest.mark.parametrize(("variable", "content", "message"), [
    ("LISTSERV_DKIM_PRIVATE_KEY", None,
     "LISTSERV_DKIM_PRIVATE_KEY: Path does not point to a file"),
    ("LISTSERV_DKIM_PRIVATE_KEY", b"not a key\n",
     "LISTSERV_DKIM_PRIVATE_KEY: not a PEM RSA private key"),
    ("LISTSERV_DKIM_PRIVATE_KEY", b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
     "LISTSERV_DKIM_PRIVATE_KEY: not a PEM RSA private key"),
    ("LISTSERV_DKIM_PRIVATE_KEY", base64.b64encode(bytes(32)),  # an Ed25519 key: wrong setting
     "LISTSERV_DKIM_PRIVATE_KEY: not a PEM RSA private key"),
    ("LISTSERV_DKIM_ED25519_PRIVATE_KEY", None,
     "LISTSERV_DKIM_ED25519_PRIVATE_KEY: Path does not point to a file"),
    ("LISTSERV_DKIM_ED25519_PRIVATE_KEY", b"not a key\n", NOT_ED25519),
    ("LISTSERV_DKIM_ED25519_PRIVATE_KEY", base64.b64encode(bytes(31)), NOT_ED25519),
    ("LISTSERV_DKIM_ED25519_PRIVATE_KEY", base64.b64encode(bytes(64)), NOT_ED25519),
    ("LISTSERV_DKIM_ED25519_PRIVATE_KEY", "é".encode() * 22, NOT_ED25519),
])
def test_a_bad_key_file_stops_serve_with_exit_2_and_one_line(
        tmp_path: Path, variable: str, content: bytes | None, message: str) -> None:
    path = tmp_path / "dkim.key"
    if content is not None:
        path.write_bytes(content)
    env = {"PATH": "/usr/bin:/bin", variable: str(path),
           "LISTSERV_DATABASE_URL": f"sqlite:///{tmp_path}/x.db"}
    result = run_listserv("serve", env=env)
    assert result.returncode == 2
    assert result.stderr.startswith(f"listserv: error: {message}")
    assert len(result.stderr.splitlines()) == 1


def test_a_pem_rsa_key_is_no_ed25519_key(key_pair: KeyPair,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LISTSERV_DKIM_ED25519_PRIVATE_KEY", str(key_pair.path))
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert str(caught.value) == f"{NOT_ED25519} (got {str(key_pair.path)!r})"


def test_keygen_writes_a_private_key_and_prints_the_record_that_verifies(
        tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin"}
    result = run_listserv("dkim", "keygen", "Example.COM", "--selector", "lists",
                          "--dir", str(tmp_path), env=env)
    assert result.returncode == 0, result.stderr
    path = tmp_path / "example.com.lists.pem"
    assert path.stat().st_mode & 0o777 == 0o600
    name, _, strings = result.stdout.splitlines()[0].partition(" IN TXT ")
    assert name == "lists._domainkey.example.com."
    assert all(len(part) <= 255 for part in re.findall(r'"([^"]*)"', strings))
    record = "".join(re.findall(r'"([^"]*)"', strings)).encode()
    assert record.startswith(b"v=DKIM1; k=rsa;")
    signed = Signer({}, Key(b"lists", path.read_bytes())).sign(make_message(),
                                                               "ops-bounces@example.com")
    assert [tags["a"] for tags in signatures(signed)] == ["rsa-sha256"]
    assert dkim.verify(signed, dnsfunc=published({b"lists._domainkey.example.com": record}))
    again = run_listserv("dkim", "keygen", "example.com", "--selector", "lists",
                         "--dir", str(tmp_path), env=env)
    assert again.returncode == 1
    assert again.stderr == f"listserv: error: cannot create {path}: File exists\n"


@pytest.mark.parametrize(("args", "message"), [
    (["not a domain"], "not a mail domain: 'not a domain'"),
    (["example.com", "--selector", "a_b"],
     "not a DKIM selector: 'a_b' (letters, digits, '-' and '.')"),
])
def test_keygen_refuses_bad_names_in_one_line(tmp_path: Path, args: list[str],
                                              message: str) -> None:
    result = run_listserv("dkim", "keygen", *args, "--dir", str(tmp_path),
                          env={"PATH": "/usr/bin:/bin"})
    assert (result.returncode, result.stderr) == (1, f"listserv: error: {message}\n")
    assert not list(tmp_path.iterdir())


FRONT = "mx.example.com"
HOPS = (b"Received: from mail.example.org by mx.example.com; 28 Nov 2026 02:00 +0000\r\n"
        b"Received: from laptop by mail.example.org; 28 Nov 2026 01:59 +0000\r\n")


async def test_personal_copies_signed_in_a_signing_process_verify_and_name_their_member(
        key_pair: KeyPair) -> None:
    signer = Signer({"example.com": Key(b"lists", key_pair.path.read_bytes())})
    prepared = signer.prepare(make_message(), "ops-bounces@example.com")
    copies = Copies(prepared.raw, "ops-bounces@example.com",
                    Personalization(Personalize.FULL, "Sent to {member_address}"),
                    key=b"k" * 32, list_id=1)
    members = ["bob@example.org", "carol@example.net"]
    try:
        made = await in_process(signer.sign_copies, prepared, copies.copy, members)
    finally:
        stop_processes()
    for member, (mail_from, signed) in zip(members, made, strict=True):
        assert mail_from.startswith("ops-bounces+")
        assert f"Sent to {member}".encode() in signed
        assert verifies(Delivered(mail_from, [member], signed), key_pair)


def signing_processes() -> list[int]:
    """The signing processes this test process has spawned (listserv.offload)."""
    pids = []
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        for child in (task / "children").read_text().split():
            with suppress(OSError):
                if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                    pids.append(int(child))
    return pids


async def test_a_signing_process_that_dies_loses_no_copy_and_signs_every_one(
        signing_app: App, sink: Sink, key_pair: KeyPair) -> None:
    members = ["alice@example.org", *(f"member{n}@example.org" for n in range(40))]
    await setup_list(signing_app, members, personalize="full", footer="Sent to {member_address}")
    for _ in range(100):  # they start with the delivery loop
        if signing_processes():
            break
        await asyncio.sleep(0.1)
    killed = signing_processes()
    assert killed, "no signing process was started"
    for pid in killed:
        os.kill(pid, signal.SIGKILL)
    await post(signing_app, make_message(subject="Valve seals"))
    await signing_app.settle()
    assert sorted(sink.recipients()) == sorted(members)
    for delivered in sink.delivered:
        assert verifies(delivered, key_pair)
        assert f"Sent to {delivered.recipients[0]}".encode() in delivered.raw


def arc_verifies(raw: bytes, records: dict[bytes, bytes]) -> tuple[bool, str]:
    cv, _, reason = dkim.arc_verify(raw, dnsfunc=published(records))
    return bool(cv == dkim.CV_Pass), reason


async def test_every_personal_copy_is_arc_sealed_and_forged_front_results_are_gone(
        settings: Settings, sink: Sink, key_pair: KeyPair) -> None:
    sealing = settings.model_copy(update={"dkim_selector": "lists", "trusted_authserv_id": FRONT,
                                          "dkim_private_key": key_pair.path})
    raw = (f"Authentication-Results: {FRONT}; dkim=pass header.d=example.org;\r\n"
           " spf=pass smtp.mailfrom=example.org\r\n").encode() + HOPS + \
        f"Authentication-Results: {FRONT}; dmarc=pass header.from=evil.example\r\n".encode() \
        + make_message()
    async with running(sealing) as app:
        await setup_list(app, personalize="full", footer="Sent to {member_address}")
        await post(app, raw)
        await app.settle()
    assert sorted(sink.recipients()) == sorted(MEMBERS)
    records = {b"lists._domainkey.example.com": key_pair.record}
    for delivered in sink.delivered:
        assert arc_verifies(delivered.raw, records) == (True, "success")
        assert verifies(delivered, key_pair)
        message = delivered.message
        assert message.get_all("Authentication-Results") == [
            f"{FRONT}; dkim=pass header.d=example.org; spf=pass smtp.mailfrom=example.org"]
        aar = " ".join(str(message["ARC-Authentication-Results"]).split())
        assert aar == "i=1; listserv.test; dkim=none; arc=none; spf=pass smtp.mailfrom=example.org"


def test_per_domain_keys_come_from_the_toml_file(tmp_path: Path, key_pair: KeyPair,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "listserv.toml"
    config.write_text(f'[dkim_keys."Lists.Example.ORG"]\nselector = "s2"\n'
                      f'private_key = "{key_pair.path}"\n')
    monkeypatch.setenv("LISTSERV_CONFIG", str(config))
    assert load_settings().dkim_keys == {
        "lists.example.org": DkimKey(selector="s2", private_key=key_pair.path)}
    config.write_text('[dkim_keys."lists.example.org"]\nselector = "s2"\n'
                      f'private_key = "{tmp_path}/missing.pem"\n')
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert str(caught.value) == (f"LISTSERV_DKIM_KEYS: Path does not point to a file "
                                 f"(got '{tmp_path}/missing.pem')")


# Ed25519 (RFC 8463): a second signature next to the RSA one, or the only one.

SENDER = "ops-bounces@example.com"


def both_published(key_pair: KeyPair, ed25519_pair: KeyPair) -> dict[bytes, bytes]:
    return {b"lists._domainkey.example.com": key_pair.record,
            b"ed._domainkey.example.com": ed25519_pair.record}


def both_keys(key_pair: KeyPair, ed25519_pair: KeyPair, **more: object) -> Settings:
    return Settings(dkim_selector="lists", dkim_private_key=key_pair.path,
                    dkim_ed25519_selector="ed", dkim_ed25519_private_key=ed25519_pair.path,
                    **more)


def test_with_both_keys_each_signature_verifies_on_its_own(key_pair: KeyPair,
                                                           ed25519_pair: KeyPair) -> None:
    signer = Signer.from_settings(both_keys(key_pair, ed25519_pair))
    raw = make_message()
    signed = signer.sign(raw, SENDER)
    rsa_tags, ed25519_tags = signatures(signed)
    assert (rsa_tags["a"], rsa_tags["s"], rsa_tags["d"]) == ("rsa-sha256", "lists", "example.com")
    assert (ed25519_tags["a"], ed25519_tags["s"], ed25519_tags["d"]) == (
        "ed25519-sha256", "ed", "example.com")
    assert rsa_tags["h"] == ed25519_tags["h"] == "from:subject:message-id:to"
    both = published(both_published(key_pair, ed25519_pair))
    assert dkim.DKIM(signed).verify(idx=0, dnsfunc=both)
    assert dkim.DKIM(signed).verify(idx=1, dnsfunc=both)
    # Neither covers the other: a receiver that knows only one key still verifies its own.
    only_ed25519 = published({b"ed._domainkey.example.com": ed25519_pair.record})
    assert not dkim.DKIM(signed).verify(idx=0, dnsfunc=only_ed25519)
    assert dkim.DKIM(signed).verify(idx=1, dnsfunc=only_ed25519)
    assert signer.sign(raw, SENDER) == signed  # both kept together for the next job


async def test_every_copy_carries_both_signatures_and_an_arc_seal_that_verify(
        settings: Settings, sink: Sink, key_pair: KeyPair, ed25519_pair: KeyPair) -> None:
    sealing = settings.model_copy(update={
        "dkim_selector": "lists", "dkim_private_key": key_pair.path,
        "dkim_ed25519_selector": "ed", "dkim_ed25519_private_key": ed25519_pair.path,
        "trusted_authserv_id": FRONT})
    raw = f"Authentication-Results: {FRONT}; dkim=pass header.d=example.org\r\n".encode() \
        + HOPS + make_message()
    async with running(sealing) as app:
        await setup_list(app, personalize="full", footer="Sent to {member_address}")
        await post(app, raw)
        await app.settle()
    assert sorted(sink.recipients()) == sorted(MEMBERS)
    records = both_published(key_pair, ed25519_pair)
    for delivered in sink.delivered:
        assert [tags["a"] for tags in signatures(delivered.raw)] == [
            "rsa-sha256", "ed25519-sha256"]
        for idx in (0, 1):
            assert dkim.DKIM(delivered.raw).verify(idx=idx, dnsfunc=published(records))
        assert arc_verifies(delivered.raw, records) == (True, "success")


def test_an_ed25519_key_alone_signs_alone_and_seals_nothing(ed25519_pair: KeyPair) -> None:
    signer = Signer.from_settings(Settings(dkim_ed25519_private_key=ed25519_pair.path,
                                           hostname="listserv.test"))
    signed = signer.sign(b"Authentication-Results: listserv.test; dkim=none; arc=none\r\n"
                         + make_message(), SENDER)
    [tags] = signatures(signed)
    assert (tags["a"], tags["s"]) == ("ed25519-sha256", "listserv-ed25519")
    assert dkim.verify(signed, dnsfunc=published(
        {b"listserv-ed25519._domainkey.example.com": ed25519_pair.record}))
    assert b"ARC-Seal:" not in signed  # RFC 8617 seals with RSA only


@pytest.mark.parametrize("broken", ["rsa-sha256", "ed25519-sha256"])
def test_when_one_key_fails_the_other_signature_still_goes_out_logged_once(
        key_pair: KeyPair, ed25519_pair: KeyPair, caplog: pytest.LogCaptureFixture,
        broken: str) -> None:
    rsa_key = b"not a key" if broken == "rsa-sha256" else key_pair.pem
    ed25519_key = b"not a key" if broken == "ed25519-sha256" else ed25519_pair.pem
    signer = Signer({}, Key(b"lists", rsa_key, b"ed", ed25519_key))
    dnsfunc = published(both_published(key_pair, ed25519_pair))
    for subject in ("one", "two"):
        signed = signer.sign(make_message(subject=subject), SENDER)
        assert [tags["a"] for tags in signatures(signed)] == [
            algorithm for algorithm in ("rsa-sha256", "ed25519-sha256") if algorithm != broken]
        assert dkim.verify(signed, dnsfunc=dnsfunc)
    [record] = [r for r in caplog.records if r.name == "listserv.outbound.signing"]
    assert record.levelno == logging.WARNING
    assert record.getMessage().startswith(f"DKIM {broken} signing for example.com failed")


def test_keygen_ed25519_writes_a_seed_and_prints_the_record_that_verifies(
        tmp_path: Path) -> None:
    result = run_listserv("dkim", "keygen", "example.com", "--type", "ed25519",
                          "--dir", str(tmp_path), env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    path = tmp_path / "example.com.listserv-ed25519.key"
    assert path.stat().st_mode & 0o777 == 0o600
    assert len(base64.b64decode(path.read_bytes(), validate=True)) == 32
    first, second = result.stdout.splitlines()
    name, _, strings = first.partition(" IN TXT ")
    assert name == "listserv-ed25519._domainkey.example.com."
    record = "".join(re.findall(r'"([^"]*)"', strings)).encode()
    assert re.fullmatch(rb"v=DKIM1; k=ed25519; p=[A-Za-z0-9+/]{43}=", record)
    assert f"LISTSERV_DKIM_ED25519_PRIVATE_KEY={path}" in second
    # What the operator does next: point the settings at the file, publish the record.
    signed = Signer.from_settings(Settings(dkim_ed25519_private_key=path)).sign(
        make_message(), SENDER)
    assert signatures(signed)[0]["a"] == "ed25519-sha256"
    assert dkim.verify(signed, dnsfunc=published(
        {b"listserv-ed25519._domainkey.example.com": record}))


def test_a_domain_entry_with_an_ed25519_key_only_replaces_the_default_keys(
        tmp_path: Path, key_pair: KeyPair, ed25519_pair: KeyPair,
        monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "listserv.toml"
    config.write_text(f'dkim_private_key = "{key_pair.path}"\n'
                      f'dkim_ed25519_private_key = "{ed25519_pair.path}"\n'
                      f'[dkim_keys."lists.example.org"]\n'
                      f'ed25519_private_key = "{ed25519_pair.path}"\n')
    monkeypatch.setenv("LISTSERV_CONFIG", str(config))
    signer = Signer.from_settings(load_settings())
    assert [(tags["a"], tags["d"]) for tags in signatures(
        signer.sign(make_message(), "ops-bounces@lists.example.org"))] == [
        ("ed25519-sha256", "lists.example.org")]
    assert [(tags["a"], tags["s"]) for tags in signatures(signer.sign(make_message(), SENDER))] \
        == [("rsa-sha256", "listserv"), ("ed25519-sha256", "listserv-ed25519")]


def test_two_keys_of_a_domain_need_two_selectors(tmp_path: Path, key_pair: KeyPair,
                                                 ed25519_pair: KeyPair,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LISTSERV_DKIM_PRIVATE_KEY", str(key_pair.path))
    monkeypatch.setenv("LISTSERV_DKIM_ED25519_PRIVATE_KEY", str(ed25519_pair.path))
    monkeypatch.setenv("LISTSERV_DKIM_ED25519_SELECTOR", "listserv")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert str(caught.value) == (
        "LISTSERV_DKIM_ED25519_SELECTOR: the RSA and the Ed25519 key both use the selector "
        "'listserv'; each needs its own (got 'listserv')")
    monkeypatch.delenv("LISTSERV_DKIM_PRIVATE_KEY")  # one key: its selector is free
    assert load_settings().dkim_ed25519_selector == "listserv"


@pytest.mark.parametrize(("entry", "message"), [
    ('selector = "s2"', "needs a private_key, an ed25519_private_key or both"),
    ('selector = "s2"\nprivate_key = "{rsa}"\ned25519_selector = "s2"\n'
     'ed25519_private_key = "{ed25519}"',
     "the RSA and the Ed25519 key both use the selector 's2'; each needs its own"),
    ('ed25519_private_key = "{rsa}"', NOT_ED25519.partition(": ")[2]),
])
def test_a_bad_domain_entry_is_named_in_one_line(
        tmp_path: Path, key_pair: KeyPair, ed25519_pair: KeyPair,
        monkeypatch: pytest.MonkeyPatch, entry: str, message: str) -> None:
    config = tmp_path / "listserv.toml"
    config.write_text('[dkim_keys."lists.example.org"]\n'
                      + entry.format(rsa=key_pair.path, ed25519=ed25519_pair.path) + "\n")
    monkeypatch.setenv("LISTSERV_CONFIG", str(config))
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert str(caught.value).startswith(f"LISTSERV_DKIM_KEYS: {message} (got ")
    assert "\n" not in str(caught.value)


def test_openssl_makes_the_very_rsa_signature_dkimpy_would(key_pair: KeyPair) -> None:
    # listserv.outbound.signing hands dkimpy's RSA to OpenSSL, 20 times faster (bench/signing.py).
    assert dkim.RSASSA_PKCS1_v1_5_sign is not dkim.crypto.RSASSA_PKCS1_v1_5_sign
    private_key = dkim.crypto.parse_pem_private_key(key_pair.pem)
    for digest in (hashlib.sha256(b"canonical headers"), hashlib.sha1(b"canonical headers")):
        assert dkim.RSASSA_PKCS1_v1_5_sign(digest, private_key) == \
            dkim.crypto.RSASSA_PKCS1_v1_5_sign(digest, private_key)


# Issue #18: personal copies made by core.personal.Copies from the prepared bytes, signed
# with the body hashed once and one ARC set per post.
OWN_RESULTS = b"Authentication-Results: lists.example.com; dkim=none; arc=none\r\n"


@pytest.mark.parametrize("footer", ["", "Sent to {member_address}"])
def test_personal_copies_verify_and_share_one_arc_set_where_their_bodies_agree(
        key_pair: KeyPair, ed25519_pair: KeyPair, footer: str) -> None:
    signer = Signer({}, Key(b"lists", key_pair.pem, b"ed", ed25519_pair.pem),
                    seal_as="lists.example.com")
    raw = OWN_RESULTS + make_message().replace(
        b"\r\n\r\n", b"\r\nList-Unsubscribe: <mailto:ops-leave@example.com>\r\n\r\n", 1)
    prepared = signer.prepare(raw, "ops-bounces@example.com")
    assert prepared.results == OWN_RESULTS and OWN_RESULTS not in prepared.raw
    copies = Copies(prepared.raw, "ops-bounces@example.com",
                    Personalization(Personalize.FULL, footer, "https://lists.example.com"),
                    key=b"k" * 32, list_id=1)
    records = {b"lists._domainkey.example.com": key_pair.record,
               b"ed._domainkey.example.com": ed25519_pair.record}
    arc_sets = set()
    for member in ("bob@example.net", "carol+lists@example.org"):
        signed = signer.sign_copy(prepared, copies.copy(member).raw)
        for index in (0, 1):  # the RSA signature on top, the Ed25519 one below
            assert dkim.DKIM(signed).verify(idx=index, dnsfunc=published(records))
        assert arc_verifies(signed, records) == (True, "success")
        [rsa, _] = signatures(signed)
        assert {"list-unsubscribe", "list-unsubscribe-post"} <= set(rsa["h"].split(":"))
        arc_sets.add(signed.partition(b"DKIM-Signature:")[0])
    assert len(arc_sets) == (1 if not footer else 2)


def _ragged_body(seed: int) -> bytes:
    """Lines of every length, runs of spaces and tabs anywhere, empty lines at the end."""
    rng = random.Random(seed)
    pieces = [b"a", b"b", b" ", b"\t", b"  \t "]
    lines = (b"".join(rng.choice(pieces) for _ in range(rng.randrange(200)))
             for _ in range(3 * CANONICAL_PIECE // 100))
    return b"\r\n".join(lines) + b"\r\n \t\r\n\r\n" * seed


@pytest.mark.parametrize("body", [
    b"", b"\r\n", b"\r\n\r\n", b" \t \r\n", b"no line break", b"a  b\t\r\n\r\n \r\n",
    b"x" * (CANONICAL_PIECE - 1) + b" \t \r\n" + b"y \r\n" * 10,  # a cut after a run of blanks
    b"x" * (3 * CANONICAL_PIECE) + b"  \r\n",  # one line longer than a piece
    _ragged_body(0), _ragged_body(1), _ragged_body(2),
])
def test_the_relaxed_body_made_in_pieces_is_dkimpys_own(body: bytes) -> None:
    c = canonicalization
    assert relaxed_body(body) == c.correct_empty_body(c.strip_trailing_lines(
        c.compress_whitespace(c.strip_trailing_whitespace(body))))
    assert c.Relaxed.canonicalize_body is relaxed_body  # what dkimpy verifies and seals with
