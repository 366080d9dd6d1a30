# SPDX-License-Identifier: Apache-2.0
"""The subscribe form over real HTTP: the same double opt-in as by mail, confirmed by a reply
through real SMTP, the same answer for members and others, and the per-client limit."""

import httpx
import pytest

from listserv.app import App, running
from listserv.settings import Settings
from tests.sink import Sink
from tests.test_subscriptions import ALICE, BOB, members, reply_to, setup_list, token
from tests.web.members import (
    SITE,
    body,
    browser_like,
    delivery,
    hidden,
    mail_with_subject,
    shown,
)

FORM = "/lists/ops@example.com/subscribe"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"base_url": SITE})


async def subscribe(web: httpx.AsyncClient, email: str, delivery: str = "regular",
                    client: str = "192.0.2.7") -> httpx.Response:
    """Fill in and send the form as a browser at that client address would."""
    page = await web.get(FORM)
    return await web.post(FORM, headers={"X-Forwarded-For": client}, data={
        "csrf": hidden(page.text, "csrf"), "email": email, "delivery": delivery})


async def test_the_form_mails_a_confirmation_even_on_an_open_list_and_a_reply_subscribes(
        app: App, sink: Sink) -> None:
    await setup_list(app, subscription_policy="open")
    async with browser_like(app) as web:
        page = await web.get(FORM)
        assert page.status_code == 200
        assert 'name="email" inputmode="email"' in page.text
        response = await subscribe(web, ALICE, "digest-plain")
    assert response.status_code == 200
    assert (f"{ALICE} was sent a message asking it to confirm the subscription"
            in shown(response))
    await app.settle()
    assert await members(app) == {}
    [confirmation] = mail_with_subject(sink, ALICE, "confirm ")
    text = " ".join(body(confirmation).split())
    assert "subscribe alice@example.org to the Operations Excellence list" in text
    assert "receiving plain-text digests" in text
    assert "The request came from a web form (from 192.0.2.7)." in text
    await reply_to(app, token(confirmation))
    assert await members(app) == {ALICE: "digest-plain enabled"}


async def test_the_form_answers_a_member_as_anyone_and_only_the_mail_tells(
        app: App, sink: Sink) -> None:
    await setup_list(app, (ALICE,))
    async with browser_like(app) as web:
        member = await subscribe(web, ALICE)
        other = await subscribe(web, BOB)
    assert member.status_code == other.status_code == 200
    assert shown(member).replace(ALICE, "X") == shown(other).replace(BOB, "X")
    await app.settle()
    assert [d.message["Subject"] for d in sink.to(ALICE)] == [
        "You are a member of Operations Excellence"]
    assert len(mail_with_subject(sink, BOB, "confirm ")) == 1
    assert await delivery(app, BOB) is None


async def test_the_form_is_there_for_every_list_and_an_unknown_list_is_not_found(
        app: App) -> None:
    await setup_list(app, archive_visibility="private", subscription_policy="moderate")
    async with browser_like(app) as web:
        assert (await web.get(FORM)).status_code == 200
        assert (await web.get("/lists/nope@example.com/subscribe")).status_code == 404
        # No page made a form for it: refused before anything is looked up.
        assert (await web.post("/lists/nope@example.com/subscribe",
                               data={"email": ALICE})).status_code == 403


async def test_a_bad_address_shows_the_form_again_and_sends_nothing(
        app: App, sink: Sink) -> None:
    await setup_list(app)
    async with browser_like(app) as web:
        response = await subscribe(web, "not an address")
    assert response.status_code == 400
    assert "That is not an email address" in response.text
    assert 'value="not an address"' in response.text
    await app.settle()
    assert sink.delivered == []


async def test_a_subscription_without_the_form_token_or_from_another_site_is_refused(
        app: App, sink: Sink) -> None:
    await setup_list(app)
    async with browser_like(app, origin="https://evil.example") as web:
        foreign = await subscribe(web, ALICE)
        missing = await web.post(FORM, data={"email": ALICE}, headers={"Origin": SITE})
    assert foreign.status_code == missing.status_code == 403
    await app.settle()
    assert sink.delivered == []


async def test_forms_that_mail_someone_are_limited_per_client_network(
        settings: Settings, sink: Sink) -> None:
    async with running(settings.model_copy(update={"web_forms_per_hour": 2})) as app:
        await setup_list(app)
        async with browser_like(app) as web:
            first = await subscribe(web, "a@example.org", client="2001:db8:1:2::1")
            second = await subscribe(web, "b@example.org", client="2001:db8:1:2::99")
            third = await subscribe(web, "c@example.org", client="2001:db8:1:2:ffff::5")
            elsewhere = await subscribe(web, "d@example.org", client="2001:db8:1:3::1")
        await app.settle()
    assert [r.status_code for r in (first, second, third, elsewhere)] == [200, 200, 429, 200]
    assert third.headers["Retry-After"] == "3600"
    assert "Too many" in third.text
    assert sorted(sink.recipients()) == ["a@example.org", "b@example.org", "d@example.org"]
