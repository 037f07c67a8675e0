"""Port allocation from a configured range: no two live services ever share a port."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from doppel.errors import PortsExhaustedError


class PortAllocator:
    def __init__(self, low: int, high: int, taken: Iterable[int] = ()) -> None:
        self.low, self.high = low, high
        self._taken = set(taken)
        self._cursor = low

    def candidates(self) -> Iterator[int]:
        """Free ports to try, round robin from after the last one handed out."""
        size = self.high - self.low + 1
        for step in range(size):
            port = self.low + (self._cursor - self.low + step) % size
            if port not in self._taken:
                yield port
        raise PortsExhaustedError(
            f"all {size} ports in {self.low}-{self.high} are taken", pointer="/port_range"
        )

    def claim(self, port: int) -> None:
        self._taken.add(port)
        if self.low <= port <= self.high:
            self._cursor = port + 1 if port < self.high else self.low

    def release(self, port: int | None) -> None:
        if port is not None:
            self._taken.discard(port)

    def __contains__(self, port: object) -> bool:
        return port in self._taken
