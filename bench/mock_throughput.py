"""Throughput of `doppel mock` against Stoplight Prism on one spec (issue 2).

Starts each server on a free 127.0.0.1 port, one after the other (never both under load at
once), warms it up, drives each path with wrk (or a bounded Python load when wrk is missing)
and prints req/s, p50/p99 latency and RSS, then Doppel/Prism req/s against the target.

    .venv/bin/python bench/mock_throughput.py [--duration 10] [--connections 16] ...

Exit status: 0 when every number was measured (target met or not), 1 when a server did not
start, answered a path with an error status, died under load, or the load tool failed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shlex
import sys
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx

from _peers import (  # bench/ is on sys.path when this file is run as a script
    DOPPEL_BIN,
    PRISM_BIN,
    REPO,
    CpuUse,
    LoadResult,
    PeerError,
    cpu_use,
    doppel_version,
    free_port,
    machine_summary,
    prism_version,
    rss_mb,
    run_load,
    sample_cpu,
    start_server,
    stop_server,
    wrk_path,
    wrk_version,
)

DEFAULT_SPEC = REPO / "tests" / "specs" / "petstore" / "petstore-expanded.yaml"
HOST = "127.0.0.1"


@dataclass
class PathRun:
    path: str
    load: LoadResult
    rss_mb: float
    cpu: CpuUse


@dataclass
class ServerRun:
    name: str
    command: list[str]
    startup_s: float
    idle_rss_mb: float
    paths: list[PathRun] = field(default_factory=list)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spec", type=Path, default=DEFAULT_SPEC, help="OpenAPI file to serve")
    parser.add_argument("--duration", type=int, default=10, help="seconds of load per path")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of warm-up per path")
    parser.add_argument("--connections", type=int, default=16, help="open connections")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--path", default="/pets", help="first path to load")
    parser.add_argument(
        "--second-path", default="/pets/1", help="a path with a path parameter ('' to skip)"
    )
    parser.add_argument("--seed", type=int, default=0, help="doppel mock --seed")
    parser.add_argument("--target", type=float, default=1.5, help="wanted Doppel/Prism req/s")
    parser.add_argument("--json", type=Path, help="also write the results here as JSON")
    args = parser.parse_args(argv)
    if args.duration < 1 or args.warmup < 0 or args.connections < 1 or args.threads < 1:
        parser.error("--duration, --connections and --threads must be >= 1, --warmup >= 0")
    if args.threads > args.connections:
        parser.error("--threads must not exceed --connections (wrk needs a connection each)")
    return args


def shown_path(path: Path) -> str:
    """`path` relative to the repo, symlinks kept (.venv/bin/python stays itself)."""
    return os.path.relpath(os.path.abspath(path), REPO)


def shown_command(command: list[str]) -> str:
    return shlex.join(shown_path(Path(arg)) if Path(arg).is_absolute() else arg for arg in command)


def command_line() -> str:
    python = Path(sys.executable)
    python_shown = shown_path(python) if python.is_relative_to(REPO) else python.name
    return shlex.join([python_shown, shown_path(Path(sys.argv[0])), *sys.argv[1:]])


def check_paths(name: str, base_url: str, paths: list[str]) -> None:
    """Each path must answer 2xx before it is loaded: an error page is fast and means nothing."""
    with httpx.Client(timeout=5.0, trust_env=False) as client:
        for path in paths:
            try:
                response = client.get(base_url + path)
            except httpx.HTTPError as exc:
                raise PeerError(f"{name} did not answer GET {path}: {exc!r}") from exc
            if not response.is_success:
                raise PeerError(f"{name} answered GET {path} with {response.status_code}")


def measure(
    name: str, command: list[str], base_url: str, paths: list[str], args: argparse.Namespace
) -> ServerRun:
    server = start_server(name, command, base_url + paths[0])
    try:
        check_paths(name, base_url, paths)
        run = ServerRun(name, command, server.startup_s, rss_mb(server.pid))
        for path in paths:
            url = base_url + path
            load = {"threads": args.threads, "connections": args.connections}
            if args.warmup:
                run_load(url, duration_s=args.warmup, **load)
            before = sample_cpu(server.pid)
            result = run_load(url, duration_s=args.duration, **load)
            cpu = cpu_use(before, sample_cpu(server.pid))
            if server.process.poll() is not None:
                raise PeerError(f"{name} died under load on {path}\n{server.log_tail()}")
            run.paths.append(PathRun(path, result, rss_mb(server.pid), cpu))
        return run
    finally:
        stop_server(server)


def doppel_command(spec: Path, port: int, seed: int) -> list[str]:
    return [
        *(str(DOPPEL_BIN), "mock", str(spec)),
        *("--host", HOST, "--port", str(port), "--seed", str(seed)),
    ]


def prism_command(spec: Path, port: int) -> list[str]:
    return [str(PRISM_BIN), "mock", str(spec), "-h", HOST, "-p", str(port), "-v", "silent"]


def print_header(args: argparse.Namespace, spec: Path) -> None:
    digest = hashlib.sha256(spec.read_bytes()).hexdigest()[:12]
    tool = f"wrk ({wrk_version()})" if wrk_path() else "python-httpx fallback (wrk missing)"
    print(f"$ {command_line()}")
    print(f"date:    {datetime.now(UTC).isoformat(timespec='seconds')}")
    print(f"spec:    {shown_path(spec)} (sha256 {digest})")
    print(f"doppel:  {doppel_version()} (python {sys.version.split()[0]})")
    print(f"prism:   {prism_version()}")
    print(f"load:    {tool}; {args.threads} threads, {args.connections} connections,")
    print(f"         {args.warmup} s warm-up + {args.duration} s per path, servers one at a time")
    print(f"machine: {machine_summary()}")
    print()


def print_results(runs: list[ServerRun], target: float) -> None:
    for run in runs:
        print(f"{run.name}: {shown_command(run.command)}")
        print(f"  startup {run.startup_s:.2f} s to first answer; idle RSS {run.idle_rss_mb:.1f} MB")
    print()
    head = f"{'server':<8} {'path':<10} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} "
    print(head + f"{'non-2xx':>8} {'errors':>7} {'RSS MB':>7} {'CPU %':>6} {'other %':>7}")
    for run in runs:
        for item in run.paths:
            r = item.load
            print(
                f"{run.name:<8} {item.path:<10} {r.requests_per_s:>9.0f} {r.p50_ms:>8.2f} "
                f"{r.p99_ms:>8.2f} {r.non_2xx:>8} {r.errors:>7} {item.rss_mb:>7.1f} "
                f"{item.cpu.server_percent:>6.0f} {item.cpu.other_percent:>7.0f}"
            )
    print("(RSS after the run; CPU % = the server's CPU time, 100 = one core; other % = CPU")
    print(" taken by the rest of the machine, neither server nor load tool: high means noisy)")
    print()
    doppel, prism = runs
    verdicts = []
    for mine, theirs in zip(doppel.paths, prism.paths, strict=True):
        ratio = mine.load.requests_per_s / theirs.load.requests_per_s
        met = ratio >= target
        verdicts.append(met)
        word = "met" if met else "NOT met"
        print(f"Doppel/Prism req/s on {mine.path}: {ratio:.2f}x (target >= {target}x: {word})")
    print(f"target {'met on every path' if all(verdicts) else 'NOT met'}")
    print(f"machine after: {machine_summary()}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    spec = args.spec.resolve()
    if not spec.is_file():
        print(f"error: no spec at {spec}", file=sys.stderr)
        return 1
    for binary in (DOPPEL_BIN, PRISM_BIN):
        if not binary.exists():
            print(f"error: {binary} is missing (make bench-deps)", file=sys.stderr)
            return 1
    paths = [p for p in (args.path, args.second_path) if p]
    print_header(args, spec)
    sys.stdout.flush()
    runs = []
    try:
        port = free_port()
        command = doppel_command(spec, port, args.seed)
        runs.append(measure("doppel", command, f"http://{HOST}:{port}", paths, args))
        port = free_port()
        command = prism_command(spec, port)
        runs.append(measure("prism", command, f"http://{HOST}:{port}", paths, args))
    except PeerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print_results(runs, args.target)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps([asdict(run) for run in runs], indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
