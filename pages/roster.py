"""Roster: the class list (id, name, class); import it from the school's CSV (any encoding a
spreadsheet saves, comma, semicolon or tab separated; the names are shown before the import),
edit it here, take a student off it (their pages stay, unassigned; undo is possible)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from grader import db, store
from grader.errors import GraderError
from grader.roster import RosterEntry, read_roster
from pages._common import act, delete_button, engine, show_flash, show_undo


def import_csv(entries: list[RosterEntry], source: str) -> str:
    with db.write_session(engine()) as session:
        changed = store.upsert_students(session, entries)
    return f"{source}: {len(entries)} students read, {changed} added or changed."


def save_edits(records: list[dict]) -> str:
    entries = []
    for line, row in enumerate(records, start=1):
        student_id = str(row.get("id") or "").strip()
        if not student_id:
            raise GraderError(f"row {line} of the table has no student id; every student "
                              "needs one")
        entries.append(RosterEntry(student_id, str(row.get("name") or "").strip(),
                                   str(row.get("class") or "").strip()))
    with db.write_session(engine()) as session:
        changed = store.upsert_students(session, entries)
    return f"Roster saved: {changed} students added or changed."


def preview_import(upload) -> None:
    """The names as read, before anything is stored: a wrong encoding shows here, or is refused
    with the reason."""
    try:
        entries = read_roster(upload.getvalue(), upload.name)
    except GraderError as error:
        st.error(str(error))
        return
    st.caption(f"{upload.name}: {len(entries)} students, as they will be imported:")
    st.dataframe(pd.DataFrame([{"id": e.id, "name": e.name, "class": e.class_name}
                               for e in entries[:8]]), hide_index=True, width="stretch")
    st.button(f"Import {upload.name}", key="roster-import", type="primary", on_click=act,
              args=(import_csv, entries, upload.name))


def delete_student() -> None:
    with st.expander("Take a student off the roster"):
        options = {s["id"]: f"{s['name']} ({s['id']})" for s in students}
        chosen = st.selectbox("Student", list(options), format_func=options.get,
                              key="roster-delete-pick")
        st.caption("Their graded pages stay in the gradebook, shown as unassigned.")
        if chosen:
            delete_button(f"Delete {options[chosen]}", f"delete-student-{chosen}",
                          store.delete_student, chosen)


st.title("Roster")
show_flash()
show_undo()
with db.read_session(engine()) as session:
    students = [{"id": s.id, "name": s.name, "class": s.class_name}
                for s in store.roster_entries(session)]

upload = st.file_uploader("Import a CSV (columns: id, name, class)", type=["csv", "txt"],
                          key="roster-upload",
                          help="as Excel saves it: CSV, CSV UTF-8 or Unicode text")
if upload is not None:
    preview_import(upload)

st.caption(f"{len(students)} students. Edit names and classes, or add rows at the bottom; "
           "ids are how photos of per-student sheets find their student.")
edited = st.data_editor(pd.DataFrame(students, columns=["id", "name", "class"]),
                        num_rows="add", hide_index=True, key="roster-editor", width="stretch",
                        column_config={"id": st.column_config.TextColumn("id", required=True)})
# A plain button, not a callback: the table saved is this run's, with the edit the click
# brought along (a callback's arguments are those of the run before).
if st.button("Save changes", key="roster-save"):
    act(save_edits, edited.to_dict("records"))
    st.rerun()
if students:
    delete_student()
