"""Sandbox lifecycle: create-to-ready latency and density, beside one Prism per service (issue 3).

1. Starts `doppel serve` (SQLite, in-process runtime) on a free loopback port.
2. Latency: creates sandboxes of figma + slack + github one after another, each with its own
   config (its own team, channels, workspace and repo), and times each POST until its 201 —
   by then every service has been probed healthy. Then the same with one shared config.
3. Density: keeps N sandboxes × 3 services alive in the one process, calls every service once
   (a customised answer each: auth.test's team, the repo, /v1/me), and reads the process RSS.
4. The old model, measured the same way: one Prism process per service on the same three
   template specs, each started and timed to its first response, RSS each.

    .venv/bin/python bench/sandbox_lifecycle.py [--creates 200] [--density 1000]

Exit status 0 when every figure was measured (targets met or not), 1 when something failed.
"""

from __future__ import annotations

import argparse
import asyncio
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

from _peers import (  # bench/ is on sys.path when this file is run as a script
    DOPPEL_BIN,
    PRISM_BIN,
    REPO,
    PeerError,
    doppel_version,
    free_port,
    inflated,
    machine_summary,
    prism_version,
    rss_mb,
    start_server,
    stop_server,
)
from doppel.templates import spec_file

HOST = "127.0.0.1"
SERVICES = ["figma", "slack", "github"]
TEMPLATES = REPO / "src" / "doppel" / "templates"
PORT_RANGE = "20000-31999"  # below the kernel's ephemeral ports: nothing else holds them
FRESH = 1_000_000  # each phase numbers its configs from a multiple: none reuses another's


def config(i: int) -> dict[str, Any]:
    return {
        "figma": {"workspace_name": f"Workspace {i}"},
        "slack": {"team_name": f"Team {i}", "channels": ["#general", f"agent-{i}", "alerts"]},
        "github": {"repo": f"org-{i}/repo-{i}", "branch": "main"},
    }


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def create(client: httpx.Client, agent: str, configs: dict[str, Any]) -> tuple[float, Any]:
    body = {"required_services": SERVICES, "ttl_minutes": 60, "custom_configs": configs}
    started = time.perf_counter()
    response = client.post(f"/v1/agents/{agent}/sandboxes/dynamic", json=body)
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 201:
        raise PeerError(f"create failed: {response.status_code} {response.text[:300]}")
    return elapsed, response.json()


FIRST_CALLS = {  # one read per service that needs its world: the sandbox's own repo, team, user
    "github": lambda i: f"/repos/org-{i}/repo-{i}",
    "slack": lambda i: "/api/auth.test",
    "figma": lambda i: "/v1/me",
}


def latency(
    client: httpx.Client,
    count: int,
    *,
    shared: bool,
    first: int = 0,
    calls: list[float] | None = None,
) -> list[float]:
    """Create-to-ready times; configs numbered from `first` (a number never used before is
    a config no sandbox had). A service's world is checked at create and built on its first
    call: with `calls`, that first call to each service is timed too (all three, in turn)."""
    times = []
    for i in range(first, first + count):
        elapsed, sandbox = create(client, f"latency-{i}", config(first if shared else i))
        times.append(elapsed)
        if calls is not None:
            services = sandbox["services"]
            started = time.perf_counter()
            for name, path in FIRST_CALLS.items():
                headers = {"authorization": f"Bearer {services[name]['token']}"}
                answer = client.get(f"{services[name]['url']}{path(i)}", headers=headers)
                if answer.status_code != 200:
                    raise PeerError(f"{name} answered {answer.status_code}: {answer.text[:200]}")
            calls.append((time.perf_counter() - started) * 1000)
        client.delete(f"/v1/sandboxes/{sandbox['sandbox_id']}")
    return times


async def answer_all(sandboxes: list[tuple[int, Any]]) -> int:
    """Call every service of every sandbox once; count the answers showing its own config."""
    limit = asyncio.Semaphore(64)

    async def check(client: httpx.AsyncClient, i: int, services: Any) -> int:
        def token(name: str) -> dict[str, str]:  # each service's own, as issued at create
            return {"authorization": f"Bearer {services[name]['token']}"}

        async with limit:
            slack = await client.post(
                f"{services['slack']['url']}/api/auth.test", headers=token("slack")
            )
            repo = await client.get(
                f"{services['github']['url']}/repos/org-{i}/repo-{i}", headers=token("github")
            )
            me = await client.get(f"{services['figma']['url']}/v1/me", headers=token("figma"))
        return (
            (slack.json().get("team") == f"Team {i}")
            + (repo.json().get("full_name") == f"org-{i}/repo-{i}")
            + (me.status_code == 200 and f"Workspace {i}" in me.text)
        )

    limits = httpx.Limits(max_connections=64, max_keepalive_connections=0)
    async with httpx.AsyncClient(trust_env=False, timeout=30, limits=limits) as client:
        results = await asyncio.gather(*(check(client, i, s["services"]) for i, s in sandboxes))
    return sum(results)


def doppel_figures(creates: int, density: int) -> dict[str, Any]:
    port = free_port()
    data = tempfile.mkdtemp(prefix="doppel-bench-")
    command = [
        str(DOPPEL_BIN),
        "serve",
        "--host",
        HOST,
        "--port",
        str(port),
        "--data-dir",
        data,
        "--public-host",
        HOST,
        "--port-range",
        PORT_RANGE,
    ]
    os.environ["NO_PROXY"] = HOST
    server = start_server("doppel", command, f"http://{HOST}:{port}/readyz")
    figures: dict[str, Any] = {"startup_s": server.startup_s}
    try:
        with httpx.Client(base_url=f"http://{HOST}:{port}", trust_env=False, timeout=60) as client:
            latency(client, 10, shared=False, first=FRESH)  # warm-up, not counted
            figures["distinct"] = latency(client, creates, shared=False, first=2 * FRESH)
            figures["first_calls"] = []
            latency(client, creates, shared=False, first=4 * FRESH, calls=figures["first_calls"])
            figures["shared"] = latency(client, creates, shared=True, first=3 * FRESH)
            baseline = rss_mb(server.pid)
            started = time.perf_counter()
            alive = [(i, create(client, f"dense-{i}", config(i))[1]) for i in range(density)]
            figures["density_create_s"] = time.perf_counter() - started
            figures["density_rss_mb"] = rss_mb(server.pid)
            figures["idle_rss_mb"] = baseline
            started = time.perf_counter()
            figures["customised_answers"] = asyncio.run(answer_all(alive))
            figures["answer_all_s"] = time.perf_counter() - started
            figures["after_traffic_rss_mb"] = rss_mb(server.pid)
            figures["services"] = density * len(SERVICES)
    finally:
        stop_server(server)
    return figures


def prism_figures() -> list[tuple[str, float, float]]:
    """(service, seconds to first response, RSS MB) for one Prism process per service."""
    if not PRISM_BIN.exists():
        raise PeerError("Prism is not installed: run `make bench-deps`")
    rows = []
    plain = Path(tempfile.mkdtemp(prefix="doppel-specs-"))
    for name in SERVICES:
        port = free_port()
        found = spec_file(TEMPLATES / name)
        assert found is not None, f"template {name} has no spec"
        spec = inflated(found, plain)
        command = [str(PRISM_BIN), "mock", str(spec), "-h", HOST, "-p", str(port), "-v", "silent"]
        server = start_server(f"prism-{name}", command, f"http://{HOST}:{port}/", timeout_s=120)
        try:
            time.sleep(1.0)  # let it settle before reading its memory
            rows.append((name, server.startup_s, rss_mb(server.pid)))
        finally:
            stop_server(server)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--creates", type=int, default=200, help="sandboxes timed per run")
    parser.add_argument("--density", type=int, default=1000, help="live sandboxes at once")
    args = parser.parse_args()

    print("# Sandbox lifecycle: Doppel control plane vs one Prism process per service")
    print(f"command: {shlex.join([Path(sys.executable).name, *sys.argv])}")
    print(f"date:    {datetime.now(UTC):%Y-%m-%d %H:%M UTC}")
    print(f"machine: {machine_summary()}")
    print(f"doppel {doppel_version()} (SQLite, in-process runtime); prism {prism_version()}")
    print(f"each sandbox: {' + '.join(SERVICES)}, every service probed healthy before the 201\n")
    try:
        doppel = doppel_figures(args.creates, args.density)
        prism = prism_figures()
    except PeerError as exc:
        print(f"FAILED: {exc}")
        return 1

    print(f"## Create-to-ready latency, {args.creates} sandboxes in a row (HTTP round trip)")
    print(f"{'configs':<28}{'p50 ms':>9}{'p99 ms':>9}{'mean ms':>9}")
    for label, key in (("each its own (no sharing)", "distinct"), ("one shared config", "shared")):
        values = doppel[key]
        print(
            f"{label:<28}{percentile(values, 0.5):>9.1f}{percentile(values, 0.99):>9.1f}"
            f"{statistics.fmean(values):>9.1f}"
        )
    p50, p99 = percentile(doppel["distinct"], 0.5), percentile(doppel["distinct"], 0.99)
    print(f"target p50 <= 15 ms, p99 <= 60 ms: {'met' if p50 <= 15 and p99 <= 60 else 'MISSED'}")
    calls = doppel["first_calls"]
    print(
        f"then the first call to each of the 3 services (each builds its world), all 3 in turn: "
        f"p50 {percentile(calls, 0.5):.1f} ms, p99 {percentile(calls, 0.99):.1f} ms"
    )

    services = doppel["services"]
    per = (doppel["density_rss_mb"] - doppel["idle_rss_mb"]) / args.density
    print(
        f"\n## Density: {args.density} live sandboxes x {len(SERVICES)} = {services} services,"
        " one process, each with its own config"
    )
    print(
        f"created in {doppel['density_create_s']:.1f} s; control plane ready in "
        f"{doppel['startup_s']:.2f} s"
    )
    print(
        f"RSS idle {doppel['idle_rss_mb']:.0f} MB -> {doppel['density_rss_mb']:.0f} MB with "
        f"{services} services ({per * 1024:.0f} KB per sandbox); "
        f"{doppel['after_traffic_rss_mb']:.0f} MB after one call to each"
    )
    print(
        f"answers showing their own sandbox's config: {doppel['customised_answers']}/{services}"
        f" (all {services} calls took {doppel['answer_all_s']:.1f} s)"
    )
    ok = doppel["density_rss_mb"] <= 500 and doppel["customised_answers"] == services
    print(f"target {services} answering within 500 MB RSS: {'met' if ok else 'MISSED'}")

    print("\n## The old model: one Prism process per service (same template specs)")
    print(f"{'service':<10}{'first response s':>18}{'RSS MB':>9}")
    for name, startup, rss in prism:
        print(f"{name:<10}{startup:>18.2f}{rss:>9.0f}")
    per_sandbox = sum(rss for _, _, rss in prism)
    slowest = max(startup for _, startup, _ in prism)
    print(
        f"one sandbox of 3: {per_sandbox:.0f} MB and {slowest:.1f} s before it answers "
        f"(started in parallel); {args.density} sandboxes: "
        f"{per_sandbox * args.density / 1024:.0f} GB and {services} processes"
    )
    print(
        f"\nDoppel / old model: {p50:.1f} ms vs {slowest * 1000:.0f} ms to ready "
        f"({slowest * 1000 / p50:.0f}x sooner); {per * 1024:.0f} KB vs "
        f"{per_sandbox:.0f} MB per sandbox ({per_sandbox / per:.0f}x less memory)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
