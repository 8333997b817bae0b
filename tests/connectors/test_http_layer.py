"""The shared HTTP layer: retries only where safe, typed errors, rate-limit times, redaction."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import requests
import responses

from social_itsm_app.connectors import AuthError, ConnectorError, RateLimited
from social_itsm_app.connectors.http import HttpClient, rate_limit_reset

URL = "https://api.example.test/items"
NOW = datetime(2026, 11, 23, 8, 0, tzinfo=timezone.utc)


def client(**kwargs) -> HttpClient:
	return HttpClient(backoff=0, **kwargs)


@responses.activate
def test_get_is_retried_on_5xx_and_timeouts():
	responses.add(responses.GET, URL, status=502)
	responses.add(responses.GET, URL, body=requests.exceptions.ReadTimeout("slow"))
	responses.add(responses.GET, URL, json={"ok": True})
	assert client(retries=3).get_json(URL) == {"ok": True}
	assert len(responses.calls) == 3


@responses.activate
def test_post_is_not_retried_after_it_may_have_arrived():
	responses.add(responses.POST, URL, status=500)
	responses.add(responses.POST, URL, json={"id": "1"})
	with pytest.raises(ConnectorError) as caught:
		client(retries=3).post_json(URL, json={"text": "hi"})
	assert caught.value.status == 500
	assert len(responses.calls) == 1


@responses.activate
def test_post_read_timeout_is_not_retried_but_refused_connection_is():
	responses.add(responses.POST, URL, body=requests.exceptions.ReadTimeout("slow"))
	with pytest.raises(ConnectorError, match="timed out"):
		client(retries=3).post_json(URL, json={})
	assert len(responses.calls) == 1

	responses.reset()
	responses.add(responses.POST, URL, body=requests.exceptions.ConnectionError("Connection refused"))
	responses.add(responses.POST, URL, json={"id": "2"})
	assert client(retries=3).post_json(URL, json={}) == {"id": "2"}


@responses.activate
def test_bounded_retries_then_connector_error():
	for _ in range(4):
		responses.add(responses.GET, URL, status=503)
	with pytest.raises(ConnectorError):
		client(retries=2).get_json(URL)
	assert len(responses.calls) == 3


@responses.activate
def test_backoff_doubles_between_attempts():
	waits: list[float] = []
	for _ in range(3):
		responses.add(responses.GET, URL, status=500)
	responses.add(responses.GET, URL, json={})
	HttpClient(retries=3, backoff=0.5, sleep=waits.append).get_json(URL)
	assert waits == [0.5, 1.0, 2.0]


@responses.activate
def test_auth_and_rate_limit_are_typed_and_secrets_redacted():
	responses.add(responses.GET, URL, status=401, body="bad token tok-SECRET-123")
	with pytest.raises(AuthError) as caught:
		client(secrets=["tok-SECRET-123"]).get_json(URL, params={"access_token": "tok-SECRET-123"})
	assert "tok-SECRET-123" not in str(caught.value)

	responses.add(responses.GET, URL, status=429, headers={"Retry-After": "120"})
	with pytest.raises(RateLimited) as limited:
		client().get_json(URL)
	wait = limited.value.reset_at - datetime.now(timezone.utc)
	assert timedelta(seconds=110) < wait <= timedelta(seconds=121)


@responses.activate
def test_html_instead_of_json_is_a_clear_error():
	responses.add(responses.GET, URL, body="<!doctype html><title>Bad gateway</title>", content_type="text/html")
	with pytest.raises(ConnectorError, match="expected JSON.*HTML page"):
		client().get_json(URL)


@pytest.mark.parametrize(
	("headers", "expected"),
	[
		({"x-rate-limit-reset": "1795420800"}, datetime(2026, 11, 23, 8, 0, tzinfo=timezone.utc)),  # X: epoch
		({"X-RateLimit-Reset": "2026-11-23T08:05:00.000Z"}, NOW + timedelta(minutes=5)),  # Mastodon: ISO
		({"X-Ratelimit-Reset": "42"}, NOW + timedelta(seconds=42)),  # Reddit: seconds from now
		({"Retry-After": "30"}, NOW + timedelta(seconds=30)),
		({"Retry-After": "Mon, 23 Nov 2026 08:10:00 GMT"}, NOW + timedelta(minutes=10)),
		({}, NOW + timedelta(minutes=1)),
	],
)
def test_rate_limit_reset_formats(headers, expected):
	response = requests.Response()
	response.status_code = 429
	response.headers.update(headers)
	assert rate_limit_reset(response, now=NOW) == expected


@responses.activate
def test_a_failed_request_does_not_carry_the_raw_url_in_its_exception_chain():
	url = "https://api.telegram.org/bot123456:SECRET-TOKEN/getUpdates"
	responses.add(responses.GET, url, body=requests.exceptions.ConnectionError(f"cannot reach {url}"))
	with pytest.raises(ConnectorError) as caught:
		client(retries=0, secrets=["123456:SECRET-TOKEN"]).get_json(url)
	assert "SECRET-TOKEN" not in str(caught.value)
	assert caught.value.__cause__ is None and caught.value.__suppress_context__


@responses.activate
def test_network_failures_are_explained_in_words_an_admin_can_act_on():
	responses.add(responses.GET, URL, body=requests.exceptions.ConnectionError(
		"HTTPSConnectionPool(host='api.example.test'): Failed to resolve 'api.example.test' ([Errno -2] Name or service not known)"))
	with pytest.raises(ConnectorError) as caught:
		client(retries=0).get_json(URL + "?token=abc")
	assert str(caught.value) == f"GET {URL}: the host name does not resolve (check the base URL, and that this server reaches the internet)"
	responses.add(responses.GET, URL, body=requests.exceptions.ConnectTimeout("slow"))
	with pytest.raises(ConnectorError, match="timed out after 30s"):
		client(retries=0).get_json(URL)
