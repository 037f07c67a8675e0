"""An independent check: schemathesis drives two mocks with property-based requests and
validates every answer against the spec (status, content type, headers, body schema)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import ignored_auth

from tests.conftest import SHARED_SPECS
from tests.servers import MockProcess

PETSTORE = SHARED_SPECS / "petstore" / "petstore-expanded.yaml"
FIGMA = SHARED_SPECS / "figma" / "openapi.yaml"
petstore = schemathesis.openapi.from_path(PETSTORE)
figma = schemathesis.openapi.from_path(FIGMA)
EXAMPLES = settings(
    max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True
)


def _mock(spec: Path, tmp: Path) -> Iterator[str]:
    # Validation and auth on, so that schemathesis's negative cases are refused as a real
    # API would refuse them.
    config = tmp / "config.json"
    config.write_text(json.dumps({"validate_requests": True, "enforce_auth": True}))
    mock = MockProcess([str(spec), "--config", str(config)])
    try:
        yield mock.url
    finally:
        mock.stop()


@pytest.fixture(scope="module")
def petstore_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from _mock(PETSTORE, tmp_path_factory.mktemp("petstore"))


@pytest.fixture(scope="module")
def figma_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from _mock(FIGMA, tmp_path_factory.mktemp("figma"))


@petstore.parametrize()
@EXAMPLES
def test_petstore_mock_passes_schemathesis(case: schemathesis.Case, petstore_url: str) -> None:
    case.call_and_validate(base_url=petstore_url)


@figma.parametrize()
@EXAMPLES
def test_figma_mock_passes_schemathesis(case: schemathesis.Case, figma_url: str) -> None:
    # A mock accepts any well-formed credential, so schemathesis's made-up tokens are not
    # "invalid" here; missing or malformed credentials are still refused (enforce_auth).
    case.call_and_validate(base_url=figma_url, excluded_checks=[ignored_auth])
