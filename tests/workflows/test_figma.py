"""Figma workflows over plain HTTP (Figma has no maintained Python SDK) against `doppel mock
figma`: the user, the team's projects and files, a file's document tree, nodes and rendered
images, versions, comments and their reactions, and the refusals. Judged by what Figma
answers (notes/provider-facts.md, Figma sections 11 and 12): `X-Figma-Token` auth, 403
{"status":403,"err":"Invalid token"} without a good token, 404 {"status":404,"err":"Not
found"} for what the account cannot see."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.servers import MockProcess

TOKEN = "figd_" + "Q7v2LmX9" * 5  # shaped like a personal access token
TEAM_ID = "1100000000000000777"
WORKSPACE = "Acme Design"
CONFIG: dict[str, Any] = {
    "workspace_name": WORKSPACE,
    "team_id": TEAM_ID,
    "projects": [
        {
            "name": "Mobile App",
            "files": [
                {"name": "Checkout", "key": "CheckoutKey0001", "frames": ["Cart", "Pay", "Done"]},
                {"name": "Settings", "key": "SettingsKey0002"},
            ],
        },
        {"name": "Marketing", "files": [{"name": "Landing Page", "key": "LandingKey00003"}]},
    ],
}
FILE = "CheckoutKey0001"  # frames 1:2 Cart, 1:4 Pay, 1:6 Done; their titles 1:3, 1:5, 1:7
NOT_FOUND = {"status": 404, "err": "Not found"}
INVALID_TOKEN = {"status": 403, "err": "Invalid token"}
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


@pytest.fixture(scope="module")
def figma_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    path = tmp_path_factory.mktemp("figma") / "figma.json"
    path.write_text(json.dumps(CONFIG))
    mock = MockProcess(["figma", "--config", str(path)])
    try:
        yield mock.url
    finally:
        mock.stop()


@pytest.fixture
def figma(figma_url: str) -> Iterator[httpx.Client]:
    headers = {"X-Figma-Token": TOKEN}
    with httpx.Client(base_url=figma_url, headers=headers, trust_env=False, timeout=10) as client:
        yield client


def ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")
    return response.json()


def frames_of(file: dict[str, Any]) -> list[dict[str, Any]]:
    return list(file["document"]["children"][0]["children"])


# -- who, and what the team holds ------------------------------------------------------------


def test_me_is_the_user_the_token_belongs_to(figma: httpx.Client) -> None:
    me = ok(figma.get("/v1/me"))
    assert set(me) >= {"id", "handle", "img_url", "email"}
    assert me["handle"].startswith(WORKSPACE)
    assert "@" in me["email"] and me["img_url"].startswith("https://")


def test_the_team_lists_its_projects_and_each_project_its_files(figma: httpx.Client) -> None:
    team = ok(figma.get(f"/v1/teams/{TEAM_ID}/projects"))
    assert team["name"] == WORKSPACE
    assert [p["name"] for p in team["projects"]] == ["Mobile App", "Marketing"]
    assert all(isinstance(p["id"], str) for p in team["projects"])

    mobile = ok(figma.get(f"/v1/projects/{team['projects'][0]['id']}/files"))
    assert mobile["name"] == "Mobile App"
    assert [(f["key"], f["name"]) for f in mobile["files"]] == [
        (FILE, "Checkout"),
        ("SettingsKey0002", "Settings"),
    ]
    assert all(ISO_UTC.fullmatch(f["last_modified"]) for f in mobile["files"])
    marketing = ok(figma.get(f"/v1/projects/{team['projects'][1]['id']}/files"))
    assert [f["key"] for f in marketing["files"]] == ["LandingKey00003"]


def test_a_file_is_its_document_tree(figma: httpx.Client) -> None:
    file = ok(figma.get(f"/v1/files/{FILE}"))
    assert file["name"] == "Checkout" and ISO_UTC.fullmatch(file["lastModified"])
    assert file["document"]["type"] == "DOCUMENT"
    pages = file["document"]["children"]
    assert [(p["id"], p["type"]) for p in pages] == [("0:1", "CANVAS")]
    frames = frames_of(file)
    assert [(f["id"], f["name"], f["type"]) for f in frames] == [
        ("1:2", "Cart", "FRAME"),
        ("1:4", "Pay", "FRAME"),
        ("1:6", "Done", "FRAME"),
    ]
    titles = [f["children"][0] for f in frames]
    assert [(t["id"], t["type"], t["characters"]) for t in titles] == [
        ("1:3", "TEXT", "Cart"),
        ("1:5", "TEXT", "Pay"),
        ("1:7", "TEXT", "Done"),
    ]


def test_a_text_nodes_style_overrides_refer_to_its_override_table(figma: httpx.Client) -> None:
    for frame in frames_of(ok(figma.get(f"/v1/files/{FILE}"))):
        text = frame["children"][0]
        table = text.get("styleOverrideTable", {})
        for index in text.get("characterStyleOverrides", []):
            assert index == int(index) and (index == 0 or str(int(index)) in table)
        assert len(text.get("characterStyleOverrides", [])) <= len(text["characters"])


# -- nodes and images ----------------------------------------------------------------------


def test_nodes_answers_each_id_asked_and_null_for_unknown_ones(figma: httpx.Client) -> None:
    answer = ok(figma.get(f"/v1/files/{FILE}/nodes", params={"ids": "1:4,9:9"}))
    assert answer["name"] == "Checkout"
    assert set(answer["nodes"]) == {"1:4", "9:9"}
    assert answer["nodes"]["9:9"] is None
    pay = answer["nodes"]["1:4"]
    assert pay["document"]["id"] == "1:4" and pay["document"]["name"] == "Pay"
    assert set(pay) >= {"document", "components", "styles", "schemaVersion"}


def test_nodes_answers_the_same_node_the_file_tree_holds(figma: httpx.Client) -> None:
    pay = frames_of(ok(figma.get(f"/v1/files/{FILE}")))[1]
    answer = ok(figma.get(f"/v1/files/{FILE}/nodes", params={"ids": "1:4"}))
    assert answer["nodes"]["1:4"]["document"]["type"] == "FRAME"
    assert answer["nodes"]["1:4"]["document"] == pay


def test_nodes_finds_nodes_nested_inside_frames(figma: httpx.Client) -> None:
    answer = ok(figma.get(f"/v1/files/{FILE}/nodes", params={"ids": "1:5"}))
    title = answer["nodes"]["1:5"]
    assert title is not None
    assert title["document"]["type"] == "TEXT" and title["document"]["characters"] == "Pay"


def test_nodes_answers_a_page_with_its_frames(figma: httpx.Client) -> None:
    answer = ok(figma.get(f"/v1/files/{FILE}/nodes", params={"ids": "0:1"}))
    page = answer["nodes"]["0:1"]["document"]
    assert page["type"] == "CANVAS"
    assert [child["id"] for child in page["children"]] == ["1:2", "1:4", "1:6"]


def test_nodes_honours_depth_counted_from_the_node_asked_for(figma: httpx.Client) -> None:
    answer = ok(figma.get(f"/v1/files/{FILE}/nodes", params={"ids": "0:1", "depth": "1"}))
    frames = answer["nodes"]["0:1"]["document"]["children"]
    assert [frame["id"] for frame in frames] == ["1:2", "1:4", "1:6"]
    assert not any(frame.get("children") for frame in frames)  # their titles lie deeper


def test_images_and_nodes_agree_on_which_ids_the_file_holds(figma: httpx.Client) -> None:
    ids = "1:5,0:1,9:9,1:6"
    nodes = ok(figma.get(f"/v1/files/{FILE}/nodes", params={"ids": ids}))["nodes"]
    images = ok(figma.get(f"/v1/images/{FILE}", params={"ids": ids}))["images"]
    assert set(images) == set(nodes) == set(ids.split(","))
    assert {k for k, v in images.items() if v is None} == {k for k, v in nodes.items() if v is None}
    assert images["9:9"] is None and images["1:5"].startswith("https://")


def test_images_maps_each_id_to_a_url_or_null(figma: httpx.Client) -> None:
    answer = ok(figma.get(f"/v1/images/{FILE}", params={"ids": "1:2,1:6,9:9"}))
    assert answer["err"] is None and "status" not in answer
    assert set(answer["images"]) == {"1:2", "1:6", "9:9"}
    assert answer["images"]["9:9"] is None
    for node in ("1:2", "1:6"):
        assert answer["images"][node].startswith("https://")
    assert answer["images"]["1:2"] != answer["images"]["1:6"]
    svg = ok(figma.get(f"/v1/images/{FILE}", params={"ids": "1:2", "format": "svg"}))
    assert svg["err"] is None and svg["images"]["1:2"].startswith("https://")


def test_images_without_ids_is_a_400(figma: httpx.Client) -> None:
    response = figma.get(f"/v1/images/{FILE}")
    assert response.status_code == 400
    body = response.json()
    assert body["status"] == 400 and isinstance(body["err"], str) and body["err"]


# -- versions ------------------------------------------------------------------------------


def test_versions_list_the_files_history_newest_first(figma: httpx.Client) -> None:
    file = ok(figma.get(f"/v1/files/{FILE}"))
    me = ok(figma.get("/v1/me"))
    answer = ok(figma.get(f"/v1/files/{FILE}/versions"))
    versions = answer["versions"]
    assert len(versions) >= 1 and "pagination" in answer
    for version in versions:
        assert set(version) >= {"id", "created_at", "label", "description", "user"}
        assert ISO_UTC.fullmatch(version["created_at"])
        assert version["user"]["id"] == me["id"] and version["user"]["handle"] == me["handle"]
    stamps = [v["created_at"] for v in versions]
    assert stamps == sorted(stamps, reverse=True)
    assert versions[0]["id"] == file["version"]


# -- comments and reactions ----------------------------------------------------------------


def test_a_posted_comment_is_listed_and_deleting_removes_it(figma: httpx.Client) -> None:
    me = ok(figma.get("/v1/me"))
    posted = ok(figma.post(f"/v1/files/{FILE}/comments", json={"message": "Tighten the padding"}))
    assert posted["message"] == "Tighten the padding" and posted["file_key"] == FILE
    assert isinstance(posted["id"], str) and posted["id"]
    assert posted["user"]["id"] == me["id"] and posted["user"]["handle"] == me["handle"]
    assert ISO_UTC.fullmatch(posted["created_at"])
    assert posted["resolved_at"] is None and posted["reactions"] == []
    assert isinstance(posted["order_id"], str)

    listed = ok(figma.get(f"/v1/files/{FILE}/comments"))["comments"]
    assert [c for c in listed if c["id"] == posted["id"]] == [posted]

    assert ok(figma.delete(f"/v1/files/{FILE}/comments/{posted['id']}")) == {
        "status": 200,
        "error": False,
    }
    after = ok(figma.get(f"/v1/files/{FILE}/comments"))["comments"]
    assert posted["id"] not in [c["id"] for c in after]
    again = figma.delete(f"/v1/files/{FILE}/comments/{posted['id']}")
    assert (again.status_code, again.json()) == (404, NOT_FOUND)


def test_a_reply_names_its_parent_comment(figma: httpx.Client) -> None:
    parent = ok(figma.post(f"/v1/files/{FILE}/comments", json={"message": "Which font?"}))
    reply = ok(
        figma.post(
            f"/v1/files/{FILE}/comments", json={"message": "Inter", "comment_id": parent["id"]}
        )
    )
    assert reply["parent_id"] == parent["id"] and reply["message"] == "Inter"
    listed = {c["id"]: c for c in ok(figma.get(f"/v1/files/{FILE}/comments"))["comments"]}
    assert listed[reply["id"]]["parent_id"] == parent["id"]


def test_a_reply_has_no_order_id(figma: httpx.Client) -> None:
    parent = ok(figma.post(f"/v1/files/{FILE}/comments", json={"message": "Top level"}))
    reply = ok(
        figma.post(
            f"/v1/files/{FILE}/comments", json={"message": "Reply", "comment_id": parent["id"]}
        )
    )
    assert parent["order_id"] is not None
    assert reply["order_id"] is None


def test_a_comment_without_a_message_is_a_400(figma: httpx.Client) -> None:
    response = figma.post(f"/v1/files/{FILE}/comments", json={})
    assert response.status_code == 400
    body = response.json()
    assert body["status"] == 400 and body["error"] is True and isinstance(body["message"], str)


def test_reactions_are_added_listed_and_deleted(figma: httpx.Client) -> None:
    me = ok(figma.get("/v1/me"))
    comment = ok(figma.post(f"/v1/files/{FILE}/comments", json={"message": "Ship it"}))
    reactions = f"/v1/files/{FILE}/comments/{comment['id']}/reactions"
    ok(figma.post(reactions, json={"emoji": ":heart:"}))
    listed = ok(figma.get(reactions))["reactions"]
    assert [(r["emoji"], r["user"]["id"]) for r in listed] == [(":heart:", me["id"])]
    assert ISO_UTC.fullmatch(listed[0]["created_at"])

    ok(figma.delete(reactions, params={"emoji": ":heart:"}))
    assert ok(figma.get(reactions))["reactions"] == []


# -- refusals ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/v1/files/NoSuchFile000000",
        "/v1/files/NoSuchFile000000/nodes?ids=1:2",
        "/v1/images/NoSuchFile000000?ids=1:2",
        "/v1/files/NoSuchFile000000/versions",
        "/v1/files/NoSuchFile000000/comments",
        "/v1/teams/999999/projects",
        "/v1/projects/999999/files",
    ],
)
def test_what_the_account_cannot_see_is_a_404(figma: httpx.Client, path: str) -> None:
    response = figma.get(path)
    assert (response.status_code, response.json()) == (404, NOT_FOUND)


def test_a_comment_on_an_unknown_file_is_a_404(figma: httpx.Client) -> None:
    response = figma.post("/v1/files/NoSuchFile000000/comments", json={"message": "hello?"})
    assert (response.status_code, response.json()) == (404, NOT_FOUND)


@pytest.mark.parametrize(
    "headers",
    [{}, {"X-Figma-Token": "not-a-token"}, {"X-Figma-Token": "figd_"}],
    ids=["no token", "malformed", "empty figd_"],
)
@pytest.mark.parametrize("path", ["/v1/me", f"/v1/files/{FILE}", f"/v1/teams/{TEAM_ID}/projects"])
def test_no_token_or_a_malformed_one_is_a_403_invalid_token(
    figma_url: str, headers: dict[str, str], path: str
) -> None:
    response = httpx.get(f"{figma_url}{path}", headers=headers, trust_env=False)
    assert (response.status_code, response.json()) == (403, INVALID_TOKEN)
