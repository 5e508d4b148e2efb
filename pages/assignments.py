"""Assignments: the answer keys on disk, each with its printable worksheet."""

import streamlit as st

from grader.answer_key import list_answer_keys
from grader.worksheet import worksheet_pdf_bytes

st.title("Assignments")
for key in list_answer_keys():
    with st.container(border=True):
        st.subheader(key.title)
        st.caption(f"{key.id} · {len(key.questions)} questions · {key.pages} page(s) · {key.paper}")
        st.download_button(
            "Download printable worksheet (PDF)",
            data=worksheet_pdf_bytes(key),
            file_name=f"{key.id}.pdf",
            mime="application/pdf",
            key=f"pdf-{key.id}",
        )
