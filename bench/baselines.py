"""Off-the-shelf recognisers for bench/recognizer.py to compare against, when installed.

- Tesseract 5 in line mode (`--psm 7`), Debian `tesseract-ocr` with `tesseract-ocr-eng` and
  `tesseract-ocr-chi-sim`. All crops of a set go to one `tesseract` process through a list file
  (pages come back separated by form feeds), so model loading is not counted per crop. Like our
  model, it is held to the question kind's alphabet (`tessedit_char_whitelist`), except for
  Chinese: with chi_sim and the 3,765-character whitelist it answered nearly every crop with one
  wrong character, far worse than without.
- PP-OCRv4 recognition as shipped in the `rapidocr-onnxruntime==1.4.4` wheel, recognition only
  (the crop is already the text line: no detection, no angle classifier).

Neither is a project dependency: bench/requirements-compare.txt says how to install them. Both get
the crop with a white margin, scaled to a 64-pixel-high line, which is what they read best; their
output is NFKC-normalised (full-width to ASCII), whitespace collapsed, and spaces between Chinese
characters removed, so only real misreadings count against them.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import unicodedata
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from grader.charset import kind_alphabet

TESSERACT_LANG = {"number": "eng", "math": "eng", "text": "eng", "chinese": "chi_sim"}
_CJK_SPACE = re.compile(r"(?<=[\u4e00-\u9fff])\s+(?=[\u4e00-\u9fff])")


def clean(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    text = " ".join(text.split())
    return _CJK_SPACE.sub("", text)


def line_image(crop: np.ndarray, height: int = 64, margin: int = 12) -> np.ndarray:
    """The grayscale crop scaled to `height` pixels of line, on a white margin."""
    scale = height / crop.shape[0]
    width = max(1, round(crop.shape[1] * scale))
    line = cv2.resize(crop, (width, height), interpolation=cv2.INTER_CUBIC if scale > 1 else cv2.INTER_AREA)
    return cv2.copyMakeBorder(line, margin, margin, margin, margin, cv2.BORDER_CONSTANT, value=255)


def tesseract_available() -> bool:
    if not shutil.which("tesseract"):
        return False
    langs = subprocess.run(["tesseract", "--list-langs"], capture_output=True, text=True).stdout.split()
    return {"eng", "chi_sim"} <= set(langs)


def tesseract_read(crops: list[np.ndarray], category: str) -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i, crop in enumerate(crops):
            path = Path(tmp) / f"{i:05d}.png"
            cv2.imwrite(str(path), line_image(crop))
            paths.append(str(path))
        listing = Path(tmp) / "list.txt"
        listing.write_text("\n".join(paths) + "\n")
        cmd = ["tesseract", str(listing), "stdout", "--psm", "7", "-l", TESSERACT_LANG[category]]
        if category != "chinese":
            cmd += ["-c", "tessedit_char_whitelist=" + kind_alphabet(category).replace(" ", "")]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    pages = out.split("\f")
    texts = [clean(p) for p in pages[:len(crops)]]
    return texts + [""] * (len(crops) - len(texts))


def rapidocr_reader() -> Callable[[list[np.ndarray], str], list[str]] | None:
    try:
        from rapidocr_onnxruntime import RapidOCR
    except ImportError:
        return None
    engine = RapidOCR(intra_op_num_threads=1, inter_op_num_threads=1)

    def read(crops: list[np.ndarray], category: str) -> list[str]:
        images = [cv2.cvtColor(line_image(c, height=48, margin=8), cv2.COLOR_GRAY2BGR) for c in crops]
        results, _ = engine.text_rec(images, False)
        return [clean(r[0]) for r in results]

    return read


def available() -> dict[str, Callable[[list[np.ndarray], str], list[str]]]:
    """name -> read(crops, category) for every baseline installed here."""
    found: dict[str, Callable[[list[np.ndarray], str], list[str]]] = {}
    if tesseract_available():
        found["Tesseract 5 (psm 7)"] = tesseract_read
    reader = rapidocr_reader()
    if reader is not None:
        found["PP-OCRv4 (RapidOCR)"] = reader
    return found
