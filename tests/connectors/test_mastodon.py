"""Mastodon connector: recorded payloads shaped like docs.joinmastodon.org's examples, no network."""

from __future__ import annotations

from datetime import datetime, timezone
from urllib.parse import parse_qs

import pytest
import responses
from responses import matchers

from social_itsm_app.connectors import ConnectorError, RateLimited, SentReply, get_connector
from social_itsm_app.connectors import text as text_module
from social_itsm_app.connectors.base import decode_cursor, encode_cursor
from social_itsm_app.connectors.mastodon import parse_payload, reply_idempotency_key
from social_itsm_app.connectors.split import graphemes_url23
from tests.connectors.contract import ContractCase, ContractSuite, load_fixture

BASE = "https://mastodon.example"
NOTIFICATIONS = f"{BASE}/api/v1/notifications"
STATUSES = f"{BASE}/api/v1/statuses"
TAG = f"{BASE}/api/v1/timelines/tag/acmeoutage"
CONFIG = {"base_url": BASE, "access_token": "masto-token-SECRET-99", "http_backoff": 0}


def fx(name: str):
	return load_fixture("mastodon", name)


def link(prev_min_id: str, next_max_id: str) -> dict[str, str]:
	return {
		"Link": f'<{NOTIFICATIONS}?max_id={next_max_id}&types[]=mention>; rel="next", '
		f'<{NOTIFICATIONS}?min_id={prev_min_id}&types[]=mention>; rel="prev"'
	}


def register_success(rsps: responses.RequestsMock) -> None:
	rsps.add(responses.GET, NOTIFICATIONS, json=fx("notifications_page1"), headers=link("34975862", "34975861"))


class TestMastodonContract(ContractSuite):
	case = ContractCase(
		network="mastodon",
		config=CONFIG,
		fetch_url=NOTIFICATIONS,
		register_success=register_success,
		rate_limit_headers={
			"X-RateLimit-Limit": "300",
			"X-RateLimit-Remaining": "0",
			"X-RateLimit-Reset": "2026-11-23T08:25:00.123456Z",
		},
		rate_limit_body={"error": "Too many requests"},
		expected_reset=datetime(2026, 11, 23, 8, 25, 0, 123456, tzinfo=timezone.utc),
		auth_body={"error": "The access token is invalid"},
	)


def connector(**overrides):
	return get_connector("mastodon", {**CONFIG, **overrides})


def query(call) -> dict[str, list[str]]:
	return parse_qs(call.request.url.split("?", 1)[1]) if "?" in call.request.url else {}


def form(call) -> dict[str, str]:
	return {key: values[0] for key, values in parse_qs(call.request.body).items()}


# --- fetch -----------------------------------------------------------------------------------------------


@responses.activate
def test_first_fetch_parses_every_field_and_takes_one_page():
	register_success(responses)
	result = connector().fetch()
	assert len(responses.calls) == 1, "the first run must not crawl history"
	sent = query(responses.calls[0])
	assert sent["types[]"] == ["mention"] and sent["limit"] == ["40"] and sent["include_filtered"] == ["true"]
	assert "min_id" not in sent
	assert responses.calls[0].request.headers["Authorization"] == "Bearer masto-token-SECRET-99"

	assert [p.external_id for p in result.posts] == ["113500000000000010", "113500000000000020"]
	private, public = result.posts
	assert public.network == "mastodon" and public.kind == "mention"
	assert public.text == (
		"@acmehelp the VPN is down again & I can't reach https://intranet.example.com/wiki/vpn-howto 😤\n\n#outage\n"
		"[Screenshot: error 809] https://files.mastodon.example/media/original/vpn.png"
	)
	assert public.author_id == "109111111111111111"
	assert public.author_handle == "alice@fosstodon.example"
	assert public.author_name == "Alice 🐘"  # "<IT>" was escaped markup: dropped, never rendered
	assert public.created_at == datetime(2026, 11, 23, 7, 58, 1, 940000, tzinfo=timezone.utc)
	assert public.url == "https://fosstodon.example/@alice/113500000000000020"
	assert public.in_reply_to_id == "113499999999999999" and public.thread_id == "113499999999999999"
	assert public.language == "en"
	assert public.raw["id"] == "34975862" and public.raw["status"]["id"] == "113500000000000020"
	assert public.reply_ref == {"status_id": "113500000000000020", "acct": "alice@fosstodon.example", "visibility": "public"}

	assert private.kind == "direct" and private.language is None and private.author_name == "bob"
	assert private.text == "[CW: account details]\n@acmehelp private question: my badge 4711 stopped working\nログインできない"
	assert private.thread_id == "113500000000000010" and private.in_reply_to_id is None

	assert decode_cursor(result.cursor) == {"notifications": "34975862"}
	assert result.has_more is False


@responses.activate
def test_second_fetch_sends_min_id_and_returns_nothing_twice():
	responses.add(
		responses.GET,
		NOTIFICATIONS,
		json=[],
		match=[matchers.query_param_matcher({"min_id": "34975862", "types[]": "mention"}, strict_match=False)],
	)
	result = connector().fetch(encode_cursor({"notifications": "34975862"}))
	assert result.posts == [] and decode_cursor(result.cursor) == {"notifications": "34975862"}


@responses.activate
def test_paging_follows_link_prev_until_an_empty_page():
	responses.add(responses.GET, NOTIFICATIONS, json=fx("notifications_page1"), headers=link("34975862", "34975861"))
	responses.add(responses.GET, NOTIFICATIONS, json=fx("notifications_page2"), headers=link("34975870", "34975870"))
	responses.add(responses.GET, NOTIFICATIONS, json=[])
	result = connector().fetch(encode_cursor({"notifications": "34975800"}))
	assert [query(c)["min_id"] for c in responses.calls] == [["34975800"], ["34975862"], ["34975870"]]
	assert [p.external_id for p in result.posts] == ["113500000000000010", "113500000000000020", "113500000000000030"]
	assert result.posts[-1].text == "@acmehelp also the printer is jammed again"
	assert decode_cursor(result.cursor) == {"notifications": "34975870"}
	assert result.has_more is False


@responses.activate
def test_page_bound_sets_has_more_and_the_next_call_continues_where_it_stopped():
	responses.add(responses.GET, NOTIFICATIONS, json=fx("notifications_page1"), headers=link("34975862", "34975861"))
	first = connector(max_pages=1).fetch(encode_cursor({"notifications": "34975800"}))
	assert first.has_more is True and decode_cursor(first.cursor) == {"notifications": "34975862"}

	responses.replace(responses.GET, NOTIFICATIONS, json=fx("notifications_page2"))  # no Link: last page
	second = connector(max_pages=1).fetch(first.cursor)
	assert query(responses.calls[1])["min_id"] == ["34975862"]
	assert [p.external_id for p in second.posts] == ["113500000000000030"]
	assert second.has_more is False and decode_cursor(second.cursor) == {"notifications": "34975870"}


@responses.activate
def test_link_urls_are_never_followed_to_another_host():
	evil = {"Link": '<https://evil.example/api/v1/notifications?min_id=34975862>; rel="prev"'}
	responses.add(responses.GET, NOTIFICATIONS, json=fx("notifications_page1"), headers=evil)
	responses.add(responses.GET, NOTIFICATIONS, json=[])
	connector().fetch(encode_cursor({"notifications": "34975800"}))
	assert all(c.request.url.startswith(NOTIFICATIONS) for c in responses.calls)


@responses.activate
def test_hashtag_timelines_have_their_own_cursor_and_dedupe_with_mentions():
	register_success(responses)
	responses.add(responses.GET, TAG, json=fx("tag_timeline"))
	result = connector(hashtags="#acmeoutage").fetch()
	kinds = {p.external_id: p.kind for p in result.posts}
	assert kinds == {"113500000000000010": "direct", "113500000000000020": "mention", "113500000000000040": "search"}
	assert [p.text for p in result.posts if p.kind == "search"] == ["Is anyone else seeing #acmeoutage? Mail has been down for an hour."]
	assert decode_cursor(result.cursor) == {"notifications": "34975862", "tags": {"acmeoutage": "113500000000000040"}}

	responses.add(
		responses.GET, TAG, json=[], match=[matchers.query_param_matcher({"min_id": "113500000000000040"}, strict_match=False)]
	)
	responses.replace(responses.GET, NOTIFICATIONS, json=[])
	again = connector(hashtags=["acmeoutage"]).fetch(result.cursor)
	assert again.posts == []


def test_fast_html_path_matches_the_full_parser():
	samples = [n["status"]["content"] for n in fx("notifications_page1") + fx("notifications_page2")]
	samples += [s["content"] for s in fx("tag_timeline")]
	samples += [
		'<p>a<br />b</p><p><a href="https://example.com/x?a=1&amp;b=2">docs</a> &amp; more</p>',
		'<p><a href="javascript:alert(1)">click</a> <a href="https://example.com/">https://example.com/</a></p>',
		"<p>Text with &lt;b&gt; escaped tags</p>",
	]
	fast_results = [text_module._simple_html_to_text(markup) for markup in samples]
	for markup, fast in zip(samples, fast_results, strict=True):
		assert fast is None or fast == text_module._soup_html_to_text(markup)
	# Mastodon's own markup takes the fast path; hostile markup does not.
	assert sum(fast is not None for fast in fast_results) >= len(samples) // 2


@pytest.mark.parametrize(
	"content",
	[
		"<p>hi<script>alert(1)</script></p>",
		"<p>&lt;script&gt;alert(1)&lt;/script&gt;hi</p>",
		'<p><a href="https://x.example"><script>alert(1)</script></a>hi</p>',
		"<p>hi<img src=x onerror=alert(1)></p>",
	],
)
def test_script_never_survives(content):
	page = fx("notifications_page2")
	page[0]["status"]["content"] = content
	text = parse_payload(page)[0].text
	assert "<" not in text and "alert" not in text and text.endswith("hi")


# --- replies ---------------------------------------------------------------------------------------------


def posts():
	private, public = sorted(parse_payload(fx("notifications_page1")), key=lambda p: p.external_id)
	return public, private


@responses.activate
def test_reply_sends_the_documented_payload_with_mention_and_idempotency_key():
	public, _ = posts()
	text = "@alice@fosstodon.example We are on it!"
	responses.add(
		responses.POST,
		STATUSES,
		json=fx("status_created"),
		match=[
			matchers.urlencoded_params_matcher(
				{"status": text, "in_reply_to_id": "113500000000000020", "visibility": "public"}
			),
			matchers.header_matcher(
				{
					"Authorization": "Bearer masto-token-SECRET-99",
					"Idempotency-Key": reply_idempotency_key("113500000000000020", text),
				}
			),
		],
	)
	sent = connector().send_reply("We are on it!", in_reply_to=public)
	assert sent == [SentReply("113500000000000099", "https://mastodon.example/@acmehelp/113500000000000099")]


@responses.activate
def test_given_idempotency_key_is_used_and_a_retried_post_reuses_it():
	public, _ = posts()
	responses.add(responses.POST, STATUSES, status=503, body="busy")
	responses.add(responses.POST, STATUSES, json=fx("status_created"))
	connector().send_reply("Fixed now.", in_reply_to=public, idempotency_key="ticket-42-reply-3")
	keys = [c.request.headers["Idempotency-Key"] for c in responses.calls]
	# The key makes Mastodon answer a repeat with the first status, so the 5xx could be retried safely.
	assert keys == ["ticket-42-reply-3-0", "ticket-42-reply-3-0"]


def test_derived_idempotency_key_is_stable_and_specific():
	assert reply_idempotency_key("1", "hi") == reply_idempotency_key("1", "hi")
	assert reply_idempotency_key("1", "hi") != reply_idempotency_key("2", "hi")
	assert reply_idempotency_key("1", "hi") != reply_idempotency_key("1", "hi!")


@responses.activate
def test_long_reply_is_a_chain_within_the_limit():
	public, _ = posts()
	for index in range(10):
		responses.add(responses.POST, STATUSES, json={**fx("status_created"), "id": f"1135000000000001{index:02d}"})
	text = ("Sorry 😞 for the trouble, details at https://status.example.com/incidents/2026-11-23-vpn-outage. " * 6) + (
		"システムは現在復旧作業中です。" * 20
	)
	sent = connector(max_characters=300).send_reply(text, in_reply_to=public)
	calls = [form(c) for c in responses.calls]
	assert len(calls) == len(sent) >= 3
	assert [c["in_reply_to_id"] for c in calls] == ["113500000000000020"] + [s.external_id for s in sent[:-1]]
	assert calls[0]["status"].startswith("@alice@fosstodon.example ")
	assert not calls[1]["status"].startswith("@")  # public chain: the mention opens the thread only
	for number, call in enumerate(calls, 1):
		assert graphemes_url23(call["status"]) <= 300
		assert call["status"].endswith(f"({number}/{len(calls)})")
	assert len({c.request.headers["Idempotency-Key"] for c in responses.calls}) == len(calls)


@responses.activate
def test_private_reply_is_direct_and_every_part_mentions_the_author():
	public, _ = posts()
	for index in range(10):
		responses.add(responses.POST, STATUSES, json={**fx("status_created"), "id": f"1135000000000002{index:02d}"})
	sent = connector(max_characters=120).send_reply("Please send us your ticket number. " * 8, in_reply_to=public, private=True)
	calls = [form(c) for c in responses.calls]
	assert len(sent) >= 2
	for call in calls:
		assert call["visibility"] == "direct"
		assert call["status"].startswith("@alice@fosstodon.example ")
		assert graphemes_url23(call["status"]) <= 120


@responses.activate
def test_a_direct_mention_is_never_answered_in_public():
	_, private = posts()
	responses.add(responses.POST, STATUSES, json=fx("status_created"))
	connector().send_reply("We reset your badge.", in_reply_to=private, private=False)
	assert form(responses.calls[0]) == {
		"status": "@bob We reset your badge.",
		"in_reply_to_id": "113500000000000010",
		"visibility": "direct",
	}


@responses.activate
def test_resuming_with_already_sent_does_not_resend():
	public, _ = posts()
	responses.add(responses.POST, STATUSES, json=fx("status_created"))
	text = "All systems are back. " * 30
	done = [SentReply("113500000000000555", "https://mastodon.example/@acmehelp/113500000000000555")]
	sent = connector().send_reply(text, in_reply_to=public, already_sent=done)
	assert len(sent) == 2 and sent[0] == done[0]
	assert len(responses.calls) == 1
	call = form(responses.calls[0])
	assert call["in_reply_to_id"] == "113500000000000555" and call["status"].endswith("(2/2)")


@responses.activate
def test_failed_part_reports_what_was_sent():
	public, _ = posts()
	responses.add(responses.POST, STATUSES, json=fx("status_created"))
	responses.add(responses.POST, STATUSES, status=422, json={"error": "Validation failed: Text character limit of 500 exceeded"})
	with pytest.raises(ConnectorError) as caught:
		connector().send_reply("All systems are back. " * 30, in_reply_to=public)
	assert [s.external_id for s in caught.value.sent] == ["113500000000000099"]
	assert "character limit" in str(caught.value)


@responses.activate
def test_rate_limited_reply_reads_the_iso_reset():
	public, _ = posts()
	responses.add(responses.POST, STATUSES, status=429, headers={"X-RateLimit-Reset": "2026-11-23T08:30:00.000Z"}, json={"error": "Too many requests"})
	with pytest.raises(RateLimited) as caught:
		connector().send_reply("hi", in_reply_to=public)
	assert caught.value.reset_at == datetime(2026, 11, 23, 8, 30, tzinfo=timezone.utc)


@responses.activate
def test_verify_credentials():
	responses.add(responses.GET, f"{BASE}/api/v1/accounts/verify_credentials", json=fx("verify_credentials"))
	info = connector(base_url="mastodon.example/").verify_credentials()
	assert (info.id, info.handle, info.name, info.url) == (
		"109000000000000001", "acmehelp", "Acme Help", "https://mastodon.example/@acmehelp",
	)
