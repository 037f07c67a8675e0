"""Templates registered at run time, end to end: a real `doppel serve` and real HTTP on loopback.

Registration (PUT of the spec file, POST of JSON), persistence across a kill -9, replacing and
deleting, import from an allow-listed URL, and hostile input that must be a clear 4xx leaving
the server and every sandbox unharmed.
"""

from __future__ import annotations

import gzip
import json
import select
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.servers import ControlPlane, credentials, free_port

Specs = dict[str, Path]  # the `spec_path` fixture (tests/conftest.py)
MB = 1024 * 1024


def _put(server: ControlPlane, name: str, data: bytes, media: str = "application/json") -> Any:
    return httpx.put(
        f"{server.url}/v1/templates/{name}",
        content=data,
        headers={"content-type": media},
        trust_env=False,
        timeout=60,
    )


def _post(server: ControlPlane, body: Any) -> httpx.Response:
    return httpx.post(f"{server.url}/v1/templates", json=body, trust_env=False, timeout=60)


def _services(server: ControlPlane, *services: str, **configs: Any) -> dict[str, Any]:
    """A new sandbox running `services`; each service (URL, template, token...) by name."""
    response = httpx.post(
        f"{server.url}/v1/agents/a/sandboxes",
        json={"required_services": list(services), "custom_configs": configs},
        trust_env=False,
        timeout=30,
    )
    assert response.status_code == 201, response.text
    found: dict[str, Any] = response.json()["services"]
    return found


def _sandbox(server: ControlPlane, *services: str, **configs: Any) -> dict[str, str]:
    """A new sandbox running `services`; each service's URL by name."""
    return {name: s["url"] for name, s in _services(server, *services, **configs).items()}


def _spec(paths: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "paths": paths, **extra}


def _ok(description: str = "ok", **content: Any) -> dict[str, Any]:
    response: dict[str, Any] = {"description": description}
    if content:
        response["content"] = {"application/json": content}
    return response


def _rss_mb(server: ControlPlane) -> float:
    assert server.process is not None
    status = Path(f"/proc/{server.process.pid}/status").read_text()
    line = next(line for line in status.splitlines() if line.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


@pytest.fixture(scope="module")
def alive(control_plane: ControlPlane) -> dict[str, Any]:
    """A sandbox's Slack (URL and token) that every hostile request must leave answering."""
    service: dict[str, Any] = _services(control_plane, "slack")["slack"]
    return service


def _assert_unharmed(server: ControlPlane, alive: dict[str, Any]) -> None:
    answer = httpx.post(
        f"{alive['url']}/api/auth.test",
        headers=credentials("slack", alive["token"]),
        trust_env=False,
        timeout=10,
    )
    assert answer.status_code == 200 and answer.json()["ok"] is True
    assert httpx.get(f"{server.url}/healthz", trust_env=False).status_code == 200


# -- registering and using ------------------------------------------------------------------


def test_twilio_registered_by_put_serves_a_new_sandbox_at_once(
    control_plane: ControlPlane, spec_path: Specs
) -> None:
    response = _put(control_plane, "twilio", spec_path["twilio"].read_bytes())  # gzip as it is

    assert response.status_code == 201, response.text
    detail = response.json()
    assert detail["name"] == "twilio" and detail["origin"] == "registered"
    assert detail["title"] and detail["operation_count"] == len(detail["operations"]) > 100
    assert detail["servers"] == ["https://api.twilio.com"]
    assert set(detail["config_schema"]["properties"]) == {"mock_responses"}
    calls = {"method": "GET", "path": "/2010-04-01/Accounts/{AccountSid}/Calls.json"}
    assert any(calls.items() <= op.items() for op in detail["operations"])
    shown = httpx.get(f"{control_plane.url}/v1/templates/twilio", trust_env=False).json()
    assert shown == detail
    listed = httpx.get(f"{control_plane.url}/v1/templates", trust_env=False).json()
    assert {"name": "twilio", "origin": "registered"}.items() <= next(
        t for t in listed if t["name"] == "twilio"
    ).items()

    twilio = _sandbox(control_plane, "twilio")["twilio"]
    answer = httpx.get(f"{twilio}/2010-04-01/Accounts/AC123/Calls.json", trust_env=False)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/json")
    assert isinstance(answer.json()["calls"], list)


def test_slack_swagger_2_registered_by_post_serves_under_its_base_path(
    control_plane: ControlPlane, spec_path: Specs
) -> None:
    spec = json.loads(gzip.decompress(spec_path["slack"].read_bytes()))
    response = _post(control_plane, {"name": "slack-web", "spec": spec})

    assert response.status_code == 201, response.text
    assert response.json()["servers"] == ["https://slack.com/api"]
    slack = _sandbox(control_plane, "slack-web")["slack-web"]
    answer = httpx.get(
        f"{slack}/api/auth.test", headers={"Authorization": "Bearer xoxb-1"}, trust_env=False
    )
    assert answer.status_code == 200 and "ok" in answer.json()


def test_yaml_text_with_a_config_schema_and_fixtures(
    control_plane: ControlPlane, spec_path: Specs
) -> None:
    body = {
        "name": "pets",
        "spec": spec_path["petstore"].read_text(),
        "config_schema": {
            "type": "object",
            "properties": {
                "pet_name": {"type": "string", "default": "Rex"},
                "mock_responses": {"type": "object"},
            },
            "additionalProperties": False,
        },
        "fixtures": (
            "- request: {method: GET, path: /pets}\n"
            "  response: {body: [{id: 1, name: {{ pet_name | tojson }}}]}\n"
        ),
    }
    response = _post(control_plane, body)
    assert response.status_code == 201, response.text
    assert response.json()["config_schema"] == body["config_schema"]

    default = _sandbox(control_plane, "pets")["pets"]
    assert httpx.get(f"{default}/v1/pets", trust_env=False).json() == [{"id": 1, "name": "Rex"}]
    named = _sandbox(control_plane, "pets", pets={"pet_name": "Tom"})["pets"]
    assert httpx.get(f"{named}/v1/pets", trust_env=False).json() == [{"id": 1, "name": "Tom"}]
    wrong = httpx.post(
        f"{control_plane.url}/v1/agents/a/sandboxes",
        json={"required_services": ["pets"], "custom_configs": {"pets": {"pet_name": 5}}},
        trust_env=False,
    )
    assert wrong.status_code == 422
    assert "/custom_configs/pets/pet_name" in [e["pointer"] for e in wrong.json()["errors"]]


def test_replacing_serves_new_sandboxes_while_running_ones_keep_the_old_spec(
    control_plane: ControlPlane,
) -> None:
    first = _spec({"/first": {"get": {"responses": {"200": _ok()}}}})
    second = _spec({"/second": {"get": {"responses": {"200": _ok()}}}})
    assert _post(control_plane, {"name": "swap", "spec": first}).status_code == 201
    old = _sandbox(control_plane, "swap")["swap"]

    replaced = _put(control_plane, "swap", json.dumps(second).encode())

    assert replaced.status_code == 200, replaced.text
    assert [op["path"] for op in replaced.json()["operations"]] == ["/second"]
    new = _sandbox(control_plane, "swap")["swap"]
    assert httpx.get(f"{new}/second", trust_env=False).status_code == 200
    assert httpx.get(f"{new}/first", trust_env=False).status_code == 404
    assert httpx.get(f"{old}/first", trust_env=False).status_code == 200
    assert httpx.get(f"{old}/second", trust_env=False).status_code == 404


def test_deleting_a_registered_template(control_plane: ControlPlane) -> None:
    spec = _spec({"/gone": {"get": {"responses": {"200": _ok()}}}})
    assert _post(control_plane, {"name": "doomed", "spec": spec}).status_code == 201
    running = _sandbox(control_plane, "doomed")["doomed"]
    url = f"{control_plane.url}/v1/templates/doomed"

    assert httpx.delete(url, trust_env=False).status_code == 204

    assert httpx.get(url, trust_env=False).status_code == 404
    assert httpx.delete(url, trust_env=False).status_code == 404
    refused = httpx.post(
        f"{control_plane.url}/v1/agents/a/sandboxes",
        json={"required_services": ["doomed"]},
        trust_env=False,
    )
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["pointer"] == "/required_services/0"
    assert httpx.get(f"{running}/gone", trust_env=False).status_code == 200


@pytest.mark.parametrize("method", ["put", "post", "delete"])
def test_a_bundled_name_is_409_naming_it(control_plane: ControlPlane, method: str) -> None:
    spec = _spec({"/x": {"get": {"responses": {"200": _ok()}}}})
    if method == "put":
        response = _put(control_plane, "github", json.dumps(spec).encode())
    elif method == "post":
        response = _post(control_plane, {"name": "github", "spec": spec})
    else:
        response = httpx.delete(f"{control_plane.url}/v1/templates/github", trust_env=False)

    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert "'github' is a bundled template" in response.json()["detail"]
    shown = httpx.get(f"{control_plane.url}/v1/templates/github", trust_env=False).json()
    assert shown["origin"] == "bundled"


def test_registration_survives_a_kill_9_and_restart(tmp_path: Path, spec_path: Specs) -> None:
    server = ControlPlane(tmp_path / "data").start()
    try:
        assert _put(server, "twilio", spec_path["twilio"].read_bytes()).status_code == 201
        before = _sandbox(server, "twilio")["twilio"]
        server.kill()
        server.start()

        shown = httpx.get(f"{server.url}/v1/templates/twilio", trust_env=False).json()
        assert shown["origin"] == "registered" and shown["operation_count"] > 100
        calls = "/2010-04-01/Accounts/AC123/Calls.json"
        assert httpx.get(f"{before}{calls}", trust_env=False).status_code == 200
        after = _sandbox(server, "twilio")["twilio"]
        assert httpx.get(f"{after}{calls}", trust_env=False).status_code == 200
    finally:
        server.stop()


def test_a_stored_template_that_no_longer_compiles_does_not_stop_a_restart(
    tmp_path: Path,
) -> None:
    server = ControlPlane(tmp_path / "data").start()
    try:
        spec = _spec({"/x": {"get": {"responses": {"200": _ok()}}}})
        assert _post(server, {"name": "broken", "spec": spec}).status_code == 201
        assert _post(server, {"name": "kept", "spec": spec}).status_code == 201
        server.kill()
        with sqlite3.connect(tmp_path / "data" / "doppel.db") as db:
            db.execute("UPDATE templates SET spec = ? WHERE name = 'broken'", (b"[not a spec",))
        db.close()
        server.start()

        url = f"{server.url}/v1/templates"
        assert httpx.get(f"{url}/broken", trust_env=False).status_code == 404
        assert httpx.get(f"{url}/kept", trust_env=False).json()["origin"] == "registered"
    finally:
        server.stop()


def test_a_13_mb_spec_compiles_off_the_event_loop(
    control_plane: ControlPlane, spec_path: Specs
) -> None:
    """GitHub's spec takes about a second to parse and compile; the control plane keeps
    answering meanwhile."""
    data = spec_path["github"].read_bytes()  # gzip, as the bundled template ships it
    outcome: dict[str, Any] = {}

    def register() -> None:
        started = time.perf_counter()
        outcome["response"] = _put(control_plane, "github-full", data)
        outcome["seconds"] = time.perf_counter() - started

    worker = threading.Thread(target=register)
    worker.start()
    latencies = []
    with httpx.Client(trust_env=False) as client:
        while worker.is_alive():
            started = time.perf_counter()
            assert client.get(f"{control_plane.url}/healthz").status_code == 200
            latencies.append(time.perf_counter() - started)
    worker.join()

    assert outcome["response"].status_code == 201, outcome["response"].text
    assert outcome["response"].json()["operation_count"] > 800
    # On the event loop, the first /healthz sent meanwhile would wait for the whole
    # registration: one or two answers at most. Counting answers, not timing them, keeps this
    # independent of how busy the machine is.
    assert len(latencies) >= 5
    github = _sandbox(control_plane, "github-full")["github-full"]
    assert httpx.get(f"{github}/repos/octo/hello", trust_env=False).status_code == 200


# -- hostile input: a clear 4xx, nothing stored, nothing harmed ------------------------------

_PETS_GET = "/paths/~1pets/get/responses/200"


def _with_ref(ref: str) -> dict[str, Any]:
    return _spec({"/pets": {"get": {"responses": {"200": _ok(schema={"$ref": ref})}}}})


def _nested_json(depth: int) -> bytes:
    return (
        b'{"openapi": "3.0.0", "paths": {}, "x": ' + b'{"a": ' * depth + b"1" + b"}" * depth + b"}"
    )


HOSTILE = [
    pytest.param(
        "put",
        b"openapi: 3.0.0\npaths: {unclosed: [\n",
        "application/yaml",
        422,
        "invalid YAML",
        "",
        id="invalid-yaml",
    ),
    pytest.param(
        "put", b'{"openapi": "3.0.0", ', "application/json", 422, "invalid JSON", "", id="bad-json"
    ),
    pytest.param(
        "post",
        {"spec": _with_ref("other.yaml#/Pet")},
        None,
        422,
        "'other.yaml#/Pet' points outside the document",
        f"/spec{_PETS_GET}/content/application~1json/schema/$ref",
        id="ref-to-a-file",
    ),
    pytest.param(
        "put",
        json.dumps(_with_ref("https://evil.example/x.json")).encode(),
        "application/json",
        422,
        "'https://evil.example/x.json' points outside the document",
        f"{_PETS_GET}/content/application~1json/schema/$ref",
        id="ref-to-a-url",
    ),
    pytest.param(
        "post",
        {"spec": _with_ref("#/components/schemas/Nope")},
        None,
        422,
        "'#/components/schemas/Nope' points at nothing",
        f"/spec{_PETS_GET}/content/application~1json/schema/$ref",
        id="ref-to-nothing",
    ),
    pytest.param(
        "put",
        b"[1, 2, 3]",
        "application/json",
        422,
        "must be a JSON or YAML object",
        "",
        id="array",
    ),
    pytest.param("post", {"spec": 5}, None, 422, "not int", "/spec", id="spec-a-number"),
    pytest.param(
        "put",
        b"openapi: 4.0\ninfo: {title: t}\npaths: {}\n",
        "application/yaml",
        422,
        "unsupported version '4.0'",
        "/openapi",
        id="openapi-4",
    ),
    pytest.param(
        "post",
        {"spec": {"openapi": "3.0.0", "info": {"title": "t"}, "paths": []}},
        None,
        422,
        "`paths` must be an object",
        "/spec/paths",
        id="paths-an-array",
    ),
    pytest.param(
        "put",
        _nested_json(10_000),
        "application/json",
        422,
        "nested too deeply",
        "",
        id="deep-json",
    ),
    pytest.param(
        "put",
        _nested_json(300),
        "application/json",
        422,
        "nested deeper than 256 levels",
        "/x" + "/a" * 255,
        id="deeper-than-256-json",
    ),
    pytest.param(
        "put",
        b"openapi: 3.0.0\nx: " + b"{a: " * 10_000 + b"1" + b"}" * 10_000 + b"\n",
        "application/yaml",
        422,
        "nested deeper than 256 levels",
        "",
        id="deep-yaml-flow",
    ),
    pytest.param(
        "put",
        b"- " * 10_000 + b"x\n",
        "text/yaml",
        422,
        "nested deeper than 256 levels",
        "",
        id="deep-yaml-block",
    ),
    pytest.param(
        "put", b"a: &a [*a]\n", "application/yaml", 422, "recursive alias", "", id="self-alias"
    ),
    pytest.param(
        "put", b"openapi: 3.0.0\n", "text/html", 415, "application/yaml", "", id="media-type"
    ),
    pytest.param(
        "post",
        {"spec": {"openapi": "3.0.0"}, "config_schema": {"type": "nonsense"}},
        None,
        422,
        "not a valid JSON Schema",
        "/config_schema/type",
        id="config-schema",
    ),
    pytest.param(
        "post",
        {
            "spec": _spec({}),
            "config_schema": {"properties": {"x": {"$ref": "https://evil.example/s.json"}}},
        },
        None,
        422,
        "points outside the document",
        "/config_schema/properties/x/$ref",
        id="config-schema-remote-ref",
    ),
    pytest.param(
        "post",
        {
            "spec": _spec({}),
            "config_schema": {
                "properties": {"a": {"$id": "https://x.example/a", "$ref": "#/$defs/b"}},
                "$defs": {"b": {}},
            },
        },
        None,
        422,
        "only supported at the root",
        "/config_schema/properties/a/$id",
        id="config-schema-nested-id",
    ),
    pytest.param(
        "post",
        {"spec": _spec({}), "fixtures": "{% for %}"},
        None,
        422,
        "not a valid Jinja2 template",
        "/fixtures",
        id="fixtures-syntax",
    ),
    pytest.param(
        "post",
        {"spec": _spec({}), "fixtures": "- request: {path: no-slash}\n"},
        None,
        422,
        "do not render",
        "/fixtures",
        id="fixtures-shape",
    ),
    pytest.param("post", {}, None, 422, "give either", "/spec", id="no-spec"),
    pytest.param(
        "post",
        {"spec": _spec({}), "source_url": "http://127.0.0.1/x"},
        None,
        422,
        "not both",
        "/source_url",
        id="spec-and-url",
    ),
    pytest.param("post", {"spec": _spec({}), "nope": 1}, None, 422, "", "/nope", id="extra-field"),
    pytest.param(
        "raw",
        b'{"name": "hostile", "spec": ',
        "application/json",
        400,
        "not valid JSON",
        "",
        id="body",
    ),
    pytest.param(
        "raw",
        b'{"name": "hostile", "spec": ' + b"[" * 10_000 + b"]" * 10_000 + b"}",
        "application/json",
        422,
        "nested too deeply",
        "",
        id="deep-post-body",
    ),
    pytest.param(
        "raw",
        b"openapi: 3.0.0\n",
        "application/yaml",
        415,
        "PUT /v1/templates/",
        "",
        id="yaml-post",
    ),
]


@pytest.mark.parametrize(("how", "payload", "media", "status", "detail", "pointer"), HOSTILE)
def test_hostile_input_is_a_clear_4xx_and_harms_nothing(
    control_plane: ControlPlane,
    alive: dict[str, Any],
    how: str,
    payload: Any,
    media: str | None,
    status: int,
    detail: str,
    pointer: str,
) -> None:
    if how == "put":
        response = _put(control_plane, "hostile", payload, media or "application/json")
    elif how == "post":
        response = _post(control_plane, {"name": "hostile", **payload})
    else:
        response = httpx.post(
            f"{control_plane.url}/v1/templates",
            content=payload,
            headers={"content-type": media or "application/json"},
            trust_env=False,
        )

    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert detail in problem["detail"] + " ".join(e["detail"] for e in problem.get("errors", []))
    if pointer:
        assert pointer in [e["pointer"] for e in problem["errors"]]
    missing = httpx.get(f"{control_plane.url}/v1/templates/hostile", trust_env=False)
    assert missing.status_code == 404  # nothing was stored
    _assert_unharmed(control_plane, alive)


@pytest.mark.parametrize(
    ("name", "pointer"), [("Twilio", "/name"), ("9lives", "/name"), ("a" * 64, "/name")]
)
def test_a_bad_name_is_422_naming_the_field(
    control_plane: ControlPlane, name: str, pointer: str
) -> None:
    posted = _post(control_plane, {"name": name, "spec": _spec({})})
    put = _put(control_plane, name, json.dumps(_spec({})).encode())

    assert posted.status_code == put.status_code == 422
    assert posted.json()["errors"][0]["pointer"] == pointer
    assert put.json()["errors"][0]["pointer"] == "/path/name"


def test_a_billion_laughs_is_refused_quickly_with_flat_memory(
    control_plane: ControlPlane, alive: dict[str, Any]
) -> None:
    lines = ["openapi: 3.0.0", "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for level in "bcdefghij":
        previous = chr(ord(level) - 1)
        lines.append(f"{level}: &{level} [" + ", ".join([f"*{previous}"] * 10) + "]")
    bomb = ("\n".join(lines) + "\npaths: {}\n").encode()
    before = _rss_mb(control_plane)
    started = time.perf_counter()

    response = _put(control_plane, "hostile", bomb, "application/yaml")

    assert time.perf_counter() - started < 10  # expanded, it would run for hours
    assert response.status_code == 422 and "alias bomb" in response.json()["detail"]
    assert _rss_mb(control_plane) - before < 20
    _assert_unharmed(control_plane, alive)


def test_a_100_mb_body_is_413_before_it_is_read(
    control_plane: ControlPlane, alive: dict[str, Any]
) -> None:
    """Content-Length declares 100 MB: the answer comes before any of the body is sent."""
    with socket.create_connection(("127.0.0.1", control_plane.port), timeout=10) as sock:
        sock.sendall(
            b"PUT /v1/templates/hostile HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/json\r\nContent-Length: 104857600\r\n\r\n"
        )
        head = _read_response(sock)
    assert head.startswith(b"HTTP/1.1 413 ")
    assert b"max_spec_bytes=33554432" in head and b"connection: close" in head.lower()
    _assert_unharmed(control_plane, alive)


def test_a_chunked_100_mb_body_is_413_at_the_limit(
    control_plane: ControlPlane, alive: dict[str, Any]
) -> None:
    """No Content-Length: the server counts what arrives and stops reading at 32 MB."""
    before = _rss_mb(control_plane)
    chunk = b" " * 65536
    frame = b"%x\r\n%s\r\n" % (len(chunk), chunk)
    sent = 0
    with socket.create_connection(("127.0.0.1", control_plane.port), timeout=10) as sock:
        sock.sendall(
            b"PUT /v1/templates/hostile HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        while sent < 100 * MB:
            readable, writable, _ = select.select([sock], [sock], [], 10)
            if readable:
                break  # the server has answered
            if writable:
                sock.sendall(frame)
                sent += len(chunk)
        head = _read_response(sock)

    assert head.startswith(b"HTTP/1.1 413 ") and b"max_spec_bytes=33554432" in head
    assert 32 * MB < sent < 100 * MB
    assert _rss_mb(control_plane) - before < 80
    _assert_unharmed(control_plane, alive)


def test_a_chunked_body_over_max_body_bytes_is_413_on_other_routes(
    control_plane: ControlPlane,
) -> None:
    response = httpx.post(
        f"{control_plane.url}/v1/agents/a/sandboxes",
        content=(b" " * 65536 for _ in range(32)),  # 2 MB, no Content-Length
        headers={"content-type": "application/json"},
        trust_env=False,
    )
    assert response.status_code == 413 and "max_body_bytes=1048576" in response.json()["detail"]


def _read_response(sock: socket.socket) -> bytes:
    data = b""
    try:
        while b"}" not in data:
            part = sock.recv(65536)
            if not part:
                break
            data += part
    except ConnectionResetError:
        pass
    return data


# -- import from a URL: only allow-listed hosts, no redirects ---------------------------------


class _SpecHost(ThreadingHTTPServer):
    """A loopback web server that serves the petstore spec and records every request."""

    daemon_threads = True

    def __init__(self, petstore: bytes) -> None:
        super().__init__(("127.0.0.1", free_port()), _SpecHandler)
        self.petstore = petstore
        self.hits: list[str] = []
        self.url = f"http://127.0.0.1:{self.server_address[1]}"


class _SpecHandler(BaseHTTPRequestHandler):
    server: _SpecHost

    def do_GET(self) -> None:
        self.server.hits.append(self.path)
        if self.path == "/petstore.yaml":
            self._send(200, self.server.petstore, {"Content-Type": "application/yaml"})
        elif self.path == "/moved":
            self._send(302, b"", {"Location": "/petstore.yaml"})
        elif self.path == "/big":
            self._send(200, b" " * (5 * MB), {"Content-Type": "application/json"})
        elif self.path == "/slow":
            time.sleep(10)
            self._send(200, self.server.petstore, {})
        else:
            self._send(404, b"not here", {})

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        try:
            self.send_response(status)
            for name, value in {**headers, "Content-Length": str(len(body))}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass  # the importer gave up (the timeout test)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def spec_host(spec_path: Specs) -> Iterator[_SpecHost]:
    server = _SpecHost(spec_path["petstore"].read_bytes())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def importer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    """A control plane that may import from 127.0.0.1, with a 1 s timeout and a 4 MB cap."""
    server = ControlPlane(
        tmp_path_factory.mktemp("importer") / "data",
        env={
            "DOPPEL_IMPORT_ALLOWED_HOSTS": "127.0.0.1",
            "DOPPEL_IMPORT_TIMEOUT": "1",
            "DOPPEL_MAX_SPEC_BYTES": str(4 * MB),
        },
    ).start()
    try:
        yield server
    finally:
        server.stop()


def _import(server: ControlPlane, url: str, name: str = "imported") -> httpx.Response:
    return _post(server, {"name": name, "source_url": url})


def test_a_spec_imports_from_an_allowed_host(importer: ControlPlane, spec_host: _SpecHost) -> None:
    spec_host.hits.clear()

    response = _import(importer, f"{spec_host.url}/petstore.yaml")

    assert response.status_code == 201, response.text
    assert spec_host.hits == ["/petstore.yaml"]
    pets = _sandbox(importer, "imported")["imported"]
    assert httpx.get(f"{pets}/v1/pets", trust_env=False).status_code == 200


def test_a_redirect_is_422_naming_it_and_is_not_followed(
    importer: ControlPlane, spec_host: _SpecHost
) -> None:
    spec_host.hits.clear()

    response = _import(importer, f"{spec_host.url}/moved", name="moved")

    assert response.status_code == 422
    assert "redirects (302) to '/petstore.yaml'" in response.json()["detail"]
    assert response.json()["errors"][0]["pointer"] == "/source_url"
    assert spec_host.hits == ["/moved"]


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost:{port}/petstore.yaml",
        "http://127.0.0.1@localhost:{port}/petstore.yaml",
        "http://127.0.0.2:{port}/petstore.yaml",
    ],
)
def test_a_host_not_allowed_is_refused_without_any_request(
    importer: ControlPlane, spec_host: _SpecHost, url: str
) -> None:
    spec_host.hits.clear()

    response = _import(importer, url.format(port=spec_host.server_address[1]), name="elsewhere")

    assert response.status_code == 403
    assert "not in DOPPEL_IMPORT_ALLOWED_HOSTS (127.0.0.1)" in response.json()["detail"]
    assert spec_host.hits == []


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://127.0.0.1/spec.yaml"])
def test_only_http_and_https_are_imported(
    importer: ControlPlane, spec_host: _SpecHost, url: str
) -> None:
    response = _import(importer, url, name="scheme")

    assert response.status_code == 422 and "only http and https" in response.json()["detail"]


@pytest.mark.parametrize(
    ("path", "detail"),
    [
        ("/slow", "did not answer within 1 s"),
        ("/big", "more than 4194304 bytes"),
        ("/missing", "answered 404"),
    ],
)
def test_a_failed_import_is_422_naming_the_cause(
    importer: ControlPlane, spec_host: _SpecHost, path: str, detail: str
) -> None:
    started = time.perf_counter()

    response = _import(importer, f"{spec_host.url}{path}", name="failed")

    assert response.status_code == 422 and detail in response.json()["detail"]
    assert time.perf_counter() - started < 8  # the import timeout (1 s) fired, not the 10 s sleep
    assert httpx.get(f"{importer.url}/v1/templates/failed", trust_env=False).status_code == 404


def test_max_spec_bytes_is_the_template_body_limit(importer: ControlPlane) -> None:
    response = _put(importer, "big", b" " * (5 * MB))

    assert response.status_code == 413
    assert "max_spec_bytes=4194304" in response.json()["detail"]


def test_import_is_off_by_default(control_plane: ControlPlane, spec_host: _SpecHost) -> None:
    spec_host.hits.clear()

    response = _import(control_plane, f"{spec_host.url}/petstore.yaml")

    assert response.status_code == 403 and "import from a URL is off" in response.json()["detail"]
    assert spec_host.hits == []
