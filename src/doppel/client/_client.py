"""The synchronous client for the control plane's public HTTP API."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from types import TracebackType
from typing import Any, Self, TypeVar
from urllib.parse import quote

import httpx

from doppel.client._errors import ClientError, ConnectionFailedError, error_from_response
from doppel.client._models import Sandbox, SandboxPage, TemplateInfo
from doppel.errors import StaticSandboxError

DEFAULT_URL = "http://127.0.0.1:8080"
T = TypeVar("T")


class Client:
    """Create, inspect and end sandboxes on a Doppel control plane.

    Every failure raises a DoppelError: the server's own class for a problem+json answer
    (e.g. SandboxGoneError), ClientError for any other unsuccessful answer, and
    ConnectionFailedError when the server cannot be reached.
    """

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        *,
        timeout: float | None = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        # trust_env=False: a proxy set in the environment must never hijack a loopback server.
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=timeout,
            transport=transport,
            trust_env=False,
            headers={"Accept": "application/json, application/problem+json"},
        )

    # -- sandboxes --------------------------------------------------------------------------

    def create_sandbox(
        self,
        agent_id: str,
        services: str | Iterable[str],
        *,
        ttl_minutes: float | None = None,
        custom_configs: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> Sandbox:
        """Start a sandbox running `services` (template names) for `agent_id`."""
        body: dict[str, Any] = {
            "required_services": [services] if isinstance(services, str) else list(services)
        }
        if ttl_minutes is not None:
            body["ttl_minutes"] = ttl_minutes
        if custom_configs is not None:
            body["custom_configs"] = {name: dict(c) for name, c in custom_configs.items()}
        path = f"/v1/agents/{_segment(agent_id)}/sandboxes"
        return self._call("POST", path, self._sandbox, json=body)

    def get_sandbox(self, sandbox_id: str) -> Sandbox:
        return self._call("GET", f"/v1/sandboxes/{_segment(sandbox_id)}", self._sandbox)

    def list_sandboxes(
        self, *, agent_id: str | None = None, status: str | None = None
    ) -> list[Sandbox]:
        """Every sandbox the control plane still knows, ended ones included, newest first
        (all pages: see `iter_sandboxes` to stream them, `sandboxes_page` for one page)."""
        return list(self.iter_sandboxes(agent_id=agent_id, status=status))

    def iter_sandboxes(
        self,
        *,
        agent_id: str | None = None,
        status: str | None = None,
        page_size: int | None = None,
    ) -> Iterator[Sandbox]:
        """Every matching sandbox, newest first, fetching one page at a time as you go."""
        cursor: str | None = None
        while True:
            page = self.sandboxes_page(
                agent_id=agent_id, status=status, limit=page_size, cursor=cursor
            )
            yield from page.sandboxes
            if not page.has_more or page.next_cursor is None:
                return
            cursor = page.next_cursor

    def sandboxes_page(
        self,
        *,
        agent_id: str | None = None,
        status: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> SandboxPage:
        """One page of sandboxes (the server's default size unless `limit`); pass its
        `next_cursor` as `cursor` for the next."""
        given = {"agent_id": agent_id, "status": status, "limit": limit, "cursor": cursor}
        params = {k: str(v) for k, v in given.items() if v is not None}
        return self._call(
            "GET",
            "/v1/sandboxes",
            lambda d: SandboxPage(
                sandboxes=[self._sandbox(s) for s in d["sandboxes"]],
                next_cursor=d.get("next_cursor"),
                has_more=bool(d.get("has_more")),
            ),
            params=params,
        )

    def delete_sandbox(self, sandbox_id: str) -> Sandbox:
        """Stop the sandbox's services; an ended sandbox raises SandboxGoneError."""
        return self._call("DELETE", f"/v1/sandboxes/{_segment(sandbox_id)}", self._sandbox)

    def extend_sandbox(self, sandbox_id: str, minutes: float) -> Sandbox:
        """Push the sandbox's `expires_at` later by `minutes`."""
        path = f"/v1/sandboxes/{_segment(sandbox_id)}/extend"
        return self._call("POST", path, self._sandbox, json={"ttl_minutes": minutes})

    def requests(self, sandbox_id: str) -> dict[str, list[dict[str, Any]]]:
        """The serve events of each service in the sandbox, oldest first."""
        path = f"/v1/sandboxes/{_segment(sandbox_id)}/requests"
        return self._call(
            "GET", path, lambda d: {str(k): list(v) for k, v in d["services"].items()}
        )

    def state(self, sandbox_id: str) -> dict[str, dict[str, dict[str, Any]]]:
        """What the agent's requests created, changed and deleted: service → collection → key →
        resource (None once deleted)."""
        path = f"/v1/sandboxes/{_segment(sandbox_id)}/state"
        return self._call("GET", path, lambda d: dict(d["services"]))

    def reset_sandbox(self, sandbox_id: str) -> Sandbox:
        """Forget every state change and the journal; the TTL is unchanged."""
        path = f"/v1/sandboxes/{_segment(sandbox_id)}/reset"
        return self._call("POST", path, self._sandbox)

    def diff(self, sandbox_id: str, since: str | None = None) -> dict[str, Any]:
        """What the agent created, changed and deleted since the sandbox was created (or since
        checkpoint `since`): `{"summary", "services": {name: {"created", "changed",
        "deleted"}}}`, each change with `before`, `after` and an RFC 6902 `patch`."""
        path = f"/v1/sandboxes/{_segment(sandbox_id)}/diff"
        params = {"since": since} if since is not None else None
        return self._call("GET", path, lambda d: dict(d), params=params)

    def checkpoint(self, sandbox_id: str, name: str | None = None) -> dict[str, Any]:
        """Name the sandbox's current state: `{"sandbox_id", "name", "created_at"}`; a taken
        name raises CheckpointExistsError."""
        path = f"/v1/sandboxes/{_segment(sandbox_id)}/checkpoints"
        body = {"name": name} if name is not None else {}
        return self._call("POST", path, lambda d: dict(d), json=body)

    def checkpoints(self, sandbox_id: str) -> list[dict[str, Any]]:
        """The sandbox's checkpoints, oldest first: `[{"name", "created_at"}]`."""
        path = f"/v1/sandboxes/{_segment(sandbox_id)}/checkpoints"
        return self._call("GET", path, lambda d: [dict(c) for c in d["checkpoints"]])

    def restore(self, sandbox_id: str, checkpoint: str) -> Sandbox:
        """Every service's state back to the checkpoint's; the journal is kept."""
        path = f"/v1/sandboxes/{_segment(sandbox_id)}/restore"
        return self._call("POST", path, self._sandbox, json={"checkpoint": checkpoint})

    def fork(
        self, sandbox_id: str, agent_id: str | None = None, ttl_minutes: float | None = None
    ) -> Sandbox:
        """A new sandbox (new id and URLs) with the source's templates, configs and state;
        later writes to either do not show in the other."""
        body: dict[str, Any] = {}
        if agent_id is not None:
            body["agent_id"] = agent_id
        if ttl_minutes is not None:
            body["ttl_minutes"] = ttl_minutes
        path = f"/v1/sandboxes/{_segment(sandbox_id)}/fork"
        return self._call("POST", path, self._sandbox, json=body)

    # -- templates --------------------------------------------------------------------------

    def templates(self) -> list[TemplateInfo]:
        return self._call("GET", "/v1/templates", lambda d: [TemplateInfo.from_json(t) for t in d])

    def template(self, name: str) -> dict[str, Any]:
        """One template in full: its config schema, servers and operations."""
        return self._call("GET", f"/v1/templates/{_segment(name)}", lambda d: dict(d))

    def register_template(
        self,
        name: str,
        spec: bytes | str | Mapping[str, Any],
        *,
        config_schema: Mapping[str, Any] | None = None,
        fixtures: str | None = None,
    ) -> dict[str, Any]:
        """Register (or replace) a template from an OpenAPI 3.0/3.1 or Swagger 2.0 document:
        its bytes or text (JSON or YAML) or a parsed object. New sandboxes can use it at once."""
        if config_schema is None and fixtures is None and isinstance(spec, bytes | str):
            raw = spec.encode() if isinstance(spec, str) else spec
            return self._call(
                "PUT",
                f"/v1/templates/{_segment(name)}",
                lambda d: dict(d),
                content=raw,
                headers={"content-type": "application/yaml"},
            )
        text = spec.decode() if isinstance(spec, bytes) else spec
        body = {"name": name, "spec": text, "config_schema": config_schema, "fixtures": fixtures}
        return self._call("POST", "/v1/templates", lambda d: dict(d), json=body)

    def delete_template(self, name: str) -> None:
        """Remove a registered template (bundled ones stay); sandboxes using it keep running."""
        self._call("DELETE", f"/v1/templates/{_segment(name)}", lambda d: None)

    # -- plumbing ---------------------------------------------------------------------------

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Client({self.base_url!r})"

    def _sandbox(self, data: Mapping[str, Any]) -> Sandbox:
        if data.get("mode") == "static":  # shared instances: nothing this client could manage
            urls = {name: s.get("url") for name, s in (data.get("services") or {}).items()}
            raise StaticSandboxError(
                "the control plane runs in static mode (DOPPEL_MODE=static): every agent shares "
                "these instances, which are never deleted or extended: "
                + ", ".join(f"{name} {url}" for name, url in urls.items())
                + "; this client manages the sandboxes of dynamic mode",
                services=urls,
            )
        return Sandbox(data, self)

    def _call(
        self,
        method: str,
        path: str,
        build: Callable[[Any], T],
        *,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> T:
        """Send one request and build the result from its JSON; every failure is a DoppelError."""
        url = f"{self.base_url}{path}"
        try:
            response = self._http.request(
                method, path, json=json, params=params, content=content, headers=headers
            )
        except httpx.TimeoutException as exc:
            raise ConnectionFailedError(
                f"{method} {url} got no answer within {self.timeout} s ({type(exc).__name__})",
                url=url,
            ) from exc
        except httpx.TransportError as exc:
            reason = str(exc) or type(exc).__name__
            raise ConnectionFailedError(
                f"cannot reach the Doppel control plane at {url}: {reason}", url=url
            ) from exc
        if not response.is_success:
            raise error_from_response(response)
        try:
            return build(response.json() if response.content else None)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ClientError(
                f"{method} {url} answered HTTP {response.status_code} with a body this client "
                f"cannot read ({type(exc).__name__}: {exc}); are client and server one version?",
                status=response.status_code,
            ) from exc


def _segment(value: str) -> str:
    """`value` as one path segment: slashes and dots cannot reach another route."""
    if not value:
        raise ValueError("an id or name must not be empty")
    quoted = quote(value, safe="")
    return quoted.replace(".", "%2E") if quoted in (".", "..") else quoted
