"""What every screen shares: the engine and the recogniser (created once per process with
st.cache_resource), the file store beside the database, the chosen assignment (kept in the URL,
so a refresh, the back button, a new tab or a bookmark keep it), messages that survive the rerun
after an action, and deleting with a confirmation and an undo. No SQL and no scoring here: that
is grader/."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import streamlit as st
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from grader import db, model_versions, store
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
_UNDO = "last_deleted"


@st.cache_resource(show_spinner=False)
def _engine(url: str) -> Engine:
    return db.open_engine(url)


def engine() -> Engine:
    """The gradebook engine for $GRADER_DATABASE_URL (default: the embedded SQLite file)."""
    return _engine(db.database_url())


def files() -> FileStore:
    return FileStore.for_engine(engine())


def teacher() -> str:
    """Who an override is recorded as made by ($GRADER_TEACHER, else "app")."""
    return Settings.from_env().teacher


@st.cache_resource(show_spinner="Loading the handwriting model ...")
def _recognizer(models_dir: str) -> Reader:
    return load_reader(models_dir)


def recognizer() -> Reader:
    """The handwriting model ($GRADER_MODELS_DIR, else the gradebook's current model after
    `adapt`, else models/), loaded once per folder; ModelUnavailable, not cached, while the
    folder lacks it. Asking the gradebook each time makes an adopted or rolled-back version the
    one the next photo is read with."""
    chosen = Settings.from_env().models_dir or model_versions.models_dir_for(engine())
    return _recognizer(str(chosen or MODELS_DIR))


# --- messages that outlive the rerun an action causes --------------------------------------------

def flash(kind: str, text: str) -> None:
    st.session_state.setdefault(_FLASH, []).append((kind, text))


def show_flash() -> None:
    for kind, text in st.session_state.pop(_FLASH, []):
        # Markdown folds single newlines; a key's list of problems keeps its lines.
        getattr(st, kind)(text.replace("\n", "  \n"))


def act(action: Callable[[], str | None], *args) -> bool:
    """Run one user action (a button's callback): its message on success, the GraderError's
    message (written for teachers) on failure; nothing half-done stays in the database because
    each action runs in its own write session. True when it succeeded."""
    try:
        message = action(*args)
    except GraderError as error:
        flash("error", str(error))
        return False
    if message:
        flash("success", message)
    return True


# --- state kept in the URL -----------------------------------------------------------------------

def from_url(widget_key: str, param: str, options: list[str], fallback: str) -> None:
    """Before a widget is drawn: its value from the URL when the URL changed from outside this
    session's own writes (a refresh, back, a new tab, a bookmark), else the value it had, else
    `fallback`. Call to_url with the widget's value after drawing it."""
    wanted = st.query_params.get(param)
    written = st.session_state.get(f"{widget_key}@url")
    if wanted in options and wanted != written:
        st.session_state[widget_key] = wanted
    elif st.session_state.get(widget_key) not in options:
        st.session_state[widget_key] = fallback


def to_url(widget_key: str, param: str) -> None:
    """The widget's value into the URL (and remembered as this session's own write)."""
    value = str(st.session_state[widget_key])
    st.session_state[f"{widget_key}@url"] = value
    st.query_params[param] = value


# --- delete, with a confirmation first and an undo after -----------------------------------------

@dataclass(frozen=True)
class Undo:
    """What the last delete did, and how to take it back (in a write session)."""

    summary: str
    undo: Callable[[Session], Any]


def delete_button(label: str, key: str, delete: Callable[..., store.Removed | Undo], *args,
                  container=None) -> None:
    """A delete button that asks first; the confirmed delete can be undone (show_undo).
    `delete(session, *args)` returns store.Removed (undone by store.restore) or an Undo."""
    where = container or st
    asking = f"confirm-{key}"
    if not st.session_state.get(asking):
        where.button(label, key=key, on_click=st.session_state.__setitem__, args=(asking, True))
        return
    where.warning(f"{label}? Undo stays possible until the next delete.")
    yes, no = where.columns(2)
    yes.button("Yes, delete", key=f"yes-{key}", type="primary", on_click=_delete,
               args=(asking, delete, *args))
    no.button("Cancel", key=f"no-{key}", on_click=st.session_state.__setitem__,
              args=(asking, False))


def _delete(asking: str, delete: Callable[..., store.Removed | Undo], *args) -> None:
    st.session_state[asking] = False
    try:
        with db.write_session(engine()) as session:
            done = delete(session, *args)
    except GraderError as error:
        flash("error", str(error))
        return
    if isinstance(done, store.Removed):
        done = Undo(done.summary, lambda session, removed=done: store.restore(session, removed))
    st.session_state[_UNDO] = done


def show_undo() -> None:
    """After a delete: what went, with the button that puts it back."""
    removed = st.session_state.get(_UNDO)
    if removed is None:
        return
    with st.container(border=True):
        text, button = st.columns([4, 1])
        text.markdown(f":material/delete: Deleted {removed.summary}.")
        button.button("Undo", key="undo", icon=":material/undo:", on_click=act, args=(_undo,))


def _undo() -> str:
    done: Undo = st.session_state.pop(_UNDO)
    with db.write_session(engine()) as session:
        done.undo(session)
    return f"Restored {done.summary}."


# --- the assignment every screen works on ---------------------------------------------------------

def pick_assignment(label: str = "Assignment") -> str | None:
    """A selectbox of the stored assignments; the choice is shared by all screens and kept in
    the URL (?assignment=...)."""
    with db.read_session(engine()) as session:
        options = [(a.id, a.title) for a in store.list_assignments(session)]
    if not options:
        st.info("No assignments yet. Create one (or load the demo) on the Assignments screen.")
        return None
    ids = [i for i, _ in options]
    titles = dict(options)
    wanted = st.query_params.get("assignment")
    if wanted is not None and wanted not in ids:
        st.warning(f"The link names assignment “{wanted}”, which this gradebook does not hold "
                   "(deleted, or another gradebook's link); pick one below.")
    widget_key = f"pick-{label}"
    remembered = st.session_state.get(ASSIGNMENT)
    from_url(widget_key, "assignment", ids, remembered if remembered in ids else ids[0])
    chosen = st.selectbox(label, ids, format_func=lambda i: f"{titles[i]} ({i})",
                          key=widget_key)
    st.session_state[ASSIGNMENT] = chosen
    to_url(widget_key, "assignment")  # a screen opened from the menu gets it too
    return chosen
