"""Remake the font files of grader/fonts/ from the Debian font packages they came from.

    python -m grader.fonts.subset            # needs the packages named in SOURCES installed

Small fonts are copied byte for byte. The two CJK families are cut down to the characters we
write (handwriting: the recogniser's charset; printing: all of GB2312) and stored as WOFF2. A
subset keeps every glyph's outline, hinting, metrics and layout features as they are, so what it
renders is byte-identical to the full font for every character it covers (tests/test_fonts.py
checks this where the Debian fonts are installed). A subset is a Modified Version in the OFL's
terms, so it gets a family name without the Reserved Font Names (LXGW WenKai's "LXGW", "霞鹜"),
and the Apache licence asks a changed file to say so: the description field of each says what was
done.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from grader import fonts
from grader.charset import default_charset

# Beyond the Han characters: ASCII and Latin-1, pinyin, punctuation (ASCII, general, CJK and
# full-width), currency, letterlike symbols, number forms, arrows and maths operators, so a
# subset writes whatever the full font wrote in our tests and demo. Superscripts and modifier
# letters are left out: the auto-hinter measures them against reference letters of their own
# (more superscripts), so in a subset they would not render as in the full font; so are the
# combining marks (U+20D0-20FF), for the same reason.
_RANGES = ((0x20, 0x7E), (0xA0, 0x17F), (0x1CD, 0x1DC), (0x2000, 0x206F), (0x20A0, 0x20CF), (0x2100, 0x22FF),
           (0x3000, 0x303F), (0xFF01, 0xFF5E))
_SUPERSCRIPTS = set("ª²³¹º")
EXTRAS = "".join(chr(c) for lo, hi in _RANGES for c in range(lo, hi + 1) if chr(c) not in _SUPERSCRIPTS)
# FreeType's auto-hinter, which hints every unhinted font (LXGW WenKai is one), sets its blue zones
# (the heights it snaps strokes to) from the tops and bottoms of these characters, and the
# stem widths from 田 (src/autofit/afblue.dat, AF_BLUE_STRING_CJK_TOP/BOTTOM; afscript.h). A
# subset without them hints, and so renders, every Han glyph differently from the full font.
AUTOHINT_REFERENCE = ("他们你來們到和地对對就席我时時會来為能舰說说这這齊军同已愿既星是景"
                      "民照现現理用置要軍那配里開雷露面顾个为人他以们你來個們到和大对對就我"
                      "时時有来為要說说主些因它想意理生當看着置者自著裡过还进進過道還里面田")


def gb2312() -> str:
    """Every character GB2312 encodes: symbols, pinyin, Latin, kana and the 6,763 hanzi."""
    chars = []
    for row in range(0xA1, 0xF8):
        for cell in range(0xA1, 0xFF):
            try:
                chars.append(bytes([row, cell]).decode("gb2312"))
            except UnicodeDecodeError:
                continue
    return "".join(chars)


HANDWRITING_TEXT = "".join(default_charset()) + EXTRAS + AUTOHINT_REFERENCE
PRINT_TEXT = gb2312() + EXTRAS + AUTOHINT_REFERENCE


@dataclass(frozen=True)
class Source:
    debian: str  # the installed file (its package is named in the README)
    family: str | None = None  # None: copied as is; else the subset's family name
    style: str = "Regular"
    text: str = ""

    @property
    def out(self) -> Path:
        return Path(fonts.DEBIAN_ORIGINALS[self.debian])


_LXGW = "/usr/share/fonts/truetype/lxgw-wenkai/LXGWWenKai-"
SOURCES = (
    *(Source(path) for path in fonts.DEBIAN_ORIGINALS if Path(path).suffix != ".ttc" and "lxgw" not in path),
    *(Source(f"{_LXGW}{style}.ttf", "WenKai GB", style, HANDWRITING_TEXT) for style in ("Regular", "Light", "Bold")),
    Source("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", "MicroHei GB", "Regular", PRINT_TEXT),
)

# name IDs that carry the font's name: family, subfamily, unique id, full name, version,
# PostScript name, typographic family/subfamily, WWS family/subfamily, variations prefix.
_NAME_IDS = (1, 2, 3, 4, 6, 16, 17, 21, 22, 25)


def _rename(font, family: str, style: str, origin: str) -> None:
    name = font["name"]
    name.names = [n for n in name.names if n.nameID not in _NAME_IDS + (10,)]
    full, postscript = f"{family} {style}", f"{family.replace(' ', '')}-{style}"
    note = (f"Subset of {origin} to the characters the grader writes, made by grader/fonts/subset.py; "
            "outlines, hinting and metrics unchanged.")
    for value, name_id in ((family, 1), (style, 2), (postscript, 3), (full, 4), (postscript, 6), (note, 10)):
        name.setName(value, name_id, 3, 1, 0x409)
        name.setName(value, name_id, 1, 0, 0)


def make_subset(source: Source, out: Path) -> None:
    """Subset source to its text, keeping everything that shapes or rasterises a glyph."""
    from fontTools import subset

    options = subset.Options(
        layout_features=["*"], name_IDs=["*"], name_languages=["*"], name_legacy=True, notdef_glyph=True,
        notdef_outline=True, glyph_names=True, legacy_kern=True, hinting=True, font_number=0, flavor="woff2")
    font = subset.load_font(source.debian, options)
    origin = font["name"].getDebugName(4) or Path(source.debian).name
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=source.text)
    subsetter.subset(font)
    assert source.family is not None
    _rename(font, source.family, source.style, origin)
    subset.save_font(font, str(out), options)


def main() -> None:
    for source in SOURCES:
        target = source.out
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.family is None:
            shutil.copyfile(source.debian, target)
        else:
            make_subset(source, target)
        print(f"{target.relative_to(fonts.FONTS_DIR)}: {target.stat().st_size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
