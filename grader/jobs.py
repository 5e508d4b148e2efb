"""Batches graded in the background: the API's jobs (POST /jobs, GET /jobs/{id}).

    job_id = submit(engine, "arithmetic-basics", [Photo("class.zip", data)])   # queued, at once
    run(engine, job_id, context, reader=reader)        # later, in a runner thread: done
    view(engine, job_id)                               # state, progress, and the results when done

A job and its files live in the gradebook (tables jobs and job_files), so a server that stops
mid-job finishes it when it starts again: `unfinished` lists the jobs to take up, and `run`
grades the job's files again through the one grading service (grader.grading), where every page
already stored comes back as stored instead of being graded twice. A zip's photos and PDFs
become the job's files (its other members are skipped: a zip of a class's photos often holds a
stray .DS_Store); a zip beyond ZIP_BUDGET is refused with what was too much.
"""

from __future__ import annotations

import io
import secrets
import zipfile
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Iterator

from sqlalchemy import select, update
from sqlalchemy.engine import Engine

from grader import db
from grader.errors import GraderError
from grader.grading import GradeOptions, GradingContext, Photo, grade_photos
from grader.orm import Job, JobFile, utcnow
from grader.reader import Reader

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".heic", ".pdf")


@dataclass(frozen=True)
class ZipBudget:
    """What one uploaded zip may unpack to (a zip bomb is refused from its directory, and
    again while it is read)."""

    max_members: int = 2_000
    max_member_bytes: int = 50 * 1024 * 1024
    max_total_bytes: int = 2_000 * 1024 * 1024


ZIP_BUDGET = ZipBudget()


class JobNotFound(GraderError):
    """No job by that id."""


@dataclass(frozen=True)
class JobView:
    """A job as GET /jobs/{id} shows it."""

    id: str
    assignment: str
    state: str
    files: int
    files_done: int
    results: list | None
    error: str | None

    def as_json(self) -> dict:
        body = {"id": self.id, "assignment": self.assignment, "state": self.state,
                "files": self.files, "files_done": self.files_done}
        if self.state == DONE:
            body["results"] = self.results
        if self.error:
            body["error"] = self.error
        return body


def expand_zips(uploads: list[Photo], budget: ZipBudget = ZIP_BUDGET) -> list[Photo]:
    """The uploads with each zip replaced by its photos and PDFs, in the zip's order, each
    labelled `class.zip/IMG_0012.jpg`."""
    out: list[Photo] = []
    for upload in uploads:
        if upload.name.lower().endswith(".zip") or upload.data[:4] == b"PK\x03\x04":
            out.extend(_members(upload, budget))
        else:
            out.append(upload)
    return out


def _members(upload: Photo, budget: ZipBudget) -> Iterator[Photo]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(upload.data))
        infos = [i for i in archive.infolist() if not i.is_dir()
                 and PurePosixPath(i.filename).suffix.lower() in PHOTO_SUFFIXES
                 and not PurePosixPath(i.filename).name.startswith(".")]
    except (zipfile.BadZipFile, OSError) as error:
        raise GraderError(f"{upload.name}: not a readable zip ({error})") from None
    if len(infos) > budget.max_members:
        raise GraderError(f"{upload.name}: {len(infos)} photos; a zip may hold "
                          f"{budget.max_members} (send several jobs)")
    total = 0
    for info in infos:
        label = f"{upload.name}/{PurePosixPath(info.filename).name}"
        try:
            with archive.open(info) as member:  # its stated size may lie: read one byte past
                data = member.read(budget.max_member_bytes + 1)
        except (zipfile.BadZipFile, OSError, RuntimeError) as error:  # RuntimeError: encrypted
            raise GraderError(f"{label}: cannot unpack ({error})") from None
        if len(data) > budget.max_member_bytes:
            raise GraderError(f"{label}: more than {budget.max_member_bytes // 2**20} MB unpacked")
        total += len(data)
        if total > budget.max_total_bytes:
            raise GraderError(f"{upload.name}: more than {budget.max_total_bytes // 2**20} MB "
                              "unpacked in all")
        yield Photo(label, data)


def submit(engine: Engine, assignment_id: str, uploads: list[Photo]) -> str:
    """Store a new queued job with its files (zips unpacked); its id."""
    files = expand_zips(uploads)
    if not files:
        raise GraderError("the job has no photos or PDFs (a zip held none)")
    job_id = secrets.token_hex(16)
    with db.write_session(engine) as session:
        session.add(Job(id=job_id, assignment_id=assignment_id, state=QUEUED, files=len(files),
                        files_done=0))
        session.flush()
        session.add_all(JobFile(job_id=job_id, position=i, name=f.name, data=f.data)
                        for i, f in enumerate(files))
    return job_id


def view(engine: Engine, job_id: str) -> JobView:
    with db.read_session(engine) as session:
        job = session.get(Job, job_id)
        if job is None:
            raise JobNotFound(f"no job {job_id[:40]!r}")
        return JobView(job.id, job.assignment_id, job.state, job.files, job.files_done,
                       job.results, job.error)


def unfinished(engine: Engine) -> list[str]:
    """Jobs queued or interrupted mid-run, oldest first: what a starting server takes up."""
    with db.read_session(engine) as session:
        return list(session.scalars(select(Job.id).where(Job.state.in_((QUEUED, RUNNING)))
                                    .order_by(Job.created_at)))


def run(engine: Engine, job_id: str, context: GradingContext, reader: Reader | None = None,
        options: GradeOptions | None = None) -> JobView:
    """Grade the job's files into the gradebook (pages stored before, e.g. by a server that was
    stopped mid-job, are not graded again) and store its results."""
    _set(engine, job_id, state=RUNNING, files_done=0)
    done = 0

    def progress() -> None:
        nonlocal done
        done += 1
        _set(engine, job_id, files_done=done)

    results = [page.as_json() for page in grade_photos(engine, context, _files(engine, job_id),
                                                         reader, options or GradeOptions(),
                                                         on_done=progress)]
    with db.write_session(engine) as session:
        session.execute(update(Job).where(Job.id == job_id).values(
            state=DONE, files_done=done, results=results, finished_at=utcnow()))
        session.execute(update(JobFile).where(JobFile.job_id == job_id).values(data=b""))
    return view(engine, job_id)


def fail(engine: Engine, job_id: str, error: str) -> None:
    """A job that cannot run at all (e.g. its assignment's key is gone), with the reason."""
    _set(engine, job_id, state=FAILED, error=error, finished_at=utcnow())


def _files(engine: Engine, job_id: str) -> Iterator[Photo]:
    """The job's files one at a time (a big job's bytes are never all in memory)."""
    with db.read_session(engine) as session:
        ids = list(session.scalars(select(JobFile.id).where(JobFile.job_id == job_id)
                                   .order_by(JobFile.position)))
    for file_id in ids:
        with db.read_session(engine) as session:
            file = session.get(JobFile, file_id)
            assert file is not None
            yield Photo(file.name, file.data)


def _set(engine: Engine, job_id: str, **values) -> None:
    with db.write_session(engine) as session:
        session.execute(update(Job).where(Job.id == job_id).values(**values))
