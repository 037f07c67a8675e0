"""Twilio messaging over plain HTTP (form bodies, HTTP basic auth) against `doppel mock` of
a template made of Twilio's own 2010-04-01 description and a page of declarations
(templates/twilio: the worked example of docs/templates.md), in a closed world: an account
is made first, then its messages are sent, fetched, redacted, deleted, listed page by page
and filtered. Judged by
what Twilio answers (notes/provider-facts.md, Twilio section 14): SIDs `SM` + 32 hex, RFC 2822
dates, `uri` /2010-04-01/Accounts/{AC}/Messages/{SM}.json, create 201, delete 204, list pages
linked by next_page_uri until it is null, errors {code, message, more_info, status}."""

from __future__ import annotations

import email.utils
import json
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.servers import MockProcess

TEMPLATE = Path(__file__).parent / "templates" / "twilio"  # the spec, and what it cannot say
MAIN_SID = "AC" + "5f1e2d3c4b5a69788796a5b4c3d2e1f0"  # the account whose credentials we use
AUTH_TOKEN = "9b1f0e2d3c4a5b697887766554433221"
BASE = "/2010-04-01"
SID = {"AC": re.compile(r"^AC[0-9a-f]{32}$"), "SM": re.compile(r"^SM[0-9a-f]{32}$")}
ALICE, BOB, SHOP, SUPPORT = "+15551230001", "+15551230002", "+15559870000", "+15559870001"


@pytest.fixture(scope="module")
def twilio_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    path = tmp_path_factory.mktemp("twilio") / "twilio.json"
    path.write_text(json.dumps({"closed_world": True}))
    mock = MockProcess([str(TEMPLATE), "--config", str(path)])
    try:
        yield mock.url
    finally:
        mock.stop()


@pytest.fixture
def twilio(twilio_url: str) -> Iterator[httpx.Client]:
    auth = (MAIN_SID, AUTH_TOKEN)
    with httpx.Client(base_url=twilio_url, auth=auth, trust_env=False, timeout=10) as client:
        yield client


@pytest.fixture
def account(twilio: httpx.Client) -> str:
    """A fresh (sub)account, made the way a closed world wants it: POST /Accounts.json."""
    made = twilio.post(f"{BASE}/Accounts.json", data={"FriendlyName": "workflow sandbox"})
    assert made.status_code == 201, made.text
    return str(made.json()["sid"])


def send(twilio: httpx.Client, account: str, to: str, body: str, sender: str = SHOP) -> Any:
    response = twilio.post(
        f"{BASE}/Accounts/{account}/Messages.json", data={"To": to, "From": sender, "Body": body}
    )
    assert response.status_code == 201, response.text
    return response.json()


def message_path(account: str, sid: str) -> str:
    return f"{BASE}/Accounts/{account}/Messages/{sid}.json"


def twilio_404(path: str) -> dict[str, Any]:
    return {
        "code": 20404,
        "message": f"The requested resource {path} was not found",
        "more_info": "https://www.twilio.com/docs/errors/20404",
        "status": 404,
    }


# -- accounts -------------------------------------------------------------------------------


def test_creating_an_account_answers_a_new_account(twilio: httpx.Client) -> None:
    made = twilio.post(f"{BASE}/Accounts.json", data={"FriendlyName": "Team sandbox"})
    assert made.status_code == 201
    account = made.json()
    assert SID["AC"].fullmatch(account["sid"]) and account["sid"] != MAIN_SID
    assert account["friendly_name"] == "Team sandbox" and account["status"] == "active"
    fetched = twilio.get(f"{BASE}/Accounts/{account['sid']}.json")
    assert fetched.status_code == 200
    assert (fetched.json()["sid"], fetched.json()["friendly_name"]) == (
        account["sid"],
        "Team sandbox",
    )


def test_a_new_subaccount_belongs_to_the_account_that_made_it(twilio: httpx.Client) -> None:
    account = twilio.post(f"{BASE}/Accounts.json", data={"FriendlyName": "Sub"}).json()
    sid = account["sid"]
    assert account["owner_account_sid"] == MAIN_SID
    assert re.fullmatch(r"[0-9a-f]{32}", account["auth_token"])
    assert account["uri"] == f"{BASE}/Accounts/{sid}.json"
    assert account["subresource_uris"]["messages"] == f"{BASE}/Accounts/{sid}/Messages.json"


# -- one message ----------------------------------------------------------------------------


def test_sending_a_message_answers_it_with_to_from_and_body(
    twilio: httpx.Client, account: str
) -> None:
    response = twilio.post(
        f"{BASE}/Accounts/{account}/Messages.json",
        data={"To": ALICE, "From": SHOP, "Body": "Your order has shipped"},
    )
    assert response.status_code == 201
    message = response.json()
    assert (message["to"], message["from"], message["body"]) == (
        ALICE,
        SHOP,
        "Your order has shipped",
    )
    assert SID["SM"].fullmatch(message["sid"])
    assert message["uri"] == message_path(account, message["sid"])
    assert message["api_version"] == "2010-04-01" and message["direction"] == "outbound-api"
    assert message["status"] in {"queued", "accepted"}
    assert (message["num_segments"], message["num_media"]) == ("1", "0")
    created = email.utils.parsedate_to_datetime(message["date_created"])
    assert message["date_created"].endswith(" +0000")
    server_now = email.utils.parsedate_to_datetime(response.headers["date"])
    assert abs(created - server_now) < timedelta(seconds=5)
    assert message["date_updated"] == message["date_created"]


def test_a_sent_message_belongs_to_its_account(twilio: httpx.Client, account: str) -> None:
    message = send(twilio, account, ALICE, "hello")
    assert message["account_sid"] == account
    assert message["subresource_uris"]["media"] == (
        f"{BASE}/Accounts/{account}/Messages/{message['sid']}/Media.json"
    )
    assert message["messaging_service_sid"] is None
    assert message["date_sent"] is None


def test_message_sids_are_unique(twilio: httpx.Client, account: str) -> None:
    sids = [send(twilio, account, ALICE, f"n{n}")["sid"] for n in range(10)]
    assert len(set(sids)) == len(sids)


def test_fetching_a_message_returns_what_was_sent(twilio: httpx.Client, account: str) -> None:
    sent = send(twilio, account, BOB, "Fetch me")
    fetched = twilio.get(message_path(account, sent["sid"]))
    assert fetched.status_code == 200
    assert fetched.json() == sent


def test_redacting_a_messages_body_changes_later_reads(twilio: httpx.Client, account: str) -> None:
    sent = send(twilio, account, ALICE, "Your code is 123456")
    redacted = twilio.post(message_path(account, sent["sid"]), data={"Body": ""})
    assert redacted.status_code == 200
    assert redacted.json()["sid"] == sent["sid"] and redacted.json()["body"] == ""
    assert twilio.get(message_path(account, sent["sid"])).json()["body"] == ""
    listed = twilio.get(f"{BASE}/Accounts/{account}/Messages.json").json()["messages"]
    assert [m["body"] for m in listed if m["sid"] == sent["sid"]] == [""]


def test_deleting_a_message_is_204_and_then_it_is_gone(twilio: httpx.Client, account: str) -> None:
    sent = send(twilio, account, ALICE, "Delete me")
    deleted = twilio.delete(message_path(account, sent["sid"]))
    assert deleted.status_code == 204 and deleted.content == b""
    assert twilio.get(message_path(account, sent["sid"])).status_code == 404
    listed = twilio.get(f"{BASE}/Accounts/{account}/Messages.json").json()["messages"]
    assert sent["sid"] not in [m["sid"] for m in listed]
    assert twilio.delete(message_path(account, sent["sid"])).status_code == 404


def test_a_missing_message_is_twilios_20404(twilio: httpx.Client, account: str) -> None:
    sent = send(twilio, account, ALICE, "Short-lived")
    path = message_path(account, sent["sid"])
    twilio.delete(path)
    response = twilio.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == twilio_404(path)


def test_in_a_closed_world_an_unknown_message_is_404(twilio: httpx.Client, account: str) -> None:
    response = twilio.get(message_path(account, "SM" + "1" * 32))
    assert response.status_code == 404


def test_in_a_closed_world_an_unknown_account_is_404(twilio: httpx.Client) -> None:
    unknown = "AC" + "1" * 32
    assert twilio.get(f"{BASE}/Accounts/{unknown}.json").status_code == 404
    posted = twilio.post(
        f"{BASE}/Accounts/{unknown}/Messages.json", data={"To": ALICE, "From": SHOP, "Body": "x"}
    )
    assert posted.status_code == 404


def test_a_message_without_to_or_body_is_refused(twilio: httpx.Client, account: str) -> None:
    path = f"{BASE}/Accounts/{account}/Messages.json"
    no_to = twilio.post(path, data={"From": SHOP, "Body": "to nobody"})
    assert no_to.status_code == 400 and no_to.json()["code"] == 21604
    no_body = twilio.post(path, data={"To": ALICE, "From": SHOP})
    assert no_body.status_code == 400 and no_body.json()["code"] == 21602


# -- lists ----------------------------------------------------------------------------------


def walk(twilio: httpx.Client, first: str) -> list[dict[str, Any]]:
    """Every page, following next_page_uri until it is null."""
    pages, url = [], first
    for _ in range(50):
        response = twilio.get(url)
        assert response.status_code == 200, response.text
        pages.append(response.json())
        url = pages[-1]["next_page_uri"]
        if url is None:
            return pages
    raise AssertionError("next_page_uri never became null")


def test_paging_two_at_a_time_yields_every_message_once(twilio: httpx.Client, account: str) -> None:
    sent = [send(twilio, account, ALICE, f"page test {n}")["sid"] for n in range(5)]
    pages = walk(twilio, f"{BASE}/Accounts/{account}/Messages.json?PageSize=2")
    assert [len(p["messages"]) for p in pages] == [2, 2, 1]
    seen = [m["sid"] for p in pages for m in p["messages"]]
    assert sorted(seen) == sorted(sent) and len(set(seen)) == len(seen)
    assert [p["page"] for p in pages] == [0, 1, 2]
    assert all(p["page_size"] == 2 for p in pages)
    assert [(p["start"], p["end"]) for p in pages] == [(0, 1), (2, 3), (4, 4)]
    assert pages[0]["previous_page_uri"] is None
    assert all(p["previous_page_uri"] for p in pages[1:])
    first = f"{BASE}/Accounts/{account}/Messages.json?PageSize=2&Page=0"
    assert all(p["first_page_uri"] == first for p in pages)


def test_the_default_page_holds_fifty(twilio: httpx.Client, account: str) -> None:
    send(twilio, account, ALICE, "one")
    page = twilio.get(f"{BASE}/Accounts/{account}/Messages.json").json()
    assert page["page_size"] == 50 and page["next_page_uri"] is None
    assert len(page["messages"]) == 1


def test_a_pages_uri_is_the_page_asked_for(twilio: httpx.Client, account: str) -> None:
    send(twilio, account, ALICE, "one")
    page = twilio.get(f"{BASE}/Accounts/{account}/Messages.json", params={"PageSize": 2}).json()
    assert page["uri"] == f"{BASE}/Accounts/{account}/Messages.json?PageSize=2&Page=0"


def test_to_and_from_filters_narrow_the_list(twilio: httpx.Client, account: str) -> None:
    to_alice = send(twilio, account, ALICE, "a1")["sid"]
    to_bob = send(twilio, account, BOB, "b1")["sid"]
    support_to_bob = send(twilio, account, BOB, "b2", sender=SUPPORT)["sid"]
    path = f"{BASE}/Accounts/{account}/Messages.json"

    def sids(**params: str) -> set[str]:
        page = twilio.get(path, params=params).json()
        assert page["next_page_uri"] is None
        return {m["sid"] for m in page["messages"]}

    assert sids(To=BOB) == {to_bob, support_to_bob}
    assert sids(To=ALICE) == {to_alice}
    assert sids(From=SUPPORT) == {support_to_bob}
    assert sids(From=SHOP, To=BOB) == {to_bob}
    assert sids(To="+15550000000") == set()
    filtered = twilio.get(path, params={"To": BOB, "PageSize": 1}).json()
    assert filtered["first_page_uri"] == f"{path}?To=%2B15551230002&PageSize=1&Page=0"
    assert "To=%2B15551230002" in filtered["next_page_uri"]


# -- authentication -------------------------------------------------------------------------


def test_a_request_without_credentials_is_a_401(twilio_url: str, account: str) -> None:
    response = httpx.get(f"{twilio_url}{BASE}/Accounts/{account}/Messages.json", trust_env=False)
    assert response.status_code == 401
    assert response.json() == {
        "code": 20003,
        "message": "Authenticate",
        "more_info": "https://www.twilio.com/docs/errors/20003",
        "status": 401,
    }
