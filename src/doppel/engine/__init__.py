"""The pure mock engine: no sockets, files, clocks or global randomness.

Everything arrives as arguments, so every mock decision is a function of its inputs.
"""

from doppel.engine.compile import CompiledSpec, Operation, compile_spec
from doppel.engine.context import MockContext
from doppel.engine.model import (
    MatchReport,
    MockRequest,
    MockResponse,
    NearMiss,
    RequestPattern,
    ResponseDefinition,
    StubMapping,
)
from doppel.engine.respond import respond
from doppel.engine.stubs import StubIndex, stubs_from_fixtures, stubs_from_mock_responses

__all__ = [
    "CompiledSpec",
    "MatchReport",
    "MockContext",
    "MockRequest",
    "MockResponse",
    "NearMiss",
    "Operation",
    "RequestPattern",
    "ResponseDefinition",
    "StubIndex",
    "StubMapping",
    "compile_spec",
    "respond",
    "stubs_from_fixtures",
    "stubs_from_mock_responses",
]
