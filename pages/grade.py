"""Grade: upload photos and PDFs of filled-in sheets; each page graded and stored, shown with
its answer boxes in their verdict's colour and the student it belongs to (changeable); photos
that failed are listed with the reason and kept for a retry."""

from __future__ import annotations

import streamlit as st

from grader import db, store
from grader.app_support import annotated_page, to_rgb
from grader.errors import GraderError
from grader.grading import (
    GradeOptions,
    KeyRef,
    PageResult,
    Photo,
    grade_photos,
    prepare,
    retry_failed,
)
from grader.store import PageView
from pages._common import act, engine, files, flash, pick_assignment, recognizer, show_flash

PHOTO_TYPES = ["jpg", "jpeg", "png", "webp", "bmp", "tif", "tiff", "pdf"]
UNASSIGNED = "— not identified —"
SHOWN_PAGES = 24  # newest graded pages shown with their thumbnails
LEGEND = (":green[■ correct] · :red[■ incorrect] · :orange[■ review] · :gray[■ blank] · "
          ":blue[■ partial]")


def model_or_message():
    try:
        return recognizer()
    except GraderError as error:
        st.error(f"Grading is not possible right now: {error}")
        return None


def grade_uploads(assignment_id: str, uploads: list, model) -> list[PageResult]:
    """Every uploaded file graded into the gradebook (failed photos kept for a retry, a
    thumbnail of each page), with a progress bar."""
    context = prepare(engine(), KeyRef(assignment_id))
    bar = st.progress(0.0, text=f"Grading {len(uploads)} file(s) ...")
    done = 0

    def advance() -> None:
        nonlocal done
        done += 1
        bar.progress(done / len(uploads), text=f"Graded {done} of {len(uploads)} file(s)")

    photos = (Photo(upload.name, upload.getvalue()) for upload in uploads)
    results = list(grade_photos(engine(), context, photos, model,
                                GradeOptions(keep_photo=True, keep_page=True), files(), advance))
    bar.progress(1.0, text="Done")
    return results


def report(results: list[PageResult]) -> None:
    graded = sum(r.error is None and not r.already_graded for r in results)
    again = sum(r.already_graded for r in results)
    failed = [r for r in results if r.error]
    flash("success" if not failed else "warning",
          f"{graded} pages graded, {again} already in the gradebook, {len(failed)} failed.")
    for r in failed:
        flash("error", f"{r.label}: {r.error}")


def set_student(submission_id: int, widget_key: str, names: dict[str, str]) -> str:
    chosen = st.session_state[widget_key]
    student_id = None if chosen == UNASSIGNED else chosen
    with db.write_session(engine()) as session:
        store.assign_student(session, submission_id, student_id)
    return f"Page {submission_id} now belongs to {names.get(student_id, 'nobody')}."


def retry(assignment_id: str, model) -> str:
    results = retry_failed(engine(), prepare(engine(), KeyRef(assignment_id)), files(), model)
    still = sum(r.error is not None for r in results)
    return f"Retried {len(results)} pages: {len(results) - still} graded, {still} still failing."


def show_page(submission: PageView, key, names: dict[str, str]) -> None:
    total, maximum = submission.total, submission.max_points
    thumb = files().thumbnail(submission.photo_sha256, submission.source_page)
    if thumb is not None:
        st.image(to_rgb(annotated_page(thumb, key, submission.page or 1, submission.answers)),
                 width="stretch")
    else:
        st.caption("(no thumbnail kept for this page)")
    st.markdown(f"**{total:g} / {maximum:g}** · {submission.photo_name} · "
                f"page {submission.page} · {submission.registration_method}")
    options = [UNASSIGNED, *names]
    current = submission.student_id if submission.student_id in names else UNASSIGNED
    widget_key = f"student-{submission.id}"
    how = {"qr": "from the QR code", "name": f"name read as “{submission.name_text}”",
           "teacher": "set by you"}.get(submission.student_method, "not identified")
    st.selectbox(f"Student ({how})", options, index=options.index(current),
                 format_func=lambda s: names.get(s, s), key=widget_key,
                 on_change=act, args=(set_student, submission.id, widget_key, names))
    with st.expander("Answers as read"):
        st.dataframe([{"q": a.question_id, "read": a.text, "verdict": a.verdict,
                       "points": f"{a.points:g}/{a.max_points:g}", "status": a.status}
                      for a in submission.answers], hide_index=True, width="stretch")


st.title("Grade")
show_flash()
assignment_id = pick_assignment()
if assignment_id is None:
    st.stop()
model = model_or_message()

uploads = st.file_uploader("Photos or PDFs of filled-in worksheets", type=PHOTO_TYPES,
                           accept_multiple_files=True,
                           key=f"uploads-{st.session_state.get('upload_round', 0)}")
if st.button(f"Grade {len(uploads)} file(s)", type="primary", disabled=not uploads or not model,
             key="grade"):
    try:
        report(grade_uploads(assignment_id, uploads, model))
    except GraderError as error:
        flash("error", str(error))
    # A fresh uploader, so the same files are not offered for grading again.
    st.session_state["upload_round"] = st.session_state.get("upload_round", 0) + 1
    st.rerun()

with db.read_session(engine()) as session:
    key, _ = store.load_key(session, assignment_id)
    names = {s.id: f"{s.name} ({s.id})" for s in store.roster_entries(session)}
    pages = store.page_views(session, assignment_id, limit=SHOWN_PAGES)
    failed = store.failed_photos(session, assignment_id)
if failed:
    st.subheader(f"Failed photos ({len(failed)})")
    st.caption("Kept with the reason; fix the cause (a retake, the right assignment) or "
               "retry.")
    st.dataframe([{"photo": f.photo_name, "reason": f.error} for f in failed],
                 hide_index=True, width="stretch")
    st.button("Retry failed photos", key="retry", disabled=not model, on_click=act,
              args=(retry, assignment_id, model))
st.subheader(f"Graded pages ({len(pages)} newest)")
st.markdown(LEGEND)
columns = st.columns(3)
for index, submission in enumerate(pages):
    with columns[index % 3].container(border=True):
        show_page(submission, key, names)
