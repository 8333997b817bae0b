"""Instagram: recorded webhook deliveries shaped like Meta's Instagram webhook examples; replies with `responses`."""

from __future__ import annotations

import json

import pytest
import responses
from responses import matchers

from social_itsm_app.connectors import AuthError, ConnectorError, SentReply
from social_itsm_app.connectors.instagram import InstagramConnector, parse_payload, utf8_budget
from tests.connectors.meta_push import MetaPushKit, assert_payload_error, assert_push_only

BASE = "https://graph.instagram.com/v21.0"
ACCOUNT = "17841405822304914"
CUSTOMER = "1234567890123456"
TOKEN = "IGQVJinstagramUserToken0123456789"
MESSAGES = f"{BASE}/{ACCOUNT}/messages"
CONFIG = {"ig_user_id": ACCOUNT, "access_token": TOKEN, "http_backoff": 0}
KIT = MetaPushKit("instagram", InstagramConnector, CONFIG)
fx, connector = KIT.fx, KIT.connector


def dm():
	return parse_payload(fx("messaging_text"))[0]


def comments():
	return parse_payload(fx("comments"))


# --- parsing --------------------------------------------------------------------------------------------------


def test_a_direct_message_is_a_direct_post_in_the_persons_conversation():
	post = dm()
	assert (post.network, post.kind, post.text, post.author_id) == ("instagram", "direct", "My order never arrived", CUSTOMER)
	assert post.thread_id == f"{ACCOUNT}:{CUSTOMER}" and post.in_reply_to_id is None
	assert post.reply_ref == {"ig_user_id": ACCOUNT, "igsid": CUSTOMER}
	assert post.created_at.timestamp() == pytest.approx(1749417998.123)  # Messenger timestamps are milliseconds


def test_our_own_echoes_and_comments_are_skipped():
	assert parse_payload(fx("messaging_echo")) == []
	assert ACCOUNT not in {post.author_id for post in comments()}
	payload = fx("messaging_text")
	payload["entry"][0]["messaging"][0]["sender"]["id"] = ACCOUNT  # sent by us, without the echo flag
	assert parse_payload(payload) == []


def test_attachments_are_listed_with_their_links():
	photo, reply, story, unsupported = parse_payload(fx("messaging_attachments"))
	assert photo.text == "[photo: https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=17900000000000000&signature=AbCd]"
	assert reply.text == "This one\n[shared post: https://www.instagram.com/p/C8AbCdEfGhI/]"
	assert reply.in_reply_to_id == "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOkVDSE8x"
	assert story.text.startswith("[story mention: https://") and story.thread_id == f"{ACCOUNT}:2234567890123456"
	assert unsupported.text == "[a message type Instagram does not pass on to the API]"


def test_comments_are_comment_posts_threaded_by_media():
	top, answer, live = comments()
	assert (top.kind, top.external_id, top.text, top.author_handle) == (
		"comment", "17865799348089039", "App is down for me too @acme", "jane.doe"
	)
	assert top.thread_id == "18012345678901234" and top.in_reply_to_id is None
	assert top.reply_ref == {
		"ig_user_id": ACCOUNT, "comment_id": "17865799348089039", "media_id": "18012345678901234",
		"reply_to": "17865799348089039",
	}
	# a reply to a comment is answered under the top-level comment (threads are one level deep)
	assert answer.in_reply_to_id == "17865799348089039" and answer.reply_ref["reply_to"] == "17865799348089039"
	assert (live.thread_id, live.text) == ("18099999999999999", "Is checkout fixed?")
	assert all(post.created_at.timestamp() == 1749418400 for post in (top, answer, live))


def test_a_comment_given_on_the_entry_itself_is_read_too():
	[post] = parse_payload(fx("comment_lone_field"))
	assert (post.external_id, post.text, post.thread_id) == ("17865799348089060", "Where is my parcel?", "18012345678901235")


def test_other_events_and_fields_are_ignored_without_failing():
	assert parse_payload(fx("messaging_other_events")) == []
	assert parse_payload(fx("other_fields")) == []


def test_hostile_text_and_links_are_cleaned():
	payload = fx("messaging_attachments")
	message = payload["entry"][0]["messaging"][1]["message"]
	message["text"] = "<script>alert(1)</script>Look <b>here</b>"
	message["attachments"][0]["payload"]["url"] = "javascript:alert(1)"
	payload["entry"][0]["messaging"] = payload["entry"][0]["messaging"][1:2]
	[post] = parse_payload(payload)
	assert post.text == "Look here\n[shared post]"


@pytest.mark.parametrize(
	("payload", "words"),
	[
		("x", "JSON object"),
		({"object": "page", "entry": []}, "'instagram'"),
		({"object": "instagram", "entry": [{"messaging": []}]}, "an entry has no id"),
		({"object": "instagram", "entry": [{"id": ACCOUNT, "messaging": {"a": 1}}]}, "messaging must be a list"),
		({"object": "instagram", "entry": [{"id": ACCOUNT, "messaging": [{"message": "hi"}]}]}, "must be an object"),
		({"object": "instagram", "entry": [{"id": ACCOUNT, "messaging": [{"sender": {"id": "1"}, "message": {}}]}]}, "has no mid"),
		({"object": "instagram", "entry": [{"id": ACCOUNT, "messaging": [{"message": {"mid": "m"}}]}]}, "sender has no id"),
		(
			{"object": "instagram", "entry": [{"id": ACCOUNT, "messaging": [{"sender": {"id": "1"}, "message": {"mid": "m"}}]}]},
			"timestamp",
		),
		({"object": "instagram", "entry": [{"id": ACCOUNT, "changes": [{"field": "comments", "value": {"id": "c"}}]}]}, "has no id"),
		(
			{"object": "instagram", "entry": [{"id": ACCOUNT, "changes": [{"field": "comments", "value": {"id": "c", "from": {"id": "u"}}}]}]},
			"has no id",
		),
	],
)
def test_malformed_deliveries_are_a_clear_payload_error(payload, words):
	assert_payload_error(parse_payload, payload, words)


# --- the connector --------------------------------------------------------------------------------------------


@responses.activate
def test_a_dm_is_answered_with_the_send_api():
	responses.add(
		responses.POST,
		MESSAGES,
		json=fx("send_message"),
		match=[
			matchers.header_matcher({"Authorization": f"Bearer {TOKEN}"}),
			matchers.json_params_matcher({"recipient": {"id": CUSTOMER}, "message": {"text": "We are looking into it."}}),
		],
	)
	sent = connector().send_reply("We are looking into it.", dm())
	assert sent == [SentReply("aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOlNFTlQx", "")]


@responses.activate
def test_a_long_dm_is_split_so_every_part_stays_under_1000_bytes():
	responses.add(responses.POST, MESSAGES, json=fx("send_message"))
	connector().send_reply("Wir prüfen das gerade für Sie. " * 60 + "\U0001F64F", dm())
	texts = [json.loads(call.request.body)["message"]["text"] for call in responses.calls]
	assert len(texts) >= 2 and all(len(text.encode("utf-8")) <= 1000 for text in texts)
	assert utf8_budget("plain ascii") == 1000 and utf8_budget("ü") == 500 and utf8_budget("€") == 333


@responses.activate
def test_a_comment_gets_a_public_reply_under_its_top_level_comment():
	responses.add(
		responses.POST,
		f"{BASE}/17865799348089039/replies",
		json=fx("comment_reply"),
		match=[matchers.urlencoded_params_matcher({"message": "Sorry! Fixed now."})],
	)
	answer = comments()[1]  # itself a reply: the answer goes under the top-level comment
	assert connector().send_reply("Sorry! Fixed now.", answer) == [SentReply("17870913679156914", "")]


@responses.activate
def test_a_comment_gets_one_private_reply_by_comment_id():
	responses.add(
		responses.POST,
		MESSAGES,
		json=fx("send_message"),
		match=[matchers.json_params_matcher({"recipient": {"comment_id": "17865799348089039"}, "message": {"text": "DM us your order number"}})],
	)
	assert connector().send_reply("DM us your order number", comments()[0], private=True)
	with pytest.raises(ConnectorError) as caught:
		connector().send_reply("x " * 600, comments()[0], private=True)
	assert "single message" in str(caught.value) and len(responses.calls) == 1


@responses.activate
def test_refused_token_is_an_auth_error_without_the_token():
	responses.add(responses.POST, MESSAGES, status=400, json={**fx("error_token"), "echo": TOKEN})
	with pytest.raises(AuthError) as caught:
		connector().send_reply("Hello", dm())
	assert TOKEN not in str(caught.value)


@responses.activate
def test_verify_credentials_names_the_account():
	responses.add(responses.GET, f"{BASE}/{ACCOUNT}", json=fx("user"))
	account = connector().verify_credentials()
	assert (account.id, account.handle, account.name, account.url) == (
		ACCOUNT, "acme", "Acme Inc.", "https://www.instagram.com/acme"
	)


@responses.activate
def test_facebook_login_apps_use_the_graph_facebook_host():
	responses.add(responses.GET, f"https://graph.facebook.com/v21.0/{ACCOUNT}", json=fx("user"))
	assert connector(base_url="https://graph.facebook.com/v21.0").verify_credentials().handle == "acme"


def test_a_conversation_of_another_account_is_not_answered_from_this_one():
	with responses.RequestsMock() as rsps, pytest.raises(ConnectorError) as caught:
		connector(ig_user_id="999").send_reply("Hello", dm())
	assert "another Instagram account" in str(caught.value) and not rsps.calls


def test_there_is_nothing_to_fetch_and_no_public_post():
	refused = assert_push_only(connector(app_secret="ig-app-secret-1", verify_token="ig-verify-2"),
		(TOKEN, "ig-app-secret-1", "ig-verify-2"))
	assert "photo or a video" in str(refused)
