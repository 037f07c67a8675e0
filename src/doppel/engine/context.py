"""The per-instance overlay the engine answers with: stubs, seed, clock and switches."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from doppel.engine.state import State
from doppel.engine.stubs import StubIndex


@dataclass(frozen=True, slots=True)
class MockContext:
    """Per-instance overlay on a shared compiled spec.

    `base_url` is the mock's own origin plus any gateway mount path: rewritten upstream URLs
    lead clients back to this very mock. `now` fixes generated dates for the instance.
    """

    base_url: str = ""
    stubs: StubIndex = field(default_factory=lambda: StubIndex(()))
    seed: int = 0
    now: datetime = datetime(2026, 1, 1)
    validate_requests: bool = False
    enforce_auth: bool = False
    state: State = field(default_factory=dict)  # read only: changes come back in the report
