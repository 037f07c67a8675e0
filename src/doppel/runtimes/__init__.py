"""Where service instances run: one backend per isolation tier behind the `Runtime` protocol."""

from doppel.runtimes.base import (
    InstanceHandle,
    InstanceSpec,
    Runtime,
    RuntimeReadyError,
    RuntimeStartError,
)
from doppel.runtimes.inprocess import InProcessRuntime

__all__ = [
    "InProcessRuntime",
    "InstanceHandle",
    "InstanceSpec",
    "Runtime",
    "RuntimeReadyError",
    "RuntimeStartError",
]
