"""Every setting is also a `DOPPEL_*` variable, written the way the CLI flag is."""

from __future__ import annotations

import pytest

from doppel.settings import Settings


@pytest.mark.parametrize(
    ("variable", "value", "field", "expected"),
    [
        ("DOPPEL_PORT_RANGE", "20000-20999", "port_range", (20000, 20999)),
        ("DOPPEL_MAX_SANDBOXES_PER_AGENT", "7", "max_sandboxes_per_agent", 7),
        ("DOPPEL_PUBLIC_HOST", "mocks.internal", "public_host", "mocks.internal"),
    ],
)
def test_a_variable_sets_its_field(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, field: str, expected: object
) -> None:
    monkeypatch.setenv(variable, value)
    assert getattr(Settings(), field) == expected


@pytest.mark.parametrize("value", ["45000", "9-1", "0-10", "a-b", "1000-70000"])
def test_a_wrong_port_range_is_refused_naming_it(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("DOPPEL_PORT_RANGE", value)
    with pytest.raises(ValueError, match="port_range"):
        Settings()
