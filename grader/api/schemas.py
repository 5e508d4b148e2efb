"""Request and response bodies of the API; they are its OpenAPI contract too."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from grader.vocab import Kind, ReviewReason, Status

KIND_NAMES: tuple[str, ...] = tuple(k.value for k in Kind)  # what the multipart form's `kind` may say


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
    reason: str | None = Field(None, description="Why the answer is in review (status review): "
                               + ", ".join(ReviewReason))


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


class JobAccepted(BaseModel):
    success: Literal[True] = True
    id: str = Field(description="the job's id: GET /jobs/{id} for its progress and results")
    state: str = Field(description="queued")
    files: int = Field(description="photos and PDFs in the job (a zip's members counted)")


class JobStatus(BaseModel):
    success: Literal[True] = True
    id: str
    assignment: str
    state: Literal["queued", "running", "done", "failed"]
    files: int
    files_done: int = Field(description="files graded and stored so far")
    results: list[PhotoResult] | None = Field(None, description="when done: one per photo or PDF "
                                              "page, in upload order, as POST /grade gives them")
    error: str | None = Field(None, description="why a failed job could not run")


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


def _photos_body(photos: str) -> dict[str, Any]:
    """A multipart body of an assignment id and its files (`photos` says which files)."""
    return {
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
                            "description": photos,
                        },
                    },
                }
            }
        },
    }


GRADE_BODY_SCHEMA = _photos_body("photos (JPEG, PNG, ...) or PDFs of filled-in worksheets")
JOBS_BODY_SCHEMA = _photos_body("photos, PDFs, or zips of them")
