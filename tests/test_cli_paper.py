"""The worksheet and crop commands, end to end through `python -m grader`'s main()."""

from __future__ import annotations

import json
import subprocess
import sys

import cv2

from grader.cli import main
from grader.paths import ANSWER_KEYS_DIR, REPO_ROOT
from tests.paper_data import photo_case

ARITHMETIC = str(ANSWER_KEYS_DIR / "arithmetic-basics.yaml")


def test_help_lists_the_paper_commands():
    result = subprocess.run([sys.executable, "-m", "grader", "--help"], capture_output=True, text=True, cwd=REPO_ROOT)
    assert result.returncode == 0 and "worksheet" in result.stdout and "crop" in result.stdout
    for command in ("worksheet", "crop"):
        sub = subprocess.run([sys.executable, "-m", "grader", command, "--help"],
                             capture_output=True, text=True, cwd=REPO_ROOT)
        assert sub.returncode == 0 and "--key" in sub.stdout and "--out" in sub.stdout


def test_worksheet_writes_pdf_and_pngs(tmp_path, capsys):
    out = tmp_path / "sheet.pdf"
    assert main(["worksheet", "--key", str(ANSWER_KEYS_DIR / "algebra-basics.yaml"), "--out", str(out),
                 "--png", str(tmp_path / "png")]) == 0
    assert out.read_bytes().startswith(b"%PDF")
    pages = sorted(p.name for p in (tmp_path / "png").iterdir())
    assert pages == ["page-1.png", "page-2.png"]
    assert cv2.imread(str(tmp_path / "png" / "page-2.png")).shape == (2339, 1654, 3)


def test_worksheet_with_roster(tmp_path):
    roster = tmp_path / "class.csv"
    roster.write_text("id,name\ns1,Ann Lee\ns2,Bo Chen\n", encoding="utf-8")
    assert main(["worksheet", "--key", ARITHMETIC, "--out", str(tmp_path / "s.pdf"), "--roster", str(roster),
                 "--png", str(tmp_path / "png")]) == 0
    assert (tmp_path / "png" / "s1" / "page-1.png").exists() and (tmp_path / "png" / "s2" / "page-1.png").exists()


def test_worksheet_with_a_broken_key(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: x\ntitle: t\nquestions:\n"
                   "  - id: q1\n    page: 1\n    box: [0, 0, 2, 1]\n    kind: number\n    answers: [1]\n")
    assert main(["worksheet", "--key", str(bad), "--out", str(tmp_path / "s.pdf")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "bad.yaml, line 6, question 'q1', field 'box'" in err


def test_crop_json_per_photo(tmp_path, capsys):
    case = photo_case(1)
    photo = tmp_path / "IMG_0001.jpg"
    photo.write_bytes(case.photo.jpeg)
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    out = tmp_path / "crops"
    status = main(["crop", "--key", ARITHMETIC, "--out", str(out), "--json", str(photo), str(empty)])
    assert status == 1  # one of the two photos failed
    results = json.loads(capsys.readouterr().out)
    good, bad = results
    assert good["method"] == "markers" and good["page"] == 1 and good["reprojection_error"] < 3
    assert good["assignment"] == "arithmetic-basics" and good["student"] is None
    blanks = {q["id"]: q["blank"] for q in good["questions"]}
    assert blanks == {q.id: q.id not in case.answers for q in case.key.questions_on_page(1)}
    for q in good["questions"]:
        assert (out / "IMG_0001" / f"{q['id']}.png").exists() and (out / "IMG_0001" / f"{q['id']}.color.png").exists()
    assert cv2.imread(str(out / "IMG_0001" / "registered.png")).shape == (2339, 1654, 3)
    assert "empty" in bad["error"] and bad["photo"].endswith("empty.jpg")


def test_crop_text_report_and_wrong_assignment(tmp_path, capsys):
    photo = tmp_path / "vocab.jpg"
    photo.write_bytes(photo_case(7).photo.jpeg)  # an English vocabulary sheet
    assert main(["crop", "--key", ARITHMETIC, "--out", str(tmp_path / "c"), str(photo)]) == 1
    out = capsys.readouterr().out
    assert "FAILED" in out and "assignment 'english-vocabulary'" in out
    photo.write_bytes(photo_case(0).photo.jpeg)
    assert main(["crop", "--key", ARITHMETIC, "--out", str(tmp_path / "c"), str(photo)]) == 0
    out = capsys.readouterr().out
    assert "registered by markers" in out and "assignment arithmetic-basics, page 1" in out and "blank:" in out


def test_crop_accepts_a_scanned_pdf(tmp_path, capsys):
    pdf = tmp_path / "scan.pdf"
    assert main(["worksheet", "--key", ARITHMETIC, "--out", str(pdf)]) == 0
    capsys.readouterr()
    assert main(["crop", "--key", ARITHMETIC, "--out", str(tmp_path / "c"), "--json", str(pdf)]) == 0
    (result,) = json.loads(capsys.readouterr().out)
    assert result["method"] == "markers" and result["reprojection_error"] < 1.0
    assert all(q["blank"] for q in result["questions"])  # a fresh sheet: every answer blank
