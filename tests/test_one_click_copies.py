# SPDX-License-Identifier: Apache-2.0
"""One-click unsubscribe (RFC 8058) in every member's copy, end to end: each copy carries
its member's own link, signed by DKIM, and goes out from its member's signed VERP address."""

from collections.abc import AsyncIterator

import pytest

from listserv.app import App, running
from listserv.core.addresses import normalise
from listserv.core.tokens import read_unsubscribe_token
from listserv.db import lists as db_lists
from listserv.settings import Settings
from tests.helpers import make_message, verp_address
from tests.sink import Delivered, Sink
from tests.test_digests import MIME, PLAIN, REGULAR, digests_send, digests_to, setup_digest_list
from tests.test_post_path import MEMBERS, post, setup_list
from tests.test_signing import KeyPair, key_pair, signature_tags, verifies

__all__ = ["key_pair"]  # a fixture of test_signing, used here

BASE = "https://lists.example.com"
MAILTO = "<mailto:ops-leave@example.com>"


@pytest.fixture
async def web_app(settings: Settings, key_pair: KeyPair) -> AsyncIterator[App]:
    """listserv with a web side's base URL and a DKIM key."""
    site = settings.model_copy(update={"base_url": BASE, "dkim_selector": "lists",
                                       "dkim_private_key": key_pair.path})
    async with running(site) as running_app:
        yield running_app


async def list_id(app: App) -> int:
    async with app.sessions() as session:
        return (await db_lists.get_list(session, "ops@example.com")).id


async def assert_one_click(app: App, delivered: Delivered, key_pair: KeyPair) -> None:
    """The copy is its member's: link, envelope sender, and a signature over both headers."""
    [member] = delivered.recipients
    message = delivered.message
    link, _, mailto = str(message["List-Unsubscribe"]).partition(", ")
    assert link.startswith(f"<{BASE}/u/") and mailto == MAILTO
    token = link.removeprefix(f"<{BASE}/u/").removesuffix(">")
    assert read_unsubscribe_token(app.settings.hmac_key, token) == (
        await list_id(app), normalise(member))
    assert message.get_all("List-Unsubscribe-Post") == ["List-Unsubscribe=One-Click"]
    assert delivered.mail_from == await verp_address(app, member)
    assert {"list-unsubscribe", "list-unsubscribe-post"} <= set(
        signature_tags(delivered)["h"].split(":"))
    assert verifies(delivered, key_pair)


async def test_with_a_base_url_each_copy_carries_its_members_signed_one_click_link(
        web_app: App, sink: Sink, key_pair: KeyPair) -> None:
    await setup_list(web_app)
    await post(web_app, make_message(subject="Valve seals"))
    await web_app.settle()
    assert sorted(sink.recipients()) == sorted(MEMBERS)
    assert len(sink.delivered) == len(MEMBERS)  # a transaction per member
    for delivered in sink.delivered:
        await assert_one_click(web_app, delivered, key_pair)
    assert len({str(d.message["List-Unsubscribe"]) for d in sink.delivered}) == len(MEMBERS)


async def test_a_personal_footer_and_the_one_click_link_go_together(
        web_app: App, sink: Sink, key_pair: KeyPair) -> None:
    await setup_list(web_app, personalize="full", footer="Sent to {member_address}")
    await post(web_app, make_message())
    await web_app.settle()
    for delivered in sink.delivered:
        [member] = delivered.recipients
        assert f"Sent to {member}" in delivered.message.get_content()
        link = str(delivered.message["List-Unsubscribe"])
        assert link.startswith(f"<{BASE}/u/") and link.endswith(f"subject=unsubscribe%20{member}>")
        assert verifies(delivered, key_pair)


async def test_without_a_base_url_the_list_headers_stay_as_before(app: App,
                                                                   sink: Sink) -> None:
    await setup_list(app)
    await post(app, make_message())
    await app.settle()
    [delivered] = sink.delivered  # one bulk transaction
    assert delivered.mail_from == "ops-bounces@example.com"
    assert delivered.message.get_all("List-Unsubscribe") == [MAILTO]
    assert delivered.message["List-Unsubscribe-Post"] is None


async def test_a_list_with_one_click_off_sends_no_link(web_app: App, sink: Sink) -> None:
    await setup_list(web_app, one_click_unsubscribe="false")
    await post(web_app, make_message())
    await web_app.settle()
    [delivered] = sink.delivered
    assert delivered.mail_from == "ops-bounces@example.com"
    assert delivered.message.get_all("List-Unsubscribe") == [MAILTO]
    assert delivered.message["List-Unsubscribe-Post"] is None


async def test_a_digest_copy_carries_its_members_link_too(
        web_app: App, sink: Sink, key_pair: KeyPair, cli_env: dict[str, str]) -> None:
    await setup_digest_list(web_app)
    await post(web_app, make_message(subject="Valve seals"))
    await web_app.settle()
    await digests_send(web_app, {**cli_env, "LISTSERV_BASE_URL": BASE})
    [mime], [plain] = digests_to(sink, MIME), digests_to(sink, PLAIN)
    for delivered in (mime, plain):
        await assert_one_click(web_app, delivered, key_pair)
    for member in REGULAR:
        [copy] = sink.to(member)
        await assert_one_click(web_app, copy, key_pair)
