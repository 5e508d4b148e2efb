"""The API's settings: typed, with their defaults in one place, read from the environment by
`ApiSettings.from_env` (through grader.settings)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

from grader import limits
from grader.app_auth import parse_trusted_proxies
from grader.config import GradingConfig
from grader.paths import ANSWER_KEYS_DIR
from grader.settings import DEFAULT_MAX_CONNECTIONS, MB, Settings


@dataclass(frozen=True)
class ApiSettings:
    """Everything the API needs, with its defaults in one place (see `from_env`)."""

    token: str | None = None  # None: no auth (serve-api then binds loopback only)
    max_body_bytes: int = 20 * MB
    database_url: str | None = None  # None: the store's default (GRADER_DATABASE_URL or local SQLite)
    # None: the gradebook's current model (grader.model_versions, after `adapt`), else models/
    models_dir: Path | None = None
    answer_keys_dir: Path = ANSWER_KEYS_DIR
    precision: str = "int8"  # recogniser weights: int8 (default) or fp32
    inference_threads: int = 1  # ONNX Runtime intra-op threads of the shared session
    # Crops decoded, and batches read, at once: one per core (each ONNX Runtime call uses one thread).
    max_parallel_inference: int = field(default_factory=lambda: os.cpu_count() or 2)
    max_files_per_request: int = limits.MAX_FILES_PER_REQUEST
    # Slow clients: the request line and headers, and the whole body, must arrive within these.
    header_timeout_s: float = 10.0
    body_timeout_s: float = 120.0  # 20 MB at 170 KB/s
    # Open connections at once; one more is answered 503 with Retry-After (file descriptors and
    # memory stay bounded however many clients connect).
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    # Reverse proxies whose X-Forwarded-For names the client (for the token throttle and the
    # log); empty: the TCP peer is the client and the header is ignored.
    trusted_proxies: tuple[str, ...] = ()
    grading: GradingConfig = field(default_factory=GradingConfig)  # registration .. scoring
    # Jobs (POST /jobs) run on the Dask scheduler at `cluster`, else on a local cluster of
    # `workers` processes, else in the server's process (grader.cluster).
    cluster: str | None = None
    workers: int | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> "ApiSettings":
        """GRADER_API_TOKEN, GRADER_API_MAX_BODY_MB, GRADER_API_MAX_CONNECTIONS,
        GRADER_TRUSTED_PROXIES, GRADER_DATABASE_URL, GRADER_MODELS_DIR and GRADER_CLUSTER (read
        by grader.settings), then the non-None `overrides` (serve-api's options)."""
        env = Settings.from_env(environ)
        settings = cls(
            token=env.api_token,  # an empty token means none, never "any"
            max_body_bytes=env.api_max_body_bytes(),
            database_url=env.database_url,
            models_dir=env.models_dir,
            cluster=env.cluster,
            max_connections=env.api_connection_cap(),
            trusted_proxies=tuple(str(n) for n in parse_trusted_proxies(env.trusted_proxies)),
        )
        return replace(settings, **{k: v for k, v in overrides.items() if v is not None})
