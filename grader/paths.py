"""Where things live: the repository folders and the cache outside git."""

from __future__ import annotations

from pathlib import Path

from grader.settings import Settings

REPO_ROOT = Path(__file__).resolve().parent.parent
MODELS_DIR = REPO_ROOT / "models"
ANSWER_KEYS_DIR = REPO_ROOT / "answer_keys"


def cache_dir() -> Path:
    """Cache for downloaded training sources and rendered datasets (never committed)."""
    path = Settings.from_env().cache_dir  # GRADER_CACHE_DIR
    path.mkdir(parents=True, exist_ok=True)
    return path
