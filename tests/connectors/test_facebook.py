"""Facebook Pages connector: Graph payloads as documented, appsecret_proof, Graph error codes, replies."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from social_itsm_app.connectors import AuthError, ConnectorError, RateLimited, SentReply, get_connector
from social_itsm_app.connectors.base import decode_cursor
from social_itsm_app.connectors.facebook import parse_payload
from social_itsm_app.connectors.split import utf16_units
from tests.connectors.contract import ContractCase, ContractSuite, load_fixture

BASE = "https://graph.facebook.com/v21.0"
PAGE = "104543928400000"
TOKEN = "EAAGm0PX4ZCpsBAPageTokenSecret123"
APP_SECRET = "appsecret-0123456789abcdef"
CONFIG = {"page_id": PAGE, "page_access_token": TOKEN, "app_secret": APP_SECRET, "http_backoff": 0}
FEED = f"{BASE}/{PAGE}/feed"
CONVERSATIONS = f"{BASE}/{PAGE}/conversations"
MESSAGES = f"{BASE}/{PAGE}/messages"
PROOF = hmac.new(APP_SECRET.encode(), TOKEN.encode(), hashlib.sha256).hexdigest()


def fx(name: str):
	return load_fixture("facebook", name)


def register_first_fetch(rsps: responses.RequestsMock) -> None:
	rsps.add(responses.GET, FEED, json=fx("feed_page1"))
	rsps.add(responses.GET, CONVERSATIONS, json=fx("conversations"))


def connector(**overrides):
	return get_connector("facebook", {**CONFIG, **overrides})


def query(call) -> dict[str, str]:
	return {k: v[0] for k, v in parse_qs(urlsplit(call.request.url).query).items()}


def epoch(text: str) -> float:
	return datetime.fromisoformat(text).timestamp()


class TestFacebookContract(ContractSuite):
	case = ContractCase(
		network="facebook",
		config=CONFIG,
		fetch_url=FEED,
		register_success=register_first_fetch,
		rate_limit_headers={
			"X-Business-Use-Case-Usage": json.dumps(
				{PAGE: [{"type": "pages", "call_count": 100, "total_cputime": 20, "total_time": 30, "estimated_time_to_regain_access": 12}]}
			)
		},
		rate_limit_body=fx("rate_limit_error"),
	)


def test_first_fetch_parses_comments_visitor_posts_and_messenger():
	with responses.RequestsMock() as rsps:
		register_first_fetch(rsps)
		result = connector().fetch()
		feed_call, conv_call = rsps.calls[0], rsps.calls[1]
	by_id = {p.external_id: p for p in result.posts}
	# The page's own post and own reply comment / own Messenger answer are not customer posts.
	assert set(by_id) == {
		"122110000000000001_900000000000001",
		"122110000000000001_900000000000003",
		f"{PAGE}_122110000000000002",
		"m_bXlQYWdlSWQ6MDAx",
	}
	comment = by_id["122110000000000001_900000000000001"]
	assert comment.kind == "comment" and comment.network == "facebook"
	assert comment.text == "Is Outlook down again? My inbox won't sync since 9am — see https://status.example.com/incidents/42"
	assert (comment.author_id, comment.author_name) == ("7100000000000001", "Jane Roe")
	assert comment.created_at == datetime(2026, 11, 22, 10, 0, tzinfo=timezone.utc)
	assert comment.thread_id == f"{PAGE}_122110000000000001"
	assert comment.in_reply_to_id == f"{PAGE}_122110000000000001"
	assert comment.url.endswith("?comment_id=900000000000001")
	assert comment.reply_ref == {
		"post_id": f"{PAGE}_122110000000000001",
		"comment_id": "122110000000000001_900000000000001",
		"reply_to": "122110000000000001_900000000000001",
	}
	hostile = by_id["122110000000000001_900000000000003"]
	assert hostile.text == "Still can't log in & the VPN says error 809 😡"
	visitor = by_id[f"{PAGE}_122110000000000002"]
	assert visitor.kind == "mention" and visitor.author_name == "Bob Visitor" and "🖨️" in visitor.text
	dm = by_id["m_bXlQYWdlSWQ6MDAx"]
	assert dm.kind == "direct" and dm.thread_id == "t_10208830200000001"
	assert dm.reply_ref == {"psid": "7200000000000001", "conversation_id": "t_10208830200000001"}
	assert "<img" not in dm.text and "onerror" not in dm.text
	# Oldest first; every call authenticated with the token header and the appsecret_proof.
	assert [p.created_at for p in result.posts] == sorted(p.created_at for p in result.posts)
	for call in (feed_call, conv_call):
		assert call.request.headers["Authorization"] == f"Bearer {TOKEN}"
		assert query(call)["appsecret_proof"] == PROOF
		assert "access_token" not in query(call)
	assert "comments.filter(stream).order(reverse_chronological)" in query(feed_call)["fields"]
	assert query(conv_call)["platform"] == "messenger"
	assert "messages.limit(25){id,message,from,created_time}" in query(conv_call)["fields"]
	assert result.has_more is False  # first run: one page only, although the feed has a next page


def test_second_fetch_returns_nothing_twice_and_picks_up_new_comments():
	with responses.RequestsMock() as rsps:
		register_first_fetch(rsps)
		first = connector().fetch()
	state = decode_cursor(first.cursor)
	assert state["comments"]["window"]["floor"] == epoch("2026-11-22T11:00:00+00:00") - 300
	assert "122110000000000001_900000000000003" in state["comments"]["window"]["seen"]

	page = fx("feed_page1")
	late = {
		"id": "122110000000000001_900000000000004",
		"message": "Same here, same second as the last one",
		"created_time": "2026-11-22T11:00:00+0000",
		"from": {"name": "Eve", "id": "7100000000000005"},
	}
	page["data"][0]["comments"]["data"].insert(0, late)
	del page["paging"]["next"]
	with responses.RequestsMock() as rsps:
		rsps.add(responses.GET, FEED, json=page)
		rsps.add(responses.GET, CONVERSATIONS, json=fx("conversations"))
		second = connector().fetch(first.cursor)
	assert [p.external_id for p in second.posts] == ["122110000000000001_900000000000004"]

	with responses.RequestsMock() as rsps:
		rsps.add(responses.GET, FEED, json=page)
		rsps.add(responses.GET, CONVERSATIONS, json=fx("conversations"))
		third = connector().fetch(second.cursor)
	assert third.posts == []


def cursor_at(floor_iso: str) -> str:
	window = {"floor": epoch(floor_iso), "seen": {}}
	return json.dumps({"comments": {"window": window}, "messenger": {"window": window}})


def test_paging_reads_older_feed_pages_until_posts_are_past_the_lookback():
	with responses.RequestsMock() as rsps:
		rsps.add(responses.GET, FEED, json=fx("feed_page1"))
		rsps.add(responses.GET, FEED, json=fx("feed_page2"))
		rsps.add(responses.GET, CONVERSATIONS, json=fx("empty"))
		result = connector().fetch(cursor_at("2026-11-22T08:00:00+00:00"))
		feed_calls = [c for c in rsps.calls if "/feed" in c.request.url]
	assert query(feed_calls[1])["after"] == "QVFIUjJwX2F0ZA0"
	assert [p.external_id for p in result.posts] == [
		"122110000000000000_900000000000000",  # a new comment on an older post, found on page 2
		"122110000000000001_900000000000001",
		"122110000000000001_900000000000003",
	]
	assert result.posts[0].text == "The reset link in the e-mail gives 404 for me"
	assert result.has_more is False


def test_page_bound_keeps_the_gap_and_the_next_call_closes_it():
	start = cursor_at("2026-11-22T08:00:00+00:00")
	with responses.RequestsMock() as rsps:
		rsps.add(responses.GET, FEED, json=fx("feed_page1"))
		rsps.add(responses.GET, CONVERSATIONS, json=fx("empty"))
		first = connector(max_pages=1).fetch(start)
	assert first.has_more is True
	state = decode_cursor(first.cursor)
	assert state["comments"]["after"] == "QVFIUjJwX2F0ZA0"
	assert state["comments"]["window"]["floor"] == epoch("2026-11-22T08:00:00+00:00")  # old floor kept
	assert {p.external_id for p in first.posts} == {
		"122110000000000001_900000000000001",
		"122110000000000001_900000000000003",
	}
	with responses.RequestsMock() as rsps:
		rsps.add(responses.GET, FEED, json=fx("feed_page2"))
		rsps.add(responses.GET, CONVERSATIONS, json=fx("empty"))
		second = connector(max_pages=1).fetch(first.cursor)
		assert query(rsps.calls[0])["after"] == "QVFIUjJwX2F0ZA0"
	assert [p.external_id for p in second.posts] == ["122110000000000000_900000000000000"]
	assert second.has_more is False
	closed = decode_cursor(second.cursor)["comments"]
	assert "after" not in closed and closed["window"]["floor"] == epoch("2026-11-22T11:00:00+00:00") - 300


def test_more_comments_than_the_nested_page_are_read_from_the_comments_edge():
	page = fx("feed_page1")
	nested = page["data"][0]["comments"]
	nested["paging"]["next"] = f"{BASE}/122110000000000001/comments?after=WTI5dGJXVnVkRjlqZAFhKemIzSTZAOVEV3TXpBeE1qUXhOekEw"
	del page["paging"]["next"]
	more = {
		"data": [
			{
				"id": "122110000000000001_900000000000000",
				"message": "Early bird comment",
				"created_time": "2026-11-22T09:30:00+0000",
				"from": {"name": "Ann", "id": "7100000000000009"},
			}
		],
		"paging": {"cursors": {"before": "a", "after": "b"}},
	}
	with responses.RequestsMock() as rsps:
		rsps.add(responses.GET, FEED, json=page)
		rsps.add(responses.GET, f"{BASE}/{PAGE}_122110000000000001/comments", json=more)
		rsps.add(responses.GET, CONVERSATIONS, json=fx("empty"))
		result = connector().fetch(cursor_at("2026-11-22T08:00:00+00:00"))
		comment_call = rsps.calls[1]
	params = query(comment_call)
	assert (params["filter"], params["order"], params["appsecret_proof"]) == ("stream", "reverse_chronological", PROOF)
	assert "122110000000000001_900000000000000" in {p.external_id for p in result.posts}


def test_graph_error_codes_are_typed():
	cases = [
		(400, fx("token_error"), {}, AuthError),
		(400, {"error": {"message": "(#4) Application request limit reached", "type": "OAuthException", "code": 4}}, {}, RateLimited),
		(403, {"error": {"message": "(#80001) There have been too many calls to this Page account", "code": 80001}}, {}, RateLimited),
		(400, {"error": {"message": "(#100) Invalid parameter", "type": "OAuthException", "code": 100}}, {}, ConnectorError),
	]
	for status, body, headers, expected in cases:
		with responses.RequestsMock() as rsps:
			rsps.add(responses.GET, FEED, status=status, json=body, headers=headers)
			with pytest.raises(ConnectorError) as caught:
				connector().fetch()
		assert type(caught.value) is expected, body
		assert TOKEN not in str(caught.value) and PROOF not in str(caught.value)


def test_rate_limit_reset_comes_from_business_use_case_header_or_a_default():
	header = {"X-Business-Use-Case-Usage": json.dumps({PAGE: [{"type": "pages", "call_count": 100, "estimated_time_to_regain_access": 12}]})}
	for headers, minutes in ((header, 12), ({}, 15)):
		before = datetime.now(timezone.utc)
		with responses.RequestsMock() as rsps:
			rsps.add(responses.GET, FEED, status=400, json=fx("rate_limit_error"), headers=headers)
			with pytest.raises(RateLimited) as caught:
				connector().fetch()
		after = datetime.now(timezone.utc)
		assert before + timedelta(minutes=minutes) <= caught.value.reset_at <= after + timedelta(minutes=minutes)


def comment_post():
	with responses.RequestsMock() as rsps:
		register_first_fetch(rsps)
		posts = connector().fetch().posts
	return {p.external_id: p for p in posts}


def test_public_reply_posts_to_the_comment_with_message():
	post = comment_post()["122110000000000001_900000000000001"]
	with responses.RequestsMock() as rsps:
		rsps.add(responses.POST, f"{BASE}/122110000000000001_900000000000001/comments", json=fx("comment_created"))
		sent = connector().send_reply("We restarted the sync service, please try again.", post)
		call = rsps.calls[0]
	assert parse_qs(call.request.body) == {"message": ["We restarted the sync service, please try again."]}
	assert query(call)["appsecret_proof"] == PROOF
	assert sent == [
		SentReply(
			"122110000000000001_900000000000010",
			f"https://www.facebook.com/{PAGE}_122110000000000001?comment_id=122110000000000001_900000000000001"
			"&reply_comment_id=122110000000000001_900000000000010",
		)
	]


def test_long_reply_to_a_visitor_post_is_a_chain_under_the_first_part():
	post = comment_post()[f"{PAGE}_122110000000000002"]
	text = ("Wir prüfen den Druckertreiber 🖨️ und melden uns. 打印机驱动程序正在修复中。 " * 300).strip()
	ids = [f"122110000000000002_90000000000010{i}" for i in range(5)]
	with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
		rsps.add(responses.POST, f"{BASE}/{PAGE}_122110000000000002/comments", json={"id": ids[0]})
		for i in range(1, 5):
			rsps.add(responses.POST, f"{BASE}/{ids[0]}/comments", json={"id": ids[i]})
		sent = connector().send_reply(text, post)
		calls = list(rsps.calls)
	assert len(sent) >= 2
	assert calls[0].request.url.startswith(f"{BASE}/{PAGE}_122110000000000002/comments")
	# Comment threads are two levels deep: later parts answer the first part, in order.
	assert all(c.request.url.startswith(f"{BASE}/{ids[0]}/comments") for c in calls[1:])
	bodies = [parse_qs(c.request.body)["message"][0] for c in calls]
	assert all(utf16_units(b) <= 8000 for b in bodies)
	assert bodies[0].endswith(f"(1/{len(sent)})") and bodies[-1].endswith(f"({len(sent)}/{len(sent)})")


def test_messenger_reply_uses_send_api_with_psid_and_human_agent_tag():
	dm = comment_post()["m_bXlQYWdlSWQ6MDAx"]
	with responses.RequestsMock() as rsps:
		rsps.add(responses.POST, MESSAGES, json=fx("send_api_response"))
		rsps.add(responses.POST, MESSAGES, json=fx("send_api_response"))
		# A direct message is answered privately even when the caller forgot private=True.
		connector().send_reply("Please hold the power button for 10 seconds.", dm)
		connector(human_agent_tag=1).send_reply("Any luck with the laptop?", dm, private=True)
		plain, tagged = (json.loads(c.request.body) for c in rsps.calls)
	assert plain == {
		"recipient": {"id": "7200000000000001"},
		"messaging_type": "RESPONSE",
		"message": {"text": "Please hold the power button for 10 seconds."},
	}
	assert tagged["messaging_type"] == "MESSAGE_TAG" and tagged["tag"] == "HUMAN_AGENT"


def test_long_messenger_reply_is_split_at_2000_and_resumes_without_resending():
	dm = comment_post()["m_bXlQYWdlSWQ6MDAx"]
	text = ("Bitte starten Sie neu 🔁 und prüfen Sie das Kabel. 請重新啟動電腦。 " * 80).strip()
	with responses.RequestsMock() as rsps:
		for _ in range(3):
			rsps.add(responses.POST, MESSAGES, json=fx("send_api_response"))
		full = connector().send_reply(text, dm)
		bodies = [json.loads(c.request.body)["message"]["text"] for c in rsps.calls]
	assert len(full) == 3 and all(utf16_units(b) <= 2000 for b in bodies)
	with responses.RequestsMock() as rsps:
		rsps.add(responses.POST, MESSAGES, json=fx("send_api_response"))
		resumed = connector().send_reply(text, dm, already_sent=full[:2])
		assert len(rsps.calls) == 1
		assert json.loads(rsps.calls[0].request.body)["message"]["text"] == bodies[2]
	assert len(resumed) == 3


def test_private_reply_to_a_comment_uses_comment_id_once():
	comment = comment_post()["122110000000000001_900000000000001"]
	with responses.RequestsMock() as rsps:
		rsps.add(responses.POST, MESSAGES, json=fx("send_api_response"))
		sent = connector().send_reply("Could you send us your employee id?", comment, private=True)
		body = json.loads(rsps.calls[0].request.body)
	assert body["recipient"] == {"comment_id": "122110000000000001_900000000000001"}
	assert body["messaging_type"] == "RESPONSE"
	assert sent[0].external_id.startswith("m_")
	with pytest.raises(ConnectorError, match="single message"):
		connector().send_reply("x " * 1500, comment, private=True)


def test_send_outside_window_is_a_clear_error_not_an_auth_error():
	dm = comment_post()["m_bXlQYWdlSWQ6MDAx"]
	with responses.RequestsMock() as rsps:
		rsps.add(responses.POST, MESSAGES, status=400, json=fx("window_error"))
		with pytest.raises(ConnectorError) as caught:
			connector().send_reply("Hello again", dm)
	assert not isinstance(caught.value, AuthError)
	assert "human_agent_tag" in str(caught.value)


def test_verify_credentials_names_the_page():
	with responses.RequestsMock() as rsps:
		rsps.add(responses.GET, f"{BASE}/{PAGE}", json=fx("page"))
		info = connector().verify_credentials()
		assert query(rsps.calls[0])["appsecret_proof"] == PROOF
	assert (info.id, info.handle, info.name) == (PAGE, "acmeitdesk", "Acme IT Service Desk")


def test_parse_payload_matches_the_fetch_path():
	posts = parse_payload(fx("feed_page1"))
	assert {p.external_id for p in posts} == {
		"122110000000000001_900000000000001",
		"122110000000000001_900000000000003",
		f"{PAGE}_122110000000000002",
	}
