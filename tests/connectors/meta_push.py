"""What the tests of the push-only Meta connectors (WhatsApp Cloud API, Instagram) share: a network's recorded
deliveries and a connector with its test settings, and the checks every such connector passes."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

import pytest

from social_itsm_app.connectors import ConnectorError, SocialPost
from social_itsm_app.connectors.meta import MetaPushConnector
from social_itsm_app.connectors.webhooks import PayloadError
from tests.connectors.contract import load_fixture

C = TypeVar("C", bound=MetaPushConnector)


class MetaPushKit(Generic[C]):
	"""``fx(name)``: a recorded delivery of the network; ``connector(**overrides)``: one with the test settings."""

	def __init__(self, network: str, connector_class: type[C], config: dict[str, Any]):
		self.network, self.connector_class, self.config = network, connector_class, config

	def fx(self, name: str) -> Any:
		return load_fixture(self.network, name)

	def connector(self, **overrides: Any) -> C:
		return self.connector_class({**self.config, **overrides})


def assert_payload_error(parse: Callable[[Any], list[SocialPost]], payload: Any, words: str) -> None:
	"""A malformed delivery is a PayloadError (a ConnectorError the endpoint answers 400) that says ``words``."""
	with pytest.raises(PayloadError) as caught:
		parse(payload)
	assert isinstance(caught.value, ConnectorError) and words in str(caught.value)


def assert_push_only(conn: MetaPushConnector, secrets: Iterable[str]) -> ConnectorError:
	"""Fetching says to use the webhook, no secret shows in the connector's repr; returns why publish refused."""
	with pytest.raises(ConnectorError) as caught:
		conn.fetch()
	assert "webhook" in str(caught.value)
	with pytest.raises(ConnectorError) as refused:
		conn.publish("Status: all systems go")
	for secret in secrets:
		assert secret not in repr(conn) and secret not in repr(conn.config)
	return refused.value
