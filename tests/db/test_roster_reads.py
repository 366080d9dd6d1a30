# SPDX-License-Identifier: Apache-2.0
"""A fan-out chunk of a big list reads that chunk, not the list (issue #18, item 2).

Before ix_member_list_id both engines answered ``list_id = ? AND id > ? ORDER BY
id LIMIT 5000`` by reading the whole list and sorting it, so a post to a
million members read its roster two hundred times over.
"""

import json
from pathlib import Path
from typing import Any

from sqlalchemy import text

from listserv.db.engine import create_engine
from listserv.db.roster import ROSTER_CHUNK, chunk_query
from tests.conftest import async_url
from tests.helpers import run_listserv

LISTS = ("first@example.com", "second@example.com")
MEMBERS = ROSTER_CHUNK + 1000  # each list: more than a chunk, enough for an import to count


def _import_rosters(env: dict[str, str], tmp_path: Path) -> None:
    for number, address in enumerate(LISTS):
        assert run_listserv("lists", "create", address, env=env).returncode == 0
        roster = tmp_path / f"{number}.txt"
        roster.write_text("".join(f"m{n}@l{number}.example.org\n" for n in range(MEMBERS)))
        done = run_listserv("members", "import", address, str(roster), env=env)
        assert done.returncode == 0, done.stderr


def _rows_read(plan: dict[str, Any]) -> int:
    """Rows the scans of a PostgreSQL plan produced or filtered away."""
    own = (plan.get("Actual Rows", 0) + plan.get("Rows Removed by Filter", 0)
           if "Scan" in plan["Node Type"] else 0)
    return own + sum(_rows_read(child) for child in plan.get("Plans", []))


async def test_a_chunk_of_a_big_list_just_imported_is_read_in_order_from_an_index(
        cli_env: dict[str, str], database_url: str, tmp_path: Path) -> None:
    _import_rosters(cli_env, tmp_path)
    engine, _ = create_engine(async_url(database_url))
    try:
        async with engine.connect() as connection:
            list_id = await connection.scalar(text(
                "SELECT id FROM mailing_list WHERE address = :address"), {"address": LISTS[1]})
            first_of_list = await connection.scalar(text(
                "SELECT min(id) FROM member WHERE list_id = :list_id"), {"list_id": list_id})
            query = chunk_query(list_id, first_of_list + 500)
            sql = str(query.compile(engine.sync_engine, compile_kwargs={"literal_binds": True}))
            if engine.dialect.name == "postgresql":
                # asyncpg hands the json column over decoded.
                plan = (await connection.scalar(
                    text(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}")))[0]["Plan"]
                assert _rows_read(plan) <= ROSTER_CHUNK, json.dumps(plan, indent=1)
                assert "Sort" not in json.dumps(plan)
            else:
                steps = [row[-1] for row in await connection.execute(
                    text(f"EXPLAIN QUERY PLAN {sql}"))]
                assert steps == ["SEARCH member USING INDEX ix_member_list_id "
                                 "(list_id=? AND id>?)"], steps
    finally:
        await engine.dispose()
