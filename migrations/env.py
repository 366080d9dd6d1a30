# SPDX-License-Identifier: Apache-2.0
"""Alembic environment: runs on the connection listserv.db.migrate hands over."""

from alembic import context

from listserv.db.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with 'listserv db upgrade'")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
