# SPDX-License-Identifier: Apache-2.0
"""The admin API's door: bearer tokens (the site's, and those the CLI makes), the OpenAPI
document, and errors that are JSON whatever went wrong."""

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from listserv.app import App, running
from listserv.cli import main
from listserv.settings import Settings
from tests.helpers import run_listserv
from tests.web.api import BEARER, api_client, base_url, with_api_token

PLACEHOLDERS = {"address": "ops@example.com", "email": "alice@example.org", "held_id": "1",
                "action": "approve"}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return with_api_token(settings)


@pytest.fixture
async def api(app: App) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(app) as client:
        yield client


def operations(document: dict[str, Any]) -> list[tuple[str, str]]:
    """Every (method, path) of the document, with its path parameters filled in."""
    return [(method.upper(), path.format(**PLACEHOLDERS))
            for path, item in document["paths"].items() for method in item]


async def test_a_request_without_a_token_is_refused_with_a_bearer_challenge(app: App) -> None:
    async with api_client(app, headers={}) as client:
        response = await client.get("/lists")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.json() == {"error": "this API needs an 'Authorization: Bearer TOKEN' header"}


@pytest.mark.parametrize("authorization", [
    "Bearer wrong-token", f"Basic {BEARER['Authorization'].split()[1]}", "Bearer", ""])
async def test_a_wrong_token_or_another_scheme_is_refused(app: App, authorization: str) -> None:
    async with api_client(app, headers={"Authorization": authorization}) as client:
        response = await client.get("/queue")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert set(response.json()) == {"error"}


async def test_without_any_token_configured_every_operation_is_refused(
        settings: Settings) -> None:
    async with running(settings.model_copy(update={"api_token": None})) as bare, \
            api_client(bare) as client:
        document = (await client.get("/openapi.json")).json()
        answers = {(method, path): (await client.request(method, path)).status_code
                   for method, path in operations(document)}
    assert len(answers) >= 15
    assert set(answers.values()) == {401}


async def test_a_token_made_by_the_cli_works_until_revoked_and_is_kept_only_as_its_digest(
        app: App, cli_env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    made = await asyncio.to_thread(run_listserv, "api", "token", "create", "--name",
                                   "deploy-bot", env=cli_env)
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert token.startswith("lsv_") and len(token) > 40
    assert "deploy-bot" in made.stderr
    async with api_client(app, headers={"Authorization": f"Bearer {token}"}) as client:
        assert (await client.get("/lists")).status_code == 200
        async with app.sessions() as session:
            [row] = (await session.execute(text("SELECT * FROM api_token"))).mappings().all()
        assert row["name"] == "deploy-bot"
        assert row["token_hash"] == hashlib.sha256(token.encode()).hexdigest()
        assert token not in json.dumps(dict(row), default=str)
        assert row["last_used_at"] is not None
        # In-process, in a thread (main() runs its own event loop), while the server serves.
        assert await asyncio.to_thread(main, ["api", "token", "revoke", "deploy-bot"]) == 0
        response = await client.get("/lists")
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    assert capsys.readouterr().out == "revoked API token deploy-bot\n"


async def test_the_openapi_document_parses_and_lists_every_path(app: App) -> None:
    async with httpx.AsyncClient() as client:  # no token needed: it holds no data
        response = await client.get(f"{base_url(app)}/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.")
    assert set(document["paths"]) == {
        "/lists", "/lists/{address}", "/lists/{address}/rename",
        "/lists/{address}/members", "/lists/{address}/members/import",
        "/lists/{address}/members/{email}", "/lists/{address}/held",
        "/lists/{address}/held/{held_id}", "/lists/{address}/held/{held_id}/{action}",
        "/queue", "/lists/{address}/archive/search"}
    assert document["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert "max_message_kb" in document["components"]["schemas"]["ListSettings"]["properties"]


async def test_unknown_paths_and_methods_answer_json(api: httpx.AsyncClient) -> None:
    missing = await api.get("/nothing/here")
    assert (missing.status_code, missing.json()) == (
        404, {"error": "no such path in this API: /api/v1/nothing/here"})
    wrong = await api.put("/queue")
    assert (wrong.status_code, wrong.json()) == (
        405, {"error": "PUT is not allowed on /api/v1/queue"})
    broken = await api.get("/lists/a%0Ab/held/1")  # Starlette routes stop at a line break
    assert (broken.status_code, broken.headers["content-type"]) == (404, "application/json")


async def test_api_requests_are_counted_by_their_route_template(
        app: App, api: httpx.AsyncClient) -> None:
    await api.get("/lists/nobody@example.com")
    async with httpx.AsyncClient() as client:
        body = (await client.get(f"http://127.0.0.1:{app.http_port}/metrics")).text
    counted = {tuple(sorted(sample.labels.items())): sample.value
               for family in text_string_to_metric_families(body)
               for sample in family.samples if sample.name == "listserv_http_requests_total"}
    assert counted[(("method", "GET"), ("route", "/api/v1/lists/{address}"),
                    ("status", "404"))] == 1
