"""Shared test fixtures: where the vendor specs live, and a proxy-free environment."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import ControlPlane

ROOT = Path(__file__).resolve().parents[1]
SHARED_SPECS = ROOT.parent / "shared" / "specs"

# The vendors' SDKs honour HTTPS_PROXY even for http://127.0.0.1 (see notes/vendor-sdks.md).
for _name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
    os.environ.pop(_name, None)
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"


@pytest.fixture(scope="session")
def shared_specs() -> Path:
    if not SHARED_SPECS.is_dir():
        pytest.fail(f"the vendor specs are missing: expected {SHARED_SPECS}")
    return SHARED_SPECS


@pytest.fixture(scope="module")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    """A real `doppel serve` on a free loopback port, with its own data dir (one per module)."""
    server = ControlPlane(tmp_path_factory.mktemp("control-plane") / "data").start()
    try:
        yield server
    finally:
        server.stop()
