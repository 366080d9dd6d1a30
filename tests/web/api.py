# SPDX-License-Identifier: Apache-2.0
"""What the admin API's tests share: the site's token, and a client that presents it."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from pydantic import SecretStr

from listserv.app import App
from listserv.settings import Settings

TOKEN = "site-token-" + "x" * 32
BEARER = {"Authorization": f"Bearer {TOKEN}"}


def with_api_token(settings: Settings) -> Settings:
    return settings.model_copy(update={"api_token": SecretStr(TOKEN)})


def base_url(app: App) -> str:
    return f"http://127.0.0.1:{app.http_port}/api/v1"


@asynccontextmanager
async def api_client(app: App, headers: dict[str, str] = BEARER
                     ) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base_url(app), headers=headers) as client:
        yield client
