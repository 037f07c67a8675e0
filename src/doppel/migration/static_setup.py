"""Pure reading of a static set-up as people wrote it: the docker-compose services that run
Stoplight Prism, and the nginx `location` blocks that routed `/sandbox/{agent}/{service}/`.

No file is opened here: callers pass the parsed compose document and the nginx text.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

PRISM_IMAGE = "stoplight/prism"
PRISM_PORT = 4010  # Prism's default
# Prism's options that take a value; any other option is a switch (or carries `=value`).
_VALUE_FLAGS = frozenset(
    {"-h", "--host", "-p", "--port", "--verboseLevel", "--seed", "-u", "--upstream"}
)
_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "host.docker.internal", "0.0.0.0"})


@dataclass(frozen=True, slots=True)
class PrismService:
    """One compose service that ran `prism mock SPEC`."""

    name: str  # the compose service's name
    template: str  # the template name it becomes
    spec: str | None  # the spec file on the host, relative to the compose file's folder
    container_spec: str  # the spec path as Prism saw it
    container_port: int
    published: tuple[int, ...]  # host ports
    hosts: frozenset[str]  # names it answered to on the compose network
    problem: str | None = None  # why its spec cannot be found on the host


@dataclass(frozen=True, slots=True)
class Route:
    """What one nginx location sent where: `agents` None means any agent."""

    location: str
    agents: frozenset[str] | None
    service: str  # a compose service name


@dataclass(frozen=True, slots=True)
class StaticSetup:
    services: tuple[PrismService, ...]
    routes: tuple[Route, ...] = ()
    warnings: tuple[str, ...] = ()
    overrides: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # from --agents

    def agents(self) -> dict[str, list[str]]:
        """Each agent a location names, with every service it could reach (its own routes and
        those open to any agent), then the `--agents` file's, which replace nginx's; in
        compose order."""
        shared = {r.service for r in self.routes if r.agents is None}
        reach: dict[str, set[str]] = {}
        for route in self.routes:
            for agent in route.agents or ():
                reach.setdefault(agent, set(shared)).add(route.service)
        reach.update({agent: set(services) for agent, services in self.overrides.items()})
        order = [s.name for s in self.services]
        return {agent: [s for s in order if s in reach[agent]] for agent in sorted(reach)}

    def shared_services(self) -> list[str]:
        shared = {r.service for r in self.routes if r.agents is None}
        return [s.name for s in self.services if s.name in shared]


# -- docker compose ------------------------------------------------------------------------


def template_name(service: str) -> str:
    """A compose service name as a template name (`^[a-z][a-z0-9_-]{0,62}$`)."""
    name = re.sub(r"[^a-z0-9_-]+", "-", service.lower()).strip("-_")
    if not name or not name[0].isalpha():
        name = f"s-{name}" if name else "service"
    return name[:63]


def prism_services(compose: Mapping[str, Any]) -> tuple[list[PrismService], list[str]]:
    """The services of a compose document that run Prism, and warnings about the rest."""
    services = compose.get("services")
    if not isinstance(services, Mapping):
        return [], ["the compose file has no `services` mapping"]
    found: list[PrismService] = []
    warnings: list[str] = []
    for name, definition in services.items():
        if not isinstance(definition, Mapping):
            warnings.append(f"compose service {name!r} is not a mapping; skipped")
            continue
        args = _prism_arguments(definition)
        if args is None:
            continue
        found.append(_prism_service(str(name), definition, args))
    return found, warnings


def _prism_arguments(definition: Mapping[str, Any]) -> list[str] | None:
    """The arguments after `mock` when the service runs Prism, else None."""
    image = str(definition.get("image") or "")
    words = [*_words(definition.get("entrypoint")), *_words(definition.get("command"))]
    is_prism = PRISM_IMAGE in image or any(PurePosixPath(w).name == "prism" for w in words[:3])
    if not is_prism or "mock" not in words:
        return None
    return words[words.index("mock") + 1 :]


def _words(value: Any) -> list[str]:
    if isinstance(value, str):
        try:
            return shlex.split(value)
        except ValueError:
            return value.split()
    if isinstance(value, Sequence):
        return [str(v) for v in value]
    return []


def _prism_service(name: str, definition: Mapping[str, Any], args: list[str]) -> PrismService:
    options, positional = _options(args)
    port = options.get("--port") or options.get("-p") or str(PRISM_PORT)
    container_port = int(port) if port.isdigit() else PRISM_PORT
    container_spec = positional[0] if positional else ""
    spec, problem = _host_path(container_spec, definition.get("volumes"))
    hosts = {name, *(_network_aliases(definition.get("networks")))}
    for key in ("container_name", "hostname"):
        if isinstance(definition.get(key), str):
            hosts.add(definition[key])
    return PrismService(
        name=name,
        template=template_name(name),
        spec=spec,
        container_spec=container_spec,
        container_port=container_port,
        published=tuple(_published(definition.get("ports"), container_port)),
        hosts=frozenset(hosts),
        problem=problem,
    )


def _options(args: list[str]) -> tuple[dict[str, str], list[str]]:
    options: dict[str, str] = {}
    positional: list[str] = []
    words = iter(args)
    for word in words:
        if word.startswith("-"):
            flag, eq, value = word.partition("=")
            if eq:
                options[flag] = value
            elif flag in _VALUE_FLAGS:
                options[flag] = next(words, "")
            else:
                options[flag] = "true"
        else:
            positional.append(word)
    return options, positional


def _host_path(container_path: str, volumes: Any) -> tuple[str | None, str | None]:
    """Where a file Prism read inside its container lies on the host, through the service's
    bind mounts (the longest target that holds it); or why it cannot be told."""
    if not container_path:
        return None, "its command names no spec file"
    if re.match(r"^https?://", container_path):
        return None, f"its spec is a URL ({container_path}); download it and mount the file"
    path = PurePosixPath(container_path)
    best: tuple[PurePosixPath, str] | None = None
    for source, target in _mounts(volumes):
        target_path = PurePosixPath(target)
        if (path == target_path or target_path in path.parents) and (
            best is None or len(target_path.parts) > len(best[0].parts)
        ):
            best = (target_path, source)
    if best is None:
        if not path.is_absolute():
            return str(path), None  # relative to the compose file's folder
        return None, f"{container_path} is not inside any volume the service mounts"
    target_path, source = best
    if not source.startswith((".", "/", "~")):
        return None, f"{container_path} lies in the named volume {source!r}, not on the host"
    relative = path.relative_to(target_path)
    return str(PurePosixPath(source) / relative) if relative.parts else source, None


def _mounts(volumes: Any) -> Iterator[tuple[str, str]]:
    for volume in volumes if isinstance(volumes, Sequence) and not isinstance(volumes, str) else ():
        if isinstance(volume, str):
            parts = volume.split(":")
            if len(parts) >= 2:
                yield parts[0], parts[1]
        elif isinstance(volume, Mapping) and volume.get("source") and volume.get("target"):
            yield str(volume["source"]), str(volume["target"])


def _published(ports: Any, container_port: int) -> Iterator[int]:
    """The host ports mapped to the container's port: `4010:4010`, `127.0.0.1:4010:4010/tcp`,
    `4010` (same port inside and out in Prism's set-ups), or the long syntax."""
    for entry in ports if isinstance(ports, Sequence) and not isinstance(ports, str) else ():
        if isinstance(entry, Mapping):
            target, published = entry.get("target"), entry.get("published")
            if str(target) == str(container_port) and str(published or "").isdigit():
                yield int(str(published))
            continue
        parts = str(entry).split("/")[0].split(":")
        inside = parts[-1]
        outside = parts[-2] if len(parts) >= 2 else parts[-1]
        if inside == str(container_port) and outside.isdigit():
            yield int(outside)


def _network_aliases(networks: Any) -> Iterator[str]:
    if isinstance(networks, Mapping):
        for network in networks.values():
            aliases = network.get("aliases") if isinstance(network, Mapping) else None
            if isinstance(aliases, Sequence) and not isinstance(aliases, str):
                yield from (str(a) for a in aliases)


# -- nginx ---------------------------------------------------------------------------------


@dataclass
class Directive:
    name: str
    args: list[str]
    block: list[Directive] | None = None


_TOKEN = re.compile(r"""\s+|#[^\n]*|"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|[{};]|[^\s{};"'#]+""")


def parse_nginx(text: str) -> list[Directive]:
    """nginx's configuration syntax as a tree of directives (comments dropped)."""
    root: list[Directive] = []
    stack: list[list[Directive]] = [root]
    words: list[str] = []
    for match in _TOKEN.finditer(text):
        token = match.group()
        if token.isspace() or token.startswith("#"):
            continue
        if token == ";":
            if words:
                stack[-1].append(Directive(words[0], words[1:]))
            words = []
        elif token == "{":
            directive = Directive(words[0] if words else "", words[1:], [])
            stack[-1].append(directive)
            assert directive.block is not None
            stack.append(directive.block)
            words = []
        elif token == "}":
            if len(stack) > 1:
                stack.pop()
            words = []
        else:
            words.append(token[1:-1] if token[0] in "\"'" else token)
    return root


def _walk(directives: list[Directive]) -> Iterator[Directive]:
    for directive in directives:
        yield directive
        if directive.block:
            yield from _walk(directive.block)


def nginx_routes(text: str, services: Sequence[PrismService]) -> tuple[list[Route], list[str]]:
    """The `/sandbox/{agent}/{service}/` locations of an nginx configuration, each tied to the
    Prism service its `proxy_pass` reaches (directly, through an upstream, or by the service
    named in the path), with warnings about the ones that cannot be tied."""
    tree = parse_nginx(text)
    upstreams = {
        d.args[0]: [s.args[0] for s in d.block or () if s.name == "server" and s.args]
        for d in _walk(tree)
        if d.name == "upstream" and d.args
    }
    routes: list[Route] = []
    warnings: list[str] = []
    for directive in _walk(tree):
        if directive.name != "location" or not directive.args or directive.block is None:
            continue
        pattern = _location_pattern(directive.args)
        if pattern is None:
            continue
        location, agents, path_services, captures = pattern
        proxy = next((d.args[0] for d in directive.block if d.name == "proxy_pass" and d.args), "")
        targets = _targets(proxy, upstreams, services, path_services, captures)
        if not targets:
            warnings.append(
                f"location {location!r} proxies to {proxy or 'nothing'!r}, which is no Prism "
                "service of the compose file; skipped"
            )
        routes.extend(Route(location, agents, target) for target in targets)
    return routes, warnings


# A path segment of a location regex: a literal, a group (of alternatives, or any value).
_NAME_CHARS = r"(?:\\[^A-Za-z0-9]|[A-Za-z0-9_.@:-])+"
_LITERAL = re.compile(rf"^{_NAME_CHARS}$")
_GROUP = re.compile(r"^\((\?(?:P?<(?P<name>\w+)>|:))?(?P<body>[^()]*)\)$")
_ALTERNATIVES = re.compile(rf"^{_NAME_CHARS}(?:\|{_NAME_CHARS})*$")
_CAPTURE = re.compile(r"(?<!\\)\((?!\?)|(?<!\\)\(\?P?<(\w+)>")


def _location_pattern(
    args: list[str],
) -> tuple[str, frozenset[str] | None, frozenset[str] | None, dict[str, int]] | None:
    """(location, agents or None, services in the path or None, capture → segment index) for a
    location under `/sandbox/`, else None."""
    modifier, location = (args[0], args[1]) if len(args) > 1 else ("", args[0])
    if modifier in ("~", "~*"):
        return _regex_location(location)
    parts = location.strip("/").split("/")
    if len(parts) < 3 or parts[0] != "sandbox" or not parts[1] or not parts[2]:
        return None
    return location, frozenset({parts[1]}), frozenset({parts[2]}), {}


def _regex_location(
    location: str,
) -> tuple[str, frozenset[str] | None, frozenset[str] | None, dict[str, int]] | None:
    rest = location.removeprefix("^")
    if not rest.startswith("/sandbox/"):
        return None
    segments = _split_segments(rest[len("/sandbox/") :])
    if len(segments) < 2:
        return None
    values: list[frozenset[str] | None] = []
    captures: dict[str, int] = {}
    number = 0
    for index, segment in enumerate(segments[:2]):
        segment = segment.removesuffix("$")
        for capture in _CAPTURE.finditer(segment):
            number += 1
            captures[str(number)] = index
            if capture.group(1):
                captures[capture.group(1)] = index
        group = _GROUP.match(segment)
        if group and _ALTERNATIVES.match(group["body"]):
            values.append(frozenset(_unescape(v) for v in group["body"].split("|")))
        elif _LITERAL.match(segment):
            values.append(frozenset({_unescape(segment)}))
        else:  # `([^/]+)`, `\w+`, `.+`…: any value
            values.append(None)
    return location, values[0], values[1], captures


def _split_segments(pattern: str) -> list[str]:
    """A regex split at the slashes outside groups and character classes."""
    segments, current, depth, in_class, escaped = [], "", 0, False, False
    for char in pattern:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char in "()":
            depth += 1 if char == "(" else -1
        elif char == "/" and depth == 0:
            segments.append(current)
            current = ""
            continue
        current += char
    return [*segments, current]


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def _targets(
    proxy: str,
    upstreams: Mapping[str, list[str]],
    services: Sequence[PrismService],
    path_services: frozenset[str] | None,
    captures: Mapping[str, int],
) -> list[str]:
    """The compose services a location reaches."""
    match = re.match(r"^https?://([^/:]+)(?::(\d+))?", proxy)
    if match is None:
        return []
    host, port = match.group(1), match.group(2)
    if host.startswith("$"):  # the service named in the path, e.g. http://$2:4010/$3
        if captures.get(host[1:]) != 1:
            return []
        return [s.name for s in services if path_services is None or s.name in path_services]
    addresses = upstreams.get(host, [f"{host}:{port}" if port else host])
    found = [s.name for s in services if any(_reaches(a, s) for a in addresses)]
    if not found and path_services is not None:  # fall back on the service the path names
        found = [s.name for s in services if s.name in path_services]
    return found


def _reaches(address: str, service: PrismService) -> bool:
    """Whether `host[:port]` (a proxy_pass or upstream server) is this service."""
    name, _, number = address.partition(":")
    if name in service.hosts:
        return True
    return name in _LOCAL_HOSTS and number.isdigit() and int(number) in service.published


def read_setup(
    compose: Mapping[str, Any], nginx: str | None, agents: Mapping[str, Sequence[str]] | None
) -> StaticSetup:
    """The whole set-up: Prism services, nginx routes, and the `--agents` file, which adds
    agents and replaces the services of those it names."""
    services, warnings = prism_services(compose)
    routes: list[Route] = []
    if nginx is not None:
        routes, more = nginx_routes(nginx, services)
        warnings.extend(more)
    overrides: dict[str, tuple[str, ...]] = {}
    known = {s.name for s in services}
    for agent, wanted in (agents or {}).items():
        for name in wanted:
            if name not in known:
                warnings.append(
                    f"--agents gives {agent!r} the service {name!r}, which is no Prism service "
                    "of the compose file; skipped"
                )
        overrides[agent] = tuple(name for name in wanted if name in known)
    return StaticSetup(tuple(services), tuple(routes), tuple(warnings), overrides)
