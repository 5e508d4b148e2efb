"""Grade: upload photos and PDFs of filled-in sheets; each page graded and stored, shown with
its answer boxes in their verdict's colour and the student it belongs to (changeable); photos
that failed are listed with the reason and kept for a retry. The upload is kept and named in
the URL before grading, so after a refresh the screen says which of its photos are graded and
grades the rest. Pages and failed photos can be deleted (asked first, undo after)."""

from __future__ import annotations

import streamlit as st

from grader import db, store
from grader.app_support import (
    UploadItem,
    annotated_page,
    check_upload,
    record_upload,
    to_rgb,
    upload_items,
    upload_status,
)
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
from pages._common import (
    act,
    delete_button,
    engine,
    files,
    flash,
    pick_assignment,
    recognizer,
    show_flash,
    show_undo,
)

PHOTO_TYPES = ["jpg", "jpeg", "heic", "heif", "png", "webp", "bmp", "tif", "tiff", "pdf"]
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


def grade_uploads(assignment_id: str, uploads: list[Photo], model) -> list[PageResult]:
    """Every uploaded file graded into the gradebook (failed photos kept for a retry, a
    thumbnail of each page), with a progress bar."""
    context = prepare(engine(), KeyRef(assignment_id))
    bar = st.progress(0.0, text=f"Grading {len(uploads)} file(s) ...")
    done = 0

    def advance() -> None:
        nonlocal done
        done += 1
        bar.progress(done / len(uploads), text=f"Graded {done} of {len(uploads)} file(s)")

    photos = iter(uploads)
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


def start_grading(assignment_id: str, uploads: list[Photo], model) -> None:
    """Keep the upload under a token in the URL first, then grade it: a refresh in between
    finds the token and shows what is graded and what is not."""
    token = record_upload(files(), [(p.name, p.data) for p in uploads])
    st.query_params["upload"] = token
    try:
        report(grade_uploads(assignment_id, uploads, model))
    except GraderError as error:
        flash("error", str(error))


def grade_rest(assignment_id: str, waiting: list[UploadItem], model) -> None:
    kept = [(item, files().photo(item.sha256)) for item in waiting]
    photos = [Photo(item.name, data) for item, data in kept if data is not None]
    try:
        report(grade_uploads(assignment_id, photos, model))
    except GraderError as error:
        flash("error", str(error))


def last_upload(assignment_id: str, model) -> None:
    """The upload named in the URL (?upload=...): each file graded, failed or still waiting."""
    token = st.query_params.get("upload")
    items = upload_items(files(), token) if token else None
    if not items:
        return
    with db.read_session(engine()) as session:
        status = upload_status(session, assignment_id, items)
    waiting = [s for s in status if s.state == "waiting"]
    with st.container(border=True):
        done = len(status) - len(waiting)
        st.markdown(f"**Your last upload:** {done} of {len(status)} file(s) graded or failed"
                    + (f", **{len(waiting)} not graded yet** (the page was reloaded while "
                       "grading)." if waiting else "."))
        st.dataframe([{"file": s.name, "state": s.state, "detail": s.detail} for s in status],
                     hide_index=True, width="stretch")
        left, right = st.columns(2)
        if waiting and left.button(f"Grade the {len(waiting)} file(s) not graded yet",
                                   key="grade-rest", type="primary", disabled=not model):
            grade_rest(assignment_id, waiting, model)
            st.rerun()
        if right.button("Hide this list", key="forget-upload"):
            del st.query_params["upload"]
            st.rerun()


@st.cache_data(show_spinner=False, max_entries=200)
def photo_check(data: bytes, name: str, expect_markers: bool):
    return check_upload(data, name, expect_markers)


def check_photos(uploads: list, expect_markers: bool) -> None:
    """Before grading: each photo that should be taken again, with the reason."""
    retake = []
    for upload in uploads:
        check = photo_check(upload.getvalue(), upload.name, expect_markers)
        if check is not None and not check.ok:
            retake.append((upload.name, check.problems))
    if not retake:
        if uploads:
            st.caption(f"Photo check: {len(uploads)} file(s) look fine.")
        return
    with st.container(border=True):
        st.markdown(f":orange[**Retake {len(retake)} photo(s)**] (or grade them anyway):")
        for name, problems in retake:
            st.markdown(f"- **{name}**: " + "; ".join(problems))


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
    if current == UNASSIGNED and submission.name_text:
        st.caption(f"read: {submission.name_text}")
    with st.expander("Answers as read"):
        st.dataframe([{"q": a.question_id, "read": a.text, "verdict": a.verdict,
                       "points": f"{a.points:g}/{a.max_points:g}", "status": a.status}
                      for a in submission.answers], hide_index=True, width="stretch")
    delete_button("Delete this page", f"delete-page-{submission.id}", store.delete_submission,
                  submission.id)


st.title("Grade")
show_flash()
show_undo()
assignment_id = pick_assignment()
if assignment_id is None:
    st.stop()
model = model_or_message()
last_upload(assignment_id, model)

uploads = st.file_uploader("Photos or PDFs of filled-in worksheets", type=PHOTO_TYPES,
                           accept_multiple_files=True,
                           key=f"uploads-{st.session_state.get('upload_round', 0)}",
                           help="photos straight from the phone (JPEG or HEIC), scans or PDFs")
with db.read_session(engine()) as session:
    own_sheet = bool(store.load_key(session, assignment_id)[0].templates)
check_photos(uploads, expect_markers=not own_sheet)
if st.button(f"Grade {len(uploads)} file(s)", type="primary", disabled=not uploads or not model,
             key="grade"):
    start_grading(assignment_id, [Photo(u.name, u.getvalue()) for u in uploads], model)
    # A fresh uploader, so the same files are not offered for grading again.
    st.session_state["upload_round"] = st.session_state.get("upload_round", 0) + 1
    st.rerun()

with db.read_session(engine()) as session:
    key, _ = store.load_key(session, assignment_id)
    names = {s.id: f"{s.name} ({s.id})" for s in store.roster_entries(session)}
    pages = store.page_views(session, assignment_id, limit=SHOWN_PAGES)
    failed = [(f.id, f.photo_name, f.error or "")
              for f in store.failed_submissions(session, assignment_id)]
if failed:
    st.subheader(f"Failed photos ({len(failed)})")
    st.caption("Kept with the reason; fix the cause (a retake, the right assignment) or "
               "retry.")
    for submission_id, photo_name, reason in failed:
        with st.container(border=True):  # markdown, not a table cell: a long reason wraps
            st.markdown(f"**{photo_name}**  \n{reason}")
            delete_button("Delete this photo", f"delete-failed-{submission_id}",
                          store.delete_submission, submission_id)
    st.button("Retry failed photos", key="retry", disabled=not model, on_click=act,
              args=(retry, assignment_id, model))
st.subheader(f"Graded pages ({len(pages)} newest)")
st.markdown(LEGEND)
columns = st.columns(3)
for index, submission in enumerate(pages):
    with columns[index % 3].container(border=True):
        show_page(submission, key, names)
