"""`GradingConfig`: every setting of grading one photo, with its defaults, in one value.

Each stage keeps its own typed settings next to the code that reads them (registration,
preprocessing, scoring, name matching); this composes them so that an edge (the CLI, the API,
the app, a benchmark) builds one value and passes it down through `grader.grading` to
`grader.pipeline.grade_photo`, and no stage falls back to a default of its own on the way.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from grader.preprocess import PreprocessConfig
from grader.registration import RegistrationConfig
from grader.roster import NameMatchConfig
from grader.scoring import ScoringConfig


@dataclass(frozen=True)
class GradingConfig:
    """registration: markers, outline and feature matching (grader.registration);
    preprocess: cleaning each answer crop and the name box (grader.preprocess);
    scoring: the verdict's thresholds (grader.scoring, chosen by bench/grading.py);
    names: how clearly a read name must win before a page gets a student (grader.roster)."""

    registration: RegistrationConfig = field(default_factory=RegistrationConfig)
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    scoring: ScoringConfig = field(default_factory=ScoringConfig)
    names: NameMatchConfig = field(default_factory=NameMatchConfig)


DEFAULT_GRADING = GradingConfig()
