"""Shared test fixtures: where the vendor specs live, and a proxy-free environment.

The bundled templates ship GitHub's, Slack's and Figma's descriptions inside the package;
the other vendors' (test-only) are under tests/specs, each with its licence and source.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import ControlPlane

ROOT = Path(__file__).resolve().parents[1]
TEST_SPECS = ROOT / "tests" / "specs"
BUNDLED = ROOT / "src" / "doppel" / "templates"
SPECS = {
    "github": BUNDLED / "github" / "api.github.com.json.gz",
    "slack": BUNDLED / "slack" / "slack_web_openapi_v2.json.gz",
    "figma": BUNDLED / "figma" / "openapi.yaml.gz",
    "discord": TEST_SPECS / "discord" / "openapi.json.gz",
    "twilio": TEST_SPECS / "twilio" / "twilio_api_v2010.json.gz",
    "petstore": TEST_SPECS / "petstore" / "petstore.yaml",
    "petstore-expanded": TEST_SPECS / "petstore" / "petstore-expanded.yaml",
    "stripe": TEST_SPECS / "stripe" / "openapi.yaml",
    "openai": TEST_SPECS / "openai" / "openapi.yaml",
}

# The vendors' SDKs honour HTTPS_PROXY even for http://127.0.0.1 (see notes/vendor-sdks.md).
for _name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
    os.environ.pop(_name, None)
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"


@pytest.fixture(scope="session")
def spec_path() -> dict[str, Path]:
    """Vendor spec files by name (github, slack, figma, discord, twilio, petstore...)."""
    missing = [str(p) for p in SPECS.values() if not p.is_file()]
    if missing:
        pytest.fail(f"vendor specs are missing: {', '.join(missing)}")
    return dict(SPECS)


@pytest.fixture(scope="module")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    """A real `doppel serve` on a free loopback port, with its own data dir (one per module)."""
    server = ControlPlane(tmp_path_factory.mktemp("control-plane") / "data").start()
    try:
        yield server
    finally:
        server.stop()
