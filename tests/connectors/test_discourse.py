"""Discourse connector: /posts.json paging with a post-id cursor, cooked HTML, 429 extras, replies and PMs."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from social_itsm_app.connectors import AuthError, ConnectorError, RateLimited, SentReply, get_connector
from social_itsm_app.connectors.base import decode_cursor
from social_itsm_app.connectors.discourse import parse_payload
from tests.connectors.contract import ContractCase, ContractSuite, load_fixture

BASE = "https://forum.example.com"
POSTS = f"{BASE}/posts.json"
KEY = "d7c1f9a2b3e4d5c6b7a8f9e0d1c2b3a4f5e6d7c8b9a0"
CONFIG = {"base_url": BASE + "/", "api_key": KEY, "api_username": "helpdesk_bot", "http_backoff": 0}


def fx(name: str):
	return load_fixture("discourse", name)


def connector(**overrides):
	return get_connector("discourse", {**CONFIG, **overrides})


def register_success(rsps: responses.RequestsMock) -> None:
	rsps.add(responses.GET, POSTS, json=fx("posts_page1"))


def query(call) -> dict[str, str]:
	return {k: v[0] for k, v in parse_qs(urlsplit(call.request.url).query).items()}


class TestDiscourseContract(ContractSuite):
	case = ContractCase(
		network="discourse",
		config=CONFIG,
		fetch_url=POSTS,
		register_success=register_success,
		rate_limit_headers={"Retry-After": "37"},
		rate_limit_body=fx("rate_limited"),
		auth_status=403,
	)


def test_first_fetch_parses_every_field_and_skips_own_and_system_posts():
	with responses.RequestsMock() as rsps:
		register_success(rsps)
		result = connector().fetch()
		headers = rsps.calls[0].request.headers
	assert (headers["Api-Key"], headers["Api-Username"], headers["Accept"]) == (KEY, "helpdesk_bot", "application/json")
	assert [p.external_id for p in result.posts] == ["1202", "1204"]
	jane = result.posts[0]
	assert jane.network == "discourse" and jane.kind == "mention"
	assert (jane.author_id, jane.author_handle, jane.author_name) == ("40", "jane", "Jane")
	assert jane.created_at == datetime(2026, 11, 22, 10, 0, tzinfo=timezone.utc)
	assert jane.url == f"{BASE}/t/vpn-drops-every-10-minutes/88/1"
	assert jane.thread_id == "88"
	assert jane.reply_ref == {"topic_id": 88, "post_number": 1, "username": "jane", "topic_title": "VPN drops every 10 minutes"}
	# cooked HTML -> text; site-relative links made absolute; the mention stays a readable @name.
	assert "known issues (https://forum.example.com/t/known-issues/12)" in jane.text
	assert "the status page (https://status.example.com/incidents/42)" in jane.text
	assert "@helpdesk_bot any idea?" in jane.text and "😩" in jane.text and "error 809" in jane.text
	mallory = result.posts[1]
	assert "<script" not in mallory.text.lower() and "alert" not in mallory.text
	assert mallory.text.startswith("Same for me & my team")
	assert decode_cursor(result.cursor) == {"last_id": 1205}
	assert result.has_more is False


def test_second_fetch_sends_nothing_old_and_stops_at_the_cursor():
	page = fx("posts_page1")
	new = dict(page["latest_posts"][1], id=1206, post_number=5, username="jane", user_id=40, cooked="<p>Works now, thanks!</p>")
	page["latest_posts"].insert(0, new)
	with responses.RequestsMock() as rsps:
		rsps.add(responses.GET, POSTS, json=page)
		result = connector().fetch(json.dumps({"last_id": 1205}))
		assert len(rsps.calls) == 1  # the page reached the cursor: no older page requested
	assert [(p.external_id, p.text) for p in result.posts] == [("1206", "Works now, thanks!")]
	assert decode_cursor(result.cursor) == {"last_id": 1206}
	with responses.RequestsMock() as rsps:
		rsps.add(responses.GET, POSTS, json=page)
		assert connector().fetch(result.cursor).posts == []


def test_paging_goes_back_with_before_until_the_cursor():
	with responses.RequestsMock() as rsps:
		rsps.add(responses.GET, POSTS, json=fx("posts_page1"))
		rsps.add(responses.GET, POSTS, json=fx("posts_page2"))
		result = connector().fetch(json.dumps({"last_id": 1200}))
		assert "before" not in query(rsps.calls[0])
		assert query(rsps.calls[1])["before"] == "1202"
	assert [p.external_id for p in result.posts] == ["1201", "1202", "1204"]
	assert result.posts[0].text == "打印机还是不能用。"
	assert decode_cursor(result.cursor) == {"last_id": 1205}


def test_page_bound_keeps_last_id_until_the_gap_is_closed():
	with responses.RequestsMock() as rsps:
		rsps.add(responses.GET, POSTS, json=fx("posts_page1"))
		first = connector(max_pages=1).fetch(json.dumps({"last_id": 1100}))
	assert first.has_more is True
	assert decode_cursor(first.cursor) == {"last_id": 1100, "before": 1202, "pending": 1205}
	with responses.RequestsMock() as rsps:
		rsps.add(responses.GET, POSTS, json=fx("posts_page2"))
		rsps.add(responses.GET, POSTS, json=fx("posts_empty"))
		second = connector(max_pages=2).fetch(first.cursor)
		assert [query(c).get("before") for c in rsps.calls] == ["1202", "1200"]
	assert [p.external_id for p in second.posts] == ["1200", "1201"]
	assert second.has_more is False and decode_cursor(second.cursor) == {"last_id": 1205}


def test_category_filter_by_slug_includes_subcategories():
	with responses.RequestsMock() as rsps:
		rsps.add(responses.GET, f"{BASE}/categories.json", json=fx("categories"))
		rsps.add(responses.GET, POSTS, json=fx("posts_page1"))
		rsps.add(responses.GET, POSTS, json=fx("posts_page2"))
		rsps.add(responses.GET, POSTS, json=fx("posts_empty"))  # the start of the forum
		result = connector(category="facilities").fetch(json.dumps({"last_id": 1199}))
	assert [p.external_id for p in result.posts] == ["1200", "1201"]  # category 6 only
	assert decode_cursor(result.cursor) == {"last_id": 1205}  # filtered posts still advance the cursor
	with responses.RequestsMock() as rsps:
		rsps.add(responses.GET, f"{BASE}/categories.json", json=fx("categories"))
		rsps.add(responses.GET, POSTS, json=fx("posts_page1"))
		assert [p.external_id for p in connector(category="it-support").fetch().posts] == ["1202", "1204"]
	with responses.RequestsMock() as rsps:
		rsps.add(responses.GET, f"{BASE}/categories.json", json=fx("categories"))
		with pytest.raises(ConnectorError, match="no category matches"):
			connector(category="nope").fetch()


def test_rate_limit_uses_extras_wait_seconds():
	before = datetime.now(timezone.utc)
	with responses.RequestsMock() as rsps:
		rsps.add(responses.GET, POSTS, status=429, json=fx("rate_limited"), headers={"Retry-After": "37"})
		with pytest.raises(RateLimited) as caught:
			connector().fetch()
	after = datetime.now(timezone.utc)
	assert before + timedelta(seconds=37) <= caught.value.reset_at <= after + timedelta(seconds=37)
	assert "Please wait 37 seconds" in str(caught.value)


def test_rate_limit_without_body_falls_back_to_retry_after():
	with responses.RequestsMock() as rsps:
		rsps.add(responses.GET, POSTS, status=429, body="Too Many Requests", headers={"Retry-After": "120"})
		with pytest.raises(RateLimited) as caught:
			connector().fetch()
	wait = (caught.value.reset_at - datetime.now(timezone.utc)).total_seconds()
	assert 115 < wait <= 120


def test_invalid_key_is_an_auth_error_with_discourse_message():
	with responses.RequestsMock() as rsps:
		rsps.add(responses.GET, POSTS, status=403, json=fx("invalid_access"))
		with pytest.raises(AuthError, match="API username or key is invalid"):
			connector().fetch()


def first_post():
	with responses.RequestsMock() as rsps:
		register_success(rsps)
		return connector().fetch().posts[0]


def test_reply_sends_topic_raw_and_reply_to_post_number():
	post = first_post()
	with responses.RequestsMock() as rsps:
		rsps.add(responses.POST, POSTS, json=fx("post_created"))
		sent = connector().send_reply("Please restart the VPN client.", post)
		call = rsps.calls[0]
	assert json.loads(call.request.body) == {"topic_id": 88, "raw": "Please restart the VPN client.", "reply_to_post_number": 1}
	assert call.request.headers["Api-Key"] == KEY
	assert sent == [SentReply("1210", f"{BASE}/t/vpn-drops-every-10-minutes/88/5")]


def test_long_reply_is_a_chain_each_part_replying_to_the_previous_one():
	post = first_post()
	text = ("Bitte VPN neu starten 🔁, dann Zertifikat prüfen. 请重新连接。 " * 40).strip()
	with responses.RequestsMock() as rsps:
		rsps.assert_all_requests_are_fired = False
		for number in range(5, 20):
			rsps.add(responses.POST, POSTS, json=dict(fx("post_created"), id=1210 + number, post_number=number))
		sent = connector(max_post_length=500).send_reply(text, post)
		bodies = [json.loads(c.request.body) for c in rsps.calls]
	assert len(sent) == len(bodies) >= 3
	assert bodies[0]["reply_to_post_number"] == 1
	assert all(b["topic_id"] == 88 for b in bodies)
	# each part answers the post number the previous part got (5, 6, ...)
	assert [b["reply_to_post_number"] for b in bodies[1:]] == list(range(5, 5 + len(bodies) - 1))
	assert all(len(b["raw"]) <= 500 for b in bodies)
	assert bodies[-1]["raw"].endswith(f"({len(bodies)}/{len(bodies)})")


def test_resume_with_already_sent_does_not_resend():
	post = first_post()
	text = ("The VPN gateway is being replaced tonight; please reconnect tomorrow morning. " * 12).strip()
	done = [SentReply("1215", f"{BASE}/t/vpn-drops-every-10-minutes/88/5")]
	with responses.RequestsMock() as rsps:
		rsps.assert_all_requests_are_fired = False
		for number in range(6, 10):
			rsps.add(responses.POST, POSTS, json=dict(fx("post_created"), id=1210 + number, post_number=number))
		sent = connector(max_post_length=500).send_reply(text, post, already_sent=done)
		bodies = [json.loads(c.request.body) for c in rsps.calls]
	assert sent[0] == done[0] and len(bodies) == len(sent) - 1
	assert bodies[0]["reply_to_post_number"] == 5 and bodies[0]["raw"].endswith(f"(2/{len(sent)})")


def test_private_reply_creates_a_private_message_to_the_author():
	post = first_post()
	pm = dict(fx("post_created"), id=1300, topic_id=120, post_number=1, topic_slug="re-vpn-drops-every-10-minutes")
	with responses.RequestsMock() as rsps:
		rsps.add(responses.POST, POSTS, json=pm)
		sent = connector().send_reply("Please send me your device name privately.", post, private=True)
		body = json.loads(rsps.calls[0].request.body)
	assert body == {
		"title": "Re: VPN drops every 10 minutes",
		"raw": "Please send me your device name privately.",
		"archetype": "private_message",
		"target_recipients": "jane",
	}
	assert sent == [SentReply("1300", f"{BASE}/t/re-vpn-drops-every-10-minutes/120/1")]


def test_validation_errors_are_surfaced_and_short_replies_refused_early():
	post = first_post()
	with responses.RequestsMock() as rsps:
		rsps.add(responses.POST, POSTS, status=422, json=fx("too_similar"))
		with pytest.raises(ConnectorError, match="Body is too similar to what you recently posted") as caught:
			connector().send_reply("Please restart the VPN client.", post)
		assert len(rsps.calls) == 1  # a POST is never retried
	assert caught.value.status == 422 and not isinstance(caught.value, AuthError)
	with responses.RequestsMock() as rsps:
		with pytest.raises(ConnectorError, match="at least 20 characters"):
			connector().send_reply("ok", post)
		assert len(rsps.calls) == 0


def test_verify_credentials_uses_current_session():
	with responses.RequestsMock() as rsps:
		rsps.add(responses.GET, f"{BASE}/session/current.json", json=fx("session_current"))
		info = connector().verify_credentials()
	assert (info.id, info.handle, info.name, info.url) == ("2", "helpdesk_bot", "Helpdesk Bot", f"{BASE}/u/helpdesk_bot")
	with responses.RequestsMock() as rsps:
		rsps.add(responses.GET, f"{BASE}/session/current.json", status=404, json={"errors": ["not found"]})
		with pytest.raises(AuthError):
			connector().verify_credentials()


def test_parse_payload_matches_the_fetch_path():
	posts = parse_payload(fx("posts_page1"), BASE)
	assert [p.external_id for p in posts] == ["1205", "1204", "1202"]  # no own-user filter without a config
