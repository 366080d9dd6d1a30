# SPDX-License-Identifier: Apache-2.0
"""The archive on the web, over real HTTP against a running listserv: pages, visibility,
address concealment, search, the feed and the downloads."""

import json
import re
from base64 import b64encode
from collections.abc import AsyncIterator
from email import message_from_bytes
from urllib.parse import urlsplit

import feedparser
import httpx
import pytest
from itsdangerous import TimestampSigner

from listserv import archive
from listserv.app import App, running
from listserv.core import urls
from listserv.db import lists as db_lists
from listserv.settings import Settings
from listserv.web.auth import COOKIE
from tests.helpers import make_message
from tests.sink import Sink
from tests.test_post_path import post, setup_list

LIST = "ops@example.com"


@pytest.fixture
async def web(app: App) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{app.http_port}") as client:
        yield client


def signed_in_as(app: App, key: str) -> str:
    """The session cookie of a visitor signed in as key, made as Starlette's
    SessionMiddleware makes it (the sign-in by mail itself is the members' pages')."""
    assert app.settings.secret_key is not None
    data = b64encode(json.dumps({"address": key}).encode())
    return TimestampSigner(app.settings.secret_key.get_secret_value()).sign(data).decode()


async def fetch(app: App, path: str, cookie: str | None = None) -> httpx.Response:
    """GET a path as a visitor with this session cookie (or none)."""
    cookies = {COOKIE: cookie} if cookie is not None else {}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{app.http_port}",
                                 cookies=cookies) as client:
        return await client.get(path)


def stored(mid: str, *, subject: str = "Pump", body: str = "Hi.\r\n",
           author: str = "Alice Example <alice@example.org>", date: str = "Mon, 03 Jan 2005",
           headers: str = "") -> bytes:
    """A post as the archive keeps it (for archiving straight into the database)."""
    return (f"From: {author}\r\nTo: {LIST}\r\nSubject: {subject}\r\n"
            f"Date: {date} 10:00:00 +0000\r\nMessage-ID: {mid}\r\n{headers}"
            f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}").encode()


async def archived(app: App, *raws: bytes, address: str = LIST) -> None:
    async with app.sessions.begin() as session:
        mlist = await db_lists.get_list(session, address)
        for raw in raws:
            await archive.archive_post(session, mlist.id, raw)


def text_of(response: httpx.Response) -> str:
    """The page's text without its markup, as a reader sees it."""
    return " ".join(re.sub(r"<[^>]+>", " ", response.text).split())


# -- pages --------------------------------------------------------------------------------------

async def test_a_public_archive_shows_its_threads_and_posts(app: App, sink: Sink,
                                                            web: httpx.AsyncClient) -> None:
    await setup_list(app, archive_visibility="public", description="Plant operations")
    first = make_message(subject="Valve seals", body="Which seals do you use?\n")
    first_id = message_from_bytes(first)["Message-ID"]
    await post(app, first)
    await app.settle()
    reply = make_message(sender="bob@example.net", subject="Re: Valve seals",
                         body="Viton, see https://example.org/seals?a=1&b=2\n")
    reply = reply.replace(b"Subject:", f"In-Reply-To: {first_id}\r\nSubject:".encode())
    await post(app, reply, sender="bob@example.net")
    await post(app, make_message(sender="carol@example.org", subject="Shift rota"),
               sender="carol@example.org")
    await app.settle()

    index = await web.get("/")
    assert index.status_code == 200
    assert "Operations Excellence" in index.text and "Plant operations" in index.text
    assert re.search(r'class="number">3<', index.text)

    page = await web.get(urls.list_path(LIST))
    assert page.status_code == 200
    rows = re.findall(r'<tr><td><a href="([^"]+)">([^<]+)</a></td><td>([^<]+)</td>\s*'
                      r'<td class="number">(\d+)</td>', page.text)
    assert [(subject, starter, replies) for _, subject, starter, replies in rows] == [
        ("[ops] Shift rota", "carol at example.org", "0"),
        ("[ops] Valve seals", "alice at example.org", "1")]
    for link in ("subscribe", "signin", "feed.atom"):
        assert f'href="{urls.list_path(LIST)}{link}"' in page.text
    assert f'action="{urls.search_path(LIST)}"' in page.text
    assert 'href="/lists/ops@example.com/' in page.text

    thread = await web.get(rows[1][0])
    assert thread.status_code == 200
    assert thread.text.index("Which seals do you use?") < thread.text.index("Viton")
    assert re.search(r'class="reply depth-1">\s*<article', thread.text)
    assert ('<a href="https://example.org/seals?a=1&amp;b=2" rel="nofollow noopener '
            'noreferrer">') in thread.text

    message = await web.get(urls.message_path(LIST, first_id))
    assert message.status_code == 200
    assert "Which seals do you use?" in message.text
    assert "Next in thread:" in message.text and "Previous in thread" not in message.text
    assert message.headers["content-security-policy"].startswith("default-src 'none'")


async def test_threads_come_fifty_to_a_page_latest_first(app: App,
                                                         web: httpx.AsyncClient) -> None:
    await setup_list(app, archive_visibility="public")
    await archived(app, *(stored(f"<t{n}@x>", subject=f"Topic {n}") for n in range(55)))
    first = await web.get(urls.list_path(LIST))
    assert first.text.count("Topic ") == 50
    assert first.text.index("Topic 54") < first.text.index("Topic 53")
    assert 'href="?page=2"' in first.text
    second = await web.get(urls.list_path(LIST), params={"page": "2"})
    assert re.findall(r"Topic \d+", second.text) == [f"Topic {n}" for n in range(4, -1, -1)]
    assert (await web.get(urls.list_path(LIST), params={"page": "x"})).status_code == 200


async def test_months_list_their_posts_by_day(app: App, web: httpx.AsyncClient) -> None:
    await setup_list(app, archive_visibility="public")
    await archived(app, stored("<a@x>", subject="January one", date="Mon, 03 Jan 2005"),
                   stored("<b@x>", subject="February one", date="Tue, 01 Feb 2005"),
                   stored("<c@x>", subject="January two", date="Sun, 30 Jan 2005"))
    page = await web.get(urls.list_path(LIST))
    assert f'href="{urls.month_path(LIST, 2005, 1)}">January</a>' in page.text
    month = await web.get(urls.month_path(LIST, 2005, 1))
    assert month.status_code == 200
    assert re.findall(r"January \w+(?=</a>)|2005-01-\d\d(?=</h3>)", month.text) == [
        "2005-01-03", "January one", "2005-01-30", "January two"]
    assert "February one" not in month.text
    assert (await web.get(f"{urls.list_path(LIST)}2005/13/")).status_code == 404


async def test_html_is_shown_only_without_plain_text_and_then_cleaned(
        app: App, web: httpx.AsyncClient) -> None:
    await setup_list(app, archive_visibility="public")
    html = ('<p>Rich <b>words</b><script>alert(1)</script><img src="https://evil.example/x" '
            'onerror="alert(2)"><a href="javascript:alert(3)">js</a>'
            '<a href="https://example.org/" onclick="alert(4)">site</a>'
            '<a href="mailto:alice@example.org">mail</a></p>')
    both = make_message(subject="Both", body="Plain words.\n", html=html)
    only = (b"From: alice@example.org\r\nSubject: Only HTML\r\nMessage-ID: <html@x>\r\n"
            b"Content-Type: text/html; charset=utf-8\r\n\r\n" + html.encode())
    await archived(app, both, only)
    shown = await web.get(urls.message_path(LIST, message_from_bytes(both)["Message-ID"]))
    assert "Plain words." in shown.text and "Rich" not in shown.text
    page = (await web.get(urls.message_path(LIST, "<html@x>"))).text
    body = page[page.index('class="html-body"'):]
    assert "Rich <b>words</b>" in body
    for unsafe in ("<script", "alert(", "<img", "evil.example", "javascript:", "onclick",
                   "mailto:", "alice@example.org"):
        assert unsafe not in body, unsafe
    assert '<a href="https://example.org/" rel="noopener noreferrer nofollow">site</a>' in body


# -- who may read -------------------------------------------------------------------------------

ARCHIVE_PATHS = [urls.list_path(LIST), urls.feed_path(LIST), urls.search_path(LIST) + "?q=pump",
                 urls.message_path(LIST, "<p@x>"), urls.thread_path(LIST, 1),
                 urls.month_path(LIST, 2005, 1), urls.mbox_path(LIST, 2005, 1),
                 urls.raw_path(LIST, 1), urls.attachment_path(LIST, 1, 1)]


async def test_a_private_archive_is_not_found_as_if_there_were_no_list(
        app: App, web: httpx.AsyncClient) -> None:
    await setup_list(app, archive_visibility="private")
    await archived(app, stored("<p@x>", subject="Secret pump"))
    missing = await web.get("/lists/nothing@example.com/")
    assert missing.status_code == 404
    for path in ARCHIVE_PATHS:
        response = await fetch(app, path, signed_in_as(app, "alice@example.org"))
        assert (response.status_code, response.text) == (404, missing.text), path
    assert "Secret" not in (await web.get("/")).text
    assert LIST not in (await web.get("/")).text


async def test_a_members_archive_is_for_members_signed_in(app: App,
                                                          web: httpx.AsyncClient) -> None:
    await setup_list(app, archive_visibility="members")
    await archived(app, stored("<p@x>", subject="Pump rota", body="Members only.\r\n"))
    for cookie in (None, signed_in_as(app, "stranger@example.net")):
        for path in ARCHIVE_PATHS:
            response = await fetch(app, path, cookie)
            assert response.status_code in (200, 403), path
            assert "Pump" not in response.text and "Members only" not in response.text, path
            assert not re.search(r"\b1\b", text_of(response).replace("listserv 0.1.0", ""))
        page = await fetch(app, urls.list_path(LIST), cookie)
        assert page.status_code == 200
        assert f'href="{urls.list_path(LIST)}signin"' in page.text
        assert (await fetch(app, urls.feed_path(LIST), cookie)).status_code == 403
        assert LIST not in (await fetch(app, "/", cookie)).text
    member = signed_in_as(app, "bob@example.net")
    page = await fetch(app, urls.list_path(LIST), member)
    assert "Pump rota" in page.text
    assert "Members only." in (await fetch(app, urls.message_path(LIST, "<p@x>"), member)).text
    assert LIST in (await fetch(app, "/", member)).text


async def test_a_forged_session_is_a_stranger(app: App, web: httpx.AsyncClient) -> None:
    await setup_list(app, archive_visibility="members")
    await archived(app, stored("<p@x>", subject="Pump rota"))
    data = b64encode(json.dumps({"address": "bob@example.net"}).encode()).decode()
    _, stamp, signature = signed_in_as(app, "stranger@example.net").rsplit(".", 2)
    other_key = TimestampSigner("not the site's key").sign(data).decode()
    for cookie in (data, f"{data}.{stamp}.{signature}", other_key):
        assert "Pump rota" not in (await fetch(app, urls.list_path(LIST), cookie)).text


# -- addresses ----------------------------------------------------------------------------------

QUOTING = stored("<q@x>", subject="Re: contact alice@example.org",
                 author='"bob@example.net" <bob@example.net>',
                 headers="Cc: Carol <carol@example.org>\r\n",
                 body="-----Original Message-----\r\nFrom: Dan <dan@example.org>\r\n"
                      "Write to erin@example.org or mailto:fay@example.org.\r\n")
ADDRESSES = ("alice", "bob", "carol", "dan", "erin", "fay")


@pytest.mark.parametrize(("setting", "shown"), [
    ("obfuscate", "{} at example"), ("hide", None), ("show", "{}@example")])
async def test_posters_addresses_are_shown_as_the_list_says(
        app: App, web: httpx.AsyncClient, setting: str, shown: str | None) -> None:
    await setup_list(app, archive_visibility="public", archive_addresses=setting)
    await archived(app, QUOTING)
    pages = [await web.get(path) for path in (
        urls.message_path(LIST, "<q@x>"), urls.thread_path(LIST, 1), urls.list_path(LIST),
        urls.month_path(LIST, 2005, 1), urls.search_path(LIST) + "?q=write",
        urls.feed_path(LIST))]
    for page in pages:
        assert page.status_code == 200
        found = re.findall(r"[\w.+-]+@[\w-]+\.[\w.-]+", page.text.replace(LIST, ""))
        if setting != "show":
            assert found == [], (page.url, found)
    message = text_of(pages[0])
    for name in ADDRESSES:
        if shown is None:
            assert f"{name} at" not in message and f"{name}@" not in message
        else:
            assert shown.format(name) in message, name


# -- search -------------------------------------------------------------------------------------

async def test_search_finds_and_marks_the_words(app: App, web: httpx.AsyncClient) -> None:
    await setup_list(app, archive_visibility="public")
    await archived(app, stored("<1@x>", subject="Pump <seals>", body="The pump leaks & drips."),
                   stored("<2@x>", subject="Valves", body="Nothing here."),
                   *(stored(f"<m{n}@x>", subject=f"More pump {n}") for n in range(25)))
    found = await web.get(urls.search_path(LIST), params={"q": "pump leaks"})
    assert found.status_code == 200
    assert "<mark>Pump</mark> &lt;seals&gt;" in found.text
    assert "<mark>pump</mark> <mark>leaks</mark> &amp; drips" in found.text
    assert "Valves" not in found.text
    assert f'href="{urls.message_path(LIST, "<1@x>")}"' in found.text
    many = await web.get(urls.search_path(LIST), params={"q": "pump"})
    assert many.text.count("<li>") == 20 and 'href="?q=pump&amp;page=2"' in many.text
    more = await web.get(urls.search_path(LIST), params={"q": "pump", "page": "2"})
    assert more.text.count("<li>") == 6 and "page=3" not in more.text
    for query in ('"pump', "pump AND (", "NOT", "*", "<script>", "a:b", ""):
        response = await web.get(urls.search_path(LIST), params={"q": query})
        assert response.status_code == 200, query
        assert "<script>" not in response.text


# -- feed ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("base_url", [None, "https://lists.example.com"])
async def test_the_feed_is_atom_with_the_latest_posts_linked_absolutely(
        settings: Settings, sink: Sink, base_url: str | None) -> None:
    async with running(settings.model_copy(update={"base_url": base_url})) as app, \
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{app.http_port}") as web:
        await setup_list(app, archive_visibility="public", display_name="Ops & Co")
        await archived(app, *(stored(f"<f{n}@x>", subject=f"Post {n} <b>", body=f"Text {n}\x0b")
                              for n in range(55)))
        response = await web.get(urls.feed_path(LIST))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/atom+xml")
    feed = feedparser.parse(response.content)
    assert feed.bozo == 0
    assert feed.feed.title == "Ops & Co"
    assert len(feed.entries) == 50
    assert [entry.title for entry in feed.entries[:2]] == ["Post 54 <b>", "Post 53 <b>"]
    base = base_url or f"http://127.0.0.1:{urlsplit(str(response.url)).port}"
    assert feed.entries[0].link == base + urls.message_path(LIST, "<f54@x>")
    assert feed.entries[0].author == "Alice Example <alice at example.org>"
    assert "Text 54" in feed.entries[0].content[0].value


# -- downloads ----------------------------------------------------------------------------------

def assert_download_headers(response: httpx.Response, media_type: str) -> None:
    assert response.status_code == 200
    assert response.headers["content-type"].split(";")[0] == media_type
    assert response.headers["content-disposition"].startswith("attachment; filename=")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-security-policy"] == "sandbox"


async def test_a_post_downloads_whole_for_members_concealed_for_others(
        app: App, web: httpx.AsyncClient) -> None:
    await setup_list(app, archive_visibility="public")
    await archived(app, QUOTING)
    public = await web.get(urls.raw_path(LIST, 1))
    assert_download_headers(public, "application/octet-stream")
    assert 'filename="1.eml"' in public.headers["content-disposition"]
    head, body = QUOTING.split(b"\r\n\r\n", 1)
    assert public.content == re.sub(rb"(?<!<q)@", b" at ", head) + b"\r\n\r\n" + body
    member = await fetch(app, urls.raw_path(LIST, 1), signed_in_as(app, "alice@example.org"))
    assert member.content == QUOTING
    assert (await web.get(urls.raw_path(LIST, 2))).status_code == 404


async def test_a_month_downloads_as_an_mbox(app: App, web: httpx.AsyncClient) -> None:
    await setup_list(app, archive_visibility="public")
    await archived(app, stored("<a@x>", subject="One", body="From here on\r\n"),
                   stored("<b@x>", subject="Two", date="Tue, 01 Feb 2005"),
                   stored("<c@x>", subject="Three", date="Wed, 05 Jan 2005"))
    response = await web.get(urls.mbox_path(LIST, 2005, 1))
    assert_download_headers(response, "application/mbox")
    assert 'filename="ops-2005-01.mbox"' in response.headers["content-disposition"]
    entries = re.split(rb"(?m)^From ", response.content)[1:]
    assert [re.search(rb"Subject: (\w+)", entry)[1] for entry in entries] == [b"One", b"Three"]
    assert entries[0].startswith(b"MAILER-DAEMON ")
    assert b"\n>From here on\n" in entries[0]
    assert b"alice@example.org" not in response.content
    member = await fetch(app, urls.mbox_path(LIST, 2005, 1), signed_in_as(app, "carol@example.org"))
    assert member.content.startswith(b"From alice@example.org ")
    empty = await web.get(urls.mbox_path(LIST, 1999, 1))
    assert (empty.status_code, empty.content) == (200, b"")
    assert (await web.get(f"{urls.list_path(LIST)}2005-13.mbox")).status_code == 404


async def test_attachments_download_as_octets_unless_a_safe_image(
        app: App, web: httpx.AsyncClient) -> None:
    await setup_list(app, archive_visibility="public")
    raw = (b"From: alice@example.org\r\nSubject: Files\r\nMessage-ID: <f@x>\r\n"
           b"Content-Type: multipart/mixed; boundary=b\r\n\r\n"
           b"--b\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n"
           b"--b\r\nContent-Type: text/html; name=page.html\r\n"
           b"Content-Disposition: attachment; filename=\"page.html\"\r\n\r\n"
           b"<script>alert(1)</script>\r\n"
           b"--b\r\nContent-Type: image/png\r\nContent-Disposition: attachment; "
           b"filename=\"pump.png\"\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n"
           b"--b\r\nContent-Type: image/svg+xml; name=x.svg\r\n\r\n<svg onload=\"alert(1)\"/>\r\n"
           b"--b--\r\n")
    await archived(app, raw)
    page = await web.get(urls.message_path(LIST, "<f@x>"))
    assert re.findall(r'<a href="(/lists/[^"]+/attachments/[^"]+)">([^<]+)</a> '
                      r'<span class="muted">([^<]+)</span>', page.text) == [
        (urls.attachment_path(LIST, 1, 2), "page.html", "text/html, 25 bytes"),
        (urls.attachment_path(LIST, 1, 3), "pump.png", "image/png, 8 bytes"),
        (urls.attachment_path(LIST, 1, 4), "x.svg", "image/svg+xml, 24 bytes")]
    html = await web.get(urls.attachment_path(LIST, 1, 2))
    assert_download_headers(html, "application/octet-stream")
    assert html.content == b"<script>alert(1)</script>"
    png = await web.get(urls.attachment_path(LIST, 1, 3))
    assert_download_headers(png, "image/png")
    assert png.content == b"\x89PNG\r\n\x1a\n"
    assert png.headers["content-disposition"] == (
        "attachment; filename=\"pump.png\"; filename*=UTF-8''pump.png")
    assert_download_headers(await web.get(urls.attachment_path(LIST, 1, 4)),
                            "application/octet-stream")
    assert (await web.get(urls.attachment_path(LIST, 1, 9))).status_code == 404


# -- mail headers -------------------------------------------------------------------------------

async def test_the_archived_at_of_a_delivered_post_answers_with_that_post(
        settings: Settings, sink: Sink) -> None:
    site = "https://lists.example.com"
    async with running(settings.model_copy(update={"base_url": site})) as app:
        await setup_list(app, archive_visibility="public")
        await post(app, make_message(subject="Permalink", body="Find me again.\n"))
        await app.settle()
        delivered = sink.delivered[0].message
        assert delivered["List-Archive"] == f"<{site}/lists/ops@example.com/>"
        archived_at = delivered["Archived-At"].removeprefix("<").removesuffix(">")
        assert archived_at == site + urls.message_path(LIST, delivered["Message-ID"])
        # The site's base URL is the public face of this server: ask it by its path.
        response = await fetch(app, urlsplit(archived_at).path)
    assert response.status_code == 200
    assert "Find me again." in response.text and "[ops] Permalink" in response.text


@pytest.mark.parametrize("path", [
    "/lists/%00/", "/lists/not-an-address/", "/lists/ops@example.com/messages/a%00b",
    "/lists/ops@example.com/messages/", "/lists/ops@example.com/messages/%3Cp@x%3E%3E",
    "/lists/ops@example.com/threads/99999999999999999999999",
    "/lists/ops@example.com/raw/99999999999999999999999.eml",
    "/lists/ops@example.com/attachments/1/99999999999999999999999",
    "/lists/ops@example.com/99999/01/", "/lists/ops@example.com/0000-00.mbox",
    "/lists/ops@example.com/search?q=%00&page=99999999999999999999999",
    "/lists/ops@example.com/search?q=pump&page=99999999999999999999999",
    "/lists/ops@example.com/?page=99999999999999999999999",
])
async def test_odd_paths_get_a_clear_answer(app: App, web: httpx.AsyncClient, path: str) -> None:
    await setup_list(app, archive_visibility="public")
    await archived(app, stored("<p@x>"))
    response = await web.get(path)
    assert response.status_code in (200, 404), response.text
