"""What a failed test's report shows of its sandboxes: pure text from the control plane's JSON.

The journal is one line per request (newest last), with the answer's body for errors, where
an agent's mistake usually shows. The changes are the diff since creation when the control
plane serves one (created, changed with its JSON Patch, deleted), else the raw state.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

JOURNAL_TAIL = 50  # requests shown per service; the full journal stays on the control plane
BODY_PREVIEW = 300
VALUE_PREVIEW = 200
PROPERTY_LIMIT = 64_000  # characters of JSON kept in a junit property


def sandbox_heading(sandbox: Mapping[str, Any]) -> str:
    """`sandbox ID (agent A): github http://…, slack http://…`."""
    services = ", ".join(
        f"{name} {info.get('url') or info.get('status')}"
        for name, info in sandbox.get("services", {}).items()
    )
    return f"sandbox {sandbox['sandbox_id']} (agent {sandbox['agent_id']}): {services}"


def journal_text(journal: Mapping[str, Sequence[Mapping[str, Any]]]) -> str:
    lines: list[str] = []
    for service, events in journal.items():
        if not events:
            lines.append(f"  {service}: no requests")
            continue
        hidden = len(events) - JOURNAL_TAIL
        if hidden > 0:
            lines.append(f"  {service}: {hidden} earlier requests not shown")
        for event in events[-JOURNAL_TAIL:]:
            lines.extend(_event_lines(service, event))
    return "\n".join(lines)


def _event_lines(service: str, event: Mapping[str, Any]) -> list[str]:
    at = str(event.get("at", ""))[11:23]  # HH:MM:SS.mmm of an ISO timestamp
    target = event.get("path", "")
    if event.get("query"):
        target += f"?{event['query']}"
    answered = event.get("operation_id") or event.get("path_template") or "no operation"
    why = f"{event.get('source', '?')}: {event.get('reason', '')}".rstrip(": ")
    lines = [
        f"  {at} {service} {event.get('method', '?')} {target} -> {event.get('status', '?')} "
        f"({answered}; {why})"
    ]
    status = event.get("status")
    # Slack refuses with 200 and `"ok": false`: the engine's source says it was a refusal.
    if event.get("source") == "error" or (isinstance(status, int) and status >= 400):
        lines.append(f"      answer: {_preview(str(event.get('response_body', '')), BODY_PREVIEW)}")
        lines.extend(
            f"      near miss: {m.get('method')} {m.get('path')}: {m.get('reason')}"
            for m in event.get("near_misses", ())
        )
    lines.extend(f"      note: {note}" for note in event.get("notes", ()))
    return lines


def diff_text(diff: Mapping[str, Any]) -> str:
    """A diff answer (see GET /v1/sandboxes/{id}/diff) as `+`, `~` and `-` lines."""
    lines: list[str] = []
    for service, changes in diff.get("services", {}).items():
        for item in changes.get("created", ()):
            after = _preview(_compact(item.get("after")), VALUE_PREVIEW)
            lines.append(f"  + {service} {item.get('resource')} {item.get('key')}: {after}")
        for item in changes.get("changed", ()):
            lines.append(f"  ~ {service} {item.get('resource')} {item.get('key')}")
            lines.extend(
                f"      {op.get('op')} {op.get('path')}"
                + (f" {_preview(_compact(op['value']), VALUE_PREVIEW)}" if "value" in op else "")
                for op in item.get("patch", ())
            )
        lines.extend(
            f"  - {service} {item.get('resource')} {item.get('key')}"
            for item in changes.get("deleted", ())
        )
    return "\n".join(lines) or "  no changes"


def state_text(state: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> str:
    """The state (service → collection → key → item, None once deleted) one item a line."""
    lines: list[str] = []
    for service, collections in state.items():
        for collection, items in collections.items():
            if collection.startswith("#"):  # id counters, not resources
                continue
            for key, item in items.items():
                shown = "deleted" if item is None else _preview(_compact(item), VALUE_PREVIEW)
                lines.append(f"  {service} {collection} {key}: {shown}")
    return "\n".join(lines) or "  no changes"


def property_json(value: Any) -> str:
    """`value` as JSON for a junit property, cut to PROPERTY_LIMIT characters."""
    return _cut(json.dumps(value, ensure_ascii=False, sort_keys=True), PROPERTY_LIMIT)


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _preview(text: str, limit: int) -> str:
    return _cut(" ".join(text.split()), limit)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[: limit - 1]}…"
