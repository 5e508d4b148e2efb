"""`python -m grader crop --key KEY --out DIR [--json] PHOTO...`

Per photo (per page of a PDF) it writes DIR/<photo-stem>/registered.png, the cleaned ink crop
<question-id>.png (what the recogniser reads) and the colour crop <question-id>.color.png, and
prints the registration method, its error, what the QR code says and which answers are blank.
A photo that fails is reported and the others still run; the exit status is then 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import cv2

from grader.answer_key import AnswerKey, load_answer_key
from grader.crops import crop_answers
from grader.errors import GraderError
from grader.imageio import read_images
from grader.registration import register


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--key", required=True, type=Path, help="answer key YAML file")
    parser.add_argument("--out", required=True, type=Path, help="folder for the registered pages and crops")
    parser.add_argument("--json", action="store_true", help="print one JSON list instead of text")
    parser.add_argument("photos", nargs="+", type=Path, metavar="PHOTO", help="photos or scanned PDFs")


def _crop_one(image, key: AnswerKey, folder: Path) -> dict[str, Any]:
    registered = register(image, key)
    crops = crop_answers(registered, key)
    folder.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(folder / "registered.png"), registered.image)
    questions = []
    for crop in crops:
        cv2.imwrite(str(folder / f"{crop.question_id}.png"), crop.ink)
        cv2.imwrite(str(folder / f"{crop.question_id}.color.png"), crop.color)
        questions.append({"id": crop.question_id, "blank": crop.blank, "crop": str(folder / f"{crop.question_id}.png")})
    qr = registered.qr
    return {
        "method": registered.method,
        "reprojection_error": round(registered.reprojection_error, 3),
        "assignment": qr.assignment if qr else None,
        "page": registered.page,
        "student": qr.student if qr else None,
        "qr_read": qr is not None,
        "registered": str(folder / "registered.png"),
        "questions": questions,
    }


def _process(path: Path, key: AnswerKey, out: Path) -> list[dict[str, Any]]:
    try:
        images = read_images(path)
    except GraderError as error:
        return [{"photo": str(path), "error": str(error)}]
    results = []
    for index, image in enumerate(images, start=1):
        stem = path.stem if len(images) == 1 else f"{path.stem}-p{index}"
        entry: dict[str, Any] = {"photo": str(path)}
        if len(images) > 1:
            entry["pdf_page"] = index
        try:
            entry.update(_crop_one(image, key, out / stem))
        except GraderError as error:
            entry["error"] = str(error)
        results.append(entry)
    return results


def _print_text(result: dict[str, Any]) -> None:
    name = result["photo"] + (f" (PDF page {result['pdf_page']})" if "pdf_page" in result else "")
    if "error" in result:
        print(f"{name}: FAILED: {result['error']}")
        return
    qr = (f"assignment {result['assignment']}, page {result['page']}" if result["qr_read"]
          else f"QR not read, page {result['page']}")
    if result["student"]:
        qr += f", student {result['student']}"
    print(f"{name}: registered by {result['method']} (error {result['reprojection_error']:.2f} px); {qr}")
    blank = [q["id"] for q in result["questions"] if q["blank"]]
    answered = [q["id"] for q in result["questions"] if not q["blank"]]
    print(f"  answered: {', '.join(answered) or '-'}")
    print(f"  blank:    {', '.join(blank) or '-'}")


def run(args: argparse.Namespace) -> int:
    key = load_answer_key(args.key)
    results = []
    for path in args.photos:
        for result in _process(path, key, args.out):
            results.append(result)
            if not args.json:
                _print_text(result)
    if args.json:
        json.dump(results, sys.stdout, indent=2, ensure_ascii=False)
        print()
    failed = [r for r in results if "error" in r]
    if failed and not args.json:
        print(f"{len(failed)} of {len(results)} image(s) failed", file=sys.stderr)
    return 1 if failed else 0
