# SPDX-License-Identifier: Apache-2.0
"""The admin API fuzzed from its own OpenAPI document by schemathesis, against the running
server: no request, however odd, gets a 500, and every answer is one the document
describes (status, media type, schema).

Bounded to keep the suite fast: two phases (the document's examples, then generated
requests), a fixed number of cases per operation and a fixed seed, so a failure
reproduces. bench/api_fuzz.py runs every phase for longer.
"""

import asyncio
import re
import sys
from pathlib import Path

import pytest

from listserv.app import App
from listserv.settings import Settings
from tests.helpers import make_message
from tests.test_moderation import STRANGER, setup_moderated_list
from tests.test_post_path import post
from tests.web.api import BEARER, base_url, with_api_token

SCHEMATHESIS = str(Path(sys.executable).with_name("st"))
CHECKS = ("not_a_server_error,status_code_conformance,content_type_conformance,"
          "response_schema_conformance,response_headers_conformance")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return with_api_token(settings)


async def test_fuzzing_the_api_from_its_openapi_document_finds_no_server_errors(
        app: App, tmp_path: Path) -> None:
    # Something to find: the document's examples name ops@example.com and alice@example.org.
    await setup_moderated_list(app)
    await post(app, make_message(sender=STRANGER, subject="Held"), sender=STRANGER)
    await app.settle()
    process = await asyncio.create_subprocess_exec(
        SCHEMATHESIS, "--no-color", "run", f"{base_url(app)}/openapi.json",
        "--header", f"Authorization: {BEARER['Authorization']}", "--checks", CHECKS,
        "--phases", "examples,fuzzing", "--max-examples", "10", "--seed", "1",
        "--workers", "1", "--request-timeout", "10",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        cwd=tmp_path)  # where schemathesis keeps its cache
    async with asyncio.timeout(300):
        output, _ = await process.communicate()
    report = output.decode(errors="replace")
    assert process.returncode == 0, report[-6000:]
    counts = re.search(r"Selected: (\d+)/\d+\s+Tested: (\d+)", report)
    assert counts is not None, report[-2000:]
    assert int(counts[1]) == int(counts[2]) >= 15, report[-2000:]
