"""Entry of the teacher's web app: navigation only; each screen lives in pages/."""

import streamlit as st

st.set_page_config(page_title="Homework grader", layout="wide")

navigation = st.navigation([st.Page("pages/assignments.py", title="Assignments", default=True)])
navigation.run()
