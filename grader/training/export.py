"""Export a trained checkpoint to models/: ONNX fp32, static QDQ int8, charset, model.json.

    python -m grader.training.export [--checkpoint PATH] [--out models/]

The graph ends at the logits (B, T, C); the runtime applies log-softmax and decoding, so
training and serving share grader/ctc.py. int8 is static QDQ quantisation calibrated on
generated validation crops (DESIGN.md: dynamic int8 is slower on convolutions). Accuracy and
speed of both are measured here; if int8 is not faster at equal accuracy, the fp32 graph is
written as crnn.int8.onnx so the runtime's default stays the best choice.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from grader import ctc
from grader.charset import save_charset
from grader.errors import ModelUnavailable
from grader.model_spec import INPUT_NAME, LineInput, ModelFiles, ModelOutput, ModelSpec
from grader.paths import MODELS_DIR, cache_dir
from grader.training.fixed_range import FixedRangeCRNN
from grader.training.labels import CATEGORIES
from grader.training.model import CRNN
from grader.training.packs import REAL_MAX_WIDTH
from grader.training.train import LineDataset, load_model

FP32_NAME = "crnn.onnx"
INT8_NAME = "crnn.int8.onnx"
MODEL_VERSION = "crnn-10"
# The widest line the model trained on whole (the composed real writers' lines); the runtime reads
# wider lines in overlapping windows of this width.
TRAINED_MAX_WIDTH = REAL_MAX_WIDTH


def export_onnx(model: torch.nn.Module, path: Path, line: LineInput, output: ModelOutput) -> None:
    dummy = torch.rand(2, 1, line.height, 12 * line.width_multiple)  # any valid width (96 px)
    torch.onnx.export(model, (dummy,), str(path), input_names=[INPUT_NAME], output_names=[output.name],
                      dynamic_axes={INPUT_NAME: {0: "batch", 3: "width"}, output.name: {0: "batch", 1: "frames"}},
                      opset_version=17, dynamo=False)


class _Calibration:
    """Feeds onnxruntime's static quantiser batches of generated validation lines."""

    def __init__(self, data: LineDataset, count: int, batch: int = 16):
        idx = np.random.default_rng(0).choice(len(data), size=min(count, len(data)), replace=False)
        idx = idx[np.argsort(data.widths[idx])]
        self.batches = [data.batch(idx[i:i + batch])[0].numpy() for i in range(0, len(idx), batch)]
        self.pos = 0

    def get_next(self):
        if self.pos >= len(self.batches):
            return None
        self.pos += 1
        return {INPUT_NAME: self.batches[self.pos - 1]}

    def rewind(self):
        self.pos = 0


def quantize(fp32: Path, out: Path, data: LineDataset, count: int = 320) -> None:
    """Static QDQ int8 for the convolutions and matrix products, dynamic int8 for the BiLSTM.

    Weights use 7 bits (reduce_range). With 8-bit weights, a CPU without VNNI (AVX2 only, as in
    many school PCs) multiplies uint8 activations by int8 weights with instructions that add pairs
    into 16 bits and saturate, so it read differently from a VNNI CPU: crnn-5's first int8 file
    under valgrind (which offers AVX2, no AVX-512 or VNNI) gave logits up to 16 apart and failed
    two recogniser tests that pass on a VNNI CPU. With 7 bits the pairs cannot saturate and the
    logits are bit-identical on both (bench/cpu_consistency.py)."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_dynamic, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(fp32), str(pre), skip_symbolic_shape=True)
        static = Path(tmp) / "static.onnx"
        quantize_static(str(pre), str(static), _Calibration(data, count), quant_format=QuantFormat.QDQ,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True,
                        reduce_range=True, calibrate_method=CalibrationMethod.MinMax,
                        op_types_to_quantize=["Conv", "MatMul", "Gemm"])
        # The BiLSTM stays fp32 under static QDQ and was 38 % of the int8 network's time (ORT
        # profile, batch 32): its weights go int8 with dynamically quantized inputs
        # (DynamicQuantizeLSTM), 2.06-2.09 -> 1.61-1.76 ms per crop, and half the file.
        root = logging.getLogger()
        level, root.level = root.level, logging.ERROR  # its "already quantized?" warning: it is, on purpose
        try:
            quantize_dynamic(str(static), str(out), op_types_to_quantize=["LSTM"], weight_type=QuantType.QInt8,
                             reduce_range=True)
        finally:
            root.level = level


def lstm_input_max(int8: Path) -> float:
    """The largest value the int8 graph can feed its first BiLSTM layer: the first
    DynamicQuantizeLSTM's input traced back (through ReLU, reshaping and the pins' Concat) to the
    static DequantizeLinear of the last convolution, whose top code is (255 - zero point) * scale,
    computed in float32 as onnxruntime dequantizes."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(int8)).graph
    producer = {o: n for n in graph.node for o in n.output}
    init = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    lstm = next(n for n in graph.node if n.op_type == "DynamicQuantizeLSTM")
    node = producer[lstm.input[0]]
    while node.op_type in ("Transpose", "Squeeze", "Relu", "Reshape", "Concat"):
        node = producer[node.input[0]]
    if node.op_type != "DequantizeLinear":
        raise RuntimeError(f"the first BiLSTM's input comes from {node.op_type}, not a static DequantizeLinear")
    scale, zero = init[node.input[1]], init[node.input[2]]
    if scale.size != 1 or zero.dtype != np.uint8:
        raise RuntimeError("the BiLSTM's input is not quantized per tensor to uint8")
    return float(np.float32(255 - int(zero)) * np.float32(scale))


def quantize_fixed_range(model: CRNN, fp32: Path, out: Path, line: LineInput, data: LineDataset) -> float:
    """int8 whose reading of a crop does not depend on the other crops in the batch
    (grader/training/fixed_range.py): quantize once to learn the range the static convolutions
    give the BiLSTM, then quantize the network with that range pinned. The two passes calibrate
    the same convolutions on the same crops, so they must agree on the range. Returns it."""
    quantize(fp32, out, data)
    feature_max = lstm_input_max(out)
    with tempfile.TemporaryDirectory() as tmp:
        pinned = Path(tmp) / "pinned.onnx"
        export_onnx(FixedRangeCRNN(model, feature_max).eval(), pinned, line, ModelOutput())
        quantize(pinned, out, data)
    if lstm_input_max(out) != feature_max:
        raise RuntimeError("the pinned network's static range differs from the first pass's")
    return feature_max


def _session(path: Path, threads: int = 1):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def onnx_accuracy(path: Path, data: LineDataset, chars: list[str], limit: int) -> dict:
    sess = _session(path, threads=2)
    idx_all = np.arange(min(limit, len(data)))
    order = idx_all[np.argsort(data.widths[idx_all])]
    hit = {c: [0, 0] for c in CATEGORIES}
    for i in range(0, len(order), 64):
        idx = order[i:i + 64]
        x = data.batch(idx)[0].numpy()
        lp = ctc.log_softmax(sess.run(None, {INPUT_NAME: x})[0])
        for j, k in enumerate(idx):
            h = hit[CATEGORIES[data.cats[k]]]
            h[0] += ctc.greedy_decode(lp[j], chars) == data.labels[k]
            h[1] += 1
    out = {c: h[0] / h[1] for c, h in hit.items() if h[1]}
    out["all"] = sum(h[0] for h in hit.values()) / sum(h[1] for h in hit.values())
    return out


def ms_per_crop(paths: list[Path], height: int, batch: int = 32, width: int = 160, repeats: int = 8) -> list[float]:
    """One-thread ms per crop of each model, runs interleaved and the fastest kept, so load
    from other processes on a shared machine biases neither side."""
    sessions = [_session(p, threads=1) for p in paths]
    x = np.random.default_rng(0).random((batch, 1, height, width), dtype=np.float32)
    best = [float("inf")] * len(paths)
    for s in sessions:
        s.run(None, {INPUT_NAME: x})
    for _ in range(repeats):
        for k, s in enumerate(sessions):
            t0 = time.perf_counter()
            s.run(None, {INPUT_NAME: x})
            best[k] = min(best[k], time.perf_counter() - t0)
    return [b / batch * 1000 for b in best]


def export(checkpoint: Path, out: Path, val_limit: int = 2000, version: str = MODEL_VERSION,
           max_width: int = TRAINED_MAX_WIDTH) -> ModelSpec:
    model, ckpt = load_model(checkpoint)
    earlier = _earlier_export(out, ckpt["step"])
    val_metrics = ckpt.get("metrics") or (earlier.training.get("val_metrics") if earlier else None)
    chars = ckpt["charset"]
    index = {c: i for i, c in enumerate(chars)}
    val = LineDataset.load(cache_dir() / "dataset" / "val", index)
    line = LineInput(height=model.cfg.height, max_width=max_width)  # the rest: grader.lines' defaults
    out.mkdir(parents=True, exist_ok=True)
    fp32, int8 = out / FP32_NAME, out / INT8_NAME
    export_onnx(model, fp32, line, ModelOutput())
    lstm_max = quantize_fixed_range(model, fp32, int8, line, val)
    acc_fp32 = onnx_accuracy(fp32, val, chars, val_limit)
    acc_int8 = onnx_accuracy(int8, val, chars, val_limit)
    t32, t8 = ms_per_crop([fp32, int8], line.height)
    speed = {"fp32_ms_b32": round(t32, 3), "int8_ms_b32": round(t8, 3)}
    int8_kept = acc_int8["all"] >= acc_fp32["all"] - 0.01 and speed["int8_ms_b32"] < speed["fp32_ms_b32"]
    if not int8_kept:
        shutil.copyfile(fp32, int8)
    save_charset(chars, out / "charset.txt")
    torch.save({"model": model.state_dict(), "model_config": ckpt["model_config"],
                "train_config": ckpt["train_config"], "step": ckpt["step"], "charset_file": "charset.txt",
                "elapsed_s": ckpt.get("elapsed_s", 0.0), "prior_s": ckpt.get("prior_s", 0.0)},
               out / "crnn.pt")
    spec = ModelSpec(
        version=version, charset="charset.txt",
        files=ModelFiles(fp32=FP32_NAME, int8=INT8_NAME, checkpoint="crnn.pt"), input=line,
        exported=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        int8={"static_qdq_kept": int8_kept, "calibration_crops": 320,
              "lstm": ("dynamic int8 (DynamicQuantizeLSTM), input ranges pinned (fixed_range.py): "
                       "a crop reads the same alone and in any batch"),
              "lstm_input_max": lstm_max,
              "weights": "7-bit (reduce_range): the same readings on CPUs with and without VNNI"},
        training={"step": ckpt["step"],  # all runs: --init carries steps and time forward
                  "elapsed_s": round(ckpt.get("elapsed_s", 0.0) + ckpt.get("prior_s", 0.0)),
                  "val_metrics": val_metrics},
        metrics={"val_exact_fp32": acc_fp32, "val_exact_int8": acc_int8, **speed},
        confidence=earlier.confidence if earlier else None)
    spec.save(out)
    return spec


def _earlier_export(out: Path, step: int) -> ModelSpec | None:
    """The model.json already in `out` when it describes the same weights (same training step):
    a re-export (new quantisation, say) keeps its confidence calibration and training metrics."""
    try:
        old = ModelSpec.load(out)
    except ModelUnavailable:  # none yet, or a file this version cannot read: fit afresh
        return None
    return old if old.training.get("step") == step else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader.training.export")
    parser.add_argument("--checkpoint", type=Path, default=cache_dir() / "train" / "best.pt")
    parser.add_argument("--out", type=Path, default=MODELS_DIR)
    parser.add_argument("--val-limit", type=int, default=2000)
    parser.add_argument("--version", default=MODEL_VERSION, help="the name model.json and every reading carry")
    parser.add_argument("--max-width", type=int, default=TRAINED_MAX_WIDTH,
                        help="widest line (px) read whole; wider ones are read in windows")
    args = parser.parse_args(argv)
    spec = export(args.checkpoint, args.out, args.val_limit, args.version, args.max_width)
    print(json.dumps(spec.metrics, indent=2))
    print("int8 static QDQ kept:", spec.int8["static_qdq_kept"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
