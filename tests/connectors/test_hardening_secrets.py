"""Secrets never reach a log (issue 13, item 6), and rotated tokens reach the caller at once (item 12).

Frappe's job runner logs a failed job's traceback with every frame's local variables. So besides the
message, the escaped exception must carry no chained exception and no frame whose locals hold a token (a
config dict, a header dict, a Telegram URL), and the objects that do hold tokens must print ``***``.
"""

from __future__ import annotations

import json
import re
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import requests
import responses

from social_itsm_app.connectors import AuthError, ConnectorError, RateLimited, SentReply, get_connector
from social_itsm_app.connectors.base import SecretConfig
from social_itsm_app.connectors.http import RedactedHeaders
from tests.connectors import test_discourse as discourse_case
from tests.connectors import test_mastodon as mastodon_case
from tests.connectors import test_telegram as telegram_case
from tests.connectors import test_x as x_case


@dataclass(frozen=True)
class Network:
	name: str
	config: dict[str, Any]
	url: str  # the first request of a fetch
	secret: str

	def connector(self, **overrides: Any):
		return get_connector(self.name, {**self.config, "http_retries": 0, **overrides})


NETWORKS = [
	Network("mastodon", mastodon_case.CONFIG, mastodon_case.NOTIFICATIONS, mastodon_case.CONFIG["access_token"]),
	Network("telegram", telegram_case.CONFIG, telegram_case.UPDATES, telegram_case.TOKEN),
	Network("x", {**x_case.CONFIG, "read_dms": False}, x_case.MENTIONS, x_case.CONFIG["bearer_token"]),
	Network("discourse", discourse_case.CONFIG, discourse_case.POSTS, discourse_case.KEY),
]
IDS = [network.name for network in NETWORKS]


def raising(exc: BaseException) -> Callable:
	def callback(request):
		raise exc

	return callback


# What can go wrong below a public method: a bug, a parser giving up, a requests error, anything.
FAILURES = {
	"ValueError": lambda secret: ValueError(f"cannot parse {secret}"),
	"ZeroDivisionError": lambda secret: ZeroDivisionError("division by zero"),
	"RecursionError": lambda secret: RecursionError("maximum recursion depth exceeded"),
	"UnicodeDecodeError": lambda secret: UnicodeDecodeError("utf-8", secret.encode(), 0, 1, "invalid start byte"),
	"InvalidHeader": lambda secret: requests.exceptions.InvalidHeader(f"Authorization: Bearer {secret}"),
}


def escaped(call: Callable[[], Any]) -> BaseException:
	"""Run ``call`` and return what it raised. Caught here, so the traceback ends in this frame, not in the
	test's (whose parameters hold the secret on purpose)."""
	try:
		call()
	except BaseException as exc:  # noqa: B036 - the point is to see anything at all
		return exc
	raise AssertionError("expected an exception")


def logged(exc: BaseException) -> str:
	"""What a job runner that captures locals writes to its log."""
	return "".join(traceback.TracebackException.from_exception(exc, capture_locals=True).format())


def assert_clean(exc: BaseException, network: Network) -> None:
	assert type(exc) in (ConnectorError, AuthError, RateLimited), f"{type(exc).__name__} escaped"
	assert exc.__cause__ is None and exc.__context__ is None
	log = logged(exc)
	assert network.secret not in log, log
	assert network.secret not in str(exc)


def assert_prints_no_secret(conn, secret: str) -> None:
	for shown in (repr(conn), str(conn), repr(conn.http), repr(conn.http.secrets), repr(conn.config), str(conn.config)):
		assert secret not in shown, shown
	assert "***" in repr(conn.config)


@pytest.mark.parametrize("failure", sorted(FAILURES))
@pytest.mark.parametrize("network", NETWORKS, ids=IDS)
def test_any_failure_in_fetch_leaves_as_a_redacted_connector_error_without_frames(network, failure):
	conn = network.connector()
	with responses.RequestsMock() as rsps:
		rsps.add_callback(responses.GET, network.url, callback=raising(FAILURES[failure](network.secret)))
		exc = escaped(conn.fetch)
	assert_clean(exc, network)
	assert failure in str(exc) or "request failed" in str(exc)
	assert_prints_no_secret(conn, network.secret)


@pytest.mark.parametrize("network", NETWORKS, ids=IDS)
def test_an_unparseable_body_leaves_as_a_redacted_connector_error(network):
	conn = network.connector()
	with responses.RequestsMock() as rsps:
		# Valid JSON of the wrong shape, quoting the token back (some APIs echo the request).
		rsps.add(responses.GET, network.url, json={"data": [{"id": {"nested": network.secret}}], "result": [7]})
		exc = escaped(conn.fetch)
	assert_clean(exc, network)


@pytest.mark.parametrize("network", NETWORKS, ids=IDS)
def test_a_bug_in_verify_credentials_is_a_connector_error(network):
	conn = network.connector()
	with responses.RequestsMock() as rsps:
		rsps.add_callback(responses.GET, any_url_on(network), callback=raising(ZeroDivisionError("oops")))
		exc = escaped(conn.verify_credentials)
	assert_clean(exc, network)


def any_url_on(network: Network) -> re.Pattern:
	"""verify_credentials calls a different URL per network: any URL of the network's host."""
	host = network.url.split("/")[2]
	return re.compile(rf"https://{re.escape(host)}/.*")


def test_a_bug_while_sending_keeps_the_parts_already_sent():
	network = NETWORKS[1]  # telegram: each part is one sendMessage
	conn = network.connector(reply_limit=20)
	post = telegram_case.parse_payload(telegram_case.fx("updates_page1"))[0]
	answers = iter([{"ok": True, "result": {"message_id": 900, "chat": post.raw["message"]["chat"]}}])

	def send(request):
		try:
			return 200, {}, json.dumps(next(answers))
		except StopIteration:
			raise RecursionError("maximum recursion depth exceeded") from None

	with responses.RequestsMock() as rsps:
		rsps.add_callback(responses.POST, telegram_case.SEND, callback=send)
		exc = escaped(lambda: conn.send_reply("one two three four five six seven eight nine ten", post))
	assert_clean(exc, network)
	assert len(exc.sent) == 1 and isinstance(exc.sent[0], SentReply)


def test_constructor_failures_are_connector_errors():
	network = NETWORKS[3]
	for bad in ({"max_post_length": "lots"}, {"http_retries": "many"}, {"max_pages": "all"}):
		exc = escaped(lambda bad=bad: network.connector(**bad))
		assert type(exc) is ConnectorError, exc
		assert network.secret not in str(exc)
	assert type(escaped(lambda: get_connector("mastodon", None))) is ConnectorError


def test_config_and_headers_print_without_secrets():
	config = SecretConfig(
		{
			"base_url": "https://forum.example.com",
			"api_key": "k-123456",
			"feed": "https://x.test/?key=k-123456",
			"did": "plc",
		},
		("api_key",),
	)
	assert "k-123456" not in repr(config) and "k-123456" not in str(config) and "plc" in repr(config)
	assert config == {**config} and config["api_key"] == "k-123456"  # still an ordinary dict to its users
	# Keys that name a secret are hidden even when a connector forgot to declare them.
	assert "zzz-456789" not in repr(SecretConfig({"webhook_secret": "zzz-456789"}))
	headers = RedactedHeaders({"Authorization": "Bearer tok-987654", "Api-Key": "k-123456", "Accept": "text/xml"})
	assert "tok-987654" not in repr(headers) and "k-123456" not in str(headers) and "text/xml" in repr(headers)


def test_rotated_tokens_print_redacted_too():
	network = NETWORKS[2]
	with responses.RequestsMock() as rsps:
		register_x_refresh(rsps, [])
		conn = network.connector(refresh_token="old-refresh-SECRET", client_id="client-abc", token_expires_at="1")
		conn.fetch()
	assert conn.saved_state["refresh_token"] == NEW_REFRESH
	for shown in (repr(conn), repr(conn.saved_state), repr(conn.config)):
		assert NEW_REFRESH not in shown and NEW_BEARER not in shown


# --- token rotation hook (item 12) -------------------------------------------------------------------------

NEW_BEARER = "bmV3LWFjY2Vzcy10b2tlbi0xMjM0NQ"
NEW_REFRESH = "bmV3LXJlZnJlc2gtdG9rZW4tNjc4OTA"


def register_x_refresh(rsps: responses.RequestsMock, events: list[str]) -> None:
	def token(request):
		events.append("token")
		return 200, {}, json.dumps(x_case.fx("token_refreshed"))

	def mentions(request):
		events.append("mentions")
		return 200, {}, json.dumps(x_case.fx("mentions_page1"))

	rsps.add_callback(responses.POST, x_case.TOKEN, callback=token)
	rsps.add_callback(responses.GET, x_case.MENTIONS, callback=mentions)


def test_a_rotated_refresh_token_is_handed_over_before_the_next_request():
	events: list[str] = []
	saved: list[dict] = []

	def on_state_saved(state):
		events.append("saved")
		saved.append(dict(state))

	conn = NETWORKS[2].connector(refresh_token="old-refresh-SECRET", client_id="client-abc", token_expires_at="1")
	conn.on_state_saved = on_state_saved
	with responses.RequestsMock() as rsps:
		register_x_refresh(rsps, events)
		conn.fetch()
	assert events == ["token", "saved", "mentions"]
	assert saved[0]["refresh_token"] == NEW_REFRESH and saved[0]["bearer_token"] == NEW_BEARER
	assert conn.saved_state["refresh_token"] == NEW_REFRESH  # still there for callers that read it afterwards
