"""Reading a static set-up (compose services running Prism, nginx locations): pure, by table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from doppel.migration.static_setup import (
    PrismService,
    nginx_routes,
    parse_nginx,
    prism_services,
    read_setup,
    template_name,
)

HERE = Path(__file__).parent


def _one(definition: dict[str, Any]) -> PrismService | None:
    found, _ = prism_services({"services": {"mock": definition}})
    return found[0] if found else None


@pytest.mark.parametrize(
    ("definition", "spec", "port", "published"),
    [
        pytest.param(
            {
                "image": "stoplight/prism:4",
                "command": "mock -h 0.0.0.0 /specs/figma.yaml",
                "volumes": ["./specs:/specs:ro"],
                "ports": ["4010:4010"],
            },
            "specs/figma.yaml",
            4010,
            (4010,),
            id="the-usual-string-command",
        ),
        pytest.param(
            {
                "image": "stoplight/prism",
                "command": ["mock", "--host", "0.0.0.0", "--port", "4011", "/m/s.yaml"],
                "volumes": [{"type": "bind", "source": "./specs", "target": "/m"}],
                "ports": ["127.0.0.1:4011:4011/tcp"],
            },
            "specs/s.yaml",
            4011,
            (4011,),
            id="list-command-long-flags-long-volume",
        ),
        pytest.param(
            {
                "build": ".",
                "entrypoint": ["node", "/usr/local/bin/prism"],
                "command": "mock -p=4012 -d /specs/gh.yaml",
                "volumes": ["/srv/specs:/specs"],
                "ports": [4012],
            },
            "/srv/specs/gh.yaml",
            4012,
            (4012,),
            id="prism-by-entrypoint-absolute-mount",
        ),
        pytest.param(
            {
                "image": "node:20",
                "command": "npx prism mock -h 0.0.0.0 '/specs/my api.yaml'",
                "volumes": ["./api:/specs", "./api/v2:/specs/v2"],
                "ports": [{"target": 4010, "published": 9000}],
            },
            "api/my api.yaml",
            4010,
            (9000,),
            id="npx-quoted-path-long-ports",
        ),
        pytest.param(
            {
                "image": "stoplight/prism:4",
                "command": "mock /specs/v2/pets.yaml",
                "volumes": ["./api:/specs", "./api/v2:/specs/v2"],
                "ports": ["4014:4010"],
            },
            "api/v2/pets.yaml",
            4010,
            (4014,),
            id="the-deepest-mount-wins",
        ),
        pytest.param(
            {"image": "stoplight/prism:4", "command": "mock specs/local.yaml"},
            "specs/local.yaml",
            4010,
            (),
            id="relative-path-no-volume",
        ),
    ],
)
def test_a_prism_service_is_read(
    definition: dict[str, Any], spec: str, port: int, published: tuple[int, ...]
) -> None:
    service = _one(definition)
    assert service is not None
    assert (service.spec, service.container_port, service.published) == (spec, port, published)
    assert service.problem is None


@pytest.mark.parametrize(
    ("definition", "problem"),
    [
        pytest.param(
            {"image": "stoplight/prism", "command": "mock /specs/a.yaml"},
            "/specs/a.yaml is not inside any volume",
            id="no-volume",
        ),
        pytest.param(
            {
                "image": "stoplight/prism",
                "command": "mock /specs/a.yaml",
                "volumes": ["specs-data:/specs"],
            },
            "named volume 'specs-data'",
            id="named-volume",
        ),
        pytest.param(
            {"image": "stoplight/prism", "command": "mock https://example.com/api.yaml"},
            "its spec is a URL",
            id="url",
        ),
        pytest.param(
            {"image": "stoplight/prism", "command": "mock -h 0.0.0.0"},
            "names no spec file",
            id="no-spec",
        ),
    ],
)
def test_a_spec_the_host_cannot_see_is_a_problem_of_its_service(
    definition: dict[str, Any], problem: str
) -> None:
    service = _one(definition)
    assert service is not None and service.spec is None
    assert problem in (service.problem or "")


@pytest.mark.parametrize(
    "definition",
    [
        pytest.param({"image": "nginx:1.25", "command": "nginx -g 'daemon off;'"}, id="nginx"),
        pytest.param({"image": "redis:7"}, id="no-command"),
        pytest.param({"image": "stoplight/prism:4", "command": "proxy / http://x"}, id="proxy"),
        pytest.param({"image": "mockserver", "command": ["mock", "x.yaml"]}, id="other-mock"),
    ],
)
def test_other_services_are_not_prism(definition: dict[str, Any]) -> None:
    assert _one(definition) is None


@pytest.mark.parametrize(
    ("service", "template"),
    [("figma", "figma"), ("Slack.API", "slack-api"), ("4chan", "s-4chan"), ("_x_", "x")],
)
def test_a_compose_name_becomes_a_template_name(service: str, template: str) -> None:
    assert template_name(service) == template


def test_nginx_syntax_is_parsed_without_comments_and_with_quotes() -> None:
    tree = parse_nginx(
        'http { # a comment; { }\n server { location ~* "^/a;b" { return 200 "x # y"; } } }'
    )
    location = tree[0].block[0].block[0]  # type: ignore[index]
    assert (location.name, location.args) == ("location", ["~*", "^/a;b"])
    assert location.block[0].args == ["200", "x # y"]  # type: ignore[index]


SERVICES = [
    PrismService("figma", "figma", "f.yaml", "/s/f.yaml", 4010, (4010,), frozenset({"figma"})),
    PrismService("slack", "slack", "s.yaml", "/s/s.yaml", 4011, (4011,), frozenset({"slack"})),
    PrismService("github", "github", "g.yaml", "/s/g.yaml", 4010, (4012,), frozenset({"gh"})),
]


@pytest.mark.parametrize(
    ("location", "agents", "services"),
    [
        pytest.param(
            "location /sandbox/agent-1/figma/ { proxy_pass http://figma:4010/; }",
            {"agent-1"},
            ["figma"],
            id="literal",
        ),
        pytest.param(
            "location = /sandbox/agent-1/slack/ { proxy_pass http://slack:4011; }",
            {"agent-1"},
            ["slack"],
            id="exact",
        ),
        pytest.param(
            "location ^~ /sandbox/a/gh/ { proxy_pass http://localhost:4012/; }",
            {"a"},
            ["github"],
            id="localhost-by-published-port",
        ),
        pytest.param(
            "upstream up { server gh:4010 weight=2; }\n"
            "location /sandbox/a/github/ { proxy_pass http://up/; }",
            {"a"},
            ["github"],
            id="upstream-and-network-name",
        ),
        pytest.param(
            r"location ~ ^/sandbox/(?<agent>[^/]+)/figma/(.*)$ {proxy_pass http://figma:4010/$2;}",
            None,
            ["figma"],
            id="named-capture-any-agent",
        ),
        pytest.param(
            r"location ~ ^/sandbox/([^/]+)/([^/]+)/(.*)$ { proxy_pass http://$2:4010/$3; }",
            None,
            ["figma", "slack", "github"],
            id="catch-all-by-variable",
        ),
        pytest.param(
            r"location ~ ^/sandbox/(?:ops|qa)/(?P<svc>figma|slack)/ { proxy_pass http://$svc; }",
            {"ops", "qa"},
            ["figma", "slack"],
            id="alternations",
        ),
        pytest.param(
            r"location ~ ^/sandbox/\w+/slack(?:/|$) { proxy_pass http://slack:4011; }",
            None,
            ["slack"],
            id="class-shorthand-and-a-slash-inside-a-group",
        ),
        pytest.param(
            r"location ~ ^/sandbox/bot\.1/(slack)/(.*) { proxy_pass http://api:80/$2; }",
            {"bot.1"},
            ["slack"],
            id="escaped-literal-falls-back-on-the-path",
        ),
    ],
)
def test_an_nginx_location_tells_who_reaches_what(
    location: str, agents: set[str] | None, services: list[str]
) -> None:
    routes, warnings = nginx_routes(f"http {{ server {{ {location} }} }}", SERVICES)
    assert warnings == []
    assert [r.service for r in routes] == services
    assert {r.agents for r in routes} == {frozenset(agents) if agents is not None else None}


@pytest.mark.parametrize(
    "location",
    [
        pytest.param("location / { return 404; }", id="not-sandbox"),
        pytest.param("location /sandbox/ { return 404; }", id="no-agent"),
        pytest.param("location /api/figma/ { proxy_pass http://figma:4010; }", id="elsewhere"),
    ],
)
def test_other_locations_are_ignored(location: str) -> None:
    assert nginx_routes(location, SERVICES) == ([], [])


@pytest.mark.parametrize(
    ("location", "path", "proxy"),
    [
        pytest.param(
            "location /sandbox/a/metrics/ { proxy_pass http://prometheus:9090/; }",
            "/sandbox/a/metrics/",
            "http://prometheus:9090/",
            id="no-mock",
        ),
        pytest.param(
            r"location ~ ^/sandbox/.+/[^/]+/(.*)$ { proxy_pass http://$1:4010/; }",
            "^/sandbox/.+/[^/]+/(.*)$",
            "http://$1:4010/",
            id="a-capture-that-is-no-service-segment",
        ),
    ],
)
def test_a_location_to_something_that_is_no_mock_is_a_warning(
    location: str, path: str, proxy: str
) -> None:
    routes, warnings = nginx_routes(location, SERVICES)
    assert routes == []
    assert warnings == [
        f"location {path!r} proxies to {proxy!r}, which is no Prism service of the compose "
        "file; skipped"
    ]


def test_the_agents_file_adds_agents_and_replaces_their_services() -> None:
    nginx = (
        r"location ~ ^/sandbox/([^/]+)/figma/ { proxy_pass http://figma:4010; }"
        "\nlocation /sandbox/a/slack/ { proxy_pass http://slack:4011; }"
        "\nlocation /sandbox/b/slack/ { proxy_pass http://slack:4011; }"
    )
    compose = {
        "services": {
            name: {"image": "stoplight/prism", "command": f"mock /s/{name}.yaml"}
            for name in ("figma", "slack", "github")
        }
    }
    setup = read_setup(compose, nginx, {"b": ["github"], "c": ["figma", "jira"]})
    assert setup.agents() == {"a": ["figma", "slack"], "b": ["github"], "c": ["figma"]}
    assert setup.warnings == (
        "--agents gives 'c' the service 'jira', which is no Prism service of the compose "
        "file; skipped",
    )


def test_the_fixture_set_up_is_read_whole() -> None:
    compose = yaml.safe_load((HERE / "docker-compose.sandbox.yml").read_text())
    setup = read_setup(compose, (HERE / "nginx.conf").read_text(), None)
    assert [(s.name, s.spec, s.published) for s in setup.services] == [
        ("figma", "specs/figma.yaml", (4010,)),
        ("slack", "specs/slack.yaml", (4011,)),
        ("github", "specs/github.yaml", (4012,)),
        ("petstore", "specs/petstore.yaml", (4013,)),
        ("jira", "specs/jira-broken.yaml", (4014,)),
    ]
    assert setup.agents() == {
        "agent-ci": ["figma", "slack", "github"],
        "agent-ops": ["figma", "slack", "github"],
        "agent-qa": ["figma", "slack", "github"],
        "agent-release": ["figma", "slack", "github", "petstore"],
        "agent-triage": ["figma", "slack", "jira"],
    }
    assert setup.shared_services() == ["figma", "slack"]
    assert len(setup.warnings) == 1 and "prometheus:9090" in setup.warnings[0]
