"""Model: what the grader has learned from this gradebook (issue 18). The labelled crops per kind
(answers the teacher marked correct or typed, and very sure automatic verdicts), a "Learn from
my corrections" button that runs `adapt` with a progress bar and shows its figures and decision,
and the gradebook's model versions with a rollback. The work itself is grader/: the labels
(grader.teacher_labels), the versions (grader.model_versions) and adapt (grader.training.adapt,
imported only when the button is pressed: it needs PyTorch)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from grader import db, model_versions
from grader.teacher_labels import AUTO_LABEL_MARGIN, SOURCES, label_counts
from pages._common import act, engine, flash, show_flash

REPORT = "adapt_report"  # session state: the last adapt's report, shown after the rerun

st.title("Model")
show_flash()

with db.read_session(engine()) as session:
    counts = label_counts(session, margin=AUTO_LABEL_MARGIN)
    current = model_versions.current_version(session)
    history = model_versions.versions(session)

st.caption(f"Photos of this gradebook are read with **{current}**. Every answer you mark correct "
           "or whose reading you type on the Review screen is a labelled sample of your students' "
           "handwriting; very sure automatic verdicts count too.")
st.subheader("Labelled crops")
if counts:
    st.dataframe(pd.DataFrame([{"kind": kind, **{s: by[s] for s in SOURCES},
                                "total": sum(by.values())} for kind, by in counts.items()]),
                 hide_index=True, width="stretch")
else:
    st.info("No labelled crops yet: review some answers first.")


def learn() -> None:
    """Run adapt here, with a progress bar; its report is shown after the rerun."""
    from grader.training.adapt import adapt

    bar = st.progress(0.0, text="Learning from your corrections ...")

    def progress(fraction: float, message: str) -> None:
        bar.progress(min(1.0, fraction), text=message)

    report = adapt(engine(), progress=progress)
    st.session_state[REPORT] = report.as_json() | {"summary": report.summary()}
    flash("success" if report.adopted else "warning",
          f"Now reading with {report.version}." if report.adopted
          else f"Kept {report.parent}: {report.reason}.")


def rollback() -> str:
    with db.write_session(engine()) as session:
        return f"Back to {model_versions.rollback(session)}."


if st.button("Learn from my corrections", type="primary", key="learn",
             help="Fine-tunes the model on the labelled crops (under a minute for a few hundred, "
                  "at most 5 minutes); a quarter of "
                  "the students are held back to check it, and it is kept only if it reads "
                  "them at least as well."):
    act(learn)
    st.rerun()

last = st.session_state.get(REPORT)
if last is not None:
    st.subheader("Last run")
    st.text(last["summary"])
    kinds = last.get("held_back_by_kind", {})
    if kinds:
        st.dataframe(pd.DataFrame([{"kind": k, "held-back crops": v["n"],
                                    "before %": round(100 * v["before"], 1),
                                    "after %": round(100 * v["after"], 1)}
                                   for k, v in kinds.items()]), hide_index=True)

st.subheader("Versions")


def percent(report: dict | None, name: str) -> float | None:
    value = (report or {}).get(name)
    return None if value is None else round(100 * value, 1)


rows = [{"version": v.version, "parent": v.parent, "current": v.current,
         "created": v.created_at.strftime("%Y-%m-%d %H:%M"),
         "held-back before %": percent(v.report, "held_back_before"),
         "held-back after %": percent(v.report, "held_back_after")} for v in history]
rows.append({"version": model_versions.shipped_version(), "parent": "(shipped)",
             "current": not any(v.current for v in history), "created": ""})
st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
if any(v.current for v in history):
    st.button("Roll back to the previous version", key="rollback", on_click=act, args=(rollback,))
