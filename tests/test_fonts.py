"""The fonts that come with the project (grader/fonts): a printed Chinese worksheet has no box
(tofu) in it, the subsets draw exactly what the full Debian fonts draw, a missing font is named
with its fix, and nothing outside training looks for a system font other than DejaVu."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from grader import fonts, simulate, worksheet
from grader.answer_key import parse_answer_key
from grader.cli import main
from grader.fonts.subset import SOURCES
from grader.paths import ANSWER_KEYS_DIR, REPO_ROOT
from grader.worksheet import Student, render_page, unprintable_characters, unprintable_warning

NOTDEF = "\U0010fffd"  # a private-use code point no font maps: it draws the .notdef glyph
PROMPT = "写出下面词语的拼音，注意笔画：学校、老师、朋友、天气、苹果（每题一分）。"
NAME = "陈静"
RARE = "𪚥"  # U+2A6A5, outside GB2312: the print face has no glyph for it


def chinese_key(prompt: str = PROMPT, title: str = "听写 第三课 Chinese dictation"):
    """The demo dictation sheet with a Chinese title and a long Chinese prompt on question 1."""
    text = (ANSWER_KEYS_DIR / "chinese-dictation.yaml").read_text(encoding="utf-8")
    text = re.sub(r"^title: .*$", f"title: '{title}'", text, count=1, flags=re.M)
    text = text.replace("prompt: xué xiào", f"prompt: '{prompt}'", 1)
    return parse_answer_key(text, "chinese-dictation (test)")


def drawn(font: ImageFont.FreeTypeFont | ImageFont.ImageFont, text: str) -> tuple[tuple, bytes]:
    """Box and pixels of `text` drawn in `font` (what two renders must share to be the same)."""
    left, top, right, bottom = font.getbbox(text)
    image = Image.new("L", (max(1, int(right - left)) + 4, max(1, int(bottom - top)) + 4), 0)
    ImageDraw.Draw(image).text((2 - left, 2 - top), text, font=font, fill=255)
    return (left, top, right, bottom), image.tobytes()


def tofu(text: str, size: int = 34) -> str:
    """The characters of `text` that the worksheet's own font for it draws as its .notdef glyph."""
    font = worksheet._text_font(text, size)
    box = drawn(font, NOTDEF)
    return "".join(ch for ch in dict.fromkeys(text) if not ch.isspace() and drawn(font, ch) == box)


# --- the printed Chinese worksheet ---------------------------------------------------------------


def test_chinese_worksheet_prints_every_character_no_box():
    key = chinese_key()
    page = render_page(key, 1, "s03", NAME)
    assert page.shape[:2] == (2339, 1654)
    texts = [key.title, NAME, *(q.prompt for q in key.questions if q.prompt)]
    assert worksheet._font_path(cjk=True) == fonts.PRINT_CJK  # the project's face, not a system one
    assert unprintable_characters(key, [Student("s03", NAME)]) == ""
    assert unprintable_warning(key, [Student("s03", NAME)]) == ""
    for text in texts:
        assert tofu(text) == "", text
        assert tofu(text, 46) == "", text  # the title's size


def test_the_tofu_check_finds_a_character_the_print_face_lacks():
    # The check above can fail: a character outside the subset draws as .notdef, and both the
    # pixel check and the coverage check (which the Assignments screen and the CLI report) say so.
    key = chinese_key(prompt=f"{PROMPT}{RARE}")
    assert tofu(f"学校{RARE}") == RARE
    assert unprintable_characters(key) == RARE
    assert RARE in unprintable_warning(key) and "empty boxes" in unprintable_warning(key)
    drawn_notdef = drawn(worksheet._text_font("学", 34), NOTDEF)[1]
    assert any(drawn_notdef), "the .notdef glyph is a visible box, not blank"


def test_the_faces_cover_gb2312_for_print_and_the_charset_for_handwriting():
    from grader.charset import default_charset
    from grader.fonts.subset import gb2312

    assert fonts.missing_characters(gb2312(), fonts.PRINT_CJK) == ""
    for path in fonts.CJK_HANDS:
        assert fonts.missing_characters("".join(default_charset()), path) == ""


def test_worksheet_cli_warns_about_characters_that_would_print_as_boxes(tmp_path, capsys):
    key_text = (ANSWER_KEYS_DIR / "chinese-dictation.yaml").read_text(encoding="utf-8")
    path = tmp_path / "key.yaml"
    path.write_text(key_text.replace("prompt: xué xiào", f"prompt: '学校{RARE}'", 1), encoding="utf-8")
    assert main(["worksheet", "--key", str(path), "--out", str(tmp_path / "sheet.pdf")]) == 0
    assert f"would print as empty boxes: {RARE}" in capsys.readouterr().err


# --- a font gone missing -------------------------------------------------------------------------


def test_missing_print_face_is_named_with_its_fix_not_printed_as_boxes(monkeypatch, tmp_path):
    monkeypatch.setattr(fonts, "FONTS_DIR", tmp_path)  # a checkout that lost the file
    monkeypatch.setattr(fonts, "PRINT_CJK", str(tmp_path / "microhei-gb" / "MicroHeiGB.woff2"))
    worksheet._font.cache_clear()
    try:
        with pytest.raises(fonts.FontMissing, match=r"Chinese text on worksheets .*git checkout -- grader/fonts"):
            render_page(chinese_key(), 1)
        assert "git checkout -- grader/fonts" in unprintable_warning(chinese_key())
        assert main(["worksheet", "--key", str(ANSWER_KEYS_DIR / "chinese-dictation.yaml"),
                     "--out", str(tmp_path / "sheet.pdf")]) != 0
    finally:
        worksheet._font.cache_clear()


def test_missing_handwriting_fonts_are_named_with_their_fix(monkeypatch, tmp_path):
    monkeypatch.setattr(fonts, "FONTS_DIR", tmp_path)  # a checkout that lost the file
    gone = str(tmp_path / "wenkai-gb" / "WenKaiGB-Regular.woff2")
    monkeypatch.setattr(simulate, "CJK_HANDS", (gone,))
    monkeypatch.setattr(simulate, "FALLBACK_FONTS", ())
    with pytest.raises(fonts.FontMissing, match=r"WenKaiGB-Regular.woff2 is missing; .*git checkout -- grader/fonts"):
        simulate.pick_font("学校", np.random.default_rng(0))
    assert simulate.pick_font("42", np.random.default_rng(0)) in fonts.LATIN_HANDS


def test_every_font_the_product_names_is_in_the_repository():
    for path in (*fonts.LATIN_HANDS, *fonts.CJK_HANDS, fonts.PRINT_CJK):
        assert Path(path).is_file() and Path(path).is_relative_to(REPO_ROOT / "grader" / "fonts"), path
        licence = [p for p in Path(path).parent.iterdir() if p.suffix == ".txt"]
        assert licence, f"no licence file next to {path}"


# --- the subsets draw what the full fonts draw ---------------------------------------------------

DEBIAN_FONTS = [s for s in SOURCES if Path(s.debian).is_file()]


@pytest.mark.skipif(not DEBIAN_FONTS, reason="the Debian font packages the subsets come from are not installed")
@pytest.mark.parametrize("source", DEBIAN_FONTS, ids=lambda s: s.out.name)
def test_our_font_draws_exactly_what_the_debian_font_draws(source):
    if source.family is None:
        assert source.out.read_bytes() == Path(source.debian).read_bytes()
        return
    ours = fonts.characters(str(source.out))
    full = fonts.characters(source.debian)
    assert ours == full & {ord(c) for c in source.text}
    sample = [chr(c) for c in sorted(ours)][::23] + list("学校老师朋友天气0123456789xyz+-×÷=")
    words = ["".join(sample[i : i + 5]) for i in range(0, len(sample), 5)]
    for size in (17, 40):
        theirs_font, ours_font = ImageFont.truetype(source.debian, size), ImageFont.truetype(str(source.out), size)
        assert ours_font.getmetrics() == theirs_font.getmetrics()
        differ = [t for t in sample + words + [NOTDEF] if drawn(ours_font, t) != drawn(theirs_font, t)]
        assert differ == [], f"{source.out.name} at {size} px draws {differ[:10]} unlike {source.debian}"


# --- no system font paths outside training ---------------------------------------------------------

SCANNED = ("grader", "pages", "tests", "bench", "streamlit_app.py")
ALLOWED = ("grader/training/", "grader/fonts/", "tests/test_fonts.py")  # optional extras; the origins


def test_no_code_outside_training_looks_for_a_system_font_other_than_dejavu():
    pattern = re.compile(r"/usr/share/fonts/(?!truetype/dejavu/)\S+")
    found = []
    for entry in SCANNED:
        root = REPO_ROOT / entry
        for path in ([root] if root.is_file() else sorted(root.rglob("*.py"))):
            relative = path.relative_to(REPO_ROOT).as_posix()
            if relative.startswith(ALLOWED):
                continue
            found += [f"{relative}: {m}" for m in pattern.findall(path.read_text(encoding="utf-8"))]
    assert found == []
