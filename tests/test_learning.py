"""Learning from the teacher (issue 18): labels from the teacher's work, `adapt` on a tiny real
gradebook (adopts or refuses as its validation says, a versioned model ONNX Runtime loads,
rollback), `regrade --reread` with a changed model, and `review` / `override` on the database
the app uses. Real SQLite files, the real model in models/, the demo's generated photos."""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from sqlalchemy import func, select, text

from grader import db, model_versions, store
from grader.demo import seed_demo
from grader.errors import GraderError
from grader.model_spec import ModelSpec
from grader.orm import Answer, Label, ModelVersion
from grader.paths import MODELS_DIR
from grader.recognizer import Recognizer
from grader.teacher_labels import (
    AUTO,
    AUTO_LABEL_MARGIN,
    TEACHER,
    TYPED,
    is_sure_auto,
    question_of,
    refresh_auto_labels,
)
from grader.vocab import Status, Verdict

REPO = Path(__file__).resolve().parents[1]
ASSIGNMENT = "arithmetic-basics"
IN_REVIEW = "english-vocabulary"  # the demo assignment with answers in review (crnn-9, crnn-10; issue 19)
SHIPPED = ModelSpec.load(MODELS_DIR).version


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("demo")
    engine = db.open_engine(f"sqlite:///{folder / 'gradebook.db'}")
    seed_demo(engine)
    engine.dispose()
    return folder


@pytest.fixture
def url(demo_dir, tmp_path) -> str:
    shutil.copytree(demo_dir, tmp_path / "book")
    return f"sqlite:///{tmp_path / 'book' / 'gradebook.db'}"


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "grader", *args], cwd=REPO, capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=300)


def labels(engine) -> dict[int, Label]:
    with db.read_session(engine) as session:
        return {label.answer_id: label for label in session.scalars(select(Label))}


def auto_correct(session, accepted_reading: bool = True) -> Answer:
    for answer in store.list_answers(session, ASSIGNMENT, status=Status.AUTO):
        accepted = answer.text in question_of(session, answer).answers
        if answer.verdict == Verdict.CORRECT and accepted == accepted_reading:
            return answer
    raise AssertionError("the demo has no such answer")


# --- labels --------------------------------------------------------------------------------------

def test_every_stored_reading_records_the_model_version(url):
    with db.read_session(db.open_engine(url)) as session:
        answers = session.scalars(select(Answer).where(Answer.status != Status.BLANK)).all()
        assert answers and {a.model_version for a in answers} == {SHIPPED}


def test_marked_correct_gives_the_likeliest_accepted_answer_as_label(url):
    engine = db.open_engine(url)
    with db.write_session(engine) as session:
        answer = auto_correct(session)
        question = question_of(session, answer)
        answer_id = answer.id
        store.override_answer(session, answer.id, answer.max_points, reason="marked correct")
    label = labels(engine)[answer_id]
    assert label.source == TEACHER and label.text in question.answers
    assert label.writer is not None and label.model_version == SHIPPED and label.kind == question.kind


def test_typed_text_labels_the_crop_and_fixes_the_reading(url):
    engine = db.open_engine(url)
    with db.write_session(engine) as session:
        answer = store.list_answers(session, ASSIGNMENT, status=Status.AUTO)[0]
        answer_id, read = answer.id, answer.text
        store.override_answer(session, answer.id, 0.0, text="  7 1/2 ")
    label = labels(engine)[answer_id]
    assert (label.source, label.text, label.read_text) == (TYPED, "7 1/2", read)
    with db.write_session(engine) as session:
        assert session.get(Answer, answer_id).text == "7 1/2"
        store.override_answer(session, answer_id, 1.0)  # a later click keeps the typed text
    assert labels(engine)[answer_id].text == "7 1/2"
    with db.write_session(engine) as session:
        store.withdraw_override(session, answer_id)  # withdrawn: no label, the model's reading back
        assert session.get(Answer, answer_id).text == read
    assert answer_id not in labels(engine)


def test_a_wrong_answer_without_text_gives_no_label(url):
    engine = db.open_engine(url)
    with db.write_session(engine) as session:
        answer = auto_correct(session)
        answer_id = answer.id
        store.override_answer(session, answer.id, answer.max_points)
        store.override_answer(session, answer.id, 0.0)  # then judged wrong: the label goes
        other = store.list_answers(session, IN_REVIEW, status=Status.REVIEW)[0]
        store.override_answer(session, other.id, 0.0, reason="marked incorrect")
        other_id = other.id
    assert answer_id not in labels(engine) and other_id not in labels(engine)


def test_typed_text_too_long_is_refused_and_nothing_changes(url):
    engine = db.open_engine(url)
    with pytest.raises(GraderError, match="at most 200 characters"):
        with db.write_session(engine) as session:
            answer = store.list_answers(session, ASSIGNMENT)[0]
            answer_id = answer.id
            store.override_answer(session, answer.id, 0.0, text="x" * 201)
    with db.read_session(engine) as session:
        assert not session.get(Answer, answer_id).overridden


def test_auto_labels_only_for_sure_accepted_readings(url):
    engine = db.open_engine(url)
    with db.write_session(engine) as session:
        assert refresh_auto_labels(session, margin=math.inf) == 0
        added = refresh_auto_labels(session)
        assert added > 0
        found = {label.answer_id: label for label in session.scalars(select(Label))}
        for answer in session.scalars(select(Answer)):
            sure = is_sure_auto(answer, question_of(session, answer))
            assert (answer.id in found) == sure
            if sure:
                assert found[answer.id].source == AUTO and found[answer.id].text == answer.text
                assert answer.margin >= AUTO_LABEL_MARGIN and answer.verdict == Verdict.CORRECT
                assert answer.text in question_of(session, answer).answers  # exactly an accepted answer
        assert refresh_auto_labels(session) == 0  # idempotent


# --- review and override from the command line ------------------------------------------------

def test_review_and_override_commands_record_what_the_review_screen_records(url, monkeypatch):
    mixed = cli("review", "--db", url, "--assignment", IN_REVIEW, "--all", "--json")
    assert mixed.returncode == 0, mixed.stderr
    statuses = [e["status"] for e in json.loads(mixed.stdout)]
    assert statuses[0] == Status.REVIEW and Status.AUTO in statuses  # to review first
    listed = cli("review", "--db", url, "--assignment", ASSIGNMENT, "--all", "--json")
    assert listed.returncode == 0, listed.stderr
    entries = json.loads(listed.stdout)
    target = next(e for e in entries if e["student"] and e["status"] == Status.AUTO)
    done = cli("override", "--db", url, "--assignment", ASSIGNMENT, "--student", target["student"],
               "--question", target["question"], "--incorrect", "--text", "99", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["reason"] == "marked incorrect"
    with db.read_session(db.open_engine(url)) as session:
        answer = session.get(Answer, target["answer_id"])
        assert (answer.text, answer.points, answer.status) == ("99", 0.0, Status.TEACHER)
        assert answer.overrides[-1].reason == "marked incorrect"
    assert labels(db.open_engine(url))[target["answer_id"]].source == TYPED
    unknown = cli("override", "--db", url, "--assignment", ASSIGNMENT, "--student", "nobody",
                  "--question", "q1", "--correct")
    assert unknown.returncode == 1 and "no answer of student 'nobody'" in unknown.stderr
    # the app shows the override, with the typed reading
    from tests.test_app import open_app

    app = open_app(monkeypatch, url, "pages/review.py")
    app.radio(key="review-filter").set_value("All answers").run()
    shown = " ".join(m.value for m in app.markdown)
    assert "Read: **99**" in shown and "set by you: incorrect" in shown
    assert app.text_input(key=f"text-{target['answer_id']}").value == "99"


def test_the_review_screen_field_types_what_is_written(url, monkeypatch):
    from tests.test_app import open_app

    app = open_app(monkeypatch, url, "pages/review.py")
    app.radio(key="review-filter").set_value("All answers").run()
    field = next(t for t in app.text_input if t.key.startswith("text-"))
    answer_id = int(field.key.split("-")[1])
    field.input("3/4")
    app.button(key=f"ok-{answer_id}").click().run()
    label = labels(db.open_engine(url))[answer_id]
    assert (label.source, label.text) == (TYPED, "3/4")


# --- adapt ---------------------------------------------------------------------------------------

def tiny(**changes):
    from grader.training.adapt import AdaptConfig

    base = dict(minutes=2.0, min_crops=10, max_steps=3, replay_count=24, shipped_val_count=24,
                batch_size=8, threads=1)
    return AdaptConfig(**{**base, **changes})


@pytest.fixture(scope="module")
def sources():
    from grader.training.adapt import bundled_sources

    return bundled_sources()


def test_adapt_adopts_a_version_onnx_runtime_loads_and_rollback_restores(url, sources):
    from grader.training.adapt import adapt

    engine = db.open_engine(url)
    report = adapt(engine, tiny(), sources=sources)
    assert report.adopted, report.reason
    assert report.steps == 3 and report.held_back_after >= report.held_back_before
    assert report.trained_students >= 1 and report.held_back_students >= 1
    folder = model_versions.models_dir_for(engine)
    assert folder is not None and folder.parent == model_versions.data_folder(engine)
    assert MODELS_DIR not in folder.parents
    spec = ModelSpec.load(folder)
    assert spec.version == report.version and spec.training["parent"] == SHIPPED
    assert spec.training["learned_from"]["crops"] == report.trained_crops
    assert spec.training["validation"]["held_back"]["after"] == report.held_back_after
    for precision in ("fp32", "int8"):
        assert Recognizer.load(folder, precision=precision).version == report.version
    with db.read_session(engine) as session:
        assert model_versions.current_version(session) == report.version
    rolled = cli("adapt", "--db", url, "--rollback")
    assert rolled.returncode == 0 and SHIPPED in rolled.stdout
    assert model_versions.models_dir_for(engine) is None
    again = cli("adapt", "--db", url, "--rollback")
    assert again.returncode == 1 and "nothing to roll back" in again.stderr


def test_adapt_refuses_a_model_that_reads_the_held_back_students_worse(url, sources):
    from grader.training.adapt import adapt

    engine = db.open_engine(url)
    report = adapt(engine, tiny(lr=0.5, max_steps=4), sources=sources)  # a step far too big
    assert not report.adopted and "held-back students worse" in report.reason
    assert report.held_back_after < report.held_back_before
    with db.read_session(engine) as session:
        assert session.scalar(select(func.count(ModelVersion.id))) == 0
    assert model_versions.models_dir_for(engine) is None
    assert [p.name for p in model_versions.data_folder(engine).iterdir()] == [".adapt.lock"]


def test_passes_bound_the_steps_and_a_rejected_version_is_kept_only_when_asked(url, sources):
    from grader.training.adapt import adapt

    engine = db.open_engine(url)
    # one pass over the labelled crops, 4 of them in each batch of 8 (half replay)
    report = adapt(engine, tiny(lr=0.5, max_steps=1000, max_passes=1, keep_rejected=True), sources=sources)
    assert report.steps == math.ceil(report.trained_crops / 4)
    assert not report.adopted
    kept = [p.name for p in model_versions.data_folder(engine).iterdir() if p.name != ".adapt.lock"]
    assert len(kept) == 1 and kept[0].endswith(".rejected")
    assert Recognizer.load(model_versions.data_folder(engine) / kept[0]) is not None  # a whole version
    assert model_versions.models_dir_for(engine) is None  # never current, never recorded
    with db.read_session(engine) as session:
        assert session.scalar(select(func.count(ModelVersion.id))) == 0


def test_adapt_without_enough_labels_says_so_and_changes_nothing(url, tmp_path):
    engine = db.open_engine(url)
    before = len(labels(engine))
    done = cli("adapt", "--db", url, "--min-crops", "100000", "--no-progress")
    assert done.returncode == 1 and "adapt needs at least 100000" in done.stderr
    assert "nothing was changed" in done.stderr and len(labels(engine)) == before
    empty = f"sqlite:///{tmp_path / 'empty.db'}"
    none = cli("adapt", "--db", empty, "--no-progress")
    assert none.returncode == 1 and "no labelled crops yet" in none.stderr


def test_a_second_adapt_at_once_is_refused(url):
    from grader.training.adapt import adapt

    engine = db.open_engine(url)
    with model_versions.adapt_lock(engine):
        with pytest.raises(model_versions.AdaptBusy, match="another adapt of this gradebook"):
            adapt(engine, tiny())


# The driver sets Python's own Ctrl-C handler: a shell that starts a command in the background
# hands it SIGINT ignored, and Python then keeps it ignored (a fresh-machine run of `make test`
# started with `&` failed this test so: the Ctrl-C never arrived and the adapt finished).
ADAPT_DRIVER = """
import signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)
from grader import db
from grader.training.adapt import AdaptConfig, adapt
cfg = AdaptConfig(minutes=0.5, min_crops=10, max_steps=100000, max_passes=0, replay_count=24,
                  shipped_val_count=24, batch_size=8, threads=1)
adapt(db.open_engine(sys.argv[1]), cfg, lambda fraction, message: print(message, flush=True))
"""


def gradebook_state(engine) -> tuple:
    with db.read_session(engine) as session:
        answers = session.execute(select(Answer.id, Answer.text, Answer.verdict, Answer.status)
                                  .order_by(Answer.id)).all()
        versions = session.scalar(select(func.count(ModelVersion.id)))
        check = session.execute(text("PRAGMA integrity_check")).scalar()
    return answers, versions, check


@pytest.mark.parametrize("sig,when", [(signal.SIGKILL, "training on"), (signal.SIGINT, "checking the adapted model")],
                         ids=["SIGKILL-while-training", "Ctrl-C-while-checking"])
def test_an_interrupted_adapt_leaves_the_model_and_the_gradebook_as_they_were(url, sig, when, sources):
    from grader.training.adapt import adapt

    engine = db.open_engine(url)
    before = gradebook_state(engine)
    child = subprocess.Popen([sys.executable, "-c", ADAPT_DRIVER, url], cwd=REPO, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    seen = []
    assert child.stdout is not None
    for line in child.stdout:
        seen.append(line.strip())
        if line.startswith(when):
            child.send_signal(sig)
            break
    child.wait(timeout=120)
    assert seen[-1].startswith(when), seen  # killed in the phase meant, before it could finish
    assert child.returncode != 0
    assert gradebook_state(engine) == before  # the readings and verdicts untouched, no version
    assert before[2] == "ok"
    assert model_versions.models_dir_for(engine) is None  # still the shipped model
    with model_versions.adapt_lock(engine):  # no stale lock
        pass
    if sig == signal.SIGKILL:  # the next adapt runs, and clears what the killed one left
        report = adapt(engine, tiny(max_steps=1), sources=sources)
        assert report.steps == 1
        assert not list(model_versions.data_folder(engine).glob("*.partial"))


# --- regrade --reread ------------------------------------------------------------------------------

def test_regrade_reread_reads_with_the_current_model_and_keeps_overrides(url, sources):
    from grader.charset import load_charset
    from grader.training.adapt import replay_set, write_version
    from grader.training.train import load_model

    engine = db.open_engine(url)
    with db.write_session(engine) as session:
        kept = auto_correct(session)
        kept_id, kept_text = kept.id, kept.text
        store.override_answer(session, kept.id, 0.0)
    # a changed model: the shipped one with its output layer disturbed
    model, ckpt = load_model(MODELS_DIR / "crnn.pt")
    torch.manual_seed(0)
    with torch.no_grad():
        model.head.weight.add_(torch.randn_like(model.head.weight) * 0.5)
    chars = load_charset(MODELS_DIR / "charset.txt")
    calibration = replay_set(24, {c: i for i, c in enumerate(chars)}, sources)
    folder = model_versions.data_folder(engine) / "disturbed"
    write_version(folder, model, ckpt, chars, ModelSpec.load(MODELS_DIR), "disturbed", calibration,
                  {"parent": SHIPPED})
    with db.write_session(engine) as session:
        model_versions.adopt(session, "disturbed", SHIPPED, folder.name, {})
    done = cli("regrade", "--db", url, "--assignment", ASSIGNMENT, "--reread", "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["reread"]["model_version"] == "disturbed" and out["reread"]["changes"]
    assert out["reread"]["kept_overrides"] >= 1
    with db.read_session(engine) as session:
        answers = store.list_answers(session, ASSIGNMENT)
        read = {a.model_version for a in answers if a.status != Status.BLANK and not a.overridden}
        assert read == {"disturbed"}
        kept = session.get(Answer, kept_id)
        assert (kept.text, kept.model_version, kept.status) == (kept_text, SHIPPED, Status.TEACHER)


# --- the gradebook's current model everywhere it reads: the app and the API --------------------

def adopt_a_copy(engine, version: str = "copy-1") -> Path:
    """The shipped model's files under another version name, adopted as the current version."""
    folder = model_versions.data_folder(engine) / version
    shutil.copytree(MODELS_DIR, folder, ignore=shutil.ignore_patterns("*.md", "words-*"))
    replace(ModelSpec.load(folder), version=version).save(folder)
    with db.write_session(engine) as session:
        model_versions.adopt(session, version, SHIPPED, folder.name, {"held_back_before": 0.5,
                                                                      "held_back_after": 0.75})
    return folder


def test_the_api_reads_with_the_current_version_and_follows_a_rollback(url):
    from grader.api.runtime import ApiState
    from grader.api.settings import ApiSettings

    engine = db.open_engine(url)
    api = ApiState.create(ApiSettings(database_url=url))
    assert api.recognizer.get().version == SHIPPED
    adopt_a_copy(engine)
    assert api.recognizer.get().version == "copy-1"
    with db.write_session(engine) as session:
        model_versions.rollback(session)
    assert api.recognizer.get().version == SHIPPED
    explicit = ApiState.create(ApiSettings(database_url=url, models_dir=MODELS_DIR))
    adopt_a_copy(engine, "copy-2")
    assert explicit.recognizer.get().version == SHIPPED  # --models-dir wins


def test_the_model_page_counts_labels_lists_versions_and_rolls_back(url, monkeypatch):
    from tests.test_app import open_app

    engine = db.open_engine(url)
    adopt_a_copy(engine)
    app = open_app(monkeypatch, url, "pages/model.py")
    counts = app.dataframe[0].value
    assert set(counts["kind"]) == {"chinese", "number", "text"} and counts["auto"].sum() > 0
    versions = app.dataframe[-1].value
    assert list(versions["version"]) == ["copy-1", SHIPPED]
    assert list(versions["current"]) == [True, False]
    assert "read with **copy-1**" in app.caption[0].value
    app.button(key="rollback").click().run()
    assert not app.exception
    assert model_versions.models_dir_for(engine) is None
    assert list(app.dataframe[-1].value["current"]) == [False, True]
    with db.read_session(engine) as session:  # counting wrote nothing
        assert session.scalar(select(func.count(Label.id))) == 0


def test_learn_without_labels_says_so_on_the_model_page(tmp_path, monkeypatch):
    from tests.test_app import open_app

    app = open_app(monkeypatch, f"sqlite:///{tmp_path / 'empty.db'}", "pages/model.py")
    assert "No labelled crops yet" in app.info[0].value
    app.button(key="learn").click().run()
    assert not app.exception
    assert any("no labelled crops yet" in e.value for e in app.error)


def test_adapt_batches_have_the_columns_their_ctc_lengths_say():
    """A batch holding the widest labelled line: the padded width LineDataset.batch sets the
    CTC input lengths from must exist in the images (a bench run crashed on 78 > 76 frames)."""
    import numpy as np

    from grader.charset import load_charset
    from grader.lines import FRAMES_PER_PIXEL, HEIGHT, WIDTH_MULTIPLE
    from grader.training.adapt import _concat, lines_dataset

    index = {c: i for i, c in enumerate(load_charset(MODELS_DIR / "charset.txt"))}
    lines = [np.full((HEIGHT, w), 200, np.uint8) for w in (37, 101, 145)]
    data = lines_dataset(lines, ["1", "22", "333"], [0, 0, 0], index, ("number",))
    other = lines_dataset(lines[:1], ["4"], [0], index, ("number",))
    for dataset in (data, _concat(other, data)):
        x, _, input_lengths, _ = dataset.batch(np.arange(len(dataset)))
        assert x.shape[-1] % WIDTH_MULTIPLE == 0 and x.shape[-1] * FRAMES_PER_PIXEL == int(input_lengths[0])
