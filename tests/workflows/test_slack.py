"""Slack workflows with the official slack_sdk.WebClient against `doppel mock slack`: channels
made, joined, archived and renamed; messages posted, threaded, edited, deleted and reacted to;
users looked up; refusals; cursor pagination. Judged by what Slack answers
(notes/provider-facts.md, Slack sections 9 and 10): errors are HTTP 200 {"ok": false,
"error": "<code>"}, which the SDK raises as SlackApiError."""

from __future__ import annotations

import base64
import itertools
import json
import re
from collections.abc import Callable, Iterator
from itertools import islice
from typing import Any

import httpx
import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from tests.servers import MockProcess

TOKEN = "xoxb-1234567890123-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"
TEAM_NAME = "Acme Robotics"
TEAM_SLUG = "acme-robotics"
BOT = "U00000001"  # the bot that owns the token (the template's `me`)

HISTORY_TEXTS = [f"history message {n}" for n in range(1, 8)]  # 7 texts: pages of 2, 2, 2, 1
CONFIG: dict[str, Any] = {
    "team_name": TEAM_NAME,
    "channels": [
        "general",
        "random",
        "eng",
        "history",  # holds HISTORY_TEXTS; no test posts there
        {"name": "old-news", "is_archived": True},
        {"name": "secret-plans", "is_private": True},
    ],
    "users": [
        {"name": "ada", "real_name": "Ada Lovelace", "email": "ada@acme.test"},
        {"name": "grace", "real_name": "Grace Hopper", "email": "grace@acme.test"},
        {"name": "linus", "real_name": "Linus Torvalds"},
        {"name": "margaret", "real_name": "Margaret Hamilton"},
    ],
    "messages": {"history": HISTORY_TEXTS},
}
TS = re.compile(r"^\d{10}\.\d{6}$")
_names = itertools.count(1)


@pytest.fixture(scope="module")
def slack_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    path = tmp_path_factory.mktemp("slack") / "slack.json"
    path.write_text(json.dumps(CONFIG))
    mock = MockProcess(["slack", "--config", str(path)])
    try:
        yield mock.url
    finally:
        mock.stop()


@pytest.fixture
def slack(slack_url: str) -> WebClient:
    return WebClient(token=TOKEN, base_url=f"{slack_url}/api/")


@pytest.fixture
def channel(slack: WebClient) -> str:
    """A fresh public channel made by the bot, for one test alone; its ID."""
    return str(slack.conversations_create(name=fresh_name())["channel"]["id"])


def fresh_name(prefix: str = "wf") -> str:
    return f"{prefix}-{next(_names):03d}"


def slack_error(call: Callable[[], Any]) -> dict[str, Any]:
    """The body of the refusal `call` raises (Slack answers errors with HTTP 200)."""
    with pytest.raises(SlackApiError) as caught:
        call()
    assert caught.value.response.status_code == 200
    body = caught.value.response.data
    assert isinstance(body, dict) and body["ok"] is False
    return body


def channel_by_id(slack: WebClient, channel_id: str) -> dict[str, Any]:
    return dict(slack.conversations_info(channel=channel_id)["channel"])


def history_texts(slack: WebClient, channel_id: str) -> list[str]:
    return [m["text"] for m in slack.conversations_history(channel=channel_id)["messages"]]


def channel_id_named(slack: WebClient, name: str) -> str:
    channels = slack.conversations_list(types="public_channel,private_channel", limit=1000)
    return str(next(c["id"] for c in channels["channels"] if c["name"] == name))


# -- channels -------------------------------------------------------------------------------


def test_creating_a_channel_returns_it_with_the_bot_as_its_only_member(slack: WebClient) -> None:
    name = fresh_name("made")
    created = slack.conversations_create(name=name)
    made = created["channel"]
    assert created["ok"] is True
    assert made["name"] == made["name_normalized"] == name
    assert re.fullmatch(r"C[A-Z0-9]{8,12}", made["id"])
    assert made["is_channel"] is True and made["is_private"] is False
    assert made["is_archived"] is False and made["is_member"] is True
    assert made["creator"] == slack.auth_test()["user_id"] == BOT
    assert channel_by_id(slack, made["id"])["name"] == name
    assert slack.conversations_members(channel=made["id"])["members"] == [BOT]


def test_creating_a_channel_with_a_taken_name_is_name_taken(slack: WebClient) -> None:
    name = fresh_name("taken")
    slack.conversations_create(name=name)
    assert slack_error(lambda: slack.conversations_create(name=name))["error"] == "name_taken"
    assert slack_error(lambda: slack.conversations_create(name="general"))["error"] == "name_taken"


def test_creating_a_channel_without_a_name_is_invalid_name_required(slack: WebClient) -> None:
    missing = slack_error(lambda: slack.api_call("conversations.create", params={}))
    assert missing["error"] == "invalid_name_required"
    empty = slack_error(lambda: slack.conversations_create(name=""))
    assert empty["error"] == "invalid_name_required"


def test_joining_a_channel_makes_the_bot_a_member(slack: WebClient) -> None:
    random_id = channel_id_named(slack, "random")
    slack.conversations_leave(channel=random_id)
    assert channel_by_id(slack, random_id)["is_member"] is False
    assert BOT not in slack.conversations_members(channel=random_id)["members"]

    joined = slack.conversations_join(channel=random_id)
    assert joined["ok"] is True
    assert joined["channel"]["id"] == random_id and joined["channel"]["is_member"] is True
    assert channel_by_id(slack, random_id)["is_member"] is True
    assert BOT in slack.conversations_members(channel=random_id)["members"]


def test_joining_a_channel_the_bot_is_not_in_gives_no_warning(slack: WebClient) -> None:
    eng = channel_id_named(slack, "eng")
    slack.conversations_leave(channel=eng)
    assert channel_by_id(slack, eng)["is_member"] is False
    joined = slack.conversations_join(channel=eng)
    assert joined["channel"]["is_member"] is True
    assert "warning" not in joined and "response_metadata" not in joined


def test_joining_a_channel_the_bot_is_in_warns_already_in_channel(
    slack: WebClient, channel: str
) -> None:
    joined = slack.conversations_join(channel=channel)
    assert joined["ok"] is True and joined["channel"]["is_member"] is True
    assert joined["warning"] == "already_in_channel"
    assert joined["response_metadata"]["warnings"] == ["already_in_channel"]


def test_archiving_a_channel_marks_it_archived_and_refuses_posts(
    slack: WebClient, channel: str
) -> None:
    assert slack.conversations_archive(channel=channel)["ok"] is True
    assert channel_by_id(slack, channel)["is_archived"] is True
    again = slack_error(lambda: slack.conversations_archive(channel=channel))
    assert again["error"] == "already_archived"
    post = slack_error(lambda: slack.chat_postMessage(channel=channel, text="anyone here?"))
    assert post["error"] == "is_archived"


def test_unarchiving_reopens_a_channel_and_twice_is_not_archived(
    slack: WebClient, channel: str
) -> None:
    never = slack_error(lambda: slack.conversations_unarchive(channel=channel))
    assert never["error"] == "not_archived"
    slack.conversations_archive(channel=channel)
    assert slack.conversations_unarchive(channel=channel)["ok"] is True
    assert channel_by_id(slack, channel)["is_archived"] is False
    assert slack.chat_postMessage(channel=channel, text="back again")["ok"] is True
    twice = slack_error(lambda: slack.conversations_unarchive(channel=channel))
    assert twice["error"] == "not_archived"


def test_renaming_a_channel_shows_the_new_name_in_later_reads(
    slack: WebClient, channel: str
) -> None:
    old, new = channel_by_id(slack, channel)["name"], fresh_name("renamed")
    renamed = slack.conversations_rename(channel=channel, name=new)
    assert renamed["channel"]["id"] == channel
    assert renamed["channel"]["name"] == renamed["channel"]["name_normalized"] == new
    assert channel_by_id(slack, channel)["name"] == new
    names = [c["name"] for c in slack.conversations_list(limit=1000)["channels"]]
    assert new in names and old not in names
    assert slack.chat_postMessage(channel=f"#{new}", text="by the new name")["channel"] == channel
    gone = slack_error(lambda: slack.chat_postMessage(channel=f"#{old}", text="by the old name"))
    assert gone["error"] == "channel_not_found"


def test_renaming_a_channel_records_its_former_name(slack: WebClient, channel: str) -> None:
    old = channel_by_id(slack, channel)["name"]
    renamed = slack.conversations_rename(channel=channel, name=fresh_name("renamed"))
    assert old in renamed["channel"]["previous_names"]
    assert old in channel_by_id(slack, channel)["previous_names"]


def test_renaming_a_channel_to_a_taken_name_is_name_taken(slack: WebClient, channel: str) -> None:
    before = channel_by_id(slack, channel)["name"]
    taken = slack_error(lambda: slack.conversations_rename(channel=channel, name="general"))
    assert taken["error"] == "name_taken"
    assert channel_by_id(slack, channel)["name"] == before


def test_an_unknown_channel_is_channel_not_found(slack: WebClient) -> None:
    assert slack_error(lambda: slack.conversations_info(channel="C0NOSUCH1"))["error"] == (
        "channel_not_found"
    )
    archive = slack_error(lambda: slack.conversations_archive(channel="C0NOSUCH1"))
    assert archive["error"] == "channel_not_found"


def test_conversations_info_describes_the_configured_channels(slack: WebClient) -> None:
    general = channel_by_id(slack, "C00000001")
    assert general["name"] == "general" and general["is_general"] is True
    assert general["is_member"] is True and general["is_archived"] is False
    secret = channel_by_id(slack, channel_id_named(slack, "secret-plans"))
    assert secret["is_private"] is True


def test_listing_returns_public_channels_unless_types_says_otherwise(slack: WebClient) -> None:
    def names(**params: Any) -> set[str]:
        return {c["name"] for c in slack.conversations_list(limit=1000, **params)["channels"]}

    public = names()
    assert {"general", "random", "eng", "history", "old-news"} <= public
    assert "secret-plans" not in public
    assert names(types="private_channel") == {"secret-plans"}
    assert names(types="public_channel,private_channel") == public | {"secret-plans"}
    assert names(types=["public_channel", "private_channel"]) == public | {"secret-plans"}


def test_listing_with_exclude_archived_leaves_archived_channels_out(slack: WebClient) -> None:
    listed = slack.conversations_list(exclude_archived=True, limit=1000)["channels"]
    names = {c["name"] for c in listed}
    assert "general" in names and "old-news" not in names
    assert all(c["is_archived"] is False for c in listed)


def test_listing_with_exclude_archived_true_as_text_leaves_archived_channels_out(
    slack_url: str,
) -> None:
    response = httpx.post(
        f"{slack_url}/api/conversations.list",
        headers={"Authorization": f"Bearer {TOKEN}"},
        data={"exclude_archived": "true", "limit": "1000"},
        trust_env=False,
    )
    names = {c["name"] for c in response.json()["channels"]}
    assert "general" in names and "old-news" not in names


# -- messages -------------------------------------------------------------------------------


def test_posting_by_id_and_by_name_lands_in_the_same_channel(
    slack: WebClient, channel: str
) -> None:
    name = channel_by_id(slack, channel)["name"]
    by_id = slack.chat_postMessage(channel=channel, text="posted by id")
    by_name = slack.chat_postMessage(channel=f"#{name}", text="posted by name")
    assert by_id["channel"] == by_name["channel"] == channel
    for posted, text in ((by_id, "posted by id"), (by_name, "posted by name")):
        assert TS.fullmatch(posted["ts"]) and posted["message"]["ts"] == posted["ts"]
        assert posted["message"]["text"] == text and posted["message"]["type"] == "message"
        assert posted["message"]["user"] == BOT
    assert history_texts(slack, channel) == ["posted by name", "posted by id"]  # newest first


def test_a_messages_blocks_come_back_whole(slack: WebClient, channel: str) -> None:
    blocks = [
        {"type": "section", "text": {"type": "mrkdwn", "text": "*Deploy* finished"}},
        {"type": "context", "elements": [{"type": "plain_text", "text": "build 42"}]},
    ]
    posted = slack.chat_postMessage(channel=channel, text="Deploy finished", blocks=blocks)
    assert posted["message"]["blocks"] == blocks
    latest = slack.conversations_history(channel=channel, limit=1)["messages"][0]
    assert latest["ts"] == posted["ts"] and latest["blocks"] == blocks


def test_a_message_posted_with_a_bot_token_names_the_bot(slack: WebClient, channel: str) -> None:
    bot_id = slack.auth_test()["bot_id"]
    posted = slack.chat_postMessage(channel=channel, text="from the bot")
    assert posted["message"]["bot_id"] == bot_id


def test_posting_without_text_is_no_text(slack: WebClient, channel: str) -> None:
    # api_call, not chat_postMessage: the SDK warns before it sends a text-less message.
    refused = slack_error(lambda: slack.api_call("chat.postMessage", json={"channel": channel}))
    assert refused["error"] == "no_text"
    assert history_texts(slack, channel) == []


def test_a_channel_the_bot_left_is_not_in_channel_until_it_joins(
    slack: WebClient, channel: str
) -> None:
    slack.conversations_leave(channel=channel)
    post = slack_error(lambda: slack.chat_postMessage(channel=channel, text="anyone?"))
    assert post == {"ok": False, "error": "not_in_channel"}
    read = slack_error(lambda: slack.conversations_history(channel=channel))
    assert read == {"ok": False, "error": "not_in_channel"}
    slack.conversations_join(channel=channel)
    assert slack.chat_postMessage(channel=channel, text="back")["ok"] is True
    assert history_texts(slack, channel) == ["back"]


MISSING_CHANNEL = {
    "ok": False,
    "error": "invalid_arguments",
    "response_metadata": {"messages": ["[ERROR] missing required field: channel"]},
}


@pytest.mark.parametrize("method", ["conversations.history", "conversations.members"])
def test_a_channel_not_sent_is_invalid_arguments_and_sent_empty_channel_not_found(
    slack: WebClient, method: str
) -> None:
    # Slack tells "not sent" from "names nothing": the first is invalid_arguments.
    assert slack_error(lambda: slack.api_call(method, params={})) == MISSING_CHANNEL
    empty = slack_error(lambda: slack.api_call(method, params={"channel": ""}))
    assert empty == {"ok": False, "error": "channel_not_found"}


def test_posting_without_a_channel_is_invalid_arguments(slack: WebClient) -> None:
    post = slack_error(lambda: slack.api_call("chat.postMessage", json={"text": "hi"}))
    assert post == MISSING_CHANNEL


def test_posting_to_an_unknown_channel_is_channel_not_found(slack: WebClient) -> None:
    by_id = slack_error(lambda: slack.chat_postMessage(channel="C0NOSUCH1", text="hello?"))
    by_name = slack_error(lambda: slack.chat_postMessage(channel="#no-such-room", text="hello?"))
    assert by_id["error"] == by_name["error"] == "channel_not_found"


def test_message_ts_values_are_unique_and_increase(slack: WebClient, channel: str) -> None:
    stamps = [slack.chat_postMessage(channel=channel, text=f"n{n}")["ts"] for n in range(15)]
    assert all(TS.fullmatch(ts) for ts in stamps)
    assert len(set(stamps)) == len(stamps)
    assert [float(ts) for ts in stamps] == sorted(float(ts) for ts in stamps)
    assert history_texts(slack, channel) == [f"n{n}" for n in reversed(range(15))]


def test_a_thread_reply_shows_in_replies_not_in_history(slack: WebClient, channel: str) -> None:
    parent = slack.chat_postMessage(channel=channel, text="parent")["ts"]
    first = slack.chat_postMessage(channel=channel, text="first reply", thread_ts=parent)
    second = slack.chat_postMessage(channel=channel, text="second reply", thread_ts=parent)
    assert first["message"]["thread_ts"] == second["message"]["thread_ts"] == parent

    history = slack.conversations_history(channel=channel)["messages"]
    assert [m["text"] for m in history] == ["parent"]
    head = history[0]
    assert head["ts"] == head["thread_ts"] == parent
    assert head["reply_count"] == 2
    assert head["reply_users"] == [BOT] and head["reply_users_count"] == 1
    assert head["latest_reply"] == second["ts"]

    replies = slack.conversations_replies(channel=channel, ts=parent)["messages"]
    assert [m["text"] for m in replies] == ["parent", "first reply", "second reply"]
    assert [m["ts"] for m in replies] == [parent, first["ts"], second["ts"]]


def test_thread_replies_name_their_parent_and_carry_no_counters(
    slack: WebClient, channel: str
) -> None:
    parent = slack.chat_postMessage(channel=channel, text="parent")["ts"]
    posted = slack.chat_postMessage(channel=channel, text="reply", thread_ts=parent)
    assert posted["message"]["parent_user_id"] == BOT
    replies = slack.conversations_replies(channel=channel, ts=parent)["messages"][1:]
    assert len(replies) == 1
    assert replies[0]["thread_ts"] == parent and replies[0]["parent_user_id"] == BOT
    assert "reply_count" not in replies[0]


def test_replies_of_an_unthreaded_message_is_that_message_alone(
    slack: WebClient, channel: str
) -> None:
    ts = slack.chat_postMessage(channel=channel, text="alone")["ts"]
    messages = slack.conversations_replies(channel=channel, ts=ts)["messages"]
    assert [m["ts"] for m in messages] == [ts]
    assert messages[0].get("thread_ts", ts) == ts
    assert messages[0].get("reply_count", 0) == 0


def test_replies_for_an_unknown_ts_is_thread_not_found(slack: WebClient, channel: str) -> None:
    refused = slack_error(lambda: slack.conversations_replies(channel=channel, ts="1234.567890"))
    assert refused["error"] == "thread_not_found"


def test_replies_given_a_replys_ts_is_that_reply_alone(slack: WebClient, channel: str) -> None:
    # Slack gives the thread for its parent's ts only: a reply's ts gives that reply alone
    # (slackapi/bolt-python#783, reproduced in Slack's API tester; labelled server-side).
    parent = slack.chat_postMessage(channel=channel, text="parent")["ts"]
    first = slack.chat_postMessage(channel=channel, text="first", thread_ts=parent)["ts"]
    slack.chat_postMessage(channel=channel, text="second", thread_ts=parent)
    messages = slack.conversations_replies(channel=channel, ts=first)["messages"]
    assert [(m["ts"], m["text"]) for m in messages] == [(first, "first")]
    assert messages[0]["thread_ts"] == parent and messages[0]["parent_user_id"] == BOT
    assert "reply_count" not in messages[0]


def test_replies_without_a_ts_is_invalid_arguments(slack: WebClient, channel: str) -> None:
    # An argument not sent at all is invalid_arguments; sent empty, it names no thread.
    missing = slack_error(
        lambda: slack.api_call("conversations.replies", params={"channel": channel})
    )
    assert missing == {
        "ok": False,
        "error": "invalid_arguments",
        "response_metadata": {"messages": ["[ERROR] missing required field: ts"]},
    }
    empty = slack_error(lambda: slack.conversations_replies(channel=channel, ts=""))
    assert empty == {"ok": False, "error": "thread_not_found"}


def test_updating_a_message_changes_what_history_shows(slack: WebClient, channel: str) -> None:
    ts = slack.chat_postMessage(channel=channel, text="first draft")["ts"]
    updated = slack.chat_update(channel=channel, ts=ts, text="final wording")
    assert updated["ok"] is True and updated["channel"] == channel and updated["ts"] == ts
    assert updated["text"] == "final wording"
    assert updated["message"]["text"] == "final wording"
    history = slack.conversations_history(channel=channel)["messages"]
    assert [(m["ts"], m["text"]) for m in history] == [(ts, "final wording")]


def test_an_update_answers_the_message_as_later_reads_show_it(
    slack: WebClient, channel: str
) -> None:
    # Slack's answer: {ok, channel, ts, text, message}, the message as updated without its
    # ts; a bot's edit is marked `edited: {user: <bot id>, ts: "<seconds>.000000"}`.
    bot_id = slack.auth_test()["bot_id"]
    ts = slack.chat_postMessage(channel=channel, text="first draft")["ts"]
    updated = slack.chat_update(channel=channel, ts=ts, text="final wording")
    assert set(updated.data) == {"ok", "channel", "ts", "text", "message"}
    message = updated["message"]
    assert "ts" not in message
    assert (message["type"], message["text"], message["user"]) == ("message", "final wording", BOT)
    assert message["bot_id"] == bot_id
    assert message["edited"]["user"] == bot_id
    assert re.fullmatch(r"\d{10}\.000000", message["edited"]["ts"])
    history = slack.conversations_history(channel=channel)["messages"]
    assert history == [{**message, "ts": ts}]


def test_updating_an_unknown_ts_is_message_not_found(slack: WebClient, channel: str) -> None:
    refused = slack_error(lambda: slack.chat_update(channel=channel, ts="1234.567890", text="x"))
    assert refused["error"] == "message_not_found"


def post_until(slack: WebClient, channel: str, text: str, wanted: Callable[[str], bool]) -> str:
    """Post `text` until a ts satisfies `wanted`; that ts (the other posts stay)."""
    for _ in range(200):
        ts = str(slack.chat_postMessage(channel=channel, text=text)["ts"])
        if wanted(ts):
            return ts
    raise AssertionError("no ts of the wanted shape in 200 posts")


def test_deleting_a_message_removes_it_from_history(slack: WebClient, channel: str) -> None:
    keep = slack.chat_postMessage(channel=channel, text="keep me")["ts"]
    drop = slack.chat_postMessage(channel=channel, text="delete me")["ts"]
    deleted = slack.chat_delete(channel=channel, ts=drop)
    assert deleted["ok"] is True and deleted["channel"] == channel
    stamps = [m["ts"] for m in slack.conversations_history(channel=channel)["messages"]]
    assert keep in stamps and drop not in stamps
    again = slack_error(lambda: slack.chat_delete(channel=channel, ts=drop))
    assert again["error"] == "message_not_found"


def test_deleting_a_message_answers_its_ts_as_a_string(slack: WebClient, channel: str) -> None:
    ts = post_until(slack, channel, "short-lived", lambda ts: not ts.endswith("0"))
    assert slack.chat_delete(channel=channel, ts=ts)["ts"] == ts


def test_deleting_a_message_whose_ts_ends_in_zero_removes_it(
    slack: WebClient, channel: str
) -> None:
    # Slack's spec types chat.delete's ts as a number: "….684830" must not become ….68483.
    ts = post_until(slack, channel, "trailing zero", lambda ts: ts.endswith("0"))
    assert slack.chat_delete(channel=channel, ts=ts)["ok"] is True
    assert ts not in [m["ts"] for m in slack.conversations_history(channel=channel)["messages"]]


def test_a_permalink_is_the_workspace_archive_url_of_the_ts(slack: WebClient, channel: str) -> None:
    ts = slack.chat_postMessage(channel=channel, text="link me")["ts"]
    linked = slack.chat_getPermalink(channel=channel, message_ts=ts)
    assert linked["channel"] == channel
    expected = f"https://{TEAM_SLUG}.slack.com/archives/{channel}/p{ts.replace('.', '')}"
    assert linked["permalink"] == expected


def test_a_thread_replys_permalink_names_its_thread(slack: WebClient, channel: str) -> None:
    parent = slack.chat_postMessage(channel=channel, text="parent")["ts"]
    reply = slack.chat_postMessage(channel=channel, text="reply", thread_ts=parent)["ts"]
    link = slack.chat_getPermalink(channel=channel, message_ts=reply)["permalink"]
    assert link == (
        f"https://{TEAM_SLUG}.slack.com/archives/{channel}/p{reply.replace('.', '')}"
        f"?thread_ts={parent}&cid={channel}"
    )


def test_a_permalink_for_an_unknown_ts_is_message_not_found(slack: WebClient, channel: str) -> None:
    refused = slack_error(lambda: slack.chat_getPermalink(channel=channel, message_ts="1.000001"))
    assert refused["error"] == "message_not_found"


# -- reactions ------------------------------------------------------------------------------


def test_reactions_are_added_read_and_removed(slack: WebClient, channel: str) -> None:
    ts = slack.chat_postMessage(channel=channel, text="react to me")["ts"]
    assert slack.reactions_add(channel=channel, timestamp=ts, name="eyes")["ok"] is True
    got = slack.reactions_get(channel=channel, timestamp=ts)
    assert got["type"] == "message" and got["channel"] == channel
    assert got["message"]["ts"] == ts and got["message"]["text"] == "react to me"
    assert got["message"]["reactions"] == [{"name": "eyes", "users": [BOT], "count": 1}]
    history = slack.conversations_history(channel=channel)["messages"]
    assert history[0]["reactions"] == [{"name": "eyes", "users": [BOT], "count": 1}]

    twice = slack_error(lambda: slack.reactions_add(channel=channel, timestamp=ts, name="eyes"))
    assert twice["error"] == "already_reacted"

    assert slack.reactions_remove(channel=channel, timestamp=ts, name="eyes")["ok"] is True
    assert not slack.reactions_get(channel=channel, timestamp=ts)["message"].get("reactions")
    absent = slack_error(lambda: slack.reactions_remove(channel=channel, timestamp=ts, name="eyes"))
    assert absent["error"] == "no_reaction"


def test_reacting_to_an_unknown_message_is_message_not_found(
    slack: WebClient, channel: str
) -> None:
    refused = slack_error(
        lambda: slack.reactions_add(channel=channel, timestamp="1.000001", name="eyes")
    )
    assert refused["error"] == "message_not_found"


# -- users ----------------------------------------------------------------------------------


def test_users_list_holds_the_bot_and_the_configured_people(slack: WebClient) -> None:
    members = slack.users_list()["members"]
    names = [m["name"] for m in members]
    assert names[0] == "doppelbot" and members[0]["id"] == BOT and members[0]["is_bot"] is True
    assert {"ada", "grace", "linus", "margaret"} <= set(names)
    for member in members:
        info = slack.users_info(user=member["id"])["user"]
        assert (info["id"], info["name"]) == (member["id"], member["name"])


def test_a_user_is_found_by_email(slack: WebClient) -> None:
    found = slack.users_lookupByEmail(email="grace@acme.test")["user"]
    assert found["name"] == "grace" and found["real_name"] == "Grace Hopper"
    assert found["profile"]["email"] == "grace@acme.test"
    assert slack.users_info(user=found["id"])["user"]["name"] == "grace"


def test_unknown_users_are_user_not_found_and_users_not_found(slack: WebClient) -> None:
    assert slack_error(lambda: slack.users_info(user="U0NOSUCH1"))["error"] == "user_not_found"
    by_email = slack_error(lambda: slack.users_lookupByEmail(email="nobody@acme.test"))
    assert by_email["error"] == "users_not_found"


# -- a workspace that validates requests ----------------------------------------------------


@pytest.fixture(scope="module")
def validating(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebClient]:
    """The same workspace with `validate_requests` on: requests are held to Slack's
    description, and refused as Slack refuses them."""
    path = tmp_path_factory.mktemp("slack-validating") / "slack.json"
    path.write_text(json.dumps({**CONFIG, "validate_requests": True}))
    mock = MockProcess(["slack", "--config", str(path)])
    try:
        yield WebClient(token=TOKEN, base_url=f"{mock.url}/api/")
    finally:
        mock.stop()


def test_a_validating_workspace_takes_what_the_sdk_sends(validating: WebClient) -> None:
    # The token travels in the Authorization header, not as the `token` argument the
    # description requires; the SDK posts every argument as a form, those the description
    # puts in the query string too; blocks go as JSON text.
    assert validating.auth_test()["user_id"] == BOT
    assert validating.users_lookupByEmail(email="ada@acme.test")["user"]["name"] == "ada"
    eng = channel_id_named(validating, "eng")
    blocks = [{"type": "divider"}]
    ts = validating.chat_postMessage(channel=eng, text="checked", blocks=blocks)["ts"]
    assert validating.chat_getPermalink(channel=eng, message_ts=ts)["permalink"].endswith(
        f"/archives/{eng}/p{ts.replace('.', '')}"
    )
    assert validating.chat_update(channel=eng, ts=ts, text="rechecked")["text"] == "rechecked"
    assert history_texts(validating, eng)[0] == "rechecked"


def test_a_validating_workspace_refuses_a_missing_argument_as_slack_does(
    validating: WebClient,
) -> None:
    # HTTP 200, invalid_arguments, the reason in response_metadata.messages: Slack's answer,
    # though its description's error schemas have no place for response_metadata.
    def missing(field: str) -> dict[str, Any]:
        messages = [f"[ERROR] missing required field: {field}"]
        return {
            "ok": False,
            "error": "invalid_arguments",
            "response_metadata": {"messages": messages},
        }

    post = slack_error(lambda: validating.api_call("chat.postMessage", json={"text": "hi"}))
    assert post == missing("channel")
    lookup = slack_error(lambda: validating.api_call("users.lookupByEmail", params={}))
    assert lookup == missing("email")
    eng = channel_id_named(validating, "eng")
    update = slack_error(lambda: validating.api_call("chat.update", json={"channel": eng}))
    assert update == missing("ts")


def test_a_validating_workspace_still_answers_each_methods_own_code(
    validating: WebClient,
) -> None:
    eng = channel_id_named(validating, "eng")
    no_text = slack_error(lambda: validating.api_call("chat.postMessage", json={"channel": eng}))
    assert no_text == {"ok": False, "error": "no_text"}
    unknown = slack_error(lambda: validating.chat_postMessage(channel="C0NOSUCH1", text="x"))
    assert unknown == {"ok": False, "error": "channel_not_found"}
    old_news = channel_id_named(validating, "old-news")
    archived = slack_error(lambda: validating.chat_postMessage(channel=old_news, text="x"))
    assert archived == {"ok": False, "error": "is_archived"}
    nobody = slack_error(lambda: validating.users_lookupByEmail(email="nobody@acme.test"))
    assert nobody == {"ok": False, "error": "users_not_found"}
    anonymous = WebClient(base_url=validating.base_url)
    assert slack_error(anonymous.auth_test) == {"ok": False, "error": "not_authed"}


# -- authentication -------------------------------------------------------------------------


def test_no_token_is_not_authed(slack_url: str) -> None:
    anonymous = WebClient(base_url=f"{slack_url}/api/")
    assert slack_error(anonymous.auth_test)["error"] == "not_authed"
    assert slack_error(anonymous.conversations_list)["error"] == "not_authed"


def test_a_malformed_token_is_invalid_auth(slack_url: str) -> None:
    for token in ("not-a-token", "xoxb-"):
        client = WebClient(token=token, base_url=f"{slack_url}/api/")
        assert slack_error(client.auth_test)["error"] == "invalid_auth"
        assert slack_error(client.conversations_list)["error"] == "invalid_auth"


# -- pagination -----------------------------------------------------------------------------


def pages_of(response: Any, key: str, limit: int = 100) -> list[list[Any]]:
    """What iterating the SDK's response yields: one list of `key` items per page."""
    return [list(page[key]) for page in islice(response, limit)]


def test_iterating_conversations_list_two_a_page_yields_every_channel_once(
    slack: WebClient,
) -> None:
    everything = [c["id"] for c in slack.conversations_list(limit=1000)["channels"]]
    pages = pages_of(slack.conversations_list(limit=2), "channels")
    assert all(1 <= len(page) <= 2 for page in pages)
    seen = [c["id"] for page in pages for c in page]
    assert seen == everything and len(set(seen)) == len(seen)
    assert len(pages) == -(-len(everything) // 2)
    last = list(islice(slack.conversations_list(limit=2), 100))[-1]
    assert last["response_metadata"]["next_cursor"] == ""


def test_iterating_users_list_one_a_page_yields_every_user_once(slack: WebClient) -> None:
    everything = [u["id"] for u in slack.users_list()["members"]]
    pages = pages_of(slack.users_list(limit=1), "members")
    assert [len(page) for page in pages] == [1] * len(everything)
    assert [page[0]["id"] for page in pages] == everything


def test_iterating_conversations_history_two_a_page_yields_every_message_once(
    slack: WebClient,
) -> None:
    history = channel_id_named(slack, "history")
    pages = pages_of(slack.conversations_history(channel=history, limit=2), "messages")
    assert [len(page) for page in pages] == [2, 2, 2, 1]
    assert [m["text"] for page in pages for m in page] == list(reversed(HISTORY_TEXTS))


def test_a_one_page_history_has_no_more_and_no_cursor(slack: WebClient) -> None:
    history = channel_id_named(slack, "history")
    whole = slack.conversations_history(channel=history, limit=100)
    assert [m["text"] for m in whole["messages"]] == list(reversed(HISTORY_TEXTS))
    assert whole["has_more"] is False
    assert "response_metadata" not in whole


def test_history_of_a_fresh_channel_reports_no_pins_or_channel_actions(
    slack: WebClient, channel: str
) -> None:
    history = slack.conversations_history(channel=channel)
    assert history["messages"] == [] and history["has_more"] is False
    assert history["pin_count"] == 0
    assert history["channel_actions_ts"] is None and history["channel_actions_count"] == 0


def test_iterating_conversations_members_two_a_page_yields_every_member_once(
    slack: WebClient,
) -> None:
    everyone = slack.conversations_members(channel="C00000001")["members"]
    assert len(everyone) == 5
    pages = pages_of(slack.conversations_members(channel="C00000001", limit=2), "members")
    assert [len(page) for page in pages] == [2, 2, 1]
    assert [m for page in pages for m in page] == everyone


def test_a_forged_cursor_is_invalid_cursor(slack: WebClient) -> None:
    forged = base64.b64encode(b"next_ts:1700000240000400").decode()
    history = channel_id_named(slack, "history")
    refused = slack_error(
        lambda: slack.conversations_history(channel=history, limit=2, cursor=forged)
    )
    assert refused == {"ok": False, "error": "invalid_cursor"}


def test_the_workspace_url_is_the_team_slug(slack: WebClient) -> None:
    auth = slack.auth_test()
    assert auth["team"] == TEAM_NAME and auth["url"] == f"https://{TEAM_SLUG}.slack.com/"
    assert auth["user_id"] == BOT
