"""Where the fonts the product draws with are, and a clear error where one is missing.

Every font that `make run` and `make test` need comes with the project, in this folder, under its
own open licence (README.md here names source, version, licence and how the subsets were made),
so a fresh machine needs no font package. The one exception is DejaVu Sans, the Latin print face,
which every Debian base image ships.

    fonts.PRINT_CJK        # Chinese on printed worksheets (grader.worksheet)
    fonts.LATIN_HANDS      # generated handwriting: demo photos, tests (grader.simulate)
    fonts.require(path)    # the path, or FontMissing saying what is missing and how to add it
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from grader.errors import GraderError

FONTS_DIR = Path(__file__).resolve().parent
DEJAVU_DIR = Path("/usr/share/fonts/truetype/dejavu")


class FontMissing(GraderError):
    """A font the product needs is not on this machine; the message says which and how to add it."""


def _own(relative: str) -> str:
    return str(FONTS_DIR / relative)


# Printing (grader.worksheet): DejaVu for Latin text, a GB2312 subset of WenQuanYi Micro Hei for
# any text with Chinese in it.
DEJAVU_SANS = str(DEJAVU_DIR / "DejaVuSans.ttf")
DEJAVU_SANS_BOLD = str(DEJAVU_DIR / "DejaVuSans-Bold.ttf")
PRINT_CJK = _own("microhei-gb/MicroHeiGB.woff2")

# Generated handwriting (grader.simulate, the tests' crops, training's default hands). The order is
# part of the output: simulate picks a font by index with a seeded generator.
LATIN_HANDS = (
    _own("dkg-handwriting/dkg.ttf"),
    _own("dkg-handwriting/dkgIt.ttf"),
    _own("dkg-handwriting/dkgBd.ttf"),
    _own("comic-neue/ComicNeue-Regular.otf"),
    _own("comic-neue/ComicNeue-Light.otf"),
    _own("comic-neue/ComicNeue-Italic.otf"),
    _own("comic-neue/ComicNeue-Bold.otf"),
)
CJK_HANDS = (
    _own("wenkai-gb/WenKaiGB-Regular.woff2"),
    _own("wenkai-gb/WenKaiGB-Light.woff2"),
    _own("wenkai-gb/WenKaiGB-Bold.woff2"),
)

# The Debian font each of ours was made from: training lists fonts by their Debian paths (where
# they are installed they may hold more glyphs), and takes our copy in their place.
DEBIAN_ORIGINALS = {
    "/usr/share/fonts/truetype/fifthhorseman/dkg.ttf": LATIN_HANDS[0],
    "/usr/share/fonts/truetype/fifthhorseman/dkgIt.ttf": LATIN_HANDS[1],
    "/usr/share/fonts/truetype/fifthhorseman/dkgBd.ttf": LATIN_HANDS[2],
    "/usr/share/fonts/opentype/comic-neue/ComicNeue-Regular.otf": LATIN_HANDS[3],
    "/usr/share/fonts/opentype/comic-neue/ComicNeue-Light.otf": LATIN_HANDS[4],
    "/usr/share/fonts/opentype/comic-neue/ComicNeue-Italic.otf": LATIN_HANDS[5],
    "/usr/share/fonts/opentype/comic-neue/ComicNeue-Bold.otf": LATIN_HANDS[6],
    "/usr/share/fonts/truetype/lxgw-wenkai/LXGWWenKai-Regular.ttf": CJK_HANDS[0],
    "/usr/share/fonts/truetype/lxgw-wenkai/LXGWWenKai-Light.ttf": CJK_HANDS[1],
    "/usr/share/fonts/truetype/lxgw-wenkai/LXGWWenKai-Bold.ttf": CJK_HANDS[2],
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc": PRINT_CJK,
}


def how_to_add(path: str) -> str:
    """One sentence: how a missing font file gets back onto this machine."""
    if Path(path).is_relative_to(FONTS_DIR):
        return ("it comes with the project (grader/fonts/, see README.md there): restore it with "
                "`git checkout -- grader/fonts`")
    if Path(path).is_relative_to(DEJAVU_DIR):
        return "install DejaVu, e.g. `apt-get install fonts-dejavu-core` on Debian"
    return "it is an optional system font; install the package that provides it"


def require(path: str, purpose: str) -> str:
    """`path` when the file is there; else FontMissing naming the file, its use and the fix."""
    if Path(path).is_file():
        return path
    raise FontMissing(f"the font for {purpose} is missing ({path}); {how_to_add(path)}")


def carried(path: str) -> str | None:
    """Our own copy of a Debian font (by its Debian path), or None where we carry none."""
    own = DEBIAN_ORIGINALS.get(path)
    return own if own is not None and Path(own).is_file() else None


@lru_cache(maxsize=None)
def characters(path: str) -> frozenset[int]:
    """Code points the font has a glyph for (its best cmap), read once per file."""
    from fontTools.ttLib import TTFont

    font = TTFont(path, fontNumber=0, lazy=True)  # fontNumber: the first face of a .ttc
    return frozenset(font.getBestCmap() or {})


def missing_characters(text: str, path: str) -> str:
    """The characters of `text` (spaces aside) the font has no glyph for, each once, in order."""
    have = characters(path)
    return "".join(dict.fromkeys(ch for ch in text if not ch.isspace() and ord(ch) not in have))
