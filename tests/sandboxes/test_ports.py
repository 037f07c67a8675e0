"""Mock ports come from the configured range at random: a neighbour is not one port away."""

from __future__ import annotations

import itertools

import pytest

from doppel.errors import PortsExhaustedError
from doppel.sandboxes.ports import PortAllocator


def _allocate(ports: PortAllocator) -> int:
    port = next(ports.candidates())
    ports.claim(port)
    return port


def test_many_allocations_are_spread_over_the_range_not_sequential() -> None:
    ports = PortAllocator(20000, 20999)
    handed = [_allocate(ports) for _ in range(300)]
    assert all(20000 <= p <= 20999 for p in handed)
    assert len(set(handed)) == 300
    steps = [b - a for a, b in itertools.pairwise(handed)]
    # In sequence every step would be +1; at random fewer than one step in 300 is.
    assert sum(1 for s in steps if abs(s) == 1) < 15
    assert max(handed) - min(handed) > 900
    assert handed != sorted(handed)


def test_ports_held_at_start_are_never_offered() -> None:
    held = set(range(20000, 20010, 2))
    ports = PortAllocator(20000, 20009, taken=held)
    handed = {_allocate(ports) for _ in range(5)}
    assert handed == set(range(20001, 20010, 2))


def test_a_released_port_waits_until_the_rest_of_the_range_is_drawn() -> None:
    ports = PortAllocator(20000, 20099)
    first = _allocate(ports)
    ports.release(first)
    following = [_allocate(ports) for _ in range(99)]
    assert first not in following
    assert sorted([first, *following]) == list(range(20000, 20100))


def test_an_exhausted_range_says_so_and_a_release_frees_a_port() -> None:
    ports = PortAllocator(20000, 20009)
    handed = [_allocate(ports) for _ in range(10)]
    assert sorted(handed) == list(range(20000, 20010))
    with pytest.raises(PortsExhaustedError) as caught:
        _allocate(ports)
    assert "all 10 ports in 20000-20009 are taken" in caught.value.detail
    ports.release(handed[3])
    assert _allocate(ports) == handed[3]
    assert handed[3] in ports


def test_a_port_skipped_mid_draw_is_offered_again_by_the_fresh_shuffle() -> None:
    ports = PortAllocator(20000, 20009)
    taken = [_allocate(ports) for _ in range(9)]  # one port is left in the current deck
    (left,) = set(range(20000, 20010)) - set(taken)
    ports.release(taken[0])  # drawn already from this deck: only a fresh shuffle offers it
    assert set(_drain(ports)) == {left, taken[0]}


def _drain(ports: PortAllocator) -> list[int]:
    """Every port offered before the allocator calls the range exhausted."""
    offered: list[int] = []
    with pytest.raises(PortsExhaustedError):
        for port in ports.candidates():
            offered.append(port)
    return offered
