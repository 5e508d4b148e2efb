"""Scale bench: the Dask engine (grader.cluster) with 1 and 2 workers into SQLite and PostgreSQL.

    nice -n 5 .venv/bin/python bench/scale.py                 # 24 photos
    nice -n 5 .venv/bin/python bench/scale.py --photos 60

N photos of the 20-question arithmetic sheet at 4000x3000 (12 MP JPEG) are generated once; then
for each database (a fresh SQLite file; a fresh database on a throwaway PostgreSQL 15 server
with its default durability, fsync on) and each worker count, a LocalCluster is started, every
worker loads its recogniser, and `grade_photos` grades the whole batch into the empty gradebook
(decode, registration, crops, recogniser, scoring, storing each page). Printed per run:

- pages per minute over the batch (the cluster already up: its start is printed apart, as a
  `grade --workers N` command pays it once per batch);
- CPU seconds per page: the workers' CPU time plus this process's divided by the pages, and the
  two apart (on a LocalCluster the workers read the photos and store the pages themselves;
  this process runs the scheduler and the client and hands out the files);
- peak resident memory (VmHWM) of each worker process, and of this process;
- the cores the run kept busy (CPU seconds a page x pages a second);
- the speed-up of 2 workers over 1 (and the most it can be when the batch's own process, which
  schedules the files, shares the cores), and the engine's cost per task: the CPU seconds per
  page of 1 worker against a serial run in this process (no Dask; OpenCV there uses its own
  threads, the workers one each, so the figure can come out below zero).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.grading import THROUGHPUT_KEY, _vm_hwm_mb, class_answers, photo_of  # noqa: E402
from grader import cluster, db  # noqa: E402
from grader.answer_key import list_answer_keys  # noqa: E402
from grader.batch import worker_reader  # noqa: E402
from grader.grading import GradeOptions, KeyRef, grade_photos, prepare  # noqa: E402
from grader.reader import load_reader  # noqa: E402


@dataclass
class Run:
    database: str
    workers: int  # 0: serial, in this process
    pages: int
    seconds: float
    cpu_per_page: float
    worker_peak_mb: list[float]
    main_peak_mb: float
    start_s: float = 0.0
    failed: int = 0
    main_cpu_per_page: float = 0.0  # of cpu_per_page, this process's share
    database_mb: float = 0.0  # what the batch added to the gradebook's size

    @property
    def per_minute(self) -> float:
        return self.pages / self.seconds * 60

    @property
    def cores_busy(self) -> float:
        """The CPU the run kept busy, in cores (at the machine's core count it is full)."""
        return self.cpu_per_page * self.pages / self.seconds


def make_photos(folder: Path, count: int) -> list[Path]:
    key = next(k for k in list_answer_keys() if k.id == THROUGHPUT_KEY)
    rng = np.random.default_rng(2023)
    started = time.perf_counter()
    paths = []
    for i in range(count):
        paths.append(folder / f"photo-{i:03d}.jpg")
        paths[-1].write_bytes(photo_of(key, class_answers(key, 1, rng), rng, (4000, 3000), 0.5).jpeg)
    sizes = [p.stat().st_size / 1e6 for p in paths]
    print(f"generated {count} photos 4000x3000 (12 MP), JPEG {np.mean(sizes):.1f} MB on average, "
          f"in {time.perf_counter() - started:.0f} s", flush=True)
    return paths


def _warm(models_dir: str | None) -> tuple[int, float]:
    """On a worker: load its recogniser; (its pid, its CPU seconds so far)."""
    import psutil

    worker_reader(models_dir)
    times = psutil.Process().cpu_times()
    return os.getpid(), times.user + times.system


def _cpu() -> float:
    """This process's CPU seconds (run on a worker: the worker's)."""
    import psutil

    times = psutil.Process().cpu_times()
    return times.user + times.system


def on_cluster(url: str, database: str, workers: int, paths: list[Path]) -> Run:
    engine = db.open_engine(url)
    context = prepare(engine, KeyRef(THROUGHPUT_KEY))
    empty_mb = _database_mb(engine)
    started = time.perf_counter()
    with cluster.connect(workers=workers) as client:
        before = client.run(_warm, None)  # every worker's recogniser loaded before the clock
        start_s = time.perf_counter() - started
        main_cpu = _cpu()
        began = time.perf_counter()
        results = list(grade_photos(engine, context, paths, options=GradeOptions(client=client)))
        seconds = time.perf_counter() - began
        after = client.run(_cpu)
        main_cpu = _cpu() - main_cpu
        cpu = main_cpu + sum(after[w] - before[w][1] for w in before)
        pids = [pid for pid, _ in before.values()]
        worker_peaks = [_vm_hwm_mb(pid) for pid in pids]  # the kernel's own peak (VmHWM)
    size = _database_mb(engine) - empty_mb
    engine.dispose()
    return Run(database, workers, len(results), seconds, cpu / len(results), worker_peaks,
               _vm_hwm_mb(), start_s, sum(r.error is not None for r in results),
               main_cpu / len(results), size)


def _database_mb(engine) -> float:
    """The gradebook's size on disk: the SQLite file (and its WAL), or the PostgreSQL database."""
    from sqlalchemy import text

    if engine.dialect.name == "sqlite":
        path = Path(engine.url.database)
        return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists()) / 1e6
    with engine.connect() as connection:
        return connection.execute(text("SELECT pg_database_size(current_database())")).scalar_one() / 1e6


def serial(url: str, database: str, paths: list[Path]) -> Run:
    engine = db.open_engine(url)
    context = prepare(engine, KeyRef(THROUGHPUT_KEY))
    reader = load_reader(threads=1)
    cpu = _cpu()
    began = time.perf_counter()
    results = list(grade_photos(engine, context, paths, reader))
    seconds = time.perf_counter() - began
    engine.dispose()
    cpu = (_cpu() - cpu) / len(results)
    return Run(database, 0, len(results), seconds, cpu, [], _vm_hwm_mb(),
               failed=sum(r.error is not None for r in results), main_cpu_per_page=cpu)


def report(run: Run) -> None:
    who = "serial, in this process" if run.workers == 0 else f"{run.workers} worker(s)"
    start = f", cluster start + model load {run.start_s:.1f} s" if run.workers else ""
    workers = ", ".join(f"{m:.0f}" for m in run.worker_peak_mb) or "-"
    print(f"{run.database:10s} {who:24s} {run.pages} pages in {run.seconds:6.1f} s = "
          f"{run.per_minute:5.0f} pages/min; {run.cpu_per_page:.2f} CPU s/page "
          f"({run.main_cpu_per_page:.2f} here), {run.cores_busy:.1f} cores busy; peak RSS workers "
          f"[{workers}] MB, main {run.main_peak_mb:.0f} MB; {run.failed} failed{start}", flush=True)
    if run.database_mb:
        print(f"{'':10s} the gradebook grew {run.database_mb:.1f} MB for {run.pages} pages", flush=True)


def _fresh(server, folder: Path, name: str) -> str:
    """An empty gradebook's URL: a new database on the PostgreSQL server, else a new SQLite file."""
    if server is not None:
        return server.database(name)
    return f"sqlite:///{folder / f'{name}.db'}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=int, default=24)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--no-serial", action="store_true", help="skip the serial baseline")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f}; nice {os.nice(0)}")
    runs: list[Run] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        # generated in a child process: this process's peak memory is the grading's alone
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as child:
            paths = child.submit(make_photos, folder, args.photos).result()
        for database in args.databases.split(","):
            server = None
            if database == "postgresql":
                from tests import postgres

                server = postgres.start(fast=False)
            try:
                if not args.no_serial:
                    runs.append(serial(_fresh(server, folder, "serial"), database, paths))
                    report(runs[-1])
                for workers in (1, 2):
                    runs.append(on_cluster(_fresh(server, folder, f"w{workers}"), database, workers,
                                           paths))
                    report(runs[-1])
            finally:
                if server is not None:
                    server.stop()
    for database in args.databases.split(","):
        by = {r.workers: r for r in runs if r.database == database}
        line = f"{database}: 2 workers / 1 worker = {by[2].per_minute / by[1].per_minute:.2f}x"
        # One worker has a core to itself while this process (the scheduler, the client) runs
        # beside it; two workers and this process share the cores. With every core full, the
        # ratio is at most cores x (the workers' share of a page's CPU).
        two = by[2]
        workers_share = (two.cpu_per_page - two.main_cpu_per_page) / two.cpu_per_page
        cores = os.cpu_count() or 1
        line += (f" (at most {min(2.0, cores * workers_share):.2f}x on {cores} cores when this "
                 f"process's {two.main_cpu_per_page * 1000:.0f} CPU ms a page shares them)")
        if 0 in by:  # in CPU time: wall time on a shared machine says more about the others
            cost = by[1].cpu_per_page - by[0].cpu_per_page
            line += f"; the engine's cost per task (1 worker - serial) {cost * 1000:+.0f} CPU ms/page"
        print(line)
    print(f"load average at the end {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
