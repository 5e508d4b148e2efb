"""The Dask engine (grader.cluster) with the real model on a LocalCluster of 2 worker processes,
shared by the module (starting one costs seconds), into SQLite and PostgreSQL: the same results
as a serial run, a worker killed mid-batch, a batch abandoned and run again, and the command
line's `--workers` with its summary of what a rerun did."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select

from grader import cluster, db
from grader.answer_key import load_answer_key
from grader.batch import FileJob, GradingSpec, grade_in_worker
from grader.cli import main
from grader.grading import Destination, GradeOptions, KeyRef, grade_file_on_worker, grade_photos, prepare
from grader.orm import Answer, Submission
from grader.paths import ANSWER_KEYS_DIR
from grader.reader import load_reader
from grader.simulate import PhotoParams, fill_answers, simulate_photo
from grader.worksheet import render_page

KEY_ID = "arithmetic-basics"


@pytest.fixture(scope="module")
def client():
    with cluster.connect(workers=2) as client:
        yield client


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> list[Path]:
    """Eight distinct arithmetic sheets of students s0..s7, photographed."""
    folder = tmp_path_factory.mktemp("cluster-photos")
    key = load_answer_key(ANSWER_KEYS_DIR / f"{KEY_ID}.yaml")
    paths = []
    for seed in range(8):
        rng = np.random.default_rng(seed)
        answers = {q.id: q.answers[0] for q in key.questions if rng.uniform() < 0.7}
        sheet = fill_answers(render_page(key, 1, f"s{seed}"), key, 1, answers, rng)
        paths.append(folder / f"s{seed}.jpg")
        paths[-1].write_bytes(simulate_photo(sheet, rng, PhotoParams.random(rng, 0.3)).jpeg)
    return paths


@pytest.fixture(scope="module")
def serial(photos, tmp_path_factory) -> list[dict]:
    """The reference: the photos graded in this process into an SQLite file."""
    engine = db.open_engine(f"sqlite:///{tmp_path_factory.mktemp('serial') / 'g.db'}")
    context = prepare(engine, KeyRef(KEY_ID))
    results = [r.as_json() for r in grade_photos(engine, context, photos, load_reader())]
    engine.dispose()
    return results


def counts(engine) -> tuple[int, int, int]:
    """(graded pages, answers, distinct photos) in the gradebook."""
    with db.read_session(engine) as session:
        pages = session.scalar(select(func.count()).select_from(Submission)
                               .where(Submission.status == "ok"))
        answers = session.scalar(select(func.count()).select_from(Answer))
        photos = session.scalar(select(func.count(func.distinct(Submission.photo_sha256))))
    return pages or 0, answers or 0, photos or 0


def test_the_cluster_grades_as_this_process_does(client, photos, serial, gradebook_url):
    engine = db.open_engine(gradebook_url)
    context = prepare(engine, KeyRef(KEY_ID))
    done: list[int] = []
    results = [r.as_json() for r in grade_photos(engine, context, photos, options=GradeOptions(client=client),
                                                 on_done=lambda: done.append(1))]
    assert results == serial and len(done) == len(photos)  # same JSON, in input order
    assert [r["student"] for r in results] == [f"s{i}" for i in range(8)]
    assert counts(engine) == (8, 8 * 20, 8)
    engine.dispose()


def test_a_worker_killed_mid_batch_loses_nothing_and_stores_nothing_twice(client, photos, serial,
                                                                           gradebook_url):
    engine = db.open_engine(gradebook_url)
    context = prepare(engine, KeyRef(KEY_ID))
    batch = grade_photos(engine, context, photos, options=GradeOptions(client=client))
    results = [next(batch).as_json()]  # the first page is back: the others are in flight
    victim = next(iter(client.run(os.getpid).values()))
    os.kill(victim, signal.SIGKILL)
    results += [r.as_json() for r in batch]
    assert results == serial
    assert counts(engine) == (8, 8 * 20, 8)
    engine.dispose()
    deadline = time.monotonic() + 60  # the nanny brings the worker back for the next test
    while cluster.worker_count(client) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)


def test_a_batch_stopped_half_way_and_run_again_grades_only_the_rest(client, photos, serial,
                                                                     gradebook_url):
    engine = db.open_engine(gradebook_url)
    context = prepare(engine, KeyRef(KEY_ID))
    first = grade_photos(engine, context, photos, options=GradeOptions(client=client))
    stopped = [next(first) for _ in range(3)]
    first.close()  # the caller stopped: its queued work is dropped, what was stored stays
    settle(client)  # (the pages a worker was grading are stored when it ends them)
    stored, _, _ = counts(engine)
    assert 3 <= stored <= 8 and all(not r.already_graded for r in stopped)
    again = list(grade_photos(engine, context, photos, options=GradeOptions(client=client)))
    assert [r.as_json() for r in again] == serial
    assert sum(r.already_graded for r in again) == stored
    assert counts(engine) == (8, 8 * 20, 8)
    engine.dispose()


def settle(client, timeout_s: float = 60) -> None:
    """Wait until no worker is executing a task: a dropped batch's tasks run to their end on
    the worker (the scheduler forgets them at once; a thread cannot be stopped mid-task)."""
    def executing(dask_worker) -> int:
        return len(dask_worker.state.executing)

    deadline = time.monotonic() + timeout_s
    while any(client.run(executing).values()) and time.monotonic() < deadline:
        time.sleep(0.1)


def test_local_workers_read_the_photos_and_store_the_pages_themselves(client, photos, tmp_path):
    """A LocalCluster's worker does a file's whole work (grader.grading.grade_file_on_worker):
    it reads the photo from its path (or takes the bytes sent), grades it, stores the page, and
    hands back only the result; a file graded before is found, not graded again."""
    engine = db.open_engine(f"sqlite:///{tmp_path / 'g.db'}")
    context = prepare(engine, KeyRef(KEY_ID))
    where = Destination(context.key.id, context.key_version_id, url=str(engine.url))
    spec = GradingSpec(context.key, context.key_text)
    jobs = [(0, FileJob(b"", "first.jpg", path=str(photos[0]))),
            (1, FileJob(photos[1].read_bytes(), "sent.jpg")),
            (2, FileJob(b"", "gone.jpg", path=str(tmp_path / "gone.jpg")))]
    results = [outcomes[0].stored for _, outcomes in sorted(cluster.grade_on_cluster(
        client, jobs, spec, task=grade_file_on_worker, task_args=(where,)))]
    assert [r.result["student"] for r in results[:2]] == ["s0", "s1"]
    assert [r.label for r in results] == ["first.jpg", "sent.jpg", "gone.jpg"]
    assert not any(r.already_graded for r in results) and results[0].submission_id
    assert "gone.jpg: cannot read the file (file not found)" in results[2].error
    assert counts(engine) == (2, 2 * 20, 2)
    ((_, (again,)),) = cluster.grade_on_cluster(client, jobs[:1], spec, task=grade_file_on_worker,
                                               task_args=(where,))
    assert again.stored.already_graded and again.stored.submission_id == results[0].submission_id
    engine.dispose()


def refuse_one_file(job, spec, models_dir):
    """A task that breaks on one file, as a file that crashes the grading would."""
    if job.name == "poison.jpg":
        raise RuntimeError("this file breaks the task")
    return grade_in_worker(job, spec, models_dir)


def test_a_task_of_several_files_that_fails_is_tried_again_file_by_file(client, photos):
    """Only the file that breaks its task fails; the three beside it in its task are graded."""
    key = load_answer_key(ANSWER_KEYS_DIR / f"{KEY_ID}.yaml")
    names = ["s0.jpg", "s1.jpg", "poison.jpg", "s2.jpg", "s3.jpg"]
    jobs = [(name, FileJob(photos[0 if name == "poison.jpg" else int(name[1])].read_bytes(), name))
            for name in names]
    done = dict(cluster.grade_on_cluster(client, jobs, GradingSpec(key, ""), window=1,
                                         files_per_task=4, task=refuse_one_file))
    assert "failed on the cluster (RuntimeError: this file breaks the task)" in done["poison.jpg"][0].error
    graded = {name: outcomes[0].graded for name, outcomes in done.items() if name != "poison.jpg"}
    assert {name: page.student_id for name, page in graded.items()} == {
        "s0.jpg": "s0", "s1.jpg": "s1", "s2.jpg": "s2", "s3.jpg": "s3"}


@pytest.mark.parametrize("gradebook_url", ["sqlite"], indirect=True)
def test_a_remote_cluster_s_workers_get_the_bytes_and_the_caller_stores(client, photos, serial,
                                                                       gradebook_url):
    """A client on a scheduler's address (no LocalCluster of ours: its workers may be on other
    machines, without our files or our database) sends the photos and stores what comes back."""
    from distributed import Client

    with Client(client.scheduler.address) as remote:
        assert not cluster.is_local(remote) and cluster.is_local(client)
        engine = db.open_engine(gradebook_url)
        context = prepare(engine, KeyRef(KEY_ID))
        results = [r.as_json() for r in grade_photos(engine, context, photos[:3],
                                                     options=GradeOptions(client=remote))]
    assert results == serial[:3]
    assert counts(engine) == (3, 3 * 20, 3)
    engine.dispose()


def test_the_workers_run_with_glibc_s_own_malloc_thresholds(client):
    """Dask's default MALLOC_TRIM_THRESHOLD_ made every page image a fresh mmap, a fifth of a
    page's CPU time (grader.cluster.WORKER_CONFIG): no worker runs with it, one the nanny
    restarted after a kill included (the test above), and each still runs on one thread."""
    envs = client.run(lambda: (os.environ.get("MALLOC_TRIM_THRESHOLD_"), os.environ.get("OMP_NUM_THREADS")))
    assert len(envs) == 2 and set(envs.values()) == {(None, "1")}, envs


def test_grade_workers_says_how_many_pages_were_already_graded(photos, tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    args = ["grade", "--key", KEY_ID, "--db", url, "--no-progress", "--workers", "2"]
    assert main([*args, *map(str, photos[:2])]) == 0
    assert "2 pages graded, 0 already in the gradebook" in capsys.readouterr().err
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a photo")
    assert main([*args, *map(str, photos[:3]), str(broken)]) == 2
    captured = capsys.readouterr()
    assert "1 page graded, 2 already in the gradebook (not graded again), 1 failed" in captured.err
    assert "broken.jpg: error:" in captured.out


def test_an_unreachable_scheduler_is_named(tmp_path, capsys):
    from tests.servers import free_port

    address = f"tcp://127.0.0.1:{free_port()}"
    with pytest.raises(cluster.ClusterUnavailable, match=f"cannot reach the Dask scheduler at {address}"):
        with cluster.connect(address=address):
            pass
