"""`python -m grader recognize [--json] [--kind K] [--letters-only] PATH...`: read handwriting in
crop images.

With `--kind text` or `--kind chinese` the reading goes through the word list (grader.words):
a near miss of a listed word becomes that word. `--letters-only` gives the model's own reading.
A crop whose first reading leaves doubt (a confidence below its kind's threshold,
grader.recognizer.views_below) is read again in more views (squeezed, stretched, slanted both
ways: grader.recognizer.views_of) and the reading most likely over all of them wins;
`--one-view` reads each crop once, as POST /ocr does (faster, a little less accurate).

Prints one entry per image in input order: {"path", "text", "confidence"}, or {"path", "error"}
for a file that cannot be read (the others still run). Each file is checked from its header
before it is decoded (grader.limits.CROP: 16 megapixels, 8,000 px a side), so a 20000x20000
scan or a 74-byte PNG that claims 100000x100000 is refused with the limit and the value named.
Directories expand to the images in them, sorted by name. Exit status 0 when every image was
read, 2 otherwise.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

from grader import db, limits, model_versions
from grader.errors import GraderError
from grader.imageio import check_image_header
from grader.reader import load_reader
from grader.vocab import Kind

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm", ".gif"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH", help="crop images or folders of them")
    parser.add_argument("--json", action="store_true", help="print a JSON array (the default output)")
    parser.add_argument("--kind", choices=[k.value for k in Kind],
                        help="restrict the alphabet to this answer kind")
    parser.add_argument("--db", metavar="URL",
                        help="read with this gradebook's current model (see `adapt`); default: the "
                        "shipped models/")
    parser.add_argument("--precision", choices=("int8", "fp32"), default="int8")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--beam", type=int, default=0, help="beam width (0: greedy)")
    parser.add_argument("--letters-only", action="store_true",
                        help="no word list: the model's own reading of English and Chinese")
    parser.add_argument("--one-view", action="store_true",
                        help="read each crop once, as prepared (faster, less accurate)")


def expand_paths(paths: list[str]) -> list[Path]:
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES))
        else:
            out.append(p)
    return out


def read_gray(path: Path) -> np.ndarray:
    """Decode one crop as grayscale; raises GraderError with the reason when it cannot."""
    try:
        size = path.stat().st_size
        if size > limits.CROP.max_file_bytes:  # checked before it is read
            raise GraderError(f"{path}: the file is {size / 1e6:.0f} MB; the limit for a crop is "
                              f"{limits.CROP.max_file_bytes / 1e6:.0f} MB")
        data = path.read_bytes()
    except OSError as error:
        raise GraderError(f"cannot open {path}: {error.strerror or error}") from error
    if not data:
        raise GraderError(f"{path} is empty")
    check_image_header(data, str(path), limits.CROP)  # before a single pixel is decoded
    try:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
    except cv2.error:
        image = None
    if image is None or image.size == 0:
        raise GraderError(f"{path} is not an image we can decode")
    return image


def run(args: argparse.Namespace) -> int:
    paths = expand_paths(args.paths)
    entries: list[dict] = [{"path": str(p)} for p in paths]
    crops, where = [], []
    for i, p in enumerate(paths):
        try:
            crops.append(read_gray(p))
            where.append(i)
        except GraderError as error:
            entries[i]["error"] = str(error)
    if crops:
        models_dir = model_versions.models_dir_for(db.open_engine(args.db)) if args.db else None
        recognizer = load_reader(models_dir, precision=args.precision, threads=args.threads)
        for i, reading in zip(where, recognizer.read(crops, kind=args.kind, beam_width=args.beam,
                                                            use_words=not args.letters_only,
                                                            views=not args.one_view)):
            entries[i]["text"] = reading.text
            entries[i]["confidence"] = round(reading.confidence, 4)
    print(json.dumps(entries, ensure_ascii=False, indent=None))
    return 0 if all("error" not in e for e in entries) and entries else 2
