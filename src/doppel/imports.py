"""Fetching a spec from a URL (`source_url`): off unless the host is allow-listed.

Exactly the listed host names are contacted: the check happens before any request, redirects
are refused rather than followed (a redirect could lead anywhere), proxies from the environment
are ignored, and the body is read under a size cap and an overall deadline.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import httpx

from doppel.errors import ImportNotAllowedError, InvalidRequestError, SpecImportError

POINTER = "/source_url"
_ACCEPT = "application/json, application/yaml, text/yaml, application/x-yaml, */*;q=0.5"


@dataclass(frozen=True, slots=True)
class FetchedSpec:
    data: bytes
    name: str  # a file name whose suffix tells the parser what to expect


def check_url(url: str, allowed_hosts: frozenset[str]) -> httpx.URL:
    """The parsed URL, if it may be fetched; the same parse is what the request uses."""
    if not allowed_hosts:
        raise ImportNotAllowedError(
            "import from a URL is off; set DOPPEL_IMPORT_ALLOWED_HOSTS to the host names it may "
            "use, or send the spec itself",
            pointer=POINTER,
        )
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise InvalidRequestError(f"not a valid URL: {exc}", pointer=POINTER) from None
    if parsed.scheme not in ("http", "https"):
        raise InvalidRequestError(
            f"only http and https URLs can be imported, not {parsed.scheme or 'a relative URL'!r}",
            pointer=POINTER,
        )
    host = parsed.host.lower()
    if host not in allowed_hosts:
        raise ImportNotAllowedError(
            f"the host {host!r} is not in DOPPEL_IMPORT_ALLOWED_HOSTS "
            f"({', '.join(sorted(allowed_hosts))})",
            pointer=POINTER,
        )
    return parsed


async def fetch_spec(
    url: str,
    *,
    allowed_hosts: frozenset[str],
    max_bytes: int,
    timeout: float,
    transport: httpx.AsyncBaseTransport | None = None,
) -> FetchedSpec:
    """GET `url` once: no redirects, at most `max_bytes`, within `timeout` seconds in all."""
    parsed = check_url(url, allowed_hosts)
    client = httpx.AsyncClient(
        follow_redirects=False,
        trust_env=False,
        timeout=httpx.Timeout(timeout),
        transport=transport,
        headers={"Accept": _ACCEPT, "Accept-Encoding": "identity", "User-Agent": "doppel"},
    )
    try:
        async with (
            client,
            asyncio.timeout(timeout),
            client.stream("GET", parsed) as response,
        ):
            return await _read(response, url, max_bytes)
    except TimeoutError:
        raise SpecImportError(
            f"{url} did not answer within {timeout:g} s (DOPPEL_IMPORT_TIMEOUT)", pointer=POINTER
        ) from None
    except httpx.TimeoutException:
        raise SpecImportError(
            f"{url} did not answer within {timeout:g} s (DOPPEL_IMPORT_TIMEOUT)", pointer=POINTER
        ) from None
    except httpx.HTTPError as exc:
        raise SpecImportError(
            f"{url} could not be fetched: {type(exc).__name__}: {exc}", pointer=POINTER
        ) from None


async def _read(response: httpx.Response, url: str, max_bytes: int) -> FetchedSpec:
    status = response.status_code
    if 300 <= status < 400:
        location = response.headers.get("location", "")
        raise SpecImportError(
            f"{url} redirects ({status}) to {location!r}; redirects are not followed, "
            "give the final URL",
            pointer=POINTER,
        )
    if status != 200:
        raise SpecImportError(f"{url} answered {status}, not 200", pointer=POINTER)
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise SpecImportError(
            f"{url} sent a {encoding!r}-encoded body; only uncompressed bodies are imported",
            pointer=POINTER,
        )
    too_large = f"{url} sends more than {max_bytes} bytes (DOPPEL_MAX_SPEC_BYTES)"
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise SpecImportError(too_large, pointer=POINTER)
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_raw():
        size += len(chunk)
        if size > max_bytes:
            raise SpecImportError(too_large, pointer=POINTER)
        chunks.append(chunk)
    return FetchedSpec(b"".join(chunks), _name(response, url))


def _name(response: httpx.Response, url: str) -> str:
    media = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if media == "application/json" or media.endswith("+json"):
        return "openapi.json"
    if "yaml" in media:
        return "openapi.yaml"
    return "openapi.json" if httpx.URL(url).path.endswith(".json") else "openapi.yaml"
