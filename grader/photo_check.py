"""A quick look at a phone photo before it is graded: too blurred, too dark, glare, corner
markers cut off, the page too small in the frame. Each problem comes with what to do, so the
teacher retakes the photo at once instead of finding a failed page later. About 50 ms a photo:
everything is measured on a copy at most `analysis_side` pixels long.

Pure: an image in, a `PhotoCheck` out (the app decides what to show).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from grader import layout


@dataclass(frozen=True)
class PhotoCheckConfig:
    """Thresholds, measured on the demo's generated phone photos (sharpness 0.8-1.3 sharp, about
    0.12 blurred by a 2.5 px Gaussian, the same in a dim photo; paper brightness 220-250)."""

    analysis_side: int = 1000  # px, the long side of the copy measured
    min_sharpness: float = 0.3  # 99.5th percentile of |Laplacian| over the grey range
    min_paper_brightness: float = 90.0  # the brighter quarter of the picture, 0-255
    max_glare_fraction: float = 0.02  # of the page burnt out (>= 250 in every channel) ...
    glare_paper_below: float = 250.0  # ... while its brighter quarter is not (a highlight)
    min_page_fraction: float = 0.2  # of the frame inside the four markers


@dataclass(frozen=True)
class PhotoCheck:
    problems: tuple[str, ...]
    markers_found: int

    @property
    def ok(self) -> bool:
        return not self.problems


def check_photo(image_bgr: np.ndarray, expect_markers: bool = True,
                config: PhotoCheckConfig = PhotoCheckConfig()) -> PhotoCheck:
    """The problems of a photo that would make grading fail or guess, each phrased as a reason
    to retake it. `expect_markers`: the sheet is one of ours (four corner markers)."""
    small = _shrunk(image_bgr, config.analysis_side)
    gray = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
    problems = []
    # Edge strength over contrast, so a dim photo is not called blurred as well.
    edges = float(np.percentile(np.abs(cv2.Laplacian(gray, cv2.CV_32F)), 99.5))
    low, high = np.percentile(gray, (0.5, 99.5))
    if edges < config.min_sharpness * max(float(high - low), 1.0):
        problems.append("too blurred: hold the phone still and tap the sheet to focus")
    paper = float(np.percentile(gray, 75))
    if paper < config.min_paper_brightness:
        problems.append("too dark: more light, or move out of your own shadow")
    found, page = 0, np.ones(gray.shape, bool)
    if expect_markers:
        corners = _markers(gray)
        found = len(corners)
        if found < 4:
            problems.append(f"{found} of the 4 black corner squares in the picture: all four must "
                            "be in the frame, uncovered")
        else:
            hull = cv2.convexHull(np.concatenate(list(corners.values())).astype(np.float32))
            share = cv2.contourArea(hull) / float(gray.shape[0] * gray.shape[1])
            if share < config.min_page_fraction:
                problems.append(f"the page fills only {share:.0%} of the picture: move closer")
            page = cv2.fillConvexPoly(np.zeros(gray.shape, np.uint8), hull.astype(np.int32), 1) > 0
    # Glare is a burnt-out patch on paper that is otherwise not burnt out: a page that is all
    # very bright still shows its ink.
    burnt = small.min(axis=2)[page] >= 250
    glare = float(np.mean(burnt)) if burnt.size else 0.0
    if glare > config.max_glare_fraction and np.percentile(gray[page], 75) < config.glare_paper_below:
        problems.insert(2, f"glare on {glare:.0%} of the page: tilt the phone or the sheet away "
                           "from the lamp or window")
    return PhotoCheck(tuple(problems), found)


def _shrunk(image: np.ndarray, side: int) -> np.ndarray:
    scale = side / max(image.shape[:2])
    if scale >= 1:
        return image
    return cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)


def _markers(gray: np.ndarray) -> dict[int, np.ndarray]:
    """Our corner markers found in the photo: id -> (4, 2) corners."""
    dictionary = cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, layout.MARKER_DICT))
    corners, ids, _ = cv2.aruco.ArucoDetector(dictionary).detectMarkers(gray)
    if ids is None:
        return {}
    return {int(i): c.reshape(-1, 2) for i, c in zip(ids.ravel(), corners)
            if int(i) in layout.MARKER_IDS}
