"""Roster: the class list (id, name, class); import it from the school's CSV, edit it here."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from grader import db, store
from grader.errors import GraderError
from grader.roster import RosterEntry, parse_roster
from pages._common import act, engine, show_flash


def import_csv(text: str, source: str) -> str:
    entries = parse_roster(text, source)
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


st.title("Roster")
show_flash()
with db.read_session(engine()) as session:
    students = [{"id": s.id, "name": s.name, "class": s.class_name}
                for s in store.roster_entries(session)]

upload = st.file_uploader("Import a CSV (columns: id, name, class)", type=["csv", "txt"],
                          key="roster-upload")
if upload is not None:
    text = upload.getvalue().decode("utf-8-sig", errors="replace")
    st.button(f"Import {upload.name}", key="roster-import", type="primary", on_click=act,
              args=(import_csv, text, upload.name))

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
