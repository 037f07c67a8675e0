"""Opaque list cursors: where the last page ended, (created_at, id), as URL-safe text.

Opaque so clients pass it back unread and the position's shape may change; decoding
refuses anything it did not write with a 422 naming the parameter, never a 500."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime

from doppel.errors import InvalidRequestError
from doppel.store import SandboxRecord

Position = tuple[datetime, str]

_POINTER = "/query/cursor"


def cursor_after(record: SandboxRecord) -> str:
    """The cursor for the page that follows `record`."""
    raw = json.dumps([record.created_at.isoformat(), record.id], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def position(cursor: str) -> Position:
    """Where a page starts, from a cursor this API handed out."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created_at, sandbox_id = json.loads(raw)
        moment = datetime.fromisoformat(created_at)
    except (binascii.Error, ValueError, TypeError):  # bad base64, JSON, shape or date
        moment, sandbox_id = None, None
    if moment is None or moment.tzinfo is None or not isinstance(sandbox_id, str):
        raise InvalidRequestError(
            "the cursor is not one this API handed out: pass `next_cursor` from the "
            "previous page unchanged, or leave it out for the first page",
            pointer=_POINTER,
        )
    return moment, sandbox_id
