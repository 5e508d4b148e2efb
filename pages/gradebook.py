"""Gradebook: every roster student by questions with totals (`missing` without a page), the pages
matched to no student apart, per-question statistics as charts, the downloads a school imports
(CSV byte for byte what `python -m grader export` writes, Canvas, Google Classroom, XLSX), the
students' marked sheets (one student's PDF, the class pack) and the term gradebook."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from grader import db, export, feedback, item_analysis, store
from grader.app_support import common_wrong_answers, wrong_by_question
from grader.template import template_image
from pages._common import engine, files, pick_assignment, show_flash

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
    key, _ = store.load_key(session, assignment_id)
    sheets = store.student_sheets(session, assignment_id)
    term = store.term_gradebook(session)

labels = {qid: f"{label}" for qid, label, _ in book.questions}
table = pd.DataFrame([{"student": r.name, "id": r.student_id, "class": r.class_name,
                       **{labels[q]: r.scores[q] for q, _, _ in book.questions},
                       "total": None if r.missing else r.total, "max": r.max_points,
                       "%": None if r.missing else r.percent, "to review": r.to_review,
                       "status": r.status} for r in book.rows])

students, missing, mean, to_review = st.columns(4)
students.metric("Students handed in", f"{sum(not r.missing for r in book.rows)} of {len(book.rows)}")
missing.metric("Missing", sum(r.missing for r in book.rows))
mean.metric("Mean score", f"{table['%'].mean():.0f} %" if len(table) and table["%"].notna().any() else "—")
to_review.metric("Answers to review", int(table["to review"].sum()) if len(table) else 0)

st.caption(f"{book.title} · key version {book.key_version} · one column per question "
           "(points); empty: that page is not handed in; `missing`: no page at all.")
st.dataframe(table, hide_index=True, width="stretch")

csv_col, long_col, xlsx_col = st.columns(3)
csv_col.download_button("Download gradebook (CSV)", export.gradebook_csv(book),
                        file_name=f"{assignment_id}-gradebook.csv", mime="text/csv",
                        key="csv", type="primary")
long_col.download_button("Download every answer (CSV)", export.answers_csv(answers),
                         file_name=f"{assignment_id}-answers.csv", mime="text/csv", key="csv-long")
xlsx_col.download_button("Download gradebook (XLSX)", lambda: export.gradebook_xlsx(book),
                         file_name=f"{assignment_id}-gradebook.xlsx", mime=export.XLSX_MIME,
                         key="xlsx")

if book.unassigned:
    st.subheader(f"Pages matched to no student ({len(book.unassigned)})")
    st.caption("Not in any student's row or count. Pick the student on the Grade screen; the "
               "name box as read may help.")
    st.dataframe(pd.DataFrame([{"page id": p.submission_id, "photo": p.photo_name, "page": p.page,
                                "name as read": p.name_text, "points": p.total, "max": p.max_points}
                               for p in book.unassigned]), hide_index=True, width="stretch")
    st.download_button("Download unassigned pages (CSV)", export.unassigned_csv(book),
                       file_name=f"{assignment_id}-unassigned.csv", mime="text/csv", key="unassigned")

st.subheader("Marked sheets for students")
show_answers = st.checkbox("Write the accepted answer beside a wrong one", key="fb-answers")
provisional = st.checkbox("Answers still in review: mark them provisional (else nothing is "
                          "returned until they are reviewed)", key="fb-provisional")
options = feedback.FeedbackOptions(provisional=provisional, show_answers=show_answers)
pending = sum(s.to_review for s in sheets)
if not sheets:
    st.caption("No student has a graded page yet.")
elif pending and not provisional:
    st.warning(f"{pending} answer(s) are still in review: review them first, or tick "
               "“mark them provisional”.")
else:
    def pdf_of(chosen: list[store.StudentSheet]):
        stored = files()
        return lambda: feedback.sheets_pdf(
            key, chosen, options, template_image,
            lambda page: stored.thumbnail(page.photo_sha256, page.source_page))

    one, pack = st.columns(2)
    names = {s.student_id: s.name for s in sheets}
    chosen = one.selectbox("Student", list(names), format_func=lambda i: f"{names[i]} ({i})",
                           key="fb-student")
    sheet = next(s for s in sheets if s.student_id == chosen)
    one.download_button("Download this student's sheet (PDF)", pdf_of([sheet]),
                        file_name=feedback.sheet_file_name(sheet, assignment_id),
                        mime="application/pdf", key="fb-one")
    pack.download_button(f"Download the class pack (PDF, {len(sheets)} students)", pdf_of(sheets),
                         file_name=f"{assignment_id}-feedback.pdf", mime="application/pdf",
                         key="fb-pack")

st.subheader("Class statistics")
analysis = item_analysis.class_stats(book)
st.caption(f"Over the {analysis.students} student(s) with every page handed in. Facility: mean "
           "points / maximum (1 = everyone full marks). Discrimination: top 27 % minus bottom "
           "27 % of the class by total, per point (below 0.2 the question hardly separates "
           "strong from weak students). Item-rest: correlation of the question with the rest "
           "of the test.")
average, middle = st.columns(2)
average.metric("Mean", "—" if analysis.mean_percent is None else f"{analysis.mean_percent:g} %")
middle.metric("Median", "—" if analysis.median_percent is None else f"{analysis.median_percent:g} %")
st.markdown("**Score distribution** (students per band of percent)")
st.bar_chart(pd.DataFrame(analysis.histogram, columns=["percent", "students"]).set_index("percent"),
             y_label="students", sort=False)
items = pd.DataFrame([{"question": labels[i.question_id], "facility": i.facility,
                       "discrimination": i.discrimination, "item-rest": i.item_rest,
                       "students": i.students} for i in analysis.items]).set_index("question")
facility_col, discrimination_col = st.columns(2)
facility_col.markdown("**Facility** per question")
facility_col.bar_chart(items["facility"], y_label="facility", sort=False)
discrimination_col.markdown("**Discrimination** per question")
discrimination_col.bar_chart(items[["discrimination", "item-rest"]], stack=False, sort=False)

counts = pd.DataFrame({
    "question": [labels[s.question_id] for s in stats],
    "blank": [s.blank for s in stats],
    "to review": [s.to_review for s in stats],
}).set_index("question")
st.markdown("**Blank and to review** per question")
st.bar_chart(counts, stack=False, sort=False)

st.markdown("**Most common wrong answers**")
if wrong:
    wrong_table = pd.DataFrame([{"question": labels.get(w.question_id, w.question_id),
                                 "answer": w.text, "count": w.count} for w in wrong])
    st.bar_chart(wrong_table.assign(answer=wrong_table["question"] + ": " + wrong_table["answer"])
                 .set_index("answer")["count"], horizontal=True, sort="-count")
    st.dataframe(wrong_table, hide_index=True, width="stretch")
else:
    st.caption("No wrong answers yet.")
st.dataframe(items, width="stretch")
st.download_button("Download statistics (CSV)", export.statistics_csv(analysis, wrong_by_question(wrong)),
                   file_name=f"{assignment_id}-statistics.csv", mime="text/csv", key="stats-csv")

st.subheader("Term gradebook")
st.caption("Every assignment with a graded page, oldest first; a missing assignment counts 0 of "
           "its points in the total. Canvas and Google Classroom files carry points and are "
           "imported as they are.")
mode = st.radio("Show each assignment as", export.TERM_MODES, horizontal=True, key="term-mode")
header, rows = export.term_table(term, mode)
st.dataframe(pd.DataFrame(rows, columns=header), hide_index=True, width="stretch")
term_csv, term_xlsx, canvas, classroom = st.columns(4)
term_csv.download_button("Download term (CSV)", export.term_csv(term, mode),
                         file_name=f"term-{mode}.csv", mime="text/csv", key="term-csv")
term_xlsx.download_button("Download term (XLSX)", lambda: export.term_xlsx(term, mode),
                          file_name=f"term-{mode}.xlsx", mime=export.XLSX_MIME, key="term-xlsx")
canvas.download_button("Canvas import (CSV)", export.canvas_csv(term), file_name="canvas-grades.csv",
                       mime="text/csv", key="canvas")
classroom.download_button("Google Classroom import (CSV)", export.classroom_csv(term),
                          file_name="classroom-grades.csv", mime="text/csv", key="classroom")
if term.rows and (lacking := export.without_email(term)):
    st.caption(f"Google Classroom matches grades by e-mail: {len(lacking)} student(s) have none on "
               "the roster (add an “email” column to the roster file).")
