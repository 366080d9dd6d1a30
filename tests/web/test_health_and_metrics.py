# SPDX-License-Identifier: Apache-2.0
"""/healthz, /readyz and /metrics of a running listserv, over real HTTP."""

from collections.abc import AsyncIterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from listserv.app import App
from tests.helpers import make_message
from tests.sink import Sink
from tests.test_post_path import MEMBERS, post, setup_list


@pytest.fixture
async def web(app: App) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{app.http_port}") as client:
        yield client


def samples(body: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(body) for sample in family.samples}


async def test_healthz_answers_while_the_process_serves(web: httpx.AsyncClient) -> None:
    response = await web.get("/healthz")
    assert (response.status_code, response.text) == (200, "ok\n")


async def test_readyz_is_ready_with_a_migrated_database_and_smtp_listening(
        web: httpx.AsyncClient) -> None:
    response = await web.get("/readyz")
    assert (response.status_code, response.json()) == (200, {"ready": True, "problems": []})


async def test_readyz_is_not_ready_when_the_schema_lags_the_code(
        app: App, web: httpx.AsyncClient) -> None:
    async with app.engine.begin() as connection:
        current = await connection.scalar(text("SELECT version_num FROM alembic_version"))
        await connection.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    try:
        response = await web.get("/readyz")
    finally:  # the PostgreSQL test database outlives this test
        async with app.engine.begin() as connection:
            await connection.execute(text("UPDATE alembic_version SET version_num = :current"),
                                     {"current": current})
    assert response.status_code == 503
    assert response.json()["problems"] == [
        "the database schema is older than this listserv (run listserv db upgrade)"]


async def test_metrics_count_mail_in_decisions_deliveries_and_requests(
        app: App, sink: Sink, web: httpx.AsyncClient) -> None:
    await setup_list(app)
    await post(app, make_message(subject="Counted"))
    await post(app, make_message(sender="stranger@example.net", subject="Held"),
               sender="stranger@example.net")
    await app.settle()
    await web.get("/healthz")
    response = await web.get("/metrics")
    assert response.status_code == 200
    found = samples(response.text)
    assert found[("listserv_messages_received_total", ())] == 2
    assert found[("listserv_intake_commits_total", ())] == 2  # one after the other
    assert found[("listserv_messages_processed_total",
                  (("disposition", "accepted"), ("list", "ops@example.com")))] == 1
    assert found[("listserv_messages_processed_total",
                  (("disposition", "held"), ("list", "ops@example.com")))] == 1
    assert found[("listserv_deliveries_total", (("outcome", "delivered"),))] >= len(MEMBERS)
    assert found[("listserv_delivery_latency_seconds_count", ())] >= len(MEMBERS)
    assert found[("listserv_queue_depth", (("queue", "held"),))] == 1
    assert found[("listserv_queue_depth", (("queue", "inbound"),))] == 0
    assert found[("listserv_http_requests_total",
                  (("method", "GET"), ("route", "/healthz"), ("status", "200")))] == 1
