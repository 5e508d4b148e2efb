"""Turning requests into values: base64, upload labels, assignment ids, the /ocr and /grade
bodies, and the crop image. Names from the client are only ever labels, never paths."""

from __future__ import annotations

import base64
import binascii
import json
import re
import unicodedata

import cv2
import numpy as np
from fastapi import Request
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from grader import limits
from grader.api.errors import ApiError, validation_message
from grader.api.schemas import KIND_NAMES, OcrRequest
from grader.grading import Photo
from grader.imageio import load_images

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


def media_type(request: Request) -> str:
    return (request.headers.get("content-type") or "").split(";", 1)[0].strip().lower()




def _grayscale(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image


async def ocr_input(request: Request, max_files: int) -> tuple[bytes, str | None, str]:
    """(image bytes, kind, label) from a JSON or multipart /ocr request."""
    media = media_type(request)
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
            raise ApiError(422, validation_message(error.errors())) from None
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


async def grade_input(request: Request, max_files: int) -> tuple[str, list[Photo]]:
    """(assignment id, uploads) from a multipart /grade request; the bytes are read here."""
    media = media_type(request)
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


def decode_crop(data: bytes, label: str) -> np.ndarray:
    """One uploaded crop as a grayscale image (runs in a worker thread)."""
    if not data:
        raise ApiError(400, f"{label}: the image is empty (0 bytes)")
    # A crop is small: tighter limits than for whole-page photos keep 8 concurrent requests
    # from holding gigabytes of decoded pixels.
    images = load_images(data, label, limits.CROP)
    if len(images) != 1:
        raise ApiError(400, f"{label}: send one crop image, not a {len(images)}-page PDF")
    return _grayscale(images[0])
