# SPDX-License-Identifier: Apache-2.0
"""The archive in SQL: each post stored whole with what it is indexed and threaded by.

Rows are added (archive_post, import_mbox), read back as mbox (export_mbox)
and searched (search). The raw bytes are kept exactly as given; the columns
are read from them without ever raising on a malformed message.

This module does not decide whether a post is archived: the caller checks the
list's ``archive`` setting. It never commits; the caller owns the transaction.
Message-IDs are not unique (as public-inbox found): archive_post stores a repeated one as
it is, and threading picks the earliest message with an id.
"""

import asyncio
import hashlib
import html
import logging
import mailbox
import os
import re
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path

import mailparser
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from listserv.core.addresses import parse_address
from listserv.core.message import Post, header_text, message_id, parse_post
from listserv.core.obfuscation import conceal_headers
from listserv.core.policy import ArchiveAddresses
from listserv.core.search import terms, unmarked
from listserv.core.threading import parse_message_ids, thread_parents
from listserv.db import search as db_search
from listserv.db.archived import dated_in
from listserv.db.models import ArchivedMessage, MailingList
from listserv.errors import InvalidAddress, ListservError, NotFound
from listserv.offload import off_loop

log = logging.getLogger(__name__)

MAX_BODY_TEXT = 200_000  # characters of text indexed per message
EXPORT_BATCH = 500
_TAG = re.compile(r"<[^>]*>")
_QUOTED_FROM = re.compile(rb"^(>*From )", re.MULTILINE)
_UNQUOTE_FROM = re.compile(rb"^>(>*From )", re.MULTILINE)
# Pipermail's public archives write "From: alice at example.org (Alice Example)".
_PIPERMAIL_FROM = re.compile(r"(\S+) at (\S+)(?: \((.*)\))?")


@dataclass(slots=True)
class ImportReport:
    """What import_mbox did; entries are numbered from 1 in file order."""

    imported: int = 0
    duplicates: int = 0
    generated_ids: list[tuple[int, str]] = field(default_factory=list)
    bad: list[tuple[int, str]] = field(default_factory=list)


def _clean(text: str, limit: int) -> str:
    """Text every database stores: valid UTF-8, no NUL, at most limit characters."""
    text = text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return text.replace("\x00", "")[:limit]


def generated_message_id(raw: bytes) -> str:
    """A Message-ID for a message without one, derived from its content.

    The same message gets the same id on every import (whatever its line
    endings), so importing it twice finds the duplicate, as public-inbox does.
    """
    digest = hashlib.sha256(raw.replace(b"\r\n", b"\n")).hexdigest()[:32]
    return f"<{digest}@listserv.invalid>"


def _archive_id(raw: bytes) -> str:
    """The Message-ID a message is archived under: its own, cleaned up, or a generated one."""
    written = message_id(raw)
    parsed = parse_message_ids(written)
    return _clean(parsed[0] if parsed else written, 998) or generated_message_id(raw)


def _sent_at(value: str) -> datetime | None:
    """The Date header as UTC, or None when it is missing or unreadable."""
    try:
        sent = parsedate_to_datetime(value)
        if sent.tzinfo is None:  # "-0000": RFC 5322 says the zone is unknown; assume UTC
            sent = sent.replace(tzinfo=UTC)
        return sent.astimezone(UTC)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _stdlib_text(message: EmailMessage) -> str:
    try:
        body = message.get_body(preferencelist=("plain",))
        return str(body.get_content()) if body is not None else ""
    except Exception:  # undecodable parts, unknown charsets
        return ""


def body_text(raw: bytes, message: EmailMessage) -> str:
    """The text the archive searches: the plain parts, else the HTML without tags."""
    try:
        parsed = mailparser.parse_from_bytes(raw)
        text = "\n".join(parsed.text_plain)
        if not text.strip() and parsed.text_html:
            text = html.unescape(_TAG.sub(" ", "\n".join(parsed.text_html)))
    except Exception:  # mail-parser gives up on some broken MIME; the stdlib may not
        log.debug("%s mail-parser failed; using the email package", message_id(raw),
                  exc_info=True)
        text = _stdlib_text(message)
    return _clean(text, MAX_BODY_TEXT)


def _author(post: Post) -> tuple[str, str]:
    """(address, name) of the author, reading pipermail's "alice at example.org" too."""
    if post.author:
        return post.author, post.author_name
    # The header as written: the email package would have "repaired" it already.
    written = next((value for name, value in post.message.raw_items()
                    if name.lower() == "from"), "")
    match = _PIPERMAIL_FROM.fullmatch(_clean(" ".join(str(written).split()), 1000))
    if match is None:
        return "", post.author_name
    try:
        return parse_address(f"{match[1]}@{match[2]}").key, match[3] or ""
    except InvalidAddress:
        return "", post.author_name


def _read(raw: bytes) -> tuple[Post, str]:
    """A message to archive, parsed, and the text its search finds."""
    post = parse_post(raw)
    return post, body_text(raw, post.message)


def _new_row(list_id: int, seq: int, post: Post, text: str) -> tuple[ArchivedMessage, list[str]]:
    """The archive row for a message with its text, and the ids of its possible ancestors."""
    raw = post.raw
    in_reply_to = header_text(post.message, "In-Reply-To")
    references = header_text(post.message, "References")
    author, name = _author(post)
    row = ArchivedMessage(
        list_id=list_id, seq=seq, message_id=_archive_id(raw),
        subject=_clean(post.subject, 100_000), author_address=_clean(author, 320),
        author_name=_clean(name, 200),
        sent_at=_sent_at(header_text(post.message, "Date")),
        in_reply_to=_clean(in_reply_to, 998), references=_clean(references, 100_000),
        body_text=text, raw=raw)
    return row, [parent for parent in thread_parents(in_reply_to, references)
                 if len(parent) <= 998]


async def _next_seq(session: AsyncSession, list_id: int) -> int:
    """Lock the list against other archive writers and return its next sequence number."""
    # FOR NO KEY UPDATE serialises writers on PostgreSQL; on SQLite the engine's BEGIN
    # IMMEDIATE does (db/engine.py), and UNIQUE (list_id, seq) guards both. Not FOR
    # UPDATE: it waits for the KEY SHARE locks that rows referring to the list take (the
    # inbound row's list_id), which another process's transaction may hold while it
    # waits for this lock in turn, a deadlock.
    locked = await session.scalar(select(MailingList.id).where(MailingList.id == list_id)
                                  .with_for_update(key_share=True))
    if locked is None:
        raise NotFound(f"no list with id {list_id}")
    last = await session.scalar(select(func.max(ArchivedMessage.seq))
                                .where(ArchivedMessage.list_id == list_id))
    return (last or 0) + 1


async def _thread_of(session: AsyncSession, list_id: int, parents: Sequence[str]) -> int | None:
    """The thread of the nearest ancestor already archived, if any."""
    if not parents:
        return None
    rows = await session.execute(
        select(ArchivedMessage.message_id, ArchivedMessage.thread_id, ArchivedMessage.id)
        .where(ArchivedMessage.list_id == list_id, ArchivedMessage.message_id.in_(parents))
        .order_by(ArchivedMessage.seq))
    threads: dict[str, int] = {}
    for found_id, thread_id, row_id in rows:
        threads.setdefault(found_id, row_id if thread_id is None else thread_id)
    return next((threads[parent] for parent in parents if parent in threads), None)


async def _store(session: AsyncSession, row: ArchivedMessage, parents: Sequence[str]) -> None:
    row.thread_id = await _thread_of(session, row.list_id, parents)
    session.add(row)
    await session.flush()
    if row.thread_id is None:  # a new thread is named after its first message
        row.thread_id = row.id
        await session.flush()


async def archive_post(session: AsyncSession, list_id: int, raw: bytes) -> ArchivedMessage:
    """Archive a post (as decorated for the archive) under the list's next number."""
    post, text = await off_loop(len(raw), _read, raw)  # before the list is locked
    seq = await _next_seq(session, list_id)
    row, parents = _new_row(list_id, seq, post, text)
    await _store(session, row, parents)
    log.info("%s archived as %d in list %d", row.message_id, seq, list_id)
    return row


def _mbox_entry(raw: bytes, author: str, date: datetime, addresses: ArchiveAddresses) -> bytes:
    """The raw message with Unix line endings behind its From_ line, quoted as mboxrd.

    mailbox would quote only 'From ' lines (mboxo), which cannot be undone;
    quoting '>From ' lines one level more as well (mboxrd) can, and
    import_mbox does. Readers that don't unquote still see every message whole.
    Unless addresses is SHOW, those in the header fields are concealed.
    """
    sender = author if author.isascii() and author and not any(
        char.isspace() for char in author) and addresses is ArchiveAddresses.SHOW \
        else "MAILER-DAEMON"
    from_line = f"From {sender} {time.asctime(date.astimezone(UTC).timetuple())}\n"
    raw = conceal_headers(raw, addresses)
    return from_line.encode() + _QUOTED_FROM.sub(rb">\1", raw.replace(b"\r\n", b"\n"))


async def mbox_ids(session: AsyncSession, list_id: int, since: datetime | None = None,
                   until: datetime | None = None) -> list[int]:
    """The posts of an mbox in archive order: all the list's, or those dated in [since, until)."""
    query = select(ArchivedMessage.id).where(ArchivedMessage.list_id == list_id)
    if since is not None and until is not None:
        query = query.where(dated_in(since, until))
    return list(await session.scalars(query.order_by(ArchivedMessage.seq)))


async def mbox_entries(session: AsyncSession, ids: Sequence[int],
                       addresses: ArchiveAddresses = ArchiveAddresses.SHOW) -> list[bytes]:
    """The mbox entries of these posts (a batch of mbox_ids), in archive order."""
    rows = await session.execute(
        select(ArchivedMessage.raw, ArchivedMessage.author_address, ArchivedMessage.sent_at,
               ArchivedMessage.archived_at)
        .where(ArchivedMessage.id.in_(ids)).order_by(ArchivedMessage.seq))
    return [_mbox_entry(raw, author, sent_at or archived_at, addresses)
            for raw, author, sent_at, archived_at in rows]


def _add_all(box: mailbox.mbox, entries: Sequence[bytes]) -> None:
    for entry in entries:
        box.add(entry)


async def _write_entries(session: AsyncSession, list_id: int, box: mailbox.mbox) -> int:
    ids = await mbox_ids(session, list_id)
    for start in range(0, len(ids), EXPORT_BATCH):
        entries = await mbox_entries(session, ids[start:start + EXPORT_BATCH])
        await asyncio.to_thread(_add_all, box, entries)
    return len(ids)


async def export_mbox(session: AsyncSession, list_id: int, path: Path) -> int:
    """Write the list's archive to an mbox file in archive order; return how many messages.

    The file is written beside its final name and renamed into place at the
    end, so a failed export leaves no half-written file.
    """
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.close(handle)
    try:
        box = mailbox.mbox(temporary)
        try:
            count = await _write_entries(session, list_id, box)
        finally:
            box.close()
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return count


def _open_mbox(path: Path) -> mailbox.mbox:
    """Open an mbox file for reading and index it; ListservError when it is not one."""
    with path.open("rb") as handle:
        start = handle.read(4096).lstrip(b"\r\n")
    if start and not start.startswith(b"From "):
        raise ListservError(f"{path}: not an mbox file (it must start with a 'From ' line)")
    box = mailbox.mbox(path, create=False)
    box.keys()  # reads the whole file once to find where each message starts
    return box


def _entry_problem(post: Post) -> str | None:
    """Why an mbox entry is not a mail message, or None when it is one."""
    if not post.raw.strip():
        return "empty entry"
    if not (header_text(post.message, "From") or header_text(post.message, "Date")):
        return "no From or Date header; not a mail message"
    return None


async def _import_entry(session: AsyncSession, list_id: int, seq: int, raw: bytes,
                        index: int, report: ImportReport) -> bool:
    """Archive one entry unless it is bad or a duplicate; return whether it was archived."""
    post = parse_post(raw)
    problem = _entry_problem(post)
    if problem is not None:
        report.bad.append((index, problem))
        return False
    if await session.scalar(select(ArchivedMessage.id).where(
            ArchivedMessage.list_id == list_id,
            ArchivedMessage.message_id == _archive_id(raw)).limit(1)) is not None:
        report.duplicates += 1
        return False
    row, parents = _new_row(list_id, seq, post, body_text(raw, post.message))
    if not post.message_id:
        report.generated_ids.append((index, row.message_id))
    await _store(session, row, parents)
    session.expunge(row)  # keep memory flat on big imports
    report.imported += 1
    return True


async def import_mbox(session: AsyncSession, list_id: int, path: Path,
                      progress: Callable[[int], object] = lambda _: None) -> ImportReport:
    """Archive the messages of an mbox file (mboxo or mboxrd) in file order.

    Messages already archived under the same Message-ID are skipped, entries
    that are no mail message are reported and skipped, and a message without a
    Message-ID is archived under a generated one (the raw bytes stay as read).
    """
    try:
        box = await asyncio.to_thread(_open_mbox, path)
    except (OSError, mailbox.Error) as exc:
        raise ListservError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}"
                            ) from None
    report = ImportReport()
    try:
        seq = await _next_seq(session, list_id)
        for index, key in enumerate(box.iterkeys(), start=1):
            raw = _UNQUOTE_FROM.sub(rb"\1", box.get_bytes(key))
            if await _import_entry(session, list_id, seq, raw, index, report):
                seq += 1
            progress(1)
    finally:
        box.close()
    return report


@dataclass(frozen=True, slots=True)
class SearchHit:
    """A post search found: the subject and a snippet of its text have the words it
    matched between core.search's markers (core.markup.highlighted shows them)."""

    seq: int
    message_id: str
    thread_id: int | None
    subject: str
    author_address: str
    author_name: str
    sent_at: datetime | None
    archived_at: datetime
    marked_subject: str
    snippet: str

    @property
    def author(self) -> str:
        return self.author_address

    @property
    def date(self) -> datetime:
        """When it was sent (its Date header), else when it was archived."""
        return self.sent_at or self.archived_at


class SearchHits(list[SearchHit]):
    """The hits of a search in order, with how many posts matched: counted up to
    db.search.RANKED_AT_MOST + 1; past it the hits are the latest, not the best."""

    def __init__(self, hits: list[SearchHit], matches: int, ranked: bool) -> None:
        super().__init__(hits)
        self.matches = matches
        self.ranked = ranked


async def search(session: AsyncSession, list_id: int, query: str, limit: int = 50,
                 offset: int = 0) -> SearchHits:
    """Posts whose subject, text or author's name has every word of the query, best first
    (the latest first when the words are in more than db.search.RANKED_AT_MOST posts).

    The query is plain words (core.search.terms): quotes and operators are
    text, and a query without a word finds nothing. Letter case and accents
    are ignored.
    """
    found = await db_search.search(session, list_id, terms(query), limit, offset)
    hits = [SearchHit(row.seq, row.message_id, row.thread_id, row.subject, row.author_address,
                      row.author_name, row.sent_at, row.archived_at, subject, snippet)
            for row, subject, snippet in found.posts]
    return SearchHits(hits, found.matches, found.ranked)


def describe_hit(hit: SearchHit) -> dict[str, object]:
    """A search hit as plain JSON-able data (the CLI's --json and the admin API)."""
    return {"seq": hit.seq, "message_id": hit.message_id, "thread_id": hit.thread_id,
            "sent_at": hit.sent_at.isoformat() if hit.sent_at else None,
            "author_address": hit.author_address, "author_name": hit.author_name,
            "subject": hit.subject, "snippet": " ".join(unmarked(hit.snippet).split())}
