"""Shared contract checks every connector must pass; each network's test module subclasses ContractSuite.

A network describes itself once in a ContractCase (config, the first URL a fetch calls, how its rate-limit
answer looks, and how to register a complete successful fetch); the suite then checks the failure modes
the contract promises: RateLimited with the right reset, AuthError, an HTML page instead of JSON, 5xx
retried, timeouts, and no secret in any error message.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import requests
import responses

from social_itsm_app.connectors import AuthError, ConnectorError, RateLimited, get_connector

FIXTURES = Path(__file__).parent.parent / "fixtures"


def load_fixture(network: str, name: str) -> Any:
	"""A recorded payload, shaped like the network's documentation example: tests/fixtures/<network>/<name>.json."""
	return json.loads((FIXTURES / network / f"{name}.json").read_text())


@dataclass
class ContractCase:
	network: str
	config: dict[str, Any]
	# The request whose failure the generic checks simulate (the first data request of a fetch).
	fetch_url: str | re.Pattern
	# Registers every URL of one complete, successful fetch that returns at least one post.
	register_success: Callable[[responses.RequestsMock], None]
	# Headers (and optional JSON body) of the network's 429 answer, and the reset time they mean.
	rate_limit_headers: dict[str, str] = field(default_factory=dict)
	rate_limit_body: Any = None
	expected_reset: datetime | None = None
	fetch_method: str = "GET"
	# Registers calls that happen before fetch_url (a login), when the network has them.
	register_prelude: Callable[[responses.RequestsMock], None] | None = None
	# Status and body meaning "credentials refused" on this network.
	auth_status: int = 401
	auth_body: Any = field(default_factory=lambda: {"error": "invalid token"})


class ContractSuite:
	case: ContractCase

	def connector(self, **overrides: Any):
		config = {"http_backoff": 0, **self.case.config, **overrides}
		return get_connector(self.case.network, config)

	def secrets(self) -> list[str]:
		conn = self.connector()
		return [str(conn.config[k]) for k in conn.secret_keys if conn.config.get(k)]

	def prelude(self, rsps: responses.RequestsMock) -> None:
		if self.case.register_prelude:
			self.case.register_prelude(rsps)

	def test_success_returns_posts_with_aware_times(self):
		with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
			self.case.register_success(rsps)
			result = self.connector().fetch()
		assert result.posts, "the recorded success payload must yield posts"
		for post in result.posts:
			assert post.network == self.case.network
			assert post.external_id and isinstance(post.external_id, str)
			assert post.created_at.tzinfo is not None and post.created_at.utcoffset().total_seconds() == 0
			assert post.kind in ("mention", "direct", "search", "comment", "feed")
			assert "<script" not in post.text.lower()
		assert len({p.external_id for p in result.posts}) == len(result.posts)

	def test_rate_limit_gives_reset_time(self):
		with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
			self.prelude(rsps)
			rsps.add(
				self.case.fetch_method,
				self.case.fetch_url,
				status=429,
				headers=self.case.rate_limit_headers,
				json=self.case.rate_limit_body if self.case.rate_limit_body is not None else {"error": "slow down"},
			)
			with pytest.raises(RateLimited) as caught:
				self.connector().fetch()
		assert caught.value.reset_at.tzinfo is not None
		if self.case.expected_reset:
			assert abs((caught.value.reset_at - self.case.expected_reset).total_seconds()) < 2

	def test_refused_credentials_give_auth_error_without_secrets(self):
		with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
			self.prelude(rsps)
			body = json.dumps(self.case.auth_body) + " " + " ".join(self.secrets())
			rsps.add(self.case.fetch_method, self.case.fetch_url, status=self.case.auth_status, body=body)
			with pytest.raises(AuthError) as caught:
				self.connector().fetch()
		for secret in self.secrets():
			assert secret not in str(caught.value)

	def test_html_page_with_200_is_a_connector_error(self):
		with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
			self.prelude(rsps)
			rsps.add(
				self.case.fetch_method,
				self.case.fetch_url,
				status=200,
				body="<!DOCTYPE html><html><body>Maintenance</body></html>",
				content_type="text/html",
			)
			with pytest.raises(ConnectorError) as caught:
				self.connector().fetch()
		assert not isinstance(caught.value, AuthError | RateLimited)

	def test_server_errors_are_retried_then_succeed(self):
		with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
			self.prelude(rsps)
			rsps.add(self.case.fetch_method, self.case.fetch_url, status=500, body="oops")
			rsps.add(self.case.fetch_method, self.case.fetch_url, status=502, body="bad gateway")
			self.case.register_success(rsps)
			result = self.connector().fetch()
		assert result.posts

	def test_persistent_server_errors_give_connector_error(self):
		with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
			self.prelude(rsps)
			for _ in range(5):
				rsps.add(self.case.fetch_method, self.case.fetch_url, status=503, body="down")
			with pytest.raises(ConnectorError) as caught:
				self.connector(http_retries=2).fetch()
		assert caught.value.status == 503

	def test_timeout_gives_connector_error(self):
		with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
			self.prelude(rsps)
			for _ in range(5):
				rsps.add(self.case.fetch_method, self.case.fetch_url, body=requests.exceptions.ReadTimeout("slow"))
			with pytest.raises(ConnectorError):
				self.connector(http_retries=1).fetch()

	def test_unexpected_json_shape_is_a_connector_error(self):
		with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
			self.prelude(rsps)
			rsps.add(self.case.fetch_method, self.case.fetch_url, status=200, json=[["not", "what"], {"we": 1}])
			with pytest.raises(ConnectorError):
				self.connector().fetch()

	def test_publish_fails_only_with_a_connector_error_and_says_where_it_posts(self):
		"""Unreachable network (nothing registered): a broadcast fails typed, reporting no part as sent."""
		conn = self.connector(http_retries=0)
		assert conn.publish_note, "publish_note tells admins where a broadcast goes, or why this channel cannot"
		with responses.RequestsMock(assert_all_requests_are_fired=False):
			with pytest.raises(ConnectorError) as caught:
				conn.publish("Investigating: logins fail for some of you; next update within 30 minutes.")
		assert caught.value.sent == []
		assert caught.value.__cause__ is None
		if not conn.can_publish:
			assert str(caught.value) == conn.publish_note
