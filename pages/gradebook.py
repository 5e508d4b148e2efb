"""Gradebook: students by questions with totals, per-question statistics as charts, and the
CSV download (byte for byte what `python -m grader export` writes)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from grader import db, export, store
from grader.app_support import common_wrong_answers
from pages._common import engine, pick_assignment, show_flash

st.title("Gradebook")
show_flash()
assignment_id = pick_assignment()
if assignment_id is None:
    st.stop()

with db.read_session(engine()) as session:
    book = store.gradebook(session, assignment_id)
    stats = store.question_stats(session, assignment_id)
    wrong = common_wrong_answers(store.answer_groups(session, assignment_id))
    answers = store.answer_rows(session, assignment_id)

labels = {qid: f"{label}" for qid, label, _ in book.questions}
table = pd.DataFrame([{"student": r.name, "id": r.student_id, "class": r.class_name,
                       **{labels[q]: r.scores[q] for q, _, _ in book.questions},
                       "total": r.total, "max": r.max_points, "%": r.percent,
                       "to review": r.to_review} for r in book.rows])

students, mean, to_review = st.columns(3)
students.metric("Students", len(book.rows))
mean.metric("Mean score", f"{table['%'].mean():.0f} %" if len(table) else "—")
to_review.metric("Answers to review", int(table["to review"].sum()) if len(table) else 0)

st.caption(f"{book.title} · key version {book.key_version} · one column per question "
           "(points); empty: that page is not handed in yet.")
st.dataframe(table, hide_index=True, width="stretch")
left, right = st.columns(2)
left.download_button("Download gradebook (CSV)", export.gradebook_csv(book),
                     file_name=f"{assignment_id}-gradebook.csv", mime="text/csv",
                     key="csv", type="primary")
right.download_button("Download every answer (CSV)", export.answers_csv(answers),
                      file_name=f"{assignment_id}-answers.csv", mime="text/csv", key="csv-long")

st.subheader("Per question")
chart = pd.DataFrame({
    "question": [labels[s.question_id] for s in stats],
    "% correct": [round(100 * s.correct / s.answered, 1) if s.answered else 0.0 for s in stats],
    "mean points": [round(s.mean_points, 2) for s in stats],
    "blank": [s.blank for s in stats],
    "to review": [s.to_review for s in stats],
}).set_index("question")
percent, counts = st.columns(2)
percent.markdown("**Percent correct** (of the answers written)")
percent.bar_chart(chart["% correct"], y_label="% correct", sort=False)
counts.markdown("**Blank and to review**")
counts.bar_chart(chart[["blank", "to review"]], stack=False, sort=False)

st.markdown("**Most common wrong answers**")
if wrong:
    wrong_table = pd.DataFrame([{"question": labels.get(w.question_id, w.question_id),
                                 "answer": w.text, "count": w.count} for w in wrong])
    st.bar_chart(wrong_table.assign(answer=wrong_table["question"] + ": " + wrong_table["answer"])
                 .set_index("answer")["count"], horizontal=True, sort="-count")
    st.dataframe(wrong_table, hide_index=True, width="stretch")
else:
    st.caption("No wrong answers yet.")
