# SPDX-License-Identifier: Apache-2.0
"""Signing in by mail and moderating by click, over real HTTP and real SMTP: the link read
from the mail the sink caught, the held post released to the members through the sink."""

from datetime import timedelta
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import select, update

from listserv.app import App, running
from listserv.core.addresses import parse_address
from listserv.core.policy import Role
from listserv.db import lists as db_lists
from listserv.db import members as db_members
from listserv.db.models import MailingList, PendingConfirmation, now
from listserv.settings import Settings
from listserv.web.moderation import age
from tests.helpers import make_message
from tests.sink import Sink
from tests.test_post_path import held, list_mail, post
from tests.test_subscriptions import ALICE, OWNER, reply_to, setup_list
from tests.web.members import (
    LIST,
    SITE,
    body,
    browser_like,
    hidden,
    mail_with_subject,
    shown,
    site_path,
)

STRANGER = "stranger@example.net"
MODERATOR = "mod@example.org"
SIGNIN = "/lists/ops@example.com/signin"
HELD = "/lists/ops@example.com/held"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"base_url": SITE})


async def hold_a_post(app: App) -> int:
    """A nonmember's post, held for the moderators; its id."""
    await setup_list(app, (ALICE,))
    async with app.sessions.begin() as session:
        mlist = await db_lists.get_list(session, LIST)
        await db_members.add_member(session, mlist, parse_address(MODERATOR),
                                    role=Role.MODERATOR)
    await post(app, make_message(sender=STRANGER, subject="Pump <b>curves</b>",
                                 body="Does anyone have the curves? <script>x</script>\n"),
               sender=STRANGER)
    await app.settle()
    [waiting] = await held(app)
    return waiting.id


async def ask_for_link(app: App, sink: Sink, web: httpx.AsyncClient, address: str,
                       next_path: str = "") -> httpx.Response:
    page = await web.get(SIGNIN)
    sink.delivered.clear()
    response = await web.post(SIGNIN, data={"csrf": hidden(page.text, "csrf"),
                                            "email": address, "next": next_path})
    await app.settle()
    return response


async def sign_in(app: App, sink: Sink, web: httpx.AsyncClient, address: str,
                  next_path: str = "") -> httpx.Response:
    """Ask for a link, read it from the mail, open it and press its button."""
    await ask_for_link(app, sink, web, address, next_path)
    [mail] = mail_with_subject(sink, address, "Sign in to Operations Excellence")
    link = site_path(mail)
    page = await web.get(link)
    return await web.post(link, data={"csrf": hidden(page.text, "csrf")})


async def test_sign_in_by_mail_then_a_click_releases_a_held_post_once(
        app: App, sink: Sink) -> None:
    held_id = await hold_a_post(app)
    async with browser_like(app) as web:
        away = await web.get(HELD)
        assert away.status_code == 303
        assert away.headers["location"] == f"{SIGNIN}?next={quote(HELD, safe='')}"
        await ask_for_link(app, sink, web, MODERATOR, HELD)
        [mail] = mail_with_subject(sink, MODERATOR, "Sign in to Operations Excellence")
        assert mail.message["Auto-Submitted"] == "auto-replied"
        link = site_path(mail)
        assert link.startswith(f"{SIGNIN}/")
        button = await web.get(link)
        assert "Sign in as <strong>mod@example.org</strong>" in button.text
        assert (await web.get(HELD)).status_code == 303  # opening the link signed nobody in
        signed = await web.post(link, data={"csrf": hidden(button.text, "csrf")})
        assert (signed.status_code, signed.headers["location"]) == (303, HELD)

        listing = await web.get(HELD)
        assert listing.status_code == 200
        assert STRANGER in listing.text and "Pump &lt;b&gt;curves&lt;/b&gt;" in listing.text
        page = await web.get(f"{HELD}/{held_id}")
        assert "&lt;script&gt;x&lt;/script&gt;" in page.text and "<script>" not in page.text
        assert f"<th>From</th><td>{STRANGER}</td>" in page.text
        csrf = hidden(page.text, "csrf", f"{HELD}/{held_id}")
        approved = await web.post(f"{HELD}/{held_id}", data={"csrf": csrf,
                                                               "verdict": "approve"})
        assert approved.status_code == 200
        assert 'Approved and sent to the list: "Pump <b>curves</b>" from stranger@example.net.' \
            in shown(approved)
        await app.settle()
        released = list_mail(sink)  # one copy each: they carry the member's one-click link
        assert sorted(r for copy in released for r in copy.recipients) == sorted(
            [ALICE, MODERATOR, OWNER])
        assert {copy.message["Subject"] for copy in released} == {"[ops] Pump <b>curves</b>"}

        again = await web.post(f"{HELD}/{held_id}", data={"csrf": csrf, "verdict": "discard"})
        assert again.status_code == 409
        assert "was already decided on" in again.text and "mod@example.org (web)" in again.text
        reused = await web.post(link, data={"csrf": hidden(button.text, "csrf")})
        assert reused.status_code == 410
    [decided] = await held(app)
    assert (decided.decision, decided.decided_by) == ("approve", "mod@example.org (web)")


async def test_a_post_decided_by_mail_shows_as_already_decided_on_the_web(
        app: App, sink: Sink) -> None:
    held_id = await hold_a_post(app)
    [waiting] = await held(app)
    async with browser_like(app) as web:
        await sign_in(app, sink, web, OWNER)
        await reply_to(app, waiting.token, "discard", sender=OWNER)
        page = await web.get(f"{HELD}/{held_id}")
        assert "was already decided on" in page.text and 'name="verdict"' not in page.text
        listing = await web.get(HELD)
        assert "No post waits for a decision." in listing.text


async def test_reject_tells_the_author_the_moderators_reason(app: App, sink: Sink) -> None:
    held_id = await hold_a_post(app)
    async with browser_like(app) as web:
        await sign_in(app, sink, web, OWNER)
        page = await web.get(f"{HELD}/{held_id}")
        rejected = await web.post(f"{HELD}/{held_id}", data={
            "csrf": hidden(page.text, "csrf", f"{HELD}/{held_id}"), "verdict": "reject",
            "reason": "Off topic here"})
    assert "the sender was told your reason: Off topic here." in shown(rejected)
    await app.settle()
    [notice] = mail_with_subject(sink, STRANGER, "Your message to Operations Excellence was "
                                                 "rejected")
    assert "The moderator said: Off topic here" in body(notice)
    assert list_mail(sink) == []


async def test_ban_keeps_the_post_from_the_list_and_bans_its_author(
        app: App, sink: Sink) -> None:
    held_id = await hold_a_post(app)
    async with browser_like(app) as web:
        await sign_in(app, sink, web, OWNER)
        page = await web.get(f"{HELD}/{held_id}")
        await web.post(f"{HELD}/{held_id}", data={
            "csrf": hidden(page.text, "csrf", f"{HELD}/{held_id}"), "verdict": "ban"})
    async with app.sessions() as session:
        mlist = await session.scalar(select(MailingList))
    assert mlist is not None and mlist.ban_list == [STRANGER]


async def test_moderation_pages_are_not_found_for_a_signed_in_member_who_is_not_staff(
        app: App, sink: Sink) -> None:
    held_id = await hold_a_post(app)
    async with browser_like(app) as web:
        signed = await sign_in(app, sink, web, ALICE)
        assert (signed.status_code, signed.headers["location"]) == (303, "/lists/ops@example.com/")
        page = await web.get(f"{HELD}/{held_id}")
        assert [(await web.get(HELD)).status_code, page.status_code] == [404, 404]
        # The decision's form field names a staff member and the post: none can be had.
        decided = await web.post(f"{HELD}/{held_id}", data={"verdict": "approve",
                                                            "csrf": "made.up"})
        assert decided.status_code == 403
        assert (await web.get("/lists/nope@example.com/held")).status_code == 404
    assert (await held(app))[0].decided_at is None


async def test_sign_in_answers_a_nonmember_as_a_member_and_mails_nobody_else(
        app: App, sink: Sink) -> None:
    await setup_list(app, (ALICE,))
    async with browser_like(app) as web:
        member = await ask_for_link(app, sink, web, ALICE)
        mailed = list(sink.delivered)
        other = await ask_for_link(app, sink, web, STRANGER)
    assert member.status_code == other.status_code == 200
    assert shown(member).replace(ALICE, "X") == shown(other).replace(STRANGER, "X")
    assert [d.recipients for d in mailed] == [[ALICE]]
    assert sink.delivered == []


async def test_an_expired_sign_in_link_signs_nobody_in(app: App, sink: Sink) -> None:
    await setup_list(app, (ALICE,))
    async with browser_like(app) as web:
        await ask_for_link(app, sink, web, ALICE)
        link = site_path(mail_with_subject(sink, ALICE, "Sign in")[0])
        csrf = hidden((await web.get(link)).text, "csrf")
        async with app.sessions.begin() as session:
            await session.execute(update(PendingConfirmation).values(expires_at=now()))
        assert (await web.get(link)).status_code == 410
        assert (await web.post(link, data={"csrf": csrf})).status_code == 410


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x",
                                    "/\\evil.example", "javascript:alert(1)"])
async def test_sign_in_goes_on_only_to_a_path_of_this_site(app: App, sink: Sink,
                                                           target: str) -> None:
    await setup_list(app, (ALICE,))
    async with browser_like(app) as web:
        signed = await sign_in(app, sink, web, ALICE, target)
    assert signed.headers["location"] == "/lists/ops@example.com/"


async def test_signing_out_ends_the_session_and_needs_the_form_token(
        app: App, sink: Sink) -> None:
    await hold_a_post(app)
    async with browser_like(app) as web:
        await sign_in(app, sink, web, OWNER)
        listing = await web.get(HELD)
        assert "Signed in as mona@example.org" in listing.text
        refused = await web.post("/signout", data={"csrf": "forged"})
        assert refused.status_code == 403 and (await web.get(HELD)).status_code == 200
        out = await web.post("/signout", data={"csrf": hidden(listing.text, "csrf", "/signout")})
        assert out.status_code == 200
        assert (await web.get(HELD)).status_code == 303


@pytest.mark.parametrize(("minutes", "said"), [
    (0, "0 minutes"), (1, "1 minute"), (59, "59 minutes"), (60, "1 hour"),
    (24 * 60 - 1, "23 hours"), (24 * 60, "1 day"), (10 * 24 * 60 + 5, "10 days")])
def test_a_held_posts_age_is_said_in_its_largest_whole_unit(minutes: int, said: str) -> None:
    moment = now()
    assert age(moment - timedelta(minutes=minutes), moment) == said


async def test_without_a_base_url_no_sign_in_link_is_mailed(settings: Settings,
                                                             sink: Sink) -> None:
    # A link built from the request's Host could point anywhere a forger likes.
    async with running(settings.model_copy(update={"base_url": None})) as app:
        await setup_list(app, (ALICE,))
        async with browser_like(app, origin=f"http://127.0.0.1:{app.http_port}") as web:
            response = await ask_for_link(app, sink, web, ALICE)
    assert response.status_code == 503
    assert "needs the site's public URL (LISTSERV_BASE_URL)" in shown(response)
    assert sink.delivered == []
