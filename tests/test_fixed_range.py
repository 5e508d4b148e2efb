"""The int8 network reads a crop the same whatever else is in its batch
(grader/training/fixed_range.py): the pinned ranges change nothing in the float network, hold
their values, and make the quantized BiLSTM's scale independent of the batch."""

from __future__ import annotations

import cv2
import numpy as np
import onnxruntime as ort
import pytest
import torch

from grader.model_spec import INPUT_NAME, LineInput, ModelOutput
from grader.paths import MODELS_DIR
from grader.training.export import INT8_NAME, export_onnx, lstm_input_max, quantize_fixed_range
from grader.training.fixed_range import FixedRangeCRNN
from grader.training.model import CRNN, ModelConfig
from grader.training.train import LineDataset

HIDDEN = 8


def _written(text: str, width: int = 96) -> np.ndarray:
    """A white-on-black line as the network takes it: (1, 1, 32, width) in 0..1."""
    img = np.zeros((32, width), np.uint8)
    cv2.putText(img, text, (3, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, 255, 2)
    return (img / 255.0).astype(np.float32)[None, None]


# Something the quantizer would otherwise scale differently: noise, a blank, a full-white crop.
OTHERS = {"noise": np.random.default_rng(0).random((1, 1, 32, 96), dtype=np.float32),
          "blank": np.zeros((1, 1, 32, 96), np.float32), "white": np.ones((1, 1, 32, 96), np.float32)}


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    model = CRNN(ModelConfig(num_classes=12, channels=(4, 8, 8, 8, 8, 8), rnn_hidden=HIDDEN)).eval()
    with torch.no_grad():  # BatchNorm at its initial statistics would pass features through unchanged: vary them
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2.0)
    return model


def test_the_float_network_computes_what_the_crnn_computes(tiny):
    fixed = FixedRangeCRNN(tiny, feature_max=3.0).eval()
    x = torch.rand(3, 1, 32, 64)
    with torch.no_grad():
        torch.testing.assert_close(fixed(x), tiny(x), atol=1e-6, rtol=0)


def test_the_pinned_features_and_units_hold_their_values(tiny):
    fixed = FixedRangeCRNN(tiny, feature_max=3.0).eval()
    x = torch.rand(2, 1, 32, 64)
    with torch.no_grad():
        f = fixed.cnn(x).squeeze(2).transpose(1, 2)
        f = torch.cat([f, fixed.feature_pins.expand(2, f.shape[1], 2)], 2)
        assert f[..., -2:].unique().tolist() == [0.0, 3.0]
        for lstm in fixed.layers:
            f, _ = lstm(f, (fixed.h0.expand(-1, 2, -1).contiguous(), fixed.c0.expand(-1, 2, -1).contiguous()))
            for direction in (0, HIDDEN + 2):  # forward units, then backward units
                assert (f[..., direction + HIDDEN] == 1.0).all()
                assert (f[..., direction + HIDDEN + 1] == -1.0).all()
            real = torch.cat([f[..., :HIDDEN], f[..., HIDDEN + 2:2 * HIDDEN + 2]], 2)
            assert real.abs().max() < 1.0


def _alone_and_in_batches(path) -> float:
    """Largest logit difference of a crop read alone and beside each of OTHERS."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    crop = _written("3/4+x")
    alone = session.run(None, {INPUT_NAME: crop})[0][0]
    return max(float(np.abs(session.run(None, {INPUT_NAME: np.concatenate([crop, other])})[0][0] - alone).max())
               for other in OTHERS.values())


def test_quantizing_with_pinned_ranges_reads_a_crop_the_same_in_any_batch(tiny, tmp_path):
    images = np.concatenate([(_written(t) * 255).astype(np.uint8)[0] for t in ("12", "3/4", "x+7", "905")] * 4)
    data = LineDataset(images, np.full(len(images), 96, np.int32), np.zeros(len(images), np.int8),
                       [""] * len(images), {})
    line = LineInput(height=32, max_width=96)
    fp32, int8 = tmp_path / "tiny.onnx", tmp_path / "tiny.int8.onnx"
    export_onnx(tiny, fp32, line, ModelOutput())
    feature_max = quantize_fixed_range(tiny, fp32, int8, line, data)
    assert feature_max > 0 and lstm_input_max(int8) == feature_max
    assert _alone_and_in_batches(int8) == 0.0


def test_the_shipped_int8_network_reads_a_crop_the_same_in_any_batch():
    """Before the pins (crnn-9's first int8 file) the same crop's logits moved by up to 0.23."""
    assert _alone_and_in_batches(MODELS_DIR / INT8_NAME) == 0.0
