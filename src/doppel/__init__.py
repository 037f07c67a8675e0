"""Doppel: per-agent sandboxes of mock SaaS APIs, created on demand and cleaned up by TTL."""

# The public names are imported on first use (PEP 562): importing a submodule alone, such as
# the pytest plugin that every pytest run loads, must not import httpx and the client.
import importlib
import typing

if typing.TYPE_CHECKING:
    from doppel.client import (
        Client,
        ClientError,
        ConnectionFailedError,
        Sandbox,
        ServiceInfo,
        TemplateInfo,
        Usage,
    )
    from doppel.errors import (
        CheckpointExistsError,
        CheckpointNotFoundError,
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
    "CheckpointExistsError",
    "CheckpointNotFoundError",
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
    "Usage",
]

_FROM_CLIENT = frozenset(
    {
        "Client",
        "ClientError",
        "ConnectionFailedError",
        "Sandbox",
        "ServiceInfo",
        "TemplateInfo",
        "Usage",
    }
)


def __getattr__(name: str) -> object:
    if name not in __all__:
        raise AttributeError(f"module 'doppel' has no attribute {name!r}")
    home = "doppel.client" if name in _FROM_CLIENT else "doppel.errors"
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
