"""Pure ASGI middleware: the control-plane port also serves `/sandboxes/{id}/{service}/...`,
and in static mode the old nginx routes `/sandbox/{agent_id}/{service}/...`.

This is the path routing the old nginx did, for deployments that expose a single port.
Everything else goes on to the control-plane app.
"""

from __future__ import annotations

from doppel.api.problems import from_error
from doppel.dataplane import serve
from doppel.dataplane.app import Receive, Scope, Send
from doppel.errors import DoppelError, SandboxNotFoundError
from doppel.sandboxes import SandboxService
from doppel.sandboxes.static import StaticSandboxes

PREFIX = "/sandboxes/"
STATIC_PREFIX = "/sandbox/"


class Gateway:
    def __init__(
        self, app: object, service: SandboxService, static: StaticSandboxes | None = None
    ) -> None:
        self.app = app
        self.service = service
        self.static = static

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)  # type: ignore[operator]
            return
        path: str = scope["path"]
        if path.startswith(PREFIX):
            await self._proxy(scope, receive, send, path)
            return
        if path.startswith(STATIC_PREFIX):
            await self._static(scope, receive, send, path)
            return
        await self.app(scope, receive, send)  # type: ignore[operator]

    async def _proxy(self, scope: Scope, receive: Receive, send: Send, path: str) -> None:
        sandbox_id, _, rest = path[len(PREFIX) :].partition("/")
        name = rest.split("/", 1)[0]
        instance = self.service.instance(sandbox_id, name)
        if instance is None:
            try:
                record = self.service.get(sandbox_id)
                error: DoppelError = SandboxNotFoundError(
                    f"sandbox {sandbox_id} has no running service {name!r}; it has: "
                    + ", ".join(record.services)
                )
            except DoppelError as exc:
                error = exc
            await from_error(error, path)(scope, receive, send)
            return
        await serve(instance, scope, receive, send, mount=f"{PREFIX}{sandbox_id}/{name}")

    async def _static(self, scope: Scope, receive: Receive, send: Send, path: str) -> None:
        """The old contract: any agent id, one shared instance per service."""
        raw = scope.get("raw_path")  # the mount is cut from the raw path: keep its escapes
        raw_path = raw.decode("latin-1").split("?", 1)[0] if raw else path
        agent_id, _, rest = raw_path[len(STATIC_PREFIX) :].partition("/")
        name = rest.split("/", 1)[0]
        if self.static is None:
            error = SandboxNotFoundError(
                f"{STATIC_PREFIX}{{agent_id}}/{{service}}/ routes are served in static mode only "
                "(DOPPEL_MODE=static); in dynamic mode create a sandbox with "
                f"POST /v1/agents/{{agent_id}}/sandboxes/dynamic and use its URLs"
            )
            await from_error(error, path)(scope, receive, send)
            return
        instance = self.static.instance(name) if agent_id else None
        if instance is None:
            error = SandboxNotFoundError(
                f"static mode serves no service {name!r} at {path!r}; it serves: "
                + ", ".join(self.static.ports)
                + f" (as {STATIC_PREFIX}{{agent_id}}/{{service}}/...)"
            )
            await from_error(error, path)(scope, receive, send)
            return
        await serve(instance, scope, receive, send, mount=f"{STATIC_PREFIX}{agent_id}/{name}")
