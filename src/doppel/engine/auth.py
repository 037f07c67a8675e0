"""Credentials as the provider takes them, and the tokens each sandbox is issued.

A template declares where a token travels (`Authorization: token …`, `X-Figma-Token`,
Slack's `token` parameter), what a well-formed one looks like, and the format Doppel issues
(`ghp_{alnum:36}`, `xoxb-{digits:13}-{digits:13}-{alnum:24}`, `figd_{alnum:40}`). The
sandbox chooses how strict to be: `off`, `any` well-formed token, or only the ones
`issued` to it. A spec without such declarations is checked against its own security
schemes.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from doppel.engine.compile import CompiledSpec, Operation
from doppel.engine.context import MockContext
from doppel.engine.declarations import Auth
from doppel.engine.model import MockRequest
from doppel.engine.validate import auth_error

_ALPHABETS = {
    "alnum": "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
    "hex": "0123456789abcdef",
    "digits": "0123456789",
}
_TOKEN_PART = re.compile(r"\{(alnum|hex|digits):(\d{1,3})\}")


@dataclass(frozen=True, slots=True)
class AuthFailure:
    kind: str  # "unauthorized" (no credentials) or "bad_credentials"
    detail: str


def issue_token(spec: CompiledSpec, entropy: bytes) -> str:
    """A new token in the template's format, its random characters drawn from `entropy`
    (the caller's cryptographic randomness: the engine has none of its own)."""
    declared = spec.declarations.auth
    template = declared.token if declared is not None else Auth().token
    if not entropy:
        raise ValueError("a token needs entropy")
    needed = sum(int(n) for _, n in _TOKEN_PART.findall(template))
    source = iter(entropy * (1 + needed // len(entropy)))

    def fill(found: re.Match[str]) -> str:
        alphabet = _ALPHABETS[found[1]]
        return "".join(alphabet[next(source) % len(alphabet)] for _ in range(int(found[2])))

    return _TOKEN_PART.sub(fill, template)


def check_credentials(
    spec: CompiledSpec, op: Operation, request: MockRequest, context: MockContext
) -> AuthFailure | None:
    if context.auth == "off":
        return None
    declared = spec.declarations.auth
    if declared is None:
        return _by_security_schemes(spec, op, request, context)
    if op.operation_id in declared.anonymous or (
        declared.required == "declared" and not op.security
    ):
        return None
    token = credential(declared, request)
    if token is None:
        if op.security and any(not requirement for requirement in op.security):
            return None  # `security: [{}, …]`: anonymous calls are allowed too
        if _open_to_anyone(declared, op):
            return None
        return AuthFailure("unauthorized", "no credentials were sent")
    if declared.pattern is not None and not re.fullmatch(declared.pattern, token):
        return AuthFailure("bad_credentials", "the token is not one this service issues")
    if context.auth == "issued" and token not in context.tokens:
        return AuthFailure("bad_credentials", "the token was not issued to this sandbox")
    return None


def _open_to_anyone(declared: Auth, op: Operation) -> bool:
    """Whether the provider serves this operation without credentials: its method is one
    of `anonymous_methods`, it declares no 401 answer, and `authenticated` names neither
    it nor a path above it."""
    methods = {m.upper() for m in declared.anonymous_methods}
    if op.method not in methods or "401" in op.responses:
        return False
    for needing in declared.authenticated:
        if needing == op.operation_id:
            return False
        if needing.startswith("/") and (
            op.path == needing or op.path.startswith(needing.rstrip("/") + "/")
        ):
            return False
    return True


def credential(declared: Auth, request: MockRequest) -> str | None:
    """The token a request carries where the template says tokens travel."""
    for place in declared.credentials:
        if place.header is not None:
            value = request.headers.get(place.header.lower(), "").strip()
            if not value:
                continue
            if not place.schemes:
                return value
            scheme, _, token = value.partition(" ")
            if scheme.lower() in (s.lower() for s in place.schemes) and token.strip():
                if place.basic is not None and scheme.lower() == "basic":
                    return presented(request).get(place.basic) or None
                return token.strip()
        elif place.param is not None:
            sent = request.params().get(place.param)
            if isinstance(sent, str) and sent.strip():
                return sent.strip()
    return None


def presented(request: MockRequest) -> dict[str, str]:
    """What the `Authorization` header presents: its `token`, and for HTTP Basic the `user`
    and `password` (templates read them as `{credential.user}`)."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    found = {"token": value.strip()} if value.strip() else {}
    if scheme.lower() == "basic":
        try:
            user, _, password = (
                base64.b64decode(value.strip(), validate=True).decode().partition(":")
            )
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return found
        found |= {"user": user, "password": password}
    return found


def _by_security_schemes(
    spec: CompiledSpec, op: Operation, request: MockRequest, context: MockContext
) -> AuthFailure | None:
    reason = auth_error(spec, op, request)
    if reason is not None:
        return AuthFailure("unauthorized", reason)
    if context.auth == "issued" and op.security:
        sent = _sent_secrets(request)
        if not sent and any(not requirement for requirement in op.security):
            return None
        if not sent & context.tokens:
            return AuthFailure("bad_credentials", "the credentials were not issued to this sandbox")
    return None


def _sent_secrets(request: MockRequest) -> set[str]:
    """Every value a credential could be: bearer tokens, basic user names and passwords
    (Stripe's secret key travels as the user name), API-key headers and parameters."""
    found = set(presented(request).values())
    found |= {v for v in request.headers.values() if v}
    found |= {v for v in request.params().values() if isinstance(v, str)}
    return found - {""}
