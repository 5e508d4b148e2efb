"""Files the gradebook rows refer to, in a folder beside the database: uploaded photos kept for
a retry, thumbnails of registered pages, template images of teachers' own sheets. They are named
by the photo's SHA-256, so they follow the rows without a schema change."""

from __future__ import annotations

from hashlib import sha256
from pathlib import Path

import cv2
import numpy as np
from sqlalchemy.engine import Engine, make_url

from grader import db
from grader.paths import cache_dir

THUMB_WIDTH = 720  # px; enough to see each box's colour and the handwriting on a laptop screen


class FileStore:
    """Uploaded photos (kept for retry), registered-page thumbnails and template images, named
    by the photo's SHA-256 so they follow the gradebook rows without a schema change."""

    def __init__(self, root: Path):
        self.root = Path(root)

    @classmethod
    def for_engine(cls, engine: Engine) -> "FileStore":
        """`<db>-files/` beside an SQLite file; for a server database a folder in the cache."""
        path = db.sqlite_path(make_url(str(engine.url)))
        if path is not None:
            path = path.resolve()
            return cls(path.with_name(path.stem + "-files"))
        digest = sha256(db.describe(str(engine.url)).encode()).hexdigest()[:12]
        return cls(cache_dir() / "files" / digest)

    def _path(self, folder: str, name: str) -> Path:
        path = self.root / folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def save_photo(self, digest: str, data: bytes) -> None:
        path = self._path("photos", digest)
        if not path.exists():
            path.write_bytes(data)

    def photo(self, digest: str) -> bytes | None:
        path = self.root / "photos" / digest
        return path.read_bytes() if path.exists() else None

    def save_thumbnail(self, digest: str, source_page: int, page_bgr: np.ndarray) -> None:
        scale = THUMB_WIDTH / page_bgr.shape[1]
        small = cv2.resize(page_bgr, (THUMB_WIDTH, round(page_bgr.shape[0] * scale)),
                           interpolation=cv2.INTER_AREA)
        ok, buffer = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 85])
        if ok:
            self._path("thumbnails", f"{digest}-{source_page}.jpg").write_bytes(buffer.tobytes())

    def thumbnail(self, digest: str, source_page: int) -> np.ndarray | None:
        path = self.root / "thumbnails" / f"{digest}-{source_page}.jpg"
        if not path.exists():
            return None
        return cv2.imdecode(np.frombuffer(path.read_bytes(), np.uint8), cv2.IMREAD_COLOR)

    def save_template(self, key_id: str, page: int, page_bgr: np.ndarray) -> Path:
        path = self._path("templates", f"{key_id}.page-{page}.png")
        cv2.imwrite(str(path), page_bgr)
        return path
