"""Grading pages on a Dask cluster: the one engine that runs a batch in parallel.

    with connect(workers=2) as client:                      # a LocalCluster of 2 processes
        for item, outcomes in grade_on_cluster(client, items, spec):
            ...                                             # completion order

`connect` starts a `distributed.LocalCluster` of N single-threaded worker processes (each one
grading one page at a time with its own recogniser on one core), or joins an existing scheduler
(`grade --cluster tcp://host:8786`, or $GRADER_CLUSTER) whose workers run this same project.

What travels, and how often:
- the answer key, roster and settings (`GradingSpec`) once per batch: scattered to every worker
  and handed to each task as a reference;
- the recogniser never: each worker process loads it on its first task and keeps it
  (grader.batch.grade_in_worker);
- the files, as their tasks' arguments, while at most `window` tasks are in flight, so a batch
  of 100,000 photos never sits in memory. A task is one file at first, then up to
  FILES_PER_TASK files: the scheduler and the client spend about 3.5 CPU ms on each task,
  which the 2 cores of a small machine share with the workers (bench/scale.py);
- what comes back. To a remote cluster, grader.grading sends each photo's bytes and gets the
  graded pages with their crops back, and stores them itself. On a LocalCluster the workers
  share this machine's disk and gradebook: each gets the photo's path, and reads, grades and
  stores the file itself (grader.grading.grade_file_on_worker), so only the pages' small
  results come back and the caller, which also runs the scheduler, is not the batch's one
  writer.

A worker that dies mid-task has its task run again on another worker by the scheduler (Dask
retries a task whose worker was lost up to `distributed.scheduler.allowed-failures` times); a
task of several files that still fails is tried again file by file, and a file that still
fails comes back as an error outcome, and the batch goes on. A page is stored at most once:
each page is stored in its own transaction, a task run again finds the pages stored before
(the photo's hash), and the database's unique constraint holds that across processes.

The worker processes of a LocalCluster end with the process that started them: distributed's
process wrapper watches a pipe from its parent and exits when the parent is gone, even after
SIGKILL (tests/test_bad_input.py kills a `grade --workers 2` and looks).
"""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, TypeVar

from grader.batch import FileJob, GradingSpec, PageOutcome, grade_in_worker
from grader.errors import GraderError
from grader.settings import Settings

if TYPE_CHECKING:  # distributed is imported only when a batch runs on a cluster
    from distributed import Client

T = TypeVar("T")
CONNECT_TIMEOUT_S = 20
# Each worker grades on one core: ONNX Runtime and OpenCV are told so in grade_in_worker, and
# the BLAS/OpenMP pools of anything else they import by this.
WORKER_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
# Dask starts its workers with MALLOC_TRIM_THRESHOLD_=65536 (to hand memory back to the system
# at once), which also stops glibc from raising its mmap threshold: every page-sized image is then
# a fresh mmap, zero-filled page by page. Measured on one grading process (8 pages of 12 MP, 3
# times): 20,751 page faults and 0.046 s of system time a page with it, 359 and 0.002 s without,
# about a fifth of a page's CPU time. Unset for the local cluster's workers; workers started by
# `dask worker` take it from a Dask config file (README: grading 100,000 pages).
WORKER_CONFIG = {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}


class ClusterUnavailable(GraderError):
    """The Dask scheduler cannot be reached, or a local cluster cannot be started."""


@contextmanager
def connect(workers: int | None = None, address: str | None = None) -> Iterator["Client"]:
    """A client on the scheduler at `address`, else on a new LocalCluster of `workers` single-
    threaded processes (closed with the block)."""
    import dask
    from distributed import Client, LocalCluster

    if address:
        try:
            client = Client(address, timeout=CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError) as error:
            raise ClusterUnavailable(f"cannot reach the Dask scheduler at {address} ({error}); "
                                     "start one with `dask scheduler` and its workers with "
                                     f"`dask worker {address} --nthreads 1`") from None
        with client:
            yield client
        return
    count = max(1, workers or 1)
    try:
        with dask.config.set(WORKER_CONFIG):
            cluster = LocalCluster(n_workers=count, threads_per_worker=1, processes=True,
                                   dashboard_address="127.0.0.1:0", scheduler_port=0, host="127.0.0.1",
                                   silence_logs=logging.ERROR, env=WORKER_ENV)
    except (OSError, RuntimeError) as error:
        raise ClusterUnavailable(f"cannot start {count} grading worker processes ({error})") from None
    with cluster, Client(cluster) as client:
        yield client


def worker_count(client: "Client") -> int:
    """Worker processes the scheduler knows now (at least 1, to size the window)."""
    return max(1, len(client.scheduler_info(n_workers=-1).get("workers", {})))


def is_local(client: "Client") -> bool:
    """Whether the client's workers run on this machine (a LocalCluster: they reach the same
    files and the same database as this process)."""
    from distributed import LocalCluster

    return isinstance(getattr(client, "cluster", None), LocalCluster)


FILES_PER_TASK = 4  # after the first round of single files (module docstring)


def grade_on_cluster(client: "Client", items: Iterable[tuple[T, FileJob | None]], spec: GradingSpec,
                     models_dir: str | Path | None = None, window: int | None = None,
                     task: Callable[..., list[PageOutcome]] = grade_in_worker,
                     task_args: tuple = (), files_per_task: int = FILES_PER_TASK,
                     total: int | None = None) -> Iterator[tuple[T, list[PageOutcome]]]:
    """(item, outcomes) for each (item, job) as its grading finishes (completion order); a job
    of None (nothing to grade) comes back at once with no outcomes.

    Each file is a call `task(job, spec, models_dir, *task_args)` on a worker (by default
    grade_in_worker; grader.grading's task also stores the pages). The first `window` tasks
    (default: two per worker) are one file each, so a small batch spreads over every worker;
    later ones take up to `files_per_task` files (fewer near the end of a batch of `total`
    files, so the workers end together). At most `window` tasks are in flight; the next files
    are read only when one comes back. A task of several files that fails for good is
    tried again one file per task, so that a file that kills its worker fails alone."""
    from distributed import as_completed

    window = window or 2 * worker_count(client)
    shared = client.scatter(spec, broadcast=True, hash=False)  # the key travels once
    running = as_completed(loop=client.loop)  # this client's loop, not the latest client's
    owners: dict[object, list[tuple[T, FileJob]]] = {}  # by task key
    source = iter(items)
    exhausted, submitted, taken = False, 0, 0

    def submit(chunk: list[tuple[T, FileJob]]) -> None:
        future = client.submit(grade_files, [job for _, job in chunk], shared, models_dir, task,
                               task_args, pure=False)
        owners[future.key] = chunk
        running.add(future)

    while True:
        while not exhausted and running.count() < window:
            size = 1 if submitted < window else max(1, files_per_task)
            if total is not None:
                size = max(1, min(size, (total - taken) // window))
            chunk, empty, exhausted = _take(source, size)
            taken += len(chunk) + len(empty)
            for item in empty:
                yield item, []
            if chunk:
                submit(chunk)
                submitted += 1
        if running.is_empty():
            if exhausted:
                break
            continue
        future = next(running)
        chunk = owners.pop(future.key)
        try:
            done = future.result()
        except Exception as error:  # noqa: BLE001 - one file must never stop the batch
            if len(chunk) > 1:
                for one in chunk:
                    submit([one])
            else:
                item, job = chunk[0]
                yield item, [PageOutcome(job.name, 0, error=f"grading this file failed on the "
                                         f"cluster ({type(error).__name__}: {error}); try it again")]
        else:
            for (item, _), outcomes in zip(chunk, done):
                yield item, outcomes
        future.release()


def _take(source: Iterator[tuple[T, FileJob | None]],
          size: int) -> tuple[list[tuple[T, FileJob]], list[T], bool]:
    """Up to `size` jobs from `source`, the items passed on the way that have nothing to grade,
    and whether the source ended."""
    chunk: list[tuple[T, FileJob]] = []
    empty: list[T] = []
    while len(chunk) < size:
        try:
            item, job = next(source)
        except StopIteration:
            return chunk, empty, True
        if job is None:
            empty.append(item)
        else:
            chunk.append((item, job))
    return chunk, empty, False


def grade_files(jobs: list[FileJob], spec: GradingSpec, models_dir: str | Path | None,
                task: Callable[..., list[PageOutcome]], task_args: tuple) -> list[list[PageOutcome]]:
    """A cluster task: `task` over several files, one after the other, on one worker."""
    return [task(job, spec, models_dir, *task_args) for job in jobs]


def default_address() -> str | None:
    """$GRADER_CLUSTER, read through grader.settings."""
    return Settings.from_env(os.environ).cluster
