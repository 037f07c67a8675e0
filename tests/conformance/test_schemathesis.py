"""An independent judge beside Doppel's own checker: schemathesis generates requests for
every operation of every description and validates each answer (status code, content
type, headers, body schema) against the description, as a user of the mock would.

Twice, like test_conformance.py: every description registered as it is (open world),
and the bundled templates in their closed worlds, with the world's names in the path.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import ignored_auth, positive_data_acceptance

from tests.conformance.test_conformance import WORLDS
from tests.conftest import SPECS
from tests.servers import MockProcess

EXAMPLES = 2  # per operation: 1,223 of GitHub's alone; each a real request on loopback
# Two checks are left out, for reasons docs/conformance.md gives: a mock takes any
# well-formed credential, so schemathesis's made-up token is not "invalid" (ignored_auth);
# and a faithful world refuses schema-valid requests that break the provider's rules (a
# ref to a commit that does not exist, a second label of one name, a cursor it never
# gave) just as the provider does (positive_data_acceptance).
EXCLUDED = [ignored_auth, positive_data_acceptance]
# What schemathesis finds that the description itself causes (or schemathesis's own
# reading of it), as (run, operation label or "*", words of the finding, reason); each is
# documented in docs/conformance.md, and every operation it explains is printed.
EXPLAINED: list[tuple[str, str, str, str]] = [
    (
        "twilio",
        "*",
        'is not a "uri"',
        "Twilio's list answers carry relative paths in first_page_uri, next_page_uri and "
        "uri, as the real API does; the description calls them `format: uri`",
    ),
    (
        "twilio",
        "*",
        "Schema at /properties/uri:",
        "Twilio's list answers carry their own page's relative path in `uri`, as the real "
        "API does; the description calls it `format: uri` (nullable, so schemathesis words "
        "it as an anyOf)",
    ),
    (
        "github (world)",
        "PUT /repos/{owner}/{repo}/contents/{path}",
        "valid under more than one of the schemas",
        "its 409 is oneOf [basic-error, repository-rule-violation-error] and every member "
        "of the second is optional: any conflict body is valid under both",
    ),
    (
        "*",
        "GET /orgs/{org}/artifacts/{subject_digest}/metadata/",
        "Schema-violating request accepted",
        "schemathesis percent-encodes the ':' of a generated `sha256:<hex>` path value, "
        "then checks the encoded text against the pattern and calls the request invalid",
    ),
    (
        "slack (world)",
        "GET /conversations.history",
        "has less than 1 item",
        "the description says `messages` has at least one item; a channel with none "
        "answers [] on the real API",
    ),
    (
        "slack (world)",
        "POST /conversations.create|POST /conversations.rename|POST /conversations.unarchive"
        "|POST /reactions.remove|GET /conversations.list|GET /conversations.members"
        "|GET /users.list",
        "Validated against the response schema for status code 200",
        "Slack answers a refusal with HTTP 200 and ok: false, which its description puts "
        "under `default`; here: conversations.create and .rename without the `name` its "
        "description marks optional (invalid_name_required), .unarchive of a channel that "
        "is not archived (not_archived), reactions.remove of a reaction not there "
        "(no_reaction), and a list paged by a cursor it never gave (invalid_cursor)",
    ),
    (
        "slack (world)",
        "GET /conversations.history|GET /conversations.replies",
        "'edited' was unexpected",
        "Slack marks an edited message with `edited: {user, ts}` (chat.update runs first "
        "here); the description's objs_message (additionalProperties: false) has no `edited`",
    ),
    (
        "*",
        "GET /v1/files/{file_key}/nodes",
        "null is not of type",
        "Figma's description says the nodes map may hold null for ids the file lacks, "
        "but its schema has no null",
    ),
]


def _explanation(run: str, label: str, finding: str) -> str | None:
    for where, operation, words, reason in EXPLAINED:
        if where not in ("*", run):
            continue
        if operation != "*" and not any(label.startswith(o) for o in operation.split("|")):
            continue
        if words in finding:
            return reason
    return None


def _load(path: Path) -> Any:
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return json.loads(data) if data.lstrip()[:1] == b"{" else yaml.safe_load(data)


def judge(
    run: str,
    path: Path,
    args: list[str],
    known: Mapping[str, str],
    headers: Mapping[str, str],
    rpc: bool = False,
) -> tuple[int, dict[str, str]]:
    """(operations that passed, failures by operation label)."""
    schema = schemathesis.openapi.from_dict(_load(path))
    mock = MockProcess(args)
    passed, failures = 0, {}
    operations = [result.ok() for result in schema.get_all_operations()]
    # Deletions last, deeper paths first: each operation meets what it names still there.
    operations.sort(key=lambda o: (_deletes(o), -o.path.count("/") * _deletes(o)))
    try:
        for operation in operations:
            found = _check(operation, mock.url, known, headers, rpc)
            if found is None:
                passed += 1
            else:
                failures[operation.label] = found
    finally:
        mock.stop()
    return passed, failures


def _check(
    operation: Any, base_url: str, known: Mapping[str, str], headers: Mapping[str, str], rpc: bool
) -> str | None:
    """What schemathesis finds wrong with one operation's answers, or None."""
    reading = operation.method.upper() == "GET"
    injected = {k: known[k] for k in _accepted_names(operation) if k in known} if rpc else {}

    @settings(
        # A write once: a second delete finds nothing, a second create with the world's
        # names finds it taken, rightly.
        max_examples=EXAMPLES if reading else 1,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def call(case: schemathesis.Case) -> None:
        params = case.path_parameters or {}
        case.path_parameters = {k: known.get(k, v) for k, v in params.items()}
        if case.query:
            case.query = {k: known.get(k, v) for k, v in case.query.items()}
        if injected and reading:  # Slack's methods take the world's names as sent
            case.query = {**(case.query or {}), **injected}
        elif injected:
            case.body = {**(case.body if isinstance(case.body, dict) else {}), **injected}
        case.headers = {**(case.headers or {}), **headers}
        case.call_and_validate(base_url=base_url, excluded_checks=EXCLUDED)

    try:
        call()
    except (Exception, BaseExceptionGroup) as exc:  # what schemathesis found
        return _first_lines(exc)
    return None


def _deletes(operation: Any) -> bool:
    """A deletion: the method, or an RPC method's name (Slack's chat.delete)."""
    name = operation.path.rsplit("/", 1)[-1].lower()
    return operation.method.upper() == "DELETE" or any(
        word in name for word in (".delete", ".remove", ".leave", ".archive", ".kick")
    )


def _accepted_names(operation: Any) -> set[str]:
    """The query and form members a (Swagger 2.0) operation takes."""
    raw = operation.definition.raw
    return {
        str(p.get("name"))
        for p in raw.get("parameters") or ()
        if isinstance(p, Mapping) and p.get("in") in ("query", "formData")
    }


def _first_lines(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return " / ".join(lines[:6])[:400]


def _verdict(run: str, passed: int, failures: dict[str, str], capsys: Any) -> None:
    total = passed + len(failures)
    explained = {
        label: why for label, why in failures.items() if _explanation(run, label, why) is not None
    }
    unexplained = {label: why for label, why in failures.items() if label not in explained}
    with capsys.disabled():
        print(
            f"\nschemathesis {run:22} {passed:5}/{total:<5} operations pass "
            f"({len(explained)} explained in docs/conformance.md)"
        )
        for label in sorted(explained):
            print(f"    explained: {label}: {_explanation(run, label, failures[label])}")
    assert total > 0
    assert not unexplained, "\n".join(f"{k}: {v}" for k, v in list(unexplained.items())[:30])


@pytest.mark.parametrize("name", list(SPECS))
def test_schemathesis_passes_every_registered_description(name: str, capsys: Any) -> None:
    passed, failures = judge(name, SPECS[name], [str(SPECS[name])], {}, {})
    _verdict(name, passed, failures, capsys)


@pytest.mark.parametrize("name", list(WORLDS))
def test_schemathesis_passes_the_bundled_templates_in_their_worlds(
    name: str, tmp_path: Path, capsys: Any
) -> None:
    config, known, headers = WORLDS[name]
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(config))
    run = f"{name} (world)"
    args = [name, "--config", str(config_file)]
    passed, failures = judge(run, SPECS[name], args, known, headers, rpc=name == "slack")
    _verdict(run, passed, failures, capsys)
