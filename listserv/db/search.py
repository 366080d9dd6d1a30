# SPDX-License-Identifier: Apache-2.0
"""Full-text search of a list's archive on the database's own index (migration 0011):
FTS5 on SQLite, a tsvector on PostgreSQL.

Best matches first (bm25, ts_rank), the latest first among equals. The words
matched are marked with core.search's markers, in the subject and in a
snippet of the text; marking costs more than finding, so it is done only for
the page of posts returned.
"""

from collections.abc import Sequence

from sqlalchemy import bindparam, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from listserv.core.search import MARK_END, MARK_START, fts5_match
from listserv.db.models import ArchivedMessage

Found = tuple[ArchivedMessage, str, str]  # the post, its subject and a snippet, marked

# bm25 weights by column (subject, body_text, author_name): the subject counts most.
_SQLITE_RANKED = text(
    "SELECT m.id FROM archived_message_fts JOIN archived_message AS m "
    "ON m.id = archived_message_fts.rowid "
    "WHERE archived_message_fts MATCH :match AND m.list_id = :list_id "
    "ORDER BY bm25(archived_message_fts, 10.0, 1.0, 5.0), m.seq DESC "
    "LIMIT :limit OFFSET :offset")
_SQLITE_MARKED = text(
    "SELECT rowid, highlight(archived_message_fts, 0, :start, :end), "
    "snippet(archived_message_fts, 1, :start, :end, ' … ', 32) "
    "FROM archived_message_fts WHERE archived_message_fts MATCH :match AND rowid IN :ids"
).bindparams(bindparam("ids", expanding=True))

# The words as plain words (plainto_tsquery), all of them required. Weights A (subject),
# B (author's name) and D (text) rank by ts_rank's defaults.
_POSTGRESQL_RANKED = text(
    "SELECT id FROM archived_message, plainto_tsquery('simple', :words) AS query "
    "WHERE list_id = :list_id AND search_vector @@ query "
    "ORDER BY ts_rank(search_vector, query) DESC, seq DESC LIMIT :limit OFFSET :offset")
# ts_headline reads the whole text it is given: a snippet comes from the first 20,000
# characters (the search itself covers 100,000).
_POSTGRESQL_MARKED = text(
    "SELECT id, ts_headline('simple', subject, query, :subject_options), "
    "ts_headline('simple', left(body_text, 20000), query, :text_options) "
    "FROM archived_message, plainto_tsquery('simple', :words) AS query "
    "WHERE id = ANY(:ids)")
_SELECTORS = f"StartSel={MARK_START}, StopSel={MARK_END}"
_SUBJECT_OPTIONS = f"{_SELECTORS}, HighlightAll=true"
_TEXT_OPTIONS = f'{_SELECTORS}, MaxWords=32, MinWords=12, MaxFragments=2, FragmentDelimiter=" … "'


async def search(session: AsyncSession, list_id: int, words: Sequence[str], limit: int,
                 offset: int = 0) -> list[Found]:
    """The list's posts that have every word, best first, with the words marked."""
    if not words:
        return []
    if session.get_bind().dialect.name == "postgresql":
        ranking, marking = _POSTGRESQL_RANKED, _POSTGRESQL_MARKED
        terms = {"words": " ".join(words), "subject_options": _SUBJECT_OPTIONS,
                 "text_options": _TEXT_OPTIONS}
    else:
        ranking, marking = _SQLITE_RANKED, _SQLITE_MARKED
        terms = {"match": fts5_match(list(words)), "start": MARK_START, "end": MARK_END}
    ranked = list(await session.scalars(ranking, {
        **terms, "list_id": list_id, "limit": limit, "offset": offset}))
    if not ranked:
        return []
    marked = {post_id: (subject, snippet) for post_id, subject, snippet
              in await session.execute(marking, {**terms, "ids": ranked})}
    posts = {post.id: post for post in await session.scalars(
        select(ArchivedMessage).where(ArchivedMessage.id.in_(ranked))
        .options(defer(ArchivedMessage.raw, raiseload=True),
                 defer(ArchivedMessage.body_text, raiseload=True)))}
    return [(posts[post_id], *marked.get(post_id, ("", ""))) for post_id in ranked]
