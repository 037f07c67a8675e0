"""Dashboard list page: time to first paint in chromium with 1,000 live sandboxes (issue 8).

1. Starts `doppel serve` (SQLite, in-process runtime) on a free loopback port.
2. Creates N live sandboxes through the API (figma + slack + github each, 10 per agent).
3. Opens `/ui/` in Debian's headless chromium (Playwright, `make browser`) R times, each in a
   fresh browser context (empty cache), and reads the Performance API: first paint, first
   contentful paint, the HTML's arrival (responseStart) and DOMContentLoaded. Then R more
   loads in one context (static files cached), and the server's own time for the page and
   for the fragment the page polls every 2 s (httpx, same box).

The list shows 50 sandboxes a page (newest first; filters and page links for the rest), so
the figure is what an operator waits for with a thousand live sandboxes.

    .venv/bin/python bench/dashboard_paint.py [--sandboxes 1000] [--runs 10]

Exit status 0 when every figure was measured, 1 when something failed.
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Browser, sync_playwright

from _peers import (  # bench/ is on sys.path when this file is run as a script
    DOPPEL_BIN,
    PeerError,
    doppel_version,
    free_port,
    machine_summary,
    start_server,
    stop_server,
)

HOST = "127.0.0.1"
SERVICES = ["figma", "slack", "github"]
PORT_RANGE = "20000-31999"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
BLANK = "data:text/html,<title>t</title><p class=count>one line</p>"  # the browser's own floor
TIMINGS = """() => {
  const paint = Object.fromEntries(
    performance.getEntriesByType("paint").map(e => [e.name, e.startTime]));
  const [nav] = performance.getEntriesByType("navigation");
  return {fp: paint["first-paint"], fcp: paint["first-contentful-paint"],
          html: nav.responseStart, dcl: nav.domContentLoadedEventEnd,
          rows: document.querySelectorAll("table.sandboxes tbody tr").length,
          count: document.querySelector(".count")?.textContent};
}"""


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def populate(client: httpx.Client, count: int) -> float:
    started = time.perf_counter()
    for i in range(count):
        answer = client.post(
            f"/v1/agents/paint-{i // 10}/sandboxes/dynamic",
            json={"required_services": SERVICES, "ttl_minutes": 120},
        )
        if answer.status_code != 201:
            raise PeerError(f"create {i} failed: {answer.status_code} {answer.text[:300]}")
    return time.perf_counter() - started


def paint(browser: Browser, url: str, runs: int, *, cold: bool) -> list[dict[str, Any]]:
    """`runs` loads of the list page: each in a new context (cold), or all in one (warm)."""
    results = []
    context = None if cold else browser.new_context()
    if context is not None:
        context.new_page().goto(url, wait_until="load")  # fill the cache first
    for _ in range(runs):
        own = browser.new_context() if context is None else context
        page = own.new_page()
        page.goto(url, wait_until="load")
        page.wait_for_function("performance.getEntriesByType('paint').length >= 2")
        results.append(page.evaluate(TIMINGS))
        page.close()
        if context is None:
            own.close()
    if context is not None:
        context.close()
    return results


def server_ms(client: httpx.Client, path: str, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        answer = client.get(path)
        times.append((time.perf_counter() - started) * 1000)
        if answer.status_code != 200:
            raise PeerError(f"{path} answered {answer.status_code}")
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sandboxes", type=int, default=1000, help="live sandboxes")
    parser.add_argument("--runs", type=int, default=10, help="page loads per measure")
    args = parser.parse_args()

    print("# Dashboard list page: time to first paint with live sandboxes")
    print(f"command: {shlex.join([Path(sys.executable).name, *sys.argv])}")
    print(f"date:    {datetime.now(UTC):%Y-%m-%d %H:%M UTC}")
    print(f"machine: {machine_summary()}")
    print(f"doppel {doppel_version()} (SQLite, in-process runtime); browser: {CHROMIUM}")
    print(f"{args.sandboxes} live sandboxes of {' + '.join(SERVICES)}; 50 listed a page\n")
    if not Path(CHROMIUM).exists():
        print("FAILED: chromium is missing: run `make browser`")
        return 1

    port = free_port()
    base = f"http://{HOST}:{port}"
    command = [
        str(DOPPEL_BIN),
        "serve",
        "--host",
        HOST,
        "--port",
        str(port),
        "--data-dir",
        tempfile.mkdtemp(prefix="doppel-bench-"),
        "--public-host",
        HOST,
        "--port-range",
        PORT_RANGE,
    ]
    os.environ["NO_PROXY"] = HOST
    try:
        server = start_server("doppel", command, f"{base}/readyz")
    except PeerError as exc:
        print(f"FAILED: {exc}")
        return 1
    try:
        with httpx.Client(base_url=base, trust_env=False, timeout=60) as client:
            created_s = populate(client, args.sandboxes)
            page_ms = server_ms(client, "/ui/", args.runs)
            rows_ms = server_ms(client, "/ui/sandboxes/rows?page=1", args.runs)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                cold = paint(browser, f"{base}/ui/", args.runs, cold=True)
                warm = paint(browser, f"{base}/ui/", args.runs, cold=False)
                floor = paint(browser, BLANK, args.runs, cold=True)
            finally:
                browser.close()
    except PeerError as exc:
        print(f"FAILED: {exc}")
        return 1
    finally:
        stop_server(server)

    print(
        f"created {args.sandboxes} sandboxes in {created_s:.1f} s; page shows: {cold[0]['count']}"
    )
    if cold[0]["rows"] != 50 and args.sandboxes >= 50:
        print(f"FAILED: the page listed {cold[0]['rows']} rows, not 50")
        return 1
    print(f"\n## In chromium, {args.runs} loads each (ms from navigation start)")
    print(f"{'loads':<26}{'measure':<26}{'p50':>8}{'max':>8}")
    for label, results in (
        ("cold (new context each)", cold),
        ("warm (cached static)", warm),
        ("floor: one-line data: URL", floor),
    ):
        for key, name in (
            ("html", "HTML arrives"),
            ("fp", "first paint"),
            ("fcp", "first contentful paint"),
            ("dcl", "DOMContentLoaded"),
        ):
            values = [r[key] for r in results]
            print(f"{label:<26}{name:<26}{percentile(values, 0.5):>8.1f}{max(values):>8.1f}")
    print(f"\n## Server side, {args.runs} requests each (httpx round trip on loopback)")
    for label, values in (("/ui/ (whole page)", page_ms), ("/ui/sandboxes/rows (poll)", rows_ms)):
        print(
            f"{label:<30} p50 {percentile(values, 0.5):6.1f} ms   "
            f"mean {statistics.fmean(values):6.1f} ms   max {max(values):6.1f} ms"
        )
    fcp = percentile([r["fcp"] for r in cold], 0.5)
    print(f"\nfirst contentful paint p50 (cold) with {args.sandboxes} live sandboxes: {fcp:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
