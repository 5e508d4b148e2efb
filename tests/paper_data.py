"""Generated worksheets and phone photos shared by the paper-side tests.

Cached per process, so every test file reuses the same photos (generating one takes ~0.3 s).
The table spans the issue's range: rotations 0/90/180/270 with jitter, tilt up to 30 degrees,
the page filling 30-100 % of the frame, uneven light and shadows, blur, noise, JPEG 50-90 and
three table-like backgrounds. Photos are 2 megapixels: enough to exercise every step, small
enough for a 2-core test run.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from grader.answer_key import AnswerKey, load_answer_key
from grader.paths import ANSWER_KEYS_DIR
from grader.simulate import PhotoParams, SimulatedPhoto, fill_answers, sample_answers, simulate_photo
from grader.worksheet import render_page

FRAME = (1600, 1200)

# (key id, page, rotation, tilt, fill, light_low, shadow, blur, noise, jpeg, background)
PHOTO_TABLE = [
    ("arithmetic-basics", 1, 0, 0, 0.9, 1.0, 0.0, 0.0, 0, 90, "plain"),  # the easy one
    ("arithmetic-basics", 1, 90, 12, 0.6, 0.8, 0.2, 0.6, 3, 80, "wood"),
    ("arithmetic-basics", 1, 180, 30, 0.5, 0.6, 0.4, 1.0, 6, 60, "cloth"),  # upside down, steep
    ("arithmetic-basics", 1, 272, 20, 0.3, 0.7, 0.5, 1.2, 8, 50, "wood"),  # small in the frame
    ("algebra-basics", 1, 8, 25, 1.0, 0.55, 0.3, 0.8, 5, 70, "wood"),  # filling the frame
    ("algebra-basics", 2, 265, 15, 0.7, 0.9, 0.5, 0.5, 4, 85, "plain"),
    ("algebra-basics", 2, 175, 28, 0.4, 0.5, 0.2, 1.4, 7, 55, "cloth"),
    ("english-vocabulary", 1, -10, 18, 0.8, 0.7, 0.45, 0.7, 4, 75, "wood"),
    ("english-vocabulary", 1, 95, 30, 0.55, 0.6, 0.0, 1.0, 8, 65, "plain"),
    ("english-vocabulary", 1, 190, 8, 0.35, 0.8, 0.3, 0.4, 2, 90, "cloth"),
    ("chinese-dictation", 1, 3, 22, 0.75, 0.65, 0.5, 1.1, 6, 50, "wood"),
    ("chinese-dictation", 1, 268, 10, 0.45, 0.9, 0.25, 0.3, 3, 80, "cloth"),
    ("chinese-dictation", 1, 183, 28, 0.95, 0.5, 0.35, 0.9, 5, 60, "plain"),
    ("arithmetic-basics", 1, 45, 14, 0.65, 0.75, 0.4, 0.6, 4, 70, "wood"),  # half-way sideways
]


@dataclass
class PhotoCase:
    name: str
    key: AnswerKey
    page: int
    blank_page: np.ndarray  # the rendered template
    filled_page: np.ndarray  # with handwriting
    answers: dict[str, str]
    photo: SimulatedPhoto
    params: PhotoParams


@lru_cache(maxsize=None)
def key(key_id: str) -> AnswerKey:
    return load_answer_key(ANSWER_KEYS_DIR / f"{key_id}.yaml")


@lru_cache(maxsize=None)
def blank_page(key_id: str, page: int, student: str | None = None) -> np.ndarray:
    return render_page(key(key_id), page, student)


def params_of(row: tuple) -> PhotoParams:
    _, _, rotation, tilt, fill, light, shadow, blur, noise, jpeg, background = row
    return PhotoParams(frame=FRAME, rotation_deg=rotation, tilt_deg=tilt, tilt_axis_deg=37.0 * rotation % 360,
                       fill=fill, center_jitter=0.5, light_low=light, shadow=shadow, blur_sigma=blur,
                       noise_sigma=noise, jpeg_quality=jpeg, background=background)


@lru_cache(maxsize=None)
def photo_case(index: int) -> PhotoCase:
    row = PHOTO_TABLE[index]
    key_id, page = row[0], row[1]
    rng = np.random.default_rng(1000 + index)
    k = key(key_id)
    blank = blank_page(key_id, page)
    answers = sample_answers(k, page, rng, blank_fraction=0.25)
    filled = fill_answers(blank, k, page, answers, rng)
    params = params_of(row)
    photo = simulate_photo(filled, rng, params)
    name = f"{index}-{key_id}-p{page}-rot{row[2]}-tilt{row[3]}-fill{row[4]}"
    return PhotoCase(name, k, page, blank, filled, answers, photo, params)


def corner_error_px(homography_photo_to_page: np.ndarray, case: PhotoCase) -> float:
    """Largest distance (template px) between the page corners mapped photo->page by the
    registration and their true place, through the simulation's page->photo ground truth."""
    height, width = case.blank_page.shape[:2]
    corners = np.array([[[0, 0]], [[width, 0]], [[width, height]], [[0, height]]], np.float64)
    round_trip = homography_photo_to_page @ case.photo.homography
    mapped = cv2.perspectiveTransform(corners, round_trip).reshape(4, 2)
    return float(np.linalg.norm(mapped - corners.reshape(4, 2), axis=1).max())


def written_region(case: PhotoCase, question_id: str) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1) of the handwriting inside a box on the page (ground truth), or None."""
    q = case.key.question(question_id)
    height, width = case.blank_page.shape[:2]
    x, y, w, h = q.box
    bx, by, bw, bh = round(x * width), round(y * height), round(w * width), round(h * height)
    # Pixels the pen darkened by more than a third of the paper: the stroke, not its faint halo.
    diff = np.abs(case.filled_page.astype(int) - case.blank_page.astype(int)).max(axis=2)[by : by + bh, bx : bx + bw]
    ys, xs = np.nonzero(diff > 85)
    if len(xs) == 0:
        return None
    return int(xs.min() + bx), int(ys.min() + by), int(xs.max() + bx), int(ys.max() + by)


def hide_marker(case: PhotoCase, marker_id: int) -> np.ndarray:
    """The photo with one marker covered by a skin-coloured blob (a thumb)."""
    from grader.layout import marker_corners_px

    corners = marker_corners_px(case.key.paper)[marker_id].reshape(-1, 1, 2).astype(np.float64)
    in_photo = cv2.perspectiveTransform(corners, case.photo.homography).reshape(4, 2)
    centre = in_photo.mean(axis=0)
    radius = int(np.linalg.norm(in_photo[0] - in_photo[2]) * 0.9)
    image = case.photo.image.copy()
    cv2.ellipse(image, (int(centre[0]), int(centre[1])), (radius, int(radius * 1.4)), 30, 0, 360, (120, 150, 200), -1)
    return image
