"""The dashboard in a real headless chromium against a real `doppel serve` on loopback: create
a sandbox through the form, see it listed, watch a mock request reach its journal without a
reload, extend it, delete it; checkpoint, diff since, restore and fork it; register a spec by
upload."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.conftest import ROOT, TEST_SPECS
from tests.servers import ControlPlane, credentials
from tests.ui.browser import CHROMIUM_ARGS, chromium_path

pytestmark = pytest.mark.slow
SCREENSHOT = ROOT / "docs" / "img" / "dashboard.png"
WAIT = 15_000  # ms; two cores shared with the rest of the suite


@pytest.fixture(scope="module")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    """`doppel serve` on loopback, given time to start on a busy machine."""
    server = ControlPlane(tmp_path_factory.mktemp("control-plane") / "data").start(timeout=90)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Browser, control_plane: ControlPlane) -> Iterator[Page]:
    context = browser.new_context(
        base_url=control_plane.url, viewport={"width": 1300, "height": 900}
    )
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=control_plane.url)
    context.set_default_timeout(WAIT)
    expect.set_options(timeout=WAIT)
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.on("dialog", lambda dialog: dialog.accept())
    try:
        yield opened
        assert errors == [], f"the page's scripts failed: {errors}"
    finally:
        context.close()


def _api(control_plane: ControlPlane, path: str) -> httpx.Response:
    return httpx.get(f"{control_plane.url}{path}", trust_env=False)


def test_a_sandbox_from_form_to_journal_to_deletion(
    page: Page, control_plane: ControlPlane
) -> None:
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/ui/$"))

    # -- create through the form: the API's refusals land next to their fields ---------------
    page.goto("/ui/new")
    form = page.locator("#create-form")
    form.locator("input[name=agent]").fill("ui-agent")
    form.get_by_label("slack", exact=True).check()
    slack = form.locator("fieldset.editor[data-service=slack]")
    expect(slack).to_be_visible()
    slack.locator(".config[data-name=team_name]").fill("Acme")
    slack.locator(".config[data-name=channels]").fill("5")
    slack.locator(".config[data-name=mock_responses]").fill("{not json")
    form.get_by_role("button", name="Create sandbox").click()
    mock_error = slack.locator('.field[data-pointer="/custom_configs/slack/mock_responses"] .error')
    expect(mock_error).to_contain_text("not valid JSON")

    slack.locator(".config[data-name=mock_responses]").fill('{"/api/doppel.ping": {"ok": true}}')
    form.get_by_role("button", name="Create sandbox").click()
    channels_error = slack.locator('.field[data-pointer="/custom_configs/slack/channels"] .error')
    expect(channels_error).to_contain_text("not of type 'array'")  # the API's own words
    expect(mock_error).to_be_empty()
    assert _api(control_plane, "/v1/sandboxes?agent_id=ui-agent").json()["sandboxes"] == []

    slack.locator(".config[data-name=channels]").fill('["general", "deploys"]')
    form.get_by_role("button", name="Create sandbox").click()
    created = page.locator("#created-link")
    expect(created).to_be_visible()
    sandbox_id = created.inner_text()
    sandbox = _api(control_plane, f"/v1/sandboxes/{sandbox_id}").json()
    slack_url = sandbox["services"]["slack"]["url"]
    result = page.locator("#create-result")
    expect(result.locator("code.url")).to_have_text(slack_url)
    result.locator(f'button[data-copy="{slack_url}"]').click()
    assert page.evaluate("navigator.clipboard.readText()") == slack_url

    # -- listed, with its services, health and a live countdown, and filtered ------------------
    page.goto("/ui/")
    row = page.locator(f"tr[data-sandbox='{sandbox_id}']")
    expect(row).to_contain_text("ui-agent")
    expect(row.locator(".status")).to_have_text("running")
    expect(row.locator(".svc.health-up")).to_have_text("slack")
    countdown = row.locator(".ttl")
    expect(countdown).to_have_text(re.compile(r"^\d+m \d\ds$"))
    before = countdown.inner_text()
    expect(countdown).not_to_have_text(before)  # it counts down by itself
    for query, listed in [
        ("agent=ui-agent", 1),
        ("agent=someone-else", 0),
        ("service=slack", 1),
        ("service=github", 0),
        ("status=deleted", 0),
    ]:
        page.goto(f"/ui/?{query}")
        expect(page.locator(f"tr[data-sandbox='{sandbox_id}']")).to_have_count(listed)

    # -- one sandbox: a mock request appears in the journal without a reload ------------------
    page.goto("/ui/")
    page.locator(f"a[href='/ui/sandboxes/{sandbox_id}']").click()
    expect(page.locator("#journal")).to_contain_text("No requests yet")
    page.evaluate("window.notReloaded = true")
    headers = credentials("slack", sandbox["services"]["slack"]["token"])
    posted = httpx.post(
        f"{slack_url}/api/chat.postMessage",
        headers=headers,
        json={"channel": "#deploys", "text": "shipped from the test"},
        trust_env=False,
    )
    assert posted.json()["ok"] is True
    httpx.get(f"{slack_url}/api/chat.postMessag", headers=headers, trust_env=False)  # a near miss
    entry = page.locator("#journal details.entry[data-path='/api/chat.postMessage']")
    expect(entry).to_contain_text("chat_postMessage")
    missed = page.locator("#journal details.entry[data-path='/api/chat.postMessag']")
    expect(missed.locator("summary")).to_contain_text("/api/chat.postMessag")
    assert page.evaluate("window.notReloaded") is True
    entry.locator("summary").click()
    expect(entry.locator(".entry-body")).to_contain_text("shipped from the test")  # request
    expect(entry.locator(".entry-body")).to_contain_text('"ok": true')  # response
    journal = _api(control_plane, f"/v1/sandboxes/{sandbox_id}/requests").json()["services"]
    misses = journal["slack"][1]["near_misses"]
    missed.locator("summary").click()
    if misses:
        expect(missed.locator(".near-misses li").first).to_contain_text(misses[0]["path"])
    expect(page.locator("#state")).to_contain_text("shipped from the test")  # refreshed too

    # -- what it changed, its usage, a checkpoint ---------------------------------------------
    diff = page.locator("#diff")
    expect(diff).to_contain_text("1 created, 0 changed, 0 deleted since creation")
    expect(diff.locator("details.diff-created summary")).to_contain_text("created slack messages")
    expect(page.locator("#usage")).to_contain_text("2, 0 errors")  # Slack refuses with a 200
    page.locator("form[data-action=checkpoint] input[name=name]").fill("after-post")
    page.get_by_role("button", name="Checkpoint").click()
    expect(page.locator(".action-result")).to_contain_text("Checkpoint after-post saved")
    saved = _api(control_plane, f"/v1/sandboxes/{sandbox_id}/checkpoints").json()
    assert [c["name"] for c in saved["checkpoints"]] == ["after-post"]

    # -- extend -----------------------------------------------------------------------------
    old_expiry = datetime.fromisoformat(sandbox["expires_at"])
    page.locator("form[data-action=extend] input").fill("30")
    page.get_by_role("button", name="Extend").click()
    expect(page.locator(".action-result")).to_contain_text("Extended")
    new_expiry = datetime.fromisoformat(
        _api(control_plane, f"/v1/sandboxes/{sandbox_id}").json()["expires_at"]
    )
    assert new_expiry - old_expiry == timedelta(minutes=30)
    shown = page.locator("#summary .ttl")
    expect(shown).to_have_attribute(
        "data-expires", re.compile(new_expiry.strftime("%Y-%m-%dT%H:%M:%S"))
    )
    _save_screenshot(page)

    # -- delete -----------------------------------------------------------------------------
    page.get_by_role("button", name="Delete").click()
    expect(page.locator(".action-result")).to_contain_text("Deleted")
    expect(page.locator("#ended")).to_contain_text("deleted")
    assert _api(control_plane, f"/v1/sandboxes/{sandbox_id}").status_code == 410
    page.goto("/ui/?agent=ui-agent")
    expect(page.locator(f"tr[data-sandbox='{sandbox_id}'] .status")).to_have_text("deleted")


def test_checkpoints_are_listed_diffed_restored_and_the_sandbox_forked(
    page: Page, control_plane: ControlPlane
) -> None:
    made = httpx.post(
        f"{control_plane.url}/v1/agents/ui-restorer/sandboxes",
        json={
            "required_services": ["slack"],
            "custom_configs": {"slack": {"channels": ["general"]}},
        },
        trust_env=False,
    )
    assert made.status_code == 201, made.text
    sandbox = made.json()
    sandbox_id, slack = sandbox["sandbox_id"], sandbox["services"]["slack"]

    def post(text: str) -> None:
        answer = httpx.post(
            f"{slack['url']}/api/chat.postMessage",
            headers=credentials("slack", slack["token"]),
            json={"channel": "#general", "text": text},
            trust_env=False,
        )
        assert answer.json()["ok"] is True, answer.text

    def state_of(some_id: str) -> object:
        return _api(control_plane, f"/v1/sandboxes/{some_id}/state").json()["services"]

    page.goto(f"/ui/sandboxes/{sandbox_id}")
    checkpoints = page.locator("#checkpoints")
    expect(checkpoints).to_contain_text("No checkpoints yet")
    post("before the checkpoint")
    expect(page.locator("#state")).to_contain_text("before the checkpoint")

    # -- a checkpoint taken in the page is listed there -----------------------------------------
    page.locator("form[data-action=checkpoint] input[name=name]").fill("one")
    page.get_by_role("button", name="Checkpoint").click()
    row = checkpoints.locator("li[data-checkpoint=one]")
    expect(row).to_be_visible()
    at_checkpoint = state_of(sandbox_id)

    # -- the diff since it shows only what came after ----------------------------------------
    post("after the checkpoint")
    diff = page.locator("#diff")
    expect(diff).to_contain_text("2 created, 0 changed, 0 deleted since creation")
    row.get_by_role("button", name="Diff since").click()
    expect(page.locator("#diff-base")).to_have_text("one")
    expect(diff).to_contain_text("1 created, 0 changed, 0 deleted since one")
    expect(diff).to_contain_text("after the checkpoint")
    expect(diff).not_to_contain_text("before the checkpoint")
    since = _api(control_plane, f"/v1/sandboxes/{sandbox_id}/diff?since=one").json()
    assert since["summary"] == {"created": 1, "changed": 0, "deleted": 0}

    # -- restore in the page: the state and the diff return, the journal stays ----------------
    row.get_by_role("button", name="Restore").click()
    expect(row.locator(".row-result")).to_have_text("Restored")
    expect(page.locator("#state")).not_to_contain_text("after the checkpoint")
    expect(page.locator("#state")).to_contain_text("before the checkpoint")
    expect(diff).to_contain_text("0 created, 0 changed, 0 deleted since one")
    assert state_of(sandbox_id) == at_checkpoint
    journal = _api(control_plane, f"/v1/sandboxes/{sandbox_id}/requests").json()["services"]
    posted = [e for e in journal["slack"] if e["path"] == "/api/chat.postMessage"]
    assert len(posted) == 2  # restoring keeps the journal (and notes itself in it)
    page.locator("#diff-since-creation").click()
    expect(page.locator("#diff-base")).to_have_text("creation")
    expect(diff).to_contain_text("1 created, 0 changed, 0 deleted since creation")

    # -- fork: the API's refusal next to the control, then the fork's own page ------------------
    fork_form = page.locator("form[data-action=fork]")
    fork_form.locator("input[name=agent_id]").fill("not an agent id!")
    fork_form.get_by_role("button", name="Fork").click()
    result = page.locator(".action-result")
    expect(result).to_contain_text("agent_id")
    expect(result).to_have_class(re.compile(r"\bfailed\b"))
    assert _api(control_plane, "/v1/sandboxes?agent_id=ui-forked").json()["sandboxes"] == []

    fork_form.locator("input[name=agent_id]").fill("ui-forked")
    fork_form.locator("input[name=ttl_minutes]").fill("15")
    fork_form.get_by_role("button", name="Fork").click()
    expect(page).not_to_have_url(re.compile(rf"/ui/sandboxes/{sandbox_id}$"))
    expect(page).to_have_url(re.compile(r"/ui/sandboxes/[^/]+$"))
    fork_id = page.url.rsplit("/", 1)[1]
    expect(page.locator("h1")).to_contain_text(fork_id)
    fork = _api(control_plane, f"/v1/sandboxes/{fork_id}").json()
    assert fork["agent_id"] == "ui-forked" and fork["ttl_minutes"] == 15
    assert fork["services"]["slack"]["url"] != slack["url"]
    assert state_of(fork_id) == state_of(sandbox_id) == at_checkpoint
    expect(page.locator("#state")).to_contain_text("before the checkpoint")
    expect(page.locator("#summary")).to_contain_text(fork["services"]["slack"]["url"])

    for ended in (sandbox_id, fork_id):
        httpx.delete(f"{control_plane.url}/v1/sandboxes/{ended}", trust_env=False)


def test_templates_are_listed_described_and_registered_by_upload(
    page: Page, control_plane: ControlPlane, tmp_path: Path
) -> None:
    page.goto("/ui/templates")
    expect(page.locator("tr[data-template=github]")).to_contain_text("bundled")

    broken = tmp_path / "broken.yaml"
    broken.write_text("openapi: 3.0.0\npaths: 7\n")
    page.locator("#upload-form input[name=name]").fill("ui-broken")
    page.locator("#upload-form input[name=spec]").set_input_files(broken)
    page.get_by_role("button", name="Register").click()
    spec_error = page.locator('#upload-form .field[data-pointer=""] .error')
    expect(spec_error).to_contain_text("`paths` must be an object")  # the API's own words
    assert _api(control_plane, "/v1/templates/ui-broken").status_code == 404

    page.locator("#upload-form input[name=name]").fill("ui-petstore")
    page.locator("#upload-form input[name=spec]").set_input_files(
        TEST_SPECS / "petstore" / "petstore.yaml"
    )
    page.get_by_role("button", name="Register").click()
    expect(page).to_have_url(re.compile(r"/ui/templates/ui-petstore$"))
    operations = _api(control_plane, "/v1/templates/ui-petstore").json()["operations"]
    expect(page.locator("#operations tbody tr")).to_have_count(len(operations))
    expect(page.locator("pre.schema")).to_contain_text("mock_responses")

    page.goto("/ui/templates/slack")
    page.locator("input.table-filter").fill("chat.postMessage")
    expect(page.locator("#operations tbody tr:visible")).to_have_count(1)


def _save_screenshot(page: Page) -> None:
    """The README's picture, refreshed only when asked (DOPPEL_SCREENSHOT=1)."""
    if os.environ.get("DOPPEL_SCREENSHOT") == "1":
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOT))
