"""Alembic environment. Run programmatically by grader.db.migrate, which passes an open
connection in `config.attributes["connection"]` (already inside a write transaction, so two
processes opening the same new gradebook cannot both create it)."""

from __future__ import annotations

from alembic import context

from grader.orm import Base

connection = context.config.attributes.get("connection")
if connection is None:  # `alembic -x url=... upgrade head` from a shell, for operators
    from grader.db import open_engine

    url = context.get_x_argument(as_dictionary=True).get("url")
    connection = open_engine(url, migrate=False).connect()

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=True,  # SQLite alters tables by copying them; batch mode does that
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
