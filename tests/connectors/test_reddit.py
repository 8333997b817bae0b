"""Reddit connector: recorded listings shaped like reddit.com/dev/api answers, no network."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs

import pytest
import responses
from responses import matchers

from social_itsm_app.connectors import AuthError, ConnectorError, RateLimited, SentReply, get_connector
from social_itsm_app.connectors.base import decode_cursor
from social_itsm_app.connectors.reddit import parse_payload
from tests.connectors.contract import ContractCase, ContractSuite, load_fixture

TOKEN = "https://www.reddit.com/api/v1/access_token"
API = "https://oauth.reddit.com"
MENTIONS = f"{API}/message/mentions"
INBOX = f"{API}/message/inbox"
COMMENT = f"{API}/api/comment"
UA = "server:social-itsm-acme:v0.1 (by /u/acme_help)"
CONFIG = {
	"client_id": "p-jcoLKBynTLew",
	"client_secret": "gko_LXELoV07ZBNUXrvWZfzE3aI",
	"username": "acme_help",
	"password": "hunter2-but-longer",
	"user_agent": UA,
	"http_backoff": 0,
}
BEARER = load_fixture("reddit", "token")["access_token"]


def fx(name: str):
	return load_fixture("reddit", name)


def register_token(rsps: responses.RequestsMock) -> None:
	rsps.add(responses.POST, TOKEN, json=fx("token"))


def register_success(rsps: responses.RequestsMock) -> None:
	register_token(rsps)
	rsps.add(responses.GET, MENTIONS, json=fx("empty_listing"))
	rsps.add(responses.GET, INBOX, json=fx("inbox_page1"))


class TestRedditContract(ContractSuite):
	case = ContractCase(
		network="reddit",
		config={**CONFIG, "mentions": False},
		fetch_url=INBOX,
		register_success=register_success,
		register_prelude=register_token,
		rate_limit_headers={"X-Ratelimit-Used": "100", "X-Ratelimit-Remaining": "0", "X-Ratelimit-Reset": "372"},
		rate_limit_body={"message": "Too Many Requests", "error": 429},
		auth_body={"message": "Unauthorized", "error": 401},
	)

	def test_rate_limit_reset_is_seconds_from_now(self):
		with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
			register_token(rsps)
			rsps.add(responses.GET, INBOX, status=429, headers={"X-Ratelimit-Reset": "372"}, json={"error": 429})
			with pytest.raises(RateLimited) as caught:
				self.connector().fetch()
		expected = datetime.now(timezone.utc) + timedelta(seconds=372)
		assert abs((caught.value.reset_at - expected).total_seconds()) < 5


def connector(**overrides):
	return get_connector("reddit", {**CONFIG, **overrides})


def query(call) -> dict[str, list[str]]:
	return parse_qs(call.request.url.split("?", 1)[1]) if "?" in call.request.url else {}


def form(call) -> dict[str, str]:
	return {key: values[0] for key, values in parse_qs(call.request.body).items()}


def saved_token(**overrides):
	return {"access_token": "stored-bearer-token-1234", "token_expires_at": time.time() + 3600, **overrides}


# --- fetch -----------------------------------------------------------------------------------------------


@responses.activate
def test_first_fetch_gets_a_token_parses_every_field_and_takes_one_page():
	register_success(responses)
	conn = connector()
	result = conn.fetch()
	token_call = responses.calls[0]
	assert form(token_call) == {"grant_type": "password", "username": "acme_help", "password": "hunter2-but-longer"}
	assert token_call.request.headers["Authorization"].startswith("Basic ")
	assert token_call.request.headers["User-Agent"] == UA
	inbox_call = responses.calls[2]
	assert inbox_call.request.headers["Authorization"] == f"bearer {BEARER}"
	assert query(inbox_call) == {"limit": ["100"], "raw_json": ["1"]}
	assert len(responses.calls) == 3, "first run: one page per stream"
	assert conn.saved_state["access_token"] == BEARER
	assert conn.saved_state["token_expires_at"] == pytest.approx(time.time() + 86400, abs=5)

	reply, message, mention = result.posts  # oldest first
	assert mention.external_id == "t1_ldo9x1z" and mention.kind == "mention"
	assert mention.text == "u/acme_help VPN is down again & I can't reach [the wiki](https://intranet.example.com/wiki) 😤"
	assert mention.author_id == "t2_alice11" and mention.author_handle == mention.author_name == "alice_it"
	assert mention.created_at == datetime.fromtimestamp(1795420681, tz=timezone.utc)
	assert mention.url == "https://www.reddit.com/r/acmesupport/comments/1gx2abc/vpn_outage/ldo9x1z/?context=3"
	assert mention.thread_id == "t3_1gx2abc" and mention.in_reply_to_id == "t3_1gx2abc"
	assert mention.language is None and mention.raw["type"] == "username_mention"
	assert mention.reply_ref == {"thing_id": "t1_ldo9x1z", "subreddit": "acmesupport"}
	assert message.kind == "direct" and message.text == "account locked\n\nmy account is locked, ログインできない"
	assert message.url == "https://www.reddit.com/message/messages/2jk4m5n"
	assert reply.kind == "comment" and reply.in_reply_to_id == "t1_ldo1aaa"
	assert result.has_more is False
	assert "t1_ldo9x1z" in decode_cursor(result.cursor)["inbox"]["seen"]


@responses.activate
def test_second_fetch_reuses_the_token_and_returns_nothing_twice():
	register_success(responses)
	first = connector().fetch()
	responses.calls.reset()
	conn = connector(**saved_token())
	second = conn.fetch(first.cursor)
	assert second.posts == []
	assert [c.request.url.split("?")[0] for c in responses.calls] == [MENTIONS, INBOX], "no new token, no 'before'"
	assert all("before" not in query(c) for c in responses.calls)
	assert responses.calls[0].request.headers["Authorization"] == "bearer stored-bearer-token-1234"
	assert conn.saved_state == {}


@responses.activate
def test_paging_across_two_pages_until_the_mark_with_after():
	floor = 1795410000.0
	cursor = json.dumps({"inbox": {"floor": floor, "seen": {}}})
	responses.add(responses.GET, INBOX, json=fx("inbox_page1"), match=[matchers.query_param_matcher({"limit": "100", "raw_json": "1"})])
	responses.add(
		responses.GET, INBOX, json=fx("inbox_page2"),
		match=[matchers.query_param_matcher({"after": "t1_ldo2f7a"}, strict_match=False)],
	)
	result = connector(mentions=False, **saved_token()).fetch(cursor)
	assert [p.external_id for p in result.posts] == ["t1_ldn5555", "t1_ldo2f7a", "t4_2jk4m5n", "t1_ldo9x1z"]
	assert result.has_more is False


@responses.activate
def test_page_bound_sets_has_more_and_the_next_call_closes_the_gap():
	floor = 1795410000.0
	cursor = json.dumps({"inbox": {"floor": floor, "seen": {}}})
	responses.add(responses.GET, INBOX, json=fx("inbox_page1"), match=[matchers.query_param_matcher({"limit": "100", "raw_json": "1"})])
	first = connector(mentions=False, max_pages=1, **saved_token()).fetch(cursor)
	assert first.has_more is True and len(first.posts) == 3
	assert decode_cursor(first.cursor)["inbox"]["page"] == "t1_ldo2f7a"
	responses.add(responses.GET, INBOX, json=fx("inbox_page2"), match=[matchers.query_param_matcher({"after": "t1_ldo2f7a"}, strict_match=False)])
	second = connector(mentions=False, max_pages=1, **saved_token()).fetch(first.cursor)
	assert [p.external_id for p in second.posts] == ["t1_ldn5555"] and second.has_more is False
	third = connector(mentions=False, max_pages=1, **saved_token()).fetch(second.cursor)
	assert third.posts == []


@responses.activate
def test_a_deleted_item_does_not_break_the_cursor():
	register_success(responses)
	first = connector().fetch()
	page = fx("inbox_page1")
	del page["data"]["children"][0]  # the newest item (the old anchor) was deleted
	responses.replace(responses.GET, INBOX, json=page)
	page2 = fx("inbox_page1")
	page2["data"]["children"].insert(0, {"kind": "t1", "data": {**page["data"]["children"][0]["data"],
		"name": "t1_new0001", "id": "new0001", "body": "new one", "created_utc": 1795420900.0}})
	del page2["data"]["children"][1]
	responses.replace(responses.GET, INBOX, json=page2)
	second = connector(**saved_token()).fetch(first.cursor)
	assert [p.external_id for p in second.posts] == ["t1_new0001"]


@responses.activate
def test_subreddits_and_search_streams_skip_own_posts():
	responses.add(responses.GET, f"{API}/r/sysadmin+acme/new", json=fx("subreddit_new"))
	responses.add(
		responses.GET, f"{API}/r/sysadmin+acme/search", json=fx("empty_listing"),
		match=[matchers.query_param_matcher({"q": "acme sso", "sort": "new", "restrict_sr": "1", "type": "link"}, strict_match=False)],
	)
	result = connector(mentions=False, inbox="off", subreddits="r/sysadmin, acme", query="acme sso", **saved_token()).fetch()
	(post,) = result.posts
	assert post.kind == "search" and post.external_id == "t3_1gx3def" and post.thread_id == "t3_1gx3def"
	assert post.text == "Acme SSO down?\n\nSince 8:00 the SSO portal returns 502 >:("
	assert post.url == "https://www.reddit.com/r/sysadmin/comments/1gx3def/acme_sso_down/"
	assert set(decode_cursor(result.cursor)) == {"subreddits"}


@responses.activate
def test_refused_stored_token_is_replaced_once():
	responses.add(responses.GET, MENTIONS, status=401, json={"message": "Unauthorized", "error": 401})
	register_success(responses)
	conn = connector(**saved_token())
	assert len(conn.fetch().posts) == 3
	assert conn.saved_state["access_token"] == BEARER


@responses.activate
def test_wrong_password_200_invalid_grant_is_an_auth_error():
	responses.add(responses.POST, TOKEN, json={"error": "invalid_grant"})
	with pytest.raises(AuthError) as caught:
		connector().fetch()
	assert "invalid_grant" in str(caught.value) and "hunter2" not in str(caught.value)


@responses.activate
def test_private_subreddit_403_is_not_an_auth_error():
	responses.add(responses.GET, f"{API}/r/secretsub/new", status=403, json={"reason": "private", "message": "Forbidden", "error": 403})
	with pytest.raises(ConnectorError) as caught:
		connector(mentions=False, inbox="off", subreddits="secretsub", **saved_token()).fetch()
	assert not isinstance(caught.value, AuthError) and "private" in str(caught.value)


def test_parse_payload_sanitises_and_matches_fetch():
	posts = parse_payload(fx("inbox_page1"))
	assert [p.kind for p in posts] == ["mention", "direct", "comment"]
	assert all("<script" not in p.text and "alert" not in p.text for p in posts)


# --- replies ---------------------------------------------------------------------------------------------


def _mention():
	return parse_payload(fx("inbox_page1"))[0]


@responses.activate
def test_reply_posts_the_documented_form_and_checks_errors():
	responses.add(responses.POST, COMMENT, json=fx("comment_created"))
	sent = connector(**saved_token()).send_reply("On it, sorry!", _mention())
	assert sent == [SentReply("t1_ldp0001", "https://www.reddit.com/r/acmesupport/comments/1gx2abc/vpn_outage/ldp0001/")]
	call = responses.calls[0]
	assert form(call) == {"thing_id": "t1_ldo9x1z", "text": "On it, sorry!", "api_type": "json"}
	assert call.request.headers["Authorization"] == "bearer stored-bearer-token-1234"
	assert call.request.headers["User-Agent"] == UA


@responses.activate
def test_reply_ratelimit_error_in_json_is_rate_limited():
	responses.add(responses.POST, COMMENT, json={"json": {"ratelimit": 461.9, "errors": [
		["RATELIMIT", "Looks like you've been doing that a lot. Take a break for 7 minutes before trying again.", "ratelimit"]]}})
	with pytest.raises(RateLimited) as caught:
		connector(**saved_token()).send_reply("hello", _mention())
	expected = datetime.now(timezone.utc) + timedelta(seconds=461.9)
	assert abs((caught.value.reset_at - expected).total_seconds()) < 5
	assert len(responses.calls) == 1


@responses.activate
def test_reply_to_a_locked_thread_is_a_connector_error():
	responses.add(responses.POST, COMMENT, json={"json": {"errors": [["THREAD_LOCKED", "Comments are locked.", "parent"]]}})
	with pytest.raises(ConnectorError, match="THREAD_LOCKED"):
		connector(**saved_token()).send_reply("hello", _mention())


@responses.activate
def test_long_reply_is_a_chained_thread_within_10000_chars():
	for i in range(1, 4):
		answer = fx("comment_created")
		answer["json"]["data"]["things"][0]["data"].update(name=f"t1_part{i}", permalink=f"/r/x/comments/1/t/part{i}/")
		responses.add(responses.POST, COMMENT, json=answer)
	text = ("Wir prüfen das 🔧 ログイン問題。 " * 800).strip()
	sent = connector(**saved_token()).send_reply(text, _mention())
	assert [s.external_id for s in sent] == ["t1_part1", "t1_part2", "t1_part3"]
	bodies = [form(c) for c in responses.calls]
	assert all(len(b["text"]) <= 10_000 for b in bodies)
	assert [b["thing_id"] for b in bodies] == ["t1_ldo9x1z", "t1_part1", "t1_part2"]
	assert bodies[-1]["text"].endswith("(3/3)")


@responses.activate
def test_resume_with_already_sent_does_not_resend():
	answer = fx("comment_created")
	answer["json"]["data"]["things"][0]["data"]["name"] = "t1_part2"
	responses.add(responses.POST, COMMENT, json=answer)
	text = "x " * 6000
	sent = connector(**saved_token()).send_reply(text, _mention(), already_sent=[SentReply("t1_part1", "")])
	assert [s.external_id for s in sent] == ["t1_part1", "t1_part2"]
	assert len(responses.calls) == 1 and form(responses.calls[0])["thing_id"] == "t1_part1"


def test_private_replies_are_a_clear_error():
	with responses.RequestsMock() as rsps:
		with pytest.raises(ConnectorError, match="private"):
			connector(**saved_token()).send_reply("hi", _mention(), private=True)
		message = parse_payload(fx("inbox_page1"))[1]
		with pytest.raises(ConnectorError, match="private"):
			connector(**saved_token()).send_reply("hi", message)  # a PM is never answered publicly
		assert not rsps.calls


def test_bad_inbox_setting_is_refused():
	with pytest.raises(ConnectorError, match="inbox"):
		connector(inbox="everything")
