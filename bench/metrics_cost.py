"""What counting mock requests costs: a sandbox URL under wrk, this tree beside another (issue 8).

Starts `doppel serve` from each source tree in turn (never both under load at once), creates
one Figma sandbox whose `/v1/me` is an override (the cheapest answer there is, so the cost of
counting weighs the most), drives that URL with wrk and prints req/s, p50/p99 and the
server's CPU time per request (steadier than req/s when other work shares the cores). Rounds
alternate between the trees to spread that noise. After each run of this tree, `/metrics`
must count every request wrk made. Last, the counting hook alone, a million calls in one
process: what one answer pays for being counted.

    .venv/bin/python bench/metrics_cost.py --compare ../../main/src [--duration 8] [--rounds 2]

Exit status 0 when every number was measured, 1 when something failed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from _peers import (  # bench/ is on sys.path when this file is run as a script
    DOPPEL_BIN,
    REPO,
    LoadResult,
    PeerError,
    cpu_seconds,
    free_port,
    machine_summary,
    run_load,
    start_server,
    stop_server,
)

SANDBOX = {
    "required_services": ["figma"],
    "ttl_minutes": 60,
    "custom_configs": {"figma": {"mock_responses": {"/me": {"id": "1", "handle": "agent"}}}},
}


# One template's counting hook, as a sandbox's instance calls it with every answer.
HOOK_COST = """
import time
from doppel.api.metrics import Metrics
hook = Metrics().served("figma", "sandbox")
hook("getMe", 200, 0.0001)
n = 1_000_000
started = time.perf_counter()
for _ in range(n):
    hook("getMe", 200, 0.0001)
print((time.perf_counter() - started) / n * 1e9)
"""


@dataclass
class Run:
    load: LoadResult
    cpu_us_per_request: float


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--compare", type=Path, help="another tree's src/ (e.g. main's)")
    parser.add_argument("--duration", type=int, default=8, help="seconds of load per run")
    parser.add_argument("--rounds", type=int, default=2, help="runs per tree, alternating")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--path", default="/v1/me", help="path of the figma service to load")
    return parser.parse_args(argv)


def mock_requests_counted(base: str) -> float:
    """The sum of `doppel_mock_requests_total` over every label set, as `/metrics` shows it."""
    text = httpx.get(f"{base}/metrics", trust_env=False).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "doppel_mock_requests"
        for sample in family.samples
        if sample.name == "doppel_mock_requests_total"
    )


def one_run(src: Path, args: argparse.Namespace, check_counts: bool) -> Run:
    os.environ["PYTHONPATH"] = str(src.resolve())
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="bench-metrics-") as data:
        command = [str(DOPPEL_BIN), "serve", "--port", str(port), "--data-dir", data]
        server = start_server("doppel", command, f"{base}/readyz")
        try:
            created = httpx.post(
                f"{base}/v1/agents/bench/sandboxes", json=SANDBOX, trust_env=False, timeout=30
            )
            if created.status_code != 201:
                raise PeerError(f"create answered {created.status_code}: {created.text}")
            url = created.json()["services"]["figma"]["url"] + args.path
            warm = run_load(url, threads=1, connections=args.connections, duration_s=1)
            cpu_before = cpu_seconds(server.pid)
            load = run_load(url, threads=1, connections=args.connections, duration_s=args.duration)
            cpu = cpu_seconds(server.pid) - cpu_before
            if load.non_2xx or load.errors:
                raise PeerError(f"{url}: {load.non_2xx} non-2xx answers, {load.errors} errors")
            if check_counts:
                counted = mock_requests_counted(base)
                # wrk counts the answers it read; a few sent as it stopped may be unread.
                made = warm.requests + load.requests
                if not made <= counted <= made + 2 * args.connections:
                    raise PeerError(f"/metrics counted {counted:g} mock requests, wrk made {made}")
        finally:
            stop_server(server)
    return Run(load, cpu / max(load.requests, 1) * 1e6)


def main() -> int:
    args = parse_args()
    trees = {"this tree": REPO / "src"}
    if args.compare:
        trees = {f"{args.compare}": args.compare, **trees}
    runs: dict[str, list[Run]] = {name: [] for name in trees}
    try:
        for _ in range(args.rounds):
            for name, src in trees.items():
                runs[name].append(one_run(src, args, check_counts=name == "this tree"))
    except PeerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"# mock answers of one sandbox URL (figma {args.path}, an override)")
    print(f"# {machine_summary()}; wrk, 1 thread, {args.connections} connections")
    print(f"# {args.rounds} runs of {args.duration} s per tree, alternating; median shown")
    medians: dict[str, tuple[float, float]] = {}
    for name, results in runs.items():
        rps = statistics.median(r.load.requests_per_s for r in results)
        p50 = statistics.median(r.load.p50_ms for r in results)
        p99 = statistics.median(r.load.p99_ms for r in results)
        cpu = statistics.median(r.cpu_us_per_request for r in results)
        medians[name] = (rps, cpu)
        every = ", ".join(f"{r.load.requests_per_s:.0f}" for r in results)
        print(
            f"{name:>24}: {rps:8.0f} req/s  p50 {p50:.2f} ms  p99 {p99:.2f} ms  "
            f"{cpu:6.1f} us CPU/request  ({every} req/s)"
        )
    if args.compare:
        (rps, cpu), (base_rps, base_cpu) = medians["this tree"], medians[str(args.compare)]
        print(f"{'this tree / compared':>24}: {rps / base_rps:.3f} req/s, {cpu / base_cpu:.3f} CPU")
    hook = subprocess.run(
        [sys.executable, "-c", HOOK_COST],
        env={**os.environ, "PYTHONPATH": str((REPO / "src").resolve())},
        capture_output=True,
        text=True,
        check=False,
    )
    if hook.returncode != 0:
        print(f"error: the hook's cost was not measured:\n{hook.stderr}", file=sys.stderr)
        return 1
    print(f"{'counting one answer':>24}: {float(hook.stdout):.0f} ns (1e6 calls, in process)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
