"""Telegram connector: recorded updates shaped like core.telegram.org/bots/api objects, no network."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
import requests
import responses
from responses import matchers

from social_itsm_app.connectors import AuthError, ConnectorError, RateLimited, SentReply, get_connector
from social_itsm_app.connectors.base import decode_cursor, encode_cursor
from social_itsm_app.connectors.split import utf16_units
from social_itsm_app.connectors.telegram import parse_payload
from tests.connectors.contract import ContractCase, ContractSuite, load_fixture

TOKEN = "6000000001:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
API = f"https://api.telegram.org/bot{TOKEN}"
UPDATES = f"{API}/getUpdates"
SEND = f"{API}/sendMessage"
CONFIG = {"bot_token": TOKEN, "http_backoff": 0}


def fx(name: str):
	return load_fixture("telegram", name)


def register_success(rsps: responses.RequestsMock) -> None:
	rsps.add(responses.GET, UPDATES, json=fx("updates_page1"))


class TestTelegramContract(ContractSuite):
	case = ContractCase(
		network="telegram",
		config=CONFIG,
		fetch_url=UPDATES,
		register_success=register_success,
		rate_limit_body={"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 35", "parameters": {"retry_after": 35}},
		auth_body={"ok": False, "error_code": 401, "description": "Unauthorized"},
	)

	def test_retry_after_in_the_body_sets_reset_at(self):
		with responses.RequestsMock() as rsps:
			rsps.add(responses.GET, UPDATES, status=429, json=self.case.rate_limit_body)
			with pytest.raises(RateLimited) as caught:
				self.connector().fetch()
		expected = datetime.now(timezone.utc) + timedelta(seconds=35)
		assert abs((caught.value.reset_at - expected).total_seconds()) < 5
		assert TOKEN not in str(caught.value)


def connector(**overrides):
	return get_connector("telegram", {**CONFIG, **overrides})


def sent_json(call) -> dict:
	return json.loads(call.request.body)


# --- fetch -----------------------------------------------------------------------------------------------


@responses.activate
def test_first_fetch_parses_every_field():
	responses.add(
		responses.GET,
		UPDATES,
		json=fx("updates_page1"),
		match=[matchers.query_param_matcher(
			{"limit": "100", "timeout": "0", "allowed_updates": '["message","edited_message","channel_post"]'}
		)],
	)
	result = connector(bot_username="AcmeHelpBot").fetch()
	direct, group, photo, edit = result.posts
	assert direct.network == "telegram" and direct.kind == "direct"
	assert direct.external_id == "111222333:51"
	assert direct.text == "VPN is down again 😤 see status page (https://status.example.com/incidents/42)"
	assert direct.author_id == "111222333" and direct.author_handle == "alice_it" and direct.author_name == "Alice"
	assert direct.created_at == datetime.fromtimestamp(1795420681, tz=timezone.utc)
	assert direct.url == "" and direct.thread_id == "111222333" and direct.in_reply_to_id is None
	assert direct.language is None and direct.raw["update_id"] == 872030001
	assert direct.reply_ref == {"chat_id": 111222333, "message_id": 51}

	assert group.kind == "mention" and group.text == "@AcmeHelpBot ログインできない & SSO 502"
	assert group.url == "https://t.me/acme_users/7702" and group.thread_id == "-1001234567890"
	assert group.in_reply_to_id == "-1001234567890:7690"
	assert photo.kind == "comment" and photo.text == "[photo]\nthe error screen"
	assert edit.external_id == "111222333:51:e1795420730" and edit.text == "VPN is down again, since 8:00"
	assert edit.created_at == datetime.fromtimestamp(1795420730, tz=timezone.utc)
	assert decode_cursor(result.cursor) == {"offset": 872030006}
	assert result.has_more is False


@responses.activate
def test_second_fetch_sends_the_offset_and_returns_nothing_twice():
	responses.add(
		responses.GET, UPDATES, json=fx("empty"),
		match=[matchers.query_param_matcher({"offset": "872030006"}, strict_match=False)],
	)
	result = connector().fetch(encode_cursor({"offset": 872030006}))
	assert result.posts == [] and decode_cursor(result.cursor) == {"offset": 872030006}


@responses.activate
def test_a_full_page_means_has_more_and_one_page_by_default():
	responses.add(responses.GET, UPDATES, json=fx("updates_page1"))
	result = connector(page_size=5).fetch()
	assert len(responses.calls) == 1, "a higher offset deletes the page on Telegram's side: never before it is stored"
	assert result.has_more is True and decode_cursor(result.cursor) == {"offset": 872030006}


@responses.activate
def test_paging_across_two_pages_when_allowed():
	responses.add(responses.GET, UPDATES, json=fx("updates_page1"), match=[matchers.query_param_matcher({"limit": "5"}, strict_match=False)])
	responses.add(
		responses.GET, UPDATES, json=fx("updates_page2"),
		match=[matchers.query_param_matcher({"offset": "872030006"}, strict_match=False)],
	)
	result = connector(page_size=5, max_pages=3).fetch()
	assert [p.external_id for p in result.posts][-1] == "111222333:52"
	assert len(responses.calls) == 2 and result.has_more is False
	assert decode_cursor(result.cursor) == {"offset": 872030007}


@responses.activate
def test_409_while_a_webhook_is_set_is_a_clear_error():
	responses.add(
		responses.GET, UPDATES, status=409,
		json={"ok": False, "error_code": 409, "description": "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first"},
	)
	with pytest.raises(ConnectorError) as caught:
		connector().fetch()
	assert not isinstance(caught.value, AuthError)
	assert "deleteWebhook" in str(caught.value) and "webhook mode" in str(caught.value)
	assert TOKEN not in str(caught.value)


@responses.activate
def test_errors_never_leak_the_token_even_in_the_exception_chain():
	responses.add(responses.GET, UPDATES, body=requests.exceptions.ConnectionError(f"Max retries exceeded with url: /bot{TOKEN}/getUpdates"))
	with pytest.raises(ConnectorError) as caught:
		connector(http_retries=0).fetch()
	assert TOKEN not in str(caught.value)
	assert caught.value.__cause__ is None and caught.value.__suppress_context__


@responses.activate
def test_404_not_found_means_a_bad_token():
	responses.add(responses.GET, UPDATES, status=404, json={"ok": False, "error_code": 404, "description": "Not Found"})
	with pytest.raises(AuthError):
		connector().fetch()


def test_parse_payload_matches_fetch_and_drops_scripts():
	posts = parse_payload(fx("updates_page1"))
	assert len(posts) == 4  # the service message (new member) is not a post
	assert all("<script" not in p.text and "alert" not in p.text for p in posts)
	assert parse_payload(fx("updates_page1")["result"][0])[0].external_id == "111222333:51"  # a webhook update


# --- replies ---------------------------------------------------------------------------------------------


def _posts():
	return parse_payload(fx("updates_page1"))


@responses.activate
def test_reply_sends_the_documented_payload():
	responses.add(responses.POST, SEND, json=fx("send_message"))
	sent = connector().send_reply("On it!", _posts()[0])
	assert sent == [SentReply("111222333:53", "")]
	assert sent_json(responses.calls[0]) == {
		"chat_id": 111222333,
		"text": "On it!",
		"reply_parameters": {"message_id": 51, "allow_sending_without_reply": True},
	}


@responses.activate
def test_public_reply_goes_to_the_group_and_private_reply_to_the_authors_own_chat():
	responses.add(responses.POST, SEND, json=fx("send_message"))
	responses.add(responses.POST, SEND, json=fx("send_message"))
	group = _posts()[1]
	assert group.kind != "direct"
	connector().send_reply("public", group)
	connector().send_reply("private", group, private=True)
	public, private = (sent_json(c) for c in responses.calls)
	assert public["chat_id"] == -1001234567890
	assert public["reply_parameters"]["message_id"] == int(group.external_id.split(":")[1])
	# The group's message does not exist in the private chat, so there is nothing to reply to there.
	assert private == {"chat_id": int(group.author_id), "text": "private"}


@responses.activate
def test_private_chain_from_a_group_stays_in_the_private_chat():
	group = _posts()[1]
	for index in range(2):
		answer = fx("send_message")
		answer["result"]["message_id"] = 70 + index
		answer["result"]["chat"] = {"id": int(group.author_id), "type": "private"}
		responses.add(responses.POST, SEND, json=answer)
	sent = connector().send_reply("word " * 1000, group, private=True)
	second = sent_json(responses.calls[1])
	assert second["chat_id"] == int(group.author_id)
	assert second["reply_parameters"]["message_id"] == 70
	assert [s.external_id for s in sent] == [f"{group.author_id}:70", f"{group.author_id}:71"]


@responses.activate
def test_private_reply_to_a_post_made_as_a_channel_is_refused_before_sending():
	group = _posts()[1]
	group.author_id = str(group.reply_ref["chat_id"])  # sender_chat: the group or channel itself wrote it
	with pytest.raises(ConnectorError, match="answer publicly"):
		connector().send_reply("private", group, private=True)
	assert len(responses.calls) == 0


@responses.activate
def test_private_reply_to_someone_who_never_started_the_bot_says_so():
	responses.add(responses.POST, SEND, status=403, json={
		"ok": False, "error_code": 403, "description": "Forbidden: bot can't initiate conversation with a user"})
	with pytest.raises(ConnectorError) as caught:
		connector().send_reply("private", _posts()[1], private=True)
	assert not isinstance(caught.value, AuthError)
	assert "never opened a chat with the bot" in str(caught.value)
	assert len(responses.calls) == 1


@responses.activate
def test_long_reply_is_a_chained_thread_within_4096_utf16_units():
	for index in range(3):
		answer = fx("send_message")
		answer["result"]["message_id"] = 60 + index
		responses.add(responses.POST, SEND, json=answer)
	text = ("Статус: 🔧 ログインの問題を調査中です。 " * 400).strip()
	sent = connector().send_reply(text, _posts()[0])
	assert [s.external_id for s in sent] == ["111222333:60", "111222333:61", "111222333:62"]
	bodies = [sent_json(c) for c in responses.calls]
	assert all(utf16_units(b["text"]) <= 4096 for b in bodies)
	assert [b["reply_parameters"]["message_id"] for b in bodies] == [51, 60, 61]


@responses.activate
def test_resume_with_already_sent_does_not_resend():
	answer = fx("send_message")
	answer["result"]["message_id"] = 61
	responses.add(responses.POST, SEND, json=answer)
	sent = connector().send_reply("a " * 2100, _posts()[0], already_sent=[SentReply("111222333:60", "")])
	assert len(sent) == 2 and len(responses.calls) == 1
	assert sent_json(responses.calls[0])["reply_parameters"]["message_id"] == 60


@responses.activate
def test_blocked_by_the_user_is_not_an_auth_error_and_not_retried():
	responses.add(responses.POST, SEND, status=403, json={"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"})
	with pytest.raises(ConnectorError) as caught:
		connector().send_reply("hi", _posts()[0])
	assert not isinstance(caught.value, AuthError) and "blocked" in str(caught.value)
	assert len(responses.calls) == 1


@responses.activate
def test_group_upgraded_to_supergroup_is_followed():
	responses.add(
		responses.POST, SEND, status=400,
		json={"ok": False, "error_code": 400, "description": "Bad Request: group chat was upgraded to a supergroup chat",
			"parameters": {"migrate_to_chat_id": -1009999999999}},
	)
	answer = fx("send_message")
	answer["result"]["chat"] = {"id": -1009999999999, "type": "supergroup", "title": "Acme"}
	responses.add(responses.POST, SEND, json=answer)
	sent = connector().send_reply("hi", _posts()[1])
	assert sent == [SentReply("-1009999999999:53", "https://t.me/c/9999999999/53")]
	assert sent_json(responses.calls[1])["chat_id"] == -1009999999999


@responses.activate
def test_send_rate_limit_is_rate_limited():
	responses.add(responses.POST, SEND, status=429, json={"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 7", "parameters": {"retry_after": 7}})
	with pytest.raises(RateLimited) as caught:
		connector().send_reply("hi", _posts()[0])
	assert 0 < (caught.value.reset_at - datetime.now(timezone.utc)).total_seconds() <= 8
