"""The real handwriting packs: loaders, writer splits, composition (grader.training.packs).

The packs lie in ../shared/handwriting (never in the repository); without them these tests skip
and say where they looked.
"""

from __future__ import annotations

import tarfile

import numpy as np
import pytest

from grader import ctc
from grader.charset import default_charset
from grader.training import packs

pytestmark = pytest.mark.skipif(not (packs.packs_dir() / "MANIFEST.json").exists(),
                                reason=f"handwriting packs not found in {packs.packs_dir()}")


@pytest.fixture(scope="module")
def casia_val() -> list[packs.Hand]:
    return packs.load_casia("val")


@pytest.fixture(scope="module")
def sentences() -> dict[str, list[packs.Sentence]]:
    return {split: packs.load_imadocsen(split) for split in packs.SPLITS}


def _tsv(name: str) -> list[dict[str, str]]:
    with tarfile.open(packs.packs_dir() / name) as tar:
        return packs._tsv_rows(tar)


def test_casia_split_is_by_writer_and_fixed():
    rows = _tsv("casia_hwdb11_train100.tar")
    by_split: dict[str, set[int]] = {"train": set(), "val": set()}
    for r in rows:
        by_split[packs.casia_split(int(r["writer"]))].add(int(r["writer"]))
    assert not by_split["train"] & by_split["val"]
    assert by_split["val"] == set(range(0, 240, 8))
    assert len(by_split["train"]) == 210


def test_crohme_named_writers_stay_on_one_side():
    rows = [r for r in _tsv("crohme2014_train.tar") if r["writer"]]
    sides: dict[str, set[str]] = {}
    for r in rows:
        sides.setdefault(r["writer"], set()).add(packs.crohme_split(r["file"], r["writer"]))
    assert all(len(s) == 1 for s in sides.values())
    assert {w for w, s in sides.items() if s == {"val"}} == packs.CROHME_VAL_WRITERS


def test_imadocsen_writers_are_disjoint_and_words_read_left_to_right(sentences):
    writers = {split: {s.writer for s in sentences[split]} for split in packs.SPLITS}
    assert writers["val"] == packs.IMADOCSEN_VAL_WRITERS
    assert not writers["train"] & writers["val"]
    # The words of a sentence are its own ink in reading order: each word's strokes start right
    # of the previous word's start on the same written line, and the first line holds words.
    s = sentences["val"][0]
    lefts = [packs._left(strokes) for _, strokes in s.words]
    assert lefts[1] > lefts[0] and all(t.isalpha() or "'" in t for t, _ in s.words)


def test_casia_labels_match_their_images(casia_val):
    """一 is a single flat stroke: in every held-back writer's hand its image is at most half as
    high as wide, while that writer's median character is higher than wide; a label shifted by
    one sample, or images paired with another class, would break this."""
    assert len(casia_val) == 30
    for hand in casia_val:
        flat = [a.shape[0] / a.shape[1] for a in hand.images["一"]]
        others = [a.shape[0] / a.shape[1] for c, imgs in hand.images.items() if c != "一" for a in imgs]
        assert max(flat) < 0.6 and float(np.median(others)) > 1.0, hand.writer


def test_one_writers_characters_make_a_word(casia_val):
    hand = casia_val[0]
    rng = np.random.default_rng(3)
    labels = [packs.chinese_label(hand, rng) for _ in range(60)]
    assert all(set(label) <= hand.hanzi() for label, _ in labels)
    assert {group for _, group in labels} == {"zh-chars", "zh-words", "zh-numerals"}
    one = packs.chinese_alpha(hand, "三", np.random.default_rng(1))
    three = packs.chinese_alpha(hand, "三七万", np.random.default_rng(1))
    assert one.dtype == np.float32 and one.max() > 0.8
    assert three.shape[1] > 2 * one.shape[1]


def test_real_digits_make_numbers_with_pen_symbols():
    bank = packs.DigitBank.optdigits()
    assert all(len(i) > 100 for i in bank.index) and bank.images.shape[1:] == (28, 28)
    rng = np.random.default_rng(4)
    made = [packs.number_from_digits(bank, rng) for _ in range(40)]
    assert all(set(label) <= packs.NUMBER_PEN for _, label in made)
    assert {".", "-", "/"} <= set("".join(label for _, label in made))  # the symbols are drawn too
    for alpha, _ in made:
        assert alpha.dtype == np.float32 and alpha.max() > 0.8
    widths = {label: alpha.shape[1] for alpha, label in made}
    short = min(widths, key=len)
    long = max(widths, key=len)
    assert len(long) >= 3 * len(short) and widths[long] > 2 * widths[short]


def test_optdigits_has_no_held_back_side():
    with pytest.raises(ValueError, match="optdigits has no held-back writers"):
        packs.real_sample("optdigits", packs.RealSources({}, [], []), np.random.default_rng(0))


def test_rendered_real_lines_are_lines_of_the_charset(tmp_path):
    start, images, widths, labels, groups = packs.render_real_chunk(packs.RealJob(0, 24, 5, "val", 1024))
    assert start == 0 and images.shape == (24, 32, 1024) and images.dtype == np.uint8
    assert all(16 <= w <= 1024 for w in widths)
    assert all(images[i, :, widths[i]:].max() == 0 for i in range(24))  # nothing past the width
    index = {c: i for i, c in enumerate(default_charset())}
    assert all(ctc.encode(label, index) is not None for label in labels)
    assert {packs.GROUPS[g] for g in groups} >= {"zh-words", "en-words", "math"}


def test_a_missing_pack_is_named(tmp_path):
    with pytest.raises(packs.PackMissing, match="casia_hwdb11_train100.tar"):
        packs.load_casia("train", tmp_path)
    with pytest.raises(ValueError, match="split"):
        packs.load_imadocsen("test")


@pytest.mark.parametrize("text, shares", [
    ("", packs.TRAIN_MIX),
    ("crohme=1,casia=0,olhwdb=0,hit=0,imadocsen=0,optdigits=0", {"crohme": 1.0}),
    ("imadocsen=0.5, crohme=0.5, casia=0, olhwdb=0, hit=0, optdigits=0", {"imadocsen": 0.5, "crohme": 0.5}),
])
def test_a_mix_sets_the_named_packs_shares_and_keeps_the_others(text, shares):
    mix = packs.parse_mix(text)
    assert set(mix) == set(packs.TRAIN_MIX) and sum(mix.values()) == pytest.approx(1.0)
    assert {k: v for k, v in mix.items() if v} == pytest.approx(dict(shares))


@pytest.mark.parametrize("text, message", [
    ("casiaa=0.3", "'casiaa=0.3' is not PACK=SHARE with PACK one of casia"),
    ("casia", "'casia' is not PACK=SHARE"),
    ("casia=lots", "the share in 'casia=lots' is not a number"),
    ("casia=1.5", "the share in 'casia=1.5' is not between 0 and 1"),
    ("casia=0,olhwdb=0,hit=0,imadocsen=0,crohme=0,optdigits=0", "every pack's share is 0"),
])
def test_a_bad_mix_is_refused_with_the_part_named(text, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        packs.parse_mix(text)


def test_a_training_jobs_mix_decides_which_packs_it_draws():
    """Only CROHME in the mix: every sample is an expression (drawn here from the held-back side's
    CROHME, loaded as the job's sources, so that the test needs only the small validation load)."""
    saved = dict(packs._SOURCES)
    packs._SOURCES["train"] = packs.RealSources.load("val")
    try:
        mix = tuple(packs.parse_mix("crohme=1,casia=0,olhwdb=0,hit=0,imadocsen=0,optdigits=0").items())
        *_, groups = packs.render_real_chunk(packs.RealJob(0, 12, 5, "train", 1024, mix=mix))
        *_, default_groups = packs.render_real_chunk(packs.RealJob(0, 40, 5, "val", 1024, mix=mix))
    finally:
        packs._SOURCES.clear()
        packs._SOURCES.update(saved)
    assert {packs.GROUPS[g] for g in groups} <= {"math", "number"}
    assert {packs.GROUPS[g] for g in default_groups} & {"zh-words", "zh-chars", "en-words"}  # val keeps VAL_MIX
