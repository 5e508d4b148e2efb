"""The endpoints: `/health` open, the others behind the bearer token; CPU-heavy work runs in
worker threads under the runtime's limiters."""

from __future__ import annotations

import hmac
import logging
import math
import time
from pathlib import Path
from typing import Any

import anyio
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException

from grader import db, export, jobs, store
from grader.answer_key import AnswerKey, load_answer_key
from grader.api.errors import ApiError
from grader.api.inputs import checked_assignment_id, decode_crop, grade_input, ocr_input
from grader.api.runtime import ApiState, SharedEngine, SharedRecognizer
from grader.api.schemas import (
    ERROR_RESPONSES,
    GRADE_BODY_SCHEMA,
    JOBS_BODY_SCHEMA,
    OCR_BODY_SCHEMA,
    AssignmentInfo,
    AssignmentList,
    ErrorBody,
    GradeResponse,
    Health,
    JobAccepted,
    JobStatus,
    OcrResult,
)
from grader.api.settings import ApiSettings
from grader.errors import (
    AnswerKeyInvalid,
)
from grader.grading import KeyNotFound, KeyRef, Photo, grade_photos, prepare

log = logging.getLogger("grader.api")


def state(request: Request) -> ApiState:
    return request.app.state.api


_bearer = HTTPBearer(auto_error=False, description="GRADER_API_TOKEN")


def require_token(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> None:
    """401 unless the bearer token matches GRADER_API_TOKEN (no token configured: open); 429
    while the client (behind a trusted proxy: the client it names) must wait after wrong tokens."""
    api = state(request)
    expected = api.settings.token
    if expected is None:
        return
    if not credentials:  # no token at all is a forgotten header, not a guess: not counted
        raise HTTPException(401, WRONG_TOKEN, headers={"WWW-Authenticate": "Bearer"})
    client = request.client.host if request.client else "unknown"
    # compare_digest on bytes: constant time, and no TypeError on non-ASCII input
    attempt = api.token_throttle.check(
        client, time.monotonic(), lambda: hmac.compare_digest(credentials.credentials.encode(), expected.encode()))
    if attempt.held:
        wait = math.ceil(attempt.wait_s)
        raise HTTPException(429, f"too many wrong API tokens from {client}: wait {wait} s and try again",
                            headers={"Retry-After": str(wait)})
    if not attempt.ok:
        raise HTTPException(401, WRONG_TOKEN, headers={"WWW-Authenticate": "Bearer"})


WRONG_TOKEN = "missing or wrong API token (send 'Authorization: Bearer <token>')"


public = APIRouter()
# Dependencies run before the endpoints read the body (they parse it themselves), so an
# anonymous caller never makes the server parse an upload.
guarded = APIRouter(dependencies=[Depends(require_token)], responses={401: ERROR_RESPONSES[401]})


@public.get("/health", response_model=Health, tags=["service"])
def health(request: Request) -> Health:
    """Liveness: no token needed."""
    api = state(request)
    return Health(
        model_loaded=api.recognizer.loaded,
        auth_required=api.settings.token is not None,
        max_body_bytes=api.settings.max_body_bytes,
    )


@guarded.post(
    "/ocr",
    response_model=OcrResult,
    responses={**ERROR_RESPONSES, 503: {"model": ErrorBody, "description": "Model files missing"}},
    openapi_extra={"requestBody": OCR_BODY_SCHEMA},
    tags=["recognition"],
)
async def ocr(request: Request) -> OcrResult:
    """Read the handwriting in one answer crop.

    Send JSON `{"image_base64": "...", "kind": "number"}` (kind optional) or a multipart form
    with the image in `file` (and optionally `kind`).
    """
    api = state(request)
    data, kind, label = await ocr_input(request, api.settings.max_files_per_request)
    started = time.perf_counter()
    gray = await anyio.to_thread.run_sync(decode_crop, data, label, limiter=api.inference)
    reading = await api.batcher.read(gray, kind)
    elapsed_ms = round((time.perf_counter() - started) * 1000)
    return OcrResult(text=reading.text, confidence=round(float(reading.confidence), 4), time_used_ms=elapsed_ms)


@guarded.post(
    "/grade",
    responses={200: {"model": GradeResponse}, 404: {"model": ErrorBody, "description": "Unknown assignment"},
               **ERROR_RESPONSES, 503: {"model": ErrorBody, "description": "Model or database unavailable"}},
    openapi_extra={"requestBody": GRADE_BODY_SCHEMA},
    tags=["grading"],
)
async def grade(request: Request) -> JSONResponse:
    """Grade photos or PDFs of filled-in worksheets and store the results in the gradebook.

    Multipart form: `assignment` (the answer key's id) and one or more `photos`. The results
    are those of `python -m grader grade --json`, one per photo or PDF page, in upload order;
    a photo that fails gives `{"photo", "error"}` and the others are still graded.

    For small requests: the answer comes when every photo is graded, and one request holds at
    most the body limit (GRADER_API_MAX_BODY_MB, default 20 MB) and 200 files. A class's batch
    goes to POST /jobs, which answers at once.
    """
    api = state(request)
    assignment_id, uploads = await grade_input(request, api.settings.max_files_per_request)
    body = await anyio.to_thread.run_sync(
        _grade_uploads, api.settings, api.engine, api.recognizer, assignment_id, uploads, limiter=api.grading
    )
    return JSONResponse(body)


@guarded.post(
    "/jobs",
    status_code=202,
    response_model=JobAccepted,
    responses={404: {"model": ErrorBody, "description": "Unknown assignment"}, **ERROR_RESPONSES,
               503: {"model": ErrorBody, "description": "Database unavailable"}},
    openapi_extra={"requestBody": JOBS_BODY_SCHEMA},
    tags=["grading"],
)
async def submit_job(request: Request) -> JSONResponse:
    """Queue photos, PDFs or zips of them for grading in the background; answers 202 with the
    job's id at once. Multipart form as for POST /grade. The job is kept in the gradebook, so a
    server restarted mid-job finishes it; GET /jobs/{id} gives its progress and results."""
    api = state(request)
    assignment_id, uploads = await grade_input(request, api.settings.max_files_per_request)
    job_id = await anyio.to_thread.run_sync(_submit, api.settings, api.engine, assignment_id, uploads)
    api.jobs.add(job_id)
    view = await anyio.to_thread.run_sync(jobs.view, api.engine.get(), job_id)
    return JSONResponse(JobAccepted(id=job_id, state=view.state, files=view.files).model_dump(),
                        status_code=202, headers={"Location": f"/jobs/{job_id}"})


@guarded.get(
    "/jobs/{job_id}",
    response_model=JobStatus,
    responses={404: {"model": ErrorBody, "description": "Unknown job"}},
    tags=["grading"],
)
async def job_status(request: Request, job_id: str) -> JSONResponse:
    """A job's state (queued, running, done, failed), how many of its files are graded, and
    when done its results: one per photo or PDF page, in upload order, as POST /grade gives."""
    try:
        view = await anyio.to_thread.run_sync(jobs.view, state(request).engine.get(), job_id)
    except jobs.JobNotFound as error:
        raise ApiError(404, str(error)) from None
    return JSONResponse({"success": True, **view.as_json()})


def _submit(settings: ApiSettings, shared_engine: SharedEngine, assignment_id: str,
            uploads: list[Photo]) -> str:
    """Check the assignment's key exists (a 404 now rather than a failed job later) and store
    the job with its files."""
    engine = shared_engine.get()
    try:
        prepare(engine, KeyRef(assignment_id), keys_dir=settings.answer_keys_dir, config=settings.grading)
    except KeyNotFound as error:
        raise ApiError(404, str(error)) from None
    return jobs.submit(engine, assignment_id, uploads)


@guarded.get("/assignments", response_model=AssignmentList, tags=["grading"])
async def assignments(request: Request) -> AssignmentList:
    """Assignments known to the gradebook or with an answer key file, with their sizes."""
    api = state(request)
    return AssignmentList(assignments=await anyio.to_thread.run_sync(_list_assignments, api.settings, api.engine))


@guarded.get(
    "/assignments/{assignment_id}/gradebook.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}, "description": "The gradebook as `export` writes it"},
               404: {"model": ErrorBody, "description": "Unknown assignment"}},
    tags=["grading"],
)
async def gradebook_csv(request: Request, assignment_id: str, long: bool = False) -> Response:
    """The gradebook as CSV, as `python -m grader export` writes it (UTF-8 with BOM, formula
    cells neutralised): one row per student, or one row per answer with `?long=true`."""
    checked_assignment_id(assignment_id)
    text = await anyio.to_thread.run_sync(_gradebook_text, state(request).engine, assignment_id, long)
    suffix = "answers" if long else "gradebook"
    return Response(
        text.encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{assignment_id}-{suffix}.csv"'},
    )


def _grade_uploads(settings: ApiSettings, shared_engine: SharedEngine, shared: SharedRecognizer,
                   assignment_id: str, uploads: list[Photo]) -> dict[str, Any]:
    """Grade uploads into the gradebook through the grading service, as `grade` does (in a
    worker thread). The key is the gradebook's latest version, else the assignment's file in
    answer_keys/ (grader.grading's rule), so grading over the API never turns a key the teacher
    edited in the app back into the file's older text."""
    engine = shared_engine.get()
    try:
        context = prepare(engine, KeyRef(assignment_id), keys_dir=settings.answer_keys_dir,
                          config=settings.grading)
    except KeyNotFound as error:
        raise ApiError(404, str(error)) from None
    results = [r.as_json() for r in grade_photos(engine, context, uploads, shared.get())]
    return {"success": True, "assignment": context.key.id, "key_version": context.key_version,
            "results": results}


def _list_assignments(settings: ApiSettings, shared_engine: SharedEngine) -> list[AssignmentInfo]:
    """The gradebook's assignments (store.assignment_summaries) and the key files beside them."""
    files = _key_files(settings.answer_keys_dir)
    with db.read_session(shared_engine.get()) as session:
        stored = {s.key.id: s for s in store.assignment_summaries(session)}
    out = []
    for assignment_id in sorted(set(files) | set(stored)):
        summary = stored.get(assignment_id)
        key = summary.key if summary else files[assignment_id]
        out.append(AssignmentInfo(
            id=assignment_id, title=key.title, pages=key.pages, questions=len(key.questions),
            max_points=sum(q.points for q in key.questions), key_file=assignment_id in files,
            in_gradebook=summary is not None, key_version=summary.key_version if summary else None,
            graded_pages=summary.graded_pages if summary else 0,
        ))
    return out


def _key_files(folder: Path) -> dict[str, AnswerKey]:
    files: dict[str, AnswerKey] = {}
    for path in sorted(folder.glob("*.yaml")):
        try:
            key = load_answer_key(path)
        except AnswerKeyInvalid as error:  # one broken file must not hide the others
            log.warning("skipping answer key %s: %s", path.name, error)
            continue
        files[key.id] = key
    return files


def _gradebook_text(shared_engine: SharedEngine, assignment_id: str, long: bool) -> str:
    """The CSV of the `export` command, from the same store and export functions."""
    with db.read_session(shared_engine.get()) as session:
        if not store.has_assignment(session, assignment_id):
            raise ApiError(404, f"no assignment {assignment_id!r} in the gradebook; grade photos for it first")
        if long:
            return export.answers_csv(store.answer_rows(session, assignment_id))
        return export.gradebook_csv(store.gradebook(session, assignment_id))
