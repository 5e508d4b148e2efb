"""Entry of the teacher's web app: the demo on a first start, then navigation; each screen
lives in pages/, and Start (the default) says what to do first."""

import streamlit as st

from grader import db
from grader.demo import seed_demo
from grader.errors import GraderError
from grader.settings import Settings
from pages._common import engine, recognizer
from pages._login import require_login

st.set_page_config(page_title="Homework grader", page_icon=":material/edit_note:", layout="wide")


@st.cache_resource(show_spinner="First start: preparing the demo gradebook (grading a few "
                                "sample photos) ...")
def _demo(url: str) -> dict:
    # Cached per database, so it runs once per process; seed_demo itself does nothing when the
    # gradebook already has assignments, so it never runs twice across restarts either.
    report = seed_demo(engine(), recognizer)
    return {"summary": report.summary(), "problems": report.problems}


# Navigation first: until st.navigation is called Streamlit would list pages/ by file name.
navigation = st.navigation([
    st.Page("pages/start.py", title="Start", icon=":material/home:", default=True),
    st.Page("pages/assignments.py", title="Assignments", icon=":material/description:"),
    st.Page("pages/roster.py", title="Roster", icon=":material/group:"),
    st.Page("pages/grade.py", title="Grade", icon=":material/photo_camera:"),
    st.Page("pages/review.py", title="Review", icon=":material/rule:"),
    st.Page("pages/gradebook.py", title="Gradebook", icon=":material/table_chart:"),
    st.Page("pages/model.py", title="Model", icon=":material/model_training:"),
])
require_login()  # before any screen or the gradebook: on a network, the password first (issue 22)
try:
    engine()
    if Settings.from_env().demo:
        # What went wrong while seeding (a missing model, say) is shown on the Start screen,
        # which reads what the demo holds from the gradebook itself.
        st.session_state["demo_problems"] = _demo(db.database_url())["problems"]
except GraderError as error:  # a wrong URL, a locked or damaged file: say so, touch nothing
    st.error(f"The gradebook cannot be opened: {error}")
    st.stop()
navigation.run()
