"""The Python client for Doppel's control plane: sandboxes, their state and templates over
HTTP."""

from doppel.client._client import DEFAULT_URL, Client
from doppel.client._errors import ClientError, ConnectionFailedError
from doppel.client._models import Sandbox, SandboxPage, ServiceInfo, TemplateInfo, Usage

__all__ = [
    "DEFAULT_URL",
    "Client",
    "ClientError",
    "ConnectionFailedError",
    "Sandbox",
    "SandboxPage",
    "ServiceInfo",
    "TemplateInfo",
    "Usage",
]
