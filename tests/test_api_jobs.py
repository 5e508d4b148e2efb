"""The API's jobs end to end, on SQLite and PostgreSQL: the real server (`serve-api`) in a
subprocess, POST /jobs with photos, a zip and a file that is no photo, GET /jobs/{id} until done;
a server killed mid-job and started again finishes it, storing each page once."""

from __future__ import annotations

import io
import sys
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np
import pytest
from sqlalchemy import func, select

from grader import db
from grader.answer_key import load_answer_key
from grader.orm import Job, Submission
from grader.paths import ANSWER_KEYS_DIR, REPO_ROOT
from grader.simulate import PhotoParams, fill_answers, simulate_photo
from grader.worksheet import render_page
from tests.servers import free_port, running_server
from tests.test_api import server_env

ARITHMETIC = "arithmetic-basics"


@contextmanager
def serve(folder: Path, db_url: str) -> Iterator[tuple[str, object]]:
    """`python -m grader serve-api` on the gradebook at `db_url`: (its URL, its process)."""
    port = free_port()
    command = [sys.executable, "-m", "grader", "serve-api", "--port", str(port), "--log-level", "warning"]
    url = f"http://127.0.0.1:{port}"
    log = folder / f"server-{port}.log"
    with running_server(command, cwd=REPO_ROOT, env=server_env(None, db_url), log_path=log,
                        health_url=f"{url}/health") as process:
        yield url, process
    assert "Traceback" not in log.read_text(), log.read_text()


@pytest.fixture(scope="module")
def sheets(tmp_path_factory) -> list[tuple[str, bytes]]:
    """Four photographed arithmetic sheets of students j1..j4."""
    key = load_answer_key(ANSWER_KEYS_DIR / f"{ARITHMETIC}.yaml")
    out = []
    for seed in range(1, 5):
        rng = np.random.default_rng(40 + seed)
        answers = {q.id: q.answers[0] for q in key.questions if rng.uniform() < 0.8}
        sheet = fill_answers(render_page(key, 1, f"j{seed}"), key, 1, answers, rng)
        params = PhotoParams.random(rng, severity=0.3, frame=(1600, 1200))
        out.append((f"j{seed}.jpg", simulate_photo(sheet, rng, params).jpeg))
    return out


def zipped(files: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files:
            archive.writestr(f"class-3b/{name}", data)
        archive.writestr("class-3b/.DS_Store", b"\0\0")  # not a photo: skipped
    return buffer.getvalue()


def wait_done(client: httpx.Client, job_id: str, timeout_s: float = 180) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        body = client.get(f"/jobs/{job_id}").json()
        assert body["state"] in ("queued", "running", "done"), body
        if body["state"] == "done":
            return body
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} not done within {timeout_s} s: {body}")


def stored(db_url: str) -> tuple[int, int]:
    """(graded pages, distinct photos) in the gradebook."""
    engine = db.open_engine(db_url)
    with db.read_session(engine) as session:
        pages = session.scalar(select(func.count()).select_from(Submission).where(Submission.status == "ok"))
        photos = session.scalar(select(func.count(func.distinct(Submission.photo_sha256)))
                                .where(Submission.status == "ok"))
    engine.dispose()
    return pages or 0, photos or 0


def test_a_job_grades_photos_and_zips_as_grade_does(gradebook_url, sheets, tmp_path):
    with serve(tmp_path, gradebook_url) as (url, _), httpx.Client(base_url=url, timeout=60) as client:
        files = [("photos", (sheets[0][0], sheets[0][1], "image/jpeg")),
                 ("photos", ("class-3b.zip", zipped(sheets[1:3]), "application/zip")),
                 ("photos", ("notes.txt", b"not a photo", "text/plain"))]
        accepted = client.post("/jobs", data={"assignment": ARITHMETIC}, files=files)
        assert accepted.status_code == 202, accepted.text
        body = accepted.json()
        assert (body["state"], body["files"]) == ("queued", 4)
        assert accepted.headers["location"] == f"/jobs/{body['id']}"
        done = wait_done(client, body["id"])
        assert done["files_done"] == 4
        labels = [r["photo"] for r in done["results"]]
        assert labels == ["j1.jpg", "class-3b.zip/j2.jpg", "class-3b.zip/j3.jpg", "notes.txt"]
        assert [r.get("student") for r in done["results"][:3]] == ["j1", "j2", "j3"]
        assert "error" in done["results"][3]
        # /grade of the same photos answers with the stored pages: the same results
        again = client.post("/grade", data={"assignment": ARITHMETIC},
                            files=[("photos", s) for s in sheets[:3]]).json()["results"]
        assert [{**r, "photo": ""} for r in again] == [{**r, "photo": ""} for r in done["results"][:3]]
        assert client.get("/jobs/0123456789abcdef").status_code == 404
        unknown = client.post("/jobs", data={"assignment": "no-such-key"}, files=files[:1])
        assert unknown.status_code == 404 and "no such answer key" in unknown.json()["error"]
        broken = client.post("/jobs", data={"assignment": ARITHMETIC},
                             files=[("photos", ("photos.zip", b"PK\x03\x04 broken", "application/zip"))])
        assert broken.status_code == 400 and "photos.zip: not a readable zip" in broken.json()["error"]
    assert stored(gradebook_url) == (3, 3)


def test_a_job_survives_a_server_restart(gradebook_url, sheets, tmp_path):
    with serve(tmp_path, gradebook_url) as (url, process):
        with httpx.Client(base_url=url, timeout=60) as client:
            accepted = client.post("/jobs", data={"assignment": ARITHMETIC},
                                   files=[("photos", s) for s in sheets])
        assert accepted.status_code == 202, accepted.text
        process.kill()  # type: ignore[attr-defined]  # mid-job: SIGKILL, no clean shutdown
        process.wait()  # type: ignore[attr-defined]
    job_id = accepted.json()["id"]
    engine = db.open_engine(gradebook_url)
    with db.read_session(engine) as session:
        job = session.get(Job, job_id)
        assert job is not None and job.state in ("queued", "running"), "the job ended before the kill"
    engine.dispose()
    with serve(tmp_path, gradebook_url) as (url, _), httpx.Client(base_url=url, timeout=60) as client:
        done = wait_done(client, job_id)
    assert [r["student"] for r in done["results"]] == ["j1", "j2", "j3", "j4"]
    assert stored(gradebook_url) == (4, 4)  # pages stored before the kill were not stored again
