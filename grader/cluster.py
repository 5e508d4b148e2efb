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
- each file's bytes once, as its task's argument, while at most `window` files are in flight,
  so a batch of 100,000 photos never sits in memory;
- the outcomes (graded pages with their crops) back to the caller, who stores them.

A worker that dies mid-task has its task run again on another worker by the scheduler (Dask
retries a task whose worker was lost up to `distributed.scheduler.allowed-failures` times); a
file whose task still fails comes back as an error outcome, and the batch goes on. Only the
caller writes to the gradebook, so a page a dead worker had finished is stored at most once
(and the database's unique constraint holds that across callers).

The worker processes of a LocalCluster end with the process that started them: distributed's
process wrapper watches a pipe from its parent and exits when the parent is gone, even after
SIGKILL (tests/test_bad_input.py kills a `grade --workers 2` and looks).
"""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator, TypeVar

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


def grade_on_cluster(client: "Client", items: Iterable[tuple[T, FileJob | None]], spec: GradingSpec,
                     models_dir: str | Path | None = None,
                     window: int | None = None) -> Iterator[tuple[T, list[PageOutcome]]]:
    """(item, outcomes) for each (item, job) as its grading finishes (completion order); a job
    of None (nothing to grade) comes back at once with no outcomes. At most `window` files
    (default: two per worker) are in flight; the next is read only when one comes back."""
    from distributed import as_completed

    window = window or 2 * worker_count(client)
    shared = client.scatter(spec, broadcast=True, hash=False)  # the key travels once
    running = as_completed()
    owners: dict[object, tuple[T, str]] = {}  # by task key
    source = iter(items)
    exhausted = False
    while True:
        while not exhausted and running.count() < window:
            try:
                item, job = next(source)
            except StopIteration:
                exhausted = True
                break
            if job is None:
                yield item, []
                continue
            future = client.submit(grade_in_worker, job, shared, models_dir, pure=False)
            owners[future.key] = (item, job.name)
            running.add(future)
        if running.is_empty():
            if exhausted:
                break
            continue
        future = next(running)
        item, name = owners.pop(future.key)
        yield item, _outcomes(future, name)
        future.release()


def _outcomes(future, name: str) -> list[PageOutcome]:
    """The task's outcomes; a task that failed for good (its worker died on every try, or the
    file crashed the grading) is an error outcome for the file, and the batch goes on."""
    try:
        return future.result()
    except Exception as error:  # noqa: BLE001 - one file must never stop the batch
        return [PageOutcome(name, 0, error=f"grading this file failed on the cluster "
                                          f"({type(error).__name__}: {error}); try it again")]


def default_address() -> str | None:
    """$GRADER_CLUSTER, read through grader.settings."""
    return Settings.from_env(os.environ).cluster
