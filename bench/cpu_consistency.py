"""Does the int8 model read the same on a CPU without VNNI? Prints a markdown table.

    .venv/bin/python bench/cpu_consistency.py [--crops 48] [--models models/crnn.int8.onnx ...]

School PCs are often AVX2 machines without VNNI, where onnxruntime multiplies uint8 by int8 with
instructions that saturate at 16 bits; a model quantised with 8-bit weights then reads otherwise
than on the machine it was checked on. valgrind's CPU offers AVX2 and no AVX-512 or VNNI, so the
same crops' logits are computed here natively and under `valgrind --tool=none` (Debian's valgrind
package; about 20x slower) and compared. Crops: generated validation lines (cache_dir()/dataset/val:
`python -m grader.training render`), every 100th, so the set is the same on every run.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from grader import ctc  # noqa: E402
from grader.charset import load_charset  # noqa: E402
from grader.paths import MODELS_DIR, cache_dir  # noqa: E402


def _crops(count: int):
    from grader.training.train import LineDataset

    chars = load_charset(MODELS_DIR / "charset.txt")
    val_dir = cache_dir() / "dataset" / "val"
    if not (val_dir / "labels.json").exists():
        raise SystemExit(f"no validation lines in {val_dir}: run `python -m grader.training render` first")
    val = LineDataset.load(val_dir, {c: i for i, c in enumerate(chars)})
    idx = np.arange(0, len(val), 100)[:count]
    return val, idx[np.argsort(val.widths[idx])], chars


def dump(models: list[str], count: int, out: Path) -> None:
    """The logits of the crops under each model, one .npz per model (child mode)."""
    from grader.model_spec import INPUT_NAME
    from grader.training.export import _session

    val, idx, _ = _crops(count)
    for k, path in enumerate(models):
        sess = _session(Path(path), threads=1)
        batches = [sess.run(None, {INPUT_NAME: val.batch(idx[i:i + 16])[0].numpy()})[0] for i in range(0, len(idx), 16)]
        np.savez(out / f"{k}.npz", *batches)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--crops", type=int, default=48)
    parser.add_argument("--models", nargs="+", default=[str(MODELS_DIR / "crnn.int8.onnx")])
    parser.add_argument("--dump", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.dump:
        dump(args.models, args.crops, args.dump)
        return 0
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise SystemExit("valgrind is not installed (Debian: apt-get install valgrind)")
    val, idx, chars = _crops(args.crops)
    me = [sys.executable, str(Path(__file__).resolve()), "--crops", str(args.crops), "--models", *args.models]
    with tempfile.TemporaryDirectory() as tmp:
        native, emulated = Path(tmp) / "native", Path(tmp) / "avx2"
        native.mkdir(), emulated.mkdir()
        subprocess.run([*me, "--dump", str(native)], check=True)
        subprocess.run([valgrind, "--tool=none", "-q", *me, "--dump", str(emulated)], check=True)
        print(f"{len(idx)} generated validation lines, one thread; AVX2 without VNNI = valgrind's CPU\n")
        print("| model | max abs logit difference | frames whose best class differs "
              "| read right here | read right on AVX2 |")
        print("|---|---|---|---|---|")
        for k, path in enumerate(args.models):
            a, b = np.load(native / f"{k}.npz"), np.load(emulated / f"{k}.npz")
            diff = max(float(np.abs(a[f] - b[f]).max()) for f in a.files)
            frames = sum(int((a[f].argmax(-1) != b[f].argmax(-1)).sum()) for f in a.files)
            total = sum(a[f].shape[0] * a[f].shape[1] for f in a.files)

            def right(z) -> int:
                texts = [ctc.greedy_decode(lp, chars) for f in z.files for lp in ctc.log_softmax(z[f])]
                return sum(t == val.labels[i] for t, i in zip(texts, idx))

            n = len(idx)
            print(f"| {path} | {diff:.3g} | {frames} of {total} | {right(a)} of {n} | {right(b)} of {n} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
