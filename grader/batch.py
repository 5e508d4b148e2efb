"""Running `grade_photo` over files: no database, no key lookup.

`grade_pages` decodes one file (a photo, or a PDF of several pages) and grades each page, and
`grade_in_worker` is the task a Dask worker runs for one file (grader.cluster sends them). The
grading service (grader.grading) decides what to grade and stores the outcomes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from grader.answer_key import AnswerKey
from grader.config import DEFAULT_GRADING, GradingConfig
from grader.errors import GraderError
from grader.imageio import iter_images
from grader.pipeline import GradedPage, grade_photo
from grader.reader import Reader, load_reader
from grader.roster import RosterEntry


@dataclass
class PageOutcome:
    """One page of a file after grading: the graded page, or why it failed, or `skipped` when
    it was already in the gradebook, or `stored`: its result (grader.grading.PageResult) when
    the worker that graded it stored it too."""

    label: str
    source_page: int
    graded: GradedPage | None = None
    error: str | None = None
    skipped: bool = False
    stored: Any = None


@dataclass(frozen=True)
class FileJob:
    """A file to grade: its bytes, its label, and the pages (of a PDF) not to grade again. A
    worker on the machine that holds the file gets its absolute `path` instead of its bytes,
    and reads it itself (grader.grading.grade_file_on_worker)."""

    data: bytes
    name: str
    skip: frozenset[int] = frozenset()
    path: str = ""


@dataclass(frozen=True)
class GradingSpec:
    """What every page is graded against; sent to each cluster worker once per batch."""

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


# --- on a Dask worker --------------------------------------------------------------------------

_readers: dict[str, Reader] = {}  # per worker process: loaded on its first task, then kept


def grade_in_worker(job: FileJob, spec: GradingSpec, models_dir: str | Path | None) -> list[PageOutcome]:
    """A cluster task (grader.cluster): grade one file with this worker process's recogniser,
    loaded once (on one thread: a worker is one core's share of the machine)."""
    return grade_pages(job, spec, worker_reader(models_dir))


def worker_reader(models_dir: str | Path | None) -> Reader:
    """This worker process's recogniser, loaded on first use (`client.run(worker_reader, dir)`
    loads it on every worker ahead of a batch)."""
    cache_key = str(models_dir)
    reader = _readers.get(cache_key)
    if reader is None:
        import cv2

        cv2.setNumThreads(1)
        reader = _readers[cache_key] = load_reader(models_dir, threads=1)
    return reader
