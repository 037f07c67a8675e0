"""The bundled templates' JSON fixtures, against golden output of the YAML ones they replaced.

`golden/<case>.json` holds, for one config, `yaml.safe_load` of what the old `fixtures.yaml.j2`
rendered, recorded before it was deleted; a large case keeps only one sha256 per stub, of
`_compact(stub)`. Each `fixtures.json.j2` must render text that `json.loads` reads as exactly
that, and build the same stubs through the real loading path (`Template.stubs`).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import yaml

from doppel.engine import MockRequest, StubIndex, stubs_from_fixtures
from doppel.specs import SpecCache
from doppel.templates import BUNDLED_DIR, Template, TemplateRegistry, _tojson

GOLDEN = Path(__file__).parent / "golden"
C_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # what the templates module uses
UNICODE = "launch 🚀 ünï\u2028x"


def _case(case_id: str, template: str, config: dict[str, Any]) -> Any:
    return pytest.param(template, config, GOLDEN / f"{case_id}.json", id=case_id)


CASES = [
    _case("figma-defaults", "figma", {}),
    _case("figma-quotes", "figma", {"workspace_name": 'Acme "Design" \\ Team\'s \\"x\\" \\u0041'}),
    _case("figma-unicode", "figma", {"workspace_name": UNICODE}),
    _case("figma-jinja", "figma", {"workspace_name": "{{ 7*7 }} {% raw %} *x &y"}),
    _case("slack-defaults", "slack", {}),
    _case(
        "slack-hostile",
        "slack",
        {"team_name": "{{ 7*7 }}", "channels": ['#a"b: c', "general", "&x *y", "- [z]"]},
    ),
    _case("slack-unicode", "slack", {"team_name": UNICODE, "channels": [UNICODE, "#ünï"]}),
    _case("slack-quotes", "slack", {"team_name": "A \"b\" \\ c \\\\ 'd'", "channels": ["x\\y"]}),
    _case("slack-no-channels", "slack", {"channels": []}),
    _case(
        "slack-40-channels",
        "slack",
        {"channels": [f"#ch-{n}" if n % 2 else f"ch-{n}" for n in range(1, 41)]},
    ),
    _case("github-defaults", "github", {}),
    _case("github-hostile", "github", {"repo": "o-1/r.x", "branch": "release/v1.2"}),
    _case("github-feature-branch", "github", {"branch": "feature/update-readme"}),
]


def _compact(value: Any) -> str:
    """Exact JSON: keeps key order and tells 1, 1.0 and true apart, which `==` does not."""
    return json.dumps(value, separators=(",", ":"))


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    assert len(set(keys)) == len(keys), f"duplicate keys in {keys}"
    return dict(pairs)


def _render(template: Template, config: Mapping[str, Any]) -> str:
    assert template.fixtures_source is not None
    return template._fixtures.render(config=config, **config)  # type: ignore[union-attr]


def _rendered_golden(name: str, config: dict[str, Any], path: Path) -> list[Any]:
    """The template's fixtures for `config`, parsed as strict JSON, checked against the golden."""
    golden = json.loads(path.read_text())
    assert (golden["template"], golden["config"]) == (name, config), (
        "the golden file is of another case"
    )
    template = TemplateRegistry().get(name)
    fixtures = json.loads(
        _render(template, template.resolve_config(config)), object_pairs_hook=_no_duplicate_keys
    )
    assert isinstance(fixtures, list)
    exact = [_compact(stub) for stub in fixtures]
    if "fixtures" in golden:
        assert exact == [_compact(stub) for stub in golden["fixtures"]]
    else:
        assert [hashlib.sha256(s.encode()).hexdigest() for s in exact] == golden["digests"]
    return fixtures


@pytest.mark.parametrize(("name", "config", "golden"), CASES)
def test_fixtures_render_json_equal_to_the_old_yaml(
    name: str, config: dict[str, Any], golden: Path
) -> None:
    _rendered_golden(name, config, golden)


def test_the_bundled_templates_render_json_only() -> None:
    registry = TemplateRegistry()
    for name in ("figma", "slack", "github"):
        folder = BUNDLED_DIR / name
        assert (folder / "fixtures.json.j2").is_file()
        assert not (folder / "fixtures.yaml.j2").exists()
        assert registry.get(name).fixtures_source == (folder / "fixtures.json.j2").read_text()


def _request(pattern: Mapping[str, Any]) -> MockRequest:
    path = re.sub(r"\{[^{}/]+\}", "any-id", pattern["path"])  # a templated segment
    return MockRequest(
        method=str(pattern.get("method") or "GET"),
        path=path,
        query=urlencode(pattern.get("params") or {}),
    )


@pytest.fixture(scope="module")
def spec_cache() -> SpecCache:
    return SpecCache()


@pytest.mark.parametrize(("name", "config", "golden"), CASES)
def test_fixtures_build_the_golden_stubs(
    name: str, config: dict[str, Any], golden: Path, spec_cache: SpecCache
) -> None:
    fixtures = _rendered_golden(name, config, golden)  # the golden ones, digest cases too
    template = TemplateRegistry().get(name)
    spec = template.compile(spec_cache)
    index = template.stubs(spec, template.resolve_config(config))
    expected = StubIndex(stubs_from_fixtures(fixtures), spec.prefixes)
    for item in fixtures:
        request, response = item["request"], item["response"]
        found = index.find(_request(request))
        assert found is not None, request
        assert found == expected.find(_request(request))
        assert found.request.path == request["path"]
        assert found.request.method == request.get("method")
        assert dict(found.request.params) == (request.get("params") or {})
        assert found.response.status == response["status"]
        assert found.response.echo == response.get("echo", False)


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
