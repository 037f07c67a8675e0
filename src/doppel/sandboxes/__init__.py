"""Sandboxes: the state machine, the service that sequences store and runtime, the reaper."""

from doppel.sandboxes.clock import Clock, FakeClock, SystemClock
from doppel.sandboxes.service import SandboxService

__all__ = ["Clock", "FakeClock", "SandboxService", "SystemClock"]
