# SPDX-License-Identifier: Apache-2.0
"""The admin API's held posts, queue and archive search, over real HTTP, with real mail:
a decision made through the API reaches the members as a reply by mail would."""

from collections.abc import AsyncIterator

import httpx
import pytest

from listserv.app import App
from listserv.settings import Settings
from tests.helpers import make_message
from tests.sink import Sink
from tests.test_moderation import (
    MODERATOR,
    OWNER,
    STRANGER,
    notices_to,
    setup_moderated_list,
    to_members,
)
from tests.test_post_path import MEMBERS, post
from tests.web.api import api_client, with_api_token

HELD = "/lists/ops@example.com/held"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return with_api_token(settings)


@pytest.fixture
async def api(app: App) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(app) as client:
        yield client


async def hold(app: App, subject: str) -> None:
    await post(app, make_message(sender=STRANGER, subject=subject,
                                 body=f"About {subject.lower()} valves.\n"), sender=STRANGER)
    await app.settle()


@pytest.fixture
async def two_held(app: App) -> list[int]:
    """Two posts from a nonmember held on ops@example.com; their ids."""
    await setup_moderated_list(app)
    await hold(app, "Partnership")
    await hold(app, "Offer")
    async with api_client(app) as client:
        return [entry["id"] for entry in (await client.get(HELD)).json()]


async def test_held_posts_are_listed_and_shown_with_the_message(
        api: httpx.AsyncClient, two_held: list[int]) -> None:
    first, second = (await api.get(HELD)).json()
    assert (first["author"], first["subject"], second["subject"]) == (
        STRANGER, "Partnership", "Offer")
    assert "not a member" in first["reasons"][0]
    assert first["decision"] is None and first["age_hours"] >= 0
    shown = (await api.get(f"{HELD}/{first['id']}")).json()
    assert {key: shown[key] for key in first} == first
    assert "Subject: Partnership" in shown["raw"] and "About partnership valves." in shown["raw"]


async def test_a_post_approved_through_the_api_reaches_the_members_once(
        app: App, sink: Sink, api: httpx.AsyncClient, two_held: list[int]) -> None:
    approved = await api.post(f"{HELD}/{two_held[0]}/approve")
    assert approved.status_code == 200
    assert approved.json()["result"].startswith("Approved and sent to the list: ")
    assert (approved.json()["held"]["decision"], approved.json()["held"]["decided_by"]) == (
        "approve", "LISTSERV_API_TOKEN (admin API)")
    await app.settle()
    [released] = to_members(sink)
    assert sorted(released.recipients) == sorted([*MEMBERS, MODERATOR, OWNER])
    assert released.message["Subject"] == "[ops] Partnership"
    for action in ("approve", "discard"):
        again = await api.post(f"{HELD}/{two_held[0]}/{action}")
        assert again.status_code == 409
        assert "was already decided on" in again.json()["error"]
        assert "by LISTSERV_API_TOKEN (admin API): approve" in again.json()["error"]
    await app.settle()
    assert len(to_members(sink)) == 1
    assert [entry["id"] for entry in (await api.get(HELD)).json()] == [two_held[1]]


async def test_a_rejection_tells_the_author_the_reason_and_a_discard_sends_nothing(
        app: App, sink: Sink, api: httpx.AsyncClient, two_held: list[int]) -> None:
    rejected = await api.post(f"{HELD}/{two_held[0]}/reject", json={"reason": "Off topic"})
    assert rejected.json()["result"].endswith("the sender was told your reason: Off topic.")
    discarded = await api.post(f"{HELD}/{two_held[1]}/discard")
    assert discarded.json()["held"]["decision"] == "discard"
    await app.settle()
    assert to_members(sink) == []
    [rejection] = notices_to(sink, STRANGER, "rejected")
    assert "Off topic" in rejection.get_body(("plain",)).get_content()
    assert (await api.get(HELD)).json() == []


@pytest.mark.parametrize(("method", "path", "status", "message"), [
    ("GET", f"{HELD}/999999", 404, "no held post with id 999999"),
    ("POST", f"{HELD}/999999/approve", 404, "no held post with id 999999"),
    ("GET", "/lists/other@example.com/held/{first}", 404, "no held post with id {first}"),
    ("POST", "/lists/other@example.com/held/{first}/approve", 404,
     "no held post with id {first}"),
    ("GET", "/lists/nope@example.com/held", 404, "no such list: nope@example.com"),
    ("POST", f"{HELD}/{{first}}/approve-always", 422, "action: Input should be 'approve', "
                                                      "'reject' or 'discard'"),
    ("GET", f"{HELD}/0", 422, "held_id: Input should be greater than or equal to 1"),
    ("POST", f"{HELD}/{{first}}/reject", 422, "reason: String should match pattern "
                                              "'^[^\\x00]*$'"),
    ("GET", f"{HELD}/first", 422, "held_id: Input should be a valid integer, unable to parse "
                                  "string as an integer"),
])
async def test_held_posts_that_are_not_there_are_404_and_bad_requests_422(
        api: httpx.AsyncClient, two_held: list[int], method: str, path: str, status: int,
        message: str) -> None:
    await api.post("/lists", json={"address": "other@example.com"})
    body = {"reason": "Off\x00topic"} if path.endswith("reject") else None
    response = await api.request(method, path.format(first=two_held[0]), json=body)
    assert (response.status_code, response.json()) == (
        status, {"error": message.format(first=two_held[0])})


async def test_the_queue_says_what_waits_as_listserv_queue_json_does(
        app: App, api: httpx.AsyncClient, two_held: list[int]) -> None:
    queue = await api.get("/queue")
    assert queue.status_code == 200
    summary = queue.json()
    assert summary["held"] == {"ops@example.com": 2}
    assert summary["inbound"] == {"done": 2}
    assert (summary["pending_confirmations"], summary["recipients_waiting"]) == (0, 0)


async def test_the_archive_is_searched_as_listserv_archive_search_does(
        app: App, sink: Sink, api: httpx.AsyncClient, two_held: list[int]) -> None:
    for held_id in two_held:
        await api.post(f"{HELD}/{held_id}/approve")
    await app.settle()
    found = await api.get("/lists/ops@example.com/archive/search",
                          params={"q": "OFFER valves"})
    assert found.status_code == 200
    [hit] = found.json()
    assert (hit["subject"], hit["author_address"], hit["seq"]) == ("[ops] Offer", STRANGER, 2)
    both = await api.get("/lists/ops@example.com/archive/search",
                         params={"q": "valves", "limit": 1})
    assert [entry["subject"] for entry in both.json()] == ["[ops] Offer"]  # newest first
    for params, status in [({"q": "   "}, 422), ({}, 422), ({"q": "x", "limit": 0}, 422)]:
        refused = await api.get("/lists/ops@example.com/archive/search", params=params)
        assert refused.status_code == status
        assert set(refused.json()) == {"error"}
    missing = await api.get("/lists/nope@example.com/archive/search", params={"q": "x"})
    assert missing.status_code == 404
