"""Many listening ports in one event loop, each served by uvicorn's HTTP protocol.

Running a full `uvicorn.Server` per port would cost a main loop, a lifespan and signal
handlers each; instead one loaded `uvicorn.Config` and one `ServerState` are shared, and each
port is just `loop.create_server(...)` with uvicorn's own protocol class (what
`uvicorn.Server.startup` does internally). Thousands of ports cost a socket each.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import socket
from email.utils import formatdate
from typing import Any

import uvicorn
from uvicorn.server import ServerState

from doppel.dataplane.app import Dataplane
from doppel.dataplane.instance import ServiceInstance


class PortInUseError(OSError):
    pass


class Listeners:
    """Opens and closes listening sockets that all feed one `Dataplane` app."""

    def __init__(self, dataplane: Dataplane, host: str = "127.0.0.1") -> None:
        self.dataplane = dataplane
        self.host = host
        # uvicorn.Config configures the process's logging when it is built (its handlers, and
        # `access_log=False` silences "uvicorn.access" for everyone): the dataplane leaves the
        # process's logging to its owner and turns the access log off per connection instead.
        self._config = uvicorn.Config(
            dataplane,
            host=host,
            lifespan="off",
            log_config=None,
            log_level=None,
            server_header=False,
            timeout_keep_alive=30,
        )
        self._config.load()
        self._state = ServerState()
        self._servers: dict[int, asyncio.base_events.Server] = {}
        self._clock: asyncio.Task[None] | None = None
        raise_file_limit()

    async def open(self, instance: ServiceInstance, port: int = 0) -> int:
        """Bind `port` (0: any free one), start serving `instance` there, return the port."""
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, port))
        except OSError as exc:
            sock.close()
            raise PortInUseError(
                exc.errno, f"cannot bind {self.host}:{port}: {exc.strerror}"
            ) from exc
        bound = int(sock.getsockname()[1])
        self.dataplane.by_port[bound] = instance
        try:
            server = await loop.create_server(self._protocol, sock=sock, backlog=512)
        except BaseException:
            self.dataplane.by_port.pop(bound, None)
            sock.close()
            raise
        self._servers[bound] = server
        if self._clock is None:
            self._tick()
            self._clock = loop.create_task(self._keep_date())
        return bound

    async def close(self, port: int) -> None:
        """Stop listening on `port` and drop its open connections. Idempotent."""
        server = self._servers.pop(port, None)
        self.dataplane.by_port.pop(port, None)
        if server is None:
            return
        server.close()
        for protocol in list(self._state.connections):
            local: Any = getattr(protocol, "server", None)
            if local and local[1] == port:
                protocol.shutdown()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(server.wait_closed(), timeout=1.0)

    async def close_all(self) -> None:
        for port in list(self._servers):
            await self.close(port)
        if self._clock is not None:
            self._clock.cancel()
            self._clock = None

    @property
    def ports(self) -> list[int]:
        return list(self._servers)

    def _protocol(self) -> Any:
        factory: Any = self._config.http_protocol_class
        protocol = factory(config=self._config, server_state=self._state, app_state={})
        # uvicorn logs access whenever "uvicorn.access" has a handler; mock traffic is counted
        # in the metrics and the journal instead, at no cost per request.
        protocol.access_log = False
        return protocol

    def _tick(self) -> None:
        date = formatdate(usegmt=True).encode()
        self._state.default_headers = [(b"date", date), *self._config.encoded_headers]

    async def _keep_date(self) -> None:
        while True:
            await asyncio.sleep(1)
            self._tick()


def raise_file_limit() -> None:
    """Each port is a descriptor: lift the soft limit to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
