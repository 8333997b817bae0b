"""The endpoint's door (connectors.push) and Facebook Page deliveries, from recorded bodies to posts, without a site."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
import responses

from social_itsm_app.connectors import get_connector
from social_itsm_app.connectors.facebook import parse_payload as parse_polled_feed
from social_itsm_app.connectors.facebook_push import parse_payload as parse_page_delivery
from social_itsm_app.connectors.push import PUSH_SCHEMES, answer_handshake, parse_delivery, pushes, verify_delivery
from social_itsm_app.connectors.webhooks import (
	META_SIGNATURE_HEADER,
	TELEGRAM_SECRET_HEADER,
	PayloadError,
	WebhookRefused,
	meta_signature,
	sign_generic,
)
from tests.connectors.contract import FIXTURES

PAGE = "104543928400000"
APP_SECRET = "meta-app-secret-4f2a9c"
NOW = 1_796_320_800


def body_of(folder: str, name: str) -> bytes:
	return (FIXTURES / folder / f"{name}.json").read_bytes()


def meta_headers(body: bytes) -> dict[str, str]:
	return {META_SIGNATURE_HEADER: meta_signature(body, APP_SECRET)}


# --- Facebook Page deliveries ---------------------------------------------------------------------------------


def test_page_feed_delivery_gives_new_visitor_posts_and_comments_only():
	visitor, comment = parse_page_delivery(json.loads(body_of("webhook", "meta_page_feed_events")))
	assert (visitor.external_id, visitor.kind, visitor.text) == (f"{PAGE}_2", "mention", "Is the app down? Cannot log in.")
	assert visitor.url == f"https://www.facebook.com/{PAGE}/posts/2"
	assert visitor.reply_ref == {"post_id": f"{PAGE}_2", "reply_to": f"{PAGE}_2"}
	assert (comment.external_id, comment.kind, comment.thread_id, comment.in_reply_to_id) == ("2_3", "comment", f"{PAGE}_2", "2_9")
	assert comment.reply_ref == {"post_id": f"{PAGE}_2", "comment_id": "2_3", "reply_to": "2_9"}
	assert comment.created_at == datetime.fromtimestamp(1749419100, timezone.utc)
	# the page's own comment, an edit, a removal and a reaction are not posts


def test_a_pushed_comment_matches_the_polled_one():
	"""The same comment polled and pushed has the same id, kind, thread, parent and reply_ref: one stored post."""
	[pushed] = parse_page_delivery(json.loads(body_of("webhook", "meta_page_feed")))
	polled_feed = {
		"data": [
			{
				"id": f"{PAGE}_1",
				"created_time": "2025-06-08T21:40:00+0000",
				"from": {"id": PAGE, "name": "Acme"},
				"message": "Our new release",
				"comments": {
					"data": [
						{
							"id": "1_2",
							"message": "Your app crashes on login",
							"created_time": "2025-06-08T21:43:20+0000",
							"from": {"id": "7200000000000001", "name": "Jane Doe"},
						}
					]
				},
			}
		]
	}
	[polled] = parse_polled_feed(polled_feed)
	fields = ("network", "external_id", "kind", "thread_id", "in_reply_to_id", "reply_ref", "text", "author_id", "created_at")
	assert {f: getattr(pushed, f) for f in fields} == {f: getattr(polled, f) for f in fields}


def test_page_messaging_delivery_gives_messenger_messages_without_our_echoes():
	pushed = parse_delivery("facebook", body_of("webhook", "meta_page_messaging"), {"page_id": PAGE})
	[message] = pushed.posts
	assert (message.kind, message.text, message.author_id) == ("direct", "hello, my invoice is wrong", "7200000000000001")
	assert message.reply_ref == {"psid": "7200000000000001"} and message.thread_id == f"{PAGE}:7200000000000001"
	# the other page of the same Meta app is named for the endpoint to route, not mixed into this channel
	assert pushed.other_accounts == {"999000000000001"}


@responses.activate
def test_a_pushed_messenger_message_is_answered_by_the_facebook_connector():
	[message] = parse_delivery("facebook", body_of("webhook", "meta_page_messaging"), {"page_id": PAGE}).posts
	responses.add(responses.POST, f"https://graph.facebook.com/v21.0/{PAGE}/messages", json={"recipient_id": "7200000000000001", "message_id": "m_SENT"})
	conn = get_connector("facebook", {"page_id": PAGE, "page_access_token": "EAAGtoken123", "app_secret": APP_SECRET})
	assert conn.send_reply("Thanks, we fix it", message)[0].external_id == "m_SENT"
	assert json.loads(responses.calls[0].request.body)["recipient"] == {"id": "7200000000000001"}


# --- verify_delivery / answer_handshake ---------------------------------------------------------------------


def test_every_pushing_network_has_a_scheme_and_others_are_refused():
	assert set(PUSH_SCHEMES) == {"facebook", "instagram", "whatsapp", "telegram", "webhook"}
	assert pushes("whatsapp") and not pushes("mastodon")
	with pytest.raises(WebhookRefused) as caught:
		verify_delivery("mastodon", b"{}", {}, {})
	assert caught.value.status == 404


@pytest.mark.parametrize(("network", "folder", "name"), [
	("facebook", "webhook", "meta_page_feed"), ("instagram", "instagram", "comments"), ("whatsapp", "whatsapp", "statuses"),
])
def test_meta_networks_check_the_app_secret(network, folder, name):
	body = body_of(folder, name)
	assert verify_delivery(network, body, meta_headers(body), {"app_secret": APP_SECRET}) is None
	with pytest.raises(WebhookRefused) as caught:
		verify_delivery(network, body + b" ", meta_headers(body), {"app_secret": APP_SECRET})
	assert caught.value.status == 403
	with pytest.raises(WebhookRefused) as unset:
		verify_delivery(network, body, meta_headers(body), {})  # no app secret configured: nobody gets in
	assert unset.value.status == 403


def test_telegram_and_generic_use_the_channels_webhook_secret():
	body = body_of("webhook", "telegram_update")
	config = {"webhook_secret": "tg_secret-Token-123"}
	assert verify_delivery("telegram", body, {TELEGRAM_SECRET_HEADER: "tg_secret-Token-123"}, config) is None
	with pytest.raises(WebhookRefused):
		verify_delivery("telegram", body, {TELEGRAM_SECRET_HEADER: "tg_secret-Token-124"}, config)
	generic = body_of("webhook", "generic_posts")
	delivery = verify_delivery("webhook", generic, sign_generic(generic, "whsec", "d-1", NOW), {"webhook_secret": "whsec"}, now=NOW)
	assert delivery.id == "d-1"


def test_the_handshake_is_meta_only():
	params = {"hub.mode": "subscribe", "hub.verify_token": "vt-1", "hub.challenge": "42"}
	assert answer_handshake("whatsapp", params, {"verify_token": "vt-1"}) == "42"
	with pytest.raises(WebhookRefused) as caught:
		answer_handshake("telegram", params, {"verify_token": "vt-1"})
	assert caught.value.status == 405


# --- parse_delivery --------------------------------------------------------------------------------------------


def test_each_network_parses_its_recorded_delivery():
	assert [p.text for p in parse_delivery("telegram", body_of("webhook", "telegram_update"), {}).posts] == ["/start"]
	assert len(parse_delivery("instagram", body_of("instagram", "comments"), {}).posts) == 3
	generic = parse_delivery("webhook", body_of("webhook", "generic_posts"), {}, now=datetime.fromtimestamp(NOW, timezone.utc))
	assert [p.external_id for p in generic.posts] == ["status-4711", "4712"]
	whatsapp = parse_delivery("whatsapp", body_of("whatsapp", "statuses"), {"phone_number_id": "106540352242922"})
	assert (whatsapp.posts, len(whatsapp.statuses), whatsapp.other_accounts) == ([], 3, set())


def test_a_whatsapp_delivery_for_another_number_of_the_app_is_left_for_its_channel():
	pushed = parse_delivery("whatsapp", body_of("whatsapp", "text_message"), {"phone_number_id": "555"})
	assert pushed.posts == [] and pushed.other_accounts == {"106540352242922"}


@pytest.mark.parametrize(
	("network", "body"),
	[
		("webhook", b"not json"),
		("webhook", b"\xff\xfe\x00garbage"),
		("webhook", b"[" * 100_000),
		("telegram", b'{"update_id": true}'),
		("telegram", b'[{"update_id": 1}]'),
		("telegram", b'{"update_id": 1, "message": {"text": "no chat"}}'),
		("whatsapp", b'{"object": "whatsapp_business_account", "entry": [{"changes": [{"field": "messages", "value": {"metadata": {"phone_number_id": "1"}, "messages": [{"id": "x", "from": "1", "timestamp": "1", "type": "text", "text": []}]}}]}]}'),
		("instagram", b'{"object": "instagram", "entry": 5}'),
		("facebook", b'{"object": "page", "entry": [{"id": "1", "changes": [{"field": "feed", "value": {"verb": "add", "item": "comment", "from": {"id": "2"}, "message": "m", "post_id": "1_1"}}]}]}'),
	],
)
def test_an_unreadable_delivery_is_a_payload_error(network, body):
	with pytest.raises(PayloadError) as caught:
		parse_delivery(network, body, {})
	assert caught.value.status == 400 and str(caught.value).startswith(network)


def _mutations(value, rng, depth=0):
	"""Copies of a recorded delivery with one node replaced by a value of another type, recursively."""
	odd = [None, True, 0, -1, 1e308, "", "x" * 300, [], {}, [1], {"id": 1}, "<script>alert(1)</script>"]
	if isinstance(value, dict):
		for key in list(value)[:12]:
			for replacement in rng.sample(odd, 3):
				yield {**value, key: replacement}
			if depth < 6:
				for inner in _mutations(value[key], rng, depth + 1):
					yield {**value, key: inner}
	elif isinstance(value, list):
		for index, item in enumerate(value[:3]):
			for replacement in rng.sample(odd, 3):
				yield value[:index] + [replacement] + value[index + 1 :]
			if depth < 6:
				for inner in _mutations(item, rng, depth + 1):
					yield value[:index] + [inner] + value[index + 1 :]


@pytest.mark.parametrize(
	("network", "folder", "name"),
	[
		("whatsapp", "whatsapp", "media_messages"),
		("whatsapp", "whatsapp", "status_failed"),
		("instagram", "instagram", "messaging_attachments"),
		("instagram", "instagram", "comments"),
		("facebook", "webhook", "meta_page_feed_events"),
		("facebook", "webhook", "meta_page_messaging"),
		("telegram", "webhook", "telegram_update"),
		("webhook", "webhook", "generic_posts"),
	],
)
def test_a_delivery_of_any_shape_is_read_or_refused_with_a_payload_error(network, folder, name):
	"""Every field of a recorded delivery swapped for a value of another type: posts or a PayloadError, nothing else."""
	import random

	rng = random.Random(14)
	payload = json.loads(body_of(folder, name))
	tried = 0
	for mutated in _mutations(payload, rng):
		tried += 1
		try:
			pushed = parse_delivery(network, json.dumps(mutated).encode(), {}, now=datetime.fromtimestamp(NOW, timezone.utc))
		except PayloadError:
			continue
		for post in pushed.posts:
			assert isinstance(post.text, str) and "<script" not in post.text
			assert post.created_at.tzinfo is not None and isinstance(post.external_id, str) and post.external_id
	assert tried > 30
