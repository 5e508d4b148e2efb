"""Alembic environment of the gradebook; `grader.db.open_engine` applies it (`upgrade head`)."""
