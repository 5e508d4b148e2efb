"""Start: what to do, in three steps, with links to the screens that do it; what the demo
gradebook holds (it stays here, it is not a toast), and a button that finishes a demo whose
first start was stopped halfway."""

from __future__ import annotations

import streamlit as st

from grader import db
from grader.demo import demo_state, finish_demo
from pages._common import act, engine, recognizer, show_flash

STEPS = [
    ("1. Print a worksheet",
     "Pick an assignment (or make your own: a form, your own sheet, or a YAML file) and download "
     "its PDF. The four black squares and the QR code tell the grader which sheet and page a "
     "photo shows.", "pages/assignments.py", "Assignments", ":material/description:"),
    ("2. Photograph the filled sheets",
     "One sheet per photo, flat on the desk, all four corner squares in the picture, no "
     "shadow of your phone across it. A phone's camera app is fine; so is a scan or a PDF.",
     None, None, None),
    ("3. Upload them on Grade",
     "Every answer is read, scored and stored. Then look at the doubtful ones on Review and "
     "download the marks from Gradebook.", "pages/grade.py", "Grade", ":material/photo_camera:"),
]


def finish() -> str:
    return "Demo finished: " + finish_demo(engine(), recognizer).summary() + "."


st.title("Start")
show_flash()
st.markdown("Mark handwritten homework from phone photos, in three steps:")
for title, text, page, label, icon in STEPS:
    with st.container(border=True):
        st.markdown(f"**{title}**  \n{text}")
        if page:
            st.page_link(page, label=f"Go to {label}", icon=icon)

with db.read_session(engine()) as session:
    demo = demo_state(session)
told = st.session_state.get("demo_problems") or []
if demo is not None:
    st.subheader("The demo gradebook")
    (st.info if demo.complete else st.warning)(demo.summary())
    for problem in told:
        st.warning(f"While preparing the demo: {problem}")
    if not demo.complete:
        st.button("Finish the demo (grades the missing photos, about a minute)",
                  key="finish-demo", on_click=act, args=(finish,))
    st.page_link("pages/review.py", label="See what the grader was unsure of (Review)",
                 icon=":material/rule:")
