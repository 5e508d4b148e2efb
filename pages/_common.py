"""What every screen shares: the engine and the recogniser (created once per process with
st.cache_resource), the file store beside the database, the chosen assignment, and messages
that survive the rerun after an action. No SQL and no scoring here: that is grader/."""

from __future__ import annotations

from typing import Callable

import streamlit as st
from sqlalchemy.engine import Engine

from grader import db, store
from grader.errors import GraderError
from grader.files import FileStore
from grader.paths import MODELS_DIR
from grader.reader import Reader, load_reader
from grader.settings import Settings


def _run_through_the_entry_script() -> None:
    """Streamlit treats an app with a folder named pages/ as an old-style multipage app until
    st.navigation runs once in the process, so a browser whose very first request is a deep link
    (/grade) would run this page alone: without the demo seeding and with file names as the
    menu. Dropping that flag and rerunning runs streamlit_app.py, which routes to this page."""
    from streamlit.runtime.pages_manager import PagesManager

    if getattr(PagesManager, "uses_pages_directory", False):
        PagesManager.uses_pages_directory = False
        st.rerun()


_run_through_the_entry_script()

ASSIGNMENT = "current_assignment"  # session state: the assignment chosen on any screen
_FLASH = "flash_messages"


@st.cache_resource(show_spinner=False)
def _engine(url: str) -> Engine:
    return db.open_engine(url)


def engine() -> Engine:
    """The gradebook engine for $GRADER_DATABASE_URL (default: the embedded SQLite file)."""
    return _engine(db.database_url())


def files() -> FileStore:
    return FileStore.for_engine(engine())


@st.cache_resource(show_spinner="Loading the handwriting model ...")
def _recognizer(models_dir: str) -> Reader:
    return load_reader(models_dir)


def recognizer() -> Reader:
    """The handwriting model (models/, or $GRADER_MODELS_DIR), loaded once; ModelUnavailable,
    not cached, while the folder lacks it."""
    return _recognizer(str(Settings.from_env().models_dir or MODELS_DIR))


# --- messages that outlive the rerun an action causes --------------------------------------------

def flash(kind: str, text: str) -> None:
    st.session_state.setdefault(_FLASH, []).append((kind, text))


def show_flash() -> None:
    for kind, text in st.session_state.pop(_FLASH, []):
        # Markdown folds single newlines; a key's list of problems keeps its lines.
        getattr(st, kind)(text.replace("\n", "  \n"))


def act(action: Callable[[], str | None], *args) -> None:
    """Run one user action (a button's callback): its message on success, the GraderError's
    message (written for teachers) on failure; nothing half-done stays in the database because
    each action runs in its own write session."""
    try:
        message = action(*args)
    except GraderError as error:
        flash("error", str(error))
        return
    if message:
        flash("success", message)


# --- the assignment every screen works on ---------------------------------------------------------

def pick_assignment(label: str = "Assignment") -> str | None:
    """A selectbox of the stored assignments; the choice is shared by all screens."""
    with db.read_session(engine()) as session:
        options = [(a.id, a.title) for a in store.list_assignments(session)]
    if not options:
        st.info("No assignments yet. Create one (or load the demo) on the Assignments screen.")
        return None
    ids = [i for i, _ in options]
    titles = dict(options)
    current = st.session_state.get(ASSIGNMENT)
    index = ids.index(current) if current in ids else 0
    chosen = st.selectbox(label, ids, index=index, format_func=lambda i: f"{titles[i]} ({i})",
                          key=f"pick-{label}")
    st.session_state[ASSIGNMENT] = chosen
    return chosen
