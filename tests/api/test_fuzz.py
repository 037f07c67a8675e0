"""Schemathesis fuzzes the control plane's own API: no input may cost a 5xx."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.servers import ControlPlane

FUZZ = settings(
    max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True
)


def test_no_request_makes_the_control_plane_fail(control_plane: ControlPlane) -> None:
    schema = schemathesis.openapi.from_url(f"{control_plane.url}/openapi.json")
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    for operation in operations:

        @given(case=operation.as_strategy())
        @FUZZ
        def fuzz(case: schemathesis.Case) -> None:
            response = case.call(base_url=control_plane.url)
            found = response.headers.get("content-type") or [""]
            kind = found if isinstance(found, str) else found[0]
            if response.status_code >= 500 or kind not in (
                "application/json",
                "application/problem+json",
            ):
                failures.append(f"{response.status_code} {kind}: {case.as_curl_command()}")

        fuzz()
    assert len(operations) >= 10
    assert failures == []
