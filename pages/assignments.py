"""Assignments: the stored answer keys with their printable worksheets; new keys from a YAML
file, from a form, or from the teacher's own blank sheet with its answer boxes detected."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from grader import db, store
from grader.answer_key import AnswerKey
from grader.app_support import (
    box_rows,
    check_key,
    draw_boxes,
    key_yaml_from_boxes,
    key_yaml_from_form,
    to_rgb,
)
from grader.demo import load_demo_keys
from grader.errors import GraderError
from grader.grading import regrade as regrade_assignment
from grader.imageio import load_images
from grader.own_sheet import detect_answer_boxes, page_from_image
from grader.pipeline import stored_ink_likelihoods
from grader.store import AssignmentSummary
from grader.vocab import Kind, Mode
from grader.worksheet import Student, unprintable_warning, worksheet_pdf_bytes
from pages._common import act, engine, files, recognizer, show_flash

KINDS = [k.value for k in Kind]
MODES = [m.value for m in Mode]


# --- actions (each one write session) ------------------------------------------------------------

def save_key(yaml_text: str, source: str) -> str:
    with db.write_session(engine()) as session:
        version = store.save_answer_key(session, yaml_text, source)
        return f"Saved answer key {version.assignment_id!r} (version {version.version})."


def load_demo() -> str:
    return f"Loaded {load_demo_keys(engine())} demo assignments and the demo class."


# --- the list -----------------------------------------------------------------------------------

def assignment_rows() -> list[AssignmentSummary]:
    """Each stored assignment: its key, version, YAML, pages graded and answers to review."""
    with db.read_session(engine()) as session:
        return store.assignment_summaries(session)


def save_edited_key(assignment_id: str, widget_key: str) -> str:
    text = st.session_state[widget_key]
    if check_key(text, "the edited key").id != assignment_id:
        raise GraderError(f"the edited key must keep its id {assignment_id!r}; to make another "
                          "assignment, create a new one below")
    return save_key(text, "the edited key")


def regrade(assignment_id: str) -> str:
    """Rescore the stored readings with the latest key; the model judges new accepted answers
    from the stored ink when it is there, else the text does."""
    try:
        likelihoods = stored_ink_likelihoods(recognizer())
    except GraderError:
        likelihoods = None
    with db.write_session(engine()) as session:
        return "Regraded: " + regrade_assignment(session, assignment_id, likelihoods).summary()


def edit_and_regrade(key: AnswerKey, version: int, yaml_text: str, graded: int) -> None:
    if st.toggle("Edit the answer key", key=f"edit-{key.id}"):
        widget_key = f"yaml-{key.id}"
        text = st.text_area("Answer key (YAML)", yaml_text, height=320, key=widget_key)
        if text != yaml_text and validation(text, "the edited key") is not None:
            st.button(f"Save as version {version + 1}", key=f"save-edit-{key.id}",
                      type="primary", on_click=act, args=(save_edited_key, key.id, widget_key))
    if graded:
        st.button(f"Regrade the {graded} graded pages with key version {version}",
                  key=f"regrade-{key.id}", on_click=act, args=(regrade, key.id),
                  help="rescore every stored reading with this key; your overrides are kept")


def roster_students() -> list[Student]:
    with db.read_session(engine()) as session:
        return [Student(s.id, s.name) for s in store.roster_entries(session)]


def show_assignment(row: AssignmentSummary) -> None:
    key, version, yaml_text = row.key, row.key_version, row.yaml_text
    graded, to_review = row.graded_pages, row.to_review
    with st.expander(f"**{key.title}** · `{key.id}` · {len(key.questions)} questions · "
                     f"{graded} pages graded · {to_review} to review"):
        st.caption(f"key version {version} · {key.pages} page(s) · {key.paper} · kinds: "
                   f"{', '.join(sorted({q.kind for q in key.questions}))}")
        per_student = st.checkbox("One sheet per student of the roster (QR names the student)",
                                  key=f"per-student-{key.id}")
        roster = roster_students() if per_student else None
        if per_student and not roster:
            st.warning("The roster is empty: import it on the Roster screen first.")
        if warning := unprintable_warning(key, roster or ()):
            st.warning(warning)
        st.download_button(
            "Download printable worksheet (PDF)",
            # Rendered only when clicked: a class set of sheets takes a few seconds.
            data=lambda: worksheet_pdf_bytes(key, roster or None),
            file_name=f"{key.id}{'-class' if roster else ''}.pdf", mime="application/pdf",
            key=f"pdf-{key.id}")
        st.dataframe(pd.DataFrame([{"id": q.id, "label": q.label, "kind": q.kind,
                                    "answers": " | ".join(q.answers), "points": q.points,
                                    "prompt": q.prompt or ""} for q in key.questions]),
                     hide_index=True, width="stretch")
        edit_and_regrade(key, version, yaml_text, graded)


# --- creating keys ------------------------------------------------------------------------------

def validation(yaml_text: str, source: str) -> AnswerKey | None:
    """The key, or None with the problems shown right here."""
    try:
        return check_key(yaml_text, source)
    except GraderError as error:
        st.error(str(error).replace("\n", "  \n"))
        return None


def from_yaml_upload() -> None:
    upload = st.file_uploader("Answer key (YAML)", type=["yaml", "yml"], key="key-upload")
    if upload is None:
        return
    try:
        text = upload.getvalue().decode("utf-8")
    except UnicodeDecodeError:
        st.error(f"{upload.name}: not a UTF-8 text file")
        return
    key = validation(text, upload.name)
    if key is not None:
        st.success(f"{upload.name}: valid, {len(key.questions)} questions on {key.pages} page(s).")
        st.button("Save this answer key", key="save-yaml", type="primary", on_click=act,
                  args=(save_key, text, upload.name))


EXAMPLE_ROWS = [
    {"id": "q1", "label": "1", "kind": "number", "answers": "12", "points": 1,
     "prompt": "5 + 7 =", "mode": "auto", "threshold": None, "tolerance": None},
    {"id": "q2", "label": "2", "kind": "number", "answers": "0.5 | 1/2", "points": 1,
     "prompt": "1 ÷ 2 =", "mode": "numeric", "threshold": None, "tolerance": None},
    {"id": "q3", "label": "3", "kind": "text", "answers": "apple", "points": 2,
     "prompt": "苹果 in English", "mode": "fuzzy", "threshold": 85.0, "tolerance": None},
]

QUESTION_EDITOR = {
    "kind": st.column_config.SelectboxColumn("kind", options=KINDS, required=True),
    "mode": st.column_config.SelectboxColumn("mode", options=MODES),
    "answers": st.column_config.TextColumn("answers", help="accepted answers, separated by |"),
    "points": st.column_config.NumberColumn("points", min_value=0, step=0.5),
    "threshold": st.column_config.NumberColumn("threshold", help="fuzzy: similarity 0-100"),
    "tolerance": st.column_config.NumberColumn("tolerance", help="numeric: allowed difference"),
}


def from_form() -> None:
    left, middle, right = st.columns([2, 3, 1])
    key_id = left.text_input("Id (letters, digits, - _ .)", key="form-id",
                             placeholder="fractions-week3")
    title = middle.text_input("Title", key="form-title", placeholder="Fractions, week 3")
    paper = right.selectbox("Paper", ["A4", "Letter"], key="form-paper")
    st.caption("One row per question. Boxes are laid out on the sheet for you (22 per page).")
    edited = st.data_editor(pd.DataFrame(EXAMPLE_ROWS), num_rows="dynamic", hide_index=True,
                            column_config=QUESTION_EDITOR, key="form-questions",
                            width="stretch")
    if not key_id.strip():
        st.info("Give the assignment an id to check the key.")
        return
    text = key_yaml_from_form(key_id, title, paper, edited.to_dict("records"))
    key = validation(text, "the form")
    if key is not None:
        st.success(f"Valid: {len(key.questions)} questions on {key.pages} page(s).")
        # A plain button, not a callback: the draft must be this run's, with every edit the
        # click brought along (a callback's arguments are those of the run before).
        if st.button("Save this answer key", key="save-form", type="primary"):
            act(save_key, text, "the form")
            st.rerun()


BOX_EDITOR = {
    **QUESTION_EDITOR,
    **{c: st.column_config.NumberColumn(c, min_value=0.0, max_value=1.0, step=0.001,
                                        format="%.4f") for c in ("x", "y", "w", "h")},
    "page": st.column_config.NumberColumn("page", min_value=1, step=1),
}


@st.cache_data(show_spinner="Straightening the page and looking for answer boxes ...",
               max_entries=4)
def straightened_pages(data: bytes, name: str, paper: str) -> tuple[list, list[list]]:
    """(pages straightened to the paper size, detected boxes per page) of an uploaded sheet."""
    pages = [page_from_image(image, paper) for image in load_images(data, name)]
    return pages, [detect_answer_boxes(page) for page in pages]


def save_own_sheet(key_id: str, title: str, paper: str, rows: list[dict], pages: list) -> str:
    paths = [files().save_template(key_id.strip(), n, page) for n, page in enumerate(pages, 1)]
    return save_key(key_yaml_from_boxes(key_id, title, paper, rows, paths), "your worksheet")


def detected_rows(detected: list[list]) -> list[dict]:
    """Editable rows of the boxes found on every page, numbered across pages, with the answers
    pasted one line per box (in reading order) filled in."""
    rows = [row for number, boxes in enumerate(detected, 1) for row in box_rows(boxes, number)]
    for i, row in enumerate(rows):
        row["id"], row["label"] = f"q{i + 1}", str(i + 1)
    pasted = st.text_area("Accepted answers, one line per box in reading order (alternatives "
                          "separated by |); or type them in the table", key="own-answers",
                          height=100, placeholder="Paris\nRome | Roma\nMadrid")
    for row, line in zip(rows, pasted.splitlines()):
        if line.strip():
            row["answers"] = line.strip()
    return rows


def edit_boxes(rows: list[dict], pages: list, editor_key: str) -> list[dict]:
    """The box table beside a live preview of the page with the boxes as they stand."""
    columns = ["id", "label", "answers", "kind", "points", "page", "x", "y", "w", "h"]
    table, preview = st.columns([3, 2])
    edited = table.data_editor(pd.DataFrame(rows, columns=columns), num_rows="dynamic",
                               hide_index=True, column_config=BOX_EDITOR, key=editor_key,
                               width="stretch", height=min(640, 38 + 35 * (len(rows) + 1)))
    records = edited.to_dict("records")
    with preview:
        shown = (st.number_input("Preview page", 1, len(pages), 1, key="own-preview-page")
                 if len(pages) > 1 else 1)
        on_page = [r for r in records if int(r.get("page") or 1) == shown
                   and all(pd.notna(r.get(c)) for c in ("x", "y", "w", "h"))]
        st.image(to_rgb(draw_boxes(pages[shown - 1],
                                   [(r["x"], r["y"], r["w"], r["h"]) for r in on_page],
                                   ["none"] * len(on_page),
                                   [str(r.get("label") or "") for r in on_page])),
                 caption="Your sheet with the boxes as they stand in the table",
                 width="stretch")
    return records


def offer_saving(paper: str, records: list[dict], pages: list) -> None:
    left, right = st.columns(2)
    key_id = left.text_input("Id", key="own-id", placeholder="my-quiz-1")
    title = right.text_input("Title", key="own-title", placeholder="My quiz 1")
    if not key_id.strip():
        st.info("Give the assignment an id to save it as an answer key.")
        return
    # Templates named in the check are placeholders: the real images are written on save.
    draft = key_yaml_from_boxes(key_id, title, paper, records,
                                [f"page-{n}.png" for n in range(1, len(pages) + 1)])
    # As grader.own_sheet.save_template_key: a key still holding "?" placeholders is not saved.
    unanswered = [str(r.get("label")) for r in records if str(r.get("answers")).strip() == "?"]
    if unanswered:
        st.warning(f"Questions {', '.join(unanswered)} still have “?” as their answer: give the "
                   "accepted answers above or in the table to save the key.")
    elif validation(draft, "your worksheet") is not None:
        if st.button("Save as answer key", key="save-own", type="primary"):  # this run's table
            act(save_own_sheet, key_id, title, paper, records, pages)
            st.rerun()


def from_own_sheet() -> None:
    st.caption("Upload a photo, scan or PDF of your blank worksheet: the answer boxes found on it "
               "are proposed in reading order. Adjust, add or delete them in the table (x, y, w, "
               "h are fractions of the page); the preview follows your edits.")
    paper = st.selectbox("Paper", ["A4", "Letter"], key="own-paper")
    upload = st.file_uploader("Blank worksheet", type=["jpg", "jpeg", "png", "webp", "pdf"],
                              key="own-upload")
    if upload is None:
        return
    try:
        pages, detected = straightened_pages(upload.getvalue(), upload.name, paper)
    except GraderError as error:
        st.error(str(error))
        return
    st.write(f"Found **{sum(map(len, detected))}** answer boxes on {len(pages)} page(s).")
    rows = detected_rows(detected)
    records = edit_boxes(rows, pages, f"own-boxes-{upload.file_id}")
    offer_saving(paper, records, pages)


# --- the screen ---------------------------------------------------------------------------------

st.title("Assignments")
show_flash()
listed = assignment_rows()
if not listed:
    st.info("No assignments yet: create one below, or start with the demo assignments.")
    st.button("Load the demo assignments", key="load-demo", on_click=act, args=(load_demo,))
for row in listed:
    show_assignment(row)

st.subheader("New assignment")
yaml_tab, form_tab, own_tab = st.tabs(["From a YAML file", "With a form", "From your own sheet"])
with yaml_tab:
    from_yaml_upload()
with form_tab:
    from_form()
with own_tab:
    from_own_sheet()
