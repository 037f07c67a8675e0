"""State diff: `GET /v1/sandboxes/{id}/diff` on a sandbox with 1,000 changes (issue 8).

1. Starts `doppel serve` (SQLite, in-process runtime) on a free loopback port.
2. Creates one GitHub sandbox whose repository holds 500 issues (its config's `issues`),
   then makes 1,000 writes over real HTTP: 500 new issues (POST) and one update of each of
   the world's issues (PATCH: closed, retitled), so the diff has 500 created items and 500
   changed ones, each with a JSON Patch.
3. Times N calls of `GET …/diff` one after another (p50, p99, mean) and reads the size of the
   answer; then the same with `?since=` a checkpoint taken after the first half of the writes.

    .venv/bin/python bench/state_diff.py [--changes 1000] [--calls 50]

Prism keeps no state, so there is no peer to compare with: the figures stand alone.
Exit status 0 when every figure was measured, 1 when something failed.
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
    PeerError,
    doppel_version,
    free_port,
    machine_summary,
    rss_mb,
    start_server,
    stop_server,
)

HOST = "127.0.0.1"
REPO_NAME = "bench/diffs"
PORT_RANGE = "20000-31999"  # below the kernel's ephemeral ports: nothing else holds them
CONCURRENCY = 16
WORLD_ISSUES = 500  # the most the github template's config takes


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def write(base: str, token: str, changes: int, checkpoint: Any) -> list[float]:
    """`changes` writes: half new issues, half updates of the world's issues; `checkpoint`
    is awaited when half of them are done. Milliseconds per write, in order."""
    half = changes // 2
    headers = {"Authorization": f"token {token}"}
    limits = httpx.Limits(max_connections=CONCURRENCY)
    async with httpx.AsyncClient(
        base_url=f"{base}/repos/{REPO_NAME}", headers=headers, limits=limits, trust_env=False
    ) as client:

        async def one(i: int) -> float:
            started = time.perf_counter()
            if i % 2 == 0:
                body = {"title": f"New issue {i}", "body": "made by the bench", "labels": ["bug"]}
                response = await client.post("/issues", json=body)
                expected = 201
            else:
                number = i // 2 % min(half, WORLD_ISSUES) + 1  # each world issue in turn
                body = {"state": "closed", "title": f"Closed by the bench ({i})"}
                response = await client.patch(f"/issues/{number}", json=body)
                expected = 200
            if response.status_code != expected:
                raise PeerError(f"write {i} answered {response.status_code}: {response.text}")
            return (time.perf_counter() - started) * 1000

        saved = False
        durations: list[float] = []
        for start in range(0, changes, CONCURRENCY):
            batch = range(start, min(start + CONCURRENCY, changes))
            durations += await asyncio.gather(*(one(i) for i in batch))
            if not saved and batch.stop >= half:
                await checkpoint()
                saved = True
        return durations


def timed(client: httpx.Client, path: str, calls: int) -> tuple[list[float], int, Any]:
    """(milliseconds per call, bytes of the last answer, its JSON)."""
    durations = []
    response = None
    for _ in range(calls):
        started = time.perf_counter()
        response = client.get(path)
        durations.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise PeerError(f"GET {path} answered {response.status_code}: {response.text[:300]}")
    assert response is not None
    return durations, len(response.content), response.json()


def figures(changes: int, calls: int) -> dict[str, Any]:
    port = free_port()
    data = tempfile.mkdtemp(prefix="doppel-bench-diff-")
    command = [
        str(DOPPEL_BIN), "serve", "--host", HOST, "--port", str(port), "--data-dir", data,
        "--public-host", HOST, "--port-range", PORT_RANGE,
    ]  # fmt: skip
    os.environ["NO_PROXY"] = HOST
    server = start_server("doppel", command, f"http://{HOST}:{port}/readyz")
    found: dict[str, Any] = {}
    try:
        with httpx.Client(base_url=f"http://{HOST}:{port}", trust_env=False, timeout=120) as client:
            issues = [
                {"title": f"World issue {n}", "body": "from the config", "labels": ["bug"]}
                for n in range(min(changes // 2, WORLD_ISSUES))
            ]
            body = {
                "required_services": ["github"],
                "ttl_minutes": 60,
                "custom_configs": {"github": {"repo": REPO_NAME, "issues": issues}},
            }
            created = client.post("/v1/agents/bench/sandboxes", json=body)
            if created.status_code != 201:
                raise PeerError(f"create answered {created.status_code}: {created.text[:300]}")
            sandbox = created.json()
            api = f"/v1/sandboxes/{sandbox['sandbox_id']}"
            github = sandbox["services"]["github"]

            async def checkpoint() -> None:
                made = client.post(f"{api}/checkpoints", json={"name": "half"})
                if made.status_code != 201:
                    raise PeerError(f"checkpoint answered {made.status_code}: {made.text}")

            started = time.perf_counter()
            found["writes"] = asyncio.run(
                write(github["url"], github["token"], changes, checkpoint)
            )
            found["write_s"] = time.perf_counter() - started
            timed(client, f"{api}/diff", 3)  # warm-up, not counted
            found["diff"] = timed(client, f"{api}/diff", calls)
            found["since"] = timed(client, f"{api}/diff?since=half", calls)
            usage = client.get(api).json()["usage"]
            found["usage"] = usage
            found["rss_mb"] = rss_mb(server.pid)
            found["startup_s"] = server.startup_s
    finally:
        stop_server(server)
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--changes", type=int, default=1000, help="writes before the diff")
    parser.add_argument("--calls", type=int, default=50, help="diff calls timed")
    args = parser.parse_args()

    print("# State diff: GET /v1/sandboxes/{id}/diff on a sandbox with many changes")
    print(f"command: {shlex.join([Path(sys.executable).name, *sys.argv])}")
    print(f"date:    {datetime.now(UTC):%Y-%m-%d %H:%M UTC}")
    print(f"machine: {machine_summary()}")
    print(f"doppel {doppel_version()} (SQLite, in-process runtime)")
    print("peer:    none (Prism keeps no state, so it has nothing to diff)\n")
    try:
        found = figures(args.changes, args.calls)
    except PeerError as exc:
        print(f"FAILED: {exc}")
        return 1

    half = args.changes // 2
    print(
        f"{args.changes} writes over HTTP ({half} POST new issues, {args.changes - half} PATCH "
        f"world issues), {CONCURRENCY} at a time: {found['write_s']:.1f} s"
    )
    writes, tenth = found["writes"], max(len(found["writes"]) // 10, 1)
    print(
        f"latency of a write: first {tenth} p50 {percentile(writes[:tenth], 0.5):.1f} ms, "
        f"last {tenth} p50 {percentile(writes[-tenth:], 0.5):.1f} ms (state grows meanwhile)"
    )
    print(f"\n## {args.calls} calls of GET …/diff, one after another (HTTP round trip)")
    print(f"{'call':<24}{'entries':>9}{'p50 ms':>9}{'p99 ms':>9}{'mean ms':>9}{'answer KB':>11}")
    for label, key in (("diff since creation", "diff"), ("diff since checkpoint", "since")):
        durations, size, body = found[key]
        entries = sum(body["summary"].values())
        print(
            f"{label:<24}{entries:>9}{percentile(durations, 0.5):>9.1f}"
            f"{percentile(durations, 0.99):>9.1f}{statistics.fmean(durations):>9.1f}"
            f"{size / 1024:>11.0f}"
        )
    summary = found["diff"][2]["summary"]
    print(
        f"\nsince creation: {summary['created']} created, {summary['changed']} changed, "
        f"{summary['deleted']} deleted"
    )
    usage = found["usage"]
    held = ", ".join(f"{k} {v / 1024:.0f} KB" for k, v in usage["bytes"].items())
    print(f"sandbox usage: {usage['requests']} requests, {usage['errors']} errors; holds {held}")
    print(f"control plane RSS after the run: {found['rss_mb']:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
