"""The DoppelError tree: each class carries an HTTP status, a slug and a title.

The control plane renders any of them as problem+json; the client turns a problem back into
the same class by its slug.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True, slots=True)
class FieldError:
    """One thing wrong with the input, at a JSON pointer (RFC 6901)."""

    pointer: str
    detail: str


class DoppelError(Exception):
    status: ClassVar[int] = 500
    slug: ClassVar[str] = "internal-error"
    title: ClassVar[str] = "Internal error"

    def __init__(
        self, detail: str = "", *, pointer: str | None = None, errors: Sequence[FieldError] = ()
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
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
