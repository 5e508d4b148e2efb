"""Entry of the teacher's web app: the demo on a first start, then navigation; each screen
lives in pages/."""

import streamlit as st

from grader import db
from grader.demo import seed_demo
from grader.errors import GraderError
from grader.settings import Settings
from pages._common import engine, recognizer

st.set_page_config(page_title="Homework grader", page_icon=":material/edit_note:", layout="wide")


@st.cache_resource(show_spinner="First start: preparing the demo gradebook (grading a few "
                                "sample photos) ...")
def _demo(url: str) -> dict:
    # Cached per database, so it runs once per process; seed_demo itself does nothing when the
    # gradebook already has assignments, so it never runs twice across restarts either.
    report = seed_demo(engine(), recognizer)
    return {"summary": report.summary(), "untold": report.seeded}


# Navigation first: until st.navigation is called Streamlit would list pages/ by file name.
navigation = st.navigation([
    st.Page("pages/assignments.py", title="Assignments", icon=":material/description:", default=True),
    st.Page("pages/roster.py", title="Roster", icon=":material/group:"),
    st.Page("pages/grade.py", title="Grade", icon=":material/photo_camera:"),
    st.Page("pages/review.py", title="Review", icon=":material/rule:"),
    st.Page("pages/gradebook.py", title="Gradebook", icon=":material/table_chart:"),
])
try:
    engine()
    if Settings.from_env().demo:
        demo = _demo(db.database_url())
        if demo["untold"]:  # the first visitor after seeding hears what was added, once
            demo["untold"] = False
            st.toast(demo["summary"].capitalize(), icon=":material/school:")
except GraderError as error:  # a wrong URL, a locked or damaged file: say so, touch nothing
    st.error(f"The gradebook cannot be opened: {error}")
    st.stop()
navigation.run()
