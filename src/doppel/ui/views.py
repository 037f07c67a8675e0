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
    """One journal entry; `id` orders entries across services and is a page's cursor."""

    id: int
    service: str
    event: Mapping[str, Any]

    @property
    def dom_id(self) -> str:
        return f"entry-{self.id}"


def newest_first(rows: Sequence[tuple[int, str, Mapping[str, Any]]]) -> list[Entry]:
    """`(id, service, event)` rows, oldest first as the store keeps them, turned around."""
    return [Entry(i, service, event) for i, service, event in reversed(rows)]


def last_id(rows: Sequence[tuple[int, str, Any]], before: int = 0) -> int:
    """The cursor after reading `rows`: the newest id, or `before` when nothing is new."""
    return rows[-1][0] if rows else before
