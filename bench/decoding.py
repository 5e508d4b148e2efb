"""Decoding choices re-checked for a model: the careful reading's views, the beam width, the
Chinese word list's allowance. Validation crops only; prints markdown tables.

    nice -n 10 .venv/bin/python bench/decoding.py [--n 500] [--seed 61] [--models DIR]

The constants these tables test (grader/recognizer.py VIEWS_BELOW and VIEWS_BELOW_BY_KIND;
grader/words.py CHINESE_NATS and RUNNERS_UP; Recognizer.read's beam_width 0) were chosen on one model.
Each new model reads differently, so a shipped model should be checked against them: this bench
reads the same validation crops under each alternative and prints, per set, the exact matches
and the crops gained and lost against the shipped setting (paired, so a difference of a few
crops in one direction says more than the totals).

Sets, all from the validation side (never the reserved fonts or the MNIST test split):
- gen-val: bench/recognizer.py's validation crops (non-reserved sources), `--seed`;
- gen-hard: the same sources drawn with Variation(hand_warp=1, pen_latin=0.5) (other hands than
  the fonts', and pen-written Latin), seed `--seed` + 100;
- real-*: the packs' held-back writers composed into the answer groups
  (grader.training.packs.held_back_items), seed `--seed`: not 2 (the compositions training chose
  its weights on) and not 17 (bench/real_writers.py's report), so no reported figure is read here.
The Chinese word-list table also reads every set with the crops' own labels taken out of the
list ("unlisted"): what the allowance costs an answer the list lacks.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import real_writers  # noqa: E402
from recognizer import BENCH_STRONG_SLANT, CATS, validation_set  # noqa: E402

from grader import recognizer as recognizer_module  # noqa: E402
from grader import words  # noqa: E402
from grader.paths import MODELS_DIR  # noqa: E402
from grader.recognizer import Recognizer  # noqa: E402
from grader.training import data, dataset, packs  # noqa: E402
from grader.training.dataset import Variation  # noqa: E402

KINDS = CATS  # number, math, text, chinese: the hard set draws kind i from rng [seed + 100, i, j]
HARD = Variation(hand_warp=1, pen_latin=0.5)
RESERVED_SEEDS = {2: "the compositions training chose its weights on",
                  real_writers.REAL_SEED: "bench/real_writers.py's report"}
VIEW_THRESHOLDS = (0.8, 0.9, 0.95, 0.99)  # each kind in its own views (recognizer.views_of)
BEAMS = (0, 4, 10)
CHINESE_SETTINGS = ((3.0, 5), (3.0, 10), (5.0, 5), (5.0, 10), (8.0, 5))  # (CHINESE_NATS, RUNNERS_UP)

Items = list[tuple[np.ndarray, str]]


@contextmanager
def patched(module: object, **values: object) -> Iterator[None]:
    """Module constants set for the duration of a reading, then put back."""
    before = {name: getattr(module, name) for name in values}
    for name, value in values.items():
        setattr(module, name, value)
    try:
        yield
    finally:
        for name, value in before.items():
            setattr(module, name, value)


def validation_sets(n: int, seed: int) -> dict[str, dict[str, Items]]:
    """Per kind, the named validation sets of (crop, label)."""
    src = data.load_sources("val")
    plain = validation_set(src, n, seed)
    sets: dict[str, dict[str, Items]] = {k: {"gen-val": plain[k]} for k in KINDS}
    for c_i, kind in enumerate(KINDS):
        sets[kind]["gen-hard"] = [dataset.make_sample(kind, src, np.random.default_rng([seed + 100, c_i, i]),
                                                      strong_slant=BENCH_STRONG_SLANT, variation=HARD)
                                  for i in range(n)]
    for group, items in packs.held_back_items(n, seed).items():
        if items:
            sets[packs.KIND_OF[group]][f"real-{group}"] = items
    return sets


def exact(rec: Recognizer, items: Items, kind: str, **read: object) -> tuple[list[bool], float]:
    """Per crop, whether the reading equals the label; and ms per crop of the reading."""
    t0 = time.perf_counter()
    readings = rec.read([c for c, _ in items], kind=kind, **read)  # type: ignore[arg-type]
    ms = (time.perf_counter() - t0) * 1000 / max(1, len(items))
    return [r.text == label for r, (_, label) in zip(readings, items)], ms


def cell(ok: Sequence[bool], ms: float | None, base: Sequence[bool]) -> str:
    gained = sum(o and not b for o, b in zip(ok, base))
    lost = sum(b and not o for o, b in zip(ok, base))
    timing = f", {ms:.1f} ms" if ms is not None else ""
    return f"{sum(ok)} (+{gained} / -{lost}{timing})"


def table(title: str, columns: Sequence[str]) -> None:
    print(f"\n### {title}\n")
    print("| kind | set | crops | " + " | ".join(columns) + " |")
    print("|---|---|---|" + "---|" * len(columns))


def views_table(rec: Recognizer, sets: dict[str, dict[str, Items]]) -> None:
    """The careful reading (views=True) as shipped against each kind read in one view and with the
    other views below each threshold of VIEW_THRESHOLDS."""
    shipped = "shipped (below " + ", ".join(f"{recognizer_module.views_below(k)} {k}" for k in KINDS) + ")"
    table("Careful reading: the other views (time: whole careful reading per crop, one thread)",
          [shipped, "one view"] + [f"views below {t}" for t in VIEW_THRESHOLDS])
    for kind, named in sets.items():
        warm_up = next(iter(named.values()))[:4]  # the word list loads outside the timing
        rec.read([c for c, _ in warm_up], kind=kind, views=True)
        for name, items in named.items():
            base, ms = exact(rec, items, kind, views=True)
            row = [cell(base, ms, base), cell(*exact(rec, items, kind, views=False), base)]
            for threshold in VIEW_THRESHOLDS:
                with patched(recognizer_module, VIEWS_BELOW=threshold, VIEWS_BELOW_BY_KIND={}):
                    ok, t = exact(rec, items, kind, views=True)
                row.append(cell(ok, t, base))
            print(f"| {kind} | {name} | {len(items)} | " + " | ".join(row) + " |")


def beam_table(rec: Recognizer, sets: dict[str, dict[str, Items]]) -> None:
    """One view, as grading reads, at each beam width (0: greedy, the default)."""
    table("Beam width (one view; time per crop)", [f"beam {b}" for b in BEAMS])
    for kind in ("text", "chinese"):
        for name, items in sets[kind].items():
            base, ms = exact(rec, items, kind)
            row = [cell(base, ms, base)]
            row += [cell(*exact(rec, items, kind, beam_width=b), base) for b in BEAMS[1:]]
            print(f"| {kind} | {name} | {len(items)} | " + " | ".join(row) + " |")


def chinese_words_table(rec: Recognizer, sets: dict[str, Items]) -> None:
    """Chinese one view at each (allowance in nats, runners-up) of CHINESE_SETTINGS, with the
    shipped list and with every set's labels taken out of it."""
    listed = words.load("chinese", rec.decoder.words_dir)
    if not isinstance(listed, words.ChineseWords):
        print("\nNo Chinese word list in the model folder: no word-list table.")
        return
    labels = {label for items in sets.values() for _, label in items}
    unlisted = words.ChineseWords(listed.words - labels)
    shipped = (words.CHINESE_NATS, words.RUNNERS_UP)
    table(f"Chinese word list: (allowance nats, runners-up); shipped {shipped}",
          [f"{nats:g} / {ru}" for nats, ru in CHINESE_SETTINGS])
    original = rec.decoder._word_list
    try:
        for which, word_list in (("listed", listed), ("unlisted", unlisted)):
            def chinese_only(kind: str | None, use_words: bool,
                             wl: words.ChineseWords = word_list) -> words.ChineseWords | None:
                return wl if use_words and kind == "chinese" else None

            rec.decoder._word_list = chinese_only  # type: ignore[method-assign]
            for name, items in sets.items():
                base, _ = exact(rec, items, "chinese")
                row = []
                for nats, runners_up in CHINESE_SETTINGS:
                    with patched(words, CHINESE_NATS=nats, RUNNERS_UP=runners_up):
                        row.append(cell(exact(rec, items, "chinese")[0], None, base))
                print(f"| chinese, {which} | {name} | {len(items)} | " + " | ".join(row) + " |")
    finally:
        rec.decoder._word_list = original  # type: ignore[method-assign]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=500, help="crops per set")
    parser.add_argument("--seed", type=int, default=61)
    parser.add_argument("--models", type=Path, default=MODELS_DIR)
    parser.add_argument("--skip-views", action="store_true")
    parser.add_argument("--skip-beam", action="store_true")
    parser.add_argument("--skip-chinese-words", action="store_true")
    args = parser.parse_args()
    if args.seed in RESERVED_SEEDS:
        parser.error(f"seed {args.seed} composes {RESERVED_SEEDS[args.seed]}; choose another")
    data.require_sources_or_exit(parser)
    rec = Recognizer.load(args.models, precision="int8", threads=1)
    t0 = time.time()
    sets = validation_sets(args.n, args.seed)
    print(f"{rec.spec.version}, int8, one thread; validation crops composed in {time.time() - t0:.0f} s "
          f"(seed {args.seed}); cells: exact matches (crops gained / lost against the first column)")
    if not args.skip_views:
        views_table(rec, sets)
    if not args.skip_beam:
        beam_table(rec, sets)
    if not args.skip_chinese_words:
        chinese_words_table(rec, sets["chinese"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
