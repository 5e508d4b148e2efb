"""Fixtures the tests share: an empty gradebook, the demo gradebook as the app's first start seeds
it (once per module), copied for each test, and a gradebook on each database we support
(`gradebook_url`: an SQLite file, then a database on the session's throwaway PostgreSQL)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from grader import db
from tests import postgres


def copy_gradebook(source: Path, target: Path) -> str:
    """A private copy of the seeded gradebook (database and its files) for one test."""
    shutil.copytree(source, target)
    return f"sqlite:///{target / 'gradebook.db'}"


@pytest.fixture(scope="module")
def seeded_dir(tmp_path_factory, monkeypatch_module) -> Path:
    """The app's first start on an empty gradebook: the demo is seeded (once, for the module)."""
    folder = tmp_path_factory.mktemp("seeded")
    url = f"sqlite:///{folder / 'gradebook.db'}"
    from tests.test_app import open_app

    open_app(monkeypatch_module, url, demo=True)
    db.open_engine(url).dispose()
    return folder


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


@pytest.fixture
def seeded(seeded_dir, tmp_path) -> str:
    return copy_gradebook(seeded_dir, tmp_path / "copy")


@pytest.fixture
def empty(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'gradebook.db'}"




@pytest.fixture(scope="session")
def postgres_server():
    """A PostgreSQL server for the session (tests/postgres.py), or a skip that says why not.
    GRADER_REQUIRE_POSTGRES=1 (.ci/run) turns that skip into a failure."""
    reason = postgres.unavailable()
    if reason is not None:
        if os.environ.get("GRADER_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL is required here: {reason}")
        pytest.skip(reason)
    server = postgres.start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def gradebook_url(request, tmp_path) -> str:
    """An empty gradebook at the schema's head: a new SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'gradebook.db'}"
        db.open_engine(url).dispose()
        return url
    return request.getfixturevalue("postgres_server").database()
