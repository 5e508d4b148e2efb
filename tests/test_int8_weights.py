"""The shipped int8 file reads the same on every x86 CPU: its weights lie in [-64, 64] (7-bit,
symmetric), so the uint8 x int8 pair sums of a CPU without VNNI (16-bit, saturating) cannot
overflow: 2 x 255 x 64 = 32,640 < 32,767. With 8-bit weights
such a CPU read otherwise than a VNNI one: CI failed two recogniser tests that way
(bench/cpu_consistency.py compares the logits under valgrind's AVX2 CPU)."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, numpy_helper

from grader.paths import MODELS_DIR
from grader.training.export import INT8_NAME


def test_the_shipped_int8_weights_fit_seven_bits():
    model = onnx.load(str(MODELS_DIR / INT8_NAME))
    weights = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer if t.data_type == TensorProto.INT8}
    big = {name: a for name, a in weights.items() if a.size >= 64}  # weights, not zero points
    assert len(big) >= 8, "the convolutions' and the BiLSTM's weights are int8"
    users = {n.op_type for n in model.graph.node for i in n.input if i in big}
    assert {"DequantizeLinear", "DynamicQuantizeLSTM"} <= users
    wide = {name: (int(a.min()), int(a.max())) for name, a in big.items() if np.abs(a.astype(int)).max() > 64}
    assert not wide, wide
    assert max(int(np.abs(a).max()) for a in big.values()) >= 60  # 7 bits used, not fewer
