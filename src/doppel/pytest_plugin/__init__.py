"""Doppel's pytest plugin (entry point `pytest11: doppel`): sandboxes as fixtures.

- `doppel` (session): a `doppel.Client` for a control plane: the one at `--doppel-url` /
  `DOPPEL_URL` / ini `doppel_url`, else one started for the session (`doppel serve` on a free
  loopback port with a temporary data dir) and stopped after it.
- `doppel_sandbox` (function): a factory, `doppel_sandbox(["github", "slack"], configs=…,
  mock_responses=…, ttl_minutes=…)` → a running `doppel.Sandbox`; every sandbox a test makes
  is deleted after it. When the test fails, each sandbox's journal and changes are printed
  under the failure and kept in the junit XML as properties.

Loaded in every pytest run once the package is installed, so it starts nothing and imports
nothing beyond pytest until a test asks for one of its fixtures.
"""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from doppel.client import Client
    from doppel.pytest_plugin._factory import SandboxFactory

__all__ = ["doppel", "doppel_sandbox"]

_FACTORY = pytest.StashKey["SandboxFactory"]()
_FAILED = pytest.StashKey[bool]()
_KEPT = pytest.StashKey[list[str]]()
_DATA_DIR = pytest.StashKey[Path]()  # of the control plane started for the session


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("doppel", "Doppel sandboxes (doppel, doppel_sandbox fixtures)")
    group.addoption(
        "--doppel-url",
        metavar="URL",
        help="Use the Doppel control plane at URL (default: $DOPPEL_URL, the doppel_url ini "
        "option, else one started for the session).",
    )
    group.addoption(
        "--doppel-keep",
        action="store_true",
        help="Keep the sandboxes of failed tests for inspection instead of deleting them.",
    )
    group.addoption(
        "--doppel-ttl",
        metavar="MINUTES",
        type=float,
        help="TTL of the sandboxes doppel_sandbox makes (default: the control plane's).",
    )
    parser.addini("doppel_url", "URL of the Doppel control plane to use (see --doppel-url).")


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_KEPT] = []


@pytest.fixture(scope="session")
def doppel(
    pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Client]:
    """A client of the session's Doppel control plane (see the module's docstring)."""
    from doppel.client import Client

    url = _configured_url(pytestconfig)
    if url:
        with Client(url) as client:
            _check_reachable(client)
            yield client
        return
    from doppel.pytest_plugin._server import ControlPlaneStartError, EmbeddedControlPlane

    server = EmbeddedControlPlane(tmp_path_factory.mktemp("doppel") / "data")
    try:
        server.start()
    except ControlPlaneStartError as exc:
        pytest.fail(f"could not start the session's Doppel control plane: {exc}", pytrace=False)
    pytestconfig.stash[_DATA_DIR] = server.data_dir
    try:
        with Client(server.url) as client:
            yield client
    finally:
        server.stop()


@pytest.fixture
def doppel_sandbox(doppel: Client, request: pytest.FixtureRequest) -> Iterator[SandboxFactory]:
    """Make sandboxes for this test: `doppel_sandbox(["slack"], configs={"slack": {…}})`."""
    from doppel.pytest_plugin._factory import SandboxFactory, agent_id_for
    from doppel.pytest_plugin._report import sandbox_heading

    factory = SandboxFactory(
        doppel,
        agent_id=agent_id_for(request.node.name),
        ttl_minutes=request.config.getoption("doppel_ttl"),
    )
    request.node.stash[_FACTORY] = factory
    yield factory
    if request.node.stash.get(_FAILED, False) and request.config.getoption("doppel_keep"):
        request.config.stash[_KEPT].extend(
            f"{request.node.nodeid}: {sandbox_heading(s.raw)}" for s in factory.sandboxes
        )
        return
    factory.delete_all()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if not report.failed or report.when == "teardown":
        return report
    item.stash[_FAILED] = True
    factory = item.stash.get(_FACTORY, None)
    if factory is None or not factory.sandboxes:
        return report
    try:
        sections, properties = factory.attachments()
    except Exception as exc:  # a report must never crash the run
        sections, properties = [("doppel", f"could not read the sandboxes: {exc!r}")], []
    report.sections.extend(sections)
    # junitxml reads the teardown report's properties, which are copied from the item's.
    item.user_properties.extend(properties)
    report.user_properties.extend(properties)
    return report


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    config = terminalreporter.config
    kept = config.stash.get(_KEPT, [])
    if not kept:
        return
    terminalreporter.section("doppel: sandboxes kept (--doppel-keep)")
    for line in kept:
        terminalreporter.write_line(line)
    data_dir = config.stash.get(_DATA_DIR, None)
    if data_dir is not None:
        terminalreporter.write_line(
            "the session's control plane has stopped; `doppel serve --public-host 127.0.0.1 "
            f"--data-dir {data_dir}` brings the kept sandboxes back on their URLs until their "
            "TTL ends"
        )


def _configured_url(config: pytest.Config) -> str | None:
    url = (
        config.getoption("doppel_url")
        or os.environ.get("DOPPEL_URL")
        or config.getini("doppel_url")
    )
    return str(url) if url else None


def _check_reachable(client: Client) -> None:
    from doppel.errors import DoppelError

    try:
        client.templates()
    except DoppelError as exc:
        pytest.fail(
            f"the Doppel control plane at {client.base_url} is not usable: {exc}", pytrace=False
        )
