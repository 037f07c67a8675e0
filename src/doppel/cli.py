"""The `doppel` command: thin — parse, call, print."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from doppel.errors import DoppelError

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Per-agent mock SaaS APIs.")
err = Console(stderr=True)


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
        str, typer.Argument(help="An OpenAPI file, or a template name (figma, slack...)")
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
) -> None:
    """Start the control plane (SQLite and in-process runtime by default)."""
    import uvicorn
    from pydantic import ValidationError

    from doppel.api.app import create_asgi
    from doppel.mockserver import run
    from doppel.settings import Settings

    given = {
        "host": host, "port": port, "data_dir": data_dir, "public_host": public_host,
        "port_range": port_range,
    }
    try:
        settings = Settings(**{k: v for k, v in given.items() if v is not None})
    except ValidationError as exc:
        for error in exc.errors():
            err.print(f"[red]error:[/red] {'.'.join(map(str, error['loc']))}: {error['msg']}")
        raise typer.Exit(2) from None
    config = uvicorn.Config(
        create_asgi(settings), host=settings.host, port=settings.port, log_level="info",
        access_log=False, lifespan="on", server_header=False,
    )
    err.print(f"Doppel control plane on http://{settings.host}:{settings.port} "
              f"(data in {settings.data_dir}, services on ports {settings.port_range[0]}-"
              f"{settings.port_range[1]})")
    run(lambda: uvicorn.Server(config).serve())


def main() -> None:
    app()
