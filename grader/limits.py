"""Resource budgets, stated in one place and applied before the work (issue 22).

Every entry point (command line, REST API, app, `recognize`) checks its input against these
numbers before decoding, rendering or expanding it, and a refusal names the limit and the value.
Together they keep one command or request on an input of up to 20 MB under 1 GB of memory:
an image is refused from its header, PDF pages are rendered one at a time, a YAML key is refused
before its aliases are expanded.

The figures, and why:

- photos: 50 megapixels and 12,000 px a side (beyond any phone's default setting); 8 px a side
  at least; files read from disk up to 200 MB (the app's upload limit too), checked before reading;
- crops for `recognize` and `POST /ocr`: 16 megapixels and 8,000 px a side, files up to 50 MB
  (a crop is small; 8 concurrent requests must not hold gigabytes of pixels);
- PDF: 50 pages per file; each page rendered at 200 dpi at most 25 megapixels (A3 is 15.5);
  pages are rendered one at a time, so a PDF never holds more than one page's pixels;
- answer keys: 1 MB of YAML, 2,000 questions (50 pages of 40 boxes), 100 aliases, nesting 20
  deep, and 200,000 nodes once aliases are expanded (a billion-laughs key is refused while it is
  still a few hundred bytes of parsed text);
- rosters read by `grade --roster`: 5 MB;
- API requests: 200 files per request, 20 MB per body, 200 open connections (grader.api.settings).
"""

from __future__ import annotations

from dataclasses import dataclass

MB = 1024 * 1024


@dataclass(frozen=True)
class ImageBudget:
    max_pixels: int = 50_000_000
    max_side: int = 12_000
    min_side: int = 8
    max_pdf_pages: int = 50
    max_pdf_page_pixels: int = 25_000_000  # one rendered page at 200 dpi
    max_file_bytes: int = 200 * MB  # a file on disk, checked before it is read


PHOTO = ImageBudget()
CROP = ImageBudget(max_pixels=16_000_000, max_side=8_000, max_pdf_pages=1,
                   max_pdf_page_pixels=16_000_000, max_file_bytes=50 * MB)


@dataclass(frozen=True)
class KeyBudget:
    max_bytes: int = 1 * MB
    max_questions: int = 2_000
    max_aliases: int = 100
    max_depth: int = 20
    max_nodes: int = 200_000  # YAML nodes once every alias is expanded


KEY = KeyBudget()

MAX_FILES_PER_REQUEST = 200
MAX_ROSTER_BYTES = 5 * MB  # a class list is a few KB; 5 MB is 100,000 students
