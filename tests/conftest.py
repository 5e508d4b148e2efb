"""Fixtures the app's tests share: an empty gradebook, and the demo gradebook as the app's first
start seeds it (once per module), copied for each test."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from grader import db


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


