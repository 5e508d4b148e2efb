"""Review: the answers the grader was unsure of, most doubtful first, each with the whole
registered page (its box outlined; Streamlit's full-screen button enlarges it), its crop, the
reading, the accepted answers and the suggested verdict; one click decides (Correct, Incorrect,
then Points: that order on a phone too). One answer is the current one: keys A (correct; C is
Streamlit's own), X (incorrect), N and P (next, previous) act on it. A teacher's override can be
withdrawn (asked first, undo after; the history stays). The group view grades every identical
(normalised) reading of a question at once, and stays open after it. The filters and the open
tab live in the URL with the assignment. Every message names whose answer changed."""

from __future__ import annotations

import streamlit as st

from grader import db, store
from grader.app_support import page_with_box
from grader.store import AnswerView
from grader.vocab import Status, verdict_for_points
from pages._common import (
    Undo,
    act,
    delete_button,
    engine,
    files,
    from_url,
    pick_assignment,
    show_flash,
    show_undo,
    teacher,
    to_url,
)

PAGE_SIZE = 15
CURSOR = "review-at"  # the current answer's index in the filtered list
FILTERS = {"To review": Status.REVIEW, "All answers": None}


def override(answer_id: int, points: float, reason: str = "", text: str | None = None) -> str:
    with db.write_session(engine()) as session:
        change = store.override_answer(session, answer_id, points, reason=reason, text=text,
                                        by=teacher())
        return (f"{store.who(change.answer.submission)}, {change.answer.question_id}: "
                f"{change.old_points:g} → {change.new_points:g} ({change.new_verdict}).")


def override_with_inputs(answer_id: int, points: float | None, default_reason: str,
                         reading: str = "") -> str:
    """Correct, Incorrect (fixed points) or Set points (the number typed), with the reason
    typed for this answer, if any, and what is written when the teacher changed the reading
    shown there (it becomes the reading, and a labelled crop the model can learn from)."""
    if points is None:
        points = float(st.session_state[f"points-{answer_id}"])
    reason = st.session_state.get(f"reason-{answer_id}", "").strip() or default_reason
    written = st.session_state.get(f"text-{answer_id}", reading).strip()
    return override(answer_id, points, reason, written if written and written != reading else None)


def decide(answer_id: int, points: float | None, default_reason: str, advance: bool,
           reading: str = "") -> None:
    """A card's button: the override, then (in a list the answer stays in) the next answer
    becomes the current one."""
    if act(override_with_inputs, answer_id, points, default_reason, reading) and advance:
        st.session_state[CURSOR] = st.session_state.get(CURSOR, 0) + 1


def override_group(assignment_id: str, question_id: str, normalized: str, points: float) -> str:
    with db.write_session(engine()) as session:
        changes = store.override_group(session, assignment_id, question_id, normalized, points,
                                       reason="graded as a group", by=teacher())
    return f"Question {question_id}: {len(changes)} answers “{normalized}” set to {points:g}."


def withdraw(session, answer_id: int) -> Undo:
    """The grader's own score back; undone by setting the teacher's points again."""
    row = store.withdraw_override(session, answer_id, by=teacher())
    points, verdict = row.old_points, row.old_verdict
    return Undo(f"your override of question {row.answer.question_id} ({points:g} points)",
                lambda s: store.override_answer(s, answer_id, points, verdict,
                                                reason="override restored", by=teacher()))


def suggestion(answer: AnswerView) -> str:
    score = f"({answer.points:g}/{answer.max_points:g})"
    if answer.status == Status.TEACHER:
        return f"set by you: {answer.verdict} {score}"
    if answer.status == Status.REVIEW:  # the provisional points say what the grader leans to
        return f"probably {verdict_for_points(answer.points, answer.max_points)} {score}, unsure"
    return f"{answer.verdict} {score}"


def show_page(answer: AnswerView, key, container) -> None:
    """The whole registered page with this answer's box outlined, when its thumbnail was kept."""
    thumbnail = files().thumbnail(answer.photo_sha256, answer.source_page) if answer.photo_sha256 else None
    if thumbnail is not None:
        container.image(page_with_box(thumbnail, key.question(answer.question_id).box),
                        width="stretch", caption="the whole page (hover: full screen)")


def show_answer(answer: AnswerView, key, current: bool, advance: bool) -> None:
    """One card. The current card's buttons answer to the keys A and X."""
    question = key.question(answer.question_id)
    page, crop, about, actions = st.columns([2, 3, 3, 3])
    show_page(answer, key, page)
    if answer.crop_image:
        crop.image(answer.crop_image, width="stretch")
    about.markdown(("**▶ current answer** (keys A correct, X incorrect, N/P next/previous)  \n"
                    if current else "")
                   + f"**{question.label}.** {question.prompt or ''}  \n"
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
        left.form_submit_button("✓ Correct", key=f"ok-{answer.id}", type="primary", on_click=decide,
                                args=(answer.id, answer.max_points, "marked correct", advance, answer.text),
                                width="stretch", shortcut="A" if current else None)
        right.form_submit_button("✗ Incorrect", key=f"no-{answer.id}", on_click=decide,
                                 args=(answer.id, 0.0, "marked incorrect", advance, answer.text),
                                 width="stretch", shortcut="X" if current else None)
        left, right = st.columns(2, vertical_alignment="bottom")
        left.number_input("Points", 0.0, float(answer.max_points), float(answer.points), 0.5,
                          key=f"points-{answer.id}")
        right.form_submit_button("Set points", key=f"set-{answer.id}", on_click=decide,
                                 args=(answer.id, None, "points set", advance, answer.text),
                                 width="stretch")
        st.text_input("Reason (optional)", key=f"reason-{answer.id}",
                      placeholder="e.g. right method, slip at the end")
        st.text_input("What is written (optional)", value=answer.text, key=f"text-{answer.id}",
                      help="Fix the reading if the grader misread it; the grader learns from it")
    if answer.status == Status.TEACHER:
        delete_button("Withdraw my override", f"withdraw-{answer.id}", withdraw, answer.id,
                      container=actions)


def move_cursor(delta: int, count: int) -> None:
    """N / P: the next or previous answer becomes current, turning the page with it."""
    at = min(count - 1, max(0, st.session_state.get(CURSOR, 0) + delta))
    st.session_state[CURSOR] = at
    st.session_state["review-page"] = at // PAGE_SIZE + 1


def current_index(count: int, page: int) -> int:
    """The current answer, kept on the page shown (a page picked by hand starts at its top)
    and within the list (which shrinks as answers leave 'To review')."""
    at = min(max(0, st.session_state.get(CURSOR, 0)), count - 1)
    if not (page - 1) * PAGE_SIZE <= at < page * PAGE_SIZE:
        at = (page - 1) * PAGE_SIZE
    st.session_state[CURSOR] = at
    return at


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
    count = len(answers)
    pages = max(1, -(-count // PAGE_SIZE))
    if st.session_state.get("review-page", 1) > pages:
        st.session_state["review-page"] = pages
    page = (st.number_input(f"Page (of {pages})", 1, pages, key="review-page")
            if pages > 1 else 1)
    at = current_index(count, page)
    st.caption(f"{count} answers; the most doubtful first.")
    back, forward = st.columns(2)
    back.button("◀ Previous answer", key="review-prev", shortcut="P", on_click=move_cursor,
                args=(-1, count), disabled=at == 0, width="stretch")
    forward.button("Next answer ▶", key="review-next", shortcut="N", on_click=move_cursor,
                   args=(1, count), disabled=at == count - 1, width="stretch")
    advance = FILTERS[choice] is None  # in 'To review' a decided answer leaves the list itself
    for index in range((page - 1) * PAGE_SIZE, min(count, page * PAGE_SIZE)):
        with st.container(border=True):
            show_answer(answers[index], key, index == at, advance)


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
# The tabs keep their state (and the URL's `review-tab`), so grading a group reruns into Groups again;
# only the open tab is drawn.
answers_tab, groups_tab = st.tabs(["Answers", "Groups"], key="review-tab", on_change="rerun",
                                  bind="query-params")
if groups_tab.open:
    with groups_tab:
        groups_view(assignment_id, current_key)
else:
    with answers_tab:
        answers_view(assignment_id, current_key)
