"""Stripe customers with the official `stripe` SDK against `doppel mock` of the Stripe-style
spec (tests/specs/stripe/openapi.yaml) in a closed world: create, retrieve, update, delete, and
list with cursor pagination. Judged by what Stripe answers (notes/provider-facts.md, Stripe
section 13): ids `cus_` + 14 alphanumerics, metadata from form-encoded `metadata[k]=v` comes
back as an object of strings, updates merge metadata, a delete answers {id, object, deleted:
true}, a missing id is a 404 `invalid_request_error` / `resource_missing`, lists are newest
first with a truthful `has_more`."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import stripe

from tests.conftest import SPECS
from tests.servers import MockProcess

API_KEY = "sk_test_" + "4eC39HqLyjWDarjtT1zdp7dc"
CUSTOMER_ID = re.compile(r"^cus_[A-Za-z0-9]{14}$")
LISTED = 7  # customers in the listing world: pages of 3, 3, 1


def serve(directory: Any, config: dict[str, Any]) -> Iterator[str]:
    path = directory / "stripe.json"
    path.write_text(json.dumps(config))
    mock = MockProcess([str(SPECS["stripe"]), "--config", str(path)])
    try:
        yield mock.url
    finally:
        mock.stop()


def client_for(url: str, api_key: str = API_KEY) -> Any:
    """The SDK's v1 services, pointed at the mock, no retries."""
    return stripe.StripeClient(api_key, base_addresses={"api": url}, max_network_retries=0).v1


@pytest.fixture(scope="module")
def stripe_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from serve(tmp_path_factory.mktemp("stripe"), {"closed_world": True})


@pytest.fixture
def v1(stripe_url: str) -> Any:
    return client_for(stripe_url)


@pytest.fixture(scope="module")
def listing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, list[str]]]:
    """A mock of its own holding LISTED customers and nothing else; the SDK and their ids,
    oldest first."""
    for url in serve(tmp_path_factory.mktemp("stripe-list"), {"closed_world": True}):
        services = client_for(url)
        made = [
            services.customers.create(params={"email": f"buyer{n}@example.com"}).id
            for n in range(LISTED)
        ]
        yield services, made


def not_found(call: Any) -> stripe.InvalidRequestError:
    with pytest.raises(stripe.InvalidRequestError) as caught:
        call()
    error = caught.value
    assert error.http_status == 404
    assert error.code == "resource_missing"
    assert isinstance(error.json_body, dict)
    assert error.json_body["error"]["type"] == "invalid_request_error"
    return error


# -- create, retrieve, update, delete -------------------------------------------------------


def test_creating_a_customer_returns_its_email_name_and_metadata(v1: Any) -> None:
    customer = v1.customers.create(
        params={"email": "jenny@example.com", "name": "Jenny Rosen", "metadata": {"plan": "pro"}}
    )
    assert CUSTOMER_ID.fullmatch(customer.id)
    assert customer.object == "customer" and customer.livemode is False
    assert customer.email == "jenny@example.com" and customer.name == "Jenny Rosen"
    assert customer.metadata.to_dict() == {"plan": "pro"}
    assert abs(customer.created - time.time()) < 600


def test_a_customer_created_with_only_an_email_has_nothing_else_set(v1: Any) -> None:
    customer = v1.customers.create(params={"email": "bare@example.com"})
    assert customer.email == "bare@example.com"
    assert customer.name is None and customer.description is None and customer.phone is None
    assert customer.currency is None
    assert customer.metadata.to_dict() == {}
    assert customer.balance == 0


def test_metadata_sent_as_form_brackets_comes_back_as_an_object(stripe_url: str) -> None:
    response = httpx.post(
        f"{stripe_url}/v1/customers",
        auth=(API_KEY, ""),
        data={"email": "form@example.com", "metadata[plan]": "pro", "metadata[seats]": "3"},
        trust_env=False,
    )
    assert response.status_code == 200
    assert response.json()["metadata"] == {"plan": "pro", "seats": "3"}


def test_customer_ids_are_unique(v1: Any) -> None:
    ids = [v1.customers.create(params={"email": f"u{n}@example.com"}).id for n in range(12)]
    assert all(CUSTOMER_ID.fullmatch(i) for i in ids)
    assert len(set(ids)) == len(ids)


def test_retrieving_a_customer_returns_what_was_created(v1: Any) -> None:
    made = v1.customers.create(
        params={"email": "grace@example.com", "name": "Grace", "metadata": {"plan": "pro"}}
    )
    got = v1.customers.retrieve(made.id)
    assert got.to_dict() == made.to_dict()


def test_updating_a_customer_merges_metadata_and_keeps_the_rest(v1: Any) -> None:
    made = v1.customers.create(
        params={"email": "ada@example.com", "name": "Ada", "metadata": {"plan": "pro"}}
    )
    updated = v1.customers.update(
        made.id, params={"name": "Ada Lovelace", "metadata": {"seats": "5"}}
    )
    assert updated.id == made.id and updated.name == "Ada Lovelace"
    assert updated.email == "ada@example.com"
    assert updated.metadata.to_dict() == {"plan": "pro", "seats": "5"}
    assert v1.customers.retrieve(made.id).to_dict() == updated.to_dict()


def test_deleting_a_customer_answers_deleted_and_it_is_gone(v1: Any) -> None:
    made = v1.customers.create(params={"email": "leaving@example.com"})
    deleted = v1.customers.delete(made.id)
    assert deleted.to_dict() == {"id": made.id, "object": "customer", "deleted": True}
    not_found(lambda: v1.customers.retrieve(made.id))
    not_found(lambda: v1.customers.update(made.id, params={"name": "Ghost"}))
    not_found(lambda: v1.customers.delete(made.id))


def test_an_unknown_customer_is_a_404_resource_missing(v1: Any) -> None:
    error = not_found(lambda: v1.customers.retrieve("cus_DoesNotExist00"))
    assert error.json_body["error"]["param"] == "id"


def test_the_404_names_the_missing_customer(v1: Any) -> None:
    error = not_found(lambda: v1.customers.retrieve("cus_DoesNotExist00"))
    assert error.json_body["error"]["message"] == "No such customer: 'cus_DoesNotExist00'"


# -- lists ----------------------------------------------------------------------------------


def test_auto_paging_yields_every_customer_exactly_once(listing: tuple[Any, list[str]]) -> None:
    v1, made = listing
    seen = [c.id for c in v1.customers.list(params={"limit": 3}).auto_paging_iter()]
    assert len(seen) == len(set(seen)) == LISTED
    assert set(seen) == set(made)


def test_customers_are_listed_newest_first(listing: tuple[Any, list[str]]) -> None:
    v1, made = listing
    assert [c.id for c in v1.customers.list(params={"limit": 100}).data] == made[::-1]
    seen = [c.id for c in v1.customers.list(params={"limit": 3}).auto_paging_iter()]
    assert seen == made[::-1]


def test_pages_follow_starting_after_with_a_truthful_has_more(
    listing: tuple[Any, list[str]],
) -> None:
    v1, made = listing
    pages, after = [], None
    for _ in range(10):
        params: dict[str, Any] = {"limit": 3}
        if after is not None:
            params["starting_after"] = after
        page = v1.customers.list(params=params)
        assert page.object == "list" and page.url == "/v1/customers"
        pages.append(([c.id for c in page.data], page.has_more))
        if not page.has_more:
            break
        after = page.data[-1].id
    assert [(len(ids), more) for ids, more in pages] == [(3, True), (3, True), (1, False)]
    assert sorted(i for ids, _ in pages for i in ids) == sorted(made)


def test_ending_before_returns_the_page_before(listing: tuple[Any, list[str]]) -> None:
    v1, _ = listing
    first = v1.customers.list(params={"limit": 3})
    second = v1.customers.list(params={"limit": 3, "starting_after": first.data[-1].id})
    back = v1.customers.list(params={"limit": 3, "ending_before": second.data[0].id})
    assert {c.id for c in back.data} == {c.id for c in first.data}
    assert back.has_more is False  # nothing comes before the first page


def test_a_limit_outside_1_to_100_is_refused(listing: tuple[Any, list[str]]) -> None:
    v1, _ = listing
    for limit in (0, 101):
        with pytest.raises(stripe.InvalidRequestError) as caught:
            v1.customers.list(params={"limit": limit})
        assert caught.value.http_status == 400


# -- authentication -------------------------------------------------------------------------


def test_a_request_without_an_api_key_is_a_401(stripe_url: str) -> None:
    response = httpx.get(f"{stripe_url}/v1/customers", trust_env=False)
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "invalid_request_error"


@pytest.fixture(scope="module")
def enforcing_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    config = {"closed_world": True, "enforce_auth": True}
    yield from serve(tmp_path_factory.mktemp("stripe-auth"), config)


def test_with_auth_enforced_no_key_is_a_401_saying_so(enforcing_url: str) -> None:
    response = httpx.get(f"{enforcing_url}/v1/customers", trust_env=False)
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["message"].startswith("You did not provide an API key")
    assert "code" not in error or error["code"] != "resource_missing"


def test_with_auth_enforced_a_malformed_key_is_refused(enforcing_url: str) -> None:
    with pytest.raises(stripe.AuthenticationError) as caught:
        client_for(enforcing_url, api_key="garbage").customers.list()
    assert caught.value.http_status == 401
