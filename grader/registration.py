"""Register a photo onto its template page: ArUco markers, else page outline, else features.

`register(photo, key)` returns a RegisteredPage (the photo warped to the 200 dpi template size,
on demand and region by region; the page number, the method that worked, its reprojection error
and the QR code's content) or raises AlignmentFailed / WrongAssignment with the reason. It never
guesses silently: an outline or feature alignment must also look like the template before it is
accepted.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import cv2
import numpy as np

from grader.answer_key import AnswerKey
from grader.errors import AlignmentFailed, WrongAssignment
from grader.layout import (
    MARKER_IDS,
    QrInfo,
    marker_corners_px,
    page_size_px,
    parse_qr_payload,
    qr_rect_px,
)
from grader.template import template_image


@dataclass(frozen=True)
class RegistrationConfig:
    detect_long_side: int = 1600  # markers are found on a copy this size, refined on the full photo
    outline_long_side: int = 800
    features_long_side: int = 1200
    max_marker_error_px: float = 4.0  # RMS corner residual on the template, in template pixels
    min_feature_inliers: int = 30
    min_similarity: float = 0.25  # page-vs-template agreement an outline/feature alignment must reach


DEFAULT_CONFIG = RegistrationConfig()


class PageWarp:
    """A photo seen through its photo -> template homography, warped on demand: the whole
    template page (the app's thumbnail, page matching), or only the regions grading reads (the
    answer boxes, the QR code, the name box: under half of a page). A region is the same pixels
    as that part of the whole page: warpPerspective maps each output pixel back on its own (up to
    the last bits of the moved origin's arithmetic)."""

    def __init__(self, photo: np.ndarray, homography: np.ndarray, size: tuple[int, int]):
        self.photo, self.homography, self.size = photo, homography, size
        self._full: np.ndarray | None = None
        self._inverse_matrix: np.ndarray | None = None

    def full(self) -> np.ndarray:
        if self._full is None:
            self._full = _warp(self.photo, self.homography, self.size)
        return self._full

    def region(self, x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
        """The page's pixels [y0:y1, x0:x1], clipped to the page (BGR, a fresh array)."""
        width, height = self.size
        x0, y0, x1, y1 = max(0, x0), max(0, y0), min(width, x1), min(height, y1)
        if x1 <= x0 or y1 <= y0:
            return np.zeros((max(0, y1 - y0), max(0, x1 - x0), 3), np.uint8)
        if self._full is not None:
            return self._full[y0:y1, x0:x1].copy()
        # OpenCV maps each output pixel back through the inverse homography; the region's inverse
        # is the page's with its origin moved to (x0, y0), so its pixels are the page's (the
        # inverse is cv2.invert's, as warpPerspective's own: the whole page warps as before).
        inverse = self._inverse().copy()
        inverse[:, 2] = inverse[:, 0] * x0 + inverse[:, 1] * y0 + inverse[:, 2]
        return _warp(self.photo, inverse, (x1 - x0, y1 - y0), inverse_map=True)

    def _inverse(self) -> np.ndarray:
        if self._inverse_matrix is None:
            self._inverse_matrix = cv2.invert(np.asarray(self.homography, np.float64))[1]
        return self._inverse_matrix


@dataclass
class RegisteredPage:
    warp: PageWarp  # the photo onto the template's size (page_size_px(key.paper))
    page: int
    method: str  # "markers" | "outline" | "features"
    reprojection_error: float  # template pixels (RMS)
    qr: QrInfo | None
    markers_found: int = 0

    @property
    def homography(self) -> np.ndarray:
        """3x3, photo pixel -> template pixel."""
        return self.warp.homography

    @property
    def image(self) -> np.ndarray:
        """The whole registered page, BGR (warped on first use)."""
        return self.warp.full()



def page_size(page: np.ndarray | RegisteredPage | PageWarp) -> tuple[int, int]:
    """(width, height) of a registered page, as an image or still to be warped."""
    if isinstance(page, RegisteredPage):
        page = page.warp
    return page.size if isinstance(page, PageWarp) else (page.shape[1], page.shape[0])


def page_region(page: np.ndarray | RegisteredPage | PageWarp, x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
    """The page's pixels [y0:y1, x0:x1], clipped to the page, as a fresh array: sliced from an
    image, or warped for that region alone from a page not warped whole."""
    if isinstance(page, RegisteredPage):
        page = page.warp
    if isinstance(page, PageWarp):
        return page.region(x0, y0, x1, y1)
    return page[max(0, y0) : max(0, y1), max(0, x0) : max(0, x1)].copy()


@dataclass
class Outline:
    corners: np.ndarray  # (4, 2) float64 in photo pixels, clockwise from an arbitrary corner
    fit_error: float  # RMS distance of the outline's points from the fitted sides, photo pixels


# --- markers ----------------------------------------------------------------------------------------

_LOCAL = threading.local()  # one detector per thread: the API grades in a thread pool


QUICK_WINDOW_PX = 22  # the quick detector's one threshold window: the full one's middle


def _aruco_detector(quick: bool = False) -> cv2.aruco.ArucoDetector:
    """The full detector, or the quick one: one threshold window of the full one's three, tried
    first (a photo whose four markers it finds needs no more: a third of the time)."""
    name = "quick_detector" if quick else "detector"
    detector = getattr(_LOCAL, name, None)
    if detector is None:
        params = cv2.aruco.DetectorParameters()
        params.cornerRefinementMethod = cv2.aruco.CORNER_REFINE_NONE  # refined on the full image below
        # Three threshold windows (7, 22, 37 px) cover markers of 20-60 px on the detection copy.
        params.adaptiveThreshWinSizeMin = QUICK_WINDOW_PX if quick else 7
        params.adaptiveThreshWinSizeMax = QUICK_WINDOW_PX if quick else 37
        params.adaptiveThreshWinSizeStep = 15
        params.minMarkerPerimeterRate = 0.02
        params.polygonalApproxAccuracyRate = 0.05
        dictionary = cv2.aruco.getPredefinedDictionary(cv2.aruco.DICT_4X4_50)
        detector = cv2.aruco.ArucoDetector(dictionary, params)
        setattr(_LOCAL, name, detector)
    return detector


def _gray(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image


def _downscale(gray: np.ndarray, long_side: int, fast: bool = False) -> tuple[np.ndarray, float]:
    """A copy whose long side is at most `long_side`. `fast` uses bilinear sampling (a few ms
    for a 12 MP photo instead of ~20 for area averaging): fine for blocky markers."""
    scale = min(1.0, long_side / max(gray.shape[:2]))
    if scale >= 1.0:
        return gray, 1.0
    size = (max(1, round(gray.shape[1] * scale)), max(1, round(gray.shape[0] * scale)))
    small = cv2.resize(gray, size, interpolation=cv2.INTER_LINEAR if fast else cv2.INTER_AREA)
    # The exact factor, so corners map back without a rounding drift.
    return small, size[0] / gray.shape[1]


def detect_markers(gray: np.ndarray, config: RegistrationConfig = DEFAULT_CONFIG) -> dict[int, np.ndarray]:
    """Our markers (ids 0-3) found in a grayscale photo: id -> (4, 2) corners in photo pixels."""
    small, scale = _downscale(gray, config.detect_long_side, fast=True)
    corners, ids, _ = _aruco_detector(quick=True).detectMarkers(small)
    if ids is None or len(set(ids.ravel().tolist()) & set(MARKER_IDS)) < len(MARKER_IDS):
        corners, ids, _ = _aruco_detector().detectMarkers(small)
    found: dict[int, np.ndarray] = {}
    if ids is None:
        return found
    for quad, raw_id in zip(corners, ids.ravel()):
        marker_id = int(raw_id)
        if marker_id not in MARKER_IDS:
            continue
        quad = quad.reshape(4, 2).astype(np.float32)
        # Two detections of one id: keep the larger, the other is a look-alike in the writing.
        if marker_id in found and cv2.contourArea(found[marker_id] * scale) >= cv2.contourArea(quad):
            continue
        found[marker_id] = quad / scale
    if found:
        points = np.concatenate(list(found.values())).reshape(-1, 1, 2).astype(np.float32)
        window = max(3, int(round(1.5 / scale)))
        criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 0.03)
        refined = cv2.cornerSubPix(gray, points, (window, window), (-1, -1), criteria).reshape(-1, 4, 2)
        found = {marker_id: refined[i] for i, marker_id in enumerate(found)}
    return found


def _homography_from_markers(found: dict[int, np.ndarray], paper: str) -> tuple[np.ndarray, float]:
    """Photo -> template homography from the markers' corners, and its RMS residual (template px)."""
    template = marker_corners_px(paper)
    src = np.concatenate([found[i] for i in sorted(found)]).astype(np.float64)
    dst = np.concatenate([template[i] for i in sorted(found)]).astype(np.float64)
    homography, inliers = cv2.findHomography(src, dst, cv2.RANSAC, 6.0)
    if homography is None:
        raise AlignmentFailed("the registration markers give no consistent page geometry")
    keep = inliers.ravel().astype(bool)
    # Refit on the inliers by least squares: RANSAC's model comes from a minimal sample.
    homography, _ = cv2.findHomography(src[keep], dst[keep], 0)
    mapped = cv2.perspectiveTransform(src.reshape(-1, 1, 2), homography).reshape(-1, 2)
    error = float(np.sqrt(np.mean(np.sum((mapped - dst) ** 2, axis=1))))
    return homography, error


# --- page outline -----------------------------------------------------------------------------------


def _order_clockwise(corners: np.ndarray) -> np.ndarray:
    centre = corners.mean(axis=0)
    angles = np.arctan2(corners[:, 1] - centre[1], corners[:, 0] - centre[0])
    return corners[np.argsort(angles)]


def _refine_sides(contour: np.ndarray, quad: np.ndarray) -> tuple[np.ndarray, float]:
    """Fit a line to the contour points along each side of the rough quad; intersect them."""
    points = contour.reshape(-1, 2).astype(np.float64)
    lines = []
    residuals = []
    for i in range(4):
        a, b = quad[i], quad[(i + 1) % 4]
        direction = (b - a) / max(np.linalg.norm(b - a), 1e-9)
        normal = np.array([-direction[1], direction[0]])
        t = (points - a) @ direction
        d = (points - a) @ normal
        length = np.linalg.norm(b - a)
        near = (np.abs(d) < max(4.0, 0.015 * length)) & (t > 0.08 * length) & (t < 0.92 * length)
        side = points[near] if near.sum() >= 5 else np.array([a, b])
        vx, vy, x0, y0 = cv2.fitLine(side.astype(np.float32), cv2.DIST_HUBER, 0, 0.01, 0.01).ravel()
        lines.append((np.array([x0, y0], np.float64), np.array([vx, vy], np.float64)))
        n = np.array([-vy, vx])
        residuals.append((side - [x0, y0]) @ n)
    corners = []
    for i in range(4):
        (p1, d1), (p2, d2) = lines[i - 1], lines[i]
        matrix = np.column_stack([d1, -d2])
        if abs(np.linalg.det(matrix)) < 1e-9:
            return quad, float("inf")
        s, _ = np.linalg.solve(matrix, p2 - p1)
        corners.append(p1 + s * d1)
    fit = float(np.sqrt(np.mean(np.concatenate(residuals) ** 2)))
    return np.array(corners), fit


def find_page_outline(photo_bgr: np.ndarray, config: RegistrationConfig = DEFAULT_CONFIG) -> Outline:
    """The sheet's outline: the largest convex quadrilateral of bright paper edges in the photo."""
    small, scale = _downscale(_gray(photo_bgr), config.outline_long_side)
    blurred = cv2.GaussianBlur(small, (5, 5), 0)
    edges = cv2.Canny(blurred, 30, 90)
    edges = cv2.dilate(edges, np.ones((3, 3), np.uint8))
    contours, _ = cv2.findContours(edges, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    frame_area = small.shape[0] * small.shape[1]
    best = None
    for contour in sorted(contours, key=cv2.contourArea, reverse=True)[:5]:
        hull = cv2.convexHull(contour)
        area = cv2.contourArea(hull)
        if area < 0.15 * frame_area:
            break
        approx = cv2.approxPolyDP(hull, 0.02 * cv2.arcLength(hull, True), True)
        if len(approx) == 4 and cv2.isContourConvex(approx):
            best = (contour, approx.reshape(4, 2).astype(np.float64))
            break
    if best is None:
        raise AlignmentFailed("no page outline found")
    contour, quad = best
    quad = _order_clockwise(quad)
    # Refit the sides on the thin Canny edge pixels, not on the dilated contour (biased outward).
    ys, xs = np.nonzero(cv2.Canny(blurred, 30, 90))
    corners, fit = _refine_sides(np.column_stack([xs, ys]), quad)
    return Outline(_order_clockwise(corners) / scale, fit / scale)


_SIGNATURE_SIZE = (207, 292)  # width, height: an eighth of an A4 page at 200 dpi


def _printed_weight(key: AnswerKey, page: int) -> np.ndarray:
    """Where the template's print says something about the sheet: not inside answer boxes
    (handwriting), not the QR (it differs per student) and not the markers."""
    width, height = _SIGNATURE_SIZE
    weight = np.ones((height, width), np.float32)
    page_w, page_h = page_size_px(key.paper)
    for q in key.questions_on_page(page):
        x, y, w, h = q.box
        weight[int(y * height) + 1 : int((y + h) * height), int(x * width) + 1 : int((x + w) * width)] = 0
    qx, qy, qw, qh = qr_rect_px(key.paper)
    weight[int(qy / page_h * height) : int((qy + qh) / page_h * height) + 1,
           int(qx / page_w * width) : int((qx + qw) / page_w * width) + 1] = 0
    for corners in marker_corners_px(key.paper).values():
        (x0, y0), (x1, y1) = corners.min(axis=0), corners.max(axis=0)
        rows = slice(int(y0 / page_h * height), int(y1 / page_h * height) + 1)
        weight[rows, int(x0 / page_w * width) : int(x1 / page_w * width) + 1] = 0
    return weight


def _similarity(registered: np.ndarray, template: np.ndarray, weight: np.ndarray | None = None) -> float:
    """Agreement of a registered page with its template: weighted correlation of low-res edge maps."""
    def signature(image: np.ndarray) -> np.ndarray:
        small = cv2.resize(_gray(image), _SIGNATURE_SIZE, interpolation=cv2.INTER_AREA).astype(np.float32)
        small = small - cv2.GaussianBlur(small, (0, 0), 6)  # remove lighting, keep printed structure
        return cv2.GaussianBlur(np.abs(small), (0, 0), 1.5)

    w = np.ones(_SIGNATURE_SIZE[::-1], np.float32) if weight is None else weight
    a, b = signature(registered), signature(template)
    total = float(w.sum())
    if total <= 0:
        return 0.0
    a = a - float((a * w).sum()) / total
    b = b - float((b * w).sum()) / total
    denominator = float(np.sqrt((w * a * a).sum() * (w * b * b).sum()))
    return float((w * a * b).sum() / denominator) if denominator > 0 else 0.0


def _outline_homography(outline: Outline, template: np.ndarray, photo: np.ndarray,
                        weight: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """Of the two portrait orientations of the outline, the one that matches the template."""
    height, width = template.shape[:2]
    target = np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float64)
    corners = outline.corners
    if np.linalg.norm(corners[1] - corners[0]) > np.linalg.norm(corners[3] - corners[0]):
        corners = np.roll(corners, -1, axis=0)  # make the first side a short (top) one
    scored: list[tuple[float, np.ndarray]] = []
    for turn in (0, 2):
        candidate = np.roll(corners, -turn, axis=0)
        homography = cv2.getPerspectiveTransform(candidate.astype(np.float32), target.astype(np.float32))
        preview = cv2.warpPerspective(photo, _scaled(homography, 0.125), (width // 8, height // 8))
        scored.append((_similarity(preview, template, weight), homography))
    score, homography = max(scored, key=lambda pair: pair[0])  # the first of equals, as before
    return homography, score


def _scaled(homography: np.ndarray, factor: float) -> np.ndarray:
    return np.diag([factor, factor, 1.0]) @ homography


# --- features ---------------------------------------------------------------------------------------

_FEATURE_CACHE: dict[tuple[str, int], tuple] = {}


def _features(gray: np.ndarray, mask: np.ndarray | None = None):
    # SIFT: slower than ORB but far steadier under perspective; this is the last resort anyway.
    sift = cv2.SIFT.create(nfeatures=4000)
    return sift.detectAndCompute(gray, mask)


def _template_features(key: AnswerKey, page: int, template: np.ndarray, long_side: int):
    """Keypoints of the blank template, answer boxes masked out (handwriting never matches)."""
    cache_key = (key.model_dump_json(), page)
    if cache_key not in _FEATURE_CACHE:
        small, scale = _downscale(_gray(template), long_side)
        mask = np.full(small.shape, 255, np.uint8)
        height, width = small.shape
        for q in key.questions_on_page(page):
            x, y, w, h = q.box
            cv2.rectangle(mask, (int(x * width) + 4, int(y * height) + 4),
                          (int((x + w) * width) - 4, int((y + h) * height) - 4), 0, -1)
        points, descriptors = _features(small, mask)
        if len(_FEATURE_CACHE) > 16:
            _FEATURE_CACHE.clear()
        _FEATURE_CACHE[cache_key] = (points, descriptors, scale)
    return _FEATURE_CACHE[cache_key]


def _photo_features(photo_gray: np.ndarray, config: RegistrationConfig):
    small, scale = _downscale(photo_gray, config.features_long_side)
    points, descriptors = _features(small)
    return points, descriptors, scale


def _feature_homography(photo_features, key: AnswerKey, page: int, template: np.ndarray,
                        config: RegistrationConfig) -> tuple[np.ndarray | None, float, int]:
    """Photo -> template homography from SIFT matches (ratio test, MAGSAC): (H, RMS error, inliers);
    H is None when too few features match (the caller reports the inlier count it saw)."""
    t_points, t_desc, t_scale = _template_features(key, page, template, config.features_long_side)
    p_points, p_desc, scale = photo_features
    if p_desc is None or t_desc is None or len(p_points) < 10:
        return None, float("inf"), 0
    pairs = cv2.BFMatcher(cv2.NORM_L2).knnMatch(p_desc, t_desc, k=2)
    good = [m for m, *rest in pairs if rest and m.distance < 0.75 * rest[0].distance]
    if len(good) < config.min_feature_inliers:
        return None, float("inf"), len(good)
    src = np.array([p_points[m.queryIdx].pt for m in good], np.float64) / scale
    dst = np.array([t_points[m.trainIdx].pt for m in good], np.float64) / t_scale
    homography, mask = cv2.findHomography(src, dst, cv2.USAC_MAGSAC, 4.0, maxIters=10000, confidence=0.9999)
    if homography is None:
        return None, float("inf"), 0
    keep = mask.ravel().astype(bool)
    if keep.sum() >= 8:
        homography, _ = cv2.findHomography(src[keep], dst[keep], 0)
    mapped = cv2.perspectiveTransform(src[keep].reshape(-1, 1, 2), homography).reshape(-1, 2)
    error = float(np.sqrt(np.mean(np.sum((mapped - dst[keep]) ** 2, axis=1))))
    return homography, error, int(keep.sum())


def _plausible(homography: np.ndarray, photo_shape: tuple[int, ...], size: tuple[int, int]) -> bool:
    """The template page maps back into the photo as a convex quad of sensible size."""
    try:
        inverse = np.linalg.inv(homography)
    except np.linalg.LinAlgError:
        return False
    width, height = size
    corners = np.array([[[0, 0]], [[width, 0]], [[width, height]], [[0, height]]], np.float64)
    quad = cv2.perspectiveTransform(corners, inverse).reshape(4, 2).astype(np.float32)
    area = cv2.contourArea(quad)
    return bool(cv2.isContourConvex(quad)) and area > 0.02 * photo_shape[0] * photo_shape[1]


# --- QR and pages -------------------------------------------------------------------------------


def read_qr(registered_bgr: np.ndarray | PageWarp, paper: str) -> QrInfo | None:
    """Our QR code on a registered page (its image, or its warp: only the code's region is then
    warped), read where the layout puts it (None if unreadable)."""
    x, y, w, h = qr_rect_px(paper)
    pad = 40
    crop = _gray(page_region(registered_bgr, x - pad, y - pad, x + w + pad, y + h + pad))
    detector = cv2.QRCodeDetector()
    # Cheap first; a sharpened copy rescues out-of-focus photos, the binarised ones uneven light.
    variants = (
        lambda: crop,
        lambda: cv2.addWeighted(crop, 2.0, cv2.GaussianBlur(crop, (0, 0), 3), -1.0, 0),
        lambda: cv2.threshold(crop, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)[1],
        lambda: cv2.adaptiveThreshold(crop, 255, cv2.ADAPTIVE_THRESH_GAUSSIAN_C, cv2.THRESH_BINARY, 31, 5),
    )
    for make in variants:
        text, _, _ = detector.detectAndDecode(make())
        if text:
            return parse_qr_payload(text)
    return None


def _choose_page(warp: PageWarp, key: AnswerKey, qr: QrInfo | None, page: int | None) -> int:
    if qr is not None:
        return qr.page
    if page is not None:
        return page
    if key.pages == 1:
        return 1
    registered = warp.full()
    scores = [_similarity(registered, template_image(key, p), _printed_weight(key, p)) for p in range(1, key.pages + 1)]
    return int(np.argmax(scores)) + 1


def _check_assignment(qr: QrInfo | None, key: AnswerKey) -> None:
    if qr is None:
        return
    if qr.assignment != key.id:
        raise WrongAssignment(
            f"this photo shows a sheet of assignment {qr.assignment!r} (page {qr.page}), not {key.id!r}"
        )
    if not 1 <= qr.page <= key.pages:
        raise WrongAssignment(f"the sheet's QR code names page {qr.page}, but {key.id!r} has {key.pages} page(s)")


# --- the entry point ------------------------------------------------------------------------------


def _warp(photo: np.ndarray, homography: np.ndarray, size: tuple[int, int],
          inverse_map: bool = False) -> np.ndarray:
    flags = cv2.INTER_LINEAR | (cv2.WARP_INVERSE_MAP if inverse_map else 0)
    return cv2.warpPerspective(photo, homography, size, flags=flags,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=(255, 255, 255))


def _by_markers(photo: np.ndarray, gray: np.ndarray, key: AnswerKey, page: int | None,
                config: RegistrationConfig) -> tuple[RegisteredPage | None, str]:
    found = detect_markers(gray, config)
    if len(found) < 3:
        return None, f"{len(found)} of the 4 registration markers found (at least 3 are needed)"
    homography, error = _homography_from_markers(found, key.paper)
    if error > config.max_marker_error_px:
        return None, f"the registration markers disagree (residual {error:.1f} px)"
    warp = PageWarp(photo, homography, page_size_px(key.paper))
    qr = read_qr(warp, key.paper)
    _check_assignment(qr, key)
    chosen = _choose_page(warp, key, qr, page)
    return RegisteredPage(warp, chosen, "markers", error, qr, len(found)), ""


def _by_outline(photo: np.ndarray, key: AnswerKey, page: int | None,
                config: RegistrationConfig) -> tuple[RegisteredPage | None, str]:
    try:
        outline = find_page_outline(photo, config)
    except AlignmentFailed as error:
        return None, str(error)
    pages = [page] if page is not None else list(range(1, key.pages + 1))
    size = page_size_px(key.paper)
    candidates: list[tuple[float, int, np.ndarray]] = []
    for p in pages:
        homography, score = _outline_homography(outline, template_image(key, p), photo, _printed_weight(key, p))
        candidates.append((score, p, homography))
    score, chosen, homography = max(candidates, key=lambda c: c[0])  # the first of equals, as before
    if score < config.min_similarity:
        return None, f"a page outline was found but the page does not match the template (similarity {score:.2f})"
    warp = PageWarp(photo, homography, size)
    qr = read_qr(warp, key.paper)
    _check_assignment(qr, key)
    chosen = qr.page if qr is not None else chosen
    # The outline's side-fit residual, in template pixels, stands for the reprojection error.
    scale = size[0] / max(float(np.linalg.norm(outline.corners[1] - outline.corners[0])), 1.0)
    return RegisteredPage(warp, chosen, "outline", outline.fit_error * scale, qr), ""


def _by_features(photo: np.ndarray, gray: np.ndarray, key: AnswerKey, page: int | None,
                 config: RegistrationConfig) -> tuple[RegisteredPage | None, str]:
    pages = [page] if page is not None else list(range(1, key.pages + 1))
    size = page_size_px(key.paper)
    photo_features = _photo_features(gray, config)  # once, matched against every page
    best = None
    inliers_seen = 0
    for p in pages:
        template = template_image(key, p)
        homography, error, inliers = _feature_homography(photo_features, key, p, template, config)
        inliers_seen = max(inliers_seen, inliers)
        if homography is None or inliers < config.min_feature_inliers or not _plausible(homography, photo.shape, size):
            continue
        if best is None or inliers > best[0]:
            best = (inliers, p, homography, error)
    if best is None:
        return None, f"too few features match the template ({inliers_seen} consistent matches)"
    inliers, chosen, homography, error = best
    warp = PageWarp(photo, homography, size)
    score = _similarity(warp.full(), template_image(key, chosen), _printed_weight(key, chosen))
    if score < config.min_similarity:
        return None, f"the feature alignment does not match the template (similarity {score:.2f})"
    qr = read_qr(warp, key.paper)
    _check_assignment(qr, key)
    return RegisteredPage(warp, qr.page if qr else chosen, "features", error, qr), ""


def register(photo_bgr: np.ndarray, key: AnswerKey, page: int | None = None,
             config: RegistrationConfig = DEFAULT_CONFIG) -> RegisteredPage:
    """Warp a photo onto its template page (markers, else outline, else features).

    `page` forces the template page; by default it comes from the QR code, or the best-matching
    template. Raises WrongAssignment for another assignment's sheet and AlignmentFailed (with the
    reasons of every method tried) when no method gives a trustworthy alignment.
    """
    if photo_bgr is None or photo_bgr.ndim not in (2, 3) or min(photo_bgr.shape[:2]) < 32:
        raise AlignmentFailed("the image is too small to hold a worksheet")
    if photo_bgr.ndim == 2:
        photo_bgr = cv2.cvtColor(photo_bgr, cv2.COLOR_GRAY2BGR)
    gray = _gray(photo_bgr)
    reasons = []
    result, reason = _by_markers(photo_bgr, gray, key, page, config)
    if result is not None:
        return result
    reasons.append(f"markers: {reason}")
    result, reason = _by_outline(photo_bgr, key, page, config)
    if result is not None:
        return result
    reasons.append(f"outline: {reason}")
    result, reason = _by_features(photo_bgr, gray, key, page, config)
    if result is not None:
        return result
    reasons.append(f"features: {reason}")
    raise AlignmentFailed(
        "the photo could not be matched to the worksheet (" + "; ".join(reasons) + "). "
        "Retake it with the whole sheet in view, flat and in focus"
    )
