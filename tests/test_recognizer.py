"""The committed recogniser (models/) through its public API and the `recognize` command."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import cv2
import numpy as np
import pytest

from grader import ctc, words
from grader import recognizer as recognizer_module
from grader.charset import kind_alphabet
from grader.errors import ModelUnavailable
from grader.lines import READ_MAX_WIDTH, join_windows, prepare_line_u8, view_line, window_starts
from grader.paths import REPO_ROOT
from grader.readings import Reading
from grader.recognizer import Recognizer, needs_views, views_of
from grader.stacked_fractions import _longest_runs, find_fraction_bar, unstack_fraction
from tests.ink_crops import fonts_available, make_crops, stacked_fractions
from tests.misreads import Misread, crowded, near_misses

pytestmark = pytest.mark.skipif(not fonts_available(), reason="Debian handwriting fonts not installed")


@pytest.fixture(scope="module")
def recognizer():
    return Recognizer.load()


@pytest.fixture(scope="module")
def crops():
    return make_crops()


@pytest.fixture(scope="module")
def misread_words(recognizer) -> list[Misread]:
    """Words the model misreads letter by letter as near misses of a listed word, found from its
    own readings (tests/misreads.py), so a retrained model does not leave the tests below
    without a subject."""
    found = near_misses(recognizer)  # up to 6; crnn-4 gives 6
    assert len(found) >= 4, f"the shrink ladder found only {[(m.word, m.own) for m in found]}"
    return found


@pytest.fixture(scope="module")
def crowded_words(recognizer) -> list[Misread]:
    """Words squeezed just enough that the model misreads them in the line as prepared."""
    found = crowded(recognizer)  # up to 6; crnn-4 gives 6
    assert len(found) >= 4, f"the squeeze ladder found only {[(m.word, m.own) for m in found]}"
    return found


def test_reads_generated_crops_in_training_fonts(recognizer, crops):
    readings = recognizer.read([c for c, _, _ in crops], kind=[k for _, _, k in crops])
    wrong = [(label, r.text) for (_, label, _), r in zip(crops, readings) if r.text != label]
    exact = 1 - len(wrong) / len(crops)
    assert exact >= 0.95, f"exact match {exact:.2%}; misread (truth, read): {wrong}"


def test_readings_carry_probabilities(recognizer, crops):
    readings = recognizer.read([c for c, _, _ in crops[:6]])
    assert all(isinstance(r, Reading) and 0.0 <= r.confidence <= 1.0 for r in readings)
    assert all(r.log_likelihood <= 0.0 for r in readings)


def test_kind_restricts_the_alphabet(recognizer, crops):
    chinese = [c for c, _, k in crops if k == "chinese"]
    for reading in recognizer.read(chinese, kind="number"):
        assert set(reading.text) <= set(kind_alphabet("number"))


def test_a_crop_without_a_kind_is_read_as_the_kind_its_script_says(recognizer, crops):
    """POST /ocr and `recognize` without --kind: Chinese crops read as Chinese, English words as
    English (with the word list), numbers and maths as maths; the reading is the one the guessed
    kind gives, and nearly as good as with the question's own kind."""
    expected = {"number": "math", "math": "math", "text": "text", "chinese": "chinese"}
    kept = [(c, label, k) for c, label, k in crops if k in expected]
    lines = recognizer.lines([c for c, _, _ in kept])
    guessed = [recognizer.decoder.guess_kind(lg) for lg in recognizer.model(lines)]
    wrong = [(label, k, g) for (_, label, k), g in zip(kept, guessed) if g != expected[k]]
    assert len(wrong) <= 1, f"kinds guessed wrong (label, kind, guess): {wrong}"
    without = recognizer.read([c for c, _, _ in kept])
    assert [r.text for r in without] == [r.text for r in recognizer.read([c for c, _, _ in kept], guessed)]
    right = sum(r.text == label for r, (_, label, _) in zip(without, kept))
    with_kind = recognizer.read([c for c, _, _ in kept], [k for _, _, k in kept])
    assert right >= sum(r.text == label for r, (_, label, _) in zip(with_kind, kept)) - 1


def test_one_kind_per_crop_must_match_the_crop_count(recognizer, crops):
    with pytest.raises(ValueError, match="2 kinds given for 3 crops"):
        recognizer.read([c for c, _, _ in crops[:3]], kind=["number", "text"])


def test_batched_and_single_reads_agree(recognizer, crops):
    images = [c for c, _, _ in crops[:10]]
    batched = [r.text for r in recognizer.read(images)]
    single = [recognizer.read([img])[0].text for img in images]
    assert batched == single


def test_string_log_likelihoods_rank_the_truth_first(recognizer, crops):
    crop, label, kind = crops[0]  # "42"
    lp = recognizer.log_probs([crop])[0]
    assert lp.shape[1] == len(recognizer.chars) + 1
    scores = recognizer.string_log_likelihoods(lp, [label, "47", "420", "4€"])
    assert scores[0] > max(scores[1], scores[2])
    assert scores[3] == -math.inf  # € is outside the charset
    assert scores[0] == pytest.approx(ctc.string_log_likelihood(lp, label, recognizer.index))


def test_lexicon_reading_picks_the_roster_name(recognizer, crops):
    crop = next(c for c, label, _ in crops if label == "Lisa")
    reading = recognizer.read_lexicon(crop, ["Lena", "Lisa", "Luis", "Tom"])
    assert reading.text == "Lisa"


def test_the_word_list_puts_near_misses_right_and_keeps_the_models_own_reading(recognizer, misread_words):
    crops_, truths = [m.crop for m in misread_words], [m.word for m in misread_words]
    # each crop alone, as the picks were read (tests/misreads.py: _letters)
    own = [recognizer.read([c], kind="text", use_words=False)[0] for c in crops_]
    listed = [recognizer.read([c], kind="text")[0] for c in crops_]
    assert all(r.model_text is None for r in own)
    assert [r.text for r in own] == [m.own for m in misread_words]  # each a near miss, by choice
    assert [r.text for r in listed] == truths
    for o, r in zip(own, listed):
        if r.text != o.text:
            assert r.model_text == o.text and r.model_log_likelihood == pytest.approx(o.log_likelihood)
            assert o.log_likelihood - words.english_nats(o.text) <= r.log_likelihood
        else:
            assert r.model_text is None


def test_the_word_list_leaves_listed_readings_and_other_kinds_alone(recognizer, crops):
    images, kinds = [c for c, _, _ in crops], [k for _, _, k in crops]
    own = recognizer.read(images, kind=kinds, use_words=False)
    listed = recognizer.read(images, kind=kinds)
    for o, r, kind in zip(own, listed, kinds):
        if kind not in words.FILES or o.text in words.load(kind, recognizer.words_dir):
            assert r.text == o.text and r.model_text is None


def test_views_read_crowded_letters_that_the_prepared_line_misreads(recognizer, crowded_words):
    crops_, truths = [m.crop for m in crowded_words], [m.word for m in crowded_words]
    one = [recognizer.read([c], kind="text", use_words=False)[0].text for c in crops_]  # alone, as picked
    assert all(t != w for t, w in zip(one, truths)), "each crowded word is misread in one view, by choice"
    views = [r.text for r in recognizer.read(crops_, kind="text", use_words=False, views=True)]
    # Each word is squeezed just past what the model reads in one view; the views (other widths
    # and slants) put most of them right: at least two in three (crnn-4: 5 of 6).
    assert 3 * sum(v == t for v, t in zip(views, truths)) >= 2 * len(truths), list(zip(truths, one, views))


def test_views_pick_the_candidate_most_likely_over_all_views(recognizer, crops, misread_words, crowded_words):
    """decode_views against the rule worked out by hand: each view's reading (with and without
    the word list) scored by its mean log-likelihood over the views, less the list's allowance."""
    items = crops + [(m.crop, m.word, "text") for m in misread_words + crowded_words]
    doubtful = 0
    for crop, _, kind in items:
        lines = recognizer.lines([crop], kind)
        per_view = [recognizer.log_probs_lines([view_line(lines[0], *v)])[0] for v in views_of(kind)]
        masked = [recognizer.decoder.restricted(lp, kind) for lp in per_view]
        word_list = words.load(kind, recognizer.words_dir)
        texts = {recognizer.decode(lp, kind).text for lp in per_view}
        texts |= {recognizer.decode(lp, kind, use_words=False).text for lp in per_view}

        index = recognizer.decoder.alphabet(kind).index

        def score(text, masked=masked, word_list=word_list, index=index):
            ll = sum(ctc.string_log_likelihood(lp, text, index) for lp in masked) / len(masked)
            return ll - (word_list.allowance(text) if word_list else 0.0)

        reading = recognizer.decode_views(per_view, kind)
        assert score(reading.text) == pytest.approx(max(map(score, texts)))
        assert 0.0 <= reading.confidence <= 1.0
        # read(views=True) goes to the other views only when the first one leaves doubt
        first = recognizer.read([crop], kind=kind)[0]
        careful = recognizer.read([crop], kind=kind, views=True)[0]
        expected = reading if needs_views(first, kind) else first
        # read() normalises the logits over the kind's alphabet directly (in float32), decode()
        # renormalises the full float64 log-probabilities over it: the same up to about 1e-6 a frame
        assert (careful.text, careful.model_text) == (expected.text, expected.model_text)
        assert careful.confidence == pytest.approx(expected.confidence, abs=1e-4)
        assert careful.log_likelihood == pytest.approx(expected.log_likelihood, abs=1e-3)
        doubtful += needs_views(first, kind)
    # both ways are taken: the misread words leave doubt, the clear training-font crops do not
    assert 1 <= doubtful <= len(items) - 1, doubtful


def test_a_kind_is_read_in_its_own_views_when_they_are_on(recognizer, crops, misread_words, monkeypatch):
    """Chinese has its own views (recognizer.VIEWS_BY_KIND, the line squeezed and stretched), off
    in the shipped reading (threshold 0); turned on for every crop, a batch of Chinese and English
    crops reads each Chinese one as decode_views over its own views, the English ones over all."""
    chinese = [(c, k) for c, _, k in crops if k == "chinese"]
    english = [(m.crop, "text") for m in misread_words]
    assert chinese and english
    assert len(views_of("chinese")) < len(views_of("text"))
    monkeypatch.setattr(recognizer_module, "VIEWS_BELOW_BY_KIND", {"chinese": 1.01, "text": 1.01})
    items = chinese + english
    passes: list[int] = []  # lines per pass of the model: the first views, then the others
    model = recognizer.model

    def counted(lines, *args):
        passes.append(len(lines))
        return model(lines, *args)

    monkeypatch.setattr(recognizer, "model", counted)
    careful = recognizer.read([c for c, _ in items], kind=[k for _, k in items], views=True)
    monkeypatch.setattr(recognizer, "model", model)
    assert passes == [len(items), len(chinese) * (len(views_of("chinese")) - 1)
                      + len(english) * (len(views_of("text")) - 1)]
    for (crop, kind), got in zip(items, careful):
        line = recognizer.lines([crop], kind)[0]
        per_view = [recognizer.log_probs_lines([view_line(line, *v)])[0] for v in views_of(kind)]
        want = recognizer.decode_views(per_view, kind)
        assert (got.text, got.model_text) == (want.text, want.model_text), kind
        assert got.log_likelihood == pytest.approx(want.log_likelihood, abs=1e-3)
    # off as shipped: a Chinese crop reads the same with and without views=True
    monkeypatch.undo()
    assert [r.text for r in recognizer.read([c for c, _ in chinese], "chinese", views=True)] == \
        [r.text for r in recognizer.read([c for c, _ in chinese], "chinese")]


def test_view_line_keeps_the_height_and_scales_the_width():
    line = np.zeros((32, 100), np.float32)
    line[8:24, 40:60] = 1.0
    assert view_line(line, 1.0, 0.0) is line
    assert view_line(line, 0.8, 0.0).shape == (32, 80)
    assert view_line(line, 1.25, 0.0).shape == (32, 125)
    assert view_line(line, 4.0, 0.0, max_width=320).shape == (32, 320)
    slanted = view_line(line, 1.0, 0.2)
    assert slanted.shape[0] == 32 and slanted.shape[1] > 100
    # each row moves by shear * (y - centre): with a positive shear the top ends left of the bottom
    top, bottom = np.flatnonzero(slanted[9] > 0.5), np.flatnonzero(slanted[22] > 0.5)
    assert top.mean() - bottom.mean() == pytest.approx(0.2 * (9 - 22), abs=1.0)
    assert slanted.sum() == pytest.approx(line.sum(), rel=0.02)


# ---------------------------------------------------------------- lines wider than the model's

def _paper_line(crop: np.ndarray) -> np.ndarray:
    """A crop as the model sees it (32 px high, unsqueezed), dark ink on white again: crops of one
    sentence share their lighting, so joined crops must not differ in contrast either."""
    return 255 - prepare_line_u8(crop, 32, 4096)


def test_a_line_wider_than_the_model_reads_as_its_two_halves_joined(recognizer, crops):
    """A line wider than the model's trained width (model.json input.max_width) is read at full
    width in overlapping windows: the same text as its two halves read apart, joined by a space."""
    trained = recognizer.spec.input.max_width
    words_ = [(_paper_line(c), label) for c, label, k in crops if k == "text"]
    gap = np.full((32, 24), 255, np.uint8)
    target = min(max(1200, trained + trained // 2), READ_MAX_WIDTH - 64)  # 2+ windows, under the cap
    chosen: list[tuple[np.ndarray, str]] = []
    while sum(w.shape[1] + gap.shape[1] for w, _ in chosen) < target:
        chosen.append(words_[len(chosen) % len(words_)])
    halves = [chosen[:len(chosen) // 2], chosen[len(chosen) // 2:]]
    parts = [np.hstack([p for w, _ in half for p in (w, gap)][:-1]) for half in halves]
    line = np.hstack([parts[0], gap, parts[1]])
    [prepared] = recognizer.lines([line], "text")
    assert prepared.shape[1] == line.shape[1] > trained  # read at full width, not squeezed
    assert len(window_starts(prepared.shape[1], trained)) >= 2
    whole = recognizer.read([line], "text", use_words=False)[0].text
    left, right = (r.text for r in recognizer.read(parts, "text", use_words=False))
    assert whole == f"{left} {right}"
    truth = " ".join(label for _, label in chosen)
    assert ctc.char_error_rate(whole, truth)[0] <= max(2, len(truth) // 40), whole  # the sentence, not noise


def test_joined_windows_read_as_the_frames_they_were_cut_from():
    """Windows of one line's frames, their edges spoilt as a model spoils a character it sees
    only in part: the join keeps each window's middle and cuts where both see a gap."""
    rng = np.random.default_rng(0)
    path = [k for ch in rng.integers(1, 6, 40) for k in (int(ch), int(ch), 0, 0)]  # each character, then a gap
    frames = np.full((len(path), 7), -8.0, np.float32)
    frames[np.arange(len(path)), path] = 8.0
    width, per_px = 48 * 4, 0.25  # px of a window, frames per px
    starts = window_starts(len(path) * 4, width, overlap=48, multiple=8)
    assert len(starts) >= 3 and starts[-1] + width == len(path) * 4
    windows = []
    for x in starts:
        w = frames[x // 4:x // 4 + width // 4].copy()
        if x > 0:  # garbage at the edges inside the line (its own ends are read as they are)
            w[:3] = rng.normal(0, 8, (3, 7))
        if x < starts[-1]:
            w[-3:] = rng.normal(0, 8, (3, 7))
        windows.append(w)
    joined = join_windows(windows, starts, per_px, edge=16)
    assert joined.shape == frames.shape
    assert ctc.greedy_path(joined) == ctc.greedy_path(frames)


@pytest.mark.parametrize("width,starts", [(320, [0]), (100, [0]), (321, [0, 8]), (600, [0, 224, 280]),
                                          (1200, [0, 224, 448, 672, 880])])
def test_window_starts_cover_the_line_with_overlap(width, starts):
    assert window_starts(width, 320, overlap=96, multiple=8) == starts


def test_grading_reads_letter_by_letter_so_a_misspelling_is_not_made_the_key(recognizer, misread_words):
    from grader.answer_key import Question
    from grader.crops import AnswerCrop
    from grader.pipeline import read_and_score

    ink, word = misread_words[0].crop, misread_words[0].word  # a near miss letter by letter
    own = recognizer.read([ink], kind="text", use_words=False)[0]
    assert recognizer.read([ink], kind="text")[0].text == word != own.text
    question = Question(id="q1", page=1, box=(0.1, 0.1, 0.3, 0.05), kind="text", answers=[word])
    crop = AnswerCrop("q1", cv2.cvtColor(ink, cv2.COLOR_GRAY2BGR), ink, False, (0, 0, *ink.shape[::-1]))
    [graded] = read_and_score([crop], {"q1": question}, recognizer)
    # the verdict comes from the key's likelihood against the model's own reading, not from a
    # word list that would have read the key whatever the student spelled
    assert graded.result.text == own.text
    assert graded.reading_ll == pytest.approx(own.log_likelihood, abs=1e-3)  # read() normalises in float32
    # Stored for the teacher: the colour crop as JPEG (a piece of a photo), the ink the model
    # read as lossless PNG (read again at regrade and by adapt).
    assert graded.crop_image[:3] == b"\xff\xd8\xff" and graded.ink_png[:8] == b"\x89PNG\r\n\x1a\n"
    colour = cv2.imdecode(np.frombuffer(graded.crop_image, np.uint8), cv2.IMREAD_COLOR)
    assert colour.shape == crop.color.shape and np.abs(colour.astype(int) - crop.color).mean() < 2
    assert np.array_equal(cv2.imdecode(np.frombuffer(graded.ink_png, np.uint8), cv2.IMREAD_GRAYSCALE), ink)


def test_missing_model_is_a_named_error(tmp_path):
    with pytest.raises(ModelUnavailable, match="cannot be loaded"):
        Recognizer.load(tmp_path)


# ---------------------------------------------------------------- command line


def _recognize(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "grader", "recognize", "--json", *args],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)


def test_cli_reads_files_and_reports_unreadable_ones_in_order(tmp_path, crops, recognizer):
    good = []
    for i in (0, 13):  # "42", "apple"
        path = tmp_path / f"crop{i}.png"
        cv2.imwrite(str(path), crops[i][0])
        good.append(path)
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 not really a jpeg")
    missing = tmp_path / "missing.png"
    result = _recognize(str(good[0]), str(empty), str(broken), str(good[1]), str(missing))
    assert result.returncode == 2, result.stderr
    entries = json.loads(result.stdout)
    assert [e["path"] for e in entries] == [str(p) for p in (good[0], empty, broken, good[1], missing)]
    # the command reports what the library reads from the same files (accuracy is tested above)
    expected = recognizer.read([cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) for p in good], views=True)
    assert entries[0]["text"] == expected[0].text and entries[3]["text"] == expected[1].text
    assert entries[0]["confidence"] == pytest.approx(expected[0].confidence, abs=1e-4)
    assert "empty" in entries[1]["error"]
    assert "not an image" in entries[2]["error"]
    assert "cannot open" in entries[4]["error"]
    assert all("text" not in e for e in entries[1:3])


def test_cli_expands_directories_and_exits_0_when_all_read(tmp_path, crops, recognizer):
    folder = tmp_path / "crops"
    folder.mkdir()
    for i in (0, 1):
        cv2.imwrite(str(folder / f"{i}.png"), crops[i][0])
    (folder / "notes.txt").write_text("not an image, not listed")
    result = _recognize("--kind", "number", str(folder))
    assert result.returncode == 0, result.stderr
    entries = json.loads(result.stdout)
    assert [e["path"] for e in entries] == [str(folder / "0.png"), str(folder / "1.png")]
    images = [cv2.imread(str(folder / f"{i}.png"), cv2.IMREAD_GRAYSCALE) for i in (0, 1)]
    assert [e["text"] for e in entries] == [r.text for r in recognizer.read(images, kind="number", views=True)]
    assert all(set(e["text"]) <= set(kind_alphabet("number")) for e in entries)


def test_cli_letters_only_gives_the_models_own_reading(tmp_path, recognizer, misread_words):
    crop, word = misread_words[0].crop, misread_words[0].word  # a near miss letter by letter
    path = tmp_path / "word.png"
    cv2.imwrite(str(path), crop)
    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    own = recognizer.read([image], kind="text", use_words=False)[0].text
    assert own != word
    listed = json.loads(_recognize("--kind", "text", "--one-view", str(path)).stdout)
    letters = json.loads(_recognize("--kind", "text", "--letters-only", "--one-view", str(path)).stdout)
    assert [listed[0]["text"], letters[0]["text"]] == [word, own]


def test_cli_reads_every_view_unless_told_one(tmp_path, recognizer, crowded_words):
    # a crowded word misread in the line as prepared that the views read right
    read = recognizer.read([m.crop for m in crowded_words], kind="text", use_words=False, views=True)
    views_right = [m for m, r in zip(crowded_words, read) if r.text == m.word]
    assert views_right, "the views read none of the crowded words right"
    crop, word = views_right[0].crop, views_right[0].word
    path = tmp_path / "word.png"
    cv2.imwrite(str(path), crop)
    one = recognizer.read([cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)], kind="text", use_words=False)[0].text
    assert one != word
    views = json.loads(_recognize("--kind", "text", "--letters-only", str(path)).stdout)
    single = json.loads(_recognize("--kind", "text", "--letters-only", "--one-view", str(path)).stdout)
    assert [views[0]["text"], single[0]["text"]] == [word, one]


# ---------------------------------------------------------------- stacked fractions


def test_stacked_fractions_are_found_and_inline_crops_are_not(crops):
    found = [find_fraction_bar(crop) is not None for crop, _ in stacked_fractions()]
    assert all(found), found  # 2/3 has a piece of the box border touching its bar
    assert all(find_fraction_bar(crop) is None for crop, _, _ in crops)


def test_stacked_fraction_reads_as_a_over_b(recognizer):
    items = stacked_fractions()
    readings = recognizer.read([c for c, _ in items], kind="number")
    right = sum(r.text == label for r, (_, label) in zip(readings, items))
    assert right >= 5, [(label, r.text) for r, (_, label) in zip(readings, items)]
    # the rewrite turns the two-storey crop into one wide line
    assert unstack_fraction(items[0][0]).shape != items[0][0].shape


def _slanted_fraction(shift: int) -> np.ndarray:
    """3 over a bar over 4, the 3 pushed right and the 4 left by `shift` px as a slanted hand
    writes them: the bar spans little more than half the ink's width."""
    img = np.full((110, 150), 255, np.uint8)
    font = cv2.FONT_HERSHEY_SIMPLEX
    cv2.putText(img, "3", (52 + shift, 45), font, 1.4, 0, 3, cv2.LINE_AA)
    cv2.line(img, (53, 56), (80, 56), 0, 3)
    cv2.putText(img, "4", (52 - shift, 100), font, 1.4, 0, 3, cv2.LINE_AA)
    return img


def _joined_five() -> np.ndarray:
    """A 5 drawn as its strokes: the flag, the stem, the middle bar and the bowl with its tail
    curling back left, one piece of ink; the middle bar spans about half its width."""
    img = np.full((110, 150), 255, np.uint8)
    cv2.line(img, (62, 20), (84, 20), 0, 3)   # flag
    cv2.line(img, (62, 20), (62, 52), 0, 3)   # stem, meeting the bar's left end
    cv2.line(img, (62, 52), (84, 52), 0, 3)   # the middle bar
    cv2.ellipse(img, (80, 72), (18, 20), 0, -90, 90, 0, 3)  # the bowl, hanging from the bar
    cv2.line(img, (80, 92), (44, 88), 0, 3)   # its tail, back to the left
    return img


def test_a_fraction_written_slanted_is_found_and_a_joined_five_is_not():
    for shift in (12, 15):
        crop = _slanted_fraction(shift)
        _, ink = cv2.threshold(crop, 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
        xs = np.nonzero(ink)[1]
        share = _longest_runs(ink > 0).max() / (xs.max() - xs.min() + 1)
        assert 0.5 < share < 0.7, share  # the bar alone fails the full rule
        assert find_fraction_bar(crop) is not None, shift
    assert find_fraction_bar(_joined_five()) is None
