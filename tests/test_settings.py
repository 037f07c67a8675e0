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


@pytest.mark.parametrize(
    ("variables", "mode"),
    [
        pytest.param({}, "dynamic", id="default"),
        pytest.param({"DOPPEL_MODE": "static"}, "static", id="doppel-mode"),
        pytest.param({"USE_DYNAMIC_SANDBOXES": "false"}, "static", id="the-designs-flag"),
        pytest.param({"USE_DYNAMIC_SANDBOXES": "true"}, "dynamic", id="the-designs-flag-on"),
        pytest.param(
            {"DOPPEL_MODE": "static", "USE_DYNAMIC_SANDBOXES": "false"}, "static", id="agreeing"
        ),
    ],
)
def test_the_mode_comes_from_either_flag(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], mode: str
) -> None:
    for name in ("DOPPEL_MODE", "USE_DYNAMIC_SANDBOXES"):
        monkeypatch.delenv(name, raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    assert Settings().sandbox_mode == mode


def test_contradicting_mode_flags_are_refused_naming_both(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOPPEL_MODE", "dynamic")
    monkeypatch.setenv("USE_DYNAMIC_SANDBOXES", "false")
    with pytest.raises(ValueError, match="DOPPEL_MODE=dynamic contradicts USE_DYNAMIC_SANDBOXES"):
        Settings()


def test_an_unknown_mode_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOPPEL_MODE", "hybrid")
    with pytest.raises(ValueError, match="mode"):
        Settings()
