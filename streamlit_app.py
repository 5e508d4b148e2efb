"""Entry of the teacher's web app: the demo on a first start, then navigation; each screen
lives in pages/."""

import os

import streamlit as st

from grader import db
from grader.demo import seed_demo
from pages._common import engine, recognizer

st.set_page_config(page_title="Homework grader", page_icon="✏️", layout="wide")


@st.cache_resource(show_spinner="First start: preparing the demo gradebook (grading a few "
                                "sample photos) ...")
def _demo(url: str) -> str:
    # Cached per database, so it runs once per process; seed_demo itself does nothing when the
    # gradebook already has assignments, so it never runs twice across restarts either.
    return seed_demo(engine(), recognizer).summary()


if os.environ.get("GRADER_DEMO", "1") != "0":
    _demo(db.database_url())

navigation = st.navigation([
    st.Page("pages/assignments.py", title="Assignments", icon="📄", default=True),
    st.Page("pages/roster.py", title="Roster", icon="👥"),
    st.Page("pages/grade.py", title="Grade", icon="📷"),
    st.Page("pages/review.py", title="Review", icon="🔍"),
    st.Page("pages/gradebook.py", title="Gradebook", icon="📊"),
])
navigation.run()
