# SPDX-License-Identifier: Apache-2.0
import base64
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default

import pytest

from listserv.core.decoration import decorate, render
from listserv.core.digest_entries import entry_for
from listserv.core.digests import (
    RFC1153_SEPARATOR,
    RFC1153_START,
    Issue,
    Schedule,
    VolumePeriod,
    build_mime_digest,
    build_plain_digest,
    digest_subject,
    is_due,
    new_volume,
    next_issue,
    next_slot,
    topics,
    zone,
)
from listserv.core.footer import footer_text
from listserv.core.message import parse_post
from listserv.core.policy import (
    DeliveryMode,
    DeliveryStatus,
    DigestAttachments,
    DigestPeriod,
    ListPolicy,
    Subscriber,
    Weekday,
)
from listserv.core.recipients import digest_groups, digest_recipients, posts_between

LIST = ListPolicy(address="ops@example.com", display_name="Operations Excellence",
                  list_id="ops.example.com", subject_prefix="[ops]",
                  footer="Leave: {unsubscribe_address}\nYou are {member_address}")
NOW = datetime(2025, 6, 2, 6, 0, tzinfo=UTC)
MID = "<digest.1@listserv.test>"
DAILY = Schedule()  # 30 KB, daily at 06:00 UTC


def at(text: str) -> datetime:
    """A moment written as 'YYYY-MM-DD HH:MM' in UTC."""
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=UTC)


def raw(subject: str, body: str = "Hello.\r\n", *, sender: str = "Alice <alice@example.org>",
        extra: str = "", number: int = 1) -> bytes:
    headers = (f"From: {sender}\r\nTo: ops@example.com\r\nSubject: {subject}\r\n"
               f"Date: Mon, 02 Jun 2025 05:0{number % 10}:00 +0000\r\n"
               f"Message-ID: <post.{number}@example.org>\r\n{extra}")
    return (headers + "\r\n" + body).encode()


POSTS = [raw("[ops] Valve seals", "Which seals do you use?\r\n", number=1),
         raw("Re: [ops] Valve seals", "Viton, always.\r\n", sender="bob@example.net", number=2),
         raw("[ops] Night shift", "Handover at 06:00.\r\n", sender="Carol <carol@example.org>",
             number=3)]


def parsed(data: bytes) -> EmailMessage:
    message = message_from_bytes(data, _class=EmailMessage, policy=default)
    assert isinstance(message, EmailMessage)
    return message


def plain_text(data: bytes) -> str:
    content = parsed(data).get_content()
    assert isinstance(content, str)
    return content.replace("\r\n", "\n")


# --- when a digest is due --------------------------------------------------------------

@pytest.mark.parametrize(("schedule", "size", "oldest", "now", "due"), [
    (DAILY, 0, None, at("2025-06-02 06:00"), False),
    (DAILY, 30 * 1024, at("2025-06-02 05:00"), at("2025-06-02 05:01"), True),
    (DAILY, 30 * 1024 - 1, at("2025-06-02 05:00"), at("2025-06-02 05:59"), False),
    (DAILY, 100, at("2025-06-01 07:00"), at("2025-06-02 05:59"), False),
    (DAILY, 100, at("2025-06-01 07:00"), at("2025-06-02 06:00"), True),
    (DAILY, 100, at("2025-06-02 05:59"), at("2025-06-02 06:00"), True),
    (DAILY, 100, at("2025-06-02 06:00"), at("2025-06-02 23:59"), False),
    # the server was down over the last digest hour: due when it is back, before the next
    (DAILY, 100, at("2025-05-29 12:00"), at("2025-06-02 03:00"), True),
    (Schedule(timezone="Europe/Berlin"), 100, at("2025-06-01 12:00"), at("2025-06-02 03:59"),
     False),
    (Schedule(timezone="Europe/Berlin"), 100, at("2025-06-01 12:00"), at("2025-06-02 04:00"),
     True),
    (Schedule(timezone="Asia/Kolkata"), 100, at("2025-06-01 12:00"), at("2025-06-02 00:30"),
     True),
    # New York goes to summer time on 2025-03-09: 06:00 is 11:00 UTC before, 10:00 after
    (Schedule(timezone="America/New_York"), 100, at("2025-03-08 12:00"),
     at("2025-03-09 10:00"), True),
    (Schedule(timezone="America/New_York"), 100, at("2025-03-07 12:00"),
     at("2025-03-08 10:59"), False),
    # 02:00 does not exist in Berlin on 2025-03-30: the digest goes at the change (01:00 UTC)
    (Schedule(hour=2, timezone="Europe/Berlin"), 100, at("2025-03-29 12:00"),
     at("2025-03-30 00:59"), False),
    (Schedule(hour=2, timezone="Europe/Berlin"), 100, at("2025-03-29 12:00"),
     at("2025-03-30 01:00"), True),
    # 02:00 comes twice in Berlin on 2025-10-26: only the first counts
    (Schedule(hour=2, timezone="Europe/Berlin"), 100, at("2025-10-25 12:00"),
     at("2025-10-26 00:00"), True),
    (Schedule(hour=2, timezone="Europe/Berlin"), 100, at("2025-10-26 00:30"),
     at("2025-10-26 01:30"), False),
    # weekly on Mondays (2025-06-02 and 2025-06-09 are Mondays)
    (Schedule(period=DigestPeriod.WEEKLY), 100, at("2025-06-03 10:00"),
     at("2025-06-09 05:59"), False),
    (Schedule(period=DigestPeriod.WEEKLY), 100, at("2025-06-03 10:00"),
     at("2025-06-09 06:00"), True),
    (Schedule(period=DigestPeriod.WEEKLY, weekday=Weekday.FRIDAY), 100,
     at("2025-06-03 10:00"), at("2025-06-06 06:00"), True),
    (Schedule(period=DigestPeriod.WEEKLY, weekday=Weekday.SUNDAY), 100,
     at("2025-06-03 10:00"), at("2025-06-07 23:00"), False),
    # Monday 06:00 in Tokyo is Sunday 21:00 UTC
    (Schedule(period=DigestPeriod.WEEKLY, timezone="Asia/Tokyo"), 100, at("2025-06-04 10:00"),
     at("2025-06-08 20:59"), False),
    (Schedule(period=DigestPeriod.WEEKLY, timezone="Asia/Tokyo"), 100, at("2025-06-04 10:00"),
     at("2025-06-08 21:00"), True),
    (Schedule(period=DigestPeriod.NEVER), 100, at("2024-01-01 00:00"), at("2025-06-02 06:00"),
     False),
    (Schedule(period=DigestPeriod.NEVER, size_kb=1), 1024, at("2025-06-02 05:00"),
     at("2025-06-02 05:00"), True),
    (Schedule(timezone="Not/A_Zone"), 100, at("2025-06-01 12:00"), at("2025-06-02 06:00"), True),
    (DAILY, 100, datetime(2025, 6, 1, 12), datetime(2025, 6, 2, 6), True),  # naive: UTC
])
def test_a_digest_is_due_at_its_size_or_after_a_scheduled_moment_since_the_oldest_post(
        schedule: Schedule, size: int, oldest: datetime | None, now: datetime,
        due: bool) -> None:
    assert is_due(schedule, size=size, oldest=oldest, now=now) is due


@pytest.mark.parametrize(("schedule", "now", "expected"), [
    (DAILY, at("2025-06-02 05:59"), at("2025-06-02 06:00")),
    (DAILY, at("2025-06-02 06:00"), at("2025-06-03 06:00")),
    (Schedule(timezone="America/New_York"), at("2025-03-08 12:00"), at("2025-03-09 10:00")),
    (Schedule(period=DigestPeriod.WEEKLY, weekday=Weekday.SUNDAY), at("2025-06-02 06:00"),
     at("2025-06-08 06:00")),
    (Schedule(period=DigestPeriod.NEVER), at("2025-06-02 06:00"), None),
])
def test_the_next_scheduled_moment(schedule: Schedule, now: datetime,
                                   expected: datetime | None) -> None:
    assert next_slot(schedule, now) == expected


# --- numbering ---------------------------------------------------------------------------

SENDS = [at("2025-03-01 06:00"), at("2025-06-01 06:00"), at("2025-12-31 23:30"),
         at("2026-01-01 00:30"), at("2026-02-01 06:00"), at("2027-03-01 06:00")]


@pytest.mark.parametrize(("timezone", "period", "expected"), [
    ("UTC", VolumePeriod.YEARLY, [(1, 1), (1, 2), (1, 3), (2, 1), (2, 2), (3, 1)]),
    # 2026-01-01 00:30 UTC is still New Year's Eve in New York
    ("America/New_York", VolumePeriod.YEARLY, [(1, 1), (1, 2), (1, 3), (1, 4), (2, 1), (3, 1)]),
    ("UTC", VolumePeriod.MANUAL, [(1, 1), (1, 2), (1, 3), (1, 4), (1, 5), (1, 6)]),
])
def test_issues_count_up_and_a_new_year_starts_a_new_volume(
        timezone: str, period: VolumePeriod, expected: list[tuple[int, int]]) -> None:
    last, sent_at, numbers = Issue(1, 0), None, []
    for moment in SENDS:
        last = next_issue(last, last_sent_at=sent_at, now=moment, timezone=timezone,
                          volume_period=period)
        sent_at = moment
        numbers.append((last.volume, last.number))
    assert numbers == expected


@pytest.mark.parametrize(("last", "expected"), [
    (Issue(3, 12), Issue(4, 0)),
    (Issue(4, 0), Issue(4, 0)),  # a volume without a digest yet is not ended again
])
def test_an_operator_starts_a_new_volume(last: Issue, expected: Issue) -> None:
    started = new_volume(last)
    assert started == expected
    assert next_issue(started, last_sent_at=at("2025-06-01 06:00"), now=NOW, timezone="UTC",
                      volume_period=VolumePeriod.YEARLY) == Issue(expected.volume, 1)


@pytest.mark.parametrize(("policy", "issue", "subject"), [
    (LIST, Issue(3, 12), "Operations Excellence Digest, Vol 3, Issue 12"),
    (ListPolicy(address="ops@example.com"), Issue(1, 1), "ops Digest, Vol 1, Issue 1"),
])
def test_the_subject_names_the_list_volume_and_issue(policy: ListPolicy, issue: Issue,
                                                     subject: str) -> None:
    assert digest_subject(policy, issue) == subject
    assert parsed(build_mime_digest(policy, issue, POSTS, message_id=MID, now=NOW))[
        "Subject"] == subject
    assert parsed(build_plain_digest(policy, issue, POSTS, message_id=MID, now=NOW))[
        "Subject"] == subject


# --- who gets which digest ---------------------------------------------------------------

ROSTER = [Subscriber("a@x.example", "a@x.example", delivery_mode=DeliveryMode.DIGEST_MIME),
          Subscriber("b@a.example", "b@a.example", delivery_mode=DeliveryMode.DIGEST_MIME),
          Subscriber("c@x.example", "c@x.example", delivery_mode=DeliveryMode.DIGEST_PLAIN),
          Subscriber("d@x.example", "d@x.example", delivery_mode=DeliveryMode.DIGEST_PLAIN,
                     delivery_status=DeliveryStatus.DISABLED_BY_BOUNCE),
          Subscriber("e@x.example", "e@x.example"),
          Subscriber("f@x.example", "f@x.example", delivery_mode=DeliveryMode.NOMAIL)]


@pytest.mark.parametrize(("mode", "expected"), [
    (DeliveryMode.DIGEST_MIME, ["b@a.example", "a@x.example"]),
    (DeliveryMode.DIGEST_PLAIN, ["c@x.example"]),
    (DeliveryMode.REGULAR, []),
])
def test_digest_members_are_chosen_by_format_with_delivery_on(mode: DeliveryMode,
                                                              expected: list[str]) -> None:
    assert digest_recipients(ROSTER, mode) == expected


COLLECTED = [at("2025-06-01 08:00"), at("2025-06-01 12:00"), at("2025-06-01 18:00")]


def switched(address: str, since: str | None,
             mode: DeliveryMode = DeliveryMode.DIGEST_MIME) -> Subscriber:
    return Subscriber(address, address, delivery_mode=mode,
                      digest_since=at(since) if since else None)


def test_digest_members_are_grouped_by_the_posts_collected_since_they_switched() -> None:
    roster = [switched("a@x.example", None), switched("b@a.example", "2025-05-01 00:00"),
              switched("c@x.example", "2025-06-01 08:00"),  # at the oldest: all of them
              switched("d@x.example", "2025-06-01 10:00"),
              switched("e@a.example", "2025-06-01 11:00"),  # the same posts as d
              switched("f@x.example", "2025-06-01 12:00"),  # the post of that moment too
              switched("g@x.example", "2025-06-01 19:00"),  # nothing new: no digest
              switched("h@x.example", "2025-06-01 10:00", DeliveryMode.DIGEST_PLAIN),
              Subscriber("i@x.example", "i@x.example", digest_since=at("2025-06-01 10:00"))]
    assert digest_groups(roster, DeliveryMode.DIGEST_MIME, COLLECTED) == {
        (0, 1, 2): ["b@a.example", "a@x.example", "c@x.example"],
        (1, 2): ["e@a.example", "d@x.example", "f@x.example"]}
    assert digest_groups(roster, DeliveryMode.DIGEST_PLAIN, COLLECTED) == {
        (1, 2): ["h@x.example"]}
    assert digest_groups(roster, DeliveryMode.DIGEST_MIME, []) == {}


@pytest.mark.parametrize(("since", "until", "posts"), [
    (None, None, (0, 1, 2)),
    (at("2025-06-01 12:00"), None, (1, 2)),
    (None, at("2025-06-01 12:00"), (0, 1)),
    (at("2025-06-01 09:00"), at("2025-06-01 17:00"), (1,)),
    (at("2025-06-01 19:00"), None, ()),
    (datetime(2025, 6, 1, 12, 0), None, (1, 2)),  # a naive moment is UTC
])
def test_the_posts_collected_between_two_moments(since: datetime | None,
                                                 until: datetime | None,
                                                 posts: tuple[int, ...]) -> None:
    assert posts_between(COLLECTED, since, until) == posts


# --- the MIME digest ---------------------------------------------------------------------

def test_the_mime_digest_is_contents_then_each_post_whole_then_the_footer() -> None:
    data = build_mime_digest(LIST, Issue(3, 12), POSTS, message_id=MID, now=NOW)
    message = parsed(data)
    assert message.get_content_type() == "multipart/mixed"
    contents, digest, footer = message.iter_parts()
    assert [contents.get_content_type(), digest.get_content_type(),
            footer.get_content_type()] == ["text/plain", "multipart/digest", "text/plain"]
    toc = contents.get_content().replace("\r\n", "\n")
    assert re.search(r"1\. \[ops\] Valve seals \(Alice\)\n\s+2\. Re: \[ops\] Valve seals "
                     r"\(bob@example.net\)\n\s+3\. \[ops\] Night shift \(Carol\)", toc)
    attached = list(digest.iter_parts())
    assert [part.get_content_type() for part in attached] == ["message/rfc822"] * 3
    assert [part.get_content()["Subject"] for part in attached] == [
        "[ops] Valve seals", "Re: [ops] Valve seals", "[ops] Night shift"]
    assert footer.get_content() == "Leave: ops-leave@example.com\r\n"  # no {member_address}
    assert all(post in data for post in POSTS)  # byte for byte: signatures stay valid
    assert not [defect for part in message.walk() for defect in part.defects]


def test_the_digest_carries_the_list_headers_and_replies_go_to_the_list() -> None:
    message = parsed(build_mime_digest(LIST, Issue(1, 1), POSTS, message_id=MID, now=NOW))
    assert (message["List-Id"], message["List-Post"], message["List-Unsubscribe"],
            message["Precedence"], message["X-BeenThere"]) == (
        "Operations Excellence <ops.example.com>", "<mailto:ops@example.com>",
        "<mailto:ops-leave@example.com>", "list", "ops@example.com")
    assert message["From"] == "Operations Excellence Digest <ops-request@example.com>"
    assert (message["To"], message["Reply-To"]) == ("ops@example.com", "ops@example.com")
    assert (message["Message-ID"], message["Date"]) == (MID, "Mon, 02 Jun 2025 06:00:00 +0000")


def test_a_boundary_is_chosen_that_no_post_contains() -> None:
    first = build_mime_digest(LIST, Issue(1, 1), POSTS, message_id=MID, now=NOW)
    boundary = parsed(first).get_boundary()
    assert boundary is not None
    tricky = raw("Forwarded digest", f"--{boundary}\r\nContent-Type: text/plain\r\n\r\nx\r\n")
    message = parsed(build_mime_digest(LIST, Issue(1, 1), [tricky, *POSTS], message_id=MID,
                                       now=NOW))
    assert message.get_boundary() != boundary
    assert len(list(list(message.iter_parts())[1].iter_parts())) == 4


# --- the plain (RFC 1153) digest ---------------------------------------------------------

def bursts(text: str) -> tuple[str, list[str]]:
    """Split an RFC 1153 digest as a digest burster does: preamble, then the messages."""
    preamble, start, rest = text.partition(f"\n\n{RFC1153_START}\n\n")
    assert start, "no line of 70 hyphens after the table of contents"
    return preamble, rest.split(f"\n\n{RFC1153_SEPARATOR}\n\n")


def test_the_plain_digest_has_rfc1153_layout() -> None:
    data = build_plain_digest(LIST, Issue(3, 12), POSTS, message_id=MID, now=NOW)
    assert parsed(data).get_content_type() == "text/plain"
    preamble, messages = bursts(plain_text(data))
    assert "Topics in this issue (3):" in preamble
    *posts, footer, trailer = messages
    assert posts[0].split("\n\n")[0].splitlines() == [
        "Date: Mon, 02 Jun 2025 05:01:00 +0000", "From: Alice <alice@example.org>",
        "Subject: [ops] Valve seals", "Message-ID: <post.1@example.org>"]
    assert [post.split("\n\n", 1)[1] for post in posts] == [
        "Which seals do you use?", "Viton, always.", "Handover at 06:00."]
    assert footer == "Subject: Digest Footer\n\nLeave: ops-leave@example.com"
    assert trailer == ("End of Operations Excellence Digest, Vol 3, Issue 12\n"
                       + "*" * 52 + "\n")


ATTACHED = base64.b64encode(b"%PDF-1.4 " + bytes(range(256)) * 12).decode()
WITH_PDF = raw("[ops] Report", "--b1\r\nContent-Type: text/plain\r\n\r\nSee the report.\r\n"
               "--b1\r\nContent-Type: application/pdf\r\n"
               'Content-Disposition: attachment; filename="pump report.pdf"\r\n'
               f"Content-Transfer-Encoding: base64\r\n\r\n{ATTACHED}\r\n--b1--\r\n",
               extra='MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b1"\r\n')
ALTERNATIVE = raw("[ops] Both", "--b2\r\nContent-Type: text/plain\r\n\r\nPlain words.\r\n"
                  "--b2\r\nContent-Type: text/html\r\n\r\n<p>Rich <b>words</b></p>\r\n--b2--\r\n",
                  extra='MIME-Version: 1.0\r\nContent-Type: multipart/alternative; '
                        'boundary="b2"\r\n')
HTML_ONLY = raw("[ops] Styled", "<html><body><p>Only <i>HTML</i> here</p></body></html>\r\n",
                extra="MIME-Version: 1.0\r\nContent-Type: text/html\r\n")
FORWARD = raw("[ops] Fwd", "--b3\r\nContent-Type: text/plain\r\n\r\nSee below.\r\n--b3\r\n"
              "Content-Type: message/rfc822\r\n\r\nFrom: x@y.example\r\nSubject: Old thread\r\n"
              "\r\nOld words.\r\n--b3--\r\n",
              extra='MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b3"\r\n')


@pytest.mark.parametrize(("post", "shown", "hidden"), [
    (WITH_PDF, ['See the report.',
                '[Attachment not included: "pump report.pdf", application/pdf, 3 KB]'],
     [ATTACHED[:40]]),
    (ALTERNATIVE, ["Plain words."], ["Rich", "<p>"]),
    (HTML_ONLY, ["Only HTML here"], ["<p>"]),
    (FORWARD, ["See below.", '[Attachment not included: "Old thread", message/rfc822,'],
     ["Old words."]),
    (raw("[ops] Lines", "above\r\n------------------------------\r\nbelow\r\n"),
     ["above\n ------------------------------\nbelow"], []),
])
def test_the_plain_digest_shows_text_and_a_note_for_every_other_part(
        post: bytes, shown: list[str], hidden: list[str]) -> None:
    text = plain_text(build_plain_digest(LIST, Issue(1, 1), [post], message_id=MID, now=NOW))
    _, (body, *_) = bursts(text)
    for words in shown:
        assert words in body
    for words in hidden:
        assert words not in body


def decorated(post: bytes, policy: ListPolicy = LIST) -> bytes:
    """The post as listserv keeps it for the digest: decorated, with the list's footer."""
    return render(decorate(parse_post(post), policy, message_id="<x@example.com>", now=NOW))


# A plain-text post (footer appended to its text), a multipart/mixed one (footer part added)
# and a multipart/alternative one (wrapped in a multipart/mixed with the footer part).
FOOTED = [decorated(POSTS[0]), decorated(WITH_PDF), decorated(ALTERNATIVE)]
FOOTER = "Leave: ops-leave@example.com"


def test_decorated_posts_carry_the_footer_each() -> None:
    assert all(FOOTER.encode() in post for post in FOOTED)


def texts(message: EmailMessage) -> list[str]:
    """The text of every text/plain part, inside the attached posts too."""
    return [str(part.get_content()) for part in message.walk()
            if part.get_content_type() == "text/plain" and not part.is_multipart()]


def test_the_mime_digest_carries_the_footer_once_as_its_last_part() -> None:
    message = parsed(build_mime_digest(LIST, Issue(1, 1), FOOTED, message_id=MID, now=NOW))
    *_, footer = message.iter_parts()
    assert FOOTER in footer.get_content()
    assert sum(text.count(FOOTER) for text in texts(message)) == 1
    posts = [part.get_content() for part in list(message.iter_parts())[1].iter_parts()]
    assert [post.get_content_type() for post in posts] == [
        "text/plain", "multipart/mixed", "multipart/alternative"]
    assert posts[0].get_content().replace("\r\n", "\n") == "Which seals do you use?\n"
    assert [part.get_content_type() for part in posts[1].iter_parts()] == [
        "text/plain", "text/plain"]  # the PDF listed (digest_attachments=list)
    assert not [defect for part in message.walk() for defect in part.defects]


def mime_posts(policy: ListPolicy, posts: list[bytes]) -> list[EmailMessage]:
    message = parsed(build_mime_digest(policy, Issue(1, 1), posts, message_id=MID, now=NOW))
    return [part.get_content() for part in list(message.iter_parts())[1].iter_parts()]


def test_a_mime_digest_lists_attachments_by_name_and_keeps_text_and_html() -> None:
    pdf, alternative, forward = mime_posts(replace(LIST, footer=""),
                                           [WITH_PDF, ALTERNATIVE, FORWARD])
    text, listed = pdf.iter_parts()
    assert text.get_content().strip() == "See the report."
    assert listed.get_content().strip() == (
        '[Attachment not included: "pump report.pdf", application/pdf, 3 KB]')
    assert ATTACHED[:40] not in pdf.as_string()
    assert [part.get_content_type() for part in alternative.walk()] == [
        "multipart/alternative", "text/plain", "text/html"]
    assert "Old thread" in str(list(forward.iter_parts())[1].get_content())
    assert "Old words." not in forward.as_string()


def test_a_mime_digest_of_a_list_that_keeps_attachments_carries_them() -> None:
    keep = replace(LIST, footer="", digest_attachments=DigestAttachments.KEEP)
    digest = build_mime_digest(keep, Issue(1, 1), [WITH_PDF, FORWARD], message_id=MID,
                               now=NOW)
    assert FORWARD in digest and ATTACHED[:40].encode() in digest


def test_a_mime_digest_leaves_a_signed_post_whole() -> None:
    signed = raw("[ops] Signed", '--s\r\nContent-Type: multipart/mixed; boundary="m"\r\n\r\n'
                 "--m\r\nContent-Type: text/plain\r\n\r\nSigned.\r\n--m\r\n"
                 "Content-Type: application/pdf\r\nContent-Disposition: attachment; "
                 'filename="a.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERg==\r\n'
                 "--m--\r\n--s\r\nContent-Type: application/pgp-signature\r\n\r\n"
                 "-----BEGIN PGP SIGNATURE-----\r\n--s--\r\n",
                 extra='MIME-Version: 1.0\r\nContent-Type: multipart/signed; boundary="s"; '
                 'protocol="application/pgp-signature"\r\n')
    digest = build_mime_digest(replace(LIST, footer=""), Issue(1, 1), [signed],
                               message_id=MID, now=NOW)
    assert signed in digest


def test_the_plain_digest_carries_the_footer_once_before_its_trailer() -> None:
    text = plain_text(build_plain_digest(LIST, Issue(1, 1), FOOTED, message_id=MID, now=NOW))
    _, messages = bursts(text)
    *posts, footer, _trailer = messages
    assert text.count(FOOTER) == 1 and footer == f"Subject: Digest Footer\n\n{FOOTER}"
    assert [post.split("\n\n", 1)[1] for post in posts] == [
        "Which seals do you use?",
        'See the report.\n\n[Attachment not included: "pump report.pdf", application/pdf, '
        "3 KB]", "Plain words."]


def test_a_footer_the_list_no_longer_has_stays_on_its_post() -> None:
    changed = replace(LIST, footer="Write to {list_address}")
    data = build_mime_digest(changed, Issue(1, 1), FOOTED[:1], message_id=MID, now=NOW)
    assert FOOTED[0] in data  # not what this list adds now: kept byte for byte


@pytest.mark.parametrize(("post", "subject", "author"), [
    (raw("=?utf-8?q?Pr=C3=BCfung?="), "Prüfung", "Alice"),
    (raw(""), "(no subject)", "Alice"),
    (b"Subject: x\r\n\r\nno sender\r\n", "x", "unknown sender"),
    (b"", "(no subject)", "unknown sender"),
])
def test_each_post_gets_a_line_in_the_table_of_contents(post: bytes, subject: str,
                                                        author: str) -> None:
    [topic] = topics([post])
    assert (topic.subject, topic.author) == (subject, author)


# --- bad posts ---------------------------------------------------------------------------

BAD_POSTS = {
    "huge attachment": raw("Big", "--b\r\nContent-Type: application/octet-stream\r\n"
                           "Content-Transfer-Encoding: base64\r\n\r\n"
                           + ("A" * 76 + "\r\n") * 30_000 + "--b--\r\n",
                           extra='MIME-Version: 1.0\r\nContent-Type: multipart/mixed; '
                                 'boundary="b"\r\n'),
    "unknown charset": raw("Odd", "caf\xe9\r\n").replace(b"caf\xc3\xa9", b"caf\xe9")
    .replace(b"Subject: Odd", b"Content-Type: text/plain; charset=x-unknown\r\nSubject: Odd"),
    "koi8-r": b"Subject: =?koi8-r?b?8NLP18XSy8E=?=\r\nContent-Type: text/plain; charset=koi8-r"
              b"\r\n\r\n" + "Проверка\r\n".encode("koi8-r"),
    "a codec that is no text": raw("Zip", "eJzLSM3JyQcABiwCFQ==\r\n",
                                   extra="Content-Type: text/plain; charset=zlib_codec\r\n"),
    "8-bit headers": "Subject: Grüße\r\nFrom: Jürgen <j@example.org>\r\n\r\nHallo\r\n"
                     .encode(),
    "latin-1 headers": "Subject: Grüße\r\n\r\nHallo\r\n".encode("latin-1"),
    "no boundary": b"Subject: Broken\r\nContent-Type: multipart/mixed\r\n\r\nparts? \xff\r\n",
    "unclosed boundary": b'Subject: Open\r\nContent-Type: multipart/mixed; boundary="z"\r\n\r\n'
                         b"--z\r\nContent-Type: text/plain\r\n\r\nnever closed\r\n",
    "bad base64": b"Subject: B64\r\nContent-Type: text/plain\r\n"
                  b"Content-Transfer-Encoding: base64\r\n\r\n!!!not base64***\r\n",
    "bad parameters": b'Subject: Params\r\nContent-Type: multipart/mixed; boundary="q"\r\n\r\n'
                      b'--q\r\nContent-Type: application/pdf; name*=utf-8\'\'%ZZ%\r\n'
                      b'Content-Disposition: attachment; filename*=bogus\'\'\xff\r\n\r\n'
                      b'data\r\n--q--\r\n',
    "message inside": FORWARD,
    "nested 150 deep": b"Subject: Deep\r\n"
                       + b"".join(b'Content-Type: multipart/mixed; boundary="n%d"\r\n\r\n--n%d\r\n'
                                  % (n, n) for n in range(150))
                       + b"Content-Type: text/plain\r\n\r\ncore\r\n",
    "NUL bytes and bare LF": b"Subject: Nul\n\nzero\x00here\nand\rthere\n",
    "a line of 5000 octets": raw("Long", "x" * 5000 + "\r\n"),
    "no headers": b"just some words\r\n",
    "empty": b"",
    "binary": bytes(range(256)) * 4,
}


@pytest.mark.parametrize("bad", BAD_POSTS.values(), ids=BAD_POSTS.keys())
def test_a_bad_post_still_makes_a_valid_digest_with_every_other_post(bad: bytes) -> None:
    posts = [POSTS[0], bad, POSTS[2]]
    mime = build_mime_digest(LIST, Issue(1, 1), posts, message_id=MID, now=NOW)
    plain = build_plain_digest(LIST, Issue(1, 1), posts, message_id=MID, now=NOW)
    for data in (mime, plain):
        assert max(len(line) for line in data.split(b"\r\n")) <= 998
        assert b"\n" not in data.replace(b"\r\n", b"")  # CRLF only (RFC 5322 section 2.3)
    digest = list(parsed(mime).iter_parts())[1]
    attached = [part.get_content() for part in digest.iter_parts()]
    assert len(attached) == 3
    assert (attached[0]["Subject"], attached[2]["Subject"]) == ("[ops] Valve seals",
                                                                "[ops] Night shift")
    _, messages = bursts(plain_text(plain))
    assert len(messages) == 5  # three posts, the footer, the trailer
    assert "Which seals do you use?" in messages[0] and "Handover at 06:00." in messages[2]


def test_a_huge_attachment_is_a_one_line_note_in_the_plain_digest() -> None:
    plain = build_plain_digest(LIST, Issue(1, 1), [BAD_POSTS["huge attachment"]],
                               message_id=MID, now=NOW)
    assert len(plain) < 4096
    assert b"[Attachment not included: (no name), application/octet-stream, 1.6 MB]" in plain


def test_an_empty_digest_is_still_well_formed() -> None:
    assert topics([]) == []
    message = parsed(build_mime_digest(LIST, Issue(1, 1), [], message_id=MID, now=NOW))
    assert len(list(list(message.iter_parts())[1].iter_parts())) == 0
    _, messages = bursts(plain_text(build_plain_digest(LIST, Issue(1, 1), [], message_id=MID,
                                                       now=NOW)))
    assert len(messages) == 2


def test_the_time_of_day_of_the_schedule_is_kept_across_a_year() -> None:
    schedule = Schedule(timezone="Europe/Berlin")
    moment, hours = at("2025-01-01 00:00"), set()
    for _ in range(366):
        slot = next_slot(schedule, moment)
        assert slot is not None and slot > moment
        hours.add(slot.astimezone(zone(schedule.timezone)).hour)
        moment = slot + timedelta(minutes=1)
    assert hours == {6}



# --- posts read once, when they are kept -------------------------------------------------

SHAPES = [*FOOTED, WITH_PDF, ALTERNATIVE, HTML_ONLY, FORWARD, *BAD_POSTS.values()]


@pytest.mark.parametrize("policy", [LIST, replace(LIST, digest_attachments=DigestAttachments.KEEP),
                                    replace(LIST, footer="")], ids=["list", "keep", "no footer"])
def test_entries_made_when_posts_are_kept_make_the_digests_the_posts_make(
        policy: ListPolicy) -> None:
    entries = [entry_for(post, footer_text(policy)) for post in SHAPES]
    for build in (build_mime_digest, build_plain_digest):
        assert build(policy, Issue(1, 1), entries, message_id=MID, now=NOW) == build(
            policy, Issue(1, 1), SHAPES, message_id=MID, now=NOW)
    assert topics(entries) == topics(SHAPES)


def test_an_entry_keeps_a_post_without_its_footer_and_its_attachments_listed_apart() -> None:
    text_post, pdf, alternative = (entry_for(post, footer_text(LIST)) for post in FOOTED)
    assert all(FOOTER.encode() not in entry.attached and FOOTER not in entry.text
               for entry in (text_post, pdf, alternative))
    assert text_post.listed is None and alternative.listed is None
    assert pdf.listed is not None and ATTACHED[:40].encode() in pdf.attached
    assert ATTACHED[:40].encode() not in pdf.listed and b"pump report.pdf" in pdf.listed
    assert (text_post.topic.subject, text_post.topic.author) == ("[ops] Valve seals", "Alice")


def test_a_plain_digest_not_in_ascii_is_quoted_printable_as_set_content_writes_it() -> None:
    post = raw("[ops] Grüße", "Grüße aus Köln, " + "x" * 1200 + "\r\n")
    data = build_plain_digest(LIST, Issue(1, 1), [post], message_id=MID, now=NOW)
    assert b"Content-Transfer-Encoding: quoted-printable" in data
    assert max(len(line) for line in data.split(b"\r\n")) <= 78
    assert "Grüße aus Köln, " + "x" * 1200 in plain_text(data)
