"""Helpers shared by the bench scripts: start and stop servers, measure them, load them.

Everything here talks to 127.0.0.1 only, and every load run is bounded in time.
"""

from __future__ import annotations

import asyncio
import gzip
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
PRISM_BIN = REPO / "bench" / ".prism" / "node_modules" / ".bin" / "prism"
DOPPEL_BIN = REPO / ".venv" / "bin" / "doppel"


class PeerError(RuntimeError):
    """A server or a load tool could not do its job: the benchmark has no number to report."""


# --- servers -------------------------------------------------------------------------------


@dataclass
class Server:
    name: str
    command: list[str]
    process: subprocess.Popen[bytes]
    log_path: Path
    startup_s: float = 0.0

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago (the kernel's pick for port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def start_server(
    name: str,
    command: Sequence[str],
    ready_url: str,
    *,
    timeout_s: float = 60.0,
    cwd: Path | None = None,
) -> Server:
    """Start `command` in its own process group and wait until `ready_url` answers.

    Any HTTP response counts as an answer. `Server.startup_s` is the time from spawning the
    process to that first response. Raises `PeerError` (after stopping the process) when the
    process exits or does not answer within `timeout_s`.
    """
    fd, log_name = tempfile.mkstemp(prefix=f"bench-{name}-", suffix=".log")
    started = time.perf_counter()
    try:
        process = subprocess.Popen(
            list(command),
            stdin=subprocess.DEVNULL,
            stdout=fd,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            start_new_session=True,
        )
    finally:
        os.close(fd)
    server = Server(name, list(command), process, Path(log_name))
    try:
        server.startup_s = _wait_until_answers(server, ready_url, started + timeout_s) - started
    except BaseException:
        stop_server(server)
        raise
    return server


def _wait_until_answers(server: Server, url: str, deadline: float) -> float:
    """Poll `url` until any HTTP response; return the `perf_counter` time of that response."""
    with httpx.Client(timeout=2.0, trust_env=False) as client:
        while True:
            code = server.process.poll()
            if code is not None:
                raise PeerError(
                    f"{server.name} exited with {code} before answering\n{server.log_tail()}"
                )
            try:
                client.get(url)
            except httpx.HTTPError:
                pass
            else:
                return time.perf_counter()
            if time.perf_counter() > deadline:
                raise PeerError(f"{server.name} did not answer {url} in time\n{server.log_tail()}")
            time.sleep(0.05)


def stop_server(server: Server, grace_s: float = 5.0) -> int | None:
    """SIGTERM the server's process group, SIGKILL it after `grace_s`; return the exit code."""
    process = server.process
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if process.poll() is not None:
            break
        try:
            os.killpg(process.pid, sig)  # its own group: start_new_session=True
        except ProcessLookupError:
            break
        try:
            process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            continue
    if process.returncode in (0, -signal.SIGTERM, -signal.SIGKILL):
        server.log_path.unlink(missing_ok=True)  # kept when the server died on its own
    return process.returncode


# --- memory --------------------------------------------------------------------------------


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    return children


def process_tree(pid: int) -> list[int]:
    """`pid` and all its descendants that are alive now."""
    children = _children_map()
    tree: list[int] = []
    todo = [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


def _vmrss_kb(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    match = re.search(r"^VmRSS:\s+(\d+)\s+kB", status, re.MULTILINE)
    return int(match.group(1)) if match else 0


def rss_mb(pid: int) -> float:
    """Resident memory of `pid` and its descendants, in MB (VmRSS summed, 1 MB = 1024 kB)."""
    return sum(_vmrss_kb(p) for p in process_tree(pid)) / 1024


def _cpu_ticks(pid: int) -> int:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time used so far by `pid` and its live descendants, in seconds."""
    return sum(_cpu_ticks(p) for p in process_tree(pid)) / os.sysconf("SC_CLK_TCK")


def _machine_busy_seconds() -> float:
    """CPU time spent by the whole machine outside idle and iowait, summed over cores."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _own_seconds() -> float:
    """CPU time of this process and of its children already waited for (wrk)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


@dataclass(frozen=True)
class CpuSample:
    at: float
    machine_s: float
    server_s: float
    own_s: float


@dataclass(frozen=True)
class CpuUse:
    """CPU over an interval, 100 = one core busy the whole time."""

    server_percent: float
    other_percent: float  # everything else on the machine: neither the server nor the load


def sample_cpu(server_pid: int) -> CpuSample:
    return CpuSample(
        time.perf_counter(), _machine_busy_seconds(), cpu_seconds(server_pid), _own_seconds()
    )


def cpu_use(before: CpuSample, after: CpuSample) -> CpuUse:
    """Split the machine's CPU between the server and other work (wrk and this script aside).

    `other_percent` well above a few percent means something else competed for the cores and
    the run's numbers are low.
    """
    elapsed = after.at - before.at
    server = after.server_s - before.server_s
    other = (after.machine_s - before.machine_s) - server - (after.own_s - before.own_s)
    return CpuUse(server / elapsed * 100, max(other, 0.0) / elapsed * 100)


# --- load ----------------------------------------------------------------------------------


@dataclass
class LoadResult:
    tool: str
    url: str
    duration_s: float
    requests: int
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    non_2xx: int = 0
    errors: int = 0  # connect/read/write/timeout errors


_TIME_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


def _to_ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    if match is None:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(match.group(1)) * _TIME_UNITS_MS[match.group(2)]


def parse_wrk(output: str, url: str, duration_s: float) -> LoadResult:
    """Parse the text of `wrk --latency`."""

    def find(pattern: str) -> re.Match[str]:
        match = re.search(pattern, output, re.MULTILINE)
        if match is None:
            raise PeerError(f"wrk output has no {pattern!r}:\n{output}")
        return match

    requests = int(find(r"^\s*(\d+) requests in ")[1])
    rps = float(find(r"^Requests/sec:\s+([\d.]+)")[1])
    p50 = _to_ms(find(r"^\s+50%\s+(\S+)")[1])
    p99 = _to_ms(find(r"^\s+99%\s+(\S+)")[1])
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    errors = sum(int(n) for n in sockets.groups()) if sockets else 0
    return LoadResult(
        tool="wrk",
        url=url,
        duration_s=duration_s,
        requests=requests,
        requests_per_s=rps,
        p50_ms=p50,
        p99_ms=p99,
        non_2xx=int(non_2xx[1]) if non_2xx else 0,
        errors=errors,
    )


def wrk_path() -> str | None:
    return shutil.which("wrk")


def run_wrk(url: str, *, threads: int, connections: int, duration_s: int) -> LoadResult:
    """Drive `url` with wrk for `duration_s` seconds and parse its report."""
    wrk = wrk_path()
    if wrk is None:
        raise PeerError("wrk is not installed (make bench-deps)")
    command = [
        wrk,
        f"--threads={threads}",
        f"--connections={connections}",
        f"--duration={duration_s}s",
        "--timeout=5s",
        "--latency",
        url,
    ]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=duration_s + 30, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise PeerError(f"wrk did not finish: {' '.join(command)}") from exc
    if done.returncode != 0:
        raise PeerError(f"wrk exited with {done.returncode}: {done.stderr or done.stdout}")
    return parse_wrk(done.stdout, url, duration_s)


def _percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, round(fraction * (len(sorted_values) - 1)))
    return sorted_values[index]


async def _python_load(url: str, connections: int, duration_s: float) -> LoadResult:
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    latencies: list[float] = []
    counts = {"non_2xx": 0, "errors": 0}
    async with httpx.AsyncClient(limits=limits, timeout=5.0, trust_env=False) as client:
        started = time.perf_counter()
        deadline = started + duration_s

        async def worker() -> None:
            while (now := time.perf_counter()) < deadline:
                try:
                    response = await client.get(url)
                except httpx.HTTPError:
                    counts["errors"] += 1
                    continue
                latencies.append(time.perf_counter() - now)
                if not 200 <= response.status_code < 400:
                    counts["non_2xx"] += 1

        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return LoadResult(
        tool="python-httpx",
        url=url,
        duration_s=elapsed,
        requests=len(latencies),
        requests_per_s=len(latencies) / elapsed,
        p50_ms=_percentile(latencies, 0.50) * 1000,
        p99_ms=_percentile(latencies, 0.99) * 1000,
        non_2xx=counts["non_2xx"],
        errors=counts["errors"],
    )


def run_python_load(url: str, *, connections: int, duration_s: float) -> LoadResult:
    """A bounded closed-loop load in Python, for machines without wrk.

    It is much slower than wrk and shares the CPU with the server: its numbers measure the
    client as much as the server, so compare them only with each other.
    """
    return asyncio.run(_python_load(url, connections, duration_s))


def run_load(url: str, *, threads: int, connections: int, duration_s: int) -> LoadResult:
    """wrk when it is installed, the Python load generator otherwise."""
    if wrk_path() is not None:
        return run_wrk(url, threads=threads, connections=connections, duration_s=duration_s)
    return run_python_load(url, connections=connections, duration_s=duration_s)


# --- versions and machine ------------------------------------------------------------------


def doppel_version() -> str:
    try:
        return metadata.version("doppel")
    except metadata.PackageNotFoundError:
        return "unknown"


def prism_version() -> str:
    try:
        done = subprocess.run(
            [str(PRISM_BIN), "--version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return "not installed (make bench-deps)"
    return done.stdout.strip() or "unknown"


def wrk_version() -> str:
    wrk = wrk_path()
    if wrk is None:
        return "not installed"
    done = subprocess.run([wrk, "--version"], capture_output=True, text=True, check=False)
    first = (done.stdout or done.stderr).splitlines()
    return first[0].split(" Copyright")[0].strip() if first else "unknown"


def machine_summary() -> str:
    """CPU count and model, and the load average now (other work on the box skews results)."""
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"{os.cpu_count()} cores ({model}); load average {load}"


def inflated(source: Path, into: Path) -> Path:
    """The spec as a plain file (Prism reads no gzip): bundled specs ship compressed."""
    if source.suffix != ".gz":
        return source
    target = into / source.stem
    target.write_bytes(gzip.decompress(source.read_bytes()))
    return target
