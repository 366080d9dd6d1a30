# SPDX-License-Identifier: Apache-2.0
import base64
import time
from email.message import EmailMessage

import pytest

from listserv.core.message import parse_post
from listserv.core.replies import body_text, own_lines, reply_lines, reply_subject

HEADERS = (b"From: Mo <mo@example.org>\r\nTo: ops-confirm+f3a9c8e1b7d4@example.com\r\n"
           b"Subject: Re: Held post: Partnership\r\nMessage-ID: <r1@example.org>\r\n")
PLAIN = b"Content-Type: text/plain; charset=utf-8\r\n"
HTML = b"Content-Type: text/html; charset=utf-8\r\n"
GMAIL_REPLY = (
    b'<div dir="ltr">approve</div><br><div class="gmail_quote"><div dir="ltr" '
    b'class="gmail_attr">On Tue, Mar 3, 2026 at 10:00\xe2\x80\xafAM ops &lt;'
    b'ops-confirm+f3a9@example.com&gt; wrote:<br></div><blockquote class="gmail_quote" '
    b'style="margin:0px 0px 0px 0.8ex;border-left:1px solid rgb(204,204,204)">'
    b"A post awaits moderation.<br>Reply with approve, reject REASON or discard.<br>"
    b"</blockquote></div>\r\n")
OUTLOOK_HTML = (
    b'<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8">'
    b"<style>p {margin:0}</style></head><body>"
    b'<div style="font-family: Calibri">reject Off topic</div>'
    b'<div id="appendonsend"></div><hr style="display:inline-block;width:98%">'
    b'<div id="divRplyFwdMsg" dir="ltr"><font face="Calibri"><b>From:</b> ops<br>'
    b"<b>Sent:</b> Tuesday, March 3, 2026 10:00 AM<br><b>Subject:</b> Held post</font></div>"
    b"<div>Reply with approve to send it to the list.</div></body></html>\r\n")
THUNDERBIRD_HTML = (
    b'<html><body><div class="moz-cite-prefix">On 3/3/26 10:00, ops wrote:<br></div>'
    b'<blockquote type="cite">Reply with approve to send it.</blockquote>'
    b'<p>discard</p><pre class="moz-signature" cols="72">-- \r\nMo</pre></body></html>\r\n')
ALTERNATIVE = (
    b'Content-Type: multipart/alternative; boundary="alt"\r\n', b"--alt\r\n" + PLAIN +
    b"\r\napprove\r\n--alt\r\n" + HTML + b"\r\n<p>discard</p>\r\n--alt--\r\n")
MIXED = (
    b'Content-Type: multipart/mixed; boundary="mix"\r\n', b"--mix\r\n" + PLAIN +
    b"\r\nreject see the attached rules\r\n--mix\r\n" + PLAIN +
    b'Content-Disposition: attachment; filename="rules.txt"\r\n\r\napprove\r\n--mix\r\n'
    b"Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    b"JVBERi0xLjQK\r\n--mix--\r\n")


def message(headers: bytes, body: bytes) -> EmailMessage:
    return parse_post(HEADERS + headers + b"\r\n" + body).message


def encoded(text: str, charset: str = "utf-8") -> bytes:
    return base64.encodebytes(text.encode(charset)).replace(b"\n", b"\r\n")


@pytest.mark.parametrize(("headers", "body", "expected"), [
    pytest.param(PLAIN, b"approve\r\n\r\nOn Tue, 3 Mar 2026 at 10:00, ops <ops@example.com> "
                 b"wrote:\r\n> A post awaits moderation.\r\n> Reply with discard to drop it.\r\n",
                 ["approve"], id="top-posted"),
    pytest.param(PLAIN, b"On Tue, 3 Mar 2026 at 10:00, ops <ops@example.com> wrote:\r\n"
                 b"> Reply with approve to send it.\r\n\r\nreject Off topic\r\n",
                 ["reject Off topic"], id="bottom-posted"),
    pytest.param(PLAIN, b"discard\r\n\r\n-----Original Message-----\r\nFrom: ops\r\n"
                 b"Sent: Tuesday, March 3, 2026 10:00 AM\r\n\r\napprove\r\n",
                 ["discard"], id="outlook-original-message"),
    pytest.param(PLAIN, b"reject Spam\r\n\r\nFrom: ops <ops-confirm@example.com>\r\n"
                 b"Sent: Tuesday, March 3, 2026 10:00 AM\r\nTo: Mo <mo@example.org>\r\n"
                 b"Subject: Held post\r\n\r\nReply with approve to send it.\r\n",
                 ["reject Spam"], id="outlook-header-block"),
    pytest.param(HTML, GMAIL_REPLY, ["approve"], id="gmail-html"),
    pytest.param(HTML, OUTLOOK_HTML, ["reject Off topic"], id="outlook-html"),
    pytest.param(HTML, THUNDERBIRD_HTML, ["discard"], id="thunderbird-html-bottom-posted"),
    pytest.param(HTML, b"<p>reject Off&nbsp;topic &amp; spam<br>Thanks,&nbsp;<br/>Mo</p>\r\n",
                 ["reject Off topic & spam", "Thanks,", "Mo"], id="html-breaks-and-entities"),
    pytest.param(HTML, b"<html><head><title>approve</title></head><body><script>approve()"
                 b"</script><style>p{}</style><p>discard</p></body></html>", ["discard"],
                 id="html-head-script-style-dropped"),
    pytest.param(PLAIN + b"Content-Transfer-Encoding: quoted-printable\r\n",
                 b"reject We don=E2=80=99t take ads here, as the list=\r\n rules say\r\n",
                 ["reject We don\u2019t take ads here, as the list rules say"], id="qp"),
    pytest.param(PLAIN + b"Content-Transfer-Encoding: base64\r\n", encoded("discard\r\n\r\nMo"),
                 ["discard", "Mo"], id="base64"),
    pytest.param(b"Content-Type: text/plain; charset=utf-16\r\n"
                 b"Content-Transfer-Encoding: base64\r\n", encoded("reject Zu groß", "utf-16"),
                 ["reject Zu groß"], id="utf-16"),
    pytest.param(b"Content-Type: text/plain; charset=iso-8859-1\r\n",
                 b"reject Gr\xfc\xdfe, zu gro\xdf\r\n", ["reject Grüße, zu groß"], id="latin-1"),
    pytest.param(b"Content-Type: text/plain; charset=x-unknown\r\n", b"reject caf\xc3\xa9\r\n",
                 ["reject café"], id="unknown-charset"),
    pytest.param(b"Content-Type: text/plain; charset=idna\r\n", b"reject caf\xc3\xa9\r\n",
                 ["reject café"], id="charset-that-cannot-replace"),
    pytest.param(*ALTERNATIVE, ["approve"], id="alternative-plain-wins"),
    pytest.param(*MIXED, ["reject see the attached rules"], id="mixed-with-attachments"),
    pytest.param(b'Content-Type: multipart/related; boundary="rel"\r\n',
                 b"--rel\r\nContent-Type: image/png\r\n\r\nPNG\r\n--rel\r\n" + PLAIN +
                 b"\r\napprove\r\n--rel--\r\n", ["approve"], id="text-get_body-misses"),
    pytest.param(b"", b"", [], id="no-body"),
    pytest.param(b"Content-Type: application/pdf\r\n", b"approve\r\n", [], id="not-text"),
    pytest.param(b'Content-Type: multipart/mixed; boundary="mix"\r\n', b"--mix\r\n" + PLAIN +
                 b"Content-Disposition: attachment\r\n\r\napprove\r\n--mix--\r\n", [],
                 id="only-an-attachment"),
    pytest.param(b"Content-Type: multipart/mixed\r\n", b"approve\r\n", [], id="no-boundary"),
    pytest.param(PLAIN, b"-- \r\nMo\r\n", [], id="only-a-signature"),
    pytest.param(PLAIN, b"appr\x00ove\r\n\xff\xfe junk \x80\r\n",
                 ["approve", "\ufffd\ufffd junk \ufffd"], id="nul-and-8-bit-junk"),
    pytest.param(PLAIN + b"Content-Transfer-Encoding: base64\r\n",
                 base64.encodebytes(b"appr\x00ove\r\n"), ["approve"], id="encoded-nul"),
    pytest.param(PLAIN + b"Content-Transfer-Encoding: base64\r\n", b"ZGlzY2FyZA\r\n!!\r\n",
                 ["discard"], id="base64-without-padding"),
    pytest.param(PLAIN, b"approve\r\n\r\nSent from my iPhone\r\n",
                 ["approve", "Sent from my iPhone"], id="sent-from-my-iphone"),
])
def test_reply_lines_reads_what_the_sender_wrote(headers: bytes, body: bytes,
                                                 expected: list[str]) -> None:
    assert reply_lines(message(headers, body), limit=5) == expected


@pytest.mark.parametrize("encoding", [b"8bit", b"quoted-printable", b"base64"])
def test_a_huge_body_is_read_only_up_to_the_limit(encoding: bytes) -> None:
    text = b"approve this line\r\n" * 600_000  # over 10 MB
    body = base64.encodebytes(text) if encoding == b"base64" else text
    huge = message(PLAIN + b"Content-Transfer-Encoding: " + encoding + b"\r\n", body)
    assert len(body_text(huge)) == 65536
    assert reply_lines(huge, limit=3) == ["approve this line"] * 3


def test_text_past_the_limit_is_not_read() -> None:
    late = message(PLAIN, b"> quoted\r\n" * 10_000 + b"approve\r\n")
    assert reply_lines(late, limit=5) == []
    assert own_lines(body_text(late, limit=200_000), limit=5) == ["approve"]


@pytest.mark.parametrize(("headers", "body"), [
    pytest.param(HTML, b"<a " * 22_000 + b"approve", id="html-tags-never-closed"),
    pytest.param(HTML, b"<a b='" * 11_000 + b"approve", id="html-quotes-never-closed"),
    pytest.param(HTML, b"<!--" * 16_000 + b"approve", id="html-comments-never-closed"),
    pytest.param(PLAIN, b"x" + b" " * 60_000 + b"x\r\n", id="long-inner-space"),
    pytest.param(PLAIN, (b"On 1 " + b"1 wrote " * 60 + b"x: y\r\n") * 120, id="near-attributions"),
])
def test_hostile_bodies_are_read_in_linear_time(headers: bytes, body: bytes) -> None:
    hostile = message(headers, body)
    started = time.perf_counter()
    reply_lines(hostile, limit=5)
    assert time.perf_counter() - started < 1  # the naive way takes seconds to minutes


@pytest.mark.parametrize(("html", "expected"), [
    (b"<div>discard</div><blockquote>approve<br>reject<blockquote>deep</blockquote>"
     b"back</blockquote>after", "discard\n> approve\n> reject\n> > deep\n> back\nafter"),
    (b'<div class="gmail_quote"><div class="gmail_attr">On Tue wrote:</div>'
     b'<blockquote class="gmail_quote">x</blockquote></div><div>mine</div>',
     "> On Tue wrote:\n> x\nmine"),
    (b'<p>mine</p><div id="divRplyFwdMsg"><b>From:</b> ops</div><div>original</div>',
     "mine\n> From: ops\n> original"),
    (b"<pre>one\n  two\n\nthree</pre>", "one\ntwo\nthree"),
    (b"<table><tr><td>a</td></tr><tr><td>b</td></tr></table><h1>c</h1><ul><li>d</li></ul>",
     "a\nb\nc\nd"),
    (b"<p>unclosed <b>tags <div>and</blockquote> stray ends", "unclosed tags\nand\nstray ends"),
    (b"<head><title>t</title><p>an unclosed head ends at body</p><body>shown", "shown"),
    (b"<p>a < b &lt; c</p><!-- approve --><p>d<!-- unclosed comment", "a < b < c\nd"),
    (b'<!--[if !mso]><!--><p>shown</p><!--<![endif]--><div class="moz-cite-prefix">On x '
     b"wrote:</div>mine", "shown\n> On x wrote:\nmine"),
])
def test_html_becomes_lines_with_quotes_marked(html: bytes, expected: str) -> None:
    assert body_text(message(HTML, html)) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("approve\nmore", ["approve", "more"]),
    ("  reject   Off\ttopic  \n\n\n", ["reject Off topic"]),
    ("\u200b\ufeffapprove\u00a0\n\u00a0\u200b\n", ["approve"]),
    ("mine\n  > quoted\n>>also quoted\n", ["mine"]),
    ("mine\n-- \nsignature", ["mine"]),
    ("mine\n--\nsignature", ["mine"]),
    ("mine\n\u00a0-- \u200b\nsignature", ["mine"]),
    ("mine\n---\nstill mine", ["mine", "---", "still mine"]),
    ("On Tue, 3 Mar 2026 at 10:00, Mo <mo@x.org> wrote:\n> q\nmine", ["mine"]),
    ("On Tue, 3 Mar 2026 at 10:00, Mo Moderator\n<mo@x.org> wrote:\n> q\nmine", ["mine"]),
    ("On Tue, 3 Mar 2026 at 10:00,\nMo <mo@x.org> wrote:\n> q\nmine", ["mine"]),
    ("Am 03.03.2026 um 10:00 schrieb Mo <mo@x.org>:\n> q\nmine", ["mine"]),
    ("Le 3 mars 2026 à 10:00, Mo <mo@x.org> a écrit :\n> q\nmine", ["mine"]),
    ("El mar, 3 mar 2026 a las 10:00, Mo (<mo@x.org>) escribió:\n> q\nmine", ["mine"]),
    ("Op di 3 mrt 2026 om 10:00 schreef Mo <mo@x.org>:\n> q\nmine", ["mine"]),
    ("On second thought, approve\nOn reflection I wrote:", ["On second thought, approve",
                                                            "On reflection I wrote:"]),
    ("On 3 Mar, as Mo wrote: approve", ["On 3 Mar, as Mo wrote: approve"]),
    ("mine\n-----Original Message-----\nold", ["mine"]),
    ("mine\n----- Original Message -----\nold", ["mine"]),
    ("mine\n-----Ursprüngliche Nachricht-----\nold", ["mine"]),
    ("mine\n-----Message d'origine-----\nold", ["mine"]),
    ("mine\n-----Mensaje original-----\nold", ["mine"]),
    ("mine\n" + "_" * 32 + "\nold", ["mine"]),
    ("mine\n" + "_" * 19 + "\nstill mine", ["mine", "_" * 19, "still mine"]),
    ("mine\nBegin forwarded message:\nold", ["mine"]),
    ("mine\n---------- Forwarded message ---------\nold", ["mine"]),
    ("mine\nFrom: ops\nSent: Tuesday\nold", ["mine"]),
    ("mine\nFrom: ops <ops@x.org>\n\n\n\nSubject: Held\nold", ["mine"]),
    ("mine\n*From:* ops\n*Date:* Tuesday\nold", ["mine"]),
    ("mine\nVon: ops\nGesendet: Dienstag\nold", ["mine"]),
    ("mine\nDe : ops\nEnvoyé : mardi\nold", ["mine"]),
    ("From: the owner, approve\nthanks", ["From: the owner, approve", "thanks"]),
    ("mine\nFrom: ops\n\n\n\n\nSubject: too far\n", ["mine", "From: ops", "Subject: too far"]),
    ("one\ntwo\nthree\nfour", ["one", "two", "three"]),
    ("", []),
])
def test_own_lines(text: str, expected: list[str]) -> None:
    assert own_lines(text, limit=3) == expected


def test_own_lines_with_no_room_reads_nothing() -> None:
    assert own_lines("approve", limit=0) == []


@pytest.mark.parametrize(("subject", "expected"), [
    ("confirm abc", "confirm abc"),
    ("Re: confirm abc", "confirm abc"),
    ("Re: Re: AW: Fwd: x", "x"),
    ("RE[3]: x", "x"),
    ("Re^2: x", "x"),
    ("Re:x", "x"),
    ("re : x", "x"),
    ("RE :  x  y ", "x y"),
    ("Aw: SV: VS: Antw: Réf: RIF: Odp: YNT: Fw: WG: TR: x", "x"),
    ("Re: [ops] Re: x", "[ops] Re: x"),
    ("[ops] Re: x", "[ops] Re: x"),
    ("Re:", ""),
    ("Re: Re:  ", ""),
    ("Reason: x", "Reason: x"),
    ("Trouble: pump", "Trouble: pump"),
    ("", ""),
])
def test_reply_subject_drops_reply_and_forward_prefixes(subject: str, expected: str) -> None:
    assert reply_subject(subject) == expected
