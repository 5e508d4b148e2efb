"""Assignments: the stored answer keys with their printable worksheets; new keys from a YAML
file, from a form, or from the teacher's own blank sheet with its answer boxes detected."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from grader import db, store
from grader.answer_key import AnswerKey
from grader.app_support import (
    answers_from_lines,
    apply_table_edits,
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

# The form speaks the teacher's words: a question's kind is "number / word / Chinese / math /
# choice" (the key's values stay number / text / chinese / math / choice).
KIND_WORDS = {Kind.NUMBER: "number", Kind.TEXT: "word", Kind.CHINESE: "Chinese",
              Kind.MATH: "math", Kind.CHOICE: "choice"}
QUESTION_EDITOR = {
    "label": st.column_config.TextColumn("question", help="what the sheet prints before the box, "
                                                          "e.g. 1 or 3a"),
    "prompt": st.column_config.TextColumn("prompt", help="the question as printed on the sheet "
                                                         "(optional)"),
    "answers": st.column_config.TextColumn("answer", help="the right answer; several accepted "
                                                          "answers separated by |, e.g. 0.5 | 1/2"),
    "points": st.column_config.NumberColumn("points", min_value=0, step=0.5,
                                            help="what a right answer earns"),
    "kind": st.column_config.SelectboxColumn(
        "kind", options=list(KIND_WORDS), required=True, format_func=lambda k: KIND_WORDS[k],
        help="number / word / Chinese / math / choice: what the grader expects to read"),
    "mode": st.column_config.SelectboxColumn(
        "matching", options=MODES, help="auto suits most questions; fuzzy forgives a slip in a "
                                        "word; numeric compares values"),
    "threshold": st.column_config.NumberColumn("fuzzy %", help="fuzzy matching: how similar "
                                                               "(0-100) still counts as right"),
    "tolerance": st.column_config.NumberColumn("± tolerance", help="numeric matching: the "
                                                                   "difference still right"),
    "id": st.column_config.TextColumn("id", help="the question's id in the gradebook and CSV"),
}
FORM_COLUMNS = ["label", "prompt", "answers", "points", "kind", "mode", "threshold", "tolerance",
                "id"]


def from_form() -> None:
    left, middle, right = st.columns([2, 3, 1])
    key_id = left.text_input("Id (letters, digits, - _ .)", key="form-id",
                             placeholder="fractions-week3")
    title = middle.text_input("Title", key="form-title", placeholder="Fractions, week 3")
    paper = right.selectbox("Paper", ["A4", "Letter"], key="form-paper")
    st.caption("One row per question: its answer, points and kind (hover a column's name for "
               "help). The boxes are laid out on the sheet for you, 22 per page.")
    edited = st.data_editor(pd.DataFrame(EXAMPLE_ROWS), num_rows="dynamic", hide_index=True,
                            column_config=QUESTION_EDITOR, column_order=FORM_COLUMNS,
                            key="form-questions", width="stretch")
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


BOX_COLUMNS = ["label", "answers", "kind", "points", "page", "x", "y", "w", "h", "id"]


def detected_rows(detected: list[list]) -> list[dict]:
    """Editable rows of the boxes found on every page, numbered across pages."""
    rows = [row for number, boxes in enumerate(detected, 1) for row in box_rows(boxes, number)]
    for i, row in enumerate(rows):
        row["id"], row["label"] = f"q{i + 1}", str(i + 1)
    return rows


class BoxTable:
    """The box rows of one uploaded sheet, kept in the session: the table's edits, the pasted
    answers and the kind set for many rows all change these rows, and the table is drawn
    afresh from them, so a deleted row stays deleted whatever is done next."""

    def __init__(self, file_id: str, detected: list[list]):
        self.key = f"own-rows-{file_id}"
        if self.key not in st.session_state:
            st.session_state[self.key] = {"rows": detected_rows(detected), "version": 0}

    @property
    def rows(self) -> list[dict]:
        return st.session_state[self.key]["rows"]

    @property
    def editor_key(self) -> str:
        return f"{self.key}-editor-{st.session_state[self.key]['version']}"

    def replace(self, rows: list[dict]) -> None:
        state = st.session_state[self.key]
        state["rows"], state["version"] = rows, state["version"] + 1  # a fresh, edit-free table

    def take_edits(self) -> bool:
        """Fold the table's pending edits into the rows; True when there were any."""
        edits = st.session_state.get(self.editor_key) or {}
        if not any(edits.get(k) for k in ("edited_rows", "added_rows", "deleted_rows")):
            return False
        self.replace(apply_table_edits(self.rows, edits))
        return True

    def paste_answers(self, widget_key: str) -> None:
        """The pasted lines, one per box in the table's order (deleted rows have no line)."""
        self.replace(answers_from_lines(self.rows, st.session_state[widget_key]))

    def set_kind(self, labels_key: str, kind_key: str) -> None:
        chosen, kind = set(st.session_state[labels_key]), st.session_state[kind_key]
        self.replace([{**r, "kind": kind} if str(r.get("label")) in chosen else r
                      for r in self.rows])


def answers_and_kinds(table: BoxTable) -> None:
    st.text_area("Accepted answers, one line per box in the table's order (alternatives "
                 "separated by |); or type them in the table", key="own-answers", height=100,
                 placeholder="Paris\nRome | Roma\nMadrid", on_change=table.paste_answers,
                 args=("own-answers",))
    labels = [str(r.get("label")) for r in table.rows]
    which, kind, apply = st.columns([3, 2, 1], vertical_alignment="bottom")
    which.multiselect("Questions", labels, key="own-kind-rows", placeholder="pick questions")
    kind.selectbox("Kind", list(KIND_WORDS), key="own-kind", format_func=KIND_WORDS.get)
    apply.button("Set kind", key="own-set-kind", on_click=table.set_kind,
                 args=("own-kind-rows", "own-kind"),
                 disabled=not st.session_state.get("own-kind-rows"))


def edit_boxes(table: BoxTable, pages: list) -> list[dict]:
    """The box table beside a live preview of the page with the boxes as they stand."""
    rows = table.rows
    left, preview = st.columns([3, 2])
    left.data_editor(pd.DataFrame(rows, columns=BOX_COLUMNS), num_rows="dynamic",
                     hide_index=True, column_config=BOX_EDITOR, key=table.editor_key,
                     width="stretch", height=min(640, 38 + 35 * (len(rows) + 1)))
    if table.take_edits():
        st.rerun()  # the table again, from the rows with the edits in them
    with preview:
        shown = (st.number_input("Preview page", 1, len(pages), 1, key="own-preview-page")
                 if len(pages) > 1 else 1)
        on_page = [r for r in rows if int(r.get("page") or 1) == shown
                   and all(pd.notna(r.get(c)) for c in ("x", "y", "w", "h"))]
        st.image(to_rgb(draw_boxes(pages[shown - 1],
                                   [(r["x"], r["y"], r["w"], r["h"]) for r in on_page],
                                   ["none"] * len(on_page),
                                   [str(r.get("label") or "") for r in on_page])),
                 caption="Your sheet with the boxes as they stand in the table",
                 width="stretch")
    return rows


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
    st.write(f"Found **{sum(map(len, detected))}** answer boxes on {len(pages)} page(s) "
             "(corner squares, QR code and name box left out).")
    table = BoxTable(f"{upload.file_id}-{paper}", detected)
    answers_and_kinds(table)
    records = edit_boxes(table, pages)
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
form_tab, own_tab, yaml_tab = st.tabs(["With a form", "From your own sheet", "From a YAML file"])
with form_tab:
    from_form()
with own_tab:
    from_own_sheet()
with yaml_tab:
    from_yaml_upload()
