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


def main() -> None:
    app()
