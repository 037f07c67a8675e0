"""Which templates static mode serves, and on which fixed port: a pure function, by table."""

from __future__ import annotations

import pytest

from doppel.errors import StaticStartError
from doppel.sandboxes.static import static_ports

TEMPLATES = ["figma", "github", "petstore", "slack"]


@pytest.mark.parametrize(
    ("services", "ports", "expected"),
    [
        pytest.param(
            "",
            "",
            {"figma": 4010, "github": 4011, "petstore": 4012, "slack": 4013},
            id="every-template-from-4010-in-template-order",
        ),
        pytest.param(
            "slack,figma", "", {"slack": 4010, "figma": 4011}, id="a-list-keeps-its-own-order"
        ),
        pytest.param("figma,slack", "5000", {"figma": 5000, "slack": 5001}, id="a-base-port"),
        pytest.param(
            "figma,slack,github",
            "figma=4010,slack=4011,github=4012",
            {"figma": 4010, "slack": 4011, "github": 4012},
            id="every-port-named",
        ),
        pytest.param(
            "figma,github,slack",
            "github=4010",
            {"figma": 4011, "github": 4010, "slack": 4012},
            id="unnamed-ones-count-up-around-named-ones",
        ),
        pytest.param(
            " figma , slack ",
            " 6000 , slack=7000 ",
            {"figma": 6000, "slack": 7000},
            id="spaces-are-ignored",
        ),
    ],
)
def test_static_ports_are_assigned(services: str, ports: str, expected: dict[str, int]) -> None:
    assert static_ports(TEMPLATES, services, ports) == expected


@pytest.mark.parametrize(
    ("services", "ports", "message"),
    [
        pytest.param("figma,jira", "", "'jira', which no template provides", id="unknown"),
        pytest.param("figma,figma", "", "more than once", id="repeated-service"),
        pytest.param("figma", "figma=http", "'figma=http' is neither", id="not-a-port"),
        pytest.param("figma", "70000", "'70000' is neither", id="port-out-of-range"),
        pytest.param("figma", "4010,5010", "more than one base port", id="two-bases"),
        pytest.param("figma", "slack=4011", "'slack', which static mode does not serve", id="x"),
        pytest.param("figma,slack", "figma=4010,slack=4010", "one port to two", id="shared"),
    ],
)
def test_a_wrong_static_setting_is_refused_naming_it(
    services: str, ports: str, message: str
) -> None:
    with pytest.raises(StaticStartError, match=message):
        static_ports(TEMPLATES, services, ports)
