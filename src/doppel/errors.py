"""The DoppelError tree: each class carries an HTTP status, a slug and a title.

The control plane renders any of them as problem+json; the client turns a problem back into
the same class by its slug.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar


@dataclass(frozen=True, slots=True)
class FieldError:
    """One thing wrong with the input, at a JSON pointer (RFC 6901); `code` says how
    (`missing`, `invalid`), for providers that report it (GitHub's `missing_field`)."""

    pointer: str
    detail: str
    code: str = "invalid"


class DoppelError(Exception):
    status: ClassVar[int] = 500
    slug: ClassVar[str] = "internal-error"
    title: ClassVar[str] = "Internal error"

    def __init__(
        self,
        detail: str = "",
        *,
        pointer: str | None = None,
        errors: Sequence[FieldError] = (),
        **extra: Any,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.extra = extra  # further problem+json members, e.g. a sandbox's `reason`
        self.errors: tuple[FieldError, ...] = tuple(errors) or (
            (FieldError(pointer, self.detail),) if pointer is not None else ()
        )


class SpecError(DoppelError):
    """An OpenAPI description that cannot be loaded or compiled."""

    status = 422
    slug = "invalid-spec"
    title = "Invalid API description"


class ConfigError(DoppelError):
    """A custom_config or override that does not fit its template."""

    status = 422
    slug = "invalid-config"
    title = "Invalid service configuration"


class TemplateNotFoundError(DoppelError):
    status = 404
    slug = "template-not-found"
    title = "Template not found"


class TemplateConflictError(DoppelError):
    """A registration that would replace or remove a template this process does not own."""

    status = 409
    slug = "template-conflict"
    title = "Template conflict"


class SpecImportError(DoppelError):
    """A spec named by `source_url` could not be fetched (redirect, timeout, size, status)."""

    status = 422
    slug = "import-failed"
    title = "The spec could not be imported"


class ImportNotAllowedError(DoppelError):
    """Import from a URL is off, or the URL's host is not in `DOPPEL_IMPORT_ALLOWED_HOSTS`."""

    status = 403
    slug = "import-not-allowed"
    title = "Import from this URL is not allowed"


class InvalidRequestError(DoppelError):
    """The request body or parameters do not fit the API; `errors` point at each field."""

    status = 422
    slug = "invalid-request"
    title = "Invalid request"


class MalformedRequestError(DoppelError):
    status = 400
    slug = "malformed-request"
    title = "Malformed request"


class UnsupportedMediaTypeError(DoppelError):
    status = 415
    slug = "unsupported-media-type"
    title = "Unsupported media type"


class PayloadTooLargeError(DoppelError):
    status = 413
    slug = "payload-too-large"
    title = "Request body too large"


class LimitExceededError(DoppelError):
    """A request asks for more than a configured limit allows (services, TTL, overrides)."""

    status = 422
    slug = "limit-exceeded"
    title = "Limit exceeded"


class QuotaExceededError(DoppelError):
    status = 429
    slug = "quota-exceeded"
    title = "Quota exceeded"


class SandboxNotFoundError(DoppelError):
    status = 404
    slug = "sandbox-not-found"
    title = "Sandbox not found"


class SandboxGoneError(DoppelError):
    """The sandbox ended (deleted or expired); kept as a tombstone for the retention period."""

    status = 410
    slug = "sandbox-gone"
    title = "Sandbox gone"


class SandboxFailedError(DoppelError):
    status = 503
    slug = "sandbox-failed"
    title = "Sandbox failed to start"


class StaticSandboxError(DoppelError):
    """An action on the shared sandbox of static mode that only a dynamic sandbox allows."""

    status = 409
    slug = "static-sandbox"
    title = "Static sandboxes are shared"


class StaticStartError(DoppelError):
    """Static mode could not start a shared instance (its fixed port is taken, a bad list)."""

    status = 503
    slug = "static-start-failed"
    title = "Static mode could not start"


class CheckpointNotFoundError(DoppelError):
    status = 404
    slug = "checkpoint-not-found"
    title = "Checkpoint not found"


class CheckpointExistsError(DoppelError):
    """A checkpoint name is taken in this sandbox (names say which state a grader means)."""

    status = 409
    slug = "checkpoint-exists"
    title = "Checkpoint exists"


class PortsExhaustedError(DoppelError):
    status = 503
    slug = "ports-exhausted"
    title = "No free port in the configured range"


def error_classes() -> dict[str, type[DoppelError]]:
    """Every DoppelError subclass by slug, so a client can raise what the server meant."""
    found: dict[str, type[DoppelError]] = {DoppelError.slug: DoppelError}
    stack = list(DoppelError.__subclasses__())
    while stack:
        cls = stack.pop()
        found.setdefault(cls.slug, cls)
        stack.extend(cls.__subclasses__())
    return found
