"""The sandbox state machine, as an explicit transition table."""

from __future__ import annotations

from doppel.errors import DoppelError
from doppel.store import SandboxStatus

S = SandboxStatus
TRANSITIONS: dict[SandboxStatus, frozenset[SandboxStatus]] = {
    S.CREATING: frozenset({S.RUNNING, S.FAILED}),
    S.RUNNING: frozenset({S.EXPIRING, S.DELETED, S.FAILED}),
    S.EXPIRING: frozenset({S.EXPIRED, S.DELETED}),
    S.EXPIRED: frozenset(),
    S.DELETED: frozenset(),
    S.FAILED: frozenset(),
}


class InvalidTransitionError(DoppelError):
    status = 409
    slug = "invalid-transition"
    title = "The sandbox cannot change that way"


def check_transition(current: SandboxStatus, target: SandboxStatus) -> None:
    if target not in TRANSITIONS[current]:
        raise InvalidTransitionError(f"a {current.value} sandbox cannot become {target.value}")
