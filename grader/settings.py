"""The environment, read in one place: every `GRADER_*` variable the product honours.

    settings = Settings.from_env()       # or Settings.from_env({"GRADER_DATABASE_URL": ...})

GRADER_DATABASE_URL     the gradebook (any SQLAlchemy URL); unset: data/gradebook.db
GRADER_MODELS_DIR       the recogniser's folder for the app and the API; unset: models/
GRADER_DEMO             "0" keeps the app from seeding the demo into an empty gradebook
GRADER_API_TOKEN        bearer token of the REST API; unset or empty: no token
GRADER_APP_PASSWORD     the app's password; unset or empty: the app serves this machine only
GRADER_APP_SECRET_FILE  the app's session-signing secret (made on first use); unset:
                        data/app_secret
GRADER_TRUSTED_PROXIES  reverse proxies whose X-Forwarded-For names the client (addresses or
                        networks, comma-separated); unset: none, the TCP peer is the client
GRADER_API_MAX_CONNECTIONS  open connections the REST API accepts at once (default 200)
GRADER_TEACHER          who the app records as the author of an override (the long export's
                        `by`); unset: "app"
GRADER_API_MAX_BODY_MB  largest request body of the REST API, in MB (default 20)
GRADER_CLUSTER          a Dask scheduler's address (tcp://host:8786) that batches are graded on;
                        unset: `grade --workers N` starts its own (grader.cluster)
GRADER_CACHE_DIR        downloaded training sources and rendered data sets; unset:
                        $XDG_CACHE_HOME/grader (~/.cache/grader)

Values are only read here; each edge turns them into its own typed settings (grader.api.ApiSettings,
grader.db.database_url, grader.paths.cache_dir) and passes those down explicitly. This module
imports nothing of the grader but its errors, so grader.paths can build on it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from grader.errors import GraderError

MB = 1024 * 1024
DEFAULT_MAX_BODY_MB = 20.0
DEFAULT_MAX_CONNECTIONS = 200
DATA_DIR = Path(__file__).resolve().parent.parent / "data"  # gitignored: gradebook, app secret


@dataclass(frozen=True)
class Settings:
    database_url: str | None = None
    models_dir: Path | None = None  # None: the committed models/ (grader.paths.MODELS_DIR)
    cache_dir: Path = field(default_factory=lambda: _cache_root({}))
    demo: bool = True
    api_token: str | None = None
    app_password: str | None = None
    teacher: str = "app"
    api_max_body_mb: str | None = None  # as set; parsed by api_max_body_bytes()
    cluster: str | None = None  # a Dask scheduler's address
    app_secret_file: Path = DATA_DIR / "app_secret"
    trusted_proxies: str | None = None  # as set; parsed by grader.app_auth.parse_trusted_proxies
    api_max_connections: str | None = None  # as set; parsed by api_connection_cap()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        """The settings of `environ` (default: the process environment); an empty variable
        counts as unset, so an empty token never means "any token"."""
        env = os.environ if environ is None else environ
        return cls(
            database_url=env.get("GRADER_DATABASE_URL") or None,
            models_dir=Path(env["GRADER_MODELS_DIR"]) if env.get("GRADER_MODELS_DIR") else None,
            cache_dir=_cache_root(env),
            demo=env.get("GRADER_DEMO", "1") != "0",
            api_token=env.get("GRADER_API_TOKEN") or None,
            app_password=env.get("GRADER_APP_PASSWORD") or None,
            teacher=(env.get("GRADER_TEACHER") or "").strip() or "app",
            api_max_body_mb=env.get("GRADER_API_MAX_BODY_MB") or None,
            cluster=env.get("GRADER_CLUSTER") or None,
            app_secret_file=Path(env.get("GRADER_APP_SECRET_FILE") or DATA_DIR / "app_secret"),
            trusted_proxies=env.get("GRADER_TRUSTED_PROXIES") or None,
            api_max_connections=env.get("GRADER_API_MAX_CONNECTIONS") or None,
        )

    def api_connection_cap(self) -> int:
        """GRADER_API_MAX_CONNECTIONS as a positive whole number (checked by the API only)."""
        text = self.api_max_connections or str(DEFAULT_MAX_CONNECTIONS)
        if not text.strip().isdigit() or int(text) < 1:
            raise GraderError(f"GRADER_API_MAX_CONNECTIONS must be a whole number of connections "
                              f"(1 or more), not {text!r}")
        return int(text)

    def api_max_body_bytes(self) -> int:
        """GRADER_API_MAX_BODY_MB in bytes; checked only by the API, so a typo there never
        stops the app or the command line."""
        try:
            return int(float(self.api_max_body_mb or DEFAULT_MAX_BODY_MB) * MB)
        except ValueError:
            raise GraderError(f"GRADER_API_MAX_BODY_MB must be a number of megabytes, not "
                              f"{self.api_max_body_mb!r}") from None


def _cache_root(env: Mapping[str, str]) -> Path:
    return Path(env.get("GRADER_CACHE_DIR") or os.path.join(
        env.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "grader"))
