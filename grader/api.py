"""The REST API: `/ocr` for other school systems, grading and the gradebook over HTTP.

`create_app(settings)` builds a FastAPI app from a typed `ApiSettings`; `python -m grader serve-api`
serves it through uvicorn. The API is a thin boundary over the same core functions the command
line calls: it turns bytes into images (grader.imageio), named errors into `{"success": false,
"error": "..."}` with a 4xx status, and never lets a bad input become a 500.

Safety by default:
- a bearer token (`GRADER_API_TOKEN`) guards every endpoint except `/health` (and the docs);
  the token is compared in constant time;
- the request body is capped (default 20 MB) from the Content-Length header *and* while it
  streams in, so an oversized upload is refused before it is held in memory;
- uploaded file names are only ever labels in the results, never paths;
- the recogniser is loaded once, lazily, under a lock, and shared by all requests; inference runs
  in worker threads (ONNX Runtime's `run()` is thread-safe) so the event loop keeps serving.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import json
import logging
import os
import re
import threading
import time
import unicodedata
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, Mapping, Sequence

import anyio
import cv2
import numpy as np
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.engine import Engine
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from grader import db, export, store
from grader.answer_key import AnswerKey, load_answer_key
from grader.config import GradingConfig
from grader.errors import (
    AlignmentFailed,
    AnswerKeyInvalid,
    GraderError,
    ImageUnreadable,
    ModelUnavailable,
    StoreError,
    WrongAssignment,
)
from grader.grading import KeyNotFound, KeyRef, Photo, grade_photos, prepare
from grader.imageio import ImageLimits, load_images
from grader.paths import ANSWER_KEYS_DIR, MODELS_DIR
from grader.reader import Read, Reader, load_reader
from grader.settings import MB, Settings
from grader.vocab import Kind, Status

log = logging.getLogger("grader.api")

KIND_NAMES: tuple[str, ...] = tuple(k.value for k in Kind)  # what the multipart form's `kind` may say


# --------------------------------------------------------------------------------------------
# Settings


@dataclass(frozen=True)
class ApiSettings:
    """Everything the API needs, with its defaults in one place (see `from_env`)."""

    token: str | None = None  # None: no auth (serve-api then binds loopback only)
    max_body_bytes: int = 20 * MB
    database_url: str | None = None  # None: the store's default (GRADER_DATABASE_URL or local SQLite)
    models_dir: Path = MODELS_DIR
    answer_keys_dir: Path = ANSWER_KEYS_DIR
    precision: str = "int8"  # recogniser weights: int8 (default) or fp32
    inference_threads: int = 1  # ONNX Runtime intra-op threads of the shared session
    # Crops decoded, and batches read, at once: one per core (each ONNX Runtime call uses one thread).
    max_parallel_inference: int = field(default_factory=lambda: os.cpu_count() or 2)
    max_files_per_request: int = 200
    grading: GradingConfig = field(default_factory=GradingConfig)  # registration .. scoring

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> "ApiSettings":
        """GRADER_API_TOKEN, GRADER_API_MAX_BODY_MB, GRADER_DATABASE_URL and GRADER_MODELS_DIR
        (read by grader.settings), then the non-None `overrides` (serve-api's options)."""
        env = Settings.from_env(environ)
        settings = cls(
            token=env.api_token,  # an empty token means none, never "any"
            max_body_bytes=env.api_max_body_bytes(),
            database_url=env.database_url,
            models_dir=env.models_dir or MODELS_DIR,
        )
        return replace(settings, **{k: v for k, v in overrides.items() if v is not None})


# --------------------------------------------------------------------------------------------
# Response bodies (they are the OpenAPI contract too)


class ErrorBody(BaseModel):
    success: Literal[False] = False
    error: str


class OcrRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    image_base64: str = Field(description="The crop image (PNG, JPEG, WebP, ...) in base64; "
                              "a data: URL prefix is accepted")
    kind: Kind | None = Field(None, description="Alphabet hint: number, math, text, chinese or choice")


class OcrResult(BaseModel):
    success: Literal[True] = True
    text: str
    confidence: float = Field(description="Calibrated probability that the reading is right, 0-1")
    time_used_ms: int = Field(description="Server time spent decoding and reading the image")


class QuestionResult(BaseModel):
    id: str
    text: str
    confidence: float
    verdict: str
    score: float
    max: float
    status: Status


class PhotoResult(BaseModel):
    """One photo (or PDF page) as `grade --json` prints it: graded, or `photo` and `error`."""

    photo: str
    assignment: str | None = None
    page: int | None = None
    student: str | None = None
    total: float | None = None
    max: float | None = None
    questions: list[QuestionResult] | None = None
    error: str | None = None


class GradeResponse(BaseModel):
    success: Literal[True] = True
    assignment: str
    key_version: int
    results: list[PhotoResult]


class AssignmentInfo(BaseModel):
    id: str
    title: str
    pages: int
    questions: int
    max_points: float
    key_file: bool = Field(description="an answer key file for it lies in answer_keys/")
    in_gradebook: bool
    key_version: int | None = None
    graded_pages: int = 0


class AssignmentList(BaseModel):
    success: Literal[True] = True
    assignments: list[AssignmentInfo]


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    model_loaded: bool
    auth_required: bool
    max_body_bytes: int


class ApiError(Exception):
    """An error answered as `{"success": false, "error": message}` with `status`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": text}
    for code, text in {
        400: "Bad input: empty body, bad base64, malformed JSON or form",
        401: "Missing or wrong bearer token",
        413: "Body over the configured limit",
        415: "Unsupported content type, or the bytes are not an image we can decode",
        422: "A field is missing or has the wrong type or value",
    }.items()
}


# --------------------------------------------------------------------------------------------
# Request-size limit (pure ASGI, so it sees the body before anything buffers it)


class BodyLimit:
    """Refuse bodies over `limit` bytes: by Content-Length before reading, else while streaming.

    The streaming cap raises HTTPException(413) inside `receive`, which FastAPI's body reading
    re-raises untouched, so the app's handler answers it as JSON like any other error.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared == -1:
            await _send_error(send, 400, "the Content-Length header is not a number")
            return
        if declared is not None and declared > self.limit:
            await _send_error(send, 413, _too_large(declared, self.limit))
            return
        received = 0

        async def capped_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise HTTPException(413, _too_large(received, self.limit, at_least=True))
            return message

        await self.app(scope, capped_receive, send)


def _content_length(scope: Scope) -> int | None:
    """The declared body length; None when absent, -1 when it is not a number."""
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            return int(value) if value.strip().isdigit() else -1
    return None


def _too_large(size: int, limit: int, at_least: bool = False) -> str:
    over = "more than " if at_least else ""
    return (
        f"the request body is {over}{size / MB:.1f} MB; the limit is {limit / MB:.1f} MB "
        "(send fewer or smaller files per request)"
    )


async def _send_error(send: Send, status: int, message: str) -> None:
    body = json.dumps({"success": False, "error": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            # The unread body makes the connection unusable for another request: say so.
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


# --------------------------------------------------------------------------------------------
# Shared recogniser


class SharedRecognizer:
    """Loads the recogniser once, on first use, and hands the same instance to every request."""

    def __init__(self, settings: ApiSettings) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self._recognizer: Reader | None = None

    @property
    def loaded(self) -> bool:
        return self._recognizer is not None

    def get(self) -> Reader:
        if self._recognizer is None:
            with self._lock:  # double-checked: only the first caller pays for loading
                if self._recognizer is None:
                    try:
                        self._recognizer = load_reader(
                            self._settings.models_dir,
                            precision=self._settings.precision,
                            threads=self._settings.inference_threads,
                        )
                    except ImportError as error:
                        raise ModelUnavailable(f"the recogniser is not installed ({error})") from None
        return self._recognizer


class CropBatcher:
    """Reads the crops of concurrent /ocr requests together: while a batch runs, new crops queue
    and go as the next batch. A lone request never waits for company (no batching window), and
    under load one ONNX Runtime call and one thread hand-off serve several requests.

    Lives on the event loop's thread (no locks needed); `workers` batches run at once, one per core.
    """

    def __init__(self, shared: SharedRecognizer, workers: int, max_batch: int = 16) -> None:
        self._shared = shared
        self._workers = max(1, workers)
        self._max_batch = max_batch
        self._pending: list[tuple[np.ndarray, str | None, asyncio.Future[Read]]] = []
        self._running = 0

    async def read(self, gray: np.ndarray, kind: str | None) -> Read:
        future: asyncio.Future[Read] = asyncio.get_running_loop().create_future()
        self._pending.append((gray, kind, future))
        self._start_workers()
        return await future

    def _start_workers(self) -> None:
        while self._pending and self._running < self._workers:
            self._running += 1
            asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        try:
            while self._pending:
                # Share the queue between the idle workers so both cores get a part.
                take = min(self._max_batch, max(1, -(-len(self._pending) // self._workers)))
                batch, self._pending = self._pending[:take], self._pending[take:]
                self._start_workers()
                try:
                    readings = await anyio.to_thread.run_sync(
                        _read_batch, self._shared, [b[0] for b in batch], [b[1] for b in batch]
                    )
                except Exception as error:  # e.g. ModelUnavailable: every waiting request gets it
                    for _, _, future in batch:
                        if not future.done():
                            future.set_exception(error)
                    continue
                for (_, _, future), reading in zip(batch, readings):
                    if not future.done():  # the client may have gone away
                        future.set_result(reading)
        finally:
            self._running -= 1


def _read_batch(shared: SharedRecognizer, crops: list[np.ndarray],
                kinds: list[str | None]) -> Sequence[Read]:
    # One view, not recognize's careful reading (recognizer.VIEWS): with it, bench/api_load.py
    # measured p95 58 ms at concurrency 8 against the 50 ms target (209.6 requests/s).
    return shared.get().read(crops, kind=kinds)


class SharedEngine:
    """The gradebook's SQLAlchemy engine, opened (and migrated) once on first use."""

    def __init__(self, settings: ApiSettings) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self._engine: Engine | None = None

    def get(self) -> Engine:
        if self._engine is None:
            with self._lock:
                if self._engine is None:
                    self._engine = db.open_engine(self._settings.database_url)
        return self._engine


# --------------------------------------------------------------------------------------------
# Small pure helpers

ASSIGNMENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")  # the answer key's id pattern


_DATA_URL = re.compile(r"^data:[\w.+-]+/[\w.+-]+(;[\w=.+-]+)*;base64,", re.IGNORECASE)


def decode_base64(text: str) -> bytes:
    """Strict base64 (standard or URL-safe alphabet, padding optional, whitespace ignored)."""
    try:  # the common case, without copying a 20 MB string through regular expressions
        if text:
            return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        pass
    compact = re.sub(r"\s+", "", _DATA_URL.sub("", text.strip(), count=1))
    if not compact:
        raise ApiError(400, "image_base64 is empty")
    if "-" in compact or "_" in compact:
        compact = compact.replace("-", "+").replace("_", "/")
    compact += "=" * (-len(compact) % 4)
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(400, "image_base64 is not valid base64") from None


def upload_label(filename: str | None, index: int) -> str:
    """A display label for an uploaded file: its base name, printable, short; never a path."""
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip()
    return name[:120] or f"upload-{index + 1}"


def checked_assignment_id(assignment_id: str) -> str:
    """The id when it is a well-formed answer key id; never lets a client name a path."""
    if not ASSIGNMENT_ID.match(assignment_id or ""):
        raise ApiError(404, f"no assignment {assignment_id[:100]!r}: ids are letters, digits, '.', '_' and '-'")
    return assignment_id


def _media_type(request: Request) -> str:
    return (request.headers.get("content-type") or "").split(";", 1)[0].strip().lower()


def _validation_message(errors: list[dict[str, Any]] | Any) -> str:
    parts = []
    for error in list(errors)[:5]:
        where = ".".join(str(p) for p in error.get("loc", ()) if p not in ("body",)) or "body"
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def _grayscale(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image


# --------------------------------------------------------------------------------------------
# Request parsing


async def _ocr_input(request: Request, max_files: int) -> tuple[bytes, str | None, str]:
    """(image bytes, kind, label) from a JSON or multipart /ocr request."""
    media = _media_type(request)
    if media == "application/json" or media.endswith("+json"):
        raw = await request.body()
        if not raw.strip():
            raise ApiError(400, "the request body is empty; send {\"image_base64\": \"...\"}")
        try:
            payload = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ApiError(400, f"the body is not valid JSON ({error})") from None
        try:
            parsed = OcrRequest.model_validate(payload)
        except ValidationError as error:
            raise ApiError(422, _validation_message(error.errors())) from None
        return decode_base64(parsed.image_base64), parsed.kind, "image_base64"
    if media == "multipart/form-data":
        async with request.form(max_files=max_files, max_fields=20) as form:
            upload = form.get("file")
            kind = form.get("kind") or None
            if not isinstance(upload, UploadFile):
                raise ApiError(400, "the multipart form needs the image in a file part named 'file'")
            if kind is not None and (not isinstance(kind, str) or kind not in KIND_NAMES):
                raise ApiError(422, f"kind: expected one of {', '.join(KIND_NAMES)}")
            data = await upload.read()
            return data, kind, upload_label(upload.filename, 0)
    if not media:
        raise ApiError(415, "missing Content-Type; send application/json or multipart/form-data")
    raise ApiError(415, f"unsupported Content-Type {media!r}; send application/json or multipart/form-data")


OCR_BODY_SCHEMA: dict[str, Any] = {
    "required": True,
    "content": {
        "application/json": {"schema": OcrRequest.model_json_schema()},
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {
                    "file": {"type": "string", "format": "binary", "description": "the crop image"},
                    "kind": {"type": "string", "enum": list(KIND_NAMES)},
                },
            }
        },
    },
}


GRADE_BODY_SCHEMA: dict[str, Any] = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["assignment", "photos"],
                "properties": {
                    "assignment": {"type": "string", "description": "assignment id (the answer key's id)"},
                    "photos": {
                        "type": "array",
                        "items": {"type": "string", "format": "binary"},
                        "description": "photos (JPEG, PNG, ...) or PDFs of filled-in worksheets",
                    },
                },
            }
        }
    },
}


async def _grade_input(request: Request, max_files: int) -> tuple[str, list[Photo]]:
    """(assignment id, uploads) from a multipart /grade request; the bytes are read here."""
    media = _media_type(request)
    if media != "multipart/form-data":
        raise ApiError(415, "send multipart/form-data with 'assignment' and 'photos' "
                            f"(got {media or 'no Content-Type'!r})")
    async with request.form(max_files=max_files, max_fields=20) as form:
        assignment = form.get("assignment")
        if not isinstance(assignment, str) or not assignment.strip():
            raise ApiError(422, "assignment: the form needs the assignment id in a field named 'assignment'")
        files = [f for f in form.getlist("photos") if isinstance(f, UploadFile)]
        if not files:
            raise ApiError(422, "photos: the form needs one or more files in parts named 'photos'")
        uploads = [Photo(upload_label(f.filename, i), await f.read()) for i, f in enumerate(files)]
    return checked_assignment_id(assignment.strip()), uploads


# --------------------------------------------------------------------------------------------
# The app


@dataclass
class ApiState:
    """What the endpoints share: settings, the recogniser and gradebook (each opened once),
    and the limiters that keep CPU-heavy work within the machine's cores."""

    settings: ApiSettings
    recognizer: SharedRecognizer
    engine: SharedEngine
    inference: anyio.CapacityLimiter
    grading: anyio.CapacityLimiter
    batcher: CropBatcher

    @classmethod
    def create(cls, settings: ApiSettings) -> "ApiState":
        recognizer = SharedRecognizer(settings)
        return cls(
            settings,
            recognizer,
            SharedEngine(settings),
            # More decodes at once than cores only adds queueing.
            anyio.CapacityLimiter(settings.max_parallel_inference),
            # One grading batch at a time: 12-megapixel photos are memory-heavy, and the
            # gradebook has one writer anyway.
            anyio.CapacityLimiter(1),
            CropBatcher(recognizer, settings.max_parallel_inference),
        )


def state(request: Request) -> ApiState:
    return request.app.state.api


_bearer = HTTPBearer(auto_error=False, description="GRADER_API_TOKEN")


def require_token(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> None:
    """401 unless the bearer token matches GRADER_API_TOKEN (no token configured: open)."""
    expected = state(request).settings.token
    if expected is None:
        return
    offered = credentials.credentials if credentials else ""
    # compare_digest on bytes: constant time, and no TypeError on non-ASCII input
    if not credentials or not hmac.compare_digest(offered.encode(), expected.encode()):
        raise HTTPException(
            401, "missing or wrong API token (send 'Authorization: Bearer <token>')",
            headers={"WWW-Authenticate": "Bearer"},
        )


public = APIRouter()
# Dependencies run before the endpoints read the body (they parse it themselves), so an
# anonymous caller never makes the server parse an upload.
guarded = APIRouter(dependencies=[Depends(require_token)], responses={401: ERROR_RESPONSES[401]})


def create_app(settings: ApiSettings | None = None) -> FastAPI:
    """The API app; `settings` default to the environment (ApiSettings.from_env)."""
    app = FastAPI(
        title="Homework grader API",
        version="1.0",
        description="Read handwriting, grade worksheet photos and fetch gradebooks. "
        "Send `Authorization: Bearer <GRADER_API_TOKEN>` on every call except /health.",
    )
    app.state.api = ApiState.create(settings or ApiSettings.from_env())
    app.add_middleware(BodyLimit, limit=app.state.api.settings.max_body_bytes)
    _install_error_handlers(app)
    app.include_router(public)
    app.include_router(guarded)
    return app


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
    data, kind, label = await _ocr_input(request, api.settings.max_files_per_request)
    started = time.perf_counter()
    gray = await anyio.to_thread.run_sync(_decode_crop, data, label, limiter=api.inference)
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
    """
    api = state(request)
    assignment_id, uploads = await _grade_input(request, api.settings.max_files_per_request)
    body = await anyio.to_thread.run_sync(
        _grade_uploads, api.settings, api.engine, api.recognizer, assignment_id, uploads, limiter=api.grading
    )
    return JSONResponse(body)


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


def _decode_crop(data: bytes, label: str) -> np.ndarray:
    """One uploaded crop as a grayscale image (runs in a worker thread)."""
    if not data:
        raise ApiError(400, f"{label}: the image is empty (0 bytes)")
    # A crop is small: tighter limits than for whole-page photos keep 8 concurrent requests
    # from holding gigabytes of decoded pixels.
    images = load_images(data, label, ImageLimits(max_pixels=16_000_000, max_side=8000, max_pdf_pages=1))
    if len(images) != 1:
        raise ApiError(400, f"{label}: send one crop image, not a {len(images)}-page PDF")
    return _grayscale(images[0])


# --------------------------------------------------------------------------------------------
# Errors -> {"success": false, "error": ...}

# Named core errors a request can cause, and the status that says whose fault it is.
GRADER_ERROR_STATUS: tuple[tuple[type[GraderError], int], ...] = (
    (ImageUnreadable, 415),
    (AnswerKeyInvalid, 422),
    (AlignmentFailed, 422),
    (WrongAssignment, 422),
    (ModelUnavailable, 503),
    (StoreError, 503),
)


def _error(status: int, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"success": False, "error": message}, status_code=status, headers=dict(headers or {}))


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_: Request, error: ApiError) -> JSONResponse:
        return _error(error.status, error.message)

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, error: HTTPException) -> JSONResponse:
        return _error(error.status_code, str(error.detail), error.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, error: RequestValidationError) -> JSONResponse:
        return _error(422, _validation_message(error.errors()))

    @app.exception_handler(GraderError)
    async def grader_error(_: Request, error: GraderError) -> JSONResponse:
        status = next((code for cls, code in GRADER_ERROR_STATUS if isinstance(error, cls)), 400)
        return _error(status, str(error))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        # Last resort: a bug of ours. Log it in full; the client gets a clean JSON line.
        log.exception("unhandled error in %s %s", request.method, request.url.path)
        return _error(500, "internal error; the server log has the details")
