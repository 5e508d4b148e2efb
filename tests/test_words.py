"""The word-list prior (grader.words) on model outputs built by hand, scored by the real CTC
forward algorithm, and the lists shipped in models/."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rapidfuzz.distance import Levenshtein

from grader import ctc, words
from grader.charset import load_charset
from grader.errors import ModelUnavailable
from grader.paths import MODELS_DIR

CHARS = load_charset(MODELS_DIR / "charset.txt")
INDEX = {c: i for i, c in enumerate(CHARS)}


def model_output(text: str, runner_up: dict[int, tuple[str, float]] | None = None,
                 gap_runner_up: dict[int, tuple[str, float]] | None = None) -> np.ndarray:
    """(T, C) log-probabilities of a line the model reads as `text`: per character a frame where
    it wins, then a blank frame. runner_up[i] = (char, nats): at character i's frame that
    character comes second by so many nats; gap_runner_up[i] likewise in the blank after it."""
    runner_up, gap_runner_up = runner_up or {}, gap_runner_up or {}
    rows = []
    for i, ch in enumerate(text):
        for winner, second in ((INDEX[ch] + 1, runner_up.get(i)), (ctc.BLANK, gap_runner_up.get(i))):
            row = np.zeros(len(CHARS) + 1)  # class 0 is the blank, class k + 1 is CHARS[k]
            row[winner] = 12.0
            if second is not None:
                row[INDEX[second[0]] + 1] = 12.0 - second[1]
            rows.append(row)
    return ctc.log_softmax(np.asarray(rows))


def scorer(lp: np.ndarray):
    def score(candidates):
        return ctc.string_log_likelihoods(lp, candidates, INDEX)
    return score


def english(text: str, lp: np.ndarray, listed: list[str], beams: bool = False) -> str:
    model = (lp, CHARS) if beams else (None, ())
    return words.EnglishWords(listed).improve(text, ctc.string_log_likelihood(lp, text, INDEX), scorer(lp), *model)[0]


def chinese(text: str, lp: np.ndarray, listed: list[str]) -> str:
    ll = ctc.string_log_likelihood(lp, text, INDEX)
    return words.ChineseWords(listed).improve(text, ll, scorer(lp), lp, CHARS)[0]


LISTED = ["father", "fatherless", "fathers", "book", "softer", "tail", "Angelita", "combs", "escrows", "DiCaprio"]


def test_an_unlisted_reading_becomes_the_listed_word_the_model_nearly_read():
    lp = model_output("fatheriess", {6: ("l", 1.0)})
    assert english("fatheriess", lp, LISTED) == "fatherless"


def test_clear_writing_keeps_an_unlisted_word():
    lp = model_output("fatheriess", {6: ("l", 9.0)})  # the l is 9 nats behind: more than allowed
    assert words.english_nats("fatheriess") < 9.0
    assert english("fatheriess", lp, LISTED) == "fatheriess"


def test_a_longer_unlisted_word_yields_to_the_list_more_easily():
    # the same 4.5 nats: too many for a 4-letter word (a name the list lacks is as likely), not
    # for a 10-letter one (a random string that long is rarely a real word)
    assert words.english_nats("bcok") < 4.5 < words.english_nats("fatheriess")
    assert english("bcok", model_output("bcok", {1: ("o", 4.5)}), LISTED) == "bcok"
    assert english("fatheriess", model_output("fatheriess", {6: ("l", 4.5)}), LISTED) == "fatherless"


def test_a_listed_reading_is_never_changed():
    lp = model_output("father", {5: ("s", 0.1)})
    assert english("father", lp, LISTED) == "father"


def test_an_unlisted_word_far_from_every_listed_one_stays():
    lp = model_output("Xqzvy", {1: ("o", 0.5)})
    assert english("Xqzvy", lp, LISTED) == "Xqzvy"


def test_the_replacement_keeps_the_case_written():
    assert english("Fatheriess", model_output("Fatheriess", {6: ("l", 1.0)}), LISTED) == "Fatherless"
    assert english("FATHERIESS", model_output("FATHERIESS", {6: ("L", 1.0)}), LISTED) == "FATHERLESS"
    # a listed spelling with a capital is tried as listed
    assert english("Angelta", model_output("Angelta", gap_runner_up={4: ("i", 1.0)}), LISTED) == "Angelita"


def test_a_word_in_no_case_writers_use_takes_the_most_likely_case_they_use():
    # a capital M inside a small word: "combs" costs 1.5 nats (c and m), "Combs" 0.5 (m), "COMBS"
    # three letters the model never offered; the nats do not matter, the reading is not English
    lp = model_output("CoMbs", {0: ("c", 1.0), 2: ("m", 0.5)})
    assert english("CoMbs", lp, LISTED) == "Combs"
    assert english("eScrows", model_output("eScrows", {1: ("s", 8.0)}), LISTED) == "escrows"
    assert english("eScrows iS", model_output("eScrows iS", {1: ("s", 8.0), 9: ("s", 6.0)}), LISTED) == "escrows is"
    # a spelling the list holds, capitals inside and all, stays as written
    assert english("DiCaprio", model_output("DiCaprio", {2: ("c", 0.1)}), LISTED) == "DiCaprio"


def test_the_allowance_is_unlimited_against_a_word_in_no_case_writers_use():
    listed = words.EnglishWords(LISTED)
    assert listed.allowance("book") == 0.0
    assert listed.allowance("bcok") == words.english_nats("bcok")
    assert listed.allowance("Book BOOK DiCaprio DICAPRIO") == 0.0
    assert listed.allowance("bOok") == listed.allowance("Dicaprio book DiCAPRIO") == float("inf")


def test_every_unlisted_word_of_a_phrase_is_checked():
    text = "fatheriess bcok!"
    lp = model_output(text, {6: ("l", 1.0), 12: ("o", 1.0)})
    assert english(text, lp, LISTED) == "fatherless book!"


def test_a_listed_word_on_the_models_next_best_path_is_found():
    # "book" is two edits from "bcck": too far for a 4-letter word's neighbours, but each o is
    # the runner-up by 1 nat, so the beam search's next-best readings hold it
    lp = model_output("bcck", {1: ("o", 1.0), 2: ("o", 1.0)})
    assert english("bcck", lp, LISTED) == "bcck"
    assert english("bcck", lp, LISTED, beams=True) == "book"
    far = model_output("bcck", {1: ("o", 3.0), 2: ("o", 3.0)})  # 6 nats: more than a 4-letter word gives
    assert english("bcck", far, LISTED, beams=True) == "bcck"


def test_a_space_written_too_narrow_splits_two_listed_words():
    lp = model_output("Softertail", gap_runner_up={5: (" ", 1.0)})
    assert english("Softertail", lp, LISTED) == "Softer tail"


def test_a_chinese_character_swaps_for_the_runner_up_that_makes_a_word():
    assert chinese("天汽", model_output("天汽", {1: ("气", 1.0)}), ["天气"]) == "天气"
    assert chinese("天汽", model_output("天汽", {1: ("气", 8.0)}), ["天气"]) == "天汽"


def test_chinese_numerals_and_single_characters_count_as_listed():
    # 十二 is no word in this list but a numeral; 二 -> 三 would make a listed word
    assert chinese("十二", model_output("十二", {1: ("三", 0.5)}), ["十三"]) == "十二"
    assert chinese("大", model_output("大", {0: ("天", 0.5)}), ["天"]) == "大"


def test_the_lists_in_models_hold_the_training_words():
    english_words = words.load("text", MODELS_DIR)
    assert "fatherless" in english_words and "Fatherless" in english_words
    assert "fatheriess" not in english_words
    chinese_words = words.load("chinese", MODELS_DIR)
    assert "学生" in chinese_words and "老师" in chinese_words
    assert words.load("number", MODELS_DIR) is None


def test_a_written_list_reads_back_and_is_byte_identical_on_a_rebuild(tmp_path):
    first, second = tmp_path / "a.txt.gz", tmp_path / "b.txt.gz"
    assert words.write_list(["tail", "book", "tail"], first) == 2
    words.write_list(["book", "tail"], second)
    assert first.read_bytes() == second.read_bytes()
    assert words.read_list(first) == ["book", "tail"]


@pytest.mark.parametrize("kind", ["text", "chinese"])
def test_a_models_folder_without_lists_reads_letters_only(tmp_path, kind):
    assert words.load(kind, tmp_path) is None


@pytest.mark.parametrize("content", [b"not gzip at all", b"\x1f\x8b\x08\x00 cut short"])
def test_a_broken_list_is_a_named_error(tmp_path, content):
    (tmp_path / words.FILES["text"]).write_bytes(content)
    with pytest.raises(ModelUnavailable, match="words-en.txt.gz cannot be read"):
        words.load("text", tmp_path)


# A small list in which many words are a few edits apart, capitals and an apostrophe included.
SMALL_LIST = sorted({"".join(w) for n in range(1, 6) for w in np.random.default_rng(n).choice(
    list("abcde"), size=(60, n))} | {"Bead", "DiCaprio", "o'clock", "bee's", "deadbeef", "abracadabra"})


def _neighbours_by_brute_force(vocab: words.EnglishWords, written: str) -> frozenset[str]:
    """The rule of EnglishWords._replacements, every listed word compared with the written one."""
    folded, edits = written.casefold(), (1 if len(written) <= 4 else 2)
    near = [(Levenshtein.distance(folded, key), place, key) for place, key in enumerate(vocab.spellings)]
    out: set[str] = set()
    for _, _, key in sorted(hit for hit in near if hit[0] <= edits)[:words.NEIGHBOURS]:
        for spelling in vocab.spellings[key]:
            out.update((words._cased_like(spelling, written), spelling))
    for k in range(1, len(written)):
        if folded[:k] in vocab.spellings and folded[k:] in vocab.spellings:
            out.add(written[:k] + " " + written[k:])
    return frozenset(out)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="abcdeABE'lko", min_size=1, max_size=12))
def test_the_neighbour_search_finds_what_comparing_every_word_finds(written):
    """The letter-signature prefilter (words._signature) never drops a word within the edits."""
    vocab = words.EnglishWords(SMALL_LIST)
    assert vocab._replacements(written) == _neighbours_by_brute_force(vocab, written)


@pytest.mark.parametrize("written", ["fatheriess", "Fatheriess", "kitchcn", "Angelitta", "fatherlessness", "teh"])
def test_the_neighbour_search_on_the_shipped_list(written):
    vocab = words.load("text", MODELS_DIR)
    assert vocab._replacements(written) == _neighbours_by_brute_force(vocab, written)
