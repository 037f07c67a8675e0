"""Upstream URLs in answers pointed back at the mock, so SDKs that follow links stay here."""

from __future__ import annotations

from collections.abc import Mapping

from doppel.engine.compile import CompiledSpec
from doppel.engine.context import MockContext
from doppel.engine.model import MockRequest, MockResponse


def finish(
    spec: CompiledSpec,
    request: MockRequest,
    context: MockContext,
    status: int,
    headers: Mapping[str, str],
    body: bytes,
) -> MockResponse:
    """Point upstream URLs at the mock itself, so SDKs that follow links stay here; label
    the content type as the provider does (`content_types`)."""
    labels = spec.declarations.content_types
    if labels and headers.get("content-type") in labels:
        headers = {**headers, "content-type": labels[headers["content-type"]]}
    base = context.base_url
    if base and spec.upstreams:
        target = base.encode()
        for upstream in spec.upstreams:
            origin = upstream.encode()
            if origin in body:
                body = body.replace(origin, target)
        headers = {
            k: _rewrite(v, spec.upstreams, base) if k in ("link", "location") else v
            for k, v in headers.items()
        }
    if request.method == "HEAD":
        body = b""
    return MockResponse(status, tuple(headers.items()), body)


def _rewrite(value: str, upstreams: tuple[str, ...], base: str) -> str:
    for upstream in upstreams:
        value = value.replace(upstream, base)
    return value
