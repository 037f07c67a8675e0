"""The dashboard at `/ui/`: server-rendered pages and the fragments htmx refreshes them with.

Pages read through the same `SandboxService` and template registry as `/v1` and show the
API's own answer shapes (`SandboxOut`); every action (create, extend, reset, checkpoint,
restore, fork, delete, register a template) is a call from the browser to `/v1` itself, so
no rule of the API is implemented twice.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from importlib import resources
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query, Request
from jinja2 import Environment, PackageLoader
from markupsafe import Markup
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.staticfiles import StaticFiles

from doppel.api.schemas import SandboxOut
from doppel.api.templates import template_detail, template_summary
from doppel.errors import DoppelError, SandboxGoneError
from doppel.sandboxes import SandboxService
from doppel.store import SandboxRecord, SandboxStatus, Usage
from doppel.templates import TemplateRegistry
from doppel.ui import guards, views
from doppel.ui.forms import config_fields

STATUSES = [s.value for s in SandboxStatus]
STYLESHEET = "static/dashboard.css"
Text = Annotated[str, Query(max_length=128)]
ServiceFilter = Annotated[str, Query(alias="service", max_length=128)]
PageNumber = Annotated[int, Query(ge=1, le=1_000_000)]
Cursor = Annotated[int, Query(ge=0)]


def install(app: FastAPI, service: SandboxService, templates: TemplateRegistry, host: str) -> None:
    """Serve the dashboard from `app`: `/ui/…`, its static files, and `/` sending people there."""
    app.include_router(dashboard_router(service, templates, host))
    app.mount("/ui/static", StaticFiles(packages=[("doppel.ui", "static")]), name="ui-static")

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse("/ui/")


def dashboard_router(service: SandboxService, templates: TemplateRegistry, host: str) -> APIRouter:
    ui = APIRouter(prefix="/ui", include_in_schema=False)
    env = environment()

    def render(
        name: str, status: int = 200, headers: Mapping[str, str] | None = None, **context: Any
    ) -> HTMLResponse:
        context.setdefault("now", service.clock.now().isoformat())  # countdowns run on it
        html = env.get_template(name).render(**context)
        return HTMLResponse(html, status_code=status, headers=headers)

    def out(record: SandboxRecord, usage: Usage | None = None) -> dict[str, Any]:
        """The API's answer for `record` (with its usage, read now unless given), plus what
        the page shows beside it: health."""
        usage = usage or service.usage([record])[record.id]
        shown = SandboxOut.of(record, host, usage).model_dump(mode="json")
        shown["health"] = {
            name: views.health(
                shown["status"], s["status"], service.instance(record.id, name) is not None
            )
            for name, s in shown["services"].items()
        }
        return shown

    def served(sandbox_id: str) -> dict[str, int]:
        running = service.running.get(sandbox_id)
        if running is None:
            return {}
        return {name: i.requests_served for name, i in running.instances.items()}

    def listed(agent: str, status: str, svc: str, page: int) -> dict[str, Any]:
        """One page of the list, paged in the store: a thousand sandboxes cost what 50 do."""
        who, state, held = agent or None, status if status in STATUSES else None, svc or None
        shown = views.Page.of(service.count(who, state, service=held), page)
        records = service.find(who, state, service=held, offset=shown.offset, limit=shown.size)
        usage = service.usage(records)  # one read for the page, not one per row

        def at(number: int) -> str:
            return views.query(agent=agent, status=status, service=svc, page=number)

        return {
            "page": shown,
            "sandboxes": [out(r, usage[r.id]) for r in records],
            "filters": {"agent": agent, "status": status, "service": svc},
            "query": at(shown.number),
            "prev_query": at(shown.number - 1) if shown.number > 1 else None,
            "next_query": at(shown.number + 1) if shown.number < shown.pages else None,
        }

    @ui.get("")
    async def bare() -> RedirectResponse:
        return RedirectResponse("/ui/")

    @ui.get("/")
    async def sandboxes(
        agent: Text = "", status: Text = "", held: ServiceFilter = "", page: PageNumber = 1
    ) -> HTMLResponse:
        return render(
            "sandboxes.html",
            statuses=STATUSES,
            services=templates.names(),
            **listed(agent, status, held, page),
        )

    @ui.get("/sandboxes/rows")
    async def sandbox_rows(
        agent: Text = "", status: Text = "", held: ServiceFilter = "", page: PageNumber = 1
    ) -> HTMLResponse:
        return render("_rows.html", **listed(agent, status, held, page))

    @ui.get("/new")
    async def new_sandbox() -> HTMLResponse:
        editors = [
            {"name": t.name, "fields": config_fields(t.name, t.config_schema)} for t in templates
        ]
        return render("new.html", editors=editors)

    @ui.get("/sandboxes/{sandbox_id}")
    async def sandbox(request: Request, sandbox_id: str) -> HTMLResponse:
        try:
            shown = out(service.get(sandbox_id))
        except SandboxGoneError as exc:
            return render("ended.html", status=410, sandbox_id=sandbox_id, reason=exc.detail)
        except DoppelError as exc:
            return render("error.html", status=exc.status, title=exc.title, detail=exc.detail)
        rows, _ = service.journal_since(sandbox_id)
        paths = guards.served(request.app.openapi())
        return render(
            "sandbox.html",
            sandbox=shown,
            usage=guards.usage_of(shown, served(sandbox_id)),
            entries=views.newest_first(rows)[: views.JOURNAL_SHOWN],
            journal_total=len(rows),
            cursor=views.last_id(rows),
            diff_available=guards.diff_available(paths),
            checkpoints_available=guards.checkpoints_available(paths),
            checkpoint_list_available=guards.checkpoint_list_available(paths),
            restore_available=guards.restore_available(paths),
            fork_available=guards.fork_available(paths),
        )

    @ui.get("/sandboxes/{sandbox_id}/summary")
    async def sandbox_summary(sandbox_id: str) -> HTMLResponse:
        try:
            shown = out(service.get(sandbox_id))
        except DoppelError as exc:  # it ended while the page was open: the page says so
            return render("_ended_notice.html", detail=exc.detail)
        return render(
            "_summary.html", sandbox=shown, usage=guards.usage_of(shown, served(sandbox_id))
        )

    @ui.get("/sandboxes/{sandbox_id}/journal")
    async def sandbox_journal(sandbox_id: str, after: Cursor = 0) -> Response:
        """What the page's journal lacks (entries past id `after`) to add on top, or the
        whole journal again when it was cleared; `HX-Trigger: journal-changed` tells the
        page's state and diff to refresh."""
        rows, cleared = service.journal_since(sandbox_id, after)
        changed = cleared or bool(rows)
        return render(
            "_journal_update.html",
            headers={"HX-Trigger": "journal-changed"} if changed else None,
            sandbox_id=sandbox_id,
            entries=views.newest_first(rows)[: views.JOURNAL_SHOWN],
            cleared=cleared,
            cursor=views.last_id(rows, after),
        )

    @ui.get("/sandboxes/{sandbox_id}/state")
    async def sandbox_state(sandbox_id: str) -> HTMLResponse:
        try:
            state: dict[str, Any] | None = service.state(sandbox_id)
        except DoppelError:
            state = None
        return render("_state.html", state=state)

    @ui.get("/templates")
    async def template_list() -> HTMLResponse:
        return render("templates.html", templates=[template_summary(t, service) for t in templates])

    @ui.get("/templates/{name}")
    async def template_page(name: str) -> HTMLResponse:
        try:
            template = templates.get(name)
        except DoppelError as exc:
            return render("error.html", status=exc.status, title=exc.title, detail=exc.detail)
        return render(
            "template.html", template=template_detail(template, template.compile(service.cache))
        )

    return ui


def environment() -> Environment:
    """The pages' Jinja2 environment: our own templates, every value autoescaped."""
    env = Environment(loader=PackageLoader("doppel.ui"), autoescape=True)
    env.filters["pretty"] = lambda value: json.dumps(value, indent=2, ensure_ascii=False)
    env.filters["pretty_body"] = _pretty_body
    # Inlined, the stylesheet costs no request before the first paint (it is 5 KB).
    env.globals["stylesheet"] = Markup(
        resources.files("doppel.ui").joinpath(STYLESHEET).read_text()
    )
    return env


def _pretty_body(text: str) -> str:
    """A journal body as sent, indented when it is JSON."""
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return text
