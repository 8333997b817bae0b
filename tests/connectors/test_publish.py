"""Status broadcasts: ``Connector.publish`` posts top level, chains a long text, resumes, and fails typed.

Every network that can publish describes itself once in a :class:`PublishCase` (where parts go, how to read
which post a part answers, what the network answers); the generic tests below then check the contract on each
of them, and a few network tests check the documented endpoint and body. Payloads are shaped like each
network's documented answers (tests/fixtures/<network>/).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import pytest
import requests
import responses

from social_itsm_app.connectors import (
	NETWORKS,
	AuthError,
	ConnectorError,
	RateLimited,
	SentReply,
	connector_class,
	get_connector,
)
from social_itsm_app.connectors.split import MEASURES
from tests.connectors.contract import load_fixture

LONG = "The VPN gateway in Frankfurt is down since 09:12 UTC; we are switching traffic to Amsterdam. " * 12


@dataclass
class Part:
	"""One part the fake network received: the post it answers (None: top level) and its text."""

	target: str | None
	text: str
	request: requests.PreparedRequest


@dataclass
class PublishCase:
	network: str
	config: dict[str, Any]
	# Every (method, URL) a part may be posted to.
	endpoints: list[tuple[str, str | re.Pattern]]
	# Reads one posted part: (the network's success answer for part number n, the post it answers, its text).
	answer: Callable[[requests.PreparedRequest, int], tuple[Any, str | None, str]]
	# The post part i (i >= 1) must answer, given the parts sent: the previous one unless the network says otherwise.
	chained_to: Callable[[list[SentReply], int], str] = lambda sent, i: sent[i - 1].external_id
	# Calls made before a part (a login), registered for every test.
	prelude: Callable[[responses.RequestsMock], None] | None = None
	rate_limit_headers: dict[str, str] = field(default_factory=lambda: {"Retry-After": "120"})
	rate_limit_body: Any = field(default_factory=lambda: {"error": "Too many requests"})
	auth_status: int = 401
	auth_body: Any = field(default_factory=lambda: {"error": "The access token is invalid"})


class FakeNetwork:
	"""A ``responses`` callback standing for the network: records each part, answers it, or fails on cue."""

	def __init__(self, case: PublishCase, faults: dict[int, tuple[int, dict[str, str], Any]] | None = None):
		self.case = case
		self.faults = faults or {}
		self.parts: list[Part] = []

	def register(self, rsps: responses.RequestsMock) -> None:
		if self.case.prelude:
			self.case.prelude(rsps)
		for method, url in self.case.endpoints:
			rsps.add_callback(method, url, callback=self)

	def __call__(self, request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
		number = len(self.parts)
		payload, target, text = self.case.answer(request, number)
		self.parts.append(Part(target, text, request))
		if number in self.faults:
			status, headers, body = self.faults[number]
			return status, headers, json.dumps(body)
		return 200, {"Content-Type": "application/json"}, json.dumps(payload)


def form(request: requests.PreparedRequest) -> dict[str, str]:
	body = request.body.decode() if isinstance(request.body, bytes) else request.body or ""
	return {key: values[0] for key, values in parse_qs(body).items()}


def body_json(request: requests.PreparedRequest) -> dict[str, Any]:
	return json.loads(request.body)


# --- Mastodon ----------------------------------------------------------------------------------------------

MASTODON = "https://mastodon.example"


def mastodon_answer(request: requests.PreparedRequest, number: int) -> tuple[Any, str | None, str]:
	sent = form(request)
	status_id = f"11350000000000{number + 1:04d}"
	payload = {
		**load_fixture("mastodon", "status_created"),
		"id": status_id,
		"in_reply_to_id": sent.get("in_reply_to_id"),
		"url": f"{MASTODON}/@acmehelp/{status_id}",
	}
	return payload, sent.get("in_reply_to_id"), sent["status"]


CASES = [
	PublishCase(
		network="mastodon",
		config={"base_url": MASTODON, "access_token": "masto-token-SECRET-99"},
		endpoints=[("POST", f"{MASTODON}/api/v1/statuses")],
		answer=mastodon_answer,
		rate_limit_headers={"X-RateLimit-Reset": "2026-11-23T08:30:00.000Z"},
	),
]


@pytest.fixture(params=CASES, ids=lambda case: case.network)
def case(request) -> PublishCase:
	return request.param


def connector(case: PublishCase, **overrides: Any):
	return get_connector(case.network, {"http_backoff": 0, **case.config, **overrides})


def secrets(case: PublishCase) -> list[str]:
	conn = connector(case)
	return [str(conn.config[key]) for key in conn.secret_keys if conn.config.get(key)]


def publish(case: PublishCase, text: str, faults=None, **kwargs: Any) -> tuple[list[SentReply], FakeNetwork]:
	network = FakeNetwork(case, faults)
	with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
		network.register(rsps)
		sent = connector(case, **kwargs.pop("config", {})).publish(text, **kwargs)
	return sent, network


def publish_error(case: PublishCase, text: str, faults, **kwargs: Any) -> tuple[ConnectorError, FakeNetwork]:
	network = FakeNetwork(case, faults)
	with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
		network.register(rsps)
		with pytest.raises(ConnectorError) as caught:
			connector(case, **kwargs.pop("config", {})).publish(text, **kwargs)
	return caught.value, network


# --- the contract, on every network that publishes ----------------------------------------------------------


def test_every_network_that_publishes_is_tested_and_says_where():
	classes = [connector_class(network) for network in NETWORKS]
	assert {cls.network for cls in classes if cls.can_publish} <= {case.network for case in CASES}
	for cls in classes:
		if not cls.can_publish and cls.network != "feed":
			continue  # TODO(H3): the remaining networks follow
		assert cls.publish_note, f"{cls.network}: publish_note tells admins where a broadcast goes or why not"


def test_a_short_text_is_one_top_level_post(case):
	seen: list[SentReply] = []
	sent, network = publish(case, "Investigating: VPN logins fail in Frankfurt.", on_sent=seen.append)
	assert len(sent) == 1 and len(network.parts) == 1
	assert network.parts[0].target is None
	assert network.parts[0].text == "Investigating: VPN logins fail in Frankfurt."
	assert sent[0].external_id and sent[0].url
	assert seen == sent


def test_a_long_text_is_a_numbered_chain_each_part_answering_the_one_before(case):
	seen: list[SentReply] = []
	sent, network = publish(case, LONG, on_sent=seen.append)
	conn = connector(case)
	assert len(sent) == len(network.parts) >= 2
	assert seen == sent
	assert network.parts[0].target is None
	for index, part in enumerate(network.parts):
		assert part.text.endswith(f"({index + 1}/{len(sent)})")
		assert MEASURES[conn.measure](part.text) <= conn.publish_limit()
		if index:
			assert part.target == case.chained_to(sent, index)


def test_already_sent_parts_are_skipped(case):
	first, _ = publish(case, LONG)
	sent, network = publish(case, LONG, already_sent=first[:1])
	assert sent[0] == first[0] and len(sent) == len(first)
	assert len(network.parts) == len(first) - 1
	assert network.parts[0].target == case.chained_to(sent, 1)
	assert network.parts[0].text.endswith(f"(2/{len(first)})")


def test_a_rate_limit_mid_chain_says_when_and_what_was_sent(case):
	error, network = publish_error(case, LONG, {1: (429, case.rate_limit_headers, case.rate_limit_body)})
	assert isinstance(error, RateLimited)
	assert error.reset_at.tzinfo is not None
	assert len(error.sent) == 1 and network.parts[0].target is None


def test_a_gateway_error_after_the_post_left_may_have_delivered_it(case):
	error, _ = publish_error(case, LONG, {1: (502, {}, {"error": "bad gateway"})}, config={"http_retries": 0})
	assert not isinstance(error, RateLimited | AuthError)
	assert error.maybe_delivered
	assert len(error.sent) == 1


def test_refused_credentials_are_an_auth_error_without_secrets(case):
	body = {"echo": " ".join(secrets(case)), **case.auth_body} if isinstance(case.auth_body, dict) else case.auth_body
	error, _ = publish_error(case, "Resolved.", {0: (case.auth_status, {}, body)})
	assert isinstance(error, AuthError)
	for secret in secrets(case):
		assert secret not in str(error) and secret not in repr(error.args)


def test_any_failure_leaves_as_a_connector_error_without_chain(case):
	def broken(request):
		raise RuntimeError(f"parser exploded near {' '.join(secrets(case))}")

	with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
		if case.prelude:
			case.prelude(rsps)
		for method, url in case.endpoints:
			rsps.add_callback(method, url, callback=broken)
		with pytest.raises(ConnectorError) as caught:
			connector(case).publish("Resolved.")
	assert caught.value.__cause__ is None and caught.value.__context__ is None
	assert caught.value.sent == []
	for secret in secrets(case):
		assert secret not in str(caught.value)


def test_an_answer_of_the_wrong_shape_is_a_connector_error(case):
	with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
		if case.prelude:
			case.prelude(rsps)
		for method, url in case.endpoints:
			rsps.add(method, url, json=[["not", "a", "post"]])
		with pytest.raises(ConnectorError):
			connector(case).publish("Resolved.")


def test_an_empty_text_is_refused_before_any_call(case):
	with responses.RequestsMock(assert_all_requests_are_fired=False):
		with pytest.raises(ConnectorError, match="nothing to publish"):
			connector(case).publish("   \n ")


# --- networks that cannot publish ------------------------------------------------------------------------


def test_a_feed_refuses_to_publish():
	feed = get_connector("feed", {"url": "https://status.example.com/feed.xml"})
	assert not feed.can_publish
	with responses.RequestsMock():  # no request at all
		with pytest.raises(ConnectorError, match="Feed channels are read-only"):
			feed.publish("Resolved.")


# --- network specifics --------------------------------------------------------------------------------------


def test_mastodon_posts_a_public_status_with_the_callers_idempotency_key():
	mastodon = CASES[0]
	sent, network = publish(mastodon, LONG, idempotency_key="broadcast-7-mastodon")
	first, second = network.parts[:2]
	assert first.request.url == f"{MASTODON}/api/v1/statuses"
	assert form(first.request) == {"status": first.text, "visibility": "public"}
	assert form(second.request)["in_reply_to_id"] == sent[0].external_id
	keys = [part.request.headers["Idempotency-Key"] for part in network.parts]
	assert keys == [f"broadcast-7-mastodon-{i}" for i in range(len(sent))]
	assert first.request.headers["Authorization"] == "Bearer masto-token-SECRET-99"


def test_mastodon_retries_a_5xx_under_the_same_key():
	mastodon = CASES[0]
	sent, network = publish(mastodon, "Resolved.", {0: (503, {}, {"error": "busy"})})
	assert len(sent) == 1 and len(network.parts) == 2
	assert len({part.request.headers["Idempotency-Key"] for part in network.parts}) == 1


def test_mastodon_fake_server_takes_a_broadcast_once_per_key():
	"""The fake server H4's site tests use: top-level statuses, and a resent key answered with the first status."""
	from tests.fakes.mastodon_server import FakeMastodon

	with FakeMastodon(seed=3, arrival_rate=0, initial_mentions=0) as server:
		config = {"base_url": server.base_url, "access_token": server.token, "http_backoff": 0}
		first = get_connector("mastodon", config).publish(LONG, idempotency_key="broadcast-9")
		again = get_connector("mastodon", config).publish(LONG, idempotency_key="broadcast-9")
	assert again == first
	assert len(server.created) == len(first) >= 2
	assert server.created[0]["in_reply_to_id"] is None
	assert [c["in_reply_to_id"] for c in server.created[1:]] == [s.external_id for s in first[:-1]]
	assert {c["visibility"] for c in server.created} == {"public"}
