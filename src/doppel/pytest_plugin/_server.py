"""The plugin's embedded control plane: a real `doppel serve` child process for one session.

A child process rather than uvicorn in a thread: the tests' own event loops, warning filters,
log capture and GIL stay theirs, a crash on either side cannot take the other down, and the
server is the one users run (same settings, same start-up, same shutdown on SIGTERM).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

# `python -c` with the interpreter running pytest: no reliance on a `doppel` script on PATH.
_SERVE = "from doppel.cli import main; main()"
_ATTEMPTS = 3  # a free port can be taken between choosing it and binding it


class ControlPlaneStartError(RuntimeError):
    """`doppel serve` exited or did not become ready; the message holds its log's tail."""


class EmbeddedControlPlane:
    """`doppel serve` on a free loopback port with its own data dir; `stop()` is idempotent."""

    def __init__(self, data_dir: Path, *, port_range: str | None = None) -> None:
        self.data_dir = data_dir
        self.port_range = port_range
        self.log_path = data_dir.parent / f"{data_dir.name}-serve.log"
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> EmbeddedControlPlane:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        for attempt in range(_ATTEMPTS):
            self.port = _free_port()
            self._process = self._spawn()
            try:
                self._wait_until_ready(timeout)
                return self
            except ControlPlaneStartError:
                exited = self._process.poll() is not None
                self.stop()
                if not exited or attempt == _ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def stop(self, timeout: float = 15.0) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def _spawn(self) -> subprocess.Popen[bytes]:
        command = [
            sys.executable,
            "-c",
            _SERVE,
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--data-dir",
            str(self.data_dir),
            "--public-host",
            "127.0.0.1",
        ]
        if self.port_range:
            command += ["--port-range", self.port_range]
        # A proxy in the environment must never carry loopback traffic.
        env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
        env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
        with self.log_path.open("ab") as log:
            return subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
            )

    def _wait_until_ready(self, timeout: float) -> None:
        assert self._process is not None
        deadline = time.monotonic() + timeout
        with httpx.Client(trust_env=False, timeout=2.0) as http:
            while time.monotonic() < deadline:
                if self._process.poll() is not None:
                    raise ControlPlaneStartError(
                        f"doppel serve exited with {self._process.returncode} before it was "
                        f"ready:\n{self._log_tail()}"
                    )
                try:
                    if http.get(f"{self.url}/readyz").status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                time.sleep(0.05)
        raise ControlPlaneStartError(
            f"doppel serve on {self.url} was not ready within {timeout} s:\n{self._log_tail()}"
        )

    def _log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
