"""models/model.json as a typed ModelSpec: the committed file round-trips, a bad field is a named
error that says which, and the runtime holds the model to the spec's frame rate."""

from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pytest

from grader.errors import ModelUnavailable
from grader.lines import BUCKET, HEIGHT, MAX_WIDTH, READ_MAX_WIDTH, bucket_width, width_batches
from grader.model_spec import SPEC_FILE, LineInput, ModelSpec, ModelSpecInvalid
from grader.paths import MODELS_DIR
from grader.recognizer import Recognizer


def test_the_committed_spec_round_trips_byte_for_byte(tmp_path):
    spec = ModelSpec.load(MODELS_DIR)
    assert spec.save(tmp_path).read_text(encoding="utf-8") == (MODELS_DIR / SPEC_FILE).read_text(encoding="utf-8")
    assert ModelSpec.load(tmp_path) == spec
    # training's line geometry is the one the shipped model records; it read lines at least as
    # wide as the generated sets' (MAX_WIDTH) whole, never wider than the runtime reads
    assert spec.input.height == HEIGHT and MAX_WIDTH <= spec.input.max_width <= READ_MAX_WIDTH
    assert dataclasses.replace(spec.input, max_width=MAX_WIDTH) == LineInput()
    assert len(spec.confidence_weights) == len(spec.confidence.features) + 1


def _write(folder, change) -> None:
    raw = json.loads((MODELS_DIR / SPEC_FILE).read_text(encoding="utf-8"))
    change(raw)
    (folder / SPEC_FILE).write_text(json.dumps(raw), encoding="utf-8")


def _set(section: str, key: str, value):
    def change(raw):
        if value is _DROP:
            del raw[section][key]
        else:
            raw[section][key] = value
    return change


_DROP = object()


@pytest.mark.parametrize("change,field", [
    (_set("input", "height", _DROP), "input.height"),
    (_set("input", "height", "32"), "input.height"),
    (_set("input", "height", True), "input.height"),
    (_set("input", "max_width", 16), "input.max_width"),
    (_set("input", "channels", 3), "input.channels"),
    (_set("input", "width_multiple", 0), "input.width_multiple"),
    (_set("input", "frames_per_pixel", _DROP), "input.frames_per_pixel"),
    (_set("input", "frames_per_pixel", 0.3), "input.frames_per_pixel"),  # 8 px -> 2.4 frames
    (_set("input", "normalisation", "ink 0, paper 1"), "input.normalisation"),
    (_set("output", "blank", 1), "output.blank"),
    (_set("output", "layout", "frames, batch, classes"), "output.layout"),
    (_set("files", "int8", _DROP), "files.int8"),
    (_set("confidence", "weights", [1.0, "x"]), "confidence.weights"),
    (_set("confidence", "features", ["word_list_nats"]), "confidence.features"),
    (lambda raw: raw.pop("input"), "input"),
    (lambda raw: raw.update(charset=""), "charset"),
    (lambda raw: raw.update(version=4), "version"),
])
def test_a_bad_field_is_a_named_error(tmp_path, change, field):
    _write(tmp_path, change)
    with pytest.raises(ModelSpecInvalid, match=rf"cannot be loaded: .*{SPEC_FILE}: field `{field}`"):
        ModelSpec.load(tmp_path)
    with pytest.raises(ModelUnavailable, match=f"`{field}`"):  # what the boundaries catch
        Recognizer.load(tmp_path)


def test_a_file_that_is_not_json_names_the_file(tmp_path):
    (tmp_path / SPEC_FILE).write_text("{ not json", encoding="utf-8")
    with pytest.raises(ModelSpecInvalid, match=f"cannot be loaded: .*{SPEC_FILE}"):
        ModelSpec.load(tmp_path)


def test_an_uncalibrated_model_falls_back_to_the_weakest_character(tmp_path):
    _write(tmp_path, lambda raw: raw.pop("confidence"))
    spec = ModelSpec.load(tmp_path)
    assert spec.confidence is None and spec.confidence_weights == (1.0, 0.0, 0.0, 0.0)
    assert "confidence" not in spec.to_dict()


def test_the_runtime_checks_the_models_frame_rate_against_the_spec(tmp_path):
    for name in ("crnn.int8.onnx", "charset.txt"):
        shutil.copyfile(MODELS_DIR / name, tmp_path / name)
    _write(tmp_path, _set("input", "frames_per_pixel", 0.5))  # the model gives 0.25 per px
    rec = Recognizer.load(tmp_path)
    line = np.zeros((HEIGHT, 40), np.float32)
    with pytest.raises(ModelUnavailable, match="frames_per_pixel"):
        rec.log_probs_lines([line])
    rec = Recognizer.load(MODELS_DIR)
    [lp] = rec.log_probs_lines([line])
    assert lp.shape[0] == rec.spec.input.frames(bucket_width(40)) == bucket_width(40) // 4


def test_width_batches_pad_each_line_to_its_own_bucket():
    lines = [np.ones((HEIGHT, w), np.float32) for w in (20, 33, 16, 40)]
    batches = list(width_batches(lines, HEIGHT, batch_size=8))
    assert [idx for idx, _ in batches] == [[2], [0], [1, 3]]
    assert [x.shape for _, x in batches] == [(1, 1, HEIGHT, 16), (1, 1, HEIGHT, 32), (2, 1, HEIGHT, 48)]
    _, x = batches[2]
    assert x[0, 0, :, :33].all() and not x[0, 0, :, 33:].any()
    assert all(bucket_width(w) % BUCKET == 0 for w in range(1, 400))


def test_a_spec_is_frozen():
    spec = ModelSpec.load(MODELS_DIR)
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.version = "other"  # type: ignore[misc]
