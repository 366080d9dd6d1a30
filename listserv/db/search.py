# SPDX-License-Identifier: Apache-2.0
"""Full-text search of a list's archive on the database's own index (migration 0015):
FTS5 on SQLite, a tsvector on PostgreSQL.

Ranking (bm25, ts_rank) costs something for every post that matches, so it
is done only when at most RANKED_AT_MOST posts match; when more do, the
words are common enough to say little about which post is best, and the
latest come first, which the index finds at once. Either way the work is
bounded, however common the words. The words matched are marked with
core.search's markers in the subject and a snippet of the text, for the
page of posts returned only.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import TextClause, bindparam, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from listserv.core.search import MARK_END, MARK_START, fts5_match
from listserv.db.models import ArchivedMessage

RANKED_AT_MOST = 1000


@dataclass(frozen=True, slots=True)
class Found:
    """A page of posts found, and how many posts match (counted to RANKED_AT_MOST + 1)."""

    posts: list[tuple[ArchivedMessage, str, str]]  # the post, its subject and snippet, marked
    matches: int

    @property
    def ranked(self) -> bool:
        """Whether the posts are best first (else the latest first)."""
        return self.matches <= RANKED_AT_MOST


@dataclass(frozen=True, slots=True)
class _Dialect:
    count: TextClause  # the matches, up to :cap
    ranked: TextClause
    latest: TextClause
    marked: TextClause  # (id, subject, snippet) of the posts :ids


# The FTS5 table holds each post's list too: the match names it, and the index alone
# keeps the search to one list. bm25 weights by column (subject, body_text,
# author_name, list_id): the subject counts most.
_FTS = "SELECT rowid FROM archived_message_fts WHERE archived_message_fts MATCH :match"
_SQLITE = _Dialect(
    count=text(f"SELECT count(*) FROM ({_FTS} LIMIT :cap)"),
    ranked=text(f"{_FTS} ORDER BY bm25(archived_message_fts, 10.0, 1.0, 5.0, 0.0), rowid DESC "
                "LIMIT :limit OFFSET :offset"),
    latest=text(f"{_FTS} ORDER BY rowid DESC LIMIT :limit OFFSET :offset"),
    # FTS5 looks each rowid of an IN list up on its own, re-reading the words' doclists;
    # a rowid range is one pass over them. The IN list then only filters (the + keeps
    # it from the index), before highlight and snippet are made.
    marked=text(
        "SELECT rowid, highlight(archived_message_fts, 0, :start, :end), "
        "snippet(archived_message_fts, 1, :start, :end, ' … ', 32) "
        "FROM archived_message_fts WHERE archived_message_fts MATCH :match "
        "AND rowid BETWEEN :first AND :last AND +rowid IN :ids"
    ).bindparams(bindparam("ids", expanding=True)))

# The words as plain words (plainto_tsquery), all of them required. Weights A (subject),
# B (author's name) and D (text) rank by ts_rank's defaults.
_TSV = ("FROM archived_message, plainto_tsquery('simple', :words) AS query "
        "WHERE list_id = :list_id AND search_vector @@ query")
_POSTGRESQL = _Dialect(
    count=text(f"SELECT count(*) FROM (SELECT 1 {_TSV} LIMIT :cap) AS found"),
    ranked=text(f"SELECT id {_TSV} ORDER BY ts_rank(search_vector, query) DESC, seq DESC "
                "LIMIT :limit OFFSET :offset"),
    latest=text(f"SELECT id {_TSV} ORDER BY seq DESC LIMIT :limit OFFSET :offset"),
    # ts_headline reads the whole text it is given: a snippet comes from the first
    # 20,000 characters (the search itself covers 100,000).
    marked=text(
        "SELECT id, ts_headline('simple', subject, query, :subject_options), "
        "ts_headline('simple', left(body_text, 20000), query, :text_options) "
        "FROM archived_message, plainto_tsquery('simple', :words) AS query "
        "WHERE id = ANY(:ids)"))
_SELECTORS = f"StartSel={MARK_START}, StopSel={MARK_END}"
_SUBJECT_OPTIONS = f"{_SELECTORS}, HighlightAll=true"
_TEXT_OPTIONS = f'{_SELECTORS}, MaxWords=32, MinWords=12, MaxFragments=2, FragmentDelimiter=" … "'


def _terms(session: AsyncSession, list_id: int,
           words: Sequence[str]) -> tuple[_Dialect, dict[str, object]]:
    """The dialect's statements and what they are given besides the page."""
    if session.get_bind().dialect.name == "postgresql":
        return _POSTGRESQL, {"words": " ".join(words), "list_id": list_id,
                             "subject_options": _SUBJECT_OPTIONS, "text_options": _TEXT_OPTIONS}
    match = f'list_id : "{list_id}" AND {{subject body_text author_name}} : ({fts5_match(words)})'
    return _SQLITE, {"match": match, "start": MARK_START, "end": MARK_END}


async def search(session: AsyncSession, list_id: int, words: Sequence[str], limit: int,
                 offset: int = 0) -> Found:
    """A page of the list's posts that have every word, with the words marked."""
    if not words:
        return Found([], 0)
    dialect, terms = _terms(session, list_id, words)
    matches = int(await session.scalar(dialect.count, {**terms, "cap": RANKED_AT_MOST + 1})
                  or 0)
    order = dialect.ranked if matches <= RANKED_AT_MOST else dialect.latest
    ids = list(await session.scalars(order, {**terms, "limit": limit, "offset": offset}))
    if not ids:
        return Found([], matches)
    marked = {post_id: (subject, snippet) for post_id, subject, snippet in await session.execute(
        dialect.marked, {**terms, "ids": ids, "first": min(ids), "last": max(ids)})}
    posts = {post.id: post for post in await session.scalars(
        select(ArchivedMessage).where(ArchivedMessage.id.in_(ids))
        .options(defer(ArchivedMessage.raw, raiseload=True),
                 defer(ArchivedMessage.body_text, raiseload=True)))}
    return Found([(posts[post_id], *marked.get(post_id, ("", ""))) for post_id in ids], matches)
