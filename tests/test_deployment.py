# SPDX-License-Identifier: Apache-2.0
"""The container image and the compose deployment, read as Docker would read them.

No Docker engine runs the tests: the Dockerfiles and compose.yaml are parsed and
checked for what operators rely on, and the image's health check runs against a
listserv on loopback.
"""

import asyncio
import json
import re
import socket
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from listserv.app import SHUTDOWN_GRACE_SECONDS, running
from listserv.settings import Settings

ROOT = Path(__file__).parent.parent
DOCKERFILE = ROOT / "Dockerfile"
POSTFIX = ROOT / "deploy" / "postfix"
COMPOSE = ROOT / "deploy" / "compose.yaml"
LOCK = ROOT / "requirements.lock"
USER = "10001:10001"
PYTHON_IMAGE = re.compile(r"python:(\d+\.\d+)\.\d+-[a-z]+-[a-z]+")
LOCK_PYTHON = re.compile(r"--python-version (\d+\.\d+)\b")


def instructions(path: Path) -> list[tuple[str, str]]:
    """The Dockerfile's instructions as (KEYWORD, arguments), continuations joined."""
    found: list[tuple[str, str]] = []
    pending = ""
    for line in path.read_text().splitlines():
        if line.lstrip().startswith("#") or not line.strip():
            continue  # Docker drops comment lines, inside a continuation too
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, arguments = (pending + line).strip().partition(" ")
        found.append((keyword.upper(), " ".join(arguments.split())))
        pending = ""
    return found


def arguments(path: Path, keyword: str) -> list[str]:
    return [args for name, args in instructions(path) if name == keyword]


def test_the_image_runs_as_a_numeric_user_with_its_own_group() -> None:
    assert arguments(DOCKERFILE, "USER") == [USER]
    [setup] = [run for run in arguments(DOCKERFILE, "RUN") if "useradd" in run]
    assert "groupadd --system --gid 10001 listserv" in setup
    assert "--uid 10001 --gid 10001" in setup


def test_the_base_image_is_the_python_ci_runs_pinned_to_its_patch_release() -> None:
    [base] = arguments(DOCKERFILE, "FROM")
    match = PYTHON_IMAGE.fullmatch(base)
    assert match, f"FROM {base}: name the full version, e.g. python:3.11.7-slim-bookworm"
    locked_for = LOCK_PYTHON.search(LOCK.read_text())
    assert locked_for and locked_for[1] == match[1], "the lock is for another Python"


def test_the_image_installs_the_lock_with_hashes_then_listserv_alone() -> None:
    runs = arguments(DOCKERFILE, "RUN")
    lock = next(i for i, run in enumerate(runs) if "-r requirements.lock" in run)
    assert "pip install" in runs[lock] and "--require-hashes" in runs[lock]
    assert any("pip install" in run and "--no-deps ." in run for run in runs[lock + 1:])
    copied = " ".join(arguments(DOCKERFILE, "COPY"))
    assert "requirements.lock" in copied and "migrations" in copied


def _healthcheck_command() -> list[str]:
    [healthcheck] = arguments(DOCKERFILE, "HEALTHCHECK")
    command: list[str] = json.loads(healthcheck.partition(" CMD ")[2])
    assert command[:2] == ["python", "-c"]
    return command


def test_the_healthcheck_asks_readyz_where_the_web_side_listens() -> None:
    command = _healthcheck_command()[2]
    assert "LISTSERV_HTTP_HOST" in command and "/readyz" in command


async def _healthcheck(host: str, port: int) -> int:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _healthcheck_command()[2],
        env={"LISTSERV_HTTP_HOST": host, "LISTSERV_HTTP_PORT": str(port)},
        stderr=asyncio.subprocess.DEVNULL)
    async with asyncio.timeout(30):
        return await process.wait()


def _can_bind(host: str) -> bool:
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.create_server((host, 0), family=family):
            return True
    except OSError:
        return False


# (where listserv listens, LISTSERV_HTTP_HOST): every address is asked on loopback.
@pytest.mark.parametrize(("bound", "http_host"), [
    ("127.0.0.2", "127.0.0.2"), ("127.0.0.1", "0.0.0.0"), ("::1", "::"), ("::1", "::1")])
async def test_the_healthcheck_passes_where_listserv_is_ready(
        settings: Settings, bound: str, http_host: str) -> None:
    if not _can_bind(bound):
        pytest.skip(f"no {bound} on this machine")
    async with running(settings.model_copy(update={"http_host": bound})) as app:
        assert app.http_port is not None
        assert await _healthcheck(http_host, app.http_port) == 0


async def test_the_healthcheck_fails_where_nothing_listens() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    assert await _healthcheck("127.0.0.1", port) != 0


def test_postfix_and_postgres_images_name_a_release() -> None:
    [postfix_base] = arguments(POSTFIX / "Dockerfile", "FROM")
    assert re.fullmatch(r"debian:\d+\.\d+-slim", postfix_base)
    postgres = yaml.safe_load(COMPOSE.read_text())["services"]["postgres"]["image"]
    assert re.fullmatch(r"postgres:\d+\.\d+-bookworm", postgres)


@pytest.fixture(scope="module")
def compose() -> Any:
    return yaml.safe_load(COMPOSE.read_text())


def _environment(service: Any) -> dict[str, str]:
    return {name: str(value) for name, value in service["environment"].items()}


def test_compose_runs_listserv_behind_postfix_on_postgresql(compose: Any) -> None:
    assert set(compose["services"]) == {"listserv", "postgres", "postfix"}
    listserv = compose["services"]["listserv"]
    environment = _environment(listserv)
    assert environment["LISTSERV_SMARTHOST"] == "postfix:25"
    database = urlsplit(environment["LISTSERV_DATABASE_URL"])
    assert (database.scheme, database.hostname) == ("postgresql", "postgres")
    assert listserv["depends_on"] == {"postgres": {"condition": "service_healthy"},
                                      "postfix": {"condition": "service_started"}}
    assert "healthcheck" in compose["services"]["postgres"]


def test_compose_publishes_port_25_on_postfix_only_and_the_web_side_on_loopback(
        compose: Any) -> None:
    assert compose["services"]["listserv"]["ports"] == ["127.0.0.1:8080:8080"]
    assert compose["services"]["postfix"]["ports"] == ["25:25"]


def test_compose_postfix_hands_the_lists_to_listserv_by_lmtp(compose: Any) -> None:
    postfix = _environment(compose["services"]["postfix"])
    listserv = _environment(compose["services"]["listserv"])
    assert postfix["LISTSERV_LMTP"] == f"inet:listserv:{listserv['LISTSERV_LMTP_PORT']}"
    [subnet] = compose["networks"]["mail"]["ipam"]["config"]
    mynetworks = postfix["POSTFIX_MYNETWORKS"].split()
    assert mynetworks.index(f"!{subnet['gateway']}") < mynetworks.index(subnet["subnet"])
    main_cf = (POSTFIX / "main.cf").read_text()
    assert "transport_maps = hash:$config_directory/transport" in main_cf
    assert "lmtp:%s" in (POSTFIX / "entrypoint.sh").read_text()


def test_compose_keeps_state_in_volumes_and_the_dkim_key_in_a_secret(compose: Any) -> None:
    assert set(compose["volumes"]) == {"postgres-data", "listserv-data", "postfix-queue"}
    listserv = compose["services"]["listserv"]
    assert listserv["volumes"] == ["listserv-data:/var/lib/listserv"]
    [secret] = listserv["secrets"]
    assert secret == {"source": "dkim.pem", "target": "dkim.pem", "uid": "10001",
                      "gid": "10001", "mode": 0o400}
    assert _environment(listserv)["LISTSERV_DKIM_PRIVATE_KEY"] == "/run/secrets/dkim.pem"


def test_compose_gives_listserv_longer_than_its_drain_to_stop(compose: Any) -> None:
    # Transactions under way first, then the workers' work in hand: each may take the
    # whole grace time before listserv gives up on it.
    grace = str(compose["services"]["listserv"]["stop_grace_period"])
    assert grace.endswith("s") and int(grace[:-1]) > 2 * SHUTDOWN_GRACE_SECONDS
