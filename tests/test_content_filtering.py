# SPDX-License-Identifier: Apache-2.0
"""Content filtering end to end: real multi-part posts as mail clients write them
(tests/data/content) sent over SMTP on loopback; what the members, the archive and a MIME
digest get, and what happens to a post that filtering leaves nothing of."""

import json
import mailbox
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

from listserv.app import App
from tests.helpers import listserv_cli
from tests.sink import Sink
from tests.test_digests import digests_send, digests_to
from tests.test_post_path import held, inbound_rows, list_mail, post, set_member, setup_list

SAMPLES = Path(__file__).parent / "data" / "content"
ALICE, BOB, CAROL, DAN = ("alice@example.org", "bob@example.net", "carol@example.org",
                          "dan@example.org")
OWNER = "olga@example.org"


def sample(name: str) -> bytes:
    """A sample message with CRLF line ends, as on the wire."""
    return (SAMPLES / name).read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def types(message: EmailMessage) -> list[str]:
    return [part.get_content_type() for part in message.walk()]


def text_of(message: EmailMessage) -> str:
    """The plain text body, with LF line ends (an mbox keeps them so)."""
    body = message.get_body(("plain",))
    assert body is not None
    return "\n".join(str(body.get_content()).splitlines())


def files(message: EmailMessage) -> list[str]:
    """The names of the files attached."""
    return [name for part in message.iter_attachments() if (name := part.get_filename())]


async def setup(app: App, **settings: str) -> None:
    """A list that filters content, with a regular member, a MIME digest member and an
    owner (who takes no mail as a member)."""
    await setup_list(app, [ALICE, BOB, CAROL, DAN, OWNER], filter_content="true",
                     footer="Operations Excellence", **settings)
    await set_member(app, DAN, delivery_mode="digest-mime")
    await set_member(app, OWNER, role="owner", delivery_mode="nomail")


async def post_sample(app: App, name: str, sender: str = ALICE) -> None:
    await post(app, sample(name), sender=sender)
    await app.settle()


def to_bob(sink: Sink) -> EmailMessage:
    [copy] = [d for d in list_mail(sink) if BOB in d.recipients]
    return copy.message


async def archived(app: App, env: dict[str, str], tmp_path: Path) -> list[EmailMessage]:
    """The list's archive as the operator exports it."""
    path = tmp_path / "ops.mbox"
    result = await listserv_cli("archive", "export", "ops@example.com", "--mbox", str(path),
                                env=env)
    assert result.returncode == 0, result.stderr
    box = mailbox.mbox(path)
    try:
        return [message_from_bytes(entry.as_bytes(), _class=EmailMessage, policy=default)
                for entry in box]
    finally:
        box.close()


async def digest_posts(app: App, sink: Sink, env: dict[str, str]) -> list[EmailMessage]:
    """The posts in the MIME digest the digest member gets now."""
    await digests_send(app, env)
    digest = digests_to(sink, DAN)[-1]
    _, posts, *_ = digest.message.iter_parts()
    return [part.get_content() for part in posts.iter_parts()]


async def test_an_outlook_post_loses_its_html_and_inline_image_for_members_archive_and_digest(
        app: App, sink: Sink, cli_env: dict[str, str], tmp_path: Path) -> None:
    await setup(app, filter_types="image")
    await post_sample(app, "outlook-html-inline-images.eml")
    members = to_bob(sink)
    assert types(members) == ["text/plain"]
    assert members["Subject"] == "[ops] Pump room layout"
    assert "Valve V-12 moves to the east wall." in text_of(members)
    assert text_of(members).rstrip().endswith("Operations Excellence")
    [kept] = await archived(app, cli_env, tmp_path)
    assert types(kept) == ["text/plain"] and text_of(kept) == text_of(members)
    [in_digest] = await digest_posts(app, sink, cli_env)
    assert types(in_digest) == ["text/plain"]
    assert "Valve V-12 moves" in text_of(in_digest)


async def test_apple_mail_alternatives_collapse_to_the_plain_text(
        app: App, sink: Sink) -> None:
    await setup(app)
    await post_sample(app, "apple-mail-alternative.eml", sender=BOB)
    [copy] = [d.message for d in list_mail(sink) if ALICE in d.recipients]
    assert types(copy) == ["text/plain"]
    assert "Pressure held at 40 bar all night — nothing to report." in text_of(copy)


async def test_a_list_that_does_not_filter_passes_the_alternatives_whole(
        app: App, sink: Sink) -> None:
    await setup_list(app, [ALICE, BOB])
    await post_sample(app, "apple-mail-alternative.eml", sender=BOB)
    [copy] = [d.message for d in list_mail(sink) if ALICE in d.recipients]
    assert types(copy)[:3] == ["multipart/alternative", "text/plain", "text/html"]


async def test_an_exe_is_removed_and_a_mime_digest_lists_the_pdf_unless_the_list_keeps_it(
        app: App, sink: Sink, cli_env: dict[str, str], tmp_path: Path) -> None:
    await setup(app, filter_extensions="exe,scr")
    await post_sample(app, "thunderbird-exe-attachment.eml")
    members = to_bob(sink)
    assert types(members) == ["multipart/mixed", "text/plain", "application/pdf", "text/plain"]
    assert files(members) == [
        "flow-meter-manual.pdf"]
    [kept] = await archived(app, cli_env, tmp_path)
    assert types(kept) == types(members)
    [in_digest] = await digest_posts(app, sink, cli_env)
    assert types(in_digest) == ["multipart/mixed", "text/plain", "text/plain"]
    listed = list(in_digest.iter_parts())[1].get_content()
    assert listed.startswith('[Attachment not included: "flow-meter-manual.pdf", '
                             "application/pdf, ")
    changed = await listserv_cli("lists", "set", "ops@example.com", "digest_attachments=keep",
                                 env=cli_env)
    assert changed.returncode == 0, changed.stderr
    again = sample("thunderbird-exe-attachment.eml").replace(b"<5d2e8c41", b"<again-5d2e8c41")
    await post(app, again)  # a new Message-ID: the same one again would be held as a duplicate
    await app.settle()
    [whole] = await digest_posts(app, sink, cli_env)
    assert files(whole) == [
        "flow-meter-manual.pdf"]


async def test_a_pgp_signed_post_goes_out_whole_with_its_signature_by_default(
        app: App, sink: Sink) -> None:
    await setup(app, filter_extensions="exe")
    raw = sample("pgp-mime-signed.eml")
    await post(app, raw)
    await app.settle()
    members = to_bob(sink)
    assert types(members)[:2] == ["multipart/signed", "multipart/mixed"]
    # The signed part and the signature, octet for octet: the signature still verifies.
    boundary = b"--------------Q8dF2kL9mN4pR6sT1vW3xY5z"
    signed = raw[raw.index(boundary):]
    assert signed in next(d for d in sink.delivered if BOB in d.recipients).raw


async def test_a_pgp_signed_post_loses_its_signature_and_is_filtered_with_strip(
        app: App, sink: Sink) -> None:
    await setup(app, filter_extensions="exe", filter_signed="strip")
    await post_sample(app, "pgp-mime-signed.eml")
    members = to_bob(sink)
    assert types(members) == ["text/plain"]
    assert "The torque for V-12 is now 85 Nm." in text_of(members)


async def test_a_calendar_invitation_keeps_its_text_calendar_alternative(
        app: App, sink: Sink) -> None:
    await setup(app, collapse_alternatives="false", filter_types="text/html",
                filter_extensions="ics")
    await post_sample(app, "calendar-invitation.eml", sender=CAROL)
    members = to_bob(sink)
    alternative = next(part for part in members.walk()
                       if part.get_content_type() == "multipart/alternative")
    assert types(alternative) == ["multipart/alternative", "text/plain", "text/calendar"]
    calendar = list(alternative.iter_parts())[1]
    assert calendar.get_param("method") == "REQUEST"
    assert "SUMMARY:Safety review" in calendar.get_content()
    assert "invite.ics" not in members.as_string()


async def test_an_html_only_post_becomes_plain_text_with_its_links_as_text(
        app: App, sink: Sink, cli_env: dict[str, str], tmp_path: Path) -> None:
    await setup(app, convert_html_to_plaintext="true")
    await post_sample(app, "html-only.eml", sender=CAROL)
    members = to_bob(sink)
    assert types(members) == ["text/plain"]
    text = text_of(members)
    assert "The agenda for Tuesday is on [the wiki page](https://wiki.example.org/ops/agenda)" \
        in text
    assert "* Valve V-12" in text and "<p>" not in text and "font-family" not in text
    [kept] = await archived(app, cli_env, tmp_path)
    assert text_of(kept) == text


async def test_a_post_nothing_is_left_of_is_discarded_by_default(
        app: App, sink: Sink) -> None:
    await setup(app, filter_extensions="exe")
    await post_sample(app, "attachment-only.eml")
    assert sink.delivered == []
    [row] = await inbound_rows(app)
    assert row.disposition == "discarded"
    assert row.rule_hits[0]["rule"] == "content_filter"
    assert "invoice-2024-1187.exe" in row.rule_hits[0]["reason"]


async def test_a_post_nothing_is_left_of_is_held_and_goes_out_whole_once_approved(
        app: App, sink: Sink, cli_env: dict[str, str]) -> None:
    await setup(app, filter_extensions="exe", filter_action="hold")
    await post_sample(app, "attachment-only.eml")
    assert list_mail(sink) == []
    [held_post] = await held(app)
    listed = await listserv_cli("held", "list", "ops@example.com", "--json", env=cli_env)
    [entry] = json.loads(listed.stdout)
    assert "nothing is left after content filtering" in entry["reasons"][0]
    [notice] = [d.message for d in sink.delivered if OWNER in d.recipients]
    assert "content filtering" in notice.as_string()
    approved = await listserv_cli("held", "approve", str(held_post.id), env=cli_env)
    assert approved.returncode == 0, approved.stderr
    await app.settle()
    assert files(to_bob(sink)) == [
        "invoice-2024-1187.exe"]


async def test_a_post_nothing_is_left_of_is_rejected_with_the_reason(
        app: App, sink: Sink) -> None:
    await setup(app, filter_extensions="exe", filter_action="reject")
    await post_sample(app, "attachment-only.eml")
    assert list_mail(sink) == []
    [notice] = sink.to(ALICE)
    assert "was rejected" in str(notice.message["Subject"])
    assert "Nothing is left of it" in text_of(notice.message)


async def test_a_post_nothing_is_left_of_is_forwarded_to_the_owners(
        app: App, sink: Sink) -> None:
    await setup(app, filter_extensions="exe", filter_action="forward")
    await post_sample(app, "attachment-only.eml")
    assert list_mail(sink) == [] and sink.to(ALICE) == []
    [forwarded] = sink.delivered
    assert forwarded.recipients == [OWNER]
    assert "Content filtered out" in str(forwarded.message["Subject"])
    assert "invoice-2024-1187.exe" in text_of(forwarded.message)
    [attached] = [part.get_content() for part in forwarded.message.iter_attachments()]
    assert attached["Message-ID"] == "<invoice-2024-1187@example.org>"
    [row] = await inbound_rows(app)
    assert row.disposition == "forwarded"


async def test_lists_show_and_set_speak_the_filter_settings(
        app: App, cli_env: dict[str, str]) -> None:
    await setup(app)
    changed = await listserv_cli("lists", "set", "ops@example.com",
                                 "filter_types=image, Application/X-MSDownload",
                                 "filter_extensions=.EXE,scr", "filter_action=forward",
                                 env=cli_env)
    assert changed.returncode == 0, changed.stderr
    shown = await listserv_cli("lists", "show", "ops@example.com", "--json", env=cli_env)
    settings = json.loads(shown.stdout)["settings"]
    assert {key: settings[key] for key in (
        "filter_content", "filter_types", "filter_extensions", "filter_action",
        "filter_signed", "collapse_alternatives", "convert_html_to_plaintext",
        "digest_attachments")} == {
        "filter_content": True, "filter_types": ["image", "application/x-msdownload"],
        "filter_extensions": ["exe", "scr"], "filter_action": "forward",
        "filter_signed": "keep", "collapse_alternatives": True,
        "convert_html_to_plaintext": False, "digest_attachments": "list"}
    refused = await listserv_cli("lists", "set", "ops@example.com", "filter_action=bounce",
                                 env=cli_env)
    assert refused.returncode == 1
    assert "filter_action: expected one of discard|hold|reject|forward" in refused.stderr
