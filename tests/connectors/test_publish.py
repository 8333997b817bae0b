"""Status broadcasts: ``Connector.publish`` posts top level, chains a long text, resumes, and fails typed.

Every network that can publish describes itself once in a :class:`PublishCase` (where parts go, how to read
which post a part answers, what the network answers); the generic tests below then check the contract on each
of them, and a few network tests check the documented endpoint and body. Payloads are shaped like each
network's documented answers (tests/fixtures/<network>/).
"""

from __future__ import annotations

import base64
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

RESOLVED = "Resolved: VPN logins work again in Frankfurt."
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
	rate_limit_status: int = 429
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


# --- Bluesky -----------------------------------------------------------------------------------------------

BSKY = "https://bsky.example/xrpc"
BSKY_DID = "did:plc:acmehelp5dzzi6pc4ktk2"


def bluesky_answer(request: requests.PreparedRequest, number: int) -> tuple[Any, str | None, str]:
	record = body_json(request)["record"]
	uri = f"at://{BSKY_DID}/app.bsky.feed.post/3lbpub{number + 1:04d}"
	payload = {**load_fixture("bluesky", "create_record"), "uri": uri, "cid": f"bafyreipub{number + 1:04d}"}
	return payload, (record.get("reply") or {}).get("parent", {}).get("uri"), record["text"]


def bluesky_records(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
	"""``getRecord`` of one of our earlier top-level parts (a chain resumed by a new connector)."""
	rkey = parse_qs(request.url.split("?", 1)[1])["rkey"][0]
	uri = f"at://{BSKY_DID}/app.bsky.feed.post/{rkey}"
	record = {"$type": "app.bsky.feed.post", "text": "(1/2)", "createdAt": "2026-11-23T08:20:00.000Z"}
	return 200, {}, json.dumps({"uri": uri, "cid": "bafyreipub" + rkey[-4:], "value": record})


def bluesky_prelude(rsps: responses.RequestsMock) -> None:
	rsps.add(responses.POST, f"{BSKY}/com.atproto.server.refreshSession", json=load_fixture("bluesky", "session"))
	rsps.add(responses.POST, f"{BSKY}/com.atproto.server.createSession", json=load_fixture("bluesky", "session"))
	rsps.add_callback(responses.GET, re.compile(f"{BSKY}/com.atproto.repo.getRecord.*"), callback=bluesky_records)


def jwt(subject: str, expires: int, tag: str) -> str:
	claims = base64.urlsafe_b64encode(json.dumps({"sub": subject, "exp": expires}).encode()).decode().rstrip("=")
	return f"eyJhbGciOiJFUzI1NksifQ.{claims}.{tag}-signature"


# --- X ----------------------------------------------------------------------------------------------------

X_API = "https://api.x.com/2"


def x_answer(request: requests.PreparedRequest, number: int) -> tuple[Any, str | None, str]:
	sent = body_json(request)
	tweet_id = str(1861237000000000100 + number)
	payload = {**load_fixture("x", "post_created"), "data": {"id": tweet_id, "text": sent["text"], "edit_history_tweet_ids": [tweet_id]}}
	return payload, (sent.get("reply") or {}).get("in_reply_to_tweet_id"), sent["text"]


# --- Facebook Page --------------------------------------------------------------------------------------------

GRAPH = "https://graph.facebook.com/v21.0"
PAGE_ID = "104000000000001"


def facebook_answer(request: requests.PreparedRequest, number: int) -> tuple[Any, str | None, str]:
	path = request.path_url.split("?", 1)[0].removeprefix("/v21.0/")
	target = None if path == f"{PAGE_ID}/feed" else path.removesuffix("/comments")
	object_id = f"{PAGE_ID}_12211000000000{number + 1:04d}" if target is None else f"12211000000000{number + 1:04d}_9000"
	return {"id": object_id}, target, form(request)["message"]


# --- Telegram ---------------------------------------------------------------------------------------------

BOT_TOKEN = "6000000001:AAH-telegram-SECRET-token"
STATUS_CHANNEL = {"id": -1001234567890, "title": "Acme status", "username": "acme_status", "type": "channel"}


def telegram_answer(request: requests.PreparedRequest, number: int) -> tuple[Any, str | None, str]:
	sent = body_json(request)
	reply = sent.get("reply_parameters")
	target = f"{sent['chat_id']}:{reply['message_id']}" if reply else None
	message = {"message_id": 101 + number, "sender_chat": STATUS_CHANNEL, "chat": STATUS_CHANNEL, "date": 1795421000,
		"text": sent["text"]}
	return {"ok": True, "result": message}, target, sent["text"]


# --- Discourse --------------------------------------------------------------------------------------------

FORUM = "https://forum.example.com"
STATUS_TOPIC = 77


def discourse_answer(request: requests.PreparedRequest, number: int) -> tuple[Any, str | None, str]:
	"""Post ids and numbers go together (id 1300 is post 2, ...), so a reply's post number names the part."""
	sent = body_json(request)
	replied = sent.get("reply_to_post_number")
	payload = {
		**load_fixture("discourse", "post_created"),
		"id": 1300 + number,
		"post_number": number + 2,
		"topic_id": sent.get("topic_id") or 91,
		"topic_slug": "service-status",
		"raw": sent["raw"],
	}
	return payload, str(1300 + replied - 2) if replied else None, sent["raw"]


# --- Reddit -----------------------------------------------------------------------------------------------

REDDIT = "https://oauth.reddit.com"


def reddit_answer(request: requests.PreparedRequest, number: int) -> tuple[Any, str | None, str]:
	sent = form(request)
	if request.path_url.startswith("/api/submit"):
		data = {"url": f"https://www.reddit.com/r/acmestatus/comments/pub{number}/vpn_down/", "drafts_count": 0,
			"id": f"pub{number}", "name": f"t3_pub{number}"}
		return {"json": {"errors": [], "data": data}}, None, sent["text"]
	comment = load_fixture("reddit", "comment_created")
	comment["json"]["data"]["things"][0]["data"].update(name=f"t1_c{number}", id=f"c{number}", body=sent["text"],
		parent_id=sent["thing_id"], permalink=f"/r/acmestatus/comments/pub0/vpn_down/c{number}/")
	return comment, sent["thing_id"], sent["text"]


def reddit_prelude(rsps: responses.RequestsMock) -> None:
	rsps.add(responses.POST, "https://www.reddit.com/api/v1/access_token", json=load_fixture("reddit", "token"))


CASES = [
	PublishCase(
		network="mastodon",
		config={"base_url": MASTODON, "access_token": "masto-token-SECRET-99"},
		endpoints=[("POST", f"{MASTODON}/api/v1/statuses")],
		answer=mastodon_answer,
		rate_limit_headers={"X-RateLimit-Reset": "2026-11-23T08:30:00.000Z"},
	),
	PublishCase(
		network="bluesky",
		config={
			"base_url": BSKY.removesuffix("/xrpc"),
			"identifier": "acme.help",
			"app_password": "abcd-efgh-ijkl-mnop",
			"access_jwt": jwt(BSKY_DID, 4102444800, "stored-access"),
			"refresh_jwt": jwt(BSKY_DID, 4102444800, "stored-refresh"),
			"did": BSKY_DID,
			"handle": "acme.help",
		},
		endpoints=[("POST", f"{BSKY}/com.atproto.repo.createRecord")],
		answer=bluesky_answer,
		prelude=bluesky_prelude,
		rate_limit_headers={"ratelimit-remaining": "0", "ratelimit-reset": "1795421100"},
		rate_limit_body={"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"},
		auth_body={"error": "AuthenticationRequired", "message": "Invalid identifier or password"},
	),
	PublishCase(
		network="x",
		config={"bearer_token": "x-user-token-SECRET-1", "user_id": "1500000000000000001"},
		endpoints=[("POST", f"{X_API}/tweets")],
		answer=x_answer,
		rate_limit_headers={"x-rate-limit-limit": "100", "x-rate-limit-remaining": "0", "x-rate-limit-reset": "1795421100"},
		rate_limit_body=load_fixture("x", "rate_limited"),
		auth_body={"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"},
	),
	PublishCase(
		network="facebook",
		config={"page_id": PAGE_ID, "page_access_token": "EAAB-page-token-SECRET", "app_secret": "fb-app-secret-SECRET",
			"reply_limit": 400},
		endpoints=[("POST", re.compile(f"{GRAPH}/{PAGE_ID}/feed.*")), ("POST", re.compile(f"{GRAPH}/[0-9_]+/comments.*"))],
		answer=facebook_answer,
		# Comments continue the Page post itself (Graph threads are two levels deep).
		chained_to=lambda sent, i: sent[0].external_id,
		rate_limit_status=400,
		rate_limit_headers={},
		rate_limit_body=load_fixture("facebook", "rate_limit_error"),
		auth_status=400,
		auth_body=load_fixture("facebook", "token_error"),
	),
	PublishCase(
		network="telegram",
		config={"bot_token": BOT_TOKEN, "broadcast_target": "@acme_status", "reply_limit": 400},
		endpoints=[("POST", f"https://api.telegram.org/bot{BOT_TOKEN}/sendMessage")],
		answer=telegram_answer,
		rate_limit_headers={"Retry-After": "35"},
		rate_limit_body={"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 35",
			"parameters": {"retry_after": 35}},
		auth_body={"ok": False, "error_code": 401, "description": "Unauthorized"},
	),
	PublishCase(
		network="discourse",
		config={"base_url": FORUM, "api_key": "discourse-api-key-SECRET", "api_username": "helpdesk_bot",
			"broadcast_target": str(STATUS_TOPIC), "reply_limit": 400},
		endpoints=[("POST", f"{FORUM}/posts.json")],
		answer=discourse_answer,
		rate_limit_headers={"Retry-After": "37"},
		rate_limit_body=load_fixture("discourse", "rate_limited"),
		auth_status=403,
		auth_body=load_fixture("discourse", "invalid_access"),
	),
	PublishCase(
		network="reddit",
		config={"client_id": "reddit-client-id", "client_secret": "reddit-secret-SECRET", "username": "acme_help",
			"password": "reddit-password-SECRET", "user_agent": "frappe:social_itsm_app:0.1 (by /u/acme_help)",
			"broadcast_target": "r/acmestatus", "reply_limit": 400},
		endpoints=[("POST", f"{REDDIT}/api/submit"), ("POST", f"{REDDIT}/api/comment")],
		answer=reddit_answer,
		prelude=reddit_prelude,
		rate_limit_headers={"X-Ratelimit-Remaining": "0", "X-Ratelimit-Reset": "120"},
		rate_limit_body={"message": "Too Many Requests", "error": 429},
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
	error, network = publish_error(case, LONG, {1: (case.rate_limit_status, case.rate_limit_headers, case.rate_limit_body)})
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
	# Every attempt refused: a connector that renews its session on a 401 tries once more.
	refused = {number: (case.auth_status, {}, body) for number in range(3)}
	error, _ = publish_error(case, RESOLVED, refused)
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
			connector(case).publish(RESOLVED)
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
			connector(case).publish(RESOLVED)


def test_an_empty_text_is_refused_before_any_call(case):
	with responses.RequestsMock(assert_all_requests_are_fired=False):
		with pytest.raises(ConnectorError, match="nothing to publish|too short"):
			connector(case).publish("   \n ")


# --- networks that cannot publish ------------------------------------------------------------------------


def test_a_feed_refuses_to_publish():
	feed = get_connector("feed", {"url": "https://status.example.com/feed.xml"})
	assert not feed.can_publish
	with responses.RequestsMock():  # no request at all
		with pytest.raises(ConnectorError, match="Feed channels are read-only"):
			feed.publish(RESOLVED)


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
	sent, network = publish(mastodon, RESOLVED, {0: (503, {}, {"error": "busy"})})
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


def test_bluesky_chain_names_the_first_part_as_root_of_every_later_part():
	bluesky = next(case for case in CASES if case.network == "bluesky")
	sent, network = publish(bluesky, LONG)
	records = [body_json(part.request)["record"] for part in network.parts]
	assert "reply" not in records[0]
	assert network.parts[0].request.url == f"{BSKY}/com.atproto.repo.createRecord"
	assert body_json(network.parts[0].request)["repo"] == BSKY_DID
	first = {"uri": sent[0].external_id, "cid": "bafyreipub0001"}
	for index, record in enumerate(records[1:], 1):
		assert record["reply"]["root"] == first
		assert record["reply"]["parent"]["uri"] == sent[index - 1].external_id
	assert sent[0].url == "https://bsky.app/profile/acme.help/post/3lbpub0001"


def test_bluesky_resumed_chain_learns_the_root_and_cid_of_the_sent_part():
	bluesky = next(case for case in CASES if case.network == "bluesky")
	done = [SentReply(f"at://{BSKY_DID}/app.bsky.feed.post/3lbold0001", "")]
	sent, network = publish(bluesky, LONG, already_sent=done)
	reply = body_json(network.parts[0].request)["record"]["reply"]
	assert reply["root"] == reply["parent"] == {"uri": done[0].external_id, "cid": "bafyreipub0001"}
	assert sent[0] == done[0]


def case_of(network: str) -> PublishCase:
	return next(case for case in CASES if case.network == network)


def test_x_posts_the_thread_with_links_defanged_unless_the_channel_allows_them():
	x = case_of("x")
	text = "Resolved. Details: https://status.example.com/incidents/42"
	_, network = publish(x, text)
	assert body_json(network.parts[0].request) == {"text": "Resolved. Details: status[.]example[.]com/incidents/42"}
	assert network.parts[0].request.headers["Authorization"] == "Bearer x-user-token-SECRET-1"
	_, network = publish(x, text, config={"allow_links_in_replies": 1})
	assert body_json(network.parts[0].request) == {"text": text}
	sent, network = publish(x, LONG)
	assert body_json(network.parts[1].request)["reply"] == {"in_reply_to_tweet_id": sent[0].external_id}
	assert sent[0].url == f"https://x.com/i/web/status/{sent[0].external_id}"


def test_facebook_posts_on_the_page_feed_and_continues_in_comments_on_that_post():
	facebook = case_of("facebook")
	sent, network = publish(facebook, LONG)
	first, second = network.parts[:2]
	assert first.request.path_url.startswith(f"/v21.0/{PAGE_ID}/feed?")
	assert "appsecret_proof=" in first.request.path_url
	assert form(first.request) == {"message": first.text}
	assert second.request.path_url.startswith(f"/v21.0/{sent[0].external_id}/comments?")
	assert sent[0].url == f"https://www.facebook.com/{sent[0].external_id}"
	# Resumed from what the reply log stores (id and url of a comment), later parts still go under the post.
	resumed, network = publish(facebook, LONG, already_sent=sent[:2])
	assert network.parts[0].target == sent[0].external_id and resumed[:2] == sent[:2]


def test_telegram_posts_in_the_broadcast_chat_and_replies_to_the_part_before():
	telegram = case_of("telegram")
	sent, network = publish(telegram, LONG)
	assert body_json(network.parts[0].request) == {"chat_id": "@acme_status", "text": network.parts[0].text}
	assert body_json(network.parts[1].request)["chat_id"] == STATUS_CHANNEL["id"]
	assert sent[0] == SentReply(f"{STATUS_CHANNEL['id']}:101", "https://t.me/acme_status/101")


@pytest.mark.parametrize(
	("typed", "chat"),
	[("@acme_status", "@acme_status"), ("acme_status", "@acme_status"), ("https://t.me/acme_status", "@acme_status"),
	 ("-1001234567890", -1001234567890)],
)
def test_telegram_broadcast_target_as_admins_type_it(typed, chat):
	telegram = get_connector("telegram", {"bot_token": BOT_TOKEN, "broadcast_target": typed})
	assert telegram.can_publish and telegram.broadcast_chat == chat


@pytest.mark.parametrize(
	("network", "config"),
	[
		("telegram", {"bot_token": BOT_TOKEN}),
		("reddit", {**case_of("reddit").config, "broadcast_target": ""}),
		("discourse", {"base_url": FORUM, "api_key": "k-SECRET", "api_username": "bot"}),
		("discourse", {"base_url": FORUM, "api_key": "k-SECRET", "api_username": "bot", "broadcast_target": "status"}),
	],
)
def test_a_channel_without_a_broadcast_target_says_so_and_sends_nothing(network, config):
	conn = get_connector(network, config)
	assert type(conn).can_publish and not conn.can_publish  # the network could, this channel is not set up
	assert "Broadcast to" in conn.publish_note
	with responses.RequestsMock():  # no request at all
		with pytest.raises(ConnectorError) as caught:
			conn.publish(RESOLVED)
	assert str(caught.value) == conn.publish_note


def test_discourse_posts_in_the_status_topic():
	discourse = case_of("discourse")
	sent, network = publish(discourse, RESOLVED, config={"broadcast_target": f"{FORUM}/t/service-status/{STATUS_TOPIC}/12"})
	assert body_json(network.parts[0].request) == {"raw": RESOLVED, "topic_id": STATUS_TOPIC}
	assert network.parts[0].request.headers["Api-Key"] == "discourse-api-key-SECRET"
	assert sent == [SentReply("1300", f"{FORUM}/t/service-status/{STATUS_TOPIC}/2")]


def test_discourse_opens_a_topic_in_the_channels_category_titled_by_the_first_line():
	discourse = case_of("discourse")
	network = FakeNetwork(discourse)
	with responses.RequestsMock() as rsps:
		network.register(rsps)
		rsps.add(responses.GET, f"{FORUM}/categories.json", json=load_fixture("discourse", "categories"))
		config = {**discourse.config, "broadcast_target": "", "category": "vpn, it-support"}
		get_connector("discourse", {"http_backoff": 0, **config}).publish("VPN outage in Frankfurt\n" + LONG)
	first = body_json(network.parts[0].request)
	assert first["title"] == "VPN outage in Frankfurt" and first["category"] == 9
	assert "topic_id" not in first
	assert body_json(network.parts[1].request)["topic_id"] == 91


def test_reddit_submits_a_self_post_and_continues_in_comments():
	reddit = case_of("reddit")
	sent, network = publish(reddit, "VPN outage in Frankfurt\n" + LONG)
	submitted = form(network.parts[0].request)
	assert submitted["sr"] == "acmestatus" and submitted["kind"] == "self"
	assert submitted["title"] == "VPN outage in Frankfurt"
	assert submitted["text"] == network.parts[0].text
	assert sent[0] == SentReply("t3_pub0", "https://www.reddit.com/r/acmestatus/comments/pub0/vpn_down/")
	assert form(network.parts[1].request)["thing_id"] == "t3_pub0"
	assert "moderators" in type(connector(reddit)).publish_note


def test_reddit_ratelimit_in_the_answer_body_is_rate_limited():
	reddit = case_of("reddit")
	refused = {"json": {"errors": [["RATELIMIT", "Take a break for 9 minutes before trying again.", "ratelimit"]],
		"ratelimit": 540.0}}
	error, network = publish_error(reddit, RESOLVED, {0: (200, {}, refused)})
	assert isinstance(error, RateLimited) and "submit refused" in str(error)
	assert len(network.parts) == 1


def test_the_channels_broadcast_to_field_reaches_the_connectors_that_need_it():
	from social_itsm_app.channels.config import FIELD_MAP, connector_config

	needing = {key for key, fields in FIELD_MAP.items() if fields.get("broadcast_target") == "broadcast_target"}
	assert needing == {"telegram", "discourse", "reddit"}
	config = connector_config({"network": "Telegram", "access_token": BOT_TOKEN, "broadcast_target": " @acme_status "})
	telegram = get_connector("telegram", config)
	assert telegram.can_publish and telegram.broadcast_chat == "@acme_status"
