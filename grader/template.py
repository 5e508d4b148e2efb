"""Template pages: the blank page a photo is registered onto.

Our worksheets are their own templates (rendered from the key); a teacher's own sheet brings its
template as saved page images (made by `grader.own_sheet`), named in the key's `templates`.
"""

from __future__ import annotations

import cv2
import numpy as np

from grader.answer_key import AnswerKey
from grader.imageio import read_images
from grader.layout import page_size_px
from grader.worksheet import render_page

_TEMPLATE_CACHE: dict[tuple[str, int], np.ndarray] = {}


def _cache_key(key: AnswerKey, page: int) -> tuple[str, int]:
    return key.model_dump_json(), page


def template_image(key: AnswerKey, page: int) -> np.ndarray:
    """The blank template of `page` at the paper's 200 dpi size (cached; do not modify it)."""
    cache_key = _cache_key(key, page)
    cached = _TEMPLATE_CACHE.get(cache_key)
    if cached is not None:
        return cached
    path = key.template_path(page)
    if path is not None:
        image = read_images(path)[0]
        width, height = page_size_px(key.paper)
        if image.shape[:2] != (height, width):
            image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
    else:
        image = render_page(key, page)
    image.setflags(write=False)
    if len(_TEMPLATE_CACHE) > 32:
        _TEMPLATE_CACHE.clear()
    _TEMPLATE_CACHE[cache_key] = image
    return image
