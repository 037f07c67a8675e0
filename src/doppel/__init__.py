"""Doppel: per-agent sandboxes of mock SaaS APIs, created on demand and cleaned up by TTL."""

from doppel.client import (
    Client,
    ClientError,
    ConnectionFailedError,
    Sandbox,
    ServiceInfo,
    TemplateInfo,
)
from doppel.errors import (
    ConfigError,
    DoppelError,
    FieldError,
    InvalidRequestError,
    LimitExceededError,
    MalformedRequestError,
    PayloadTooLargeError,
    PortsExhaustedError,
    QuotaExceededError,
    SandboxFailedError,
    SandboxGoneError,
    SandboxNotFoundError,
    SpecError,
    TemplateNotFoundError,
)

__all__ = [
    "Client",
    "ClientError",
    "ConfigError",
    "ConnectionFailedError",
    "DoppelError",
    "FieldError",
    "InvalidRequestError",
    "LimitExceededError",
    "MalformedRequestError",
    "PayloadTooLargeError",
    "PortsExhaustedError",
    "QuotaExceededError",
    "Sandbox",
    "SandboxFailedError",
    "SandboxGoneError",
    "SandboxNotFoundError",
    "ServiceInfo",
    "SpecError",
    "TemplateInfo",
    "TemplateNotFoundError",
]
