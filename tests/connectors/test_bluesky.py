"""Bluesky connector: recorded payloads shaped like the XRPC lexicon examples (docs.bsky.app), no network."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timezone

import pytest
import responses
from responses import matchers

from social_itsm_app.connectors import AuthError, ConnectorError, RateLimited, SentReply, get_connector
from social_itsm_app.connectors.base import decode_cursor
from social_itsm_app.connectors.bluesky import parse_payload
from social_itsm_app.connectors.split import graphemes
from tests.connectors.contract import ContractCase, ContractSuite, load_fixture

BASE = "https://pds.example"
XRPC = f"{BASE}/xrpc"
NOTIFICATIONS = f"{XRPC}/app.bsky.notification.listNotifications"
SEARCH = f"{XRPC}/app.bsky.feed.searchPosts"
CREATE = f"{XRPC}/com.atproto.repo.createRecord"
LOGIN = f"{XRPC}/com.atproto.server.createSession"
REFRESH = f"{XRPC}/com.atproto.server.refreshSession"
DID = "did:plc:acmehelp5dzzi6pc4ktk2"


def jwt(exp: int, tag: str) -> str:
	payload = base64.urlsafe_b64encode(json.dumps({"sub": DID, "exp": exp}).encode()).decode().rstrip("=")
	return f"eyJhbGciOiJFUzI1NksifQ.{payload}.{tag}-signature"


ACCESS = jwt(4102444800, "stored-access")  # expires in 2100
REFRESH_JWT = jwt(4102444800, "stored-refresh")
EXPIRED = jwt(1000000000, "expired-access")  # 2001
CONFIG = {
	"base_url": BASE,
	"identifier": "acme.help",
	"app_password": "abcd-efgh-ijkl-mnop",
	"access_jwt": ACCESS,
	"refresh_jwt": REFRESH_JWT,
	"did": DID,
	"http_backoff": 0,
}


def fx(name: str):
	return load_fixture("bluesky", name)


def register_success(rsps: responses.RequestsMock) -> None:
	rsps.add(responses.GET, NOTIFICATIONS, json=fx("notifications_page1"))


def register_sessions(rsps: responses.RequestsMock) -> None:
	rsps.add(responses.POST, REFRESH, json=fx("session"))
	rsps.add(responses.POST, LOGIN, json=fx("session"))


class TestBlueskyContract(ContractSuite):
	case = ContractCase(
		network="bluesky",
		config=CONFIG,
		fetch_url=NOTIFICATIONS,
		register_success=register_success,
		register_prelude=register_sessions,
		rate_limit_headers={"ratelimit-limit": "3000", "ratelimit-remaining": "0", "ratelimit-reset": "1795421100"},
		rate_limit_body={"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"},
		expected_reset=datetime.fromtimestamp(1795421100, tz=timezone.utc),
		auth_body={"error": "AuthenticationRequired", "message": "Invalid identifier or password"},
	)


def connector(**overrides):
	return get_connector("bluesky", {**CONFIG, **overrides})


def body(call) -> dict:
	return json.loads(call.request.body)


# --- fetch -----------------------------------------------------------------------------------------------


@responses.activate
def test_first_fetch_parses_every_field_takes_one_page_and_reuses_the_session():
	register_success(responses)
	result = connector().fetch()
	assert len(responses.calls) == 1, "no login, no history crawl"
	request = responses.calls[0].request
	assert request.headers["Authorization"] == f"Bearer {ACCESS}"
	assert "reasons=mention&reasons=reply" in request.url and "cursor" not in request.url

	mention, reply = result.posts  # oldest first; the like is not a post we answer
	assert reply.network == "bluesky" and reply.kind == "comment"
	assert reply.external_id == "at://did:plc:alice7ufpvm4mc3qplzrqxv/app.bsky.feed.post/3lbxyz2222"
	assert reply.text == "still down 😤 see https://status.example.com/incidents/42"  # link facet expanded, script gone
	assert reply.author_id == "did:plc:alice7ufpvm4mc3qplzrqxv"
	assert reply.author_handle == "alice.bsky.social"
	assert reply.author_name == "Alice 🦋"
	assert reply.created_at == datetime(2026, 11, 23, 7, 58, 1, 940000, tzinfo=timezone.utc)
	assert reply.url == "https://bsky.app/profile/alice.bsky.social/post/3lbxyz2222"
	assert reply.thread_id == "at://did:plc:acmehelp5dzzi6pc4ktk2/app.bsky.feed.post/3lbxyz0000"
	assert reply.in_reply_to_id == "at://did:plc:acmehelp5dzzi6pc4ktk2/app.bsky.feed.post/3lbxyz1111"
	assert reply.language == "en"
	assert reply.raw["cid"] == "bafyreialicereply2222"
	assert reply.reply_ref == {
		"uri": reply.external_id,
		"cid": "bafyreialicereply2222",
		"handle": "alice.bsky.social",
		"root": {"uri": "at://did:plc:acmehelp5dzzi6pc4ktk2/app.bsky.feed.post/3lbxyz0000", "cid": "bafyreirootpost0000"},
	}
	assert mention.kind == "mention" and mention.text == "@acme.help ログインできない & VPN fails"
	assert mention.author_name == "bob.example.com" and mention.language is None
	assert mention.thread_id == mention.external_id and mention.in_reply_to_id is None
	assert result.has_more is False
	assert decode_cursor(result.cursor)["notifications"]["seen"].keys() >= {reply.external_id}
	assert connector().saved_state == {}


@responses.activate
def test_second_fetch_stops_at_the_mark_and_returns_nothing_twice():
	register_success(responses)
	first = connector().fetch()
	responses.replace(responses.GET, NOTIFICATIONS, json=fx("notifications_page1"))
	second = connector().fetch(first.cursor)
	assert second.posts == [] and second.has_more is False
	assert len(responses.calls) == 2, "page 1 reached the mark: no further page"
	assert decode_cursor(second.cursor) == decode_cursor(first.cursor)


@responses.activate
def test_paging_across_two_pages_until_the_mark():
	mark = {"notifications": {"floor": datetime(2026, 11, 23, 6, 30, tzinfo=timezone.utc).timestamp(), "seen": {}}}
	responses.add(responses.GET, NOTIFICATIONS, json=fx("notifications_page1"), match=[_no_cursor()])
	responses.add(
		responses.GET,
		NOTIFICATIONS,
		json=fx("notifications_page2"),
		match=[matchers.query_param_matcher({"cursor": "2026-11-23T07:50:00.000Z"}, strict_match=False)],
	)
	result = connector().fetch(json.dumps(mark))
	assert [p.author_handle for p in result.posts] == ["dave.bsky.social", "bob.example.com", "alice.bsky.social"]
	assert result.has_more is False  # erin's post is older than the mark: the gap is closed


@responses.activate
def test_page_bound_keeps_the_old_mark_and_continues_without_gaps():
	old_floor = datetime(2026, 11, 23, 6, 30, tzinfo=timezone.utc).timestamp()
	cursor = json.dumps({"notifications": {"floor": old_floor, "seen": {}}})
	responses.add(responses.GET, NOTIFICATIONS, json=fx("notifications_page1"), match=[_no_cursor()])
	first = connector(max_pages=1).fetch(cursor)
	assert first.has_more is True and len(first.posts) == 2
	state = decode_cursor(first.cursor)["notifications"]
	assert state["floor"] == old_floor and state["page"] == "2026-11-23T07:50:00.000Z"

	responses.add(
		responses.GET,
		NOTIFICATIONS,
		json=fx("notifications_page2"),
		match=[matchers.query_param_matcher({"cursor": "2026-11-23T07:50:00.000Z"}, strict_match=False)],
	)
	second = connector(max_pages=1).fetch(first.cursor)
	assert [p.author_handle for p in second.posts] == ["dave.bsky.social"]
	assert second.has_more is False
	closed = decode_cursor(second.cursor)["notifications"]
	assert "page" not in closed and closed["floor"] > old_floor
	third = connector(max_pages=1).fetch(second.cursor)  # page 1 again: everything on it was returned
	assert third.posts == []


@responses.activate
def test_search_stream_skips_own_posts_and_keeps_its_own_cursor():
	register_success(responses)
	responses.add(
		responses.GET,
		SEARCH,
		json=fx("search_posts"),
		match=[matchers.query_param_matcher({"q": "acme vpn", "sort": "latest", "limit": "50"})],
	)
	result = connector(search_query="acme vpn").fetch()
	search = [p for p in result.posts if p.kind == "search"]
	assert [p.author_handle for p in search] == ["frank.bsky.social"]
	assert set(decode_cursor(result.cursor)) == {"notifications", "search"}


# --- sessions --------------------------------------------------------------------------------------------


@responses.activate
def test_login_only_without_a_stored_session_and_hands_the_session_back():
	responses.add(
		responses.POST,
		LOGIN,
		json=fx("session"),
		match=[matchers.json_params_matcher({"identifier": "acme.help", "password": "abcd-efgh-ijkl-mnop"})],
	)
	register_success(responses)
	conn = connector(access_jwt="", refresh_jwt="", did="")
	conn.fetch()
	session = fx("session")
	assert conn.saved_state == {
		"access_jwt": session["accessJwt"],
		"refresh_jwt": session["refreshJwt"],
		"did": DID,
		"handle": "acme.help",
	}
	assert responses.calls[1].request.headers["Authorization"] == f"Bearer {session['accessJwt']}"


@responses.activate
def test_expired_access_token_is_refreshed_not_logged_in():
	responses.add(responses.POST, REFRESH, json=fx("session"), match=[matchers.header_matcher({"Authorization": f"Bearer {REFRESH_JWT}"})])
	register_success(responses)
	conn = connector(access_jwt=EXPIRED)
	conn.fetch()
	assert [c.request.url for c in responses.calls] == [REFRESH, responses.calls[1].request.url]
	assert conn.saved_state["access_jwt"] == fx("session")["accessJwt"]


@responses.activate
def test_400_expired_token_refreshes_once_and_repeats_the_call():
	responses.add(responses.GET, NOTIFICATIONS, status=400, json={"error": "ExpiredToken", "message": "Token has expired"})
	responses.add(responses.POST, REFRESH, json=fx("session"))
	register_success(responses)
	conn = connector(access_jwt="opaque-but-expired-token")
	result = conn.fetch()
	assert len(result.posts) == 2 and conn.saved_state["refresh_jwt"] == fx("session")["refreshJwt"]
	assert responses.calls[2].request.headers["Authorization"] == f"Bearer {fx('session')['accessJwt']}"


@responses.activate
def test_expired_refresh_token_falls_back_to_one_login():
	responses.add(responses.GET, NOTIFICATIONS, status=400, json={"error": "ExpiredToken", "message": "Token has expired"})
	responses.add(responses.POST, REFRESH, status=400, json={"error": "ExpiredToken", "message": "Token has expired"})
	responses.add(responses.POST, LOGIN, json=fx("session"))
	register_success(responses)
	conn = connector(access_jwt="opaque-access")
	assert len(conn.fetch().posts) == 2
	assert [c.request.url.split("?")[0] for c in responses.calls].count(LOGIN) == 1


@responses.activate
def test_wrong_app_password_is_an_auth_error_without_the_password():
	responses.add(responses.POST, LOGIN, status=401, json={"error": "AuthenticationRequired", "message": "Invalid identifier or password"})
	with pytest.raises(AuthError) as caught:
		connector(access_jwt="", refresh_jwt="").fetch()
	assert "app password" in str(caught.value) and "abcd-efgh-ijkl-mnop" not in str(caught.value)


@responses.activate
def test_login_rate_limit_is_rate_limited():
	responses.add(responses.POST, LOGIN, status=429, headers={"ratelimit-reset": "1795421100"}, json={"error": "RateLimitExceeded"})
	with pytest.raises(RateLimited) as caught:
		connector(access_jwt="", refresh_jwt="").fetch()
	assert caught.value.reset_at == datetime.fromtimestamp(1795421100, tz=timezone.utc)


# --- parsing ---------------------------------------------------------------------------------------------


def test_parse_payload_matches_fetch_and_sanitises():
	posts = parse_payload(fx("notifications_page1"))
	assert [p.kind for p in posts] == ["comment", "mention"]
	assert all("<script" not in p.text and "alert" not in p.text for p in posts)
	with pytest.raises(ConnectorError):
		parse_payload({"notifications": "nope"})


# --- replies ---------------------------------------------------------------------------------------------


def _post():
	return parse_payload(fx("notifications_page1"))[0]  # alice's reply inside our thread


@responses.activate
def test_reply_sends_strong_refs_and_byte_offset_facets():
	responses.add(responses.POST, CREATE, json=fx("create_record"))
	responses.add(
		responses.GET,
		f"{XRPC}/com.atproto.identity.resolveHandle",
		json={"did": "did:plc:bob3q4lhd2tybkeo6zhh5x"},
		match=[matchers.query_param_matcher({"handle": "bob.example.com"})],
	)
	text = "Hi 👋 @alice.bsky.social, fixed: https://status.example.com/i/42. Thanks @bob.example.com!"
	sent = connector(language="en").send_reply(text, _post())
	assert sent == [SentReply("at://did:plc:acmehelp5dzzi6pc4ktk2/app.bsky.feed.post/3lbxzz0001",
		"https://bsky.app/profile/did:plc:acmehelp5dzzi6pc4ktk2/post/3lbxzz0001")]
	call = responses.calls[-1]
	assert call.request.headers["Authorization"] == f"Bearer {ACCESS}"
	payload = body(call)
	record = payload["record"]
	assert payload["repo"] == DID and payload["collection"] == "app.bsky.feed.post"
	assert record["$type"] == "app.bsky.feed.post" and record["text"] == text and record["langs"] == ["en"]
	assert record["createdAt"].endswith("Z") and "T" in record["createdAt"]
	assert record["reply"] == {
		"root": {"uri": "at://did:plc:acmehelp5dzzi6pc4ktk2/app.bsky.feed.post/3lbxyz0000", "cid": "bafyreirootpost0000"},
		"parent": {"uri": "at://did:plc:alice7ufpvm4mc3qplzrqxv/app.bsky.feed.post/3lbxyz2222", "cid": "bafyreialicereply2222"},
	}
	data = text.encode()
	spans = {f["features"][0]["$type"].split("#")[1]: f for f in record["facets"]}
	assert len(record["facets"]) == 3
	by_text = {data[f["index"]["byteStart"]:f["index"]["byteEnd"]].decode(): f["features"][0] for f in record["facets"]}
	assert by_text["@alice.bsky.social"] == {"$type": "app.bsky.richtext.facet#mention", "did": "did:plc:alice7ufpvm4mc3qplzrqxv"}
	assert by_text["@bob.example.com"]["did"] == "did:plc:bob3q4lhd2tybkeo6zhh5x"
	assert by_text["https://status.example.com/i/42"] == {"$type": "app.bsky.richtext.facet#link", "uri": "https://status.example.com/i/42"}
	assert spans["link"]["index"]["byteStart"] > text.index("https")  # bytes, not characters (the emoji is 4 bytes)


@responses.activate
def test_reply_to_a_top_level_post_uses_it_as_root_and_parent():
	responses.add(responses.POST, CREATE, json=fx("create_record"))
	post = parse_payload(fx("notifications_page1"))[1]
	connector().send_reply("On it.", post)
	reply = body(responses.calls[0])["record"]["reply"]
	assert reply["root"] == reply["parent"] == {"uri": post.external_id, "cid": "bafyreibobmention9999"}
	assert "facets" not in body(responses.calls[0])["record"]


@responses.activate
def test_long_reply_is_a_chained_thread_within_300_graphemes():
	uris = [f"at://{DID}/app.bsky.feed.post/3lbxzz000{i}" for i in range(1, 5)]
	for i, uri in enumerate(uris):
		responses.add(responses.POST, CREATE, json={"uri": uri, "cid": f"bafyreipart{i}"})
	text = " ".join(["We are on it 👩🏽‍💻, ログインの問題を調査しています。"] * 20)
	sent = connector().send_reply(text, _post())
	assert len(sent) >= 3
	records = [body(c)["record"] for c in responses.calls]
	assert all(graphemes(r["text"]) <= 300 for r in records)
	assert records[0]["text"].endswith(f"(1/{len(sent)})")
	root = {"uri": "at://did:plc:acmehelp5dzzi6pc4ktk2/app.bsky.feed.post/3lbxyz0000", "cid": "bafyreirootpost0000"}
	for index, record in enumerate(records[1:], 1):
		assert record["reply"]["root"] == root
		assert record["reply"]["parent"] == {"uri": uris[index - 1], "cid": f"bafyreipart{index - 1}"}


@responses.activate
def test_resume_with_already_sent_does_not_resend_and_looks_up_the_cid():
	responses.add(
		responses.GET,
		f"{XRPC}/com.atproto.repo.getRecord",
		json={"uri": f"at://{DID}/app.bsky.feed.post/3lbxzz0001", "cid": "bafyreipart0", "value": {}},
		match=[matchers.query_param_matcher({"repo": DID, "collection": "app.bsky.feed.post", "rkey": "3lbxzz0001"})],
	)
	responses.add(responses.POST, CREATE, json={"uri": f"at://{DID}/app.bsky.feed.post/3lbxzz0002", "cid": "bafyreipart1"})
	text = "word " * 100  # two parts
	done = [SentReply(f"at://{DID}/app.bsky.feed.post/3lbxzz0001", "")]
	sent = connector().send_reply(text, _post(), already_sent=done)
	assert len(sent) == 2 and sent[0] == done[0]
	creates = [c for c in responses.calls if c.request.url == CREATE]
	assert len(creates) == 1
	assert body(creates[0])["record"]["reply"]["parent"] == {"uri": done[0].external_id, "cid": "bafyreipart0"}


def test_private_reply_is_a_clear_error_without_any_request():
	with responses.RequestsMock() as rsps:
		with pytest.raises(ConnectorError) as caught:
			connector().send_reply("secret", _post(), private=True)
		assert not rsps.calls
	assert "private" in str(caught.value)


@responses.activate
def test_reply_refused_is_an_error_and_never_retried():
	responses.add(responses.POST, CREATE, status=500, json={"error": "InternalServerError"})
	with pytest.raises(ConnectorError) as caught:
		connector().send_reply("Hello", _post())
	assert len(responses.calls) == 1 and caught.value.sent == []


def _no_cursor():
	def match(request):
		return ("cursor=" not in request.url, "a cursor was sent")

	return match
