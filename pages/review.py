"""Review: the answers the grader was unsure of, most doubtful first, each with its crop, the
reading, the accepted answers and the suggested verdict; one click decides (Correct, Incorrect,
then Points: that order on a phone too). A teacher's override can be withdrawn (asked first,
undo after; the history stays). The group view grades every identical (normalised) reading of a
question at once. The filters live in the URL with the assignment."""

from __future__ import annotations

import streamlit as st

from grader import db, store
from grader.store import AnswerView
from grader.vocab import Status, verdict_for_points
from pages._common import (
    Undo,
    act,
    delete_button,
    engine,
    from_url,
    pick_assignment,
    show_flash,
    show_undo,
    to_url,
)

PAGE_SIZE = 15
FILTERS = {"To review": Status.REVIEW, "All answers": None}


def override(answer_id: int, points: float, reason: str = "") -> str:
    with db.write_session(engine()) as session:
        change = store.override_answer(session, answer_id, points, reason=reason)
        return (f"Question {change.answer.question_id}: {change.old_points:g} → "
                f"{change.new_points:g} ({change.new_verdict}).")


def override_with_inputs(answer_id: int, points: float | None, default_reason: str) -> str:
    """Correct, Incorrect (fixed points) or Set points (the number typed), with the reason
    typed for this answer, if any."""
    if points is None:
        points = float(st.session_state[f"points-{answer_id}"])
    reason = st.session_state.get(f"reason-{answer_id}", "").strip() or default_reason
    return override(answer_id, points, reason)


def override_group(assignment_id: str, question_id: str, normalized: str, points: float) -> str:
    with db.write_session(engine()) as session:
        changes = store.override_group(session, assignment_id, question_id, normalized, points,
                                       reason="graded as a group")
    return f"Question {question_id}: {len(changes)} answers “{normalized}” set to {points:g}."


def withdraw(session, answer_id: int) -> Undo:
    """The grader's own score back; undone by setting the teacher's points again."""
    row = store.withdraw_override(session, answer_id)
    points, verdict = row.old_points, row.old_verdict
    return Undo(f"your override of question {row.answer.question_id} ({points:g} points)",
                lambda s: store.override_answer(s, answer_id, points, verdict,
                                                reason="override restored"))


def suggestion(answer: AnswerView) -> str:
    score = f"({answer.points:g}/{answer.max_points:g})"
    if answer.status == Status.TEACHER:
        return f"set by you: {answer.verdict} {score}"
    if answer.status == Status.REVIEW:  # the provisional points say what the grader leans to
        return f"probably {verdict_for_points(answer.points, answer.max_points)} {score}, unsure"
    return f"{answer.verdict} {score}"


def show_answer(answer: AnswerView, key) -> None:
    question = key.question(answer.question_id)
    crop, about, actions = st.columns([3, 3, 3])
    if answer.crop_png:
        crop.image(answer.crop_png, width="stretch")
    about.markdown(f"**{question.label}.** {question.prompt or ''}  \n"
                   f"Read: **{answer.text or '—'}** (confidence {answer.confidence:.2f})  \n"
                   f"Accepted: {' | '.join(question.answers)}  \n"
                   f"Suggested: {suggestion(answer)}  \n"
                   + (f"Why in review: {answer.review_reason}  \n" if answer.review_reason else "")
                   + answer.who)
    # One form per answer: the points and reason typed travel with whichever button is
    # clicked (outside a form a click can overtake the value still being typed).
    with actions.form(key=f"form-{answer.id}", border=False):
        # Row by row, so that a phone, which stacks columns, keeps the order Correct,
        # Incorrect, Points.
        left, right = st.columns(2)
        left.form_submit_button("✓ Correct", key=f"ok-{answer.id}", type="primary", on_click=act,
                                args=(override_with_inputs, answer.id, answer.max_points,
                                      "marked correct"), width="stretch")
        right.form_submit_button("✗ Incorrect", key=f"no-{answer.id}", on_click=act,
                                 args=(override_with_inputs, answer.id, 0.0, "marked incorrect"),
                                 width="stretch")
        left, right = st.columns(2, vertical_alignment="bottom")
        left.number_input("Points", 0.0, float(answer.max_points), float(answer.points), 0.5,
                          key=f"points-{answer.id}")
        right.form_submit_button("Set points", key=f"set-{answer.id}", on_click=act,
                                 args=(override_with_inputs, answer.id, None, "points set"),
                                 width="stretch")
        st.text_input("Reason (optional)", key=f"reason-{answer.id}",
                      placeholder="e.g. right method, slip at the end")
    if answer.status == Status.TEACHER:
        delete_button("Withdraw my override", f"withdraw-{answer.id}", withdraw, answer.id,
                      container=actions)


def answers_view(assignment_id: str, key) -> None:
    from_url("review-filter", "show", list(FILTERS), "To review")
    choice = st.radio("Show", list(FILTERS), horizontal=True, key="review-filter")
    to_url("review-filter", "show")
    questions = ["all questions", *[q.id for q in key.questions]]
    from_url("review-question", "question", questions, "all questions")
    question = st.selectbox("Question", questions, key="review-question")
    to_url("review-question", "question")
    with db.read_session(engine()) as session:
        answers = store.answer_views(session, assignment_id,
                                     None if question == "all questions" else question,
                                     FILTERS[choice])
    if not answers:
        st.success("Nothing to review here." if FILTERS[choice] else "No answers yet.")
        return
    pages = max(1, -(-len(answers) // PAGE_SIZE))
    page = (st.number_input(f"Page (of {pages})", 1, pages, 1, key="review-page")
            if pages > 1 else 1)
    st.caption(f"{len(answers)} answers; the most doubtful first.")
    for answer in answers[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]:
        with st.container(border=True):
            show_answer(answer, key)


def groups_view(assignment_id: str, key) -> None:
    # One question at a time: a class's groups for every question at once is a long page.
    prompts = {q.id: f"{q.label}. {q.prompt or ''}" for q in key.questions}
    from_url("group-question", "group", list(prompts), next(iter(prompts)))
    chosen = st.selectbox("Question", list(prompts), format_func=prompts.get,
                          key="group-question")
    to_url("group-question", "group")
    with db.read_session(engine()) as session:
        groups = store.answer_groups(session, assignment_id, chosen)
        samples = {(g.question_id, g.normalized): store.answer_crops(session, g.answer_ids, limit=2)
                   for g in groups}
    if not groups:
        st.info("No answers to this question yet.")
        return
    st.caption("Identical readings of a question (after normalisation), groups to review first.")
    for question in key.questions:
        mine = [g for g in groups if g.question_id == question.id]
        if not mine:
            continue
        st.markdown(f"**{question.label}.** {question.prompt or ''} — accepted: "
                    f"{' | '.join(question.answers)}")
        for group in mine:
            crops, text, count, correct, wrong = st.columns([3, 2, 2, 1, 1])
            verdicts = ", ".join(sorted(set(group.verdicts)))
            for crop in samples[(question.id, group.normalized)]:
                crops.image(crop, width="stretch")
            text.markdown(f"“**{group.text or group.normalized}**”")
            count.markdown(f"{group.count} answer(s) · {group.to_review} to review · {verdicts}")
            slug = f"{question.id}-{group.normalized}"
            correct.button("✓ all", key=f"gok-{slug}", help="mark the whole group correct",
                           on_click=act, args=(override_group, assignment_id, question.id,
                                               group.normalized, float(question.points)))
            wrong.button("✗ all", key=f"gno-{slug}", help="mark the whole group incorrect",
                         on_click=act, args=(override_group, assignment_id, question.id,
                                             group.normalized, 0.0))
        st.divider()


st.title("Review")
show_flash()
show_undo()
assignment_id = pick_assignment()
if assignment_id is None:
    st.stop()
with db.read_session(engine()) as session:
    current_key, _ = store.load_key(session, assignment_id)
answers_tab, groups_tab = st.tabs(["Answers", "Groups"])
with answers_tab:
    answers_view(assignment_id, current_key)
with groups_tab:
    groups_view(assignment_id, current_key)
