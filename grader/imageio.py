"""The edge where bytes become images: photos (JPEG, PNG, WebP, TIFF, BMP) and scanned PDFs.

Everything is checked from the header before the pixels are decoded, so a 20000 x 20000 image or
a PDF page the size of a wall is refused without allocating gigabytes (the budgets are
grader.limits'). A PDF's pages are all checked before the first is rendered, and `iter_images`
renders them one at a time, so a 50-page PDF never holds more than one page's pixels. Every
failure is an ImageUnreadable whose message says what is wrong with the file.
"""

from __future__ import annotations

import io
import re
import warnings
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np
from PIL import Image

from grader import limits as budgets
from grader.errors import ImageUnreadable

PDF_DPI = 200  # scanned sheets are rendered at the worksheet's own resolution
# A large JPEG is decoded at 1/2 (or 1/4) of its size by libjpeg's DCT scaling, as long as that
# leaves at least this many pixels: a 12 MP phone photo is decoded at 3 MP, in about a third of
# the time, and later steps (markers, QR code) work on a quarter of the pixels. The worksheet's
# 200 dpi template is about 3.9 MP, the page a part of the photo; measured on 70 simulated 12 MP
# photos (page 30-100 % of the frame, blur, tilt): answers read exactly 1,148 of 1,193 at full
# size and 1,148 at half; 0.35-0.38 -> 0.28-0.30 CPU s a 20-question page.
DECODE_MIN_PIXELS = 2_500_000

ImageLimits = budgets.ImageBudget  # the name callers have always used
DEFAULT_LIMITS = budgets.PHOTO


def _label(name: str) -> str:
    return f"{name}: " if name else ""


def _check_size(width: int, height: int, name: str, limits: ImageLimits, what: str = "image",
                max_pixels: int | None = None) -> None:
    max_pixels = limits.max_pixels if max_pixels is None else max_pixels
    if width < limits.min_side or height < limits.min_side:
        raise ImageUnreadable(
            f"{_label(name)}the {what} is only {width}x{height} px; at least "
            f"{limits.min_side} px a side is needed"
        )
    if width > limits.max_side or height > limits.max_side or width * height > max_pixels:
        raise ImageUnreadable(
            f"{_label(name)}the {what} is {width}x{height} px ({width * height / 1e6:.0f} megapixels); "
            f"the limit is {max_pixels / 1e6:.0f} megapixels and {limits.max_side} px a side. "
            + ("Scan or export the sheets at their paper size (A4, Letter)" if what.startswith("PDF")
               else "Send a smaller photo (a phone's normal setting is fine)")
        )


def _sniff(data: bytes) -> str:
    """The container type from magic bytes: 'pdf', 'heic' or 'image'."""
    head = data[:64]
    if head.lstrip()[:5] == b"%PDF-":
        return "pdf"
    if head[4:8] == b"ftyp" and head[8:12] in (b"heic", b"heix", b"hevc", b"mif1", b"msf1", b"avif"):
        return "heic"
    return "image"


def load_images(data: bytes, name: str = "", limits: ImageLimits = DEFAULT_LIMITS) -> list[np.ndarray]:
    """Decode a photo or a PDF into BGR uint8 images (one per PDF page)."""
    _, pages = iter_images(data, name, limits)
    return list(pages)


def iter_images(data: bytes, name: str = "",
                limits: ImageLimits = DEFAULT_LIMITS) -> tuple[int, Iterator[np.ndarray]]:
    """(number of images, the BGR uint8 images one at a time). Everything the header tells is
    checked before this returns (every page of a PDF); the pixels are decoded as they are taken."""
    if not data:
        raise ImageUnreadable(f"{_label(name)}the file is empty (0 bytes)")
    kind = _sniff(data)
    if kind == "pdf":
        return _open_pdf(data, name, limits)
    if kind == "heic":
        return 1, iter([_load_heic(data, name, limits)])
    return 1, iter([_load_raster(data, name, limits)])


def check_image_header(data: bytes, name: str = "", limits: ImageLimits = DEFAULT_LIMITS) -> tuple[int, int]:
    """(width, height) of a raster image from its header, refused (ImageUnreadable) when it is
    not an image, or outside `limits`; nothing is decoded."""
    if not data:
        raise ImageUnreadable(f"{_label(name)}the file is empty (0 bytes)")
    width, height, _ = _raster_header(data, name, limits)
    return width, height


def _load_raster(data: bytes, name: str, limits: ImageLimits) -> np.ndarray:
    width, height, fmt = _raster_header(data, name, limits)
    if fmt == "JPEG":
        # libjpeg decodes a cut-off JPEG with a grey bottom and only a warning; refuse it instead.
        # The image ends at its EOI marker: a phone's motion photo carries a video after it.
        end = _jpeg_end(data)
        if end is None:
            raise ImageUnreadable(f"{_label(name)}the JPEG file is truncated (incomplete upload or copy?)")
        data = data[:end]
    image = cv2.imdecode(np.frombuffer(data, np.uint8), _decode_flag(width, height, fmt))
    if image is None:
        image = _decode_with_pil(data, name)
    return image


def _decode_flag(width: int, height: int, fmt: str) -> int:
    """OpenCV's read flag: a JPEG as small as DECODE_MIN_PIXELS allows (1/4 or 1/2), the rest whole."""
    if fmt == "JPEG":
        for factor, flag in ((4, cv2.IMREAD_REDUCED_COLOR_4), (2, cv2.IMREAD_REDUCED_COLOR_2)):
            if width * height >= DECODE_MIN_PIXELS * factor * factor:
                return flag
    return cv2.IMREAD_COLOR


def _jpeg_end(data: bytes) -> int | None:
    """The offset just past the JPEG's end-of-image marker, found by walking its segments (so an
    EXIF thumbnail's own EOI is skipped, and data after the image, like a motion photo's video,
    is not read as part of it); None when the image stops before its EOI."""
    at = 2  # after SOI
    while at + 2 <= len(data):
        if data[at] != 0xFF:
            return None
        marker = data[at + 1]
        if marker == 0xD9:
            return at + 2
        if marker == 0xFF or 0xD0 <= marker <= 0xD8 or marker == 0x01:  # fill byte, RSTn, TEM
            at += 1 if marker == 0xFF else 2
            continue
        at += 2 + int.from_bytes(data[at + 2:at + 4], "big")
        if marker == 0xDA:  # entropy-coded scan: runs to the next marker that is not 00 or RSTn
            while True:
                at = data.find(b"\xff", at)
                if at < 0 or at + 1 >= len(data):
                    return None
                following = data[at + 1]
                if following == 0 or 0xD0 <= following <= 0xD7 or following == 0xFF:
                    at += 1 if following == 0xFF else 2
                    continue
                break
    return None


def _load_heic(data: bytes, name: str, limits: ImageLimits) -> np.ndarray:
    """An iPhone's HEIC/HEIF photo through pillow-heif (libheif), size checked from the header."""
    try:
        import pillow_heif

        heif = pillow_heif.open_heif(data, convert_hdr_to_8bit=True)
    except ImportError:
        raise ImageUnreadable(f"{_label(name)}HEIC photos need the pillow-heif package (pip install -r "
                              "requirements.txt); or set the camera to 'most compatible' (JPEG)") from None
    except Exception as error:
        raise ImageUnreadable(f"{_label(name)}the HEIC/HEIF photo cannot be read ({error}); export it "
                              "as JPEG") from None
    width, height = heif.size
    _check_size(width, height, name, limits)
    image = np.asarray(heif.to_pillow().convert("RGB"))
    return cv2.cvtColor(image, cv2.COLOR_RGB2BGR)


def _raster_header(data: bytes, name: str, limits: ImageLimits) -> tuple[int, int, str]:
    """(width, height, format) from the header (PIL reads only the header here), checked."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as header:
                width, height = header.size
                fmt = header.format or "unknown"
    except Image.DecompressionBombError as error:
        # PIL refuses absurd sizes itself while reading the header; give our own message.
        found = re.search(r"\((\d+) pixels\)", str(error))
        pixels = f"{int(found.group(1)) / 1e6:.0f} megapixels" if found else "too many pixels"
        raise ImageUnreadable(
            f"{_label(name)}the image has {pixels}; the limit is {limits.max_pixels / 1e6:.0f} megapixels "
            f"and {limits.max_side} px a side. Send a smaller photo (a phone's normal setting is fine)"
        ) from None
    except Exception:
        preview = data[:40].decode("utf-8", errors="replace")
        looks_text = all(32 <= b < 127 or b in (9, 10, 13) for b in data[:200])
        reason = (f"it looks like a text file ({preview.strip()[:30]!r}...)" if looks_text
                  else "unknown or corrupt format")
        raise ImageUnreadable(
            f"{_label(name)}not an image we can read: {reason}. Upload a JPEG, PNG or PDF"
        ) from None
    _check_size(width, height, name, limits)
    return width, height, fmt


def _decode_with_pil(data: bytes, name: str) -> np.ndarray:
    """Fallback for formats OpenCV lacks (e.g. some TIFF/GIF variants); refuses truncated files."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            rgb = np.asarray(img.convert("RGB"))
    except Exception as error:
        raise ImageUnreadable(f"{_label(name)}the image is corrupt or truncated ({error})") from None
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)


# PDFium's load errors, as a teacher would say them.
_PDF_PROBLEMS = (
    ("password", "the PDF cannot be opened: it is password-protected; save an unprotected copy "
                 "and upload that"),
    ("security", "the PDF cannot be opened: it is protected by a security scheme we do not "
                 "support; save an unprotected copy"),
    ("format", "the PDF cannot be opened: it is damaged (its structure cannot be read); export or "
               "scan it again"),
)


def _open_pdf(data: bytes, name: str, limits: ImageLimits) -> tuple[int, Iterator[np.ndarray]]:
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(data)
    except Exception as error:
        raise ImageUnreadable(f"{_label(name)}{_pdf_problem(data, str(error))}") from None
    try:
        scale = _check_pdf_pages(pdf, name, limits)
    except BaseException:
        pdf.close()
        raise
    return len(pdf), _render_pages(pdf, scale, name)


def _pdf_problem(data: bytes, error: str) -> str:
    lowered = error.lower()
    # PDFium opens no document without pages, and its reason is whatever failed last in this
    # process ("Success" at first): look at the page tree instead.
    if re.search(rb"/Count\s*0\b", data) and not re.search(rb"/Type\s*/Page(?![s\w])", data):
        return "the PDF has no pages"
    for word, problem in _PDF_PROBLEMS:
        if word in lowered:
            return problem
    return "the PDF cannot be opened (damaged, or not really a PDF); export or scan it again"


def _check_pdf_pages(pdf, name: str, limits: ImageLimits) -> float:
    """The render scale, after checking the page count and every page's rendered size."""
    if len(pdf) == 0:
        raise ImageUnreadable(f"{_label(name)}the PDF has no pages")
    if len(pdf) > limits.max_pdf_pages:
        raise ImageUnreadable(
            f"{_label(name)}the PDF has {len(pdf)} pages; at most {limits.max_pdf_pages} are accepted at once"
        )
    # pdfium rounds the bitmap size up; the tiny shrink keeps a 1654.0000001 px page at 1654,
    # so our own worksheets come back with exactly the template's geometry.
    scale = PDF_DPI / 72.0 * (1 - 1e-7)
    for index in range(len(pdf)):
        width_pt, height_pt = pdf.get_page_size(index)
        _check_size(round(width_pt * scale), round(height_pt * scale), name, limits,
                    f"PDF page {index + 1}", max_pixels=limits.max_pdf_page_pixels)
    return scale


def _render_pages(pdf, scale: float, name: str) -> Iterator[np.ndarray]:
    """Each page as BGR, one at a time (PDFium renders BGR itself: no conversion copies)."""
    try:
        for index in range(len(pdf)):
            try:
                page = pdf[index]
                bitmap = page.render(scale=scale)
                image = np.array(bitmap.to_numpy()[:, :, :3])  # own the pixels before PDFium frees them
                bitmap.close()
                page.close()
            except Exception:  # noqa: BLE001 - PDFium's errors carry no more than "failed"
                raise ImageUnreadable(f"{_label(name)}PDF page {index + 1} cannot be rendered "
                                      "(the page is damaged)") from None
            yield image
    finally:
        pdf.close()


def read_images(path: str | Path, limits: ImageLimits = DEFAULT_LIMITS) -> list[np.ndarray]:
    """Read a photo or PDF file; ImageUnreadable names the file and the problem."""
    path = Path(path)
    return load_images(read_file(path, limits), path.name, limits)


def read_file(path: str | Path, limits: ImageLimits = DEFAULT_LIMITS) -> bytes:
    """A photo's or PDF's bytes from disk, its size checked before it is read (a video or a disk
    image passed by mistake is not read into memory)."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > limits.max_file_bytes:
            raise ImageUnreadable(f"{path}: the file is {size / 1e6:.0f} MB; the limit is "
                                  f"{limits.max_file_bytes / 1e6:.0f} MB (is it a photo or a scan?)")
        return path.read_bytes()
    except FileNotFoundError:
        raise ImageUnreadable(f"{path}: cannot read the file (file not found)") from None
    except OSError as error:
        raise ImageUnreadable(f"{path}: cannot read the file ({error.strerror or error})") from None


def encode_png(image: np.ndarray) -> bytes:
    ok, buffer = cv2.imencode(".png", image)
    if not ok:
        raise ImageUnreadable("could not encode the image as PNG")
    return buffer.tobytes()
