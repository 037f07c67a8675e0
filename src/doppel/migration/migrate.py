"""`doppel migrate static-to-dynamic`: read the static set-up's files, plan, and apply the plan
through the public HTTP API (templates first, then one sandbox per agent).

Idempotent: a template whose spec digest the server already holds is left alone, and an agent
that already has a running sandbox with its services gets no second one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from doppel.client import Client, TemplateInfo
from doppel.errors import DoppelError, SpecError
from doppel.migration.static_setup import StaticSetup, read_setup
from doppel.specs import digest, parse_document

STATIC_SUFFIX = "-static"  # for a service named like a bundled template


class SetupError(DoppelError):
    """A file of the static set-up (compose, nginx, agents) cannot be read."""

    status = 400
    slug = "static-setup-unreadable"
    title = "The static set-up cannot be read"


@dataclass
class TemplateStep:
    service: str  # the compose service
    template: str  # the template it becomes
    spec: str  # the spec file on the host
    action: str  # register | replace | unchanged | unreadable
    detail: str = ""
    outcome: str = ""
    ok: bool = True
    spec_bytes: bytes = field(default=b"", repr=False)


@dataclass
class SandboxStep:
    agent: str
    services: list[str]  # template names
    action: str  # create | exists | skip
    detail: str = ""
    sandbox_id: str | None = None
    outcome: str = ""
    ok: bool = True


@dataclass
class Migration:
    dry_run: bool
    templates: list[TemplateStep]
    sandboxes: list[SandboxStep]
    shared_services: list[str]
    warnings: list[str]

    @property
    def failed(self) -> bool:
        steps: list[TemplateStep | SandboxStep] = [*self.templates, *self.sandboxes]
        return not all(step.ok for step in steps)

    def as_json(self) -> dict[str, Any]:
        templates = [
            {k: v for k, v in asdict(s).items() if k != "spec_bytes"} for s in self.templates
        ]
        return {
            "dry_run": self.dry_run,
            "ok": not self.failed,
            "templates": templates,
            "sandboxes": [asdict(s) for s in self.sandboxes],
            "shared_services": self.shared_services,
            "warnings": self.warnings,
        }


# -- reading the files (I/O) ---------------------------------------------------------------


def load_setup(compose: Path, nginx: Path | None, agents: Path | None) -> StaticSetup:
    document = _yaml_file(compose, "compose file")
    if not isinstance(document, Mapping):
        raise SetupError(f"{compose}: a compose file is a YAML mapping with `services`")
    try:
        nginx_text = nginx.read_text() if nginx else None
    except (OSError, UnicodeDecodeError) as exc:
        raise SetupError(f"{nginx}: cannot read the nginx configuration: {exc}") from None
    return read_setup(document, nginx_text, _agents_file(agents) if agents else None)


def _yaml_file(path: Path, what: str) -> Any:
    try:
        return yaml.safe_load(path.read_text())  # JSON is YAML too
    except OSError as exc:
        raise SetupError(f"{path}: cannot read the {what}: {exc.strerror}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise SetupError(f"{path}: the {what} is not valid YAML: {exc}") from None


def _agents_file(path: Path) -> dict[str, list[str]]:
    document = _yaml_file(path, "agents file")
    shape = "a mapping of agent id to a list of compose service names"
    if not isinstance(document, Mapping):
        raise SetupError(f"{path}: the agents file must be {shape}")
    agents: dict[str, list[str]] = {}
    for agent, services in document.items():
        if not isinstance(services, list) or not all(isinstance(s, str) for s in services):
            raise SetupError(f"{path}: agent {agent!r}: expected {shape}")
        agents[str(agent)] = services
    return agents


def read_spec(path: Path) -> tuple[bytes, str | None]:
    """The spec's bytes, or why they are no usable OpenAPI description."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        return b"", f"cannot read {path}: {exc.strerror}"
    try:
        document = parse_document(data, path.name)
    except SpecError as exc:
        return data, f"{path.name}: {' '.join(exc.detail.split())}"  # YAML's errors span lines
    if not isinstance(document, Mapping) or not (
        isinstance(document.get("openapi"), str) or isinstance(document.get("swagger"), str)
    ):
        return data, f"{path.name} is not an OpenAPI description (no `openapi` or `swagger` field)"
    return data, None


# -- planning and applying (through the HTTP API) ------------------------------------------


def plan(setup: StaticSetup, base: Path, client: Client, *, dry_run: bool) -> Migration:
    """What the migration will do, from what the server holds now; nothing changes."""
    existing = {t.name: t for t in client.templates()}
    templates = [
        _template_step(s.name, s.template, s.spec, s.problem, base, existing)
        for s in setup.services
    ]
    names = {step.service: step for step in templates}
    sandboxes: list[SandboxStep] = []
    for agent, services in setup.agents().items():
        usable = [names[s].template for s in services if names[s].action != "unreadable"]
        left_out = [s for s in services if names[s].action == "unreadable"]
        note = f"left out (spec unreadable): {', '.join(left_out)}" if left_out else ""
        if not usable:
            sandboxes.append(SandboxStep(agent, [], "skip", note or "no services"))
            continue
        live = next(
            (
                s
                for s in client.list_sandboxes(agent_id=agent, status="running")
                if set(usable) <= set(s.services)
            ),
            None,
        )
        if live is not None:
            detail = f"sandbox {live.id} already runs these services"
            sandboxes.append(
                SandboxStep(agent, usable, "exists", _join(detail, note), sandbox_id=live.id)
            )
        else:
            sandboxes.append(SandboxStep(agent, usable, "create", note))
    warnings = list(setup.warnings)
    if not setup.agents():
        warnings.append(
            "no agent is known (nginx names none by itself): templates only; "
            "pass --agents FILE to create sandboxes"
        )
    return Migration(dry_run, templates, sandboxes, setup.shared_services(), warnings)


def _template_step(
    service: str,
    template: str,
    spec: str | None,
    problem: str | None,
    base: Path,
    existing: Mapping[str, TemplateInfo],
) -> TemplateStep:
    if spec is None:
        return TemplateStep(service, template, "-", "unreadable", problem or "", ok=False)
    path = base / Path(spec).expanduser()
    data, problem = read_spec(path)
    if problem is not None:
        return TemplateStep(service, template, spec, "unreadable", problem, ok=False)
    detail = ""
    held = existing.get(template)
    if held is not None and held.origin != "registered":
        template += STATIC_SUFFIX
        detail = f"{held.name!r} is a {held.origin} template: this spec becomes {template!r}"
        held = existing.get(template)
    if held is None:
        action = "register"
    elif held.raw.get("digest") == digest(data):
        action, detail = "unchanged", _join(detail, "the server holds this spec (same digest)")
    else:
        action, detail = "replace", _join(detail, "the server holds another version")
    return TemplateStep(service, template, spec, action, detail, spec_bytes=data)


def apply(migration: Migration, client: Client, *, ttl_minutes: float | None = None) -> None:
    """Carry the plan out; each step's outcome says what happened. A failed template leaves
    its service out of every sandbox, and the rest proceed."""
    failed: set[str] = set()
    for step in migration.templates:
        if step.action == "unreadable":
            step.outcome = "failed"
            failed.add(step.template)
        elif step.action == "unchanged":
            step.outcome = "unchanged"
        elif migration.dry_run:
            step.outcome = f"would {step.action}"
        else:
            try:
                client.register_template(step.template, step.spec_bytes)
                step.outcome = "registered" if step.action == "register" else "replaced"
            except DoppelError as exc:
                step.ok, step.outcome = False, f"failed: {exc.detail}"
                failed.add(step.template)
    for sandbox in migration.sandboxes:
        if sandbox.action == "skip":
            sandbox.outcome = "skipped"
            continue
        if sandbox.action == "exists":
            sandbox.outcome = f"exists: {sandbox.sandbox_id}"
            continue
        services = [s for s in sandbox.services if s not in failed]
        if not services:
            sandbox.outcome = "skipped: none of its services could be registered"
            continue
        if migration.dry_run:
            sandbox.outcome = "would create"
            continue
        try:
            created = client.create_sandbox(sandbox.agent, services, ttl_minutes=ttl_minutes)
        except DoppelError as exc:
            sandbox.ok, sandbox.outcome = False, f"failed: {exc.detail}"
            continue
        sandbox.sandbox_id, sandbox.services = created.id, services
        sandbox.outcome = f"created {created.id}"


def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


def migrate(
    compose: Path,
    *,
    nginx: Path | None,
    agents: Path | None,
    url: str,
    dry_run: bool,
    ttl_minutes: float | None = None,
) -> Migration:
    """Read, plan and (unless `dry_run`) apply; raises DoppelError when nothing can start."""
    setup = load_setup(compose, nginx, agents)
    with Client(url) as client:
        migration = plan(setup, compose.resolve().parent, client, dry_run=dry_run)
        apply(migration, client, ttl_minutes=ttl_minutes)
    return migration


def dumps(migration: Migration) -> str:
    return json.dumps(migration.as_json(), indent=2)
