"""Port allocation from a configured range: no two live services ever share a port, and
the next port handed out cannot be guessed from the last one (a neighbour's mock is not one
port away)."""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator

from doppel.errors import PortsExhaustedError


class PortAllocator:
    def __init__(
        self, low: int, high: int, taken: Iterable[int] = (), rng: random.Random | None = None
    ) -> None:
        self.low, self.high = low, high
        self._taken = set(taken)
        self._rng = rng or random.SystemRandom()
        self._deck: list[int] = []  # the range in random order, drawn from the front

    def candidates(self) -> Iterator[int]:
        """Free ports to try, drawn at random without repeats until the range is spent.

        What is left of the current shuffle comes first, then one fresh shuffle of the
        whole range: so every free port is offered before the range is called exhausted.
        """
        for fresh in (False, True):
            if fresh or not self._deck:
                self._deck = list(range(self.low, self.high + 1))
                self._rng.shuffle(self._deck)
            while self._deck:
                port = self._deck.pop()
                if port not in self._taken:
                    yield port
        size = self.high - self.low + 1
        raise PortsExhaustedError(
            f"all {size} ports in {self.low}-{self.high} are taken", pointer="/port_range"
        )

    def claim(self, port: int) -> None:
        self._taken.add(port)

    def release(self, port: int | None) -> None:
        if port is not None:
            self._taken.discard(port)

    def __contains__(self, port: object) -> bool:
        return port in self._taken
