"""Training code: one optimisation step learns, the generator's crops look like the paper
side's ink crops, the learning-rate schedule, and ONNX export agrees with PyTorch."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from grader import ctc
from grader.charset import default_charset
from grader.paths import MODELS_DIR
from grader.recognizer import BUCKET, Recognizer, prepare_line, prepare_line_u8
from grader.training.model import CRNN, ModelConfig
from grader.training.synth import chinese_numeral, number_label, math_label
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
    for crop, label, _ in crops:
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
