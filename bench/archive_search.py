# SPDX-License-Identifier: Apache-2.0
"""Benchmark archive search: 100,000 archived posts, a set of queries, p50 and p95.

A fresh database (SQLite by default) is migrated and given the list
ops@example.com with 100,000 archived posts, and a second list with 10,000
(search must keep to its list). The posts are written straight into
archived_message in batches, as archive_post would leave them: subjects of 3
to 9 words, bodies of 4 to 33 lines of 12 words (about 1.5 KB; lines drawn
from a pool of 50,000, as quoting repeats them), the words drawn with Zipf-like
frequencies from English function words (the, and, of: in
nearly every post), then 40 words of the trade (pump, valve, pressure: in
many), then some 30,000 made-up words (most of them in few posts); 300
authors; two posts in three a reply in a thread. As a restore would, the
load suspends the search index's upkeep (SQLite's insert trigger,
PostgreSQL's GIN index) and builds it whole at the end, with the statements
of the migration that made it.

Measured: listserv.archive.search (the one entry point the web page, the
API and the CLI call) with limit 50, through a read-only session as the web
side opens it, for 56 queries of seven kinds: a word in nearly every post, a
word of the trade, a rare word, two words, three words, a word and an
author's name; then quotes and operators, and words no post has. Each query
runs once to warm up and then 5 times timed. Also printed, with no verdict:
how long loading and indexing took, how many queries matched more than
RANKED_AT_MOST posts (those list the latest first), and the list page's
thread query.

Target: p50 and p95 of all timed searches under 100 ms.

Run from the repository root:  python bench/archive_search.py [--posts N]
                                   [--database-url postgresql://postgres@127.0.0.1/NEWDB]
With --database-url the benchmark creates that PostgreSQL database and drops it
afterwards; it refuses to touch a database that already exists.
"""

import argparse
import asyncio
import importlib.util
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from pathlib import Path
from types import ModuleType
from typing import Any

from intake import scratch_database
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from listserv import archive
from listserv.db import archived
from listserv.db.engine import Sessions, create_engine
from listserv.db.lists import create_list
from listserv.db.migrate import upgrade
from listserv.db.models import ArchivedMessage
from listserv.db.search import RANKED_AT_MOST
from listserv.settings import Settings

POSTS = 100_000
OTHER_POSTS = 10_000
BATCH = 5_000
VOCABULARY = 30_000
LINES = 50_000
AUTHORS = 300
LIMIT = 50
REPEATS = 5
TARGET_MS = 100.0
START = datetime(2015, 1, 1, tzinfo=UTC)

FUNCTION = ("the of and to a in is it you that he was for on are with as I his they be at "
            "one have this from or had by but not what all were we when your can said there "
            "use an each which she do how their if will up other about out many then them "
            "these so some her would").split()
TRADE = ("pressure valve pump crew maintenance shift seal gauge platform report inspection "
         "flow supply corrosion schedule meeting safety drill spare survey compressor "
         "turbine manifold flange gasket leak weld pipeline sensor calibration offshore rig "
         "helideck permit audit incident procedure handover vessel crane").split()
SYLLABLES = ("ka ro mi te su la ne po vi da gre tor men stal quo fin bar lek sor pra nu "
             "dro vel kin ast ol ur em ix").split()
NAMES = ("Alice Bjorn Chen Dara Emeka Fatima Goran Hana Ivan Jamal Kofi Lena Mateo Nadia "
         "Oskar Priya Quentin Rosa Sven Tariq Ulla Vikram Wen Ximena Yusuf Zofia").split()


def vocabulary(rng: random.Random) -> list[str]:
    """Function words, the trade's, then made-up ones: index order is frequency order."""
    made: dict[str, None] = dict.fromkeys([*FUNCTION, *TRADE])
    while len(made) < VOCABULARY:
        made["".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))] = None
    return list(made)


class Corpus:
    """Random prose whose word frequencies fall off as in real text (Zipf, s about 1)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.words = vocabulary(rng)
        self.weights = list(accumulate(1 / (rank + 1) for rank in range(len(self.words))))
        self.lines: list[str] = []
        self.authors = [(f"{rng.choice(NAMES)} {rng.choice(NAMES)}son",
                         f"user{n}@d{n % 37}.example.org") for n in range(AUTHORS)]

    def text(self, low: int, high: int) -> str:
        count = self.rng.randint(low, high)
        return " ".join(self.rng.choices(self.words, cum_weights=self.weights, k=count))

    def body(self) -> str:
        """4 to 33 lines of 12 words, from a pool of lines (drawing each word for 110,000
        posts would take longer than the rest of the benchmark)."""
        if not self.lines:
            self.lines = [self.text(12, 12).capitalize() + "." for _ in range(LINES)]
        return "\n".join(self.rng.choices(self.lines, k=self.rng.randint(4, 33))) + "\n"


def posts(corpus: Corpus, list_id: int, count: int, first_id: int) -> list[dict[str, Any]]:
    """The rows of `count` posts, ids from first_id, two in three replies in a thread."""
    rng, rows, threads = corpus.rng, [], []
    for seq in range(1, count + 1):
        row_id = first_id + seq - 1
        name, address = rng.choice(corpus.authors)
        if threads and rng.random() < 0.66:
            thread_id, subject = rng.choice(threads[-200:])
            subject = f"Re: {subject}"
        else:
            thread_id, subject = row_id, corpus.text(3, 9).capitalize()
            threads.append((thread_id, subject))
        body = corpus.body()
        sent = START + timedelta(minutes=30 * seq + rng.randint(0, 29))
        raw = (f"From: {name} <{address}>\r\nSubject: {subject}\r\n"
               f"Message-ID: <{row_id}@bench.example>\r\n\r\n{body}").encode()
        rows.append({"id": row_id, "list_id": list_id, "seq": seq,
                     "message_id": f"<{row_id}@bench.example>", "subject": subject,
                     "author_address": address, "author_name": name, "sent_at": sent,
                     "archived_at": sent, "in_reply_to": "", "references": "",
                     "thread_id": thread_id, "body_text": body, "raw": raw})
    return rows


def migration() -> ModuleType:
    """The revision that made the search index (its statements build it again)."""
    [path] = Path(__file__).parent.parent.glob("migrations/versions/*_archive_on_the_web.py")
    spec = importlib.util.spec_from_file_location("archive_on_the_web", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def load(engine: AsyncEngine, sessions: Sessions, corpus: Corpus, count: int) -> int:
    """Make ops@example.com with `count` posts and another list; return ops's id."""
    made = migration()
    sqlite = engine.dialect.name == "sqlite"
    async with engine.begin() as connection:  # the index's upkeep, suspended
        await connection.exec_driver_sql("DROP TRIGGER archived_message_fts_insert" if sqlite
                                         else "DROP INDEX ix_archived_message_search")
    async with sessions.begin() as session:
        ops = (await create_list(session, "ops@example.com")).id
        other = (await create_list(session, "other@example.com")).id
    for list_id, size, first_id in ((ops, count, 1), (other, OTHER_POSTS, count + 1)):
        rows = posts(corpus, list_id, size, first_id)
        for start in range(0, len(rows), BATCH):
            async with sessions.begin() as session:
                await session.execute(insert(ArchivedMessage), rows[start:start + BATCH])
    async with engine.begin() as connection:  # built whole, as the migration builds it
        # SQLite: the insert trigger, then 'rebuild'; PostgreSQL: the GIN index.
        statements = (made.SQLITE_UP[1], made.SQLITE_UP[-1]) if sqlite else made.POSTGRESQL_UP[1:]
        for statement in statements:
            await connection.exec_driver_sql(statement)
    if not sqlite:  # what autovacuum does soon after: statistics, and the visibility map
        async with engine.connect() as connection:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            await autocommit.exec_driver_sql("VACUUM ANALYZE archived_message")
    return ops


def queries(corpus: Corpus) -> dict[str, list[str]]:
    """Eight queries of each kind, the same for every run."""
    rng, words = random.Random(7), corpus.words
    trade = words[len(FUNCTION):len(FUNCTION) + len(TRADE)]
    common, middle, rare = trade, words[200:2000], words[5000:]
    names = [name.split()[0] for name, _ in corpus.authors]
    return {
        "in nearly all": rng.sample(FUNCTION[:20], 8),
        "of the trade": rng.sample(trade, 8),
        "rare word": rng.sample(rare, 8),
        "two words": [f"{rng.choice(common)} {rng.choice(middle)}" for _ in range(8)],
        "three words": [f"{rng.choice(middle)} {rng.choice(middle)} {rng.choice(common)}"
                        for _ in range(8)],
        "word and author": [f"{rng.choice(middle)} {rng.choice(names)}" for _ in range(8)],
        "odd or nowhere": ['"pressure valve', "pump AND (seal OR", "NOT gauge*", "-crew ^shift",
                           "zzqx", "nothing matches this", "valve:*", "pressure & | !"],
    }


async def measure(reading: Sessions, list_id: int,
                  asked: dict[str, list[str]]) -> tuple[dict[str, list[float]], int]:
    """Milliseconds of each timed search by kind of query, and how many queries found
    the latest first (more than RANKED_AT_MOST posts matched)."""
    timings: dict[str, list[float]] = {}
    latest = 0
    for kind, texts in asked.items():
        for text in texts:
            async with reading() as session:
                latest += not (await archive.search(session, list_id, text, LIMIT)).ranked
                for _ in range(REPEATS):
                    started = time.perf_counter()
                    await archive.search(session, list_id, text, LIMIT)
                    timings.setdefault(kind, []).append((time.perf_counter() - started) * 1000)
    return timings, latest


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def list_page_ms(reading: Sessions, list_id: int) -> float:
    async with reading() as session:
        started = time.perf_counter()
        await archived.count_threads(session, list_id)
        await archived.threads(session, list_id, 0, 50)
        return (time.perf_counter() - started) * 1000


async def run(database_url: str, count: int) -> bool:
    url = Settings(database_url=database_url).async_database_url
    engine, sessions = create_engine(url)
    reader, reading = create_engine(url, read_only=True)
    try:
        await upgrade(engine)
        corpus = Corpus(random.Random(1))
        started = time.perf_counter()
        list_id = await load(engine, sessions, corpus, count)
        print(f"{count:,} posts (+{OTHER_POSTS:,} in another list) archived and indexed in "
              f"{time.perf_counter() - started:.1f} s on {engine.dialect.name}")
        asked = queries(corpus)
        timings, latest = await measure(reading, list_id, asked)
        page = await list_page_ms(reading, list_id)
    finally:
        await reader.dispose()
        await engine.dispose()
    every = [ms for values in timings.values() for ms in values]
    for kind, values in timings.items():
        print(f"  {kind:16} p50 {statistics.median(values):6.1f} ms   "
              f"max {max(values):6.1f} ms")
    p50, p95 = statistics.median(every), percentile(every, 0.95)
    print(f"search, {len(every)} timed: p50 {p50:.1f} ms, p95 {p95:.1f} ms, "
          f"max {max(every):.1f} ms (limit {LIMIT}); {latest} of "
          f"{sum(map(len, asked.values()))} queries matched more than {RANKED_AT_MOST:,} posts")
    print(f"list page threads query: {page:.1f} ms (no target)")
    verdict = p50 < TARGET_MS and p95 < TARGET_MS
    if count != POSTS:
        print(f"({count:,} posts, not {POSTS:,}: no verdict)")
        return True
    print(f"{'PASS' if verdict else 'FAIL'}: p50 {p50:.1f} ms and p95 {p95:.1f} ms, "
          f"target under {TARGET_MS:.0f} ms")
    return verdict


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=POSTS)
    parser.add_argument("--database-url", help="postgresql://USER@HOST/NEWDB to run on "
                        "PostgreSQL (created and dropped by the benchmark)")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="listserv-bench-") as tmp, \
            scratch_database(args.database_url, Path(tmp)) as database_url:
        return 0 if asyncio.run(run(database_url, args.posts)) else 1


if __name__ == "__main__":
    sys.exit(main())
