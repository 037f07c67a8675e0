"""`doppel mock`: one spec or template served in the foreground, like `prism mock`.

It builds one `ServiceInstance` and serves it with the same dataplane code the control plane
hosts many times over.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from doppel.dataplane import Dataplane, Listeners, ServiceInstance
from doppel.specs import SpecCache
from doppel.templates import Template, TemplateRegistry


def build_instance(
    spec_or_template: str,
    config: Mapping[str, Any] | None = None,
    *,
    seed: int = 0,
    registry: TemplateRegistry | None = None,
    cache: SpecCache | None = None,
) -> ServiceInstance:
    """An instance for a spec file path or a template name, customised by `config`."""
    registry = registry or TemplateRegistry.from_env()
    cache = cache or SpecCache()
    path = Path(spec_or_template)
    if path.is_file():
        template = Template(name=path.stem, spec_bytes=path.read_bytes(), spec_name=path.name)
    elif path.is_dir():  # a template folder of one's own, tried before it is installed
        template = Template.from_directory(path.resolve(), origin="directory")
    else:
        template = registry.get(spec_or_template)
    compiled = template.compile(cache)
    resolved = template.resolve_config(config or {})
    started = datetime.now(UTC).replace(microsecond=0)
    overlay = template.overlay(compiled, resolved, day=started.date())
    return ServiceInstance.of(
        template.name,
        compiled,
        overlay.stubs,
        resolved,
        seed=seed,
        started_at=started,
        world=lambda: overlay.world,
    )


async def serve_forever(
    instance: ServiceInstance,
    host: str,
    port: int,
    on_ready: Callable[[str], None] = print,
) -> None:
    listeners = Listeners(Dataplane(), host)
    bound = await listeners.open(instance, port)
    shown = f"[{host}]" if ":" in host else host
    on_ready(f"http://{shown}:{bound}")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await listeners.close_all()


def run(coro_factory: Callable[[], Any]) -> Any:
    """Run a coroutine on uvloop when it is installed."""
    try:
        import uvloop

        factory: Callable[[], asyncio.AbstractEventLoop] | None = uvloop.new_event_loop
    except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
        factory = None
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(coro_factory())
