"""The `doppel` command: thin — parse, call, print."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer
from rich.box import SIMPLE_HEAD
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from doppel.client import DEFAULT_URL, Client, Sandbox
from doppel.errors import DoppelError

if TYPE_CHECKING:
    from doppel.migration.migrate import Migration

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Per-agent mock SaaS APIs.")
sandbox_app = typer.Typer(no_args_is_help=True, help="Create, list, inspect and end sandboxes.")
templates_app = typer.Typer(help="List the templates services come from; `show NAME` for one.")
migrate_app = typer.Typer(no_args_is_help=True, help="Move a static set-up to dynamic sandboxes.")
app.add_typer(sandbox_app, name="sandbox")
app.add_typer(templates_app, name="templates")
app.add_typer(migrate_app, name="migrate")
err = Console(stderr=True)
out = Console()
T = TypeVar("T")
_MAX_PAGE = 1000  # the largest page the control plane serves

Url = Annotated[
    str, typer.Option("--url", envvar="DOPPEL_URL", help="The control plane's base URL.")
]
AsJson = Annotated[bool, typer.Option("--json", help="Print the raw JSON, nothing else.")]


@app.callback()
def _root() -> None:
    """Doppel: private, short-lived mock SaaS APIs for every agent under test."""


def _load_json(path: Path | None) -> Any:
    if path is None:
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise typer.BadParameter(f"{path}: {exc}") from None


@app.command()
def mock(
    spec: Annotated[
        str,
        typer.Argument(help="An OpenAPI file, a template folder, or a template name (slack...)"),
    ],
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind; 0 picks a free one.")] = 4010,
    config: Annotated[
        Path | None, typer.Option(help="JSON custom_config (template fields, mock_responses).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed for generated data.")] = 0,
) -> None:
    """Serve one mock in the foreground and print its URL."""
    from doppel.mockserver import build_instance, run, serve_forever

    try:
        instance = build_instance(spec, _load_json(config), seed=seed)
    except DoppelError as exc:
        err.print(f"[red]error:[/red] {exc.detail}")
        for item in exc.errors:
            err.print(f"  {item.pointer or '/'}: {item.detail}")
        raise typer.Exit(2) from None

    def ready(url: str) -> None:
        typer.echo(url, color=False)
        err.print(f"{instance.name}: {len(instance.spec.operations)} operations at {url}")

    try:
        run(lambda: serve_forever(instance, host, port, ready))
    except OSError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind [DOPPEL_HOST].")] = None,
    port: Annotated[int | None, typer.Option(help="Control-plane port [DOPPEL_PORT].")] = None,
    data_dir: Annotated[
        Path | None, typer.Option(help="Where state lives [DOPPEL_DATA_DIR].")
    ] = None,
    public_host: Annotated[
        str | None, typer.Option(help="Host name in service URLs [DOPPEL_PUBLIC_HOST].")
    ] = None,
    port_range: Annotated[
        str | None, typer.Option(help="Ports for services, LOW-HIGH [DOPPEL_PORT_RANGE].")
    ] = None,
    log_format: Annotated[
        str | None, typer.Option(help="Logs as `text` or `json` lines [DOPPEL_LOG_FORMAT].")
    ] = None,
    access_log: Annotated[
        bool | None,
        typer.Option(
            "--access-log/--no-access-log",
            help="Log every control-plane request [DOPPEL_ACCESS_LOG].",
            show_default=False,
        ),
    ] = None,
    mode: Annotated[
        str | None,
        typer.Option(
            help="dynamic (a sandbox per agent) or static (shared instances on fixed ports, "
            "DOPPEL_STATIC_SERVICES and DOPPEL_STATIC_PORTS) [DOPPEL_MODE]."
        ),
    ] = None,
) -> None:
    """Start the control plane (SQLite and in-process runtime by default)."""
    import logging

    import uvicorn
    from pydantic import ValidationError

    from doppel import logs
    from doppel.api.app import create_asgi
    from doppel.mockserver import run
    from doppel.settings import Settings

    given: dict[str, Any] = {
        "host": host,
        "port": port,
        "data_dir": data_dir,
        "public_host": public_host,
        "port_range": port_range,
        "log_format": log_format,
        "access_log": access_log,
        "mode": mode,
    }
    try:
        settings = Settings(**{k: v for k, v in given.items() if v is not None})
    except ValidationError as exc:
        for error in exc.errors():
            where = ".".join(map(str, error["loc"]))
            err.print(f"[red]error:[/red] {where + ': ' if where else ''}{error['msg']}")
        raise typer.Exit(2) from None
    logs.configure(settings.log_format)
    config = uvicorn.Config(
        create_asgi(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,  # configured above, uvicorn's loggers included
        access_log=settings.access_log,
        lifespan="on",
        server_header=False,
    )
    logging.getLogger("doppel").info(
        "Doppel control plane on http://%s:%s (data in %s, services on ports %s-%s, %s mode)",
        settings.host,
        settings.port,
        settings.data_dir,
        *settings.port_range,
        settings.sandbox_mode,
    )
    run(lambda: uvicorn.Server(config).serve())


# -- sandboxes and templates: thin calls through doppel.client -----------------------------


@sandbox_app.command("create")
def sandbox_create(
    agent: Annotated[str, typer.Option("--agent", help="The agent the sandbox is for.")],
    service: Annotated[
        list[str], typer.Option("--service", help="A service to run (a template name); repeat.")
    ],
    ttl: Annotated[float | None, typer.Option("--ttl", help="Minutes to live.")] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", help="JSON file of custom_configs: {service: config}."),
    ] = None,
    url: Url = DEFAULT_URL,
    as_json: AsJson = False,
) -> None:
    """Create a sandbox and print its services' URLs."""
    custom_configs = _load_json(config)
    if custom_configs is not None and not isinstance(custom_configs, dict):
        raise typer.BadParameter(
            f"{config}: expected a JSON object of {{service: config}}", param_hint="--config"
        )
    with _client(url) as client:
        sandbox = client.create_sandbox(
            agent, service, ttl_minutes=ttl, custom_configs=custom_configs
        )
    _print_sandbox(sandbox, as_json)


@sandbox_app.command("ls")
def sandbox_ls(
    agent: Annotated[str | None, typer.Option("--agent", help="Only this agent's.")] = None,
    status: Annotated[
        str | None, typer.Option("--status", help="Only these: running, expired, deleted...")
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option("--limit", min=1, help="At most this many (the newest); default all."),
    ] = None,
    url: Url = DEFAULT_URL,
    as_json: AsJson = False,
) -> None:
    """List sandboxes, newest first, ended ones included (every page, unless --limit)."""
    with _client(url) as client:
        found = client.iter_sandboxes(agent_id=agent, status=status, page_size=_page(limit))
        sandboxes = list(itertools.islice(found, limit))
    if as_json:
        _echo_json({"sandboxes": [s.raw for s in sandboxes]})
        return
    if not sandboxes:
        out.print("No sandboxes.")
        return
    table = Table(
        "Sandbox",
        "Agent",
        "Status",
        "Expires (UTC)",
        "Services",
        box=SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        collapse_padding=True,
    )
    for column in table.columns:  # ids, times and URLs stay whole...
        column.no_wrap = True
    agent_column = table.columns[1]  # ...and a long agent name folds
    agent_column.no_wrap, agent_column.overflow, agent_column.min_width = False, "fold", 5
    for sandbox in sandboxes:
        services = "\n".join(
            f"{name} {info.url or '-'}" for name, info in sorted(sandbox.services.items())
        )
        table.add_row(
            sandbox.id,
            escape(sandbox.agent_id),
            sandbox.status,
            _when(sandbox.expires_at, "%m-%d %H:%M"),
            escape(services),
        )
    out.print(table)


def _page(limit: int | None) -> int:
    """The page size that fetches `limit` sandboxes (or all) in as few calls as allowed."""
    return min(limit or _MAX_PAGE, _MAX_PAGE)


@sandbox_app.command("show")
def sandbox_show(
    sandbox_id: Annotated[str, typer.Argument(metavar="ID")],
    url: Url = DEFAULT_URL,
    as_json: AsJson = False,
) -> None:
    """Show one sandbox and its services."""
    with _client(url) as client:
        sandbox = client.get_sandbox(sandbox_id)
    _print_sandbox(sandbox, as_json)


@sandbox_app.command("rm")
def sandbox_rm(
    sandbox_id: Annotated[str, typer.Argument(metavar="ID")],
    url: Url = DEFAULT_URL,
    as_json: AsJson = False,
) -> None:
    """Delete a sandbox: its services stop at once."""
    with _client(url) as client:
        sandbox = client.delete_sandbox(sandbox_id)
    _report(sandbox, as_json, f"Deleted sandbox {sandbox.id}.")


@sandbox_app.command("extend")
def sandbox_extend(
    sandbox_id: Annotated[str, typer.Argument(metavar="ID")],
    minutes: Annotated[float, typer.Option("--minutes", help="Minutes to add to its life.")],
    url: Url = DEFAULT_URL,
    as_json: AsJson = False,
) -> None:
    """Push a sandbox's expiry later."""
    with _client(url) as client:
        sandbox = client.extend_sandbox(sandbox_id, minutes)
    _report(
        sandbox, as_json, f"Sandbox {sandbox.id} now expires at {_when(sandbox.expires_at)} UTC."
    )


@sandbox_app.command("requests")
def sandbox_requests(
    sandbox_id: Annotated[str, typer.Argument(metavar="ID")],
    url: Url = DEFAULT_URL,
    as_json: AsJson = False,
) -> None:
    """The journal: every request the sandbox's services answered, and how."""
    with _client(url) as client:
        journal = client.requests(sandbox_id)
    if as_json:
        _echo_json(journal)
        return
    events = sorted(
        ((event, name) for name, found in journal.items() for event in found),
        key=lambda pair: str(pair[0].get("at", "")),
    )
    if not events:
        out.print(f"Sandbox {escape(sandbox_id)} has answered no request yet.")
        return
    table = Table("At (UTC)", "Service", "Request", "Status", "Answered by", "Changes")
    requests = [f"{event.get('method')} {event.get('path')}" for event, _ in events]
    table.columns[2].no_wrap = True  # a request reads as one line; the others may wrap
    table.columns[2].min_width = max(len(r) for r in requests)
    for event, name in events:
        table.add_row(
            str(event.get("at", ""))[11:23],
            escape(name),
            escape(f"{event.get('method')} {event.get('path')}"),
            str(event.get("status")),
            escape(f"{event.get('source')} ({event.get('operation_id') or '-'})"),
            str(len(event.get("changes") or ())),
        )
    out.print(table)


@sandbox_app.command("state")
def sandbox_state(
    sandbox_id: Annotated[str, typer.Argument(metavar="ID")],
    url: Url = DEFAULT_URL,
) -> None:
    """What the agent created, changed and deleted (JSON: service → collection → key)."""
    with _client(url) as client:
        _echo_json(client.state(sandbox_id))


@sandbox_app.command("reset")
def sandbox_reset(
    sandbox_id: Annotated[str, typer.Argument(metavar="ID")],
    url: Url = DEFAULT_URL,
    as_json: AsJson = False,
) -> None:
    """Forget what the agent changed and the journal; the sandbox keeps running."""
    with _client(url) as client:
        sandbox = client.reset_sandbox(sandbox_id)
    _report(
        sandbox, as_json, f"Sandbox {sandbox.id} reset: its services answer as when it was created."
    )


@sandbox_app.command("diff")
def sandbox_diff(
    sandbox_id: Annotated[str, typer.Argument(metavar="ID")],
    since: Annotated[
        str | None, typer.Option("--since", help="A checkpoint; by default creation.")
    ] = None,
    url: Url = DEFAULT_URL,
    as_json: AsJson = False,
) -> None:
    """What the agent created, changed and deleted, per service and resource."""
    with _client(url) as client:
        found = client.diff(sandbox_id, since=since)
    if as_json:
        _echo_json(found)
        return
    summary = found["summary"]
    out.print(
        f"Since {escape(found['since'])}: {summary['created']} created, "
        f"{summary['changed']} changed, {summary['deleted']} deleted."
    )
    table = Table("Service", "", "Resource", "Key", "Patch")
    for column in table.columns[:4]:  # names stay whole; the patch wraps, one op a line
        column.no_wrap = True
    for name, changes in found["services"].items():
        for what in ("created", "changed", "deleted"):
            for change in changes[what]:
                table.add_row(
                    escape(name),
                    _MARKS[what],
                    escape(change["resource"]),
                    escape(change["key"]),
                    escape(_patch_summary(change.get("patch") or ())),
                )
    if table.rows:
        out.print(table)


_MARKS = {"created": "[green]+[/green]", "changed": "[yellow]~[/yellow]", "deleted": "[red]-[/red]"}


def _patch_summary(patch: Any) -> str:
    """`replace /state` (a line per op): what a JSON Patch touches."""
    return "\n".join(f"{op['op']} {op['path']}" for op in patch)


@sandbox_app.command("checkpoint")
def sandbox_checkpoint(
    sandbox_id: Annotated[str, typer.Argument(metavar="ID")],
    name: Annotated[
        str | None, typer.Option("--name", help="Unique in the sandbox; by default checkpoint-N.")
    ] = None,
    url: Url = DEFAULT_URL,
    as_json: AsJson = False,
) -> None:
    """Name the sandbox's current state, to diff against or restore later."""
    with _client(url) as client:
        made = client.checkpoint(sandbox_id, name)
    if as_json:
        _echo_json(made)
        return
    out.print(f"Checkpoint {escape(made['name'])} of sandbox {escape(sandbox_id)} saved.")


@sandbox_app.command("checkpoints")
def sandbox_checkpoints(
    sandbox_id: Annotated[str, typer.Argument(metavar="ID")],
    url: Url = DEFAULT_URL,
    as_json: AsJson = False,
) -> None:
    """The sandbox's checkpoints, oldest first."""
    with _client(url) as client:
        found = client.checkpoints(sandbox_id)
    if as_json:
        _echo_json({"checkpoints": found})
        return
    if not found:
        out.print(f"Sandbox {escape(sandbox_id)} has no checkpoint.")
        return
    table = Table("Checkpoint", "Created (UTC)")
    for checkpoint in found:
        created = datetime.fromisoformat(checkpoint["created_at"])
        table.add_row(escape(checkpoint["name"]), _when(created))
    out.print(table)


@sandbox_app.command("restore")
def sandbox_restore(
    sandbox_id: Annotated[str, typer.Argument(metavar="ID")],
    checkpoint: Annotated[str, typer.Argument(help="The checkpoint to return to.")],
    url: Url = DEFAULT_URL,
    as_json: AsJson = False,
) -> None:
    """Put every service's state back to a checkpoint's (the journal is kept)."""
    with _client(url) as client:
        sandbox = client.restore(sandbox_id, checkpoint)
    _report(sandbox, as_json, f"Sandbox {sandbox.id} restored to checkpoint {escape(checkpoint)}.")


@sandbox_app.command("fork")
def sandbox_fork(
    sandbox_id: Annotated[str, typer.Argument(metavar="ID")],
    agent: Annotated[
        str | None, typer.Option("--agent", help="The fork's agent; by default the source's.")
    ] = None,
    ttl: Annotated[float | None, typer.Option("--ttl", help="Minutes to live.")] = None,
    url: Url = DEFAULT_URL,
    as_json: AsJson = False,
) -> None:
    """A new sandbox on new URLs, with the same templates, configs and state."""
    with _client(url) as client:
        sandbox = client.fork(sandbox_id, agent_id=agent, ttl_minutes=ttl)
    if not as_json:
        out.print(f"Forked sandbox {escape(sandbox_id)}:")
    _print_sandbox(sandbox, as_json)


@templates_app.callback(invoke_without_command=True)
def templates(ctx: typer.Context, url: Url = DEFAULT_URL, as_json: AsJson = False) -> None:
    """List the templates; `doppel templates show NAME` describes one."""
    if ctx.invoked_subcommand is not None:
        return
    with _client(url) as client:
        found = client.templates()
    if as_json:
        _echo_json([t.raw for t in found])
        return
    table = Table("Name", "Title", "Origin", "Operations")
    table.columns[3].justify = "right"
    for template in found:
        table.add_row(
            escape(template.name),
            escape(template.title),
            escape(template.origin),
            str(template.operation_count),
        )
    out.print(table)


@templates_app.command("show")
def templates_show(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="A template name, e.g. figma.")],
    url: Url = DEFAULT_URL,
    as_json: AsJson = False,
) -> None:
    """Show one template: its servers, config fields and operations."""
    url, as_json = _inherited(ctx, "url", url), _inherited(ctx, "as_json", as_json)
    with _client(url) as client:
        template = client.template(name)
    if as_json:
        _echo_json(template)
        return
    out.print(f"[bold]{escape(template['name'])}[/bold]: {escape(template['title'])}")
    fields = sorted((template.get("config_schema") or {}).get("properties") or {})
    out.print(f"Origin: {escape(template['origin'])}")
    out.print(f"Servers: {escape(', '.join(template.get('servers') or ()) or '-')}")
    out.print(f"Config fields: {escape(', '.join(fields) or '-')}")
    table = Table("Method", "Path", "Operation", "Summary")
    for operation in template.get("operations") or ():
        table.add_row(
            operation["method"],
            escape(operation["path"]),
            escape(operation["operation_id"]),
            escape(operation.get("summary") or ""),
        )
    out.print(table)


@templates_app.command("add")
def templates_add(
    ctx: typer.Context,
    spec: Annotated[Path, typer.Argument(help="An OpenAPI 3.0/3.1 or Swagger 2.0 file.")],
    name: Annotated[str, typer.Option(help="The service name sandboxes will ask for.")],
    config_schema: Annotated[
        Path | None, typer.Option(help="JSON Schema for the template's custom_config.")
    ] = None,
    fixtures: Annotated[
        Path | None, typer.Option(help="Jinja2 fixtures rendering stubs from the config.")
    ] = None,
    url: Url = DEFAULT_URL,
    as_json: AsJson = False,
) -> None:
    """Register (or replace) a template from any OpenAPI file; usable by new sandboxes now."""
    url, as_json = _inherited(ctx, "url", url), _inherited(ctx, "as_json", as_json)
    try:
        raw = spec.read_bytes()
        text = fixtures.read_text() if fixtures else None
    except OSError as exc:
        raise typer.BadParameter(f"{exc.filename}: {exc.strerror}") from None
    schema = _load_json(config_schema)
    with _client(url) as client:
        template = client.register_template(name, raw, config_schema=schema, fixtures=text)
    if as_json:
        _echo_json(template)
        return
    out.print(
        f"Template {escape(template['name'])} registered: {template['operation_count']} "
        f"operations from {escape(template['title'] or spec.name)}."
    )


@templates_app.command("rm")
def templates_rm(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="A registered template's name.")],
    url: Url = DEFAULT_URL,
) -> None:
    """Remove a registered template; sandboxes already using it keep running."""
    url = _inherited(ctx, "url", url)
    with _client(url) as client:
        client.delete_template(name)
    out.print(f"Template {escape(name)} removed.")


@migrate_app.command("static-to-dynamic")
def migrate_static_to_dynamic(
    compose: Annotated[
        Path, typer.Option("--compose", help="The docker-compose file running Prism mocks.")
    ],
    nginx: Annotated[
        Path | None,
        typer.Option("--nginx", help="The nginx config routing /sandbox/{agent}/{service}/."),
    ] = None,
    agents: Annotated[
        Path | None,
        typer.Option("--agents", help="YAML/JSON: agent -> services; adds and overrides nginx's."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the plan; change nothing.")
    ] = False,
    ttl: Annotated[
        float | None, typer.Option("--ttl", help="Minutes the new sandboxes live.")
    ] = None,
    url: Url = DEFAULT_URL,
    as_json: AsJson = False,
) -> None:
    """Register each Prism spec as a template, then a sandbox per agent with its services.

    Safe to run again: what the server already holds is left alone. Exit status 1 when any
    spec, template or sandbox failed (the rest proceed).
    """
    from doppel.migration.migrate import dumps, migrate

    try:
        migration = migrate(
            compose, nginx=nginx, agents=agents, url=url, dry_run=dry_run, ttl_minutes=ttl
        )
    except DoppelError as exc:
        _fail(exc)
    if as_json:
        typer.echo(dumps(migration))
    else:
        _print_migration(migration)
    if migration.failed:
        raise typer.Exit(1)


def _print_migration(migration: Migration) -> None:
    title = "Plan (dry run: nothing changed)" if migration.dry_run else "Migration"
    templates = Table("Service", "Spec", "Template", "Plan", "Outcome", "Detail", title=title)
    for template in migration.templates:
        templates.add_row(
            escape(template.service),
            escape(template.spec),
            escape(template.template),
            template.action,
            escape(template.outcome),
            escape(template.detail),
        )
    out.print(templates)
    sandboxes = Table("Agent", "Services", "Plan", "Outcome", "Detail")
    for step in migration.sandboxes:
        sandboxes.add_row(
            escape(step.agent),
            escape(", ".join(step.services) or "-"),
            step.action,
            escape(step.outcome),
            escape(step.detail),
        )
    if migration.sandboxes:
        out.print(sandboxes)
    if migration.shared_services:
        out.print(f"Reached by any agent in nginx: {escape(', '.join(migration.shared_services))}")
    for warning in migration.warnings:
        err.print(f"[yellow]warning:[/yellow] {escape(warning)}", soft_wrap=True)
    if migration.failed:
        err.print("[red]Some steps failed[/red] (see Outcome); the others were carried out.")


@contextmanager
def _client(url: str) -> Iterator[Client]:
    """A client whose every DoppelError ends the command: the detail, each field, exit 1."""
    try:
        with Client(url) as client:
            yield client
    except DoppelError as exc:
        _fail(exc)


def _fail(exc: DoppelError) -> NoReturn:
    err.print(f"[red]error:[/red] {escape(exc.detail)}", soft_wrap=True, highlight=False)
    for item in exc.errors:
        line = f"  {escape(item.pointer or '/')}: {escape(item.detail)}"
        err.print(line, soft_wrap=True, highlight=False)
    raise typer.Exit(1)


def _inherited(ctx: typer.Context, name: str, value: T) -> T:
    """An option given before the subcommand (`templates --json show x`) applies to it too."""
    source = ctx.get_parameter_source(name)  # typer vendors click: compare by name
    if ctx.parent is None or (source is not None and source.name == "COMMANDLINE"):
        return value
    inherited: T = ctx.parent.params.get(name, value)
    return inherited


def _print_sandbox(sandbox: Sandbox, as_json: bool) -> None:
    if as_json:
        _echo_json(sandbox.raw)
        return
    out.print(
        f"Sandbox [bold]{sandbox.id}[/bold] for agent {escape(sandbox.agent_id)}: "
        f"{sandbox.status}" + (f" ({escape(sandbox.reason)})" if sandbox.reason else "")
    )
    out.print(f"Expires at {_when(sandbox.expires_at)} UTC (TTL {sandbox.ttl_minutes:g} min)")
    usage = sandbox.usage
    held = ", ".join(f"{kind} {_bytes(n)}" for kind, n in usage.bytes.items())
    last = f"{_when(usage.last_activity)} UTC" if usage.last_activity else "never"
    out.print(f"Usage: {usage.requests} requests, {usage.errors} errors, last {last}; holds {held}")
    table = Table("Service", "Template", "Status", "URL", "Requests", "Errors")
    table.columns[3].no_wrap = True
    for column in table.columns[4:]:
        column.justify = "right"
    for name, info in sorted(sandbox.services.items()):
        table.add_row(
            escape(name),
            escape(info.template),
            info.status,
            info.url or "-",
            str(info.usage.requests),
            str(info.usage.errors),
        )
    out.print(table)


def _bytes(count: int) -> str:
    if count < 1024:
        return f"{count} B"
    kib = count / 1024
    return f"{kib:.1f} KiB" if kib < 1024 else f"{kib / 1024:.1f} MiB"


def _report(sandbox: Sandbox, as_json: bool, message: str) -> None:
    """The sandbox as the server answered (`--json`), or one line saying what happened."""
    if as_json:
        _echo_json(sandbox.raw)
    else:
        out.print(message)


def _echo_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2))


def _when(moment: datetime, layout: str = "%Y-%m-%d %H:%M:%S") -> str:
    return moment.astimezone(UTC).strftime(layout)


def main() -> None:
    app()
