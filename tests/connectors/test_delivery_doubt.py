"""A request that changes something and fails after it may have reached the network says so (maybe_delivered):
resending a reply is then safe only where, and while, the network de-duplicates it."""

from __future__ import annotations

import pytest
import requests
import responses

from social_itsm_app.connectors import ConnectorError, RateLimited
from social_itsm_app.connectors.http import HttpClient

URL = "https://mastodon.example/api/v1/statuses"


def failure(method: str, *answers, idempotent: bool | None = None) -> ConnectorError:
	with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
		for answer in answers:
			rsps.add(method, URL, **answer)
		with pytest.raises(ConnectorError) as caught:
			HttpClient(backoff=0, retries=2).request(method, URL, idempotent=idempotent)
	return caught.value


def test_a_post_that_timed_out_may_have_been_delivered():
	assert failure("POST", {"body": requests.exceptions.ReadTimeout("read timed out")}).maybe_delivered


def test_a_post_that_never_connected_was_not_delivered():
	refused = requests.exceptions.ConnectionError("Failed to establish a new connection: [Errno 111] Connection refused")
	assert not failure("POST", {"body": refused}).maybe_delivered


def test_a_gateway_error_on_a_post_may_hide_a_delivery():
	assert failure("POST", {"status": 502, "body": "bad gateway"}).maybe_delivered
	assert not failure("POST", {"status": 400, "body": "bad request"}).maybe_delivered


def test_a_timeout_then_a_rate_limit_still_says_the_first_attempt_may_have_gone_out():
	"""Mastodon's POSTs are retried by the HTTP layer (Idempotency-Key): the last answer (a 429) must not hide
	that an earlier attempt may have been carried out."""
	error = failure(
		"POST", {"body": requests.exceptions.ReadTimeout("read timed out")},
		{"status": 429, "json": {"error": "slow down"}, "headers": {"Retry-After": "7200"}}, idempotent=True,
	)
	assert isinstance(error, RateLimited) and error.maybe_delivered


def test_reads_are_never_in_doubt():
	assert not failure("GET", {"body": requests.exceptions.ReadTimeout("read timed out")}).maybe_delivered
