"""Registration sweep: generated 12-megapixel phone photos of a 20-question worksheet.

For each photo: decode the JPEG bytes, register, crop all answers (one thread, timed together and
per stage). Prints, per registration method, the success rate, the page-corner error against the
simulation's ground truth (median, p95; % of the page width) and the milliseconds per photo.

    nice -n 10 .venv/bin/python bench/registration.py            # 200 marker photos + 20 without markers
    nice -n 10 .venv/bin/python bench/registration.py --count 20 # a quick look

Photo parameters are drawn over the issue's whole range (grader.simulate.PhotoParams.random with
severity 1): rotation 0/90/180/270 +-12 deg, tilt up to 30 deg, the page filling 30-100 % of the
frame, uneven light, shadows, blur, noise, JPEG quality 50-90, wood/cloth/plain backgrounds.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from grader.answer_key import load_answer_key  # noqa: E402
from grader.crops import crop_answers  # noqa: E402
from grader.errors import GraderError  # noqa: E402
from grader.imageio import load_images  # noqa: E402
from grader.layout import MARKER_PX, marker_origins_px  # noqa: E402
from grader.paths import ANSWER_KEYS_DIR  # noqa: E402
from grader.registration import register  # noqa: E402
from grader.simulate import PhotoParams, fill_answers, sample_answers, simulate_photo  # noqa: E402
from grader.worksheet import render_page  # noqa: E402


def corner_error(homography: np.ndarray, truth: np.ndarray, width: int, height: int) -> float:
    corners = np.array([[[0, 0]], [[width, 0]], [[width, height]], [[0, height]]], np.float64)
    mapped = cv2.perspectiveTransform(corners, homography @ truth).reshape(4, 2)
    return float(np.linalg.norm(mapped - corners.reshape(4, 2), axis=1).max())


def without_markers(page: np.ndarray) -> np.ndarray:
    page = page.copy()
    for x, y in marker_origins_px("A4").values():
        page[y - 4 : y + MARKER_PX + 4, x - 4 : x + MARKER_PX + 4] = 255
    return page


def run(count: int, fallback: int, frame: tuple[int, int], seed: int) -> None:
    cv2.setNumThreads(1)
    key = load_answer_key(ANSWER_KEYS_DIR / "arithmetic-basics.yaml")
    blank = render_page(key, 1)
    height, width = blank.shape[:2]
    rng = np.random.default_rng(seed)
    rows: dict[str, list[dict]] = defaultdict(list)
    failures: dict[str, list[str]] = defaultdict(list)
    jobs = [("marker sheets", blank)] * count + [("sheets without markers", without_markers(blank))] * fallback
    # Warm-up: the first call pays for OpenCV's lazy initialisation and the template cache.
    register(blank, key)
    for index, (group, sheet) in enumerate(jobs):
        filled = fill_answers(sheet, key, 1, sample_answers(key, 1, rng), rng)
        photo = simulate_photo(filled, rng, PhotoParams.random(rng, 1.0, frame=frame))
        start = time.perf_counter()
        cpu_start = time.process_time()  # the CPU this thread used: fair on a shared machine
        try:
            image = load_images(photo.jpeg, "photo.jpg")[0]
            decoded = time.perf_counter()
            registered = register(image, key)
            aligned = time.perf_counter()
            crops = crop_answers(registered, key)
            done = time.perf_counter()
            cpu = time.process_time() - cpu_start
        except GraderError as error:
            failures[group].append(f"photo {index}: {error} ({photo.params})")
            continue
        # The decoder may scale a large JPEG down (grader.imageio): the truth maps the page into
        # the photo's full-size pixels, the registration the decoded image's.
        decoded_scale = np.diag([image.shape[1] / photo.image.shape[1], image.shape[0] / photo.image.shape[0], 1.0])
        error_px = corner_error(registered.homography, decoded_scale @ photo.homography, width, height)
        rows[group].append({
            "method": registered.method, "error_px": error_px, "ms": (done - start) * 1000, "cpu_ms": cpu * 1000,
            "decode_ms": (decoded - start) * 1000, "register_ms": (aligned - decoded) * 1000,
            "crops_ms": (done - aligned) * 1000, "qr": registered.qr is not None, "crops": len(crops),
        })
        if (index + 1) % 20 == 0:
            print(f"  {index + 1}/{len(jobs)} photos", file=sys.stderr, flush=True)
    report(rows, failures, {"marker sheets": count, "sheets without markers": fallback}, width, frame)


def report(rows, failures, totals, width, frame) -> None:
    print(f"\nRegistration sweep: {frame[0]}x{frame[1]} photos ({frame[0] * frame[1] / 1e6:.0f} MP), "
          f"20-question A4 page, one thread (cv2.setNumThreads(1))")
    print("ms: wall clock of decode + registration + all crops; cpu: the CPU time the process used for it "
          "(the two differ when other work shares the machine). Stage columns are wall-clock medians.")
    print(f"load average at the end: {' '.join(f'{v:.1f}' for v in os.getloadavg())} on {os.cpu_count()} cores")
    ok_limit = 0.005 * width
    for group, total in totals.items():
        if total == 0:
            continue
        done = rows.get(group, [])
        accurate = [r for r in done if r["error_px"] <= ok_limit]
        print(f"\n{group}: {len(done)}/{total} registered ({100 * len(done) / total:.1f} %), "
              f"{len(accurate)}/{total} within 0.5 % of the page width ({100 * len(accurate) / total:.1f} %)")
        by_method: dict[str, list[dict]] = defaultdict(list)
        for r in done:
            by_method[r["method"]].append(r)
        print(f"  {'method':<9} {'n':>4} {'err med':>9} {'err p95':>9} {'err max':>9} {'ms med':>7} {'ms p95':>7} "
              f"{'cpu med':>7} {'decode':>7} {'register':>8} {'crops':>6} {'QR read':>8}")
        for method, items in sorted(by_method.items()):
            errors = np.array([r["error_px"] for r in items]) / width * 100
            ms = np.array([r["ms"] for r in items])
            med = {name: float(np.median([r[name] for r in items]))
                   for name in ("cpu_ms", "decode_ms", "register_ms", "crops_ms")}
            qr = sum(r["qr"] for r in items) / len(items) * 100
            print(f"  {method:<9} {len(items):>4} {np.median(errors):>8.3f}% {np.percentile(errors, 95):>8.3f}% "
                  f"{errors.max():>8.3f}% {np.median(ms):>7.0f} {np.percentile(ms, 95):>7.0f} {med['cpu_ms']:>7.0f} "
                  f"{med['decode_ms']:>7.0f} {med['register_ms']:>8.0f} {med['crops_ms']:>6.0f} {qr:>7.0f}%")
        for line in failures.get(group, [])[:10]:
            print(f"  FAILED {line}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=200, help="photos of marker sheets")
    parser.add_argument("--fallback", type=int, default=20, help="photos of sheets without markers")
    parser.add_argument("--frame", default="4000x3000", help="photo size WxH (default 12 MP)")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    frame = tuple(int(v) for v in args.frame.lower().split("x"))
    run(args.count, args.fallback, frame, args.seed)


if __name__ == "__main__":
    main()
