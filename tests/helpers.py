# SPDX-License-Identifier: Apache-2.0
"""Small things tests share: building messages, lists and CLI runs."""

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import make_msgid
from pathlib import Path

from sqlalchemy import text

from listserv.app import App
from listserv.core import verp
from listserv.core.addresses import parse_address, sub_address
from listserv.db import lists as db_lists
from listserv.db import members as db_members
from listserv.db.engine import Sessions

LISTSERV = str(Path(sys.executable).with_name("listserv"))


def make_message(*, sender: str = "alice@example.org", to: str = "ops@example.com",
                 subject: str = "Hello", body: str = "Hi all.\n",
                 html: str | None = None) -> bytes:
    """A message as a mail client writes it; with html, a multipart/alternative."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain="example.org")
    message.set_content(body)
    if html is not None:
        message.add_alternative(html, subtype="html")
    return message.as_bytes(policy=SMTP)  # CRLF, as on the wire and as stored


async def make_list(sessions: Sessions, address: str = "ops@example.com",
                    members: Sequence[str] = ()) -> None:
    async with sessions.begin() as session:
        mlist = await db_lists.create_list(session, address)
        for member in members:
            await db_members.add_member(session, mlist, parse_address(member))


async def verp_address(app: App, member: str, probe: int | None = None,
                       list_address: str = "ops@example.com") -> str:
    """The signed VERP address listserv gives member's copies (or one probe to them)."""
    async with app.sessions() as session:
        mlist = await db_lists.get_list(session, list_address)
    made = verp.sender(sub_address(list_address, "-bounces"), member, app.settings.hmac_key,
                       mlist.id, probe)
    assert made is not None
    return made


async def listserv_cli(*args: str, env: dict[str, str],
                       stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """run_listserv from a test whose server runs on this event loop: in a thread, so the
    server goes on while the command waits for it (a blocked loop that holds SQLite's
    write lock would make the command wait for ever)."""
    return await asyncio.to_thread(run_listserv, *args, env=env, stdin=stdin)


def run_listserv(*args: str, env: dict[str, str],
                 stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the installed console script, as an operator would."""
    return subprocess.run([LISTSERV, *args], env=env, input=stdin, capture_output=True,
                          text=True, timeout=60, check=False)


async def send_lmtp(port: int, sender: str, recipients: Sequence[str], raw: bytes) -> list[str]:
    """One LMTP transaction (RFC 2033); the replies after DATA, one per accepted RCPT."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)

    async def reply() -> str:
        lines = [(await reader.readline()).decode().rstrip()]
        while lines[-1][3:4] == "-":
            lines.append((await reader.readline()).decode().rstrip())
        return lines[-1]

    try:
        assert (await reply()).startswith("220")
        accepted = 0
        for command in ("LHLO client.example.org", f"MAIL FROM:<{sender}>",
                        *(f"RCPT TO:<{rcpt}>" for rcpt in recipients)):
            writer.write(command.encode() + b"\r\n")
            answer = await reply()
            accepted += command.startswith("RCPT") and answer.startswith("250")
        writer.write(b"DATA\r\n")
        assert (await reply()).startswith("354")
        body = raw.replace(b"\r\n.", b"\r\n..")  # RFC 5321 4.5.2 dot-stuffing
        writer.write(body + (b"" if body.endswith(b"\r\n") else b"\r\n") + b".\r\n")
        replies = [await reply() for _ in range(accepted)]
        writer.write(b"QUIT\r\n")
        await writer.drain()
        return replies
    finally:
        writer.close()


@asynccontextmanager
async def storage_refused(app: App, recipient: str | None = None) -> AsyncIterator[None]:
    """Make the database refuse inbound rows (for one recipient, or all), as a full disk
    would."""
    async with app.engine.begin() as connection:
        if connection.dialect.name == "sqlite":
            when = "1" if recipient is None else f"NEW.recipient = '{recipient}'"
            await connection.execute(text(
                "CREATE TRIGGER fail_insert BEFORE INSERT ON inbound "
                f"WHEN {when} BEGIN SELECT RAISE(ABORT, 'disk full'); END"))
        else:
            when = "true" if recipient is None else f"NEW.recipient = '{recipient}'"
            await connection.execute(text(
                "CREATE FUNCTION fail_insert() RETURNS trigger AS $$ BEGIN "
                f"IF {when} THEN RAISE EXCEPTION 'disk full'; END IF; "
                "RETURN NEW; END $$ LANGUAGE plpgsql"))
            await connection.execute(text(
                "CREATE TRIGGER fail_insert BEFORE INSERT ON inbound "
                "FOR EACH ROW EXECUTE FUNCTION fail_insert()"))
    try:
        yield
    finally:
        async with app.engine.begin() as connection:
            await connection.execute(text("DROP TRIGGER fail_insert" + (
                "" if connection.dialect.name == "sqlite" else " ON inbound")))
            if connection.dialect.name != "sqlite":
                await connection.execute(text("DROP FUNCTION fail_insert()"))
