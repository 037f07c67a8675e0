"""The per-instance overlay the engine answers with: stubs, world, state, clock and switches."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from doppel.engine.stubs import StubIndex
from doppel.engine.world import EMPTY_WORLD, State, World

AuthMode = Literal["off", "any", "issued"]


@dataclass(frozen=True, slots=True)
class MockContext:
    """Per-instance overlay on a shared compiled spec.

    `base_url` is the mock's own origin plus any gateway mount path: rewritten upstream URLs
    lead clients back to this very mock. `now` fixes generated data for the instance; `at` is
    the time of this request on the sandbox's clock (what created resources are stamped
    with). `world` is what the template's fixtures put in the service, `state` what the
    agent changed since; in a `closed_world` anything else is the provider's not-found.
    `auth` says which credentials pass: none needed (`off`), any well-formed token (`any`),
    or only the `tokens` issued to this sandbox (`issued`).
    """

    base_url: str = ""
    stubs: StubIndex = field(default_factory=lambda: StubIndex(()))
    seed: int = 0
    now: datetime = datetime(2026, 1, 1)
    validate_requests: bool = False
    state: State = field(default_factory=dict)  # read only: changes come back in the report
    world: World = EMPTY_WORLD
    closed_world: bool = False
    at: datetime | None = None
    auth: AuthMode = "off"
    tokens: frozenset[str] = frozenset()
