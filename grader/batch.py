"""Grading files into the gradebook: the edge where photo files, the pure pipeline and the
store meet. Used by the `grade` command (and open to the app and the API).

    context = prepare_grading(engine, key_text, source, roster)
    for result in grade_files(engine, context, paths, workers=2):
        print(result)          # the per-photo JSON of `grade --json`

Each page is stored in its own write transaction (a crash never leaves half a page); a photo
already graded (same SHA-256, same PDF page) is not graded again, its stored result is
returned; a page that fails is recorded with its reason and the batch goes on. With
`workers > 1` the grading (pure, CPU-bound) runs in worker processes, each with its own
recogniser on one thread, and this process alone writes to the database.
"""

from __future__ import annotations

import os
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

from sqlalchemy.engine import Engine

from grader import db, store
from grader.answer_key import AnswerKey, parse_answer_key
from grader.errors import GraderError, StoreError
from grader.orm import KeyVersion
from grader.pipeline import GradedPage, grade_photo
from grader.roster import RosterEntry
from grader.scoring import DEFAULT_CONFIG, ScoringConfig


@dataclass
class GradingContext:
    """What every photo of a batch is graded against."""

    key: AnswerKey
    key_version_id: int
    key_version: int
    new_version: bool  # the key file differed from the stored key: a new version was saved
    roster: list[RosterEntry] = field(default_factory=list)
    config: ScoringConfig = DEFAULT_CONFIG


def prepare_grading(engine: Engine, key_text: str, source: str,
                    roster: Sequence[RosterEntry] = (),
                    config: ScoringConfig = DEFAULT_CONFIG) -> GradingContext:
    """Store the key (a changed key becomes a new version) and the roster; load the roster."""
    key = parse_answer_key(key_text, source=source)
    with db.write_session(engine) as session:
        before = store.latest_key_version(session, key.id)
        version = store.save_answer_key(session, key_text, source)
        if roster:
            store.upsert_students(session, roster)
        entries = store.roster_entries(session)
    new_version = before is not None and before.version != version.version
    return GradingContext(key, version.id, version.version, new_version, entries, config)


@dataclass
class PageOutcome:
    """One page of a file after grading: the graded page, or why it failed, or `skipped` when
    it was already in the gradebook."""

    label: str
    source_page: int
    graded: GradedPage | None = None
    error: str | None = None
    skipped: bool = False


def grade_pages(data: bytes, name: str, key: AnswerKey, recognizer, roster: Sequence[RosterEntry],
                config: ScoringConfig = DEFAULT_CONFIG,
                skip: frozenset[int] = frozenset(), keep_page: bool = False) -> list[PageOutcome]:
    """Decode a file (a photo, or a PDF of several pages) and grade each page not in `skip`.
    Pure: no database. GraderErrors become outcomes with the message."""
    from grader.imageio import load_images

    try:
        images = load_images(data, name)
    except GraderError as error:
        return [PageOutcome(name, 0, error=str(error))]
    outcomes = []
    for index, image in enumerate(images):
        label = name if len(images) == 1 else f"{name}#page={index + 1}"
        if index in skip:
            outcomes.append(PageOutcome(label, index, skipped=True))
            continue
        try:
            outcomes.append(PageOutcome(label, index, graded=grade_photo(image, key, recognizer,
                                                                         roster, config, keep_page)))
        except GraderError as error:
            outcomes.append(PageOutcome(label, index, error=str(error)))
        except Exception as error:  # noqa: BLE001 - one bad page must not stop a class's batch
            outcomes.append(PageOutcome(label, index, error=f"internal error while grading this "
                                        f"page ({type(error).__name__}: {error}); please report it"))
    return outcomes


# --- worker processes --------------------------------------------------------------------------

_worker: dict = {}


def _init_worker(key_text: str, source: str, roster: list[RosterEntry],
                 config: ScoringConfig, models_dir: str | None) -> None:
    from grader.recognizer import Recognizer

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    _worker["key"] = parse_answer_key(key_text, source=source)
    _worker["recognizer"] = (Recognizer.load(models_dir, threads=1) if models_dir
                             else Recognizer.load(threads=1))
    _worker["roster"], _worker["config"] = roster, config


def _grade_in_worker(job: tuple[bytes, str, frozenset[int]]) -> list[PageOutcome]:
    data, name, skip = job
    return grade_pages(data, name, _worker["key"], _worker["recognizer"], _worker["roster"],
                       _worker["config"], skip)


# --- the batch ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Upload:
    """A file received over the network: its bytes, and a display name that is never a path."""

    name: str
    data: bytes


def _is_pdf(data: bytes) -> bool:
    return data[:5] == b"%PDF-"


def grade_files(engine: Engine, context: GradingContext, paths: Iterable[str | Path | Upload],
                recognizer=None, workers: int = 1, models_dir: str | None = None,
                on_done: Callable[[], None] | None = None) -> Iterator[dict]:
    """Grade photo/PDF files into the gradebook, yielding one result per page in input order:
    `store.submission_result(...)`, or {"photo", "error"}. `recognizer` is used when
    workers == 1; worker processes load their own (from `models_dir` or models/).
    An `Upload` (the API's files) is graded from its bytes, its name used only as the label."""
    jobs = _jobs(engine, context, paths)
    if workers <= 1:
        if recognizer is None:
            from grader.recognizer import Recognizer

            recognizer = Recognizer.load() if models_dir is None else Recognizer.load(models_dir)
        for path, digest, job, stored in jobs:
            outcomes = [] if job is None else grade_pages(
                job[0], job[1], context.key, recognizer, context.roster, context.config, job[2])
            yield from _store_outcomes(engine, context, path, digest, outcomes, stored)
            if on_done:
                on_done()
        return
    key_text = _key_text(engine, context)
    window: deque = deque()  # files in flight; bounded so a big batch is not all in memory
    with ProcessPoolExecutor(workers, initializer=_init_worker,
                             initargs=(key_text, context.key.source, context.roster,
                                       context.config, models_dir)) as pool:
        for path, digest, job, stored in jobs:
            future = pool.submit(_grade_in_worker, job) if job is not None else None
            window.append((path, digest, stored, future))
            while len(window) > 2 * workers:
                yield from _finish(engine, context, window.popleft(), on_done)
        while window:
            yield from _finish(engine, context, window.popleft(), on_done)


def _finish(engine: Engine, context: GradingContext, item, on_done) -> Iterator[dict]:
    path, digest, stored, future = item
    outcomes = future.result() if future is not None else []
    yield from _store_outcomes(engine, context, path, digest, outcomes, stored)
    if on_done:
        on_done()


def _key_text(engine: Engine, context: GradingContext) -> str:
    with db.read_session(engine) as session:
        return store.load_key(session, context.key.id, context.key_version)[1].yaml_text


def _jobs(engine: Engine, context: GradingContext, paths: Iterable[str | Path | Upload]):
    """(path, digest, job or None, stored results) per file; job is None when there is nothing
    to grade (unreadable file, or a photo already in the gradebook)."""
    for item in paths:
        if isinstance(item, Upload):  # bytes from the network: its name is a label, never opened
            path, data = item.name, item.data
        else:
            path = Path(item)
            try:
                data = path.read_bytes()
            except OSError as error:
                yield path, None, None, {"error": f"{path}: cannot read the file "
                                                  f"({error.strerror or error})"}
                continue
        digest = store.photo_hash(data)
        with db.read_session(engine) as session:
            stored = {}
            for submission in stored_pages(session, context.key.id, digest):
                stored[submission.source_page] = store.submission_result(submission)
        if 0 in stored and not _is_pdf(data):
            yield path, digest, None, stored
        else:
            yield path, digest, (data, str(path), frozenset(stored)), stored


def stored_pages(session, assignment_id: str, digest: str):
    """The graded (status ok) submissions of this photo's bytes, one per source page."""
    from sqlalchemy import select

    from grader.orm import Submission

    return session.scalars(select(Submission).where(
        Submission.assignment_id == assignment_id, Submission.photo_sha256 == digest,
        Submission.status == "ok"))


def _store_outcomes(engine: Engine, context: GradingContext, path: Path, digest: str | None,
                    outcomes: list[PageOutcome], stored: dict) -> Iterator[dict]:
    if digest is None:  # the file could not even be read
        yield {"photo": str(path), "error": stored["error"]}
        return
    if not outcomes:  # a photo already graded
        yield {**stored[0], "photo": str(path)}
        return
    for outcome in outcomes:
        if outcome.skipped:
            yield {**stored[outcome.source_page], "photo": outcome.label}
        elif outcome.error is not None:
            with db.write_session(engine) as session:
                version = session.get(KeyVersion, context.key_version_id)
                store.record_failed_photo(session, context.key.id, digest, outcome.error,
                                          outcome.source_page, outcome.label, version)
            yield {"photo": outcome.label, "error": outcome.error}
        else:
            yield _save(engine, context, digest, outcome)


def _save(engine: Engine, context: GradingContext, digest: str, outcome: PageOutcome) -> dict:
    try:
        with db.write_session(engine) as session:
            version = session.get(KeyVersion, context.key_version_id)
            submission, _ = store.save_graded_page(session, outcome.graded, version, digest,
                                                   outcome.source_page, outcome.label)
            return store.submission_result(submission, outcome.label)
    except StoreError:
        # Another process stored the same photo between our check and our insert (a server
        # database has no BEGIN IMMEDIATE; the unique constraint caught it): its result stands.
        with db.read_session(engine) as session:
            existing = store.find_submission(session, context.key.id, digest, outcome.source_page)
            if existing is None or existing.status != "ok":
                raise
            return store.submission_result(existing, outcome.label)
