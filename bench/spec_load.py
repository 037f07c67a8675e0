"""Real-world specs: compile time, memory and time to first response, beside Prism (issue 4).

For every vendor spec the project carries (the bundled templates' descriptions, and the
test-only ones under tests/specs), each inflated once to a plain file both servers read:
- Doppel's compile: a fresh Python process parses and compiles the file; it reports the
  seconds and its peak RSS (the whole interpreter included).
- Doppel's time to first response: `doppel mock SPEC` spawned and polled until it answers,
  and its RSS then.
- Prism's time to first response and RSS: `prism mock SPEC -v silent`, polled the same way
  (up to --prism-timeout seconds; a spec it cannot load is reported as such).
Then what the full GitHub description costs a control plane: the bundled `github` template
(the whole description, its declarations and a world per config) from `doppel serve` to the
first sandbox, and then per sandbox, each with its own repo: create time and RSS growth.
Last, the raw description registered as a template of its own, and sandboxes of it.

    .venv/bin/python bench/spec_load.py [--prism-timeout 180] [--sandboxes 20]
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

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

HOST = "127.0.0.1"
TEMPLATES = REPO / "src" / "doppel" / "templates"
TESTS = REPO / "tests" / "specs"
FILES = {
    "github": TEMPLATES / "github" / "api.github.com.json.gz",
    "slack": TEMPLATES / "slack" / "slack_web_openapi_v2.json.gz",
    "figma": TEMPLATES / "figma" / "openapi.yaml.gz",
    "discord": TESTS / "discord" / "openapi.json.gz",
    "twilio": TESTS / "twilio" / "twilio_api_v2010.json.gz",
    "petstore": TESTS / "petstore" / "petstore.yaml",
    "petstore-expanded": TESTS / "petstore" / "petstore-expanded.yaml",
}


COMPILE = """
import resource, sys, time
from pathlib import Path
started = time.perf_counter()
from doppel.specs import SpecCache
imported = time.perf_counter()
spec = SpecCache().compile_file(Path(sys.argv[1]))
done = time.perf_counter()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(done - imported, peak, len(spec.operations))
"""


def doppel_compile(path: Path) -> tuple[float, float, int]:
    python = DOPPEL_BIN.parent / "python"
    done = subprocess.run(
        [str(python), "-c", COMPILE, str(path)], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise PeerError(f"compiling {path.name} failed: {done.stderr[-500:]}")
    seconds, peak, operations = done.stdout.split()
    return float(seconds), float(peak), int(operations)


def first_response(name: str, command: list[str], port: int, timeout: float) -> tuple[float, float]:
    server = start_server(name, command, f"http://{HOST}:{port}/", timeout_s=timeout)
    try:
        return server.startup_s, rss_mb(server.pid)
    finally:
        stop_server(server)


def serve_command(port: int) -> list[str]:
    data = tempfile.mkdtemp(prefix="doppel-bench-")
    return [
        *(str(DOPPEL_BIN), "serve", "--host", HOST, "--port", str(port), "--data-dir", data),
        *("--public-host", HOST, "--port-range", "20000-31999"),
    ]


def github_template(count: int) -> None:
    """The bundled github template: from `doppel serve` to its first sandbox answering, then
    `count` more sandboxes, each its own repo, timed and weighed."""
    port = free_port()
    started = time.perf_counter()
    server = start_server("doppel", serve_command(port), f"http://{HOST}:{port}/readyz")
    headers = {"authorization": "Bearer ghp_" + "a" * 36}
    try:
        with httpx.Client(base_url=f"http://{HOST}:{port}", trust_env=False, timeout=120) as client:

            def create(i: int) -> tuple[float, float]:
                began = time.perf_counter()
                config = {"github": {"repo": f"org-{i}/repo-{i}"}}
                created = client.post(
                    f"/v1/agents/gh-{i}/sandboxes/dynamic",
                    json={"required_services": ["github"], "custom_configs": config},
                )
                took = (time.perf_counter() - began) * 1000
                if created.status_code != 201:
                    raise PeerError(f"create failed: {created.text[:300]}")
                url = created.json()["services"]["github"]["url"]
                began = time.perf_counter()  # the first call builds the sandbox's world
                got = client.get(f"{url}/repos/org-{i}/repo-{i}", headers=headers)
                first_call = (time.perf_counter() - began) * 1000
                if got.status_code != 200 or got.json()["full_name"] != f"org-{i}/repo-{i}":
                    raise PeerError(f"the GitHub sandbox did not answer its repo: {got.text[:200]}")
                return took, first_call

            first_ms, _ = create(0)
            to_first = time.perf_counter() - started
            rss_first = rss_mb(server.pid)
            timed = [create(i) for i in range(1, count + 1)]
            rss_after = rss_mb(server.pid)
    finally:
        stop_server(server)
    ordered = sorted(took for took, _ in timed)
    calls = sorted(call for _, call in timed)
    per_sandbox_kb = (rss_after - rss_first) * 1024 / count
    print(
        f"\nThe bundled github template (the full description, its declarations, a world):\n"
        f"  at start: `doppel serve` to its first GitHub sandbox answering {to_first:.2f} s "
        f"(every bundled template compiled before it is ready; that first create "
        f"{first_ms:.0f} ms); RSS {rss_first:.0f} MB\n"
        f"  per sandbox, each its own repo, {count} in a row: create p50 "
        f"{ordered[len(ordered) // 2]:.1f} ms, max {ordered[-1]:.1f} ms; its first call (which "
        f"builds its world) p50 {calls[len(calls) // 2]:.1f} ms; RSS {rss_first:.0f} -> "
        f"{rss_after:.0f} MB ({per_sandbox_kb:.0f} KB per sandbox, its world built)"
    )


def github_sandboxes(count: int, spec: Path) -> tuple[float, list[float]]:
    """Register GitHub's spec once, then time `count` sandbox creations on it."""
    port = free_port()
    server = start_server("doppel", serve_command(port), f"http://{HOST}:{port}/readyz")
    try:
        with httpx.Client(base_url=f"http://{HOST}:{port}", trust_env=False, timeout=120) as client:
            started = time.perf_counter()
            registered = client.put(
                "/v1/templates/github-full",
                content=spec.read_bytes(),
                headers={"content-type": "application/json"},
            )
            register_s = time.perf_counter() - started
            if registered.status_code not in (200, 201):
                raise PeerError(f"registering GitHub failed: {registered.text[:300]}")
            times = []
            for i in range(count):
                started = time.perf_counter()
                created = client.post(
                    f"/v1/agents/gh-{i}/sandboxes", json={"required_services": ["github-full"]}
                )
                times.append((time.perf_counter() - started) * 1000)
                if created.status_code != 201:
                    raise PeerError(f"create failed: {created.text[:300]}")
                url = created.json()["services"]["github-full"]["url"]
                if httpx.get(f"{url}/repos/o/r", trust_env=False).status_code != 200:
                    raise PeerError("the GitHub sandbox did not answer /repos/o/r")
        return register_s, times
    finally:
        stop_server(server)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prism-timeout", type=float, default=180.0)
    parser.add_argument("--sandboxes", type=int, default=20)
    parser.add_argument("--only", nargs="*", default=list(FILES), choices=list(FILES))
    args = parser.parse_args()
    os.environ["NO_PROXY"] = HOST

    print("# Real-world specs: Doppel vs Stoplight Prism")
    print(f"command: {shlex.join([Path(sys.executable).name, *sys.argv])}")
    print(f"date:    {datetime.now(UTC):%Y-%m-%d %H:%M UTC}")
    print(f"machine: {machine_summary()}")
    print(f"doppel {doppel_version()}; prism {prism_version()}\n")
    header = (
        f"{'spec':<18}{'size':>8}{'ops':>6}{'compile s':>11}{'peak MB':>9}"
        f"{'doppel first s':>16}{'RSS MB':>8}{'prism first s':>15}{'RSS MB':>8}{'ratio':>8}"
    )
    print(header)
    results = {}
    plain = Path(tempfile.mkdtemp(prefix="doppel-specs-"))
    paths = {name: inflated(FILES[name], plain) for name in args.only}
    for name in args.only:
        path = paths[name]
        size = f"{path.stat().st_size / 1e6:.1f}MB"
        try:
            seconds, peak, operations = doppel_compile(path)
            port = free_port()
            doppel_first, doppel_rss = first_response(
                "doppel", [str(DOPPEL_BIN), "mock", str(path), "--port", str(port)], port, 120
            )
        except PeerError as exc:
            print(f"{name:<18}{size:>8}  doppel FAILED: {exc}")
            return 1
        port = free_port()
        prism = [str(PRISM_BIN), "mock", str(path), "-h", HOST, "-p", str(port), "-v", "silent"]
        try:
            prism_first, prism_rss = first_response("prism", prism, port, args.prism_timeout)
            prism_text = f"{prism_first:>15.2f}{prism_rss:>8.0f}{prism_first / doppel_first:>7.1f}x"
        except PeerError as exc:
            reason = "timeout" if "in time" in str(exc) else "failed to start"
            prism_text = f"{reason:>23}{'':>8}"
            prism_first = None
        print(
            f"{name:<18}{size:>8}{operations:>6}{seconds:>11.2f}{peak:>9.0f}"
            f"{doppel_first:>16.2f}{doppel_rss:>8.0f}{prism_text}"
        )
        results[name] = (seconds, peak, doppel_first, prism_first)

    if "github" in results:
        github_template(args.sandboxes)
        register_s, times = github_sandboxes(args.sandboxes, paths["github"])
        ordered = sorted(times)
        p50 = ordered[len(ordered) // 2]
        print(
            f"\nGitHub registered with the control plane in {register_s:.2f} s (parse, check, "
            f"compile, persist); then {args.sandboxes} sandboxes on it: "
            f"p50 {p50:.1f} ms, max {ordered[-1]:.1f} ms"
        )
        seconds, peak, _, _ = results["github"]
        print(
            f"targets: GitHub compiled in <= 5 s and <= 500 MB: "
            f"{'met' if seconds <= 5 and peak <= 500 else 'MISSED'} ({seconds:.2f} s, "
            f"{peak:.0f} MB); new sandbox on it <= 50 ms: {'met' if p50 <= 50 else 'MISSED'}"
        )
    if "figma" in results:
        _, _, doppel_first, prism_first = results["figma"]
        if prism_first is None:
            print("target Figma >= 10x sooner than Prism: met (Prism did not answer at all)")
        else:
            ratio = prism_first / doppel_first
            print(
                f"target Figma >= 10x sooner than Prism: {'met' if ratio >= 10 else 'MISSED'} "
                f"({ratio:.1f}x)"
            )
    print(json.dumps({k: list(v) for k, v in results.items()}), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
