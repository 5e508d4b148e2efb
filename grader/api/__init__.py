"""The REST API: `/ocr` for other school systems, grading and the gradebook over HTTP.

`create_app(settings)` builds a FastAPI app from a typed `ApiSettings`; `python -m grader
serve-api` serves it through uvicorn. The API is a thin boundary over the same core functions the command
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

The package: settings (ApiSettings), schemas (bodies, the OpenAPI contract), limits (body
size), runtime (shared recogniser, batcher, engine, limiters), inputs (request parsing), routes
(the endpoints), results (marked sheets, term gradebook, import files, XLSX) and errors (named
errors -> JSON), composed here by `create_app`.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import AsyncIterator

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from grader.api.errors import ApiError, install_error_handlers
from grader.api.inputs import checked_assignment_id, decode_base64, upload_label
from grader.api.limits import BodyLimit
from grader.api.results import router as results_router
from grader.api.routes import guarded, public, require_token
from grader.api.runtime import ApiState
from grader.api.server import protocol_with
from grader.api.settings import ApiSettings
from grader.settings import MB

__all__ = ["MB", "ApiError", "ApiSettings", "checked_assignment_id", "create_app", "decode_base64",
           "protocol_with", "upload_label"]


def create_app(settings: ApiSettings | None = None) -> FastAPI:
    """The API app; `settings` default to the environment (ApiSettings.from_env)."""
    # The docs' scripts and styles come from the fastapi-offline package, not a CDN: /docs and
    # /redoc work on a school network without internet.
    state = ApiState.create(settings or ApiSettings.from_env())

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        state.jobs.start()  # takes up the jobs a stopped server left unfinished
        yield
        state.jobs.stop()

    app = FastAPIOffline(
        lifespan=lifespan,
        title="Homework grader API",
        version="1.0",
        description="Read handwriting, grade worksheet photos and fetch gradebooks. "
        "Send `Authorization: Bearer <GRADER_API_TOKEN>` on every call except /health.",
    )
    app.state.api = state
    app.add_middleware(BodyLimit, limit=app.state.api.settings.max_body_bytes,
                       timeout_s=app.state.api.settings.body_timeout_s)
    install_error_handlers(app)
    app.include_router(public)
    app.include_router(guarded)
    app.include_router(results_router(require_token))
    return app
