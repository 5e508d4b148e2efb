"""Grading photos into the gradebook: the one service behind the app, the command line and the API.

    context = prepare(engine, KeyRef.parse("arithmetic-basics"), roster=entries)
    for result in grade_photos(engine, context, ["IMG_0012.jpg", Photo("scan.pdf", data)]):
        print(result.as_json())          # the per-photo JSON of `grade --json` and POST /grade

Photos are paths or `Photo`s (bytes and a label that is never opened). Each page is stored in
its own write transaction (a crash never leaves half a page); a photo already graded (same
SHA-256, same PDF page) is not graded again, its stored result is returned; when another process
stores the same photo between our check and our insert, its result stands. A page that fails is
recorded with its reason and the batch goes on. `GradeOptions` keeps a failed photo's bytes for a
retry and a thumbnail of each registered page (the app), or grades on a Dask cluster (grader.
cluster: `grade --workers N`, `--cluster`, the API's jobs); grader.batch runs the pages, this
module decides what to grade and stores each page: here, or on the worker that graded it when
the cluster's workers share this machine (`grade_file_on_worker`). Re-running a batch after a
crash grades only what is missing: the pages already stored come back with already_graded.

Which answer key version applies, wherever the grading starts:

1. **The gradebook first.** An assignment the gradebook already holds is graded with its latest
   key version (as the teacher last saved it, e.g. edited in the app).
2. **A key file becomes a version only when asked** (`grade --new-version`, `regrade --key`), or
   when the gradebook has no key for the assignment yet (its first version). A file that differs
   from the gradebook's version is otherwise not used; `GradingContext.file_differs` says so and
   the command line prints a note.

A key reference is an assignment id (its file, for a first version, is `answer_keys/<id>.yaml`)
or a key file's path (command line only; the API takes ids, never paths).

`regrade` rescores the stored readings of an assignment with its latest key version (teacher
overrides kept) without the photos.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence, Sized

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from grader import cluster, db, store
from grader.answer_key import AnswerKey, Question, parse_answer_key
from grader.batch import FileJob, GradingSpec, PageOutcome, grade_pages, worker_reader
from grader.config import DEFAULT_GRADING, GradingConfig
from grader.errors import AnswerKeyInvalid, ImageUnreadable, StoreError
from grader.files import FileStore
from grader.imageio import read_file
from grader.limits import KEY
from grader.normalize import normalize
from grader.orm import Answer, KeyVersion, Submission
from grader.paths import ANSWER_KEYS_DIR
from grader.reader import Reader, load_reader
from grader.roster import RosterEntry
from grader.scoring import (
    DEFAULT_CONFIG,
    Rules,
    ScoredAnswer,
    ScoringConfig,
    candidate_strings,
    score_answer,
)
from grader.vocab import Status


class KeyNotFound(AnswerKeyInvalid):
    """No answer key by that name: not in the gradebook, and no file for it."""


# --- which key ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class KeyRef:
    """An answer key to grade with: an assignment id, or (command line) a key file's path."""

    assignment_id: str | None = None
    path: Path | None = None

    @classmethod
    def parse(cls, text: str) -> "KeyRef":
        """The command line's `--key`: a YAML file (an existing path, or a name ending in .yaml
        or .yml), else an assignment id."""
        path = Path(text)
        if path.exists() or text.endswith((".yaml", ".yml")):
            return cls(path=path)
        return cls(assignment_id=text)


@dataclass
class GradingContext:
    """What every photo of a batch is graded against."""

    key: AnswerKey
    key_text: str
    key_version_id: int
    key_version: int
    roster: list[RosterEntry] = field(default_factory=list)
    config: GradingConfig = DEFAULT_GRADING
    new_version: bool = False  # the key file was stored as a new version of the assignment
    file_differs: bool = False  # a key file differs from the gradebook's version, not stored


def prepare(engine: Engine, ref: KeyRef, roster: Sequence[RosterEntry] = (),
            new_version: bool = False, keys_dir: Path = ANSWER_KEYS_DIR,
            config: GradingConfig = DEFAULT_GRADING) -> GradingContext:
    """Resolve the key by the module's rule (storing a file as a version where it says so), add
    `roster` to the gradebook's, and load the roster to match names against."""
    with db.write_session(engine) as session:
        version, created, differs = resolve_key(session, ref, new_version, keys_dir)
        if roster:
            store.upsert_students(session, roster)
        key, _ = store.load_key(session, version.assignment_id, version.version)
        return GradingContext(key, version.yaml_text, version.id, version.version,
                              store.roster_entries(session), config, created, differs)


def resolve_key(session: Session, ref: KeyRef, new_version: bool = False,
                keys_dir: Path = ANSWER_KEYS_DIR) -> tuple[KeyVersion, bool, bool]:
    """(key version to grade with, whether it was stored as a new version now, whether a key
    file was given that differs from it). A key file is validated even when not used."""
    if ref.path is not None:
        text, source = _read_key_file(ref.path)
        return _apply_file(session, parse_answer_key(text, source=source).id, text, source,
                           new_version)
    assignment_id = ref.assignment_id or ""
    latest = store.latest_key_version(session, assignment_id)
    if latest is not None and not new_version:
        return latest, False, False
    path = keys_dir / f"{assignment_id}.yaml"
    if not path.is_file():
        raise KeyNotFound(f"no such answer key {assignment_id!r}: not in the gradebook, nor a "
                          f"file {path.name} in {keys_dir.name}/")
    text, source = _read_key_file(path)
    if parse_answer_key(text, source=source).id != assignment_id:
        raise AnswerKeyInvalid(f"{path.name}: its id is not {assignment_id!r}")
    return _apply_file(session, assignment_id, text, source, new_version)


def _apply_file(session: Session, assignment_id: str, text: str, source: str,
                new_version: bool) -> tuple[KeyVersion, bool, bool]:
    latest = store.latest_key_version(session, assignment_id)
    if latest is not None and not new_version:
        return latest, False, latest.yaml_text != text
    version = store.save_answer_key(session, text, source)
    return version, latest is not None and version.version != latest.version, False


def _read_key_file(path: Path) -> tuple[str, str]:
    try:
        if path.stat().st_size > KEY.max_bytes:  # refused before it is read
            raise AnswerKeyInvalid(f"{path}: the key is {path.stat().st_size / 1e6:.1f} MB; the limit "
                                   f"is {KEY.max_bytes / 1e6:.1f} MB (an answer key is a few KB)")
        return path.read_text(encoding="utf-8"), str(path)
    except FileNotFoundError:
        raise KeyNotFound(f"{path}: no such answer key file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise AnswerKeyInvalid(f"{path}: cannot read the answer key ({error})") from None


# --- grading photos ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Photo:
    """A file received over the network or an upload: its bytes, and a display name that is
    only a label, never a path."""

    name: str
    data: bytes


@dataclass(frozen=True)
class GradeOptions:
    """keep_photo: a photo that fails is kept in the FileStore for a retry (the app).
    keep_page: a thumbnail of each registered page is kept in the FileStore (the app).
    Where the pages are graded (grader.cluster): on `client` (an open distributed.Client, e.g.
    the API's, kept across batches); else on the scheduler at `cluster`; else on a LocalCluster
    of `workers` processes started for this batch; else (workers None) here, by the reader.
    models_dir: the recogniser's folder (None: models/), here or on the workers."""

    keep_photo: bool = False
    keep_page: bool = False
    workers: int | None = None
    cluster: str | None = None
    client: Any = None
    models_dir: str | Path | None = None

    @property
    def on_cluster(self) -> bool:
        return self.client is not None or bool(self.cluster) or self.workers is not None


@dataclass
class PageResult:
    """One page of a graded file: stored (its submission and JSON result) or failed (why)."""

    label: str
    photo_sha256: str | None  # None: the file could not even be read
    source_page: int
    submission_id: int | None = None
    error: str | None = None
    already_graded: bool = False
    result: dict | None = None  # store.submission_result: the per-photo JSON of `grade --json`

    def as_json(self) -> dict:
        if self.error is not None or self.result is None:
            return {"photo": self.label, "error": self.error}
        return {**self.result, "photo": self.label}


@dataclass
class _File:
    """A file read for grading: its label, bytes and digest, and its pages already stored."""

    label: str
    index: int = 0  # position in the batch: results come back in input order
    data: bytes = b""
    digest: str | None = None
    stored: dict[int, PageResult] = field(default_factory=dict)
    error: str | None = None  # the file could not be read

    def job(self) -> FileJob | None:
        """What is left to grade: None for an unreadable file or a photo already graded."""
        if self.error is not None or (0 in self.stored and not _is_pdf(self.data)):
            return None
        return FileJob(self.data, self.label, frozenset(self.stored))


@dataclass(frozen=True)
class Destination:
    """Where graded pages go: the assignment and key version, whether a failed photo is kept
    (GradeOptions.keep_photo); for the worker processes of a local cluster, which store what
    they grade, also the gradebook's URL and the folder of kept files (grader.files)."""

    assignment_id: str
    key_version_id: int
    keep_photo: bool = False
    url: str = ""
    files_root: str | None = None


def grade_photos(engine: Engine, context: GradingContext, photos: Iterable[str | Path | Photo],
                 reader: Reader | None = None, options: GradeOptions = GradeOptions(),
                 files: FileStore | None = None,
                 on_done: Callable[[], None] | None = None) -> Iterator[PageResult]:
    """Grade photo/PDF files into the gradebook, one result per page in input order.

    Pages are graded here by `reader` (loaded from options.models_dir when None), or on a Dask
    cluster when the options name one (grader.cluster), each page stored as its grading ends.
    `files` is where keep_photo and keep_page keep theirs. `on_done` is called after each file
    (a progress bar)."""
    spec = GradingSpec(context.key, context.key_text, context.roster, context.config,
                       options.keep_page and files is not None)
    where = Destination(context.key.id, context.key_version_id, options.keep_photo)
    total = len(photos) if isinstance(photos, Sized) else None  # shapes a cluster's last tasks
    with _graded(engine, enumerate(photos), total, spec, reader, options, where, files) as graded:
        for results in _in_input_order(_announced(graded, on_done)):
            yield from results


Numbered = Iterable[tuple[int, "str | Path | Photo"]]
Results = Iterator[tuple[int, list[PageResult]]]


@contextmanager
def _graded(engine: Engine, photos: Numbered, total: int | None, spec: GradingSpec,
            reader: Reader | None, options: GradeOptions, where: Destination,
            files: FileStore | None) -> Iterator[Results]:
    """Each file's results (its index, its pages), graded and stored here (input order) or on
    the options' cluster (completion order), the cluster opened for the batch when the options
    do not hand one in."""
    if not options.on_cluster:
        here = reader or load_reader(options.models_dir)
        yield ((index, _grade_file(engine, where, _read_file(engine, where, photo), spec, here, files))
               for index, photo in photos)
    elif options.client is not None:
        yield _on_cluster(options.client, engine, photos, total, spec, options, where, files)
    else:
        with cluster.connect(options.workers, options.cluster) as client:
            yield _on_cluster(client, engine, photos, total, spec, options, where, files)


def _on_cluster(client: Any, engine: Engine, photos: Numbered, total: int | None,
                spec: GradingSpec, options: GradeOptions, where: Destination,
                files: FileStore | None) -> Results:
    """On a cluster of this machine (a LocalCluster) each worker does a file's whole work: it
    reads the photo from disk (bytes received travel with the task), recognises pages already
    graded, grades and stores the rest, and records failures; this process, which also runs
    the scheduler, only hands out the files. A remote cluster's workers may reach neither the
    files nor the gradebook (an SQLite file, a server on localhost): this process reads each
    file, sends its bytes, and stores the pages that come back."""
    url = engine.url
    in_memory = url.get_backend_name() == "sqlite" and db.sqlite_path(url) is None
    if not cluster.is_local(client) or in_memory:
        read = ((file, file.job()) for file in (_read_file(engine, where, photo, index)
                                                 for index, photo in photos))
        for file, outcomes in cluster.grade_on_cluster(client, read, spec, options.models_dir,
                                                       total=total):
            yield file.index, list(_stored_pages(engine, where, file, outcomes, files))
        return
    target = replace(where, url=url.render_as_string(hide_password=False),
                     files_root=str(files.root) if files is not None else None)
    jobs = (((index, photo), FileJob(photo.data, photo.name) if isinstance(photo, Photo)
             else FileJob(b"", str(photo), path=str(Path(photo).resolve())))
            for index, photo in photos)
    for (index, photo), outcomes in cluster.grade_on_cluster(
            client, jobs, spec, options.models_dir, task=grade_file_on_worker, task_args=(target,),
            total=total):
        if outcomes and all(outcome.stored is not None for outcome in outcomes):
            yield index, [outcome.stored for outcome in outcomes]
        else:  # the file's task failed for good (it killed its worker on every try): say so here
            file = _read_file(engine, where, photo, index)
            yield index, list(_stored_pages(engine, where, file, outcomes, files))


_worker_engines: dict[str, Engine] = {}  # per worker process: the gradebook, opened once


def grade_file_on_worker(job: FileJob, spec: GradingSpec, models_dir: str | Path | None,
                         where: Destination) -> list[PageOutcome]:
    """A cluster task on a worker of this machine: a file's whole work, as grade_photos does it
    in one process, its pages' results handed back as `PageOutcome.stored`. A task run again
    after its worker died finds the pages that worker stored and returns them as already
    graded."""
    engine = _worker_engines.get(where.url)
    if engine is None:
        engine = _worker_engines[where.url] = db.open_engine(where.url, migrate=False)
    files = FileStore(Path(where.files_root)) if where.files_root else None
    photo = Path(job.path) if job.path else Photo(job.name, job.data)
    file = _read_file(engine, where, photo, label=job.name)
    results = _grade_file(engine, where, file, spec, worker_reader(models_dir), files)
    return [PageOutcome(result.label, result.source_page, stored=result) for result in results]


def _announced(results: Results, on_done: Callable[[], None] | None) -> Results:
    """`results`, calling on_done as each file's come (the progress bar moves as files end)."""
    for item in results:
        if on_done:
            on_done()
        yield item


def _in_input_order(stored: Results) -> Iterator[list[PageResult]]:
    """Each file's results once those of every file before it are out. Only the small result
    dicts wait here (the photos and crops are stored and gone)."""
    waiting: dict[int, list[PageResult]] = {}
    expected = 0
    for index, results in stored:
        waiting[index] = results
        while expected in waiting:
            yield waiting.pop(expected)
            expected += 1


def _read_file(engine: Engine, where: Destination, photo: str | Path | Photo, index: int = 0,
               label: str | None = None) -> _File:
    if isinstance(photo, Photo):  # bytes from the network: its name is a label, never opened
        label, data = label or photo.name, photo.data
    else:
        label = label or str(photo)
        try:
            data = read_file(photo)  # its size checked before it is read (grader.limits)
        except ImageUnreadable as error:
            return _File(label, index, error=str(error))
    digest = store.photo_hash(data)
    with db.read_session(engine) as session:
        stored = {page: _stored_result(submission, label) for page, submission in
                  store.graded_pages(session, where.assignment_id, digest).items()}
    return _File(label, index, data, digest, stored)


def _grade_file(engine: Engine, where: Destination, file: _File, spec: GradingSpec,
                reader: Reader, files: FileStore | None) -> list[PageResult]:
    """Grade what is left of a file read by _read_file, and store each page."""
    job = file.job()
    outcomes = [] if job is None else grade_pages(job, spec, reader)
    return list(_stored_pages(engine, where, file, outcomes, files))


def _stored_result(submission: Submission, label: str) -> PageResult:
    return PageResult(label, submission.photo_sha256, submission.source_page, submission.id,
                      already_graded=True, result=store.submission_result(submission, label))


def _is_pdf(data: bytes) -> bool:
    return data[:5] == b"%PDF-"


def _stored_pages(engine: Engine, where: Destination, file: _File, outcomes: list[PageOutcome],
                  files: FileStore | None) -> Iterator[PageResult]:
    """Store a file's graded pages (each in its own transaction) and record its failed ones."""
    if file.error is not None or file.digest is None:
        yield PageResult(file.label, None, 0, error=file.error)
        return
    if not outcomes:  # a photo already graded
        yield file.stored[0]
        return
    for outcome in outcomes:
        if outcome.skipped:
            yield replace(file.stored[outcome.source_page], label=outcome.label)
        elif outcome.error is not None:
            yield _record_failure(engine, where, file, outcome, files)
        else:
            yield _save(engine, where, file.digest, outcome, files)


def _record_failure(engine: Engine, where: Destination, file: _File, outcome: PageOutcome,
                    files: FileStore | None) -> PageResult:
    assert file.digest is not None and outcome.error is not None
    if where.keep_photo and files is not None:
        files.save_photo(file.digest, file.data)
    try:
        with db.write_session(engine) as session:
            store.record_failed_photo(session, where.assignment_id, file.digest, outcome.error,
                                      outcome.source_page, outcome.label,
                                      store.key_version(session, where.key_version_id))
    except StoreError:
        # Another process recorded (or graded) the same page at the same moment (a server
        # database; the unique constraint caught it): a graded result stands, else ours is said.
        existing = _stored_page(engine, where.assignment_id, file.digest, outcome.source_page)
        if existing is None:
            with db.read_session(engine) as session:
                if store.find_submission(session, where.assignment_id, file.digest,
                                         outcome.source_page) is None:
                    raise
        else:
            return _stored_result(existing, outcome.label)
    return PageResult(outcome.label, file.digest, outcome.source_page, error=outcome.error)


def _save(engine: Engine, where: Destination, digest: str, outcome: PageOutcome,
          files: FileStore | None) -> PageResult:
    graded = outcome.graded
    assert graded is not None
    if files is not None and graded.page_image is not None:
        files.save_thumbnail(digest, outcome.source_page, graded.page_image)
    try:
        with db.write_session(engine) as session:
            version = store.key_version(session, where.key_version_id)
            submission, created = store.save_graded_page(session, graded, version, digest,
                                                         outcome.source_page, outcome.label)
            return PageResult(outcome.label, digest, outcome.source_page, submission.id,
                              already_graded=not created,
                              result=store.submission_result(submission, outcome.label))
    except StoreError:
        # Another process stored the same photo between our check and our insert (a server
        # database has no BEGIN IMMEDIATE; the unique constraint caught it): its result stands.
        existing = _stored_page(engine, where.assignment_id, digest, outcome.source_page)
        if existing is None:
            raise
        return _stored_result(existing, outcome.label)


def _stored_page(engine: Engine, assignment_id: str, digest: str,
                 source_page: int) -> Submission | None:
    with db.read_session(engine) as session:
        return store.graded_pages(session, assignment_id, digest).get(source_page)


def retry_failed(engine: Engine, context: GradingContext, files: FileStore,
                 reader: Reader | None = None) -> list[PageResult]:
    """Grade every kept failed photo of the assignment again (e.g. after a key or model fix),
    keeping it again if it still fails."""
    with db.read_session(engine) as session:
        failed = store.failed_photos(session, context.key.id)
    results: list[PageResult] = []
    seen: set[str] = set()
    options = GradeOptions(keep_photo=True, keep_page=True)
    for photo in failed:
        if photo.photo_sha256 in seen:  # the pages of one PDF
            continue
        seen.add(photo.photo_sha256)
        data = files.photo(photo.photo_sha256)
        if data is None:
            results.append(PageResult(photo.photo_name, photo.photo_sha256, 0,
                                      error="the photo was not kept; upload it again"))
            continue
        name = photo.photo_name.split("#page=")[0]
        results.extend(grade_photos(engine, context, [Photo(name, data)], reader, options, files))
    return results


# --- regrading stored readings -----------------------------------------------------------------

@dataclass
class ScoreChange:
    submission_id: int
    student: str  # name, id, or the photo name for an unassigned page (grader.store.who)
    question_id: str
    old_points: float
    new_points: float
    old_verdict: str
    new_verdict: str


@dataclass
class RegradeReport:
    """What a regrade did: the key version applied, the changed scores, the overrides kept."""

    assignment_id: str
    key_version: int
    rescored: int = 0
    kept_overrides: int = 0
    changes: list[ScoreChange] = field(default_factory=list)

    def summary(self, limit: int = 10) -> str:
        """`7 scores change: Ana q3 0 -> 2, ...` (or `no scores change`)."""
        if not self.changes:
            head = "no scores change"
        else:
            shown = ", ".join(f"{c.student} {c.question_id} {c.old_points:g} -> {c.new_points:g}"
                              for c in self.changes[:limit])
            more = f", and {len(self.changes) - limit} more" if len(self.changes) > limit else ""
            noun = "score changes" if len(self.changes) == 1 else "scores change"
            head = f"{len(self.changes)} {noun}: {shown}{more}"
        return (f"{head} ({self.assignment_id}, key version {self.key_version}; "
                f"{self.rescored} answers rescored, {self.kept_overrides} teacher overrides kept)")


# (answer, candidate strings, question kind) -> CTC log-likelihood of each candidate, e.g. the
# recogniser on the stored ink crop (grader.pipeline.stored_ink_likelihoods)
Likelihoods = Callable[[Answer, Sequence[str], str], dict[str, float]]


def regrade(session: Session, assignment_id: str, likelihoods: Likelihoods | None = None,
            config: ScoringConfig = DEFAULT_CONFIG) -> RegradeReport:
    """Rescore every stored reading of the assignment with its latest key version.

    Teacher overrides are kept as they are, blank answers stay blank. Likelihoods stored from
    grading are reused for candidates the new key still has; for new candidates `likelihoods`
    (e.g. the recogniser on the stored ink crop) is asked, and without it the text decides.
    """
    key, version = store.load_key(session, assignment_id)
    report = RegradeReport(assignment_id, version.version)
    questions = {q.id: q for q in key.questions}
    for submission in store.list_submissions(session, assignment_id):
        submission.key_version_id = version.id
        for answer in submission.answers:
            question = questions.get(answer.question_id)
            if question is None:
                continue  # the question left the key; its stored score stays visible
            answer.max_points = float(question.points)
            if answer.overridden:
                report.kept_overrides += 1
            elif answer.status != Status.BLANK:
                _rescore(answer, question, likelihoods, config, report)
    session.flush()
    return report


def _rescore(answer: Answer, question: Question, likelihoods: Likelihoods | None,
             config: ScoringConfig, report: RegradeReport) -> None:
    result = _score_stored(answer, question, likelihoods, config)
    report.rescored += 1
    if (result.points, result.verdict) != (answer.points, answer.verdict):
        report.changes.append(ScoreChange(answer.submission_id, store.who(answer.submission),
                                          answer.question_id, answer.points, result.points,
                                          answer.verdict, result.verdict))
    # the key's rules (case, spaces, width) decide which answers group together
    store.set_score(answer, result,
                    normalize(answer.text, question.kind, Rules.of(question.match).options()))


def _score_stored(answer: Answer, question: Question, likelihoods: Likelihoods | None,
                  config: ScoringConfig) -> ScoredAnswer:
    candidates = candidate_strings(question)
    stored = dict(answer.answer_lls or {})
    lls = {c: stored[c] for c in candidates if c in stored}
    missing = [c for c in candidates if c not in stored]
    if missing and likelihoods is not None:
        fresh = likelihoods(answer, missing, question.kind) or {}
        lls.update({c: v for c, v in fresh.items() if v is not None and math.isfinite(v)})
        store.add_likelihoods(answer, fresh)
    return score_answer(question, answer.text, answer.confidence, answer.reading_ll,
                        lls or None, config)
