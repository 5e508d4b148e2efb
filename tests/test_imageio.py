"""Decoding photos and PDFs; every bad file is an ImageUnreadable that says what is wrong."""

from __future__ import annotations

import io
import struct
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image

from grader.errors import ImageUnreadable
from grader.imageio import ImageLimits, load_images, read_images


def _png_header_claiming(width: int, height: int) -> bytes:
    """A PNG signature and IHDR chunk for a huge image, with a tiny (invalid) body: if anything
    tried to decode it in full it would fail differently, or allocate gigabytes."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    data = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))
    idat = b"IDAT" + zlib.compress(b"\x00" * 64)
    data += struct.pack(">I", len(idat) - 4) + idat + struct.pack(">I", zlib.crc32(idat))
    return data + struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND"))


def _jpeg(width=120, height=80) -> bytes:
    image = np.full((height, width, 3), 200, np.uint8)
    cv2.putText(image, "7", (30, 60), cv2.FONT_HERSHEY_SIMPLEX, 2, (0, 0, 0), 3)
    return cv2.imencode(".jpg", image)[1].tobytes()


def test_jpeg_and_png_decode_to_bgr():
    image = np.zeros((40, 60, 3), np.uint8)
    image[:, :, 2] = 255  # red in BGR
    for ext in (".png", ".jpg"):
        (decoded,) = load_images(cv2.imencode(ext, image)[1].tobytes(), "x" + ext)
        assert decoded.shape == (40, 60, 3) and decoded.dtype == np.uint8
        assert decoded[20, 30, 2] > 200 and decoded[20, 30, 0] < 60


def test_pdf_pages_become_images_at_200_dpi(tmp_path):
    pages = [Image.new("RGB", (400, 600), (255, 255, 255)), Image.new("RGB", (400, 600), (0, 0, 0))]
    path = tmp_path / "scan.pdf"
    pages[0].save(path, format="PDF", resolution=100.0, save_all=True, append_images=pages[1:])
    images = read_images(path)
    assert len(images) == 2
    assert images[0].shape == (1200, 800, 3)  # 4 x 6 inches at 200 dpi
    assert images[0].mean() > 250 and images[1].mean() < 5


@pytest.mark.parametrize("data,fragment", [
    (b"", "empty"),
    (_jpeg()[: len(_jpeg()) // 2], "truncated"),
    (b"Dear parents,\nthe school trip is on Friday.\n" * 5, "text file"),
    (b"\x00\x01\x02garbage" * 10, "not an image"),
    (cv2.imencode(".png", np.zeros((1, 1, 3), np.uint8))[1].tobytes(), "1x1"),
    (_png_header_claiming(20000, 20000), "400 megapixels"),
    (_png_header_claiming(11000, 11000), "121 megapixels"),
    (_png_header_claiming(13000, 100), "13000x100"),
    (b"%PDF-1.4\n%broken", "PDF cannot be opened"),
    (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", "HEIC"),
], ids=["empty", "truncated-jpeg", "text", "garbage", "1x1", "20000x20000", "121MP", "too-wide", "broken-pdf", "heic"])
def test_bad_input_is_named(data, fragment):
    with pytest.raises(ImageUnreadable) as caught:
        load_images(data, "upload.jpg")
    assert fragment in str(caught.value) and "upload.jpg" in str(caught.value)


def test_huge_image_refused_before_decoding():
    # The file's header claims 20000x20000 but its body holds 64 bytes of pixels: decoding it would
    # allocate 1.2 GB and then fail as truncated. A size refusal therefore proves the header alone
    # was read (no timing, no patching).
    with pytest.raises(ImageUnreadable, match="limit is 50 megapixels"):
        load_images(_png_header_claiming(20000, 20000), "huge.png")
    # The control: the same tiny body under a header the limits allow is decoded, and decoding
    # fails differently. Tighter limits turn that same file into a header refusal again.
    small = _png_header_claiming(3000, 3000)
    with pytest.raises(ImageUnreadable, match="corrupt or truncated"):
        load_images(small, "small.png")
    with pytest.raises(ImageUnreadable, match=r"3000x3000 px \(9 megapixels\); the limit is 1 megapixels"):
        load_images(small, "small.png", ImageLimits(max_pixels=1_000_000))


def test_huge_pdf_page_refused(tmp_path):
    path = tmp_path / "poster.pdf"
    Image.new("L", (100, 100), 255).save(path, format="PDF", resolution=1.0)  # 100 x 100 inches
    with pytest.raises(ImageUnreadable, match="PDF page 1 is 20000x20000"):
        read_images(path)


def test_text_file_named_jpg_on_disk(tmp_path):
    path = tmp_path / "photo.jpg"
    path.write_text("not really a photo", encoding="utf-8")
    with pytest.raises(ImageUnreadable, match=r"photo\.jpg: not an image we can read: it looks like a text file"):
        read_images(path)
    with pytest.raises(ImageUnreadable, match="file not found"):
        read_images(tmp_path / "missing.jpg")


@pytest.mark.parametrize("size, expected", [
    ((4000, 3000), (2000, 1500)),  # a 12 MP phone photo: half size (3 MP)
    ((8000, 6000), (2000, 1500)),  # 48 MP: a quarter
    ((2000, 1500), (2000, 1500)),  # 3 MP: whole
])
def test_large_jpegs_decode_reduced_but_keep_their_content(size, expected):
    width, height = size
    image = np.full((height, width, 3), 230, np.uint8)
    cv2.rectangle(image, (width // 4, height // 4), (width // 2, height // 2), (0, 0, 0), -1)
    (decoded,) = load_images(cv2.imencode(".jpg", image)[1].tobytes(), "photo.jpg")
    assert decoded.shape[1::-1] == expected
    fx = expected[0] / width  # the dark square is where it was, scaled
    assert decoded[int(3 * height / 8 * fx), int(3 * width / 8 * fx)].max() < 40
    assert decoded[int(3 * height / 4 * fx), int(3 * width / 4 * fx)].min() > 200


def test_a_large_png_is_decoded_whole():
    image = np.full((3000, 4000), 230, np.uint8)
    (decoded,) = load_images(cv2.imencode(".png", image)[1].tobytes(), "scan.png")
    assert decoded.shape[:2] == (3000, 4000)


def test_exif_orientation_applies_to_a_reduced_decode():
    image = Image.new("RGB", (4000, 3000), (230, 230, 230))
    image.paste((0, 0, 0), (0, 0, 400, 300))  # dark corner at the top left as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to view"
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif.tobytes(), quality=90)
    (decoded,) = load_images(buffer.getvalue(), "portrait.jpg")
    assert decoded.shape[:2] == (2000, 1500)  # turned upright, then halved
    assert decoded[20, -20].max() < 40 and decoded[20, 20].min() > 200  # the corner went top right
