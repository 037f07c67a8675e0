"""Real Doppel processes for end-to-end tests: `doppel serve` and `doppel mock` on loopback."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

BIN = Path(sys.executable).parent


def credentials(template: str, token: str) -> dict[str, str]:
    """The header the provider's own clients send `token` in: GitHub's `Authorization: token
    …`, Figma's `X-Figma-Token`, Slack's (and any other's) bearer token."""
    if template == "github":
        return {"Authorization": f"token {token}"}
    if template == "figma":
        return {"X-Figma-Token": token}
    return {"Authorization": f"Bearer {token}"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env["NO_PROXY"] = "127.0.0.1,localhost"
    env.update(extra or {})
    return env


class ControlPlane:
    """`doppel serve` as a child process, with the data dir kept across restarts."""

    def __init__(
        self,
        data_dir: Path,
        *,
        port_range: str = "23000-27999",
        env: dict[str, str] | None = None,
        args: Sequence[str] = (),
    ) -> None:
        self.data_dir = data_dir
        self.port_range = port_range
        self.args = list(args)  # more `doppel serve` options
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.extra_env = env or {}
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        """Where the process's stdout and stderr go."""
        return self.data_dir.parent / f"serve-{self.port}.log"

    def start(self, timeout: float = 20.0) -> ControlPlane:
        command = [
            str(BIN / "doppel"),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--data-dir",
            str(self.data_dir),
            "--public-host",
            "127.0.0.1",
            "--port-range",
            self.port_range,
            *self.args,
        ]
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env=_env(self.extra_env)
            )
        try:
            wait_until_ready(f"{self.url}/readyz", self.process, timeout)
        except BaseException:  # never leave a half-started server behind
            self.kill()
            raise
        return self

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=10)
        self.process = None

    def stop(self) -> None:
        self.kill(signal.SIGTERM)


class MockProcess:
    """`doppel mock SPEC` as a child process; `url` is what it printed."""

    def __init__(self, args: Sequence[str]) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            [str(BIN / "doppel"), "mock", *args, "--port", str(self.port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=_env(),
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline().decode().strip()
        if not line.startswith("http://"):
            self.stop()
            raise RuntimeError(f"doppel mock did not start: {line!r}")
        self.url = line

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=10)
        if self.process.stdout is not None:
            self.process.stdout.close()


def wait_until_ready(url: str, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before {url} answered")
        try:
            if httpx.get(url, timeout=1.0, trust_env=False).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"{url} did not answer within {timeout} s")


def port_is_closed(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) != 0
