"""Results that leave the gradebook: students' marked sheets (PDF), the term gradebook, the
import files of Canvas and Google Classroom, XLSX, and the pages matched to no student. The same
store, export and feedback functions as `python -m grader export` and `feedback`."""

from __future__ import annotations

from typing import Any, Literal

import anyio
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from grader import db, export, feedback, store
from grader.api.errors import ApiError
from grader.api.inputs import checked_assignment_id
from grader.api.runtime import SharedEngine
from grader.api.schemas import ErrorBody
from grader.files import FileStore
from grader.template import template_image

XLSX = export.XLSX_MIME
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "Unknown assignment or student"}}


def _engine(request: Request) -> SharedEngine:
    return request.app.state.api.engine


def _file(data: bytes, media_type: str, name: str) -> Response:
    return Response(data, media_type=media_type,
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


def _known(session, assignment_id: str) -> None:
    if not store.has_assignment(session, assignment_id):
        raise ApiError(404, f"no assignment {assignment_id!r} in the gradebook; grade photos for it first")


def router(require_token) -> APIRouter:
    """The endpoints, behind the API's bearer token."""
    results = APIRouter(dependencies=[Depends(require_token)], tags=["results"])

    @results.get("/assignments/{assignment_id}/feedback/{student_id}.pdf", response_class=Response,
                 responses={200: {"content": {"application/pdf": {}}}, **_NOT_FOUND,
                            409: {"model": ErrorBody, "description": "Answers still in review"}})
    async def student_feedback(request: Request, assignment_id: str, student_id: str,
                               provisional: bool = False, show_answers: bool = False) -> Response:
        """One student's marked sheet. Answers still in review: 409 with their count, unless
        `provisional=true` marks them provisional; `show_answers=true` writes the accepted
        answer beside a wrong one."""
        checked_assignment_id(assignment_id)
        options = feedback.FeedbackOptions(provisional, show_answers)
        data = await anyio.to_thread.run_sync(_feedback_pdf, _engine(request), assignment_id, student_id, options)
        return _file(data, "application/pdf", f"{student_id}-{assignment_id}.pdf")

    @results.get("/assignments/{assignment_id}/feedback.pdf", response_class=Response,
                 responses={200: {"content": {"application/pdf": {}}}, **_NOT_FOUND,
                            409: {"model": ErrorBody, "description": "Answers still in review"}})
    async def class_feedback(request: Request, assignment_id: str, provisional: bool = False,
                             show_answers: bool = False) -> Response:
        """The class pack: every student's marked sheet in roster order, each on a new page."""
        checked_assignment_id(assignment_id)
        options = feedback.FeedbackOptions(provisional, show_answers)
        data = await anyio.to_thread.run_sync(_feedback_pdf, _engine(request), assignment_id, None, options)
        return _file(data, "application/pdf", f"{assignment_id}-feedback.pdf")

    @results.get("/assignments/{assignment_id}/gradebook.xlsx", response_class=Response,
                 responses={200: {"content": {XLSX: {}}}, **_NOT_FOUND})
    async def gradebook_xlsx(request: Request, assignment_id: str) -> Response:
        """The gradebook as XLSX: sheet "Gradebook" (every roster student, `missing` without a
        page) and sheet "Unassigned pages"."""
        checked_assignment_id(assignment_id)
        data = await anyio.to_thread.run_sync(_book_file, _engine(request), assignment_id, "xlsx")
        return _file(data, XLSX, f"{assignment_id}-gradebook.xlsx")

    @results.get("/assignments/{assignment_id}/unassigned.csv", response_class=Response,
                 responses={200: {"content": {"text/csv": {}}}, **_NOT_FOUND})
    async def unassigned_csv(request: Request, assignment_id: str) -> Response:
        """Pages matched to no student (never in the students' rows), to assign by hand."""
        checked_assignment_id(assignment_id)
        data = await anyio.to_thread.run_sync(_book_file, _engine(request), assignment_id, "unassigned")
        return _file(data, "text/csv; charset=utf-8", f"{assignment_id}-unassigned.csv")

    @results.get("/gradebook/term.csv", response_class=Response,
                 responses={200: {"content": {"text/csv": {}}}, **_NOT_FOUND})
    async def term_csv(request: Request, mode: Literal["percent", "points"] = "percent",
                       format: Literal["csv", "canvas", "classroom"] = "csv",
                       assignments: list[str] | None = Query(None)) -> Response:
        """The term gradebook: a row per student, a column per assignment (percent or points),
        totals; `format=canvas` or `classroom` for those systems' grade import."""
        data = await anyio.to_thread.run_sync(_term_file, _engine(request), mode, format, assignments)
        return _file(data, "text/csv; charset=utf-8", f"term-{format}.csv")

    @results.get("/gradebook/term.xlsx", response_class=Response,
                 responses={200: {"content": {XLSX: {}}}, **_NOT_FOUND})
    async def term_xlsx(request: Request, mode: Literal["percent", "points"] = "percent",
                        assignments: list[str] | None = Query(None)) -> Response:
        """The term gradebook as XLSX."""
        data = await anyio.to_thread.run_sync(_term_file, _engine(request), mode, "xlsx", assignments)
        return _file(data, XLSX, "term-gradebook.xlsx")

    return results


def _feedback_pdf(shared: SharedEngine, assignment_id: str, student_id: str | None,
                  options: feedback.FeedbackOptions) -> bytes:
    engine = shared.get()
    with db.read_session(engine) as session:
        _known(session, assignment_id)
        key, _ = store.load_key(session, assignment_id)
        sheets = store.student_sheets(session, assignment_id, student_id)
    if not sheets:
        who = f"student {student_id!r}" if student_id else "any student"
        raise ApiError(404, f"no graded page of {who} for {assignment_id!r}")
    try:
        feedback.check_reviewed(sheets, options)
    except feedback.ReviewPending as error:
        raise ApiError(409, f"{error} (provisional=true)") from None
    files = FileStore.for_engine(engine)
    return feedback.sheets_pdf(key, sheets, options, template_image,
                               lambda page: files.thumbnail(page.photo_sha256, page.source_page))


def _book_file(shared: SharedEngine, assignment_id: str, what: str) -> bytes:
    with db.read_session(shared.get()) as session:
        _known(session, assignment_id)
        book = store.gradebook(session, assignment_id)
    return export.gradebook_xlsx(book) if what == "xlsx" else export.unassigned_csv(book).encode("utf-8")


def _term_file(shared: SharedEngine, mode: str, format: str, assignments: list[str] | None) -> bytes:
    with db.read_session(shared.get()) as session:
        for assignment_id in assignments or ():
            _known(session, checked_assignment_id(assignment_id))
        term = store.term_gradebook(session, assignments)
    if format == "xlsx":
        return export.term_xlsx(term, mode)
    if format == "canvas":
        return export.canvas_csv(term).encode("utf-8")
    if format == "classroom":
        return export.classroom_csv(term).encode("utf-8")
    return export.term_csv(term, mode).encode("utf-8")
