"""Golden end-to-end runs: four generated worksheet photos graded by `python -m grader grade
--json` with the model in models/, compared with the results checked in under tests/golden/.

The photos are the shared ones of tests/paper_data.py (fixed seeds, so every run makes the same
JPEG bytes), one per demo key. Each golden file holds what `grade --json` prints for its photo,
without the photo's path (a tmp_path) and without the float confidences (they move in the last
digits between ONNX Runtime builds); per question also `written`, the generator's ground truth, so
a reviewer sees what the model read against what was on the paper.

A mismatch is a change in what the grader prints for the same photo: registration, cropping,
recognition, scoring or the output format. When the change is meant, e.g. a retrained model in
models/ reads differently, update the files deliberately and review their diff before committing:

    GRADER_UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_golden.py
    git diff tests/golden/

The update run writes the files and passes; every other run compares.
"""

from __future__ import annotations

import difflib
import json
import os
from pathlib import Path

import pytest

from grader.cli import main
from tests.paper_data import PHOTO_TABLE, photo_case

GOLDEN_DIR = Path(__file__).parent / "golden"
UPDATE = os.environ.get("GRADER_UPDATE_GOLDEN") == "1"
UPDATE_COMMAND = "GRADER_UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_golden.py"
# Indices into paper_data.PHOTO_TABLE: one photo of each demo key, easy to hard.
CASES = (0, 5, 7, 11)
QUESTION_FIELDS = ("id", "text", "verdict", "score", "max", "status")


def golden_name(index: int) -> str:
    key_id, page = PHOTO_TABLE[index][0], PHOTO_TABLE[index][1]
    return f"{index:02d}-{key_id}-p{page}.json"


def graded(index: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> dict:
    """What `grade --json` prints for the photo, in the golden form."""
    case = photo_case(index)
    photo = tmp_path / f"photo-{index}.jpg"
    photo.write_bytes(case.photo.jpeg)
    code = main(["grade", "--json", "--no-progress", "--key", case.key.id,
                 "--db", f"sqlite:///{tmp_path / 'gradebook.db'}", str(photo)])
    [result] = json.loads(capsys.readouterr().out)
    assert code == 0 and "error" not in result, result
    return {
        "photo_case": case.name,
        **{k: result[k] for k in ("assignment", "page", "student", "total", "max")},
        "questions": [{**{k: q[k] for k in QUESTION_FIELDS}, "written": case.answers.get(q["id"], "")}
                      for q in result["questions"]],
    }


def as_text(result: dict) -> str:
    """One question a line, so a diff names the questions that moved."""
    head = {k: v for k, v in result.items() if k != "questions"}
    lines = ["{", *(f"  {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}," for k, v in head.items()),
             '  "questions": [']
    rows = [f"    {json.dumps(q, ensure_ascii=False)}" for q in result["questions"]]
    lines += [row + "," for row in rows[:-1]] + rows[-1:] + ["  ]", "}"]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("index", CASES, ids=golden_name)
def test_graded_page_matches_the_golden_file(index, tmp_path, capsys):
    path = GOLDEN_DIR / golden_name(index)
    text = as_text(graded(index, tmp_path, capsys))
    if UPDATE:
        GOLDEN_DIR.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    assert path.exists(), f"no golden file {path}: create it with `{UPDATE_COMMAND}`"
    expected = path.read_text(encoding="utf-8")
    if text != expected:
        diff = "".join(difflib.unified_diff(expected.splitlines(keepends=True), text.splitlines(keepends=True),
                                            f"golden/{path.name}", "graded now"))
        pytest.fail(f"the graded page differs from tests/golden/{path.name}:\n{diff}\n"
                    f"If the change is meant (e.g. a retrained model), update the golden files with "
                    f"`{UPDATE_COMMAND}` and review `git diff tests/golden/` before committing.",
                    pytrace=False)


def test_golden_files_are_valid_json_of_the_graded_form():
    """The line-per-question layout is still JSON, and every golden file belongs to a case."""
    names = {golden_name(i) for i in CASES}
    assert {p.name for p in GOLDEN_DIR.glob("*.json")} == names
    for name in names:
        data = json.loads((GOLDEN_DIR / name).read_text(encoding="utf-8"))
        assert data["total"] == sum(q["score"] for q in data["questions"])
        assert all(set(q) == {*QUESTION_FIELDS, "written"} for q in data["questions"])
