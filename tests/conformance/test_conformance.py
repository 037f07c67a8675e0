"""Every operation of every vendor spec in ../shared/specs answers as its spec says."""

from __future__ import annotations

import random
from pathlib import Path

import httpx
import pytest

from doppel.specs import parse_document
from tests.conformance.harness import (
    Outcome,
    Report,
    build_request,
    check,
    openapi_document,
    operations,
)
from tests.servers import MockProcess

SPECS = {
    "github": "github/api.github.com.json",
    "slack": "slack/slack_web_openapi_v2.json",
    "figma": "figma/openapi.yaml",
    "discord": "discord/openapi.json",
    "twilio": "twilio/twilio_api_v2010.json",
    "petstore": "petstore/petstore.yaml",
    "petstore-expanded": "petstore/petstore-expanded.yaml",
}
# Operations whose spec itself makes a conforming answer impossible, with the reason.
# Each entry is (spec, operationId): documented in docs/conformance.md.
SPEC_DEFECTS: dict[tuple[str, str], str] = {}


def conformance(name: str, path: Path) -> Report:
    raw = parse_document(path.read_bytes(), path.name)
    document = openapi_document(raw)
    report = Report(name)
    mock = MockProcess([str(path)])
    try:
        with httpx.Client(base_url=mock.url, trust_env=False, timeout=30) as client:
            for template, method, op, params in operations(document):
                operation = str(op.get("operationId") or f"{method} {template}")
                rng = random.Random(operation)
                request = build_request(document, template, method, op, params, rng)
                response = client.request(**request)
                routed = response.headers.get("x-doppel-operation")
                note = response.headers.get("x-doppel-note", "")
                report.replaced_examples += note.startswith("the spec's example does not match")
                problem = check(document, template, method, op, response)
                if not problem and routed not in (None, operation):
                    problem = f"routed to {routed}"
                report.outcomes.append(Outcome(operation, not problem, problem))
    finally:
        mock.stop()
    return report


@pytest.mark.parametrize("name", list(SPECS))
def test_every_operation_conforms(
    name: str, shared_specs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = conformance(name, shared_specs / SPECS[name])
    unexplained = [o for o in report.failures if (name, o.operation) not in SPEC_DEFECTS]
    total = len(report.outcomes)
    with capsys.disabled():
        print(
            f"\n{name:18} {report.passed:5}/{total:<5} operations conform "
            f"({len(report.failures) - len(unexplained)} documented spec defects; "
            f"{report.replaced_examples} invalid spec examples replaced by generated data)"
        )
    assert total > 0
    assert not unexplained, "\n".join(f"{o.operation}: {o.reason}" for o in unexplained[:40])
