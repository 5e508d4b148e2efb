"""models/model.json as typed data: what a trained recogniser is and how to feed it.

    spec = ModelSpec.load(models_dir)     # ModelSpecInvalid names the file and the field
    spec.input.height, spec.files.onnx("int8"), spec.confidence_weights
    spec.save(out_dir)                    # the exporter and the calibration write it back

The exporter (grader/training/export.py) writes the file from this class, the calibration
(grader/training/calibrate.py) adds its weights to it and the runtime (grader.recognizer) reads
its input geometry, files and calibration from it, so no reader repeats the format. Reports (the
int8 choice, training history, metrics, the calibration's reliability table) ride along as
plain records for the model card; only what the runtime relies on is typed and checked.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader import ctc
from grader.confidence import FEATURES, UNCALIBRATED
from grader.errors import ModelUnavailable
from grader.lines import FRAMES_PER_PIXEL, HEIGHT, MAX_WIDTH, NORMALISATION, WIDTH_MULTIPLE

SPEC_FILE = "model.json"
INPUT_NAME = "image"  # the ONNX graph's input, as the exporter names it
LAYOUT = "batch, frames, classes"
PRECISIONS = ("int8", "fp32")


class ModelSpecInvalid(ModelUnavailable):
    """model.json is missing, unreadable or has a bad field; the message names file and field."""


@dataclass(frozen=True)
class LineInput:
    """The lines the model reads (grader.lines): their geometry and normalisation."""

    height: int = HEIGHT
    max_width: int = MAX_WIDTH
    channels: int = 1
    width_multiple: int = WIDTH_MULTIPLE  # an input's width must be a multiple of this
    normalisation: str = NORMALISATION
    frames_per_pixel: float = FRAMES_PER_PIXEL  # output frames per px of (padded) input width

    def frames(self, width: int) -> int:
        """Output frames for an input `width` px wide (a multiple of width_multiple)."""
        return round(width * self.frames_per_pixel)


@dataclass(frozen=True)
class ModelOutput:
    name: str = "logits"
    blank: int = ctc.BLANK
    layout: str = LAYOUT


@dataclass(frozen=True)
class ModelFiles:
    fp32: str
    int8: str
    checkpoint: str | None = None  # the PyTorch weights training continues from

    def onnx(self, precision: str) -> str:
        if precision not in PRECISIONS:
            raise ValueError("precision must be 'int8' or 'fp32'")
        return self.fp32 if precision == "fp32" else self.int8


@dataclass(frozen=True)
class Calibration:
    """Logistic weights over grader.confidence.FEATURES (bias last) and the fit's report."""

    weights: tuple[float, ...]
    features: tuple[str, ...]
    report: Mapping[str, Any] = field(default_factory=dict)  # fitted_on, reliability, ...

    def to_dict(self) -> dict[str, Any]:
        return {"weights": list(self.weights), "features": list(self.features), **self.report}


@dataclass(frozen=True)
class ModelSpec:
    version: str
    charset: str  # file name of the charset, next to model.json
    files: ModelFiles
    input: LineInput = LineInput()
    output: ModelOutput = ModelOutput()
    exported: str = ""  # UTC time of the export
    # Reports for the model card; the runtime does not read them.
    int8: Mapping[str, Any] = field(default_factory=dict)
    training: Mapping[str, Any] = field(default_factory=dict)
    metrics: Mapping[str, Any] = field(default_factory=dict)
    confidence: Calibration | None = None

    @property
    def confidence_weights(self) -> tuple[float, ...]:
        return self.confidence.weights if self.confidence else UNCALIBRATED

    @classmethod
    def load(cls, models_dir: Path | str) -> ModelSpec:
        path = Path(models_dir) / SPEC_FILE
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ModelSpecInvalid(f"the handwriting model in {path.parent} cannot be loaded: "
                                   f"{path}: {error}") from error
        return _Parser(path).spec(raw)

    def to_dict(self) -> dict[str, Any]:
        """The JSON record, in the order the file has always had."""
        out: dict[str, Any] = {"version": self.version, "exported": self.exported,
                               "input": dataclasses.asdict(self.input),
                               "output": dataclasses.asdict(self.output), "charset": self.charset,
                               "files": {k: v for k, v in dataclasses.asdict(self.files).items() if v}}
        out.update({name: dict(report) for name, report in
                    (("int8", self.int8), ("training", self.training), ("metrics", self.metrics)) if report})
        if self.confidence:
            out["confidence"] = self.confidence.to_dict()
        return out

    def save(self, models_dir: Path | str) -> Path:
        path = Path(models_dir) / SPEC_FILE
        path.write_text(json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        return path


_REQUIRED = object()


class _Parser:
    """model.json's record -> ModelSpec, each bad field a ModelSpecInvalid naming it."""

    def __init__(self, path: Path):
        self.path = path

    def error(self, name: str, problem: str) -> ModelSpecInvalid:
        return ModelSpecInvalid(f"the handwriting model in {self.path.parent} cannot be loaded: "
                                f"{self.path}: field `{name}` {problem}")

    def section(self, raw: Mapping[str, Any], name: str, required: bool = True) -> Mapping[str, Any]:
        value = raw.get(name.rsplit(".", 1)[-1], _REQUIRED if required else {})
        if value is _REQUIRED:
            raise self.error(name, "is missing")
        if not isinstance(value, Mapping):
            raise self.error(name, f"must be an object, got {value!r}")
        return value

    def text(self, raw: Mapping[str, Any], name: str, default: Any = _REQUIRED) -> Any:
        value = raw.get(name.rsplit(".", 1)[-1], default)
        if value is _REQUIRED:
            raise self.error(name, "is missing")
        if value is not default and (not isinstance(value, str) or not value):
            raise self.error(name, f"must be a non-empty string, got {value!r}")
        return value

    def positive(self, raw: Mapping[str, Any], name: str, kind: type = int) -> Any:
        value = raw.get(name.rsplit(".", 1)[-1], _REQUIRED)
        if value is _REQUIRED:
            raise self.error(name, "is missing")
        numeric = (int,) if kind is int else (int, float)
        if isinstance(value, bool) or not isinstance(value, numeric) or value <= 0:
            raise self.error(name, f"must be a positive {'integer' if kind is int else 'number'}, got {value!r}")
        return kind(value)

    def spec(self, raw: Any) -> ModelSpec:
        if not isinstance(raw, Mapping):
            raise self.error("(top level)", f"must be an object, got {type(raw).__name__}")
        confidence = self.section(raw, "confidence", required=False)
        return ModelSpec(version=self.text(raw, "version"), charset=self.text(raw, "charset"),
                         files=self.files(self.section(raw, "files")),
                         input=self.input(self.section(raw, "input")),
                         output=self.output(self.section(raw, "output")),
                         exported=self.text(raw, "exported", ""),
                         int8=self.section(raw, "int8", required=False),
                         training=self.section(raw, "training", required=False),
                         metrics=self.section(raw, "metrics", required=False),
                         confidence=self.calibration(confidence) if confidence else None)

    def input(self, raw: Mapping[str, Any]) -> LineInput:
        line = LineInput(height=self.positive(raw, "input.height"),
                         max_width=self.positive(raw, "input.max_width"),
                         channels=self.positive(raw, "input.channels"),
                         width_multiple=self.positive(raw, "input.width_multiple"),
                         normalisation=self.text(raw, "input.normalisation", NORMALISATION),
                         frames_per_pixel=self.positive(raw, "input.frames_per_pixel", float))
        if line.channels != 1:
            raise self.error("input.channels", f"must be 1 (grayscale lines), got {line.channels}")
        if line.max_width < line.height:
            raise self.error("input.max_width", f"must be at least input.height ({line.height}), got {line.max_width}")
        # every padded width must map to a whole number of output frames
        if (line.width_multiple * line.frames_per_pixel) % 1:
            raise self.error("input.frames_per_pixel", f"times input.width_multiple ({line.width_multiple}) "
                                                       f"must be a whole number of frames, got {line.frames_per_pixel}")
        if line.normalisation != NORMALISATION:  # the runtime can only prepare lines one way
            raise self.error("input.normalisation", f"must be the one grader.lines implements "
                                                    f"({NORMALISATION!r}), got {line.normalisation!r}")
        return line

    def output(self, raw: Mapping[str, Any]) -> ModelOutput:
        blank = raw.get("blank")
        if blank != ctc.BLANK or isinstance(blank, bool):  # grader.ctc decodes with its own blank
            raise self.error("output.blank", f"must be {ctc.BLANK} (the CTC blank of grader.ctc), got {blank!r}")
        layout = self.text(raw, "output.layout")
        if layout != LAYOUT:
            raise self.error("output.layout", f"must be {LAYOUT!r}, got {layout!r}")
        return ModelOutput(name=self.text(raw, "output.name"), blank=ctc.BLANK, layout=layout)

    def files(self, raw: Mapping[str, Any]) -> ModelFiles:
        return ModelFiles(fp32=self.text(raw, "files.fp32"), int8=self.text(raw, "files.int8"),
                          checkpoint=self.text(raw, "files.checkpoint", None))

    def calibration(self, raw: Mapping[str, Any]) -> Calibration:
        weights, features = raw.get("weights"), raw.get("features")
        if (not isinstance(weights, list) or len(weights) < 2
                or not all(isinstance(w, (int, float)) and not isinstance(w, bool) for w in weights)):
            raise self.error("confidence.weights", f"must be a list of at least two numbers, got {weights!r}")
        n = len(weights) - 1  # the bias comes last
        if features != list(FEATURES[:n]):
            raise self.error("confidence.features", f"must name the first {n} of {list(FEATURES)} "
                                                    f"(one per weight before the bias), got {features!r}")
        report = {k: v for k, v in raw.items() if k not in ("weights", "features")}
        return Calibration(tuple(float(w) for w in weights), tuple(features), report)
