"""Malformed bodies on the control plane: a 400 or 422 problem naming why, never a 5xx, and
the server answers the next request as before."""

from __future__ import annotations

import httpx
import pytest

from tests.servers import ControlPlane

CREATE = "/v1/agents/strict-agent/sandboxes"
GITHUB = b'{"required_services":["github"]'
DEEP_CONFIG = b'{"a":' * 150 + b"1" + b"}" * 150

# (case, path, body, status, problem slug, the pointer named, or None for the whole body)
CASES = [
    ("deep arrays", CREATE, b"[" * 100_000, 400, "malformed-request", None),
    ("deep under a field", CREATE, GITHUB + b',"ttl_minutes":' + b"[" * 50_000 + b"}", 400,
     "malformed-request", None),
    ("huge integer", CREATE, GITHUB + b',"ttl_minutes":1' + b"0" * 5000 + b"}", 400,
     "malformed-request", None),
    ("invalid UTF-8", CREATE, b'{"required_services":["\xff\xfe"]}', 400, "malformed-request",
     None),
    ("not JSON", CREATE, b"required_services=github", 400, "malformed-request", None),
    ("boolean TTL", CREATE, GITHUB + b',"ttl_minutes":true}', 422, "invalid-request",
     "/ttl_minutes"),
    ("TTL as text", CREATE, GITHUB + b',"ttl_minutes":"5"}', 422, "invalid-request",
     "/ttl_minutes"),
    ("NaN TTL", CREATE, GITHUB + b',"ttl_minutes":NaN}', 422, "invalid-request", "/ttl_minutes"),
    ("service as a number", CREATE, b'{"required_services":[1]}', 422, "invalid-request",
     "/required_services/0"),
    ("deep config", CREATE, GITHUB + b',"custom_configs":{"github":' + DEEP_CONFIG + b"}}", 422,
     "invalid-request", "/custom_configs/github"),
    ("deep template", "/v1/templates", b"[" * 100_000, 422, "invalid-request", None),
]  # fmt: skip


@pytest.mark.parametrize(
    ("path", "body", "status", "slug", "pointer"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_a_malformed_body_is_a_problem_naming_why(
    control_plane: ControlPlane,
    path: str,
    body: bytes,
    status: int,
    slug: str,
    pointer: str | None,
) -> None:
    with httpx.Client(base_url=control_plane.url, trust_env=False, timeout=30) as client:
        response = client.post(path, content=body, headers={"content-type": "application/json"})
        assert response.status_code == status, response.text
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert problem["type"].endswith(f"/{slug}")
        assert problem["status"] == status
        assert problem["detail"]
        if pointer is not None:
            named = [e["pointer"] for e in problem["errors"]]
            assert any(p == pointer or p.startswith(f"{pointer}/") for p in named), problem
        assert client.get("/healthz").status_code == 200


def test_a_good_request_after_the_bad_ones_still_creates(control_plane: ControlPlane) -> None:
    with httpx.Client(base_url=control_plane.url, trust_env=False, timeout=30) as client:
        for _, path, body, *_ in CASES:
            client.post(path, content=body, headers={"content-type": "application/json"})
        created = client.post(CREATE, json={"required_services": ["github"], "ttl_minutes": 5})
        assert created.status_code == 201, created.text
        assert created.json()["ttl_minutes"] == 5
        extended = client.post(
            f"/v1/sandboxes/{created.json()['sandbox_id']}/extend", json={"ttl_minutes": True}
        )
        assert extended.status_code == 422
        assert [e["pointer"] for e in extended.json()["errors"]] == ["/ttl_minutes"]
