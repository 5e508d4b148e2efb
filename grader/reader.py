"""What grading needs of a handwriting recogniser (`Reader`), and the one way to load ours.

`grader.recognizer.Recognizer` satisfies `Reader`; the pipeline, the grading service and the API
are written against the protocol, so they name what they use and a test or another model can
stand in without the ONNX runtime.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

from grader.recognizer import Recognizer


class Read(Protocol):
    """One reading of a crop."""

    @property
    def text(self) -> str: ...

    @property
    def confidence(self) -> float: ...  # calibrated probability that `text` is exactly right


class Reader(Protocol):
    """A recogniser as grading uses it: the model's output frames of each crop, the reading
    decoded from them, and the CTC likelihood of any string (the key-aware verdict)."""

    @property
    def version(self) -> str: ...  # the model's version (model.json), stored with each reading

    def log_probs(self, crops: Sequence[np.ndarray],
                  kind: str | None | Sequence[str | None] = None) -> list[np.ndarray]: ...

    def decode(self, log_probs: np.ndarray, kind: str | None = None, beam_width: int = 0,
               use_words: bool = True) -> Read: ...

    def string_log_likelihoods(self, log_probs: np.ndarray, candidates: Sequence[str],
                               kind: str | None = None) -> Sequence[float]: ...

    def read(self, crops: Sequence[np.ndarray], kind: str | None | Sequence[str | None] = None,
             beam_width: int = 0, use_words: bool = True,
             views: bool = False) -> Sequence[Read]: ...


def load_reader(models_dir: str | Path | None = None, precision: str = "int8",
                threads: int = 1) -> Reader:
    """Our recogniser from `models_dir` (None: the committed models/); ModelUnavailable when the
    folder lacks it (ONNX Runtime itself is loaded only here, by Recognizer.load)."""
    if models_dir is None:
        return Recognizer.load(precision=precision, threads=threads)
    return Recognizer.load(models_dir, precision=precision, threads=threads)
