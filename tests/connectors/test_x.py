"""X (Twitter) API v2 connector: recorded payloads shaped like docs.x.com's examples, no network."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs

import pytest
import responses
from responses import matchers

from social_itsm_app.connectors import AuthError, ConnectorError, RateLimited, SentReply, get_connector
from social_itsm_app.connectors.base import decode_cursor, encode_cursor
from social_itsm_app.connectors.split import x_weighted
from social_itsm_app.connectors.x import defang_urls, parse_payload
from tests.connectors.contract import ContractCase, ContractSuite, load_fixture

BASE = "https://api.x.com"
ME = "2244994945"
MENTIONS = f"{BASE}/2/users/{ME}/mentions"
SEARCH = f"{BASE}/2/tweets/search/recent"
DMS = f"{BASE}/2/dm_events"
TWEETS = f"{BASE}/2/tweets"
TOKEN = f"{BASE}/2/oauth2/token"
CONFIG = {"bearer_token": "x-bearer-token-SECRET-42", "user_id": ME, "http_backoff": 0}
RESET_EPOCH = 1_795_420_800


def fx(name: str):
	return load_fixture("x", name)


def register_success(rsps: responses.RequestsMock) -> None:
	rsps.add(responses.GET, MENTIONS, json=fx("mentions_page1"))
	rsps.add(responses.GET, DMS, json=fx("dm_events"))


class TestXContract(ContractSuite):
	case = ContractCase(
		network="x",
		config=CONFIG,
		fetch_url=MENTIONS,
		register_success=register_success,
		rate_limit_headers={"x-rate-limit-limit": "300", "x-rate-limit-remaining": "0", "x-rate-limit-reset": str(RESET_EPOCH)},
		rate_limit_body=fx("rate_limited"),
		expected_reset=datetime.fromtimestamp(RESET_EPOCH, tz=timezone.utc),
	)


def connector(**overrides):
	return get_connector("x", {**CONFIG, **overrides})


def query(call) -> dict[str, list[str]]:
	return parse_qs(call.request.url.split("?", 1)[1]) if "?" in call.request.url else {}


def cursor_with(**streams) -> str:
	return encode_cursor(streams)


# --- fetch -----------------------------------------------------------------------------------------------


@responses.activate
def test_first_fetch_parses_every_field_and_takes_one_page():
	register_success(responses)
	result = connector().fetch()

	mentions_calls = [c for c in responses.calls if c.request.url.startswith(MENTIONS)]
	assert len(mentions_calls) == 1, "the first run must not crawl history past page one"
	sent = query(mentions_calls[0])
	assert "since_id" not in sent and "pagination_token" not in sent
	assert sent["expansions"] == ["author_id"]
	assert set(sent["tweet.fields"][0].split(",")) >= {"created_at", "conversation_id", "in_reply_to_user_id", "lang"}
	assert mentions_calls[0].request.headers["Authorization"] == "Bearer x-bearer-token-SECRET-42"

	by_id = {p.external_id: p for p in result.posts}
	# Our own DM and the ParticipantsJoin event are not customer posts.
	assert set(by_id) == {"1861234999000111222", "1861234888000111000", "1861236000000000300"}
	post = by_id["1861234999000111222"]
	assert post.network == "x" and post.kind == "mention"
	assert post.text == "@AcmeHelp VPN down & can't log in 😡 see https://status.example.com/vpn"
	assert post.author_id == "1459112425" and post.author_handle == "dana_it" and post.author_name == "Dana & Co"
	assert post.created_at == datetime(2026, 11, 23, 7, 58, 1, tzinfo=timezone.utc)
	assert post.url == "https://x.com/dana_it/status/1861234999000111222"
	assert post.thread_id == "1861234567890123456" and post.in_reply_to_id == "1861234567890123456"
	assert post.language == "en"
	assert post.raw["id"] == "1861234999000111222"
	assert post.reply_ref == {"tweet_id": "1861234999000111222", "participant_id": "1459112425", "username": "dana_it"}
	assert by_id["1861234888000111000"].text == "@AcmeHelp ログインできません > 助けて"

	dm = by_id["1861236000000000300"]
	assert dm.kind == "direct" and dm.author_handle == "priya_dev" and dm.thread_id == "783214-2244994945"
	assert dm.text == "Hi, my account 4711 is locked & I can't reset it please"
	assert dm.reply_ref == {"participant_id": "783214", "dm_conversation_id": "783214-2244994945"}

	assert [p.created_at for p in result.posts] == sorted(p.created_at for p in result.posts)
	assert decode_cursor(result.cursor) == {
		"mentions": {"since_id": "1861234999000111222"},
		"dms": {"last_id": "1861236000000000300"},
	}
	assert result.has_more is False


@responses.activate
def test_second_fetch_sends_the_cursor_and_returns_nothing_twice():
	responses.add(
		responses.GET,
		MENTIONS,
		json=fx("mentions_empty"),
		match=[matchers.query_param_matcher({"since_id": "1861234999000111222"}, strict_match=False)],
	)
	responses.add(responses.GET, DMS, json=fx("dm_events"))  # the DM endpoint has no since_id: same page again
	cursor = cursor_with(mentions={"since_id": "1861234999000111222"}, dms={"last_id": "1861236000000000300"})
	result = connector().fetch(cursor)
	assert result.posts == []
	assert decode_cursor(result.cursor) == decode_cursor(cursor)


@responses.activate
def test_paging_reads_every_new_page_then_adopts_the_newest_id():
	responses.add(responses.GET, MENTIONS, json=fx("mentions_page1"))
	responses.add(responses.GET, MENTIONS, json=fx("mentions_page2"))
	result = connector(read_dms=False).fetch(cursor_with(mentions={"since_id": "1861234000000000000"}))
	assert [p.external_id for p in result.posts] == ["1861234777000111000", "1861234888000111000", "1861234999000111222"]
	second = query(responses.calls[1])
	assert second["since_id"] == ["1861234000000000000"]
	assert second["pagination_token"] == ["7140dibdnow9c7btw423x9m0kmnqkm0s1vw5q3jxcbtbc"]
	assert decode_cursor(result.cursor) == {"mentions": {"since_id": "1861234999000111222"}}
	assert result.has_more is False


@responses.activate
def test_page_bound_keeps_the_gap_open_and_resumes_without_skipping():
	responses.add(responses.GET, MENTIONS, json=fx("mentions_page1"))
	first = connector(read_dms=False, max_pages=1).fetch(cursor_with(mentions={"since_id": "1861234000000000000"}))
	assert first.has_more is True
	state = decode_cursor(first.cursor)["mentions"]
	# The newest id is pending: adopting it now would skip everything between page 2 and since_id.
	assert state == {
		"since_id": "1861234000000000000",
		"next_token": "7140dibdnow9c7btw423x9m0kmnqkm0s1vw5q3jxcbtbc",
		"pending": "1861234999000111222",
	}

	responses.replace(responses.GET, MENTIONS, json=fx("mentions_page2"))
	second = connector(read_dms=False, max_pages=1).fetch(first.cursor)
	sent = query(responses.calls[1])
	assert sent["since_id"] == ["1861234000000000000"] and sent["pagination_token"] == [state["next_token"]]
	assert [p.external_id for p in second.posts] == ["1861234777000111000"]
	assert second.has_more is False
	assert decode_cursor(second.cursor) == {"mentions": {"since_id": "1861234999000111222"}}


@responses.activate
def test_dm_paging_stops_at_the_last_seen_event():
	newer = fx("dm_events")
	newer["data"] = [
		{**newer["data"][0], "id": "1861236000000000500", "text": "hello again", "created_at": "2026-11-23T08:15:00.000Z"}
	]
	responses.add(responses.GET, DMS, json=newer)  # has a next_token
	responses.add(responses.GET, DMS, json=fx("dm_events"))  # reaches the last seen id
	responses.add(responses.GET, MENTIONS, json=fx("mentions_empty"))
	result = connector().fetch(cursor_with(mentions={"since_id": "1"}, dms={"last_id": "1861236000000000200"}))
	assert [p.external_id for p in result.posts] == ["1861236000000000300", "1861236000000000500"]
	dm_calls = [c for c in responses.calls if c.request.url.startswith(DMS)]
	assert query(dm_calls[1])["pagination_token"] == ["18LAA581J5II7LA00C00ZZZZ"]
	assert decode_cursor(result.cursor)["dms"] == {"last_id": "1861236000000000500"}


@responses.activate
def test_search_stream_has_its_own_cursor_and_skips_our_own_posts():
	responses.add(responses.GET, MENTIONS, json=fx("mentions_empty"))
	responses.add(
		responses.GET,
		SEARCH,
		json=fx("search_recent"),
		match=[matchers.query_param_matcher({"query": "#acmeoutage -is:retweet", "since_id": "1861234000000000001"}, strict_match=False)],
	)
	cursor = cursor_with(mentions={"since_id": "1861234999000111222"}, search={"since_id": "1861234000000000001"})
	result = connector(search_query="#acmeoutage -is:retweet", read_dms=False).fetch(cursor)
	assert [(p.external_id, p.kind, p.author_handle) for p in result.posts] == [("1861235000000000001", "search", "jonas_b")]
	assert result.posts[0].language == "de"
	# The cursor still moves past our own post, so it is not read (and billed) again.
	assert decode_cursor(result.cursor)["search"] == {"since_id": "1861235000000000002"}


def test_parse_payload_matches_the_fetch_path():
	posts = parse_payload(fx("mentions_page1"))
	assert [p.external_id for p in posts] == ["1861234999000111222", "1861234888000111000"]
	assert all("<" not in p.text and "&amp;" not in p.text for p in posts)


@responses.activate
def test_script_in_any_text_never_survives():
	page = fx("mentions_page2")
	page["data"][0]["text"] = "@AcmeHelp <script>alert(1)</script>&lt;img src=x onerror=alert(2)&gt;help"
	responses.add(responses.GET, MENTIONS, json=page)
	result = connector(read_dms=False).fetch()
	assert result.posts[0].text == "@AcmeHelp help"


@responses.activate
def test_error_only_answer_is_a_connector_error():
	responses.add(
		responses.GET,
		MENTIONS,
		json={"errors": [{"value": ME, "detail": "Could not find user with id: [2244994945].", "title": "Not Found Error"}]},
	)
	with pytest.raises(ConnectorError, match="Could not find user"):
		connector(read_dms=False).fetch()


# --- tokens ----------------------------------------------------------------------------------------------


@responses.activate
def test_401_refreshes_the_oauth2_token_once_and_saves_it():
	responses.add(responses.GET, MENTIONS, status=401, json={"title": "Unauthorized", "status": 401})
	responses.add(
		responses.POST,
		TOKEN,
		json=fx("token_refreshed"),
		match=[
			matchers.urlencoded_params_matcher(
				{"grant_type": "refresh_token", "refresh_token": "old-refresh-SECRET", "client_id": "client-abc"}
			)
		],
	)
	responses.add(
		responses.GET,
		MENTIONS,
		json=fx("mentions_page2"),
		match=[matchers.header_matcher({"Authorization": "Bearer bmV3LWFjY2Vzcy10b2tlbi0xMjM0NQ"})],
	)
	conn = connector(read_dms=False, refresh_token="old-refresh-SECRET", client_id="client-abc")
	result = conn.fetch()
	assert [p.external_id for p in result.posts] == ["1861234777000111000"]
	assert conn.saved_state["bearer_token"] == "bmV3LWFjY2Vzcy10b2tlbi0xMjM0NQ"
	assert conn.saved_state["refresh_token"] == "bmV3LXJlZnJlc2gtdG9rZW4tNjc4OTA"
	expires = datetime.fromisoformat(conn.saved_state["token_expires_at"])
	assert timedelta(hours=1, minutes=58) < expires - datetime.now(timezone.utc) <= timedelta(hours=2)
	assert "bmV3LWFjY2Vzcy10b2tlbi0xMjM0NQ" in conn.http.secrets


@responses.activate
def test_expired_token_is_refreshed_before_the_call_with_a_confidential_client():
	responses.add(responses.POST, TOKEN, json=fx("token_refreshed"))
	responses.add(responses.GET, MENTIONS, json=fx("mentions_empty"))
	past = (datetime.now(timezone.utc) - timedelta(minutes=5)).isoformat()
	conn = connector(
		read_dms=False, refresh_token="old-refresh-SECRET", client_id="client-abc", client_secret="shh-SECRET",
		token_expires_at=past,
	)
	conn.fetch()
	assert responses.calls[0].request.url == TOKEN
	assert responses.calls[0].request.headers["Authorization"].startswith("Basic ")
	assert "client_id" not in parse_qs(responses.calls[0].request.body)
	assert responses.calls[1].request.headers["Authorization"] == "Bearer bmV3LWFjY2Vzcy10b2tlbi0xMjM0NQ"


@responses.activate
def test_refused_refresh_is_an_auth_error_without_secrets():
	responses.add(responses.GET, MENTIONS, status=401, json={"title": "Unauthorized"})
	responses.add(
		responses.POST, TOKEN, status=400,
		json={"error": "invalid_request", "error_description": "Value passed for the token was invalid: old-refresh-SECRET"},
	)
	with pytest.raises(AuthError) as caught:
		connector(read_dms=False, refresh_token="old-refresh-SECRET", client_id="client-abc").fetch()
	assert "old-refresh-SECRET" not in str(caught.value)
	assert len([c for c in responses.calls if c.request.url.startswith(MENTIONS)]) == 1


@responses.activate
def test_verify_credentials_reads_users_me():
	responses.add(responses.GET, f"{BASE}/2/users/me", json=fx("users_me"))
	info = connector().verify_credentials()
	assert (info.id, info.handle, info.name, info.url) == ("2244994945", "AcmeHelp", "Acme Help", "https://x.com/AcmeHelp")


# --- replies ---------------------------------------------------------------------------------------------


def mention_post():
	return parse_payload(fx("mentions_page1"))[0]


@responses.activate
def test_reply_sends_the_documented_payload():
	responses.add(
		responses.POST,
		TWEETS,
		json=fx("post_created"),
		match=[
			matchers.json_params_matcher(
				{"text": "Thanks for the report!", "reply": {"in_reply_to_tweet_id": "1861234999000111222"}}
			)
		],
	)
	sent = connector().send_reply("  Thanks for the report!  ", in_reply_to=mention_post())
	assert sent == [SentReply("1861237000000000001", "https://x.com/i/web/status/1861237000000000001")]


@responses.activate
def test_links_are_defanged_unless_the_admin_allows_them():
	responses.add(responses.POST, TWEETS, json=fx("post_created"))
	connector().send_reply("Status: https://status.example.com/vpn and www.acme.io", in_reply_to=mention_post())
	body = json.loads(responses.calls[0].request.body)
	assert body["text"] == "Status: status[.]example[.]com/vpn and www[.]acme[.]io"
	assert "http" not in body["text"]

	connector(allow_links_in_replies=True).send_reply("Status: https://status.example.com/vpn", in_reply_to=mention_post())
	assert json.loads(responses.calls[1].request.body)["text"] == "Status: https://status.example.com/vpn"


def test_defang_leaves_ordinary_words_and_addresses_alone():
	assert defang_urls("mail support@acme.com, e.g. file.txt or node.js") == "mail support@acme.com, e.g. file.txt or node.js"


@responses.activate
def test_long_reply_is_a_chain_each_part_replying_to_the_previous():
	for index in range(1, 10):
		responses.add(responses.POST, TWEETS, json={"data": {"id": f"18612370000000000{index:02d}", "text": "…"}})
	text = ("We are sorry 😞 about the outage. " * 6) + ("システムは現在復旧作業中です。" * 8) + ("Thanks for your patience! 🙏🏽 " * 4)
	sent = connector().send_reply(text, in_reply_to=mention_post())
	bodies = [json.loads(c.request.body) for c in responses.calls]
	assert len(bodies) == len(sent) >= 3
	targets = [b["reply"]["in_reply_to_tweet_id"] for b in bodies]
	assert targets == ["1861234999000111222"] + [s.external_id for s in sent[:-1]]
	for number, body in enumerate(bodies, 1):
		assert x_weighted(body["text"]) <= 280
		assert body["text"].endswith(f"({number}/{len(bodies)})")
	assert "🙏🏽" in "".join(b["text"] for b in bodies)


@responses.activate
def test_resuming_with_already_sent_parts_does_not_resend_them():
	text = "Long answer. " * 40
	responses.add(responses.POST, TWEETS, json={"data": {"id": "1861237000000000777", "text": "…"}})
	done = [SentReply("1861237000000000555", "https://x.com/i/web/status/1861237000000000555")]
	sent = connector().send_reply(text, in_reply_to=mention_post(), already_sent=done)
	bodies = [json.loads(c.request.body) for c in responses.calls]
	assert not bodies[0]["text"].endswith(f"(1/{len(sent)})")
	assert bodies[0]["reply"]["in_reply_to_tweet_id"] == "1861237000000000555"
	assert sent[0] == done[0] and len(bodies) == len(sent) - 1


@responses.activate
def test_private_reply_goes_out_as_a_dm_to_the_author():
	responses.add(
		responses.POST,
		f"{BASE}/2/dm_conversations/with/1459112425/messages",
		json=fx("dm_created"),
		match=[matchers.json_params_matcher({"text": "Please send your ticket number: https://help.example.com/t"})],
	)
	sent = connector().send_reply(
		"Please send your ticket number: https://help.example.com/t", in_reply_to=mention_post(), private=True
	)
	assert sent == [SentReply("1861237000000000900", "https://x.com/messages/783214-2244994945")]


@responses.activate
def test_a_dm_is_always_answered_by_dm():
	responses.add(responses.GET, MENTIONS, json=fx("mentions_empty"))
	responses.add(responses.GET, DMS, json=fx("dm_events"))
	dm = connector().fetch().posts[0]
	responses.add(responses.POST, f"{BASE}/2/dm_conversations/with/783214/messages", json=fx("dm_created"))
	sent = connector().send_reply("We unlocked it.", in_reply_to=dm, private=False)
	assert sent[0].external_id == "1861237000000000900"
	assert not [c for c in responses.calls if c.request.url == TWEETS]


@responses.activate
def test_duplicate_reply_403_is_not_an_auth_error():
	responses.add(responses.POST, TWEETS, status=403, json=fx("duplicate_forbidden"))
	with pytest.raises(ConnectorError) as caught:
		connector().send_reply("Thanks!", in_reply_to=mention_post())
	assert not isinstance(caught.value, AuthError)
	assert "duplicate" in str(caught.value)


@responses.activate
def test_24_hour_posting_cap_reports_its_own_reset():
	day_reset = RESET_EPOCH + 20 * 3600
	responses.add(
		responses.POST,
		TWEETS,
		status=429,
		json=fx("rate_limited"),
		headers={
			"x-rate-limit-reset": str(RESET_EPOCH),
			"x-user-limit-24hour-limit": "100",
			"x-user-limit-24hour-remaining": "0",
			"x-user-limit-24hour-reset": str(day_reset),
		},
	)
	with pytest.raises(RateLimited) as caught:
		connector().send_reply("Thanks!", in_reply_to=mention_post())
	assert caught.value.reset_at == datetime.fromtimestamp(day_reset, tz=timezone.utc)
	assert len(responses.calls) == 1  # a POST is never repeated by the HTTP layer
