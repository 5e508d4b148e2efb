"""Where things live: the repository folders and the cache outside git."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
MODELS_DIR = REPO_ROOT / "models"
ANSWER_KEYS_DIR = REPO_ROOT / "answer_keys"


def cache_dir() -> Path:
    """Cache for downloaded training sources and rendered datasets (never committed)."""
    root = os.environ.get("GRADER_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "grader"
    )
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path
