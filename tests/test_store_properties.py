"""Property test: a graded page written to a real SQLite gradebook reads back as it was graded
(texts of any script, confidences, verdicts, points, statuses, the student), and storing it again
changes nothing."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from grader import db, store
from grader.answer_key import load_answer_key
from tests.test_store import KEY_PATH, graded_page

KEY = load_answer_key(KEY_PATH)
QUESTIONS = [q.id for q in KEY.questions_on_page(1)]
# What a reading can hold: digits, Latin, the math signs, Chinese, spaces and quotes.
TEXTS = st.text(alphabet=st.sampled_from("0123456789abcXYZ +-×÷=./%()'三十五学校 "), max_size=24)
READINGS = st.dictionaries(st.sampled_from(QUESTIONS), st.tuples(TEXTS, st.floats(0.0, 1.0)), max_size=len(QUESTIONS))
STUDENTS = st.one_of(st.none(), st.from_regex(r"[A-Za-z0-9]{1,12}", fullmatch=True))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(readings=READINGS, student=STUDENTS, ll_gap=st.floats(-20.0, 20.0))
def test_a_graded_page_reads_back_as_it_was_graded(readings, student, ll_gap):
    page = graded_page(KEY, readings, student=student, ll_gap=ll_gap)
    with tempfile.TemporaryDirectory() as tmp:
        engine = db.open_engine(f"sqlite:///{Path(tmp) / 'gradebook.db'}")
        try:
            with db.write_session(engine) as session:
                version = store.save_answer_key(session, KEY_PATH.read_text(encoding="utf-8"))
                first, created = store.save_graded_page(session, page, version, "a" * 64, 0, "p.jpg")
                assert created
            with db.write_session(engine) as session:
                version = store.latest_key_version(session, KEY.id)
                again, created = store.save_graded_page(session, page, version, "a" * 64, 0, "p.jpg")
                assert not created and again.id == first.id
            with db.read_session(engine) as session:
                result = store.submission_result(store.list_submissions(session, KEY.id)[0])
        finally:
            engine.dispose()
    assert (result["assignment"], result["page"], result["student"]) == (KEY.id, 1, student)
    assert result["total"] == page.total and result["max"] == page.max_points
    expected = [{"id": a.result.question_id, "text": a.result.text, "confidence": round(a.result.confidence, 4),
                 "verdict": a.result.verdict, "score": a.result.points, "max": a.result.max_points,
                 "status": a.result.status,
                 **({"reason": a.result.reason} if a.result.status == "review" else {})}
                for a in page.answers]
    assert result["questions"] == expected
