"""Real servers for end-to-end tests: a subprocess on a free loopback port, started, waited on
until its health URL answers 200, and stopped (only it) afterwards. Shared by the API tests and
the app's browser tests so both start and stop their servers the same way."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running_server(command: Sequence[str], *, cwd: Path, env: dict[str, str], log_path: Path,
                   health_url: str, timeout_s: float = 60.0) -> Iterator[subprocess.Popen]:
    """Run `command` with its output in `log_path`; yield once `health_url` answers 200."""
    with open(log_path, "wb") as log:
        process = subprocess.Popen(list(command), cwd=cwd, env=env, stdout=log,
                                   stderr=subprocess.STDOUT)
    try:
        _wait_healthy(health_url, process, timeout_s, log_path)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_healthy(url: str, process: subprocess.Popen, timeout_s: float, log: Path) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[:4]} exited with {process.returncode}:\n"
                               f"{log.read_text(errors='replace')[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout_s:.0f} s:\n"
                       f"{log.read_text(errors='replace')[-3000:]}")


def process_peak_mb(pid: int) -> int:
    """A running process's peak resident memory (VmHWM) in MB, read from /proc: what a server
    held at most while the tests sent it their worst (issue 22: under 1 GB)."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("VmHWM:")[1].split()[0]) // 1024
