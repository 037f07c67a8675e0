"""The `doppel_sandbox` factory: the sandboxes one test makes, and what its report shows of them."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from doppel.client import Client, Sandbox
from doppel.errors import DoppelError
from doppel.pytest_plugin import _report

_NOT_IN_AGENT_ID = re.compile(r"[^A-Za-z0-9._:@-]+")


def agent_id_for(test_name: str) -> str:
    """`pytest-<test name>`, made a valid agent id: the dashboard and `doppel sandbox ls --agent`
    then find a test's sandboxes by its name."""
    return _NOT_IN_AGENT_ID.sub("-", f"pytest-{test_name}")[:128].rstrip("-")


class SandboxFactory:
    """`doppel_sandbox(["github", "slack"], configs=…, mock_responses=…)` → a running Sandbox.

    Every sandbox it made is listed in `sandboxes` and deleted after the test (kept when the
    test failed and `--doppel-keep` is given).
    """

    def __init__(self, client: Client, *, agent_id: str, ttl_minutes: float | None) -> None:
        self.client = client
        self.agent_id = agent_id
        self.ttl_minutes = ttl_minutes
        self.sandboxes: list[Sandbox] = []

    def __call__(
        self,
        services: str | Iterable[str],
        *,
        configs: Mapping[str, Mapping[str, Any]] | None = None,
        mock_responses: Mapping[str, Mapping[str, Any]] | None = None,
        ttl_minutes: float | None = None,
        agent_id: str | None = None,
    ) -> Sandbox:
        """Create a sandbox of `services` (template names). `configs` and `mock_responses` are
        keyed by service; `mock_responses` joins (and wins over) the config's own."""
        names = [services] if isinstance(services, str) else list(services)
        for argument, keyed in (("configs", configs), ("mock_responses", mock_responses)):
            strays = sorted(set(keyed or ()) - set(names))
            if strays:
                raise ValueError(
                    f"{argument} names {', '.join(map(repr, strays))}, which is not among the "
                    f"services {names}"
                )
        custom = {name: dict(config) for name, config in (configs or {}).items()}
        for name, overrides in (mock_responses or {}).items():
            config = custom.setdefault(name, {})
            config["mock_responses"] = {**config.get("mock_responses", {}), **overrides}
        sandbox = self.client.create_sandbox(
            agent_id or self.agent_id,
            names,
            ttl_minutes=ttl_minutes if ttl_minutes is not None else self.ttl_minutes,
            custom_configs=custom or None,
        )
        self.sandboxes.append(sandbox)
        return sandbox

    def delete_all(self) -> None:
        """Delete every sandbox made here (ended ones are fine); the first failure is raised
        after every sandbox has been tried."""
        failures: list[DoppelError] = []
        for sandbox in self.sandboxes:
            try:
                sandbox.delete()
            except DoppelError as exc:
                failures.append(exc)
        if failures:
            raise failures[0]

    def attachments(self) -> tuple[list[tuple[str, str]], list[tuple[str, object]]]:
        """Report sections (`doppel journal`, `doppel diff` or `doppel state`) and junit
        properties (the same as JSON, one per sandbox) for every sandbox made here."""
        journals: list[str] = []
        changes: list[str] = []
        kinds: set[str] = set()
        properties: list[tuple[str, object]] = []
        for sandbox in self.sandboxes:
            heading = _report.sandbox_heading(sandbox.raw)
            properties.append((f"doppel sandbox {sandbox.id}", heading))
            try:
                journal = self.client.requests(sandbox.id)
            except DoppelError as exc:
                journals.append(f"{heading}\n  (journal unavailable: {exc})")
            else:
                journals.append(f"{heading}\n{_report.journal_text(journal)}")
                properties.append((f"doppel journal {sandbox.id}", _report.property_json(journal)))
            try:
                kind, data, text = _changes(self.client, sandbox.id)
            except DoppelError as exc:
                changes.append(f"{heading}\n  (changes unavailable: {exc})")
            else:
                kinds.add(kind)
                changes.append(f"{heading}\n{text}")
                properties.append((f"doppel {kind} {sandbox.id}", _report.property_json(data)))
        if not self.sandboxes:
            return [], []
        title = f"doppel {'/'.join(sorted(kinds)) or 'diff'}"
        return [("doppel journal", "\n".join(journals)), (title, "\n".join(changes))], properties


def _changes(client: Client, sandbox_id: str) -> tuple[str, Any, str]:
    """What the test's requests changed: the diff since creation where the control plane has
    one, else its state. The only place that chooses, so switching is one edit."""
    diff = getattr(client, "diff", None)
    if callable(diff):
        try:
            data = diff(sandbox_id)
        except DoppelError as exc:
            if exc.status not in (404, 405):  # an older control plane: no diff route
                raise
        else:
            return "diff", data, _report.diff_text(data)
    state = client.state(sandbox_id)
    return "state", state, _report.state_text(state)
