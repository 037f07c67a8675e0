"""The bundled templates' fixtures: from a sandbox's custom_config to the world the API serves.

Each `fixtures.json.j2` renders, for a config, strict JSON describing the service's world
(`{"me", "world": [{"kind", "scope", "items"}], "stubs"}`); `Template.overlay` builds it into a
`World`, and the real engine serves it. Config values are data, never evaluated: quotes,
backslashes, unicode (U+2028, emoji) and Jinja syntax come back exactly as given, in the
world's items and in the API's answers.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any
from urllib.parse import quote, urlencode

import pytest
import yaml

from doppel.engine import CompiledSpec, MockContext, MockRequest, respond
from doppel.engine.world import World, collection_id
from doppel.errors import ConfigError
from doppel.specs import SpecCache
from doppel.templates import BUNDLED_DIR, Overlay, Template, TemplateRegistry, _tojson

C_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # what the templates module uses
UNICODE = "launch 🚀 ünï\u2028x"
JINJA = "{{ 7*7 }} {% raw %} *x &y"
DAY = date(2026, 1, 1)

CASES = [
    pytest.param("figma", {}, id="figma-defaults"),
    pytest.param(
        "figma", {"workspace_name": 'Acme "Design" \\ Team\'s \\"x\\" \\u0041'}, id="figma-quotes"
    ),
    pytest.param("figma", {"workspace_name": UNICODE}, id="figma-unicode"),
    pytest.param("figma", {"workspace_name": JINJA}, id="figma-jinja"),
    pytest.param("slack", {}, id="slack-defaults"),
    pytest.param(
        "slack",
        {"team_name": "{{ 7*7 }}", "channels": ['#a"b: c', "general", "&x *y", "- [z]"]},
        id="slack-hostile",
    ),
    pytest.param(
        "slack", {"team_name": UNICODE, "channels": [UNICODE, "#ünï"]}, id="slack-unicode"
    ),
    pytest.param(
        "slack", {"team_name": "A \"b\" \\ c \\\\ 'd'", "channels": ["x\\y"]}, id="slack-quotes"
    ),
    pytest.param("slack", {"channels": []}, id="slack-no-channels"),
    pytest.param(
        "slack",
        {"channels": [f"#ch-{n}" if n % 2 else f"ch-{n}" for n in range(1, 41)]},
        id="slack-40-channels",
    ),
    pytest.param("github", {}, id="github-defaults"),
    pytest.param("github", {"repo": "o-1/r.x", "branch": "release/v1.2"}, id="github-hostile"),
    pytest.param("github", {"branch": "feature/update-readme"}, id="github-feature-branch"),
]


# -- helpers ----------------------------------------------------------------------------------


class Templates:
    """The bundled templates, each compiled at most once for the module."""

    def __init__(self) -> None:
        self.registry = TemplateRegistry()
        self.cache = SpecCache()
        self._compiled: dict[str, CompiledSpec] = {}

    def get(self, name: str) -> tuple[Template, CompiledSpec]:
        template = self.registry.get(name)
        if name not in self._compiled:
            self._compiled[name] = template.compile(self.cache)
        return template, self._compiled[name]


@pytest.fixture(scope="module")
def templates() -> Templates:
    return Templates()


class Service:
    """One template's overlay for one config, served through the real engine."""

    def __init__(self, templates: Templates, name: str, config: Mapping[str, Any]) -> None:
        self.template, self.spec = templates.get(name)
        self.config = self.template.resolve_config(dict(config))
        self.overlay: Overlay = self.template.overlay(self.spec, self.config, day=DAY)
        self.world: World = self.overlay.world
        self.context = MockContext(
            world=self.world,
            stubs=self.overlay.stubs,
            closed_world=True,
            auth="off",
            base_url="http://mock",
        )

    def items(self, kind: str, *scope: str) -> dict[str, Any]:
        """A collection of the world, decoded, in its order (empty when it is absent)."""
        members = self.world.items.get(collection_id(kind, scope), {})
        return {key: json.loads(value) for key, value in members.items()}

    def call(
        self, method: str, path: str, query: str = "", form: Mapping[str, str] | None = None
    ) -> tuple[int, Any]:
        headers, body = {}, b""
        if form is not None:
            headers = {"content-type": "application/x-www-form-urlencoded"}
            body = urlencode(form).encode()
        request = MockRequest(method, path, query, headers=headers, body=body)
        response, _ = respond(self.spec, request, self.context)
        return response.status, response.json()

    def get(self, path: str, query: str = "") -> Any:
        status, body = self.call("GET", path, query)
        assert status == 200, (path, query, body)
        return body

    def slack(self, method: str, **params: str) -> Any:
        status, body = self.call("POST", f"/api/{method}", form=params)
        assert status == 200, (method, body)
        assert body["ok"] is True, (method, body)
        return body


@pytest.fixture(scope="module")
def service(templates: Templates) -> Callable[[str, Mapping[str, Any]], Service]:
    return lambda name, config: Service(templates, name, config)


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    assert len(set(keys)) == len(keys), f"duplicate keys in {keys}"
    return dict(pairs)


def _render(template: Template, config: Mapping[str, Any]) -> str:
    assert template.fixtures_source is not None
    return template._fixtures.render(config=config, **config)  # type: ignore[union-attr]


def _strings(value: Any) -> list[str]:
    """Every string inside a JSON value (keys not included)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        value = list(value.values())
    if isinstance(value, list):
        return [s for member in value for s in _strings(member)]
    return []


def _names(items: Any, field: str = "name") -> list[Any]:
    return [item[field] for item in (items.values() if isinstance(items, Mapping) else items)]


# -- what each template's world holds for a config ---------------------------------------------

SLACK_DEFAULT_USERS = ["ada", "grace"]


def _slack_channel_names(config: Mapping[str, Any]) -> list[str]:
    """The configured channels' names, a leading '#' stripped."""
    names = [raw if isinstance(raw, str) else raw["name"] for raw in config["channels"]]
    return [name.removeprefix("#") for name in names]


def _check_slack_world(service: Service, config: Mapping[str, Any]) -> None:
    team = service.items("team")
    assert list(team) == ["T00000001"]
    assert team["T00000001"]["name"] == config.get("team_name", "Doppel")
    configured = config.get("users", [{"name": name} for name in SLACK_DEFAULT_USERS])
    people = ["doppelbot", *(user["name"] for user in configured)]
    users = service.items("user")
    assert list(users) == [f"U{n:08d}" for n in range(1, len(people) + 1)]
    assert _names(users) == people
    assert service.world.me is not None
    assert (service.world.me["id"], service.world.me["name"]) == ("U00000001", "doppelbot")

    names = _slack_channel_names(service.config)
    channels = service.items("channel")
    assert list(channels) == [f"C{n:08d}" for n in range(1, len(names) + 1)]
    assert _names(channels) == names
    general = "general" if "general" in names else names[0] if names else None
    assert [c["name"] for c in channels.values() if c["is_general"]] == (
        [general] if general else []
    )


def _figma_files(config: Mapping[str, Any]) -> list[tuple[str, str, list[str]]]:
    """(project id, file name, frames) of each configured file, in order."""
    return [
        (f"{10000000 + n}", f["name"], f.get("frames", [f["name"]]))
        for n, project in enumerate(config.get("projects", []), start=1)
        for f in project.get("files", [])
    ]


FIGMA_DEFAULT_FILES = {  # key → (project, name, frames)
    "Dp1xK7mQ2vR9sT4wY6zA3b": ("Design System", "Core Components", ["Core Components"]),
    "Dp2cN8hJ5kL1mP3qW7eR9t": ("Design System", "Brand Tokens", ["Brand Tokens"]),
    "Dp3fG6hU2iO8pA4sD1fZ5x": ("Product", "Onboarding Flow", ["Welcome", "Sign up", "Done"]),
}


def _figma_frame_names(service: Service, key: str, count: int) -> list[str]:
    """The names of frames 1:2, 1:4, ... as GET /v1/files/{key}/nodes finds them in the
    file's document (the one place a file's nodes are held)."""
    ids = [f"1:{2 * n}" for n in range(1, count + 1)]
    nodes = service.get(f"/v1/files/{key}/nodes", urlencode({"ids": ",".join(ids)}))["nodes"]
    return [nodes[node_id]["document"]["name"] for node_id in ids]


def _check_figma_world(service: Service, config: Mapping[str, Any]) -> None:
    name = config.get("workspace_name", "Doppel Workspace")
    team_id = service.config["team_id"]
    assert _names(service.items("team")) == [name]
    assert list(service.items("team")) == [team_id]
    assert service.world.me is not None
    assert service.world.me["handle"] == f"{name} Admin"
    projects = service.items("project")
    files = service.items("file")
    if "projects" not in config:
        assert _names(projects) == ["Design System", "Product"]
        assert list(files) == list(FIGMA_DEFAULT_FILES)
        by_id = {pid: p["name"] for pid, p in projects.items()}
        for key, (project, file_name, frames) in FIGMA_DEFAULT_FILES.items():
            assert files[key]["name"] == file_name
            assert by_id[files[key]["@project"]] == project
            page = files[key]["document"]["children"][0]
            assert _names(page["children"]) == frames
            assert _figma_frame_names(service, key, len(frames)) == frames
    for project in projects.values():
        assert project["@team"] == team_id


def _check_github_world(service: Service, config: Mapping[str, Any]) -> None:
    resolved = service.config
    full_name, branch = resolved["repo"], resolved["branch"]
    owner, name = full_name.split("/")
    repos = service.items("repo")
    assert list(repos) == [full_name]
    repo = repos[full_name]
    assert (repo["full_name"], repo["name"], repo["default_branch"]) == (full_name, name, branch)
    assert repo["owner"]["login"] == owner
    assert service.world.me is not None
    assert service.world.me["login"] == owner
    users = [owner, *(login for login in resolved["collaborators"] if login != owner)]
    assert list(service.items("user")) == users
    labels = service.items("label", owner, name)
    if "labels" in config:
        assert _names(labels) == [label["name"] for label in config["labels"]]
    else:
        assert _names(labels) == [
            "bug",
            "documentation",
            "duplicate",
            "enhancement",
            "good first issue",
            "help wanted",
            "invalid",
            "question",
            "wontfix",
        ]
    issues = service.items("issue", owner, name)
    titles = [i["title"] for i in issues.values() if "pull_request" not in i]
    if "issues" in config:
        assert titles == [issue["title"] for issue in config["issues"]]
    else:
        assert titles == [
            "Login fails with a 500 after password reset",
            "Document the configuration options",
        ]
    assert list(issues) == [str(n) for n in range(1, len(issues) + 1)]
    refs = service.items("ref", owner, name)
    assert next(iter(refs)) == f"refs/heads/{branch}"
    head = refs[f"refs/heads/{branch}"]["object"]["sha"]
    assert head in service.items("commit", owner, name)
    files = service.items("content", owner, name, branch)
    expected = config.get("files", {"README.md": "", "docs/guide.md": ""})
    assert sorted(files) == sorted(expected)


CHECK_WORLD = {
    "slack": _check_slack_world,
    "figma": _check_figma_world,
    "github": _check_github_world,
}


# -- the table of configs -----------------------------------------------------------------------


def test_the_bundled_templates_render_json_only() -> None:
    registry = TemplateRegistry()
    for name in ("figma", "slack", "github"):
        folder = BUNDLED_DIR / name
        assert (folder / "fixtures.json.j2").is_file()
        assert not (folder / "fixtures.yaml.j2").exists()
        assert registry.get(name).fixtures_source == (folder / "fixtures.json.j2").read_text()


@pytest.mark.parametrize(("name", "config"), CASES)
def test_fixtures_render_strict_json_describing_a_world(
    name: str, config: dict[str, Any], templates: Templates
) -> None:
    template, spec = templates.get(name)
    text = _render(template, template.resolve_config(config))
    rendered = json.loads(text, object_pairs_hook=_no_duplicate_keys)
    assert isinstance(rendered, dict)
    assert set(rendered) <= {"me", "world", "stubs"}
    assert {"kind", "key"} <= set(rendered["me"])
    kinds = {group["kind"] for group in rendered["world"]}
    assert kinds <= set(spec.resources.kinds)
    rendered_strings = set(_strings(rendered))
    for value in _strings(config):  # each comes back as given ("{{ 7*7 }}" stays text)
        assert value in rendered_strings or value.removeprefix("#") in rendered_strings, value


@pytest.mark.parametrize(("name", "config"), CASES)
def test_fixtures_build_the_world_the_config_describes(
    name: str, config: dict[str, Any], service: Callable[..., Service]
) -> None:
    CHECK_WORLD[name](service(name, config), config)


@pytest.mark.parametrize(("name", "config"), CASES)
def test_the_api_serves_the_configured_world(
    name: str, config: dict[str, Any], service: Callable[..., Service]
) -> None:
    mock = service(name, config)
    if name == "slack":
        names = _slack_channel_names(mock.config)
        channels = mock.slack("conversations.list")["channels"]
        assert _names(channels) == names
        assert _names(channels, "id") == [f"C{n:08d}" for n in range(1, len(names) + 1)]
        assert mock.slack("auth.test")["team"] == mock.config["team_name"]
    elif name == "figma":
        team = mock.get(f"/v1/teams/{mock.config['team_id']}/projects")
        assert team["name"] == mock.config["workspace_name"]
        assert _names(team["projects"]) == _names(mock.items("project"))
        for key, item in mock.items("file").items():
            assert mock.get(f"/v1/files/{key}")["name"] == item["name"]
    else:
        full_name, branch = mock.config["repo"], mock.config["branch"]
        repo = mock.get(f"/repos/{full_name}")
        assert (repo["full_name"], repo["default_branch"]) == (full_name, branch)
        pulls = mock.get(f"/repos/{full_name}/pulls")
        heads = [pull["head"]["ref"] for pull in pulls]
        assert branch not in heads  # a pull request's head is a branch of its own
        branches = mock.get(f"/repos/{full_name}/branches")
        assert _names(branches) == [branch, *heads]
        ref = mock.get(f"/repos/{full_name}/git/ref/heads/{branch}")
        assert ref["ref"] == f"refs/heads/{branch}"


# -- config members ----------------------------------------------------------------------------

SLACK_CONFIG: dict[str, Any] = {
    "team_name": "Acme {{ team }}",
    "users": [
        {
            "name": "zoe",
            "real_name": 'Zoë "Q" O\'Neil',
            "email": "zoe@acme.test",
            "title": "Lead {% if %}",
            "is_admin": True,
        },
        {"name": "yan"},
    ],
    "channels": [
        {"name": "#eng", "is_private": True, "topic": "Builds \u2028 🚀"},
        "general",
        {"name": "old", "is_archived": True, "purpose": "{{ 7*7 }}"},
    ],
    "messages": {
        "#eng": ["first {{ 7*7 }}", {"user": "yan", "text": 'second "\\" \u2028 🚀'}],
        "general": ["hello"],
    },
}


def test_slack_users_channels_and_messages_come_from_the_config(
    service: Callable[..., Service],
) -> None:
    mock = service("slack", SLACK_CONFIG)
    _check_slack_world(mock, SLACK_CONFIG)
    users = mock.items("user")
    zoe, yan = users["U00000002"], users["U00000003"]
    assert (zoe["real_name"], zoe["profile"]["title"]) == ('Zoë "Q" O\'Neil', "Lead {% if %}")
    assert (zoe["profile"]["email"], zoe["is_admin"]) == ("zoe@acme.test", True)
    assert (yan["real_name"], yan["is_admin"]) == ("yan", False)
    assert mock.items("team")["T00000001"]["name"] == "Acme {{ team }}"

    eng, general, old = mock.items("channel").values()
    assert (eng["is_private"], eng["topic"]["value"]) == (True, "Builds \u2028 🚀")
    assert (old["is_archived"], old["purpose"]["value"]) == (True, "{{ 7*7 }}")
    assert general["is_general"] and not eng["is_general"]
    assert eng["@members"] == ["U00000001", "U00000002", "U00000003"]  # everyone by default
    messages = mock.items("message", "C00000001")
    assert [(m["text"], m["user"]) for m in messages.values()] == [
        ("first {{ 7*7 }}", "U00000002"),  # the first user by default
        ('second "\\" \u2028 🚀', "U00000003"),
    ]
    assert _names(mock.items("message", "C00000002"), "text") == ["hello"]
    assert mock.items("message", "C00000003") == {}

    # through the API
    assert mock.slack("auth.test")["team"] == "Acme {{ team }}"
    assert _names(mock.slack("users.list")["members"]) == ["doppelbot", "zoe", "yan"]
    assert mock.slack("users.lookupByEmail", email="zoe@acme.test")["user"]["id"] == "U00000002"
    assert _names(mock.slack("conversations.list")["channels"]) == ["general", "old"]
    private = mock.slack("conversations.list", types="private_channel")["channels"]
    assert _names(private) == ["eng"]
    assert _names(mock.slack("conversations.list", exclude_archived="true")["channels"]) == [
        "general"
    ]
    info = mock.slack("conversations.info", channel="C00000001")["channel"]
    assert info["topic"]["value"] == "Builds \u2028 🚀"
    for channel in ("C00000001", "eng", "#eng"):
        history = mock.slack("conversations.history", channel=channel)["messages"]
        assert [(m["text"], m["user"]) for m in history] == [  # newest first
            ('second "\\" \u2028 🚀', "U00000003"),
            ("first {{ 7*7 }}", "U00000002"),
        ]
    assert float(history[0]["ts"]) > float(history[1]["ts"])
    assert _names(mock.slack("conversations.history", channel="general")["messages"], "text") == [
        "hello"
    ]
    assert mock.slack("conversations.history", channel="old")["messages"] == []


def test_slack_channel_members_come_from_the_config(service: Callable[..., Service]) -> None:
    config = {
        "users": [{"name": "zoe"}, {"name": "yan"}],
        "channels": [{"name": "eng", "members": ["zoe"]}, "general"],
    }
    mock = service("slack", config)
    eng, general = mock.items("channel").values()
    assert eng["@members"] == ["U00000001", "U00000002"]  # the bot is always a member
    assert general["@members"] == ["U00000001", "U00000002", "U00000003"]
    members = mock.slack("conversations.members", channel="C00000001")["members"]
    assert members == ["U00000001", "U00000002"]


FIGMA_CONFIG: dict[str, Any] = {
    "team_id": "42",
    "workspace_name": "Studio {{ x }}",
    "projects": [
        {
            "name": 'Web "site" \u2028 🚀',
            "files": [
                {
                    "name": "Landing {% raw %}",
                    "key": "AbCdEfGhIj12",
                    "frames": ['Hero "x"', "Pricing \u2028 🚀", "{{ 7*7 }}"],
                },
                {"name": "Checkout page"},
            ],
        },
        {"name": "Empty"},
    ],
}


def test_figma_team_projects_files_and_frames_come_from_the_config(
    service: Callable[..., Service],
) -> None:
    mock = service("figma", FIGMA_CONFIG)
    _check_figma_world(mock, FIGMA_CONFIG)
    projects = mock.items("project")
    assert list(projects) == ["10000001", "10000002"]
    assert _names(projects) == ['Web "site" \u2028 🚀', "Empty"]
    files = mock.items("file")
    assert len(files) == 2
    given, generated = files  # a file without a key gets a stable one
    assert given == "AbCdEfGhIj12"
    assert generated.isalnum() and 10 <= len(generated) <= 40
    for (project, file_name, frames), (key, item) in zip(
        _figma_files(FIGMA_CONFIG), files.items(), strict=True
    ):
        assert (item["@project"], item["name"]) == (project, file_name)
        assert _names(item["document"]["children"][0]["children"]) == frames
        assert _figma_frame_names(mock, key, len(frames)) == frames
    assert mock.items("team") == {"42": {"id": "42", "name": "Studio {{ x }}"}}

    # through the API
    team = mock.get("/v1/teams/42/projects")
    assert team["name"] == "Studio {{ x }}"
    assert [(p["id"], p["name"]) for p in team["projects"]] == [
        ("10000001", 'Web "site" \u2028 🚀'),
        ("10000002", "Empty"),
    ]
    status, _ = mock.call("GET", "/v1/teams/1100000000000000101/projects")
    assert status == 404  # only the configured team
    listed = mock.get("/v1/projects/10000001/files")["files"]
    assert [(f["key"], f["name"]) for f in listed] == [
        ("AbCdEfGhIj12", "Landing {% raw %}"),
        (generated, "Checkout page"),
    ]
    assert mock.get("/v1/projects/10000002/files")["files"] == []
    document = mock.get("/v1/files/AbCdEfGhIj12")
    assert document["name"] == "Landing {% raw %}"
    assert _names(document["document"]["children"][0]["children"]) == [
        'Hero "x"',
        "Pricing \u2028 🚀",
        "{{ 7*7 }}",
    ]
    nodes = mock.get("/v1/files/AbCdEfGhIj12/nodes", "ids=1:2")["nodes"]
    assert nodes["1:2"]["document"]["name"] == 'Hero "x"'
    nodes = mock.get("/v1/files/AbCdEfGhIj12/nodes", "ids=1:4,1:6")["nodes"]
    assert {k: v["document"]["name"] for k, v in nodes.items()} == {
        "1:4": "Pricing \u2028 🚀",
        "1:6": "{{ 7*7 }}",
    }
    other = mock.get(f"/v1/files/{generated}/nodes", "ids=1:2")["nodes"]
    assert other["1:2"]["document"]["name"] == "Checkout page"  # the file's name by default


GITHUB_CONFIG: dict[str, Any] = {
    "repo": "acme/rocket",
    "branch": "trunk",
    "collaborators": ["alice", "bob", "acme"],
    "labels": [
        {"name": "p1 {{ 7*7 }}", "color": "ff0000", "description": 'urgent "now" \u2028'},
        {"name": "needs triage 🚀"},
    ],
    "files": {
        "src/app.py": "print('hi')\n",
        "docs/notes.md": "# Notes {% raw %}\n\nplain\n",
    },
    "issues": [
        {
            "title": "Crash on {{ 7*7 }}",
            "body": 'It says "\\u0041" \u2028',
            "labels": ["p1 {{ 7*7 }}"],
            "assignees": ["alice"],
            "author": "bob",
        },
        {"title": "Old one", "state": "closed"},
    ],
    "pulls": [
        {
            "title": "Fix the crash",
            "body": "Closes #1",
            "head": "fix/crash-1.2",
            "files": {"src/app.py": "print('bye')\nexit()\n", "new.txt": "new\n"},
            "author": "alice",
        }
    ],
}


def _blob_sha(text: str) -> str:
    data = text.encode()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def test_github_users_labels_files_issues_and_pulls_come_from_the_config(
    service: Callable[..., Service],
) -> None:
    mock = service("github", GITHUB_CONFIG)
    _check_github_world(mock, GITHUB_CONFIG)
    assert list(mock.items("user")) == ["acme", "alice", "bob"]  # the owner once
    labels = mock.items("label", "acme", "rocket")
    assert (labels["p1 {{ 7*7 }}"]["color"], labels["p1 {{ 7*7 }}"]["description"]) == (
        "ff0000",
        'urgent "now" \u2028',
    )
    files = mock.items("content", "acme", "rocket", "trunk")
    for path, text in GITHUB_CONFIG["files"].items():
        assert base64.b64decode(files[path]["content"]).decode() == text
        assert files[path]["sha"] == _blob_sha(text)
    issues = mock.items("issue", "acme", "rocket")
    assert list(issues) == ["1", "2", "3"]
    first, closed, pull = issues.values()
    assert (first["title"], first["body"], first["state"]) == (
        "Crash on {{ 7*7 }}",
        'It says "\\u0041" \u2028',
        "open",
    )
    assert _names(first["labels"]) == ["p1 {{ 7*7 }}"]
    assert _names(first["assignees"], "login") == ["alice"]
    assert first["user"]["login"] == "bob"
    assert (closed["state"], closed["user"]["login"]) == ("closed", "acme")  # the owner by default
    assert (pull["title"], pull["head"]["ref"], pull["base"]["ref"]) == (
        "Fix the crash",
        "fix/crash-1.2",
        "trunk",
    )
    refs = mock.items("ref", "acme", "rocket")
    assert list(refs) == ["refs/heads/trunk", "refs/heads/fix/crash-1.2"]
    assert pull["head"]["sha"] == refs["refs/heads/fix/crash-1.2"]["object"]["sha"]
    changes = mock.items("file_change", "acme", "rocket", "fix/crash-1.2")
    assert {path: c["status"] for path, c in changes.items()} == {
        "new.txt": "added",
        "src/app.py": "modified",
    }

    # through the API
    assert _names(mock.get("/repos/acme/rocket/collaborators"), "login") == ["acme", "alice", "bob"]
    assert _names(mock.get("/repos/acme/rocket/labels")) == ["p1 {{ 7*7 }}", "needs triage 🚀"]
    label = mock.get(f"/repos/acme/rocket/labels/{quote('p1 {{ 7*7 }}')}")
    assert label["description"] == 'urgent "now" \u2028'
    issue = mock.get("/repos/acme/rocket/issues/1")
    assert issue["title"] == "Crash on {{ 7*7 }}"
    assert _names(issue["labels"]) == ["p1 {{ 7*7 }}"]
    assert _names(issue["assignees"], "login") == ["alice"]
    assert issue["user"]["login"] == "bob"
    all_issues = mock.get("/repos/acme/rocket/issues", "state=all")
    assert sorted((i["number"], i["title"], i["state"]) for i in all_issues) == [
        (1, "Crash on {{ 7*7 }}", "open"),
        (2, "Old one", "closed"),
        (3, "Fix the crash", "open"),
    ]
    content = mock.get("/repos/acme/rocket/contents/src/app.py")
    assert base64.b64decode(content["content"]).decode() == "print('hi')\n"
    pulls = mock.get("/repos/acme/rocket/pulls")
    assert [(p["number"], p["head"]["ref"], p["base"]["ref"]) for p in pulls] == [
        (3, "fix/crash-1.2", "trunk")
    ]
    pr = mock.get("/repos/acme/rocket/pulls/3")
    assert (pr["title"], pr["body"], pr["user"]["login"]) == ("Fix the crash", "Closes #1", "alice")
    changed = mock.get("/repos/acme/rocket/pulls/3/files")
    assert [(f["filename"], f["status"], f["additions"]) for f in changed] == [
        ("new.txt", "added", 1),
        ("src/app.py", "modified", 2),
    ]
    assert {f["filename"]: f["sha"] for f in changed} == {
        "new.txt": _blob_sha("new\n"),
        "src/app.py": _blob_sha("print('bye')\nexit()\n"),
    }
    on_head = mock.get("/repos/acme/rocket/contents/new.txt", "ref=fix/crash-1.2")
    assert base64.b64decode(on_head["content"]).decode() == "new\n"
    branches = mock.get("/repos/acme/rocket/branches")
    assert _names(branches) == ["trunk", "fix/crash-1.2"]


def test_github_file_sizes_are_utf8_bytes(service: Callable[..., Service]) -> None:
    text = "ünï 🚀\u2028\n"
    mock = service("github", {"files": {"docs/ünï.md": text}})
    assert mock.items("content", "doppel", "sandbox", "main")["docs/ünï.md"]["size"] == len(
        text.encode()
    )
    content = mock.get(f"/repos/doppel/sandbox/contents/docs/{quote('ünï.md')}")
    assert base64.b64decode(content["content"]).decode() == text
    assert content["sha"] == _blob_sha(text)
    assert content["size"] == len(text.encode())


# -- speed -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["figma", "slack", "github"])
def test_the_default_config_renders_well_under_a_second(name: str, templates: Templates) -> None:
    template, spec = templates.get(name)
    config = template.resolve_config({})
    template.overlay(spec, config, day=DAY)  # the first fills caches every sandbox shares
    for _ in range(3):
        started = time.perf_counter()
        overlay = template.overlay(spec, config, day=DAY)
        elapsed = time.perf_counter() - started
        assert overlay.world
        assert elapsed < 1.0, f"{name}: an overlay of the default config took {elapsed:.2f} s"


# -- _tojson -----------------------------------------------------------------------------------

TRICKY = [
    pytest.param("".join(map(chr, range(0x20))), id="every-C0-control"),
    *(pytest.param(f"a{chr(c)}b", id=f"U+{c:04X}") for c in range(0x7F, 0xA0)),
    pytest.param("a \u2028 b \u2029 c", id="line-and-paragraph-separators"),
    pytest.param("\ufeffa\ufeff", id="byte-order-marks"),
    pytest.param("a\ufffe\uffffb", id="non-characters"),
    pytest.param("launch 🚀 \U0010ffff \U00010000", id="above-U+FFFF"),
    pytest.param("\\🚀 \\\\ud83d\\ude80 \\u0041 \\", id="backslashes"),
    pytest.param('"\'"\\"', id="quotes"),
    pytest.param(UNICODE, id="unicode"),
    pytest.param({"k\x85\u2028": ["🚀", 1, 1.5, True, None, {"": "\x7f"}]}, id="keys-and-nesting"),
]


@pytest.mark.parametrize("value", TRICKY)
def test_tojson_reads_the_same_as_json_and_as_yaml(value: Any) -> None:
    text = _tojson(value)
    assert json.loads(text) == value
    assert yaml.safe_load(text) == value
    assert yaml.load(text, Loader=C_LOADER) == value
    assert yaml.safe_load(f"- body: {text}\n")[0]["body"] == value  # as YAML templates use it


def test_tojson_writes_characters_above_u_ffff_raw() -> None:
    assert _tojson(["🚀", "\U0010ffff"]) == '["🚀", "\U0010ffff"]'


@pytest.mark.parametrize(
    "value", [pytest.param("a\ud800b", id="high"), pytest.param("a\udfffb", id="low")]
)
def test_tojson_replaces_a_lone_surrogate(value: str) -> None:
    text = _tojson(value)
    assert json.loads(text) == yaml.safe_load(text) == "a\ufffdb"


# -- checked when made, built when first asked for ---------------------------------------------


@pytest.mark.parametrize(
    ("name", "config"),
    [
        pytest.param("github", {"issues": [{"title": "t", "author": "ghost"}]}, id="issue-author"),
        pytest.param(
            "github",
            {"pulls": [{"title": "p", "head": "topic", "files": {"a.md": "a"}, "author": "ghost"}]},
            id="pull-author",
        ),
    ],
)
def test_a_config_whose_world_cannot_be_made_is_refused_when_the_overlay_is_made(
    name: str, config: dict[str, Any], templates: Templates
) -> None:
    template, spec = templates.get(name)
    with pytest.raises(ConfigError) as caught:
        template.overlay(spec, template.resolve_config(config), "/custom_configs/x", day=DAY)
    assert "no User 'ghost'" in caught.value.detail
    assert caught.value.errors[0].pointer == "/custom_configs/x"


@pytest.mark.parametrize("name", ["figma", "slack", "github"])
def test_an_overlay_builds_its_world_the_first_time_it_is_asked_for(
    name: str, templates: Templates
) -> None:
    template, spec = templates.get(name)
    overlay = template.overlay(spec, template.resolve_config({}), day=DAY)
    assert "world" not in vars(overlay)  # checked, not built
    world = overlay.world
    assert world.items and world is overlay.world  # built once, then shared
