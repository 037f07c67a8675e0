"""The mock-traffic HTTP server: ports → (sandbox, service) → engine."""

from doppel.dataplane.app import HEALTH_PATH, Dataplane, serve
from doppel.dataplane.instance import ServedHook, ServeEvent, ServiceInstance
from doppel.dataplane.server import Listeners, PortInUseError

__all__ = [
    "HEALTH_PATH",
    "Dataplane",
    "Listeners",
    "PortInUseError",
    "ServeEvent",
    "ServedHook",
    "ServiceInstance",
    "serve",
]
