# SPDX-License-Identifier: Apache-2.0
"""The admin API's lists and members, over real HTTP: what ``listserv lists`` and
``listserv members`` do, with the CLI's checks and messages."""

import json
from collections.abc import AsyncIterator

import httpx
import pytest

from listserv.app import App
from listserv.settings import Settings
from tests.web.api import api_client, with_api_token

OPS = "/lists/ops@example.com"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return with_api_token(settings)


@pytest.fixture
async def api(app: App) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(app) as client:
        yield client


@pytest.fixture
async def ops(api: httpx.AsyncClient) -> None:
    """ops@example.com with alice and bob."""
    assert (await api.post("/lists", json={"address": "ops@example.com"})).status_code == 201
    for address in ("alice@example.org", "bob@example.org"):
        assert (await api.post(f"{OPS}/members", json={"address": address})).status_code == 201


async def test_a_list_is_created_shown_changed_renamed_and_deleted(
        api: httpx.AsyncClient) -> None:
    created = await api.post("/lists", json={
        "address": "ops@example.com", "display_name": "Operations Excellence",
        "owners": ["Mona <mona@example.org>"]})
    assert created.status_code == 201
    assert (created.json()["address"], created.json()["members"]) == ("ops@example.com", 1)
    shown = (await api.get(OPS)).json()
    assert shown["settings"]["display_name"] == "Operations Excellence"
    assert shown["settings"]["moderator_password"] == "unset"
    changed = await api.patch(OPS, json={
        "max_message_kb": 2048, "emergency": True, "nonmember_action": "reject",
        "strip_headers": ["X-Spam"], "footer": "Leave: {unsubscribe_address}",
        "moderator_password": "s3cret-pass"})
    assert changed.status_code == 200
    settings = changed.json()["settings"]
    assert (settings["max_message_kb"], settings["emergency"], settings["nonmember_action"],
            settings["strip_headers"], settings["moderator_password"]) == (
        2048, True, "reject", ["X-Spam"], "set")
    assert "s3cret-pass" not in changed.text
    renamed = await api.post(f"{OPS}/rename", json={"address": "opex@example.com"})
    assert (renamed.json()["address"], renamed.json()["aliases"]) == (
        "opex@example.com", ["ops@example.com"])
    assert (await api.get(OPS)).json()["address"] == "opex@example.com"  # the alias finds it
    assert [entry["address"] for entry in (await api.get("/lists")).json()] == [
        "opex@example.com"]
    deleted = await api.delete("/lists/opex@example.com")
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert (await api.get("/lists")).json() == []


@pytest.mark.parametrize(("body", "status", "message"), [
    ({"address": "ops@example.com"}, 409, "a list or list alias already has the address"),
    ({"address": "ops-request@example.com"}, 422, "cannot end in '-request'"),
    ({"address": "ops@elsewhere.org"}, 422, "not in a served domain"),
    ({"address": "nobody"}, 422, "not an address: 'nobody'"),
    ({"address": "new@example.com", "owners": ["nobody"]}, 422, "not an address: 'nobody'"),
    ({"address": "new@example.com", "display_name": "x" * 201}, 422,
     "display_name: longer than 200 characters"),
    ({}, 422, "address: Field required"),
    ({"address": "new@example.com", "colour": "red"}, 422, "colour: Extra inputs"),
    ({"address": 5}, 422, "address: Input should be a valid string"),
    ({"address": "new@example.com", "display_name": "\udc00"}, 422,
     "display_name: contains a NUL character or a lone surrogate"),
])
async def test_creating_a_list_refuses_what_the_cli_refuses(
        api: httpx.AsyncClient, ops: None, body: dict[str, object], status: int,
        message: str) -> None:
    # Encoded here: httpx would refuse to encode the lone surrogate json.dumps escapes.
    response = await api.post("/lists", content=json.dumps(body),
                              headers={"Content-Type": "application/json"})
    assert response.status_code == status
    assert message in response.json()["error"]


@pytest.mark.parametrize(("body", "message"), [
    ({"max_message_kb": "lots"}, "max_message_kb: expected a whole number, got 'lots'"),
    ({"digest_hour": 24}, "digest_hour: expected a number from 0 to 23, got 24"),
    ({"nonmember_action": "bounce"}, "nonmember_action: expected one of "
                                     "hold|reject|discard|accept, got 'bounce'"),
    ({"emergency": "perhaps"}, "emergency: expected true or false, got 'perhaps'"),
    ({"colour": "red"}, "colour: Extra inputs are not permitted"),
    ({"max_recipients": 1.5}, "max_recipients: expected a whole number, got '1.5'"),
    ({"footer": "Bye\x00"}, "footer: contains a NUL character or a lone surrogate"),
    ({"digest_hour": {"at": 6}}, "digest_hour: expected a whole number, got '{\"at\": 6}'"),
])
async def test_a_bad_setting_is_422_with_the_clis_message_and_changes_nothing(
        api: httpx.AsyncClient, ops: None, body: dict[str, object], message: str) -> None:
    response = await api.patch(OPS, json={"subject_prefix": "[changed]", **body})
    assert response.status_code == 422
    assert response.json()["error"].startswith(message)
    assert (await api.get(OPS)).json()["settings"]["subject_prefix"] == "[ops]"


async def test_lists_that_do_not_exist_are_404(api: httpx.AsyncClient, ops: None) -> None:
    for method, path, body in [("GET", "/lists/nope@example.com", None),
                               ("PATCH", "/lists/nope@example.com", {"emergency": True}),
                               ("DELETE", "/lists/nope@example.com", None),
                               ("POST", "/lists/nope@example.com/rename",
                                {"address": "x@example.com"}),
                               ("GET", "/lists/nope@example.com/members", None),
                               ("GET", "/lists/not an address/members", None)]:
        response = await api.request(method, path, json=body)
        assert response.status_code == 404, (method, path)
        assert response.json()["error"].startswith("no such list: ")


async def test_renaming_onto_a_taken_address_is_409(api: httpx.AsyncClient, ops: None) -> None:
    await api.post("/lists", json={"address": "other@example.com"})
    response = await api.post(f"{OPS}/rename", json={"address": "Other@example.com"})
    assert response.status_code == 409
    assert response.json() == {
        "error": "a list or list alias already has the address other@example.com"}


async def test_a_malformed_body_is_400_and_one_not_in_json_415(api: httpx.AsyncClient) -> None:
    response = await api.post("/lists", content=b'{"address": ',
                              headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"].startswith("the body is not valid JSON")
    form = await api.post("/lists", data={"address": "new@example.com"})  # as curl -d sends
    assert (form.status_code, form.json()) == (415, {
        "error": "send the body as JSON, with Content-Type: application/json "
                 "(not application/x-www-form-urlencoded)"})


async def test_members_are_added_shown_changed_and_removed(
        api: httpx.AsyncClient, ops: None) -> None:
    added = await api.post(f"{OPS}/members", json={
        "address": "Carol Example <Carol@Example.org>", "role": "moderator"})
    assert added.status_code == 201
    assert {key: added.json()[key] for key in ("address", "display_name", "role")} == {
        "address": "Carol@example.org", "display_name": "Carol Example", "role": "moderator"}
    shown = await api.get(f"{OPS}/members/carol@EXAMPLE.org")
    assert shown.json() == added.json()
    changed = await api.patch(f"{OPS}/members/carol@example.org", json={
        "delivery_mode": "digest-mime", "moderated": True, "receive_own_posts": "no"})
    assert (changed.json()["delivery_mode"], changed.json()["moderated"],
            changed.json()["receive_own_posts"]) == ("digest-mime", True, False)
    removed = await api.delete(f"{OPS}/members/CAROL@example.org")
    assert removed.status_code == 204
    gone = await api.get(f"{OPS}/members/carol@example.org")
    assert (gone.status_code, gone.json()) == (
        404, {"error": "carol@example.org is not a member of ops@example.com"})


@pytest.mark.parametrize(("method", "path", "body", "status", "message"), [
    ("POST", "", {"address": "ALICE@example.org"}, 409, "already a member of ops@example.com"),
    ("POST", "", {"address": "alice"}, 422, "not an address: 'alice'"),
    ("POST", "", {"address": "x@example.org", "role": "king"}, 422, "role: Input should be"),
    ("PATCH", "/alice@example.org", {"role": "king"}, 422,
     "role: expected one of member|moderator|owner, got 'king'"),
    ("PATCH", "/alice@example.org", {"max_message_kb": 5}, 422, "max_message_kb: Extra inputs"),
    ("PATCH", "/zed@example.org", {"moderated": True}, 404, "zed@example.org is not a member"),
    ("DELETE", "/zed@example.org", None, 404, "zed@example.org is not a member"),
    ("GET", "?after=nobody", None, 422, "after: not an address: 'nobody'"),
    ("GET", "?limit=0", None, 422, "limit: Input should be greater than or equal to 1"),
    ("GET", "?page=1&after=alice@example.org", None, 400, "give after or page, not both"),
])
async def test_member_operations_refuse_what_the_cli_refuses(
        api: httpx.AsyncClient, ops: None, method: str, path: str, body: object, status: int,
        message: str) -> None:
    response = await api.request(method, f"{OPS}/members{path}", json=body)
    assert response.status_code == status
    assert message in response.json()["error"]


async def test_members_are_listed_in_stable_pages(api: httpx.AsyncClient, ops: None) -> None:
    addresses = [f"user{n:02}@example.net" for n in range(12)]
    await api.post(f"{OPS}/members/import", json=[{"address": a} for a in reversed(addresses)])
    everyone = sorted(["alice@example.org", "bob@example.org", *addresses])
    seen, after, pages = [], "", 0
    while after is not None:
        page = (await api.get(f"{OPS}/members", params={"limit": 5, "after": after})).json()
        assert page["total"] == len(everyone)
        seen += [member["address"] for member in page["members"]]
        after, pages = page["next_after"], pages + 1
    assert (seen, pages) == (everyone, 3)
    numbered = [(await api.get(f"{OPS}/members", params={"limit": 5, "page": n})).json()
                for n in (1, 2, 3, 4)]
    assert [m["address"] for page in numbered for m in page["members"]] == everyone
    assert [page["next_after"] is None for page in numbered] == [False, False, True, True]


async def test_import_takes_json_or_csv_and_reports_as_the_cli_does(
        api: httpx.AsyncClient, ops: None) -> None:
    from_json = await api.post(f"{OPS}/members/import", json=[
        {"address": "carol@example.org", "name": "Carol"}, {"address": "ALICE@example.org"},
        {"address": "not-an-address"}, {"address": "Dan <dan@example.org>"}])
    assert from_json.status_code == 200
    assert from_json.json() == {"added": 2, "already_members": ["ALICE@example.org"],
                                "invalid": [{"line": 3,
                                             "error": "not an address: 'not-an-address'"}]}
    csv = 'name,address\n"Erin, Jr.",erin@example.org\nbob@example.org\n\nnope\n'
    from_csv = await api.post(f"{OPS}/members/import", content=csv.encode(),
                              headers={"Content-Type": "text/csv; charset=utf-8"})
    assert from_csv.json() == {"added": 1, "already_members": ["bob@example.org"],
                               "invalid": [{"line": 5, "error": "not an address: 'nope'"}]}
    members = {m["address"]: m["display_name"] for m in
               (await api.get(f"{OPS}/members")).json()["members"]}
    assert (members["carol@example.org"], members["dan@example.org"],
            members["erin@example.org"]) == ("Carol", "Dan", "Erin, Jr.")


@pytest.mark.parametrize(("content", "media", "status", "message"), [
    (b"alice@example.org", "application/x-www-form-urlencoded", 415,
     "send the members as application/json or text/csv or text/plain"),
    (b'[{"address": "a@example.org"', "application/json", 400, "the body is not valid JSON"),
    (b'[{"addr": "a@example.org"}]', "application/json", 422, "0.address: Field required"),
    (b'{"address": "a@example.org"}', "application/json", 422,
     "body: Input should be a valid array"),
    ("carol@example.org\nRené,rene@example.org\n".encode("latin-1"), "text/csv", 400,
     "line 2 is not UTF-8 text; nothing was imported"),
])
async def test_an_import_body_that_cannot_be_read_changes_nothing(
        api: httpx.AsyncClient, ops: None, content: bytes, media: str, status: int,
        message: str) -> None:
    response = await api.post(f"{OPS}/members/import", content=content,
                              headers={"Content-Type": media})
    assert response.status_code == status
    assert message in response.json()["error"]
    assert (await api.get(f"{OPS}/members")).json()["total"] == 2
