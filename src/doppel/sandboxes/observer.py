"""What the sandbox service tells whoever watches it (the control plane's metrics): a seam,
so that this layer needs no metrics library and a test can watch with a plain object."""

from __future__ import annotations

from typing import Protocol

from doppel.dataplane import ServedHook
from doppel.store import SandboxStatus


class Observer(Protocol):
    def served(self, template: str, sandbox_id: str) -> ServedHook | None:
        """The hook a new instance calls with every answer (None: not counted)."""

    def ended(self, sandbox_id: str, status: SandboxStatus) -> None:
        """A running sandbox was expired or deleted."""

    def reaped(self, lag_seconds: float) -> None:
        """The reaper expired a sandbox `lag_seconds` after its `expires_at`."""


class NoObserver:
    """Watches nothing: the default."""

    def served(self, template: str, sandbox_id: str) -> ServedHook | None:
        return None

    def ended(self, sandbox_id: str, status: SandboxStatus) -> None:
        pass

    def reaped(self, lag_seconds: float) -> None:
        pass
