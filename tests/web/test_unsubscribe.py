# SPDX-License-Identifier: Apache-2.0
"""One-click unsubscribe (RFC 8058) and a member's preferences, over real HTTP against the
running server, with the mail it sends caught by the SMTP sink."""

import httpx
import pytest
from sqlalchemy import delete

from listserv.app import App
from listserv.db.models import MailingList
from listserv.settings import Settings
from tests.sink import Sink
from tests.test_post_path import set_member
from tests.test_subscriptions import ALICE, BOB, OWNER, setup_list
from tests.web.members import (
    LIST,
    SITE,
    body,
    browser_like,
    delivery,
    hidden,
    mail_with_subject,
    one_click_path,
    shown,
)

ONE_CLICK = {"List-Unsubscribe": "One-Click"}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"base_url": SITE})


async def test_a_get_or_head_of_the_one_click_url_never_unsubscribes(
        app: App, sink: Sink) -> None:
    await setup_list(app, (ALICE,))
    path = await one_click_path(app, ALICE)
    async with browser_like(app) as web:
        page = await web.get(path)
        head = await web.head(path)
    assert (page.status_code, head.status_code) == (200, 200)
    assert "Leave Operations Excellence?" in page.text
    assert f'<form method="post" action="{path}">' in page.text
    assert hidden(page.text, "List-Unsubscribe") == "One-Click"
    assert f'href="{path}/preferences"' in page.text
    await app.settle()
    assert await delivery(app, ALICE) == "regular enabled"
    assert sink.delivered == []


@pytest.mark.parametrize("encoding", ["urlencoded", "multipart"])
async def test_the_one_click_post_unsubscribes_at_once_and_the_goodbye_goes_out(
        app: App, sink: Sink, encoding: str) -> None:
    await setup_list(app, (ALICE, BOB), notify_owners_of_subscriptions="true")
    path = await one_click_path(app, ALICE)
    # As a mailbox provider sends it: no cookie, no Origin, no CSRF field (RFC 8058).
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{app.http_port}") as provider:
        if encoding == "urlencoded":
            response = await provider.post(path, data=ONE_CLICK)
        else:
            response = await provider.post(path, files={"List-Unsubscribe": (None, "One-Click")})
    assert response.status_code == 200
    assert "alice@example.org is not a member of ops@example.com now." in response.text
    assert await delivery(app, ALICE) is None
    assert await delivery(app, BOB) == "regular enabled"
    await app.settle()
    [goodbye] = mail_with_subject(sink, ALICE, "You have left Operations Excellence")
    assert "To join again, write to ops-join@example.com" in body(goodbye)
    [told] = sink.to(OWNER)
    assert "alice@example.org left ops@example.com (one-click unsubscribe on the web)" \
        in body(told)


async def test_a_post_without_the_one_click_body_unsubscribes_nobody(app: App) -> None:
    await setup_list(app, (ALICE,))
    path = await one_click_path(app, ALICE)
    async with browser_like(app) as web:
        response = await web.post(path, data={"List-Unsubscribe": "yes"})
    assert response.status_code == 400
    assert await delivery(app, ALICE) == "regular enabled"


@pytest.mark.parametrize("change", [
    lambda path: path[:-2] + ("AA" if not path.endswith("AA") else "BB"),  # the tag
    lambda path: path.replace("/u/", "/u/x"),  # the fields
    lambda path: "/u/not-a-token",
], ids=["tag", "fields", "garbage"])
async def test_a_tampered_token_is_refused_with_a_clear_page(app: App, change: object) -> None:
    await setup_list(app, (ALICE,))
    path = change(await one_click_path(app, ALICE))  # type: ignore[operator]
    async with browser_like(app) as web:
        page = await web.get(path)
        posted = await web.post(path, data=ONE_CLICK)
    assert (page.status_code, posted.status_code) == (400, 400)
    assert "This link is not valid" in posted.text
    assert await delivery(app, ALICE) == "regular enabled"


async def test_a_token_for_a_removed_member_or_a_deleted_list_says_already_unsubscribed(
        app: App, sink: Sink) -> None:
    await setup_list(app, (ALICE, BOB))
    alice, bob = await one_click_path(app, ALICE), await one_click_path(app, BOB)
    async with browser_like(app) as web:
        assert (await web.post(alice, data=ONE_CLICK)).status_code == 200
        again = await web.post(alice, data=ONE_CLICK)
        async with app.sessions.begin() as session:
            await session.execute(delete(MailingList).where(MailingList.address == LIST))
        gone = await web.post(bob, data=ONE_CLICK)
        page = await web.get(bob)
    assert again.status_code == gone.status_code == page.status_code == 200
    assert "Already unsubscribed" in again.text
    assert "is not a member of ops@example.com" in again.text
    assert "no longer exists" in gone.text and "Already unsubscribed" in page.text
    await app.settle()
    assert len(mail_with_subject(sink, ALICE, "You have left")) == 1  # one goodbye only


async def test_an_owner_is_refused_as_by_mail(app: App) -> None:
    await setup_list(app, (ALICE,))
    async with browser_like(app) as web:
        response = await web.post(await one_click_path(app, OWNER), data=ONE_CLICK)
    assert response.status_code == 409
    assert ("Nothing changed: mona@example.org is an owner of ops@example.com; owners and "
            "moderators are removed by the site's operators.") in shown(response)


async def test_preferences_show_the_mode_and_change_it_as_set_delivery_does(
        app: App, sink: Sink) -> None:
    await setup_list(app, (ALICE,))
    path = await one_click_path(app, ALICE) + "/preferences"
    async with browser_like(app) as web:
        page = await web.get(path)
        assert "receives each post as it is sent." in page.text
        assert 'value="regular" checked' in page.text
        changed = await web.post(path, data={"csrf": hidden(page.text, "csrf"),
                                             "delivery": "digest-mime"})
        assert changed.status_code == 200
        assert "alice@example.org receives digests (MIME)." in changed.text
        assert 'value="digest-mime" checked' in changed.text
        assert await delivery(app, ALICE) == "digest-mime enabled"
        stopped = await web.post(path, data={"csrf": hidden(page.text, "csrf"),
                                             "delivery": "nomail"})
        assert "receives no mail" in stopped.text
    assert await delivery(app, ALICE) == "nomail enabled"
    await app.settle()
    assert sink.delivered == []  # the token proved the address: nothing to confirm


async def test_preferences_resume_delivery_stopped_by_bounces(app: App) -> None:
    await setup_list(app, (ALICE,))
    await set_member(app, ALICE, delivery_status="disabled-by-bounce")
    path = await one_click_path(app, ALICE) + "/preferences"
    async with browser_like(app) as web:
        page = await web.get(path)
        assert "delivery is off: mail to you bounced" in page.text
        resumed = await web.post(path, data={"csrf": hidden(page.text, "csrf"),
                                             "resume": "on"})
    assert "alice@example.org receives each post as it is sent." in resumed.text
    assert await delivery(app, ALICE) == "regular enabled"


async def test_a_preferences_post_without_the_form_token_or_from_another_site_is_refused(
        app: App) -> None:
    await setup_list(app, (ALICE,))
    path = await one_click_path(app, ALICE) + "/preferences"
    async with browser_like(app) as web:
        field = hidden((await web.get(path)).text, "csrf")
        missing = await web.post(path, data={"delivery": "nomail"})
        foreign = await web.post(path, data={"csrf": field, "delivery": "nomail"},
                                 headers={"Origin": "https://evil.example"})
        by_referer = await web.post(path, data={"csrf": field, "delivery": "nomail"},
                                    headers={"Origin": "", "Referer": "https://evil.example/x"})
        other_token = await web.post(await one_click_path(app, OWNER) + "/preferences",
                                     data={"csrf": field, "delivery": "nomail"})
    assert [r.status_code for r in (missing, foreign, by_referer, other_token)] == [403] * 4
    assert "sent from another site" in foreign.text
    assert await delivery(app, ALICE) == "regular enabled"
