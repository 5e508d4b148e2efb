"""Running `grade_photo` over files, here or in worker processes: no database, no key lookup.

`grade_pages` decodes one file (a photo, or a PDF of several pages) and grades each page;
`map_files` does that for a stream of files, in this process or in `workers` processes (each
with its own recogniser on one thread), and hands the outcomes back in input order while only
a few files are in flight. The grading service (grader.grading) decides what to grade and
stores the outcomes.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Sequence, TypeVar

from grader.answer_key import AnswerKey, parse_answer_key
from grader.config import DEFAULT_GRADING, GradingConfig
from grader.errors import GraderError
from grader.imageio import iter_images
from grader.pipeline import GradedPage, grade_photo
from grader.reader import Reader, load_reader
from grader.roster import RosterEntry


@dataclass
class PageOutcome:
    """One page of a file after grading: the graded page, or why it failed, or `skipped` when
    it was already in the gradebook."""

    label: str
    source_page: int
    graded: GradedPage | None = None
    error: str | None = None
    skipped: bool = False


@dataclass(frozen=True)
class FileJob:
    """A file to grade: its bytes, its label, and the pages (of a PDF) not to grade again."""

    data: bytes
    name: str
    skip: frozenset[int] = frozenset()


@dataclass(frozen=True)
class GradingSpec:
    """What every page is graded against; a worker process rebuilds the key from its text."""

    key: AnswerKey
    key_text: str
    roster: Sequence[RosterEntry] = ()
    config: GradingConfig = DEFAULT_GRADING
    keep_page: bool = False  # keep the registered page with the result (the app's thumbnails)


def grade_pages(job: FileJob, spec: GradingSpec, reader: Reader) -> list[PageOutcome]:
    """Decode a file and grade each page not in `job.skip`. Pure: no database. GraderErrors
    become outcomes with the message."""
    try:
        count, images = iter_images(job.data, job.name)  # a PDF's pages are rendered one at a time
    except GraderError as error:
        return [PageOutcome(job.name, 0, error=str(error))]
    outcomes = []
    for index in range(count):
        label = job.name if count == 1 else f"{job.name}#page={index + 1}"
        try:
            image = next(images)
        except GraderError as error:
            outcomes.append(PageOutcome(label, index, error=str(error)))
            continue
        if index in job.skip:
            outcomes.append(PageOutcome(label, index, skipped=True))
            continue
        try:
            graded = grade_photo(image, spec.key, reader, spec.roster, spec.config, spec.keep_page)
            outcomes.append(PageOutcome(label, index, graded=graded))
        except GraderError as error:
            outcomes.append(PageOutcome(label, index, error=str(error)))
        except Exception as error:  # noqa: BLE001 - one bad page must not stop a class's batch
            outcomes.append(PageOutcome(label, index, error=f"internal error while grading this "
                                        f"page ({type(error).__name__}: {error}); please report it"))
    return outcomes


T = TypeVar("T")


def map_files(items: Iterable[tuple[T, FileJob | None]], spec: GradingSpec,
              reader: Reader | None = None, workers: int = 1,
              models_dir: str | Path | None = None) -> Iterator[tuple[T, list[PageOutcome]]]:
    """(item, outcomes) for each (item, job) in input order; a job of None (nothing to grade)
    gives no outcomes. With workers <= 1 the pages are graded here by `reader` (loaded from
    `models_dir` when None); otherwise worker processes load their own."""
    if workers <= 1:
        reader = reader or load_reader(models_dir)
        for item, job in items:
            yield item, ([] if job is None else grade_pages(job, spec, reader))
        return
    window: deque[tuple[T, Future | None]] = deque()  # bounded: a big batch is not all in memory
    # The key travels as its text (workers parse it again), so nothing but plain data is pickled.
    initargs = (spec.key_text, spec.key.source, list(spec.roster), spec.config, spec.keep_page,
                models_dir)
    with ProcessPoolExecutor(workers, initializer=_init_worker, initargs=initargs) as pool:
        for item, job in items:
            window.append((item, pool.submit(_grade_in_worker, job) if job is not None else None))
            while len(window) > 2 * workers:
                yield _done(window.popleft())
        while window:
            yield _done(window.popleft())


def _done(entry: tuple[T, Future | None]) -> tuple[T, list[PageOutcome]]:
    item, future = entry
    return item, (future.result() if future is not None else [])


# --- worker processes --------------------------------------------------------------------------

_worker: dict = {}


PARENT_POLL_S = 0.5  # how soon a worker notices that the process that started it is gone


def _exit_with_parent(parent: int) -> None:
    """End this worker when its parent dies. A parent killed with SIGKILL cannot stop its pool,
    and the workers would wait for work forever (issue 22: 38 s later still running); once the
    parent is gone the kernel hands the worker to another parent, which this thread notices."""
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_S)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _init_worker(key_text: str, source: str, roster: list[RosterEntry], config: GradingConfig,
                 keep_page: bool, models_dir: str | Path | None) -> None:
    _exit_with_parent(os.getppid())
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    key = parse_answer_key(key_text, source=source)
    _worker["spec"] = GradingSpec(key, key_text, roster, config, keep_page)
    _worker["reader"] = load_reader(models_dir, threads=1)


def _grade_in_worker(job: FileJob) -> list[PageOutcome]:
    return grade_pages(job, _worker["spec"], _worker["reader"])
