"""What the dashboard's pages show, as plain data: filtered and paged sandbox lists, and the
journal merged across services with a cursor for the entries a page has not seen yet.

Pure functions over the records and the API's own answer shapes (journal dicts), so the
pages show exactly what `/v1` answers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

PAGE_SIZE = 50
JOURNAL_SHOWN = 200  # entries a sandbox page renders at first; the rest stay in /v1


@dataclass(frozen=True)
class Page:
    """Where one page of a list sits; `number` counts from 1, past the end means the last."""

    number: int
    pages: int
    total: int
    size: int = PAGE_SIZE

    @classmethod
    def of(cls, total: int, number: int, size: int = PAGE_SIZE) -> Page:
        pages = max(1, -(-total // size))
        return cls(min(max(1, number), pages), pages, total, size)

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size

    @property
    def first_index(self) -> int:
        return self.offset + 1 if self.total else 0


def health(sandbox_status: str, service_status: str, serving: bool) -> str:
    """A live sandbox's service is `up` when this process serves it, `down` when its record
    says running but nothing answers; an ended one shows its recorded status."""
    if sandbox_status != "running":
        return service_status
    return "up" if serving else "down"


def query(**params: str | int) -> str:
    """A list page's query string, without the empty filters."""
    return urlencode({k: v for k, v in params.items() if v not in ("", None)})


# -- the journal --------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One journal entry of one service, with its place in that service's journal."""

    service: str
    index: int
    event: Mapping[str, Any]

    @property
    def dom_id(self) -> str:
        return f"entry-{self.service}-{self.index}"


Cursor = dict[str, int]  # per service: how many of its entries a page already shows


def parse_cursor(text: str) -> Cursor:
    """`github:3,slack:0` → {"github": 3, "slack": 0}; anything unreadable counts as 0."""
    cursor: Cursor = {}
    for part in text.split(","):
        name, _, count = part.rpartition(":")
        if name and count.isdigit():
            cursor[name] = int(count)
    return cursor


def format_cursor(journal: Mapping[str, Sequence[Any]]) -> str:
    return ",".join(f"{name}:{len(events)}" for name, events in sorted(journal.items()))


def newest_first(
    journal: Mapping[str, Sequence[Mapping[str, Any]]], cursor: Cursor | None = None
) -> list[Entry]:
    """The entries past `cursor` (all of them without one), newest first."""
    cursor = cursor or {}
    entries = [
        Entry(name, index, event)
        for name, events in journal.items()
        for index, event in enumerate(events)
        if index >= cursor.get(name, 0)
    ]
    entries.sort(key=lambda e: (str(e.event.get("at", "")), e.service, e.index), reverse=True)
    return entries


def journal_was_cleared(journal: Mapping[str, Sequence[Any]], cursor: Cursor) -> bool:
    """True when a service holds fewer entries than the page shows (a reset, or old entries
    trimmed): the page's journal must be drawn again rather than added to."""
    return any(len(journal.get(name, ())) < seen for name, seen in cursor.items())
