"""`python -m grader serve-api [--host 127.0.0.1] [--port 8000]`: the REST API through uvicorn.

Without GRADER_API_TOKEN anyone who can reach the port could read and grade, so the server then
binds loopback addresses only and refuses anything else with a message saying how to fix it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from grader.app_auth import is_loopback
from grader.errors import GraderError

__all__ = ["add_arguments", "is_loopback", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    parser.add_argument("--db", default=None,
                        help="database URL (default: GRADER_DATABASE_URL or the local SQLite file)")
    parser.add_argument("--models-dir", type=Path, default=None, help="recogniser folder (default: models/)")
    parser.add_argument(
        "--max-body-mb", type=float, default=None,
        help="largest request body in MB (default: GRADER_API_MAX_BODY_MB or 20)",
    )
    parser.add_argument("--header-timeout", type=float, default=None, metavar="S",
                        help="seconds a client has for a request's headers (default 10)")
    parser.add_argument("--body-timeout", type=float, default=None, metavar="S",
                        help="seconds a client has for a request's body (default 120)")
    parser.add_argument("--max-connections", type=int, default=None, metavar="N",
                        help="open connections at once; one more is answered 503 (default: "
                             "GRADER_API_MAX_CONNECTIONS or 200)")
    parser.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])


def run(args: argparse.Namespace) -> int:
    from grader.api import MB, ApiSettings

    overrides = {
        "database_url": args.db,
        "models_dir": args.models_dir,
        "max_body_bytes": int(args.max_body_mb * MB) if args.max_body_mb is not None else None,
        "header_timeout_s": args.header_timeout,
        "body_timeout_s": args.body_timeout,
        "max_connections": args.max_connections,
    }
    settings = ApiSettings.from_env(**overrides)
    if settings.max_body_bytes <= 0:
        raise GraderError("--max-body-mb must be positive")
    if settings.max_connections < 1:
        raise GraderError("--max-connections must be 1 or more")
    if settings.token is None and not is_loopback(args.host):
        raise GraderError(
            f"refusing to serve on {args.host} without an API token: anyone on the network could "
            "use it. Set GRADER_API_TOKEN (e.g. `export GRADER_API_TOKEN=$(python -c "
            "'import secrets; print(secrets.token_urlsafe(32))')`) or bind --host 127.0.0.1"
        )

    import logging

    import uvicorn

    from grader.api import create_app, protocol_with

    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s:     %(message)s"))
    logging.getLogger("grader.api").addHandler(handler)
    logging.getLogger("grader.api").setLevel(args.log_level.upper())
    guard = "bearer token required" if settings.token else "no token: open to this machine only"
    proxies = ", ".join(settings.trusted_proxies) or "none"
    print(f"REST API on http://{args.host}:{args.port} ({guard}; body limit "
          f"{settings.max_body_bytes / MB:g} MB; at most {settings.max_connections} connections; "
          f"trusted proxies: {proxies}; docs at /docs)", file=sys.stderr)
    uvicorn.run(
        create_app(settings),
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        server_header=False,
        http=protocol_with(settings.header_timeout_s, settings.max_connections),
        timeout_keep_alive=5,
        # X-Forwarded-For is read only from the proxies named in GRADER_TRUSTED_PROXIES (uvicorn
        # would trust 127.0.0.1 by default: any local program could then name any client).
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=list(settings.trusted_proxies),
    )
    return 0
