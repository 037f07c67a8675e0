"""The web dashboard served by `doppel serve` at `/ui/`: server-rendered pages refreshed by a
vendored htmx (no build step, no Node at run time), acting through the `/v1` API."""

from doppel.ui.routes import dashboard_router, install

__all__ = ["dashboard_router", "install"]
