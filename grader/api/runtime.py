"""What the endpoints share, each created once: the recogniser (loaded lazily, under a lock),
the batcher that reads concurrent /ocr crops together, the gradebook engine, the limiters that
keep CPU-heavy work within the machine's cores, and the runner of background jobs."""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import anyio
import numpy as np
from sqlalchemy.engine import Engine

from grader import cluster, db, jobs, model_versions
from grader.api.settings import ApiSettings
from grader.app_auth import LoginThrottle
from grader.errors import (
    GraderError,
    ModelUnavailable,
)
from grader.grading import GradeOptions, KeyRef, prepare
from grader.paths import MODELS_DIR
from grader.reader import Read, Reader, load_reader

log = logging.getLogger("grader.api")


class SharedRecognizer:
    """Loads the recogniser once, on first use, and hands the same instance to every request.
    Without an explicit models folder it is the gradebook's current model (grader.model_versions):
    each use asks the gradebook which one that is (one small query), so an `adapt` adopted or
    rolled back while the server runs is read with from the next request on."""

    def __init__(self, settings: ApiSettings, engine: "SharedEngine | None" = None) -> None:
        self._settings = settings
        self._engine = engine
        self._lock = threading.Lock()
        self._recognizer: Reader | None = None
        self._folder: Path | None = None  # the folder the loaded recogniser came from

    @property
    def loaded(self) -> bool:
        return self._recognizer is not None

    def folder(self) -> Path:
        """The models folder to read with now: the explicit one, else the gradebook's current."""
        if self._settings.models_dir is not None or self._engine is None:
            return Path(self._settings.models_dir or MODELS_DIR)
        return model_versions.models_dir_for(self._engine.get()) or MODELS_DIR

    def get(self) -> Reader:
        folder = self.folder()
        if self._recognizer is None or folder != self._folder:
            with self._lock:  # double-checked: only the first caller pays for loading
                if self._recognizer is None or folder != self._folder:
                    try:
                        self._recognizer = load_reader(
                            folder,
                            precision=self._settings.precision,
                            threads=self._settings.inference_threads,
                        )
                    except ImportError as error:
                        raise ModelUnavailable(f"the recogniser is not installed ({error})") from None
                    self._folder = folder
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


class JobRunner:
    """Runs the API's jobs one after another in a thread of its own, on the same engine as
    every batch: the shared recogniser here, or the Dask cluster of the settings (`cluster`, or
    `workers` local processes, opened on the first job and kept). On start it takes up the jobs
    a stopped server left queued or half done (their state is in the gradebook)."""

    def __init__(self, settings: ApiSettings, engine: "SharedEngine", recognizer: SharedRecognizer) -> None:
        self._settings = settings
        self._engine = engine
        self._recognizer = recognizer
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._resources = ExitStack()
        self._client: Any = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._work, name="grader-jobs", daemon=True)
        self._thread.start()

    def add(self, job_id: str) -> None:
        self._queue.put(job_id)

    def stop(self) -> None:
        """Stop after the current job (an unfinished one is taken up at the next start)."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=2)  # a daemon: a running job is taken up at the next start
        self._resources.close()

    def _work(self) -> None:
        try:
            for unfinished in jobs.unfinished(self._engine.get()):
                self._queue.put(unfinished)
        except GraderError as error:  # e.g. a damaged gradebook: /health still answers
            log.warning("cannot look for unfinished jobs: %s", error)
        while True:
            job_id = self._queue.get()
            if job_id is None:
                return
            try:
                self._run(job_id)
            except Exception as error:  # noqa: BLE001 - the runner must outlive one bad job
                log.exception("job %s failed", job_id)
                try:
                    jobs.fail(self._engine.get(), job_id, f"the job stopped: {error}")
                except GraderError:
                    pass

    def _run(self, job_id: str) -> None:
        engine = self._engine.get()
        job = jobs.view(engine, job_id)
        try:
            context = prepare(engine, KeyRef(job.assignment), keys_dir=self._settings.answer_keys_dir,
                              config=self._settings.grading)
        except GraderError as error:
            jobs.fail(engine, job_id, str(error))
            return
        if self._settings.cluster or self._settings.workers:
            jobs.run(engine, job_id, context, options=GradeOptions(
                client=self._cluster(), models_dir=self._recognizer.folder()))
        else:
            jobs.run(engine, job_id, context, reader=self._recognizer.get())

    def _cluster(self) -> Any:
        if self._client is None:
            self._client = self._resources.enter_context(
                cluster.connect(self._settings.workers, self._settings.cluster))
        return self._client


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
    jobs: JobRunner
    # Wrong bearer tokens per client: 10 free (a misconfigured script's retries still read
    # 401, the real problem), then 1, 2, 4 ... 60 s. Tokens are long random strings, so this
    # bounds a flood of guesses rather than a dictionary attack.
    token_throttle: LoginThrottle = field(default_factory=lambda: LoginThrottle(free_tries=10, max_wait_s=60))

    @classmethod
    def create(cls, settings: ApiSettings) -> "ApiState":
        engine = SharedEngine(settings)
        recognizer = SharedRecognizer(settings, engine)
        return cls(
            settings,
            recognizer,
            engine,
            # More decodes at once than cores only adds queueing.
            anyio.CapacityLimiter(settings.max_parallel_inference),
            # One grading batch at a time: 12-megapixel photos are memory-heavy, and the
            # gradebook has one writer anyway.
            anyio.CapacityLimiter(1),
            CropBatcher(recognizer, settings.max_parallel_inference),
            JobRunner(settings, engine, recognizer),
        )
