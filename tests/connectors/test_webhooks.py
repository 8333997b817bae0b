"""Webhook verification (Meta, Telegram, the generic signed webhook) and the generic payload, without a site."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime, timedelta, timezone

import pytest

from social_itsm_app.connectors import ConnectorError, webhooks
from social_itsm_app.connectors.telegram import parse_payload as parse_telegram
from social_itsm_app.connectors.webhooks import (
	DELIVERY_HEADER,
	META_SIGNATURE_HEADER,
	SIGNATURE_HEADER,
	TELEGRAM_SECRET_HEADER,
	TIMESTAMP_HEADER,
	PayloadError,
	WebhookRefused,
	check_content_length,
	check_replay,
	meta_handshake,
	meta_signature,
	parse_generic,
	sign_generic,
	verify_generic,
	verify_meta,
	verify_telegram,
)
from tests.connectors.contract import FIXTURES

APP_SECRET = "meta-app-secret-4f2a9c"
TELEGRAM_SECRET = "tg_secret-Token-123"
GENERIC_SECRET = "whsec-generic-0b7e1d"
VERIFY_TOKEN = "verify-me-8d1c"
NOW = 1_796_320_800  # 2026-12-03T18:00:00Z


def body_of(folder: str, name: str) -> bytes:
	"""A recorded delivery exactly as its bytes arrive (the signature covers these bytes, not a re-encoding)."""
	return (FIXTURES / folder / f"{name}.json").read_bytes()


def flip(data: bytes, index: int = 10) -> bytes:
	changed = bytearray(data)
	changed[index] ^= 0x01
	return bytes(changed)


def refused(call, *args, **kwargs) -> WebhookRefused:
	with pytest.raises(WebhookRefused) as caught:
		call(*args, **kwargs)
	return caught.value


# --- Meta ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
	("folder", "name"),
	[("whatsapp", "text_message"), ("whatsapp", "statuses"), ("instagram", "comments"), ("webhook", "meta_page_feed")],
)
def test_meta_signature_over_the_raw_body_is_accepted(folder, name):
	body = body_of(folder, name)
	expected = "sha256=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
	assert meta_signature(body, APP_SECRET) == expected
	verify_meta(body, {META_SIGNATURE_HEADER: expected}, APP_SECRET)
	# header names arrive in any case (WSGI, proxies), the hex in either case
	verify_meta(body, {"x-hub-signature-256": expected.upper().replace("SHA256=", "sha256=")}, APP_SECRET)


def test_meta_signature_fails_on_a_flipped_byte_of_body_or_signature():
	body = body_of("whatsapp", "text_message")
	signature = meta_signature(body, APP_SECRET)
	assert refused(verify_meta, flip(body), {META_SIGNATURE_HEADER: signature}, APP_SECRET).status == 403
	bad_hex = signature[:-1] + ("0" if signature[-1] != "0" else "1")
	assert refused(verify_meta, body, {META_SIGNATURE_HEADER: bad_hex}, APP_SECRET).status == 403
	# the same body signed with another app's secret
	other = meta_signature(body, "another-app-secret")
	assert refused(verify_meta, body, {META_SIGNATURE_HEADER: other}, APP_SECRET).status == 403


@pytest.mark.parametrize(
	("headers", "status"),
	[
		({}, 401),
		({META_SIGNATURE_HEADER: ""}, 401),
		({META_SIGNATURE_HEADER: "sha1=" + "a" * 40}, 401),  # the old X-Hub-Signature form
		({META_SIGNATURE_HEADER: "sha256=nothex"}, 401),
		({"X-Hub-Signature": "sha1=" + "a" * 40}, 401),
	],
)
def test_meta_signature_missing_or_malformed_is_401(headers, status):
	assert refused(verify_meta, b"{}", headers, APP_SECRET).status == status


def test_meta_accepts_the_previous_secret_while_it_is_rotated_and_never_an_empty_one():
	body = body_of("instagram", "messaging_text")
	verify_meta(body, {META_SIGNATURE_HEADER: meta_signature(body, "old-secret")}, ["new-secret", "old-secret"])
	# An unconfigured channel accepts nobody, not even a sender who "signs" with the empty key.
	empty = meta_signature(body, "")
	assert refused(verify_meta, body, {META_SIGNATURE_HEADER: empty}, "").status == 403
	assert refused(verify_meta, body, {META_SIGNATURE_HEADER: empty}, [""]).status == 403


def test_meta_handshake_echoes_the_challenge_only_for_our_token():
	params = {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1158201444"}
	assert meta_handshake(params, VERIFY_TOKEN) == "1158201444"
	assert meta_handshake({k.replace(".", "_"): v for k, v in params.items()}, VERIFY_TOKEN) == "1158201444"
	wrong = refused(meta_handshake, {**params, "hub.verify_token": "guess"}, VERIFY_TOKEN)
	assert wrong.status == 403 and VERIFY_TOKEN not in str(wrong) and "guess" not in str(wrong)
	assert refused(meta_handshake, {**params, "hub.verify_token": VERIFY_TOKEN[:-1]}, VERIFY_TOKEN).status == 403
	assert refused(meta_handshake, {**params, "hub.mode": "unsubscribe"}, VERIFY_TOKEN).status == 400
	assert refused(meta_handshake, params, "").status == 403  # no token configured: nobody subscribes
	# the challenge is echoed back verbatim, so it must be a short token, never markup
	for challenge in ("<script>alert(1)</script>", "", "9" * 129):
		assert refused(meta_handshake, {**params, "hub.challenge": challenge}, VERIFY_TOKEN).status == 400


# --- Telegram ------------------------------------------------------------------------------------------------


def test_telegram_secret_token_is_checked_and_the_update_parses_as_polling_does():
	body = body_of("webhook", "telegram_update")
	verify_telegram(body, {TELEGRAM_SECRET_HEADER: TELEGRAM_SECRET}, TELEGRAM_SECRET)
	verify_telegram(body, {TELEGRAM_SECRET_HEADER.lower(): TELEGRAM_SECRET}, TELEGRAM_SECRET)
	posts = parse_telegram(json.loads(body))
	assert [(p.external_id, p.kind, p.text) for p in posts] == [("1111111:1365", "direct", "/start")]


@pytest.mark.parametrize(
	("headers", "status"),
	[
		({}, 401),
		({TELEGRAM_SECRET_HEADER: "tg_secret-Token-124"}, 403),
		({TELEGRAM_SECRET_HEADER: "tg_secret-Token-12"}, 403),
		({TELEGRAM_SECRET_HEADER: "tg secret with spaces"}, 403),
		({TELEGRAM_SECRET_HEADER: "\u00e9" * 10}, 403),  # non-ASCII: compared as bytes, no TypeError
	],
)
def test_telegram_wrong_or_missing_secret_is_refused(headers, status):
	error = refused(verify_telegram, b"{}", headers, TELEGRAM_SECRET)
	assert error.status == status
	assert TELEGRAM_SECRET not in str(error)


def test_a_fresh_telegram_secret_is_in_the_alphabet_setwebhook_accepts():
	secret = webhooks.new_telegram_secret()
	assert webhooks._TELEGRAM_SECRET.fullmatch(secret) and len(secret) >= 32
	assert secret != webhooks.new_telegram_secret()


# --- the generic signed webhook ---------------------------------------------------------------------------


def generic_headers(body: bytes, timestamp: int = NOW, delivery: str = "dlv-0001", secret: str = GENERIC_SECRET):
	return sign_generic(body, secret, delivery, timestamp)


def test_generic_signature_is_hmac_of_timestamp_dot_body():
	body = body_of("webhook", "generic_posts")
	headers = generic_headers(body)
	expected = hmac.new(GENERIC_SECRET.encode(), f"{NOW}.".encode() + body, hashlib.sha256).hexdigest()
	assert headers == {TIMESTAMP_HEADER: str(NOW), SIGNATURE_HEADER: f"v1={expected}", DELIVERY_HEADER: "dlv-0001"}
	delivery = verify_generic(body, headers, GENERIC_SECRET, now=NOW + 12)
	assert (delivery.id, delivery.timestamp) == ("dlv-0001", NOW)
	assert delivery.replay_keys == ("delivery:dlv-0001", f"signature:{expected}")


def test_generic_signature_fails_on_a_flipped_byte_or_another_timestamp():
	body = body_of("webhook", "generic_posts")
	headers = generic_headers(body)
	assert refused(verify_generic, flip(body), headers, GENERIC_SECRET, now=NOW).status == 403
	# the signature binds the timestamp: moving it (to dodge the window) breaks the signature
	moved = {**headers, TIMESTAMP_HEADER: str(NOW + 1)}
	assert refused(verify_generic, body, moved, GENERIC_SECRET, now=NOW).status == 403
	assert refused(verify_generic, body, headers, "the-wrong-secret", now=NOW).status == 403


@pytest.mark.parametrize(("offset", "word"), [(-301, "old"), (-3600, "old"), (301, "future"), (86400, "future")])
def test_generic_timestamp_outside_five_minutes_is_refused_either_way(offset, word):
	body = b'{"posts": []}'
	error = refused(verify_generic, body, generic_headers(body, NOW + offset), GENERIC_SECRET, now=NOW)
	assert error.status == 403 and word in error.reason


@pytest.mark.parametrize("offset", [-300, 0, 300])
def test_generic_timestamp_within_five_minutes_is_accepted(offset):
	body = b'{"posts": []}'
	assert verify_generic(body, generic_headers(body, NOW + offset), GENERIC_SECRET, now=NOW).timestamp == NOW + offset


@pytest.mark.parametrize(
	("change", "status"),
	[
		({SIGNATURE_HEADER: None}, 401),
		({SIGNATURE_HEADER: "v0=" + "a" * 64}, 401),
		({SIGNATURE_HEADER: "v1=zz"}, 401),
		({TIMESTAMP_HEADER: None}, 400),
		({TIMESTAMP_HEADER: "2026-12-03T18:00:00Z"}, 400),
		({TIMESTAMP_HEADER: "1796320800.5"}, 400),
		({TIMESTAMP_HEADER: "-1796320800"}, 400),
		({DELIVERY_HEADER: None}, 400),
		({DELIVERY_HEADER: "has spaces"}, 400),
		({DELIVERY_HEADER: "x" * 129}, 400),
		({DELIVERY_HEADER: "<script>"}, 400),
	],
)
def test_generic_malformed_headers_are_refused(change, status):
	body = b'{"posts": []}'
	headers = {k: v for k, v in {**generic_headers(body), **change}.items() if v is not None}
	assert refused(verify_generic, body, headers, GENERIC_SECRET, now=NOW).status == status


def test_generic_signature_header_may_carry_values_for_two_secrets():
	body = b'{"posts": []}'
	old = generic_headers(body, secret="old-secret")[SIGNATURE_HEADER]
	new = generic_headers(body, secret=GENERIC_SECRET)[SIGNATURE_HEADER]
	headers = {**generic_headers(body), SIGNATURE_HEADER: f"{old}, {new}"}
	assert verify_generic(body, headers, GENERIC_SECRET, now=NOW).id == "dlv-0001"
	assert verify_generic(body, generic_headers(body, secret="old-secret"), [GENERIC_SECRET, "old-secret"], now=NOW)


class Remembered:
	"""What the endpoint's cache does: an atomic test-and-set (SET NX)."""

	def __init__(self):
		self.keys: set[str] = set()

	def __call__(self, key: str) -> bool:
		if key in self.keys:
			return True
		self.keys.add(key)
		return False


def test_a_replayed_delivery_is_refused_with_409():
	body = body_of("webhook", "generic_posts")
	seen = Remembered()
	first = verify_generic(body, generic_headers(body), GENERIC_SECRET, now=NOW)
	check_replay(first, seen)
	# the very same request again
	again = verify_generic(body, generic_headers(body), GENERIC_SECRET, now=NOW + 5)
	assert refused(check_replay, again, seen).status == 409
	# a captured request resent under a new delivery id: the delivery id is not signed, the signature is
	relabelled = verify_generic(body, generic_headers(body, delivery="dlv-9999"), GENERIC_SECRET, now=NOW)
	assert refused(check_replay, relabelled, seen).status == 409
	# the sender's own retry (same delivery id, signed anew later) is a replay too: it already arrived
	retry = verify_generic(body, generic_headers(body, NOW + 30), GENERIC_SECRET, now=NOW + 30)
	assert refused(check_replay, retry, seen).status == 409
	# a different delivery goes through, and every key of every delivery was remembered
	other = verify_generic(b'{"posts": []}', generic_headers(b'{"posts": []}', delivery="dlv-0002"), GENERIC_SECRET, now=NOW)
	check_replay(other, seen)
	assert {"delivery:dlv-0001", "delivery:dlv-0002", "delivery:dlv-9999"} <= seen.keys


# --- size cap, and what refusals say -------------------------------------------------------------------------


def test_a_body_over_the_cap_is_refused_before_any_hashing(monkeypatch):
	def no_hashing(*args, **kwargs):
		raise AssertionError("hashed a body over the cap")

	monkeypatch.setattr(webhooks.hmac, "new", no_hashing)
	monkeypatch.setattr(webhooks.hmac, "compare_digest", no_hashing)
	big = b"x" * (webhooks.MAX_BODY_BYTES + 1)
	headers = {META_SIGNATURE_HEADER: "sha256=" + "a" * 64, TELEGRAM_SECRET_HEADER: TELEGRAM_SECRET}
	headers.update({TIMESTAMP_HEADER: str(NOW), SIGNATURE_HEADER: "v1=" + "a" * 64, DELIVERY_HEADER: "d1"})
	assert refused(verify_meta, big, headers, APP_SECRET).status == 413
	assert refused(verify_telegram, big, headers, TELEGRAM_SECRET).status == 413
	assert refused(verify_generic, big, headers, GENERIC_SECRET, now=NOW).status == 413
	assert refused(verify_generic, b"x" * 101, headers, GENERIC_SECRET, now=NOW, limit=100).status == 413


def test_the_declared_length_is_refused_before_the_body_is_read():
	check_content_length(None)
	check_content_length("512")
	assert refused(check_content_length, str(webhooks.MAX_BODY_BYTES + 1)).status == 413
	assert refused(check_content_length, "100", limit=99).status == 413
	assert refused(check_content_length, "12abc").status == 400
	assert refused(check_content_length, "-1").status == 400


def test_no_refusal_ever_names_a_secret_a_signature_or_the_body():
	body = b'{"posts": [{"id": "secret-body-marker"}]}'
	good_generic = generic_headers(body)
	cases = [
		lambda: verify_meta(flip(body), {META_SIGNATURE_HEADER: meta_signature(body, APP_SECRET)}, APP_SECRET),
		lambda: verify_meta(body, {META_SIGNATURE_HEADER: "sha256=" + APP_SECRET}, APP_SECRET),
		lambda: verify_telegram(body, {TELEGRAM_SECRET_HEADER: TELEGRAM_SECRET + "x"}, TELEGRAM_SECRET),
		lambda: verify_generic(flip(body, 3), good_generic, GENERIC_SECRET, now=NOW),
		lambda: verify_generic(body, good_generic, GENERIC_SECRET, now=NOW + 999),
		lambda: verify_generic(body, {**good_generic, DELIVERY_HEADER: GENERIC_SECRET + " x"}, GENERIC_SECRET, now=NOW),
		lambda: meta_handshake({"hub.mode": "subscribe", "hub.verify_token": "x", "hub.challenge": "1"}, VERIFY_TOKEN),
	]
	leaks = [APP_SECRET, TELEGRAM_SECRET, GENERIC_SECRET, VERIFY_TOKEN, "secret-body-marker"]
	leaks += [meta_signature(body, APP_SECRET)[7:], good_generic[SIGNATURE_HEADER][3:]]
	for case in cases:
		with pytest.raises(WebhookRefused) as caught:
			case()
		shown = f"{caught.value} {caught.value.reason!r} {caught.value.args!r}"
		assert caught.value.status in (400, 401, 403)
		for leak in leaks:
			assert leak not in shown


# --- the generic payload --------------------------------------------------------------------------------------


def test_generic_payload_parses_to_webhook_posts():
	posts = parse_generic(json.loads(body_of("webhook", "generic_posts")), now=datetime.fromtimestamp(NOW, timezone.utc))
	first, second = posts
	assert (first.network, first.external_id, first.kind, first.thread_id) == ("webhook", "status-4711", "feed", "incident-12")
	assert (first.author_id, first.author_handle, first.author_name) == ("statuspage", "statuspage", "Status page")
	assert first.url == "https://status.example.com/incidents/4711"
	assert first.created_at == datetime(2026, 12, 3, 18, 0, tzinfo=timezone.utc)
	# integers are accepted as ids; epoch seconds as a time; the default kind is a mention
	assert (second.external_id, second.author_id, second.kind) == ("4712", "99", "mention")
	assert second.in_reply_to_id == "status-4711" and second.created_at.tzinfo is not None
	assert second.author_handle == "" and second.author_name == "Chat bot"


def test_generic_payload_cleans_hostile_strings():
	now = datetime.fromtimestamp(NOW, timezone.utc)
	[post] = parse_generic(
		{
			"posts": [
				{
					"id": "a\u0000b",
					"text": "<script>alert(1)</script>Checkout <b>down</b> &lt;img src=x onerror=alert(1)&gt;",
					"author": {"id": "x", "handle": "<i>h</i>", "name": "\u202eevil\ud800"},
					"url": "javascript:alert(1)",
					"created_at": "2999-01-01T00:00:00Z",
					"language": "ignored",
				}
			]
		},
		now=now,
	)
	assert "<" not in post.text and "alert(1)" not in post.text and "Checkout down" in post.text
	assert post.external_id == "ab" and post.author_handle == "h" and post.author_name == "evil"
	assert post.url == ""
	assert post.created_at == now  # a time in the future cannot push a post up the list


@pytest.mark.parametrize(
	("payload", "words"),
	[
		([], '"posts" list'),
		({"posts": "x"}, '"posts" list'),
		({"posts": [1]}, "posts[0] must be an object"),
		({"posts": [{"id": "1", "text": "t"}]}, "posts[0].author"),
		({"posts": [{"id": "1", "text": "t", "author": {}}]}, "posts[0].author.id"),
		({"posts": [{"id": True, "text": "t", "author": {"id": "a"}}]}, "posts[0].id must be text"),
		({"posts": [{"id": "1", "text": 5, "author": {"id": "a"}}]}, "posts[0].text must be text"),
		({"posts": [{"id": "1", "text": "<p></p>", "author": {"id": "a"}}]}, "posts[0].text is empty"),
		({"posts": [{"id": "1", "text": "t", "author": {"id": "a"}, "kind": "dm"}]}, "posts[0].kind"),
		({"posts": [{"id": "x" * 256, "text": "t", "author": {"id": "a"}}]}, "longer than 255"),
		({"posts": [{"id": "1", "text": "t" * 100_001, "author": {"id": "a"}}]}, "posts[0].text is longer"),
		({"posts": [{"id": "1", "text": "t", "author": {"id": "a"}, "created_at": "yesterday"}]}, "not a valid time"),
		({"posts": [{"id": "1", "text": "t", "author": {"id": "a"}, "created_at": 1e300}]}, "not a valid time"),
		({"posts": [{"id": "1", "text": "t", "author": {"id": "a"}, "created_at": [1]}]}, "ISO-8601"),
		({"posts": [{"id": str(i), "text": "t", "author": {"id": "a"}} for i in range(101)]}, "at most 100"),
	],
)
def test_generic_payload_in_a_wrong_shape_is_a_clear_payload_error(payload, words):
	with pytest.raises(PayloadError) as caught:
		parse_generic(payload)
	assert isinstance(caught.value, ConnectorError) and caught.value.status == 400
	assert words in str(caught.value)


def test_generic_format_documents_what_the_verifier_and_parser_expect():
	for name in (TIMESTAMP_HEADER, SIGNATURE_HEADER, DELIVERY_HEADER, '"posts"', "v1=", "409"):
		assert name in webhooks.GENERIC_FORMAT
	# the documented example post is valid as written
	example = {
		"posts": [
			{
				"id": "status-4711",
				"text": "Checkout fails with error 502",
				"author": {"id": "statuspage", "handle": "statuspage", "name": "Status page"},
				"created_at": "2026-12-03T18:00:00Z",
				"url": "https://status.example.com/4711",
				"thread_id": "incident-12",
				"in_reply_to_id": "status-4710",
				"kind": "mention",
			}
		]
	}
	assert parse_generic(example, now=datetime.now(timezone.utc) + timedelta(days=1))[0].external_id == "status-4711"
