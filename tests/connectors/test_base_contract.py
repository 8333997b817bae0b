"""The Connector base: cursor handling, dedupe, error wrapping, chained replies that resume."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from social_itsm_app.connectors import NETWORKS, ConnectorError, FetchResult, SentReply, SocialPost, get_connector
from social_itsm_app.connectors.base import Connector, decode_cursor, encode_cursor, newest_id, parse_datetime

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=timezone.utc)


def post(external_id: str, minutes: int = 0) -> SocialPost:
	return SocialPost(
		network="fake", external_id=external_id, text="t", author_id="a", author_handle="a", author_name="A",
		created_at=T0 + timedelta(minutes=minutes), url="", kind="mention",
	)


class FakeConnector(Connector):
	network = "fake"
	required_keys = ("token",)
	secret_keys = ("token",)
	public_limit = 40
	private_limit = None
	measure = "chars"

	def __init__(self, config, session=None, pages=None, fail_on_part=None):
		super().__init__(config, session)
		self.pages = pages or []
		self.fail_on_part = fail_on_part
		self.sent_parts: list[tuple[str, str]] = []

	def _fetch(self, state):
		if state.get("explode"):
			return {}["missing"]
		return FetchResult(self.pages, encode_cursor({"since": "9"}))

	def _send_part(self, text, post, previous, private, idempotency_key):
		target = previous.external_id if previous else post.external_id
		if self.fail_on_part == len(self.sent_parts):
			raise ConnectorError("network said no")
		self.sent_parts.append((target, text))
		return SentReply(f"r{len(self.sent_parts)}", f"https://x.test/r{len(self.sent_parts)}")

	def verify_credentials(self):
		raise NotImplementedError


def test_missing_config_is_a_clear_error():
	with pytest.raises(ConnectorError, match="missing configuration: token"):
		FakeConnector({})


def test_fetch_dedupes_and_orders_oldest_first():
	conn = FakeConnector({"token": "t"}, pages=[post("2", 5), post("1", 1), post("2", 5)])
	result = conn.fetch(None)
	assert [p.external_id for p in result.posts] == ["1", "2"]
	assert decode_cursor(result.cursor) == {"since": "9"}


def test_parsing_surprises_become_connector_errors():
	with pytest.raises(ConnectorError, match="unexpected response shape"):
		FakeConnector({"token": "t"}).fetch(encode_cursor({"explode": True}))
	with pytest.raises(ConnectorError, match="cursor is not valid"):
		FakeConnector({"token": "t"}).fetch("{broken")


def test_long_reply_is_chained_and_resumes_without_resending():
	text = "One two three four five six seven eight nine ten eleven twelve thirteen fourteen."
	conn = FakeConnector({"token": "t"}, fail_on_part=1)
	with pytest.raises(ConnectorError) as caught:
		conn.send_reply(text, in_reply_to=post("100"))
	assert [s.external_id for s in caught.value.sent] == ["r1"]

	retry = FakeConnector({"token": "t"})
	sent = retry.send_reply(text, in_reply_to=post("100"), already_sent=caught.value.sent)
	assert [s.external_id for s in sent] == ["r1", "r1", "r2"][: len(sent)] or sent[0].external_id == "r1"
	# The retry sent only the remaining parts, the first of them chained to the part already out.
	assert retry.sent_parts[0][0] == "r1"
	assert all(len(part) <= 40 for _, part in conn.sent_parts + retry.sent_parts)
	assert len(sent) == 1 + len(retry.sent_parts)


def test_private_reply_on_a_network_without_one_is_refused():
	with pytest.raises(ConnectorError, match="no private replies"):
		FakeConnector({"token": "t"}).send_reply("hi", in_reply_to=post("1"), private=True)


def test_post_round_trips_through_a_dict():
	original = post("7")
	original.reply_ref = {"chat_id": 5}
	assert SocialPost.from_dict(original.to_dict()) == original


def test_helpers():
	assert newest_id("99", "100", None) == "100"
	assert parse_datetime("2026-11-23T08:00:00Z") == T0
	assert parse_datetime(T0.timestamp()) == T0
	assert encode_cursor({"a": None, "b": ""}) is None


def test_unknown_network_is_a_clear_error():
	with pytest.raises(ConnectorError, match="unknown network"):
		get_connector("myspace", {})
	assert set(NETWORKS) == {"x", "mastodon", "bluesky", "reddit", "facebook", "telegram", "discourse", "feed", "whatsapp", "instagram"}


def test_each_accepted_part_is_reported_before_the_next_is_sent():
	reported: list[str] = []
	conn = FakeConnector({"token": "t"}, fail_on_part=2)
	text = "One two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen."
	with pytest.raises(ConnectorError):
		conn.send_reply(text, in_reply_to=post("100"), on_sent=lambda part: reported.append(part.external_id))
	assert reported == ["r1", "r2"]  # the failing third part was never reported as sent
