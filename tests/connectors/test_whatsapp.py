"""WhatsApp Cloud API: recorded webhook deliveries shaped like Meta's payload examples; replies with `responses`."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
import responses
from responses import matchers

from social_itsm_app.connectors import AuthError, ConnectorError, RateLimited, SentReply, SocialPost
from social_itsm_app.connectors.split import utf16_units
from social_itsm_app.connectors.whatsapp import (
	OutsideServiceWindow,
	Template,
	WhatsAppConnector,
	parse_payload,
	parse_webhook,
	within_service_window,
)
from tests.connectors.meta_push import MetaPushKit, assert_payload_error, assert_push_only

BASE = "https://graph.facebook.com/v21.0"
NUMBER = "106540352242922"
CUSTOMER = "16505551234"
TOKEN = "EAAJwhatsappSystemUserToken0123456789"
APP_SECRET = "wa-app-secret-51c0"
MESSAGES = f"{BASE}/{NUMBER}/messages"
CONFIG = {"phone_number_id": NUMBER, "access_token": TOKEN, "http_backoff": 0}
KIT = MetaPushKit("whatsapp", WhatsAppConnector, CONFIG)
fx, connector = KIT.fx, KIT.connector


def customer_post(hours_ago: float = 1, **ref) -> SocialPost:
	[post] = parse_payload(fx("text_message"))
	post.created_at = datetime.now(timezone.utc) - timedelta(hours=hours_ago)
	post.reply_ref.update(ref)
	return post


# --- parsing --------------------------------------------------------------------------------------------------


def test_a_text_message_is_a_direct_post_in_the_customers_thread():
	[post] = parse_payload(fx("text_message"))
	assert (post.network, post.kind, post.text) == ("whatsapp", "direct", "Does it come in another color?")
	assert post.external_id == "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="
	assert (post.author_id, post.author_name, post.author_handle) == (CUSTOMER, "Sheena Nelson", "")
	assert post.thread_id == f"{NUMBER}:{CUSTOMER}"
	assert post.created_at == datetime.fromtimestamp(1749416383, timezone.utc)
	assert post.reply_ref == {"phone_number_id": NUMBER, "wa_id": CUSTOMER, "message_id": post.external_id}
	assert post.url == "" and CUSTOMER not in post.text  # the number lives in author_id, the thread, reply_ref
	assert SocialPost.from_dict(json.loads(json.dumps(post.to_dict()))) == post


def test_a_reply_to_one_of_our_messages_points_at_it():
	[post] = parse_payload(fx("reply_with_context"))
	assert post.in_reply_to_id == "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3NjQ5RkY1MEIxQjMxQzA5AA=="


def test_media_messages_keep_the_caption_and_note_the_media():
	posts = {post.external_id: post.text for post in parse_payload(fx("media_messages"))}
	assert posts == {
		"wamid.IMAGE1": "The error on my screen\n[image attached, media id 1003383421387256]",
		"wamid.DOCUMENT1": 'My invoice\n[document "invoice-4711.pdf" attached, media id 1003383421387257]',
		"wamid.AUDIO1": "[voice message attached, media id 1003383421387258]",
		"wamid.VIDEO1": "It happens when I tap pay\n[video attached, media id 1003383421387259]",
		"wamid.STICKER1": "[sticker attached, media id 1003383421387260]",
	}


def test_location_interactive_button_and_reaction_messages_read_as_text():
	[location] = parse_payload(fx("location_message"))
	assert location.text == "[location: Main Office, 1 Hacker Way, Menlo Park, CA 94025 - 37.483307, -122.148981]"
	button, choice, quick = parse_payload(fx("interactive_messages"))
	assert button.text == "[button: Talk to an agent]"
	assert choice.text == "[list choice: Billing - Invoices and payments]"
	assert (quick.text, quick.in_reply_to_id) == ("[button: Yes, still broken]", "wamid.TEMPLATE1")
	# a reaction points at the message reacted to; a removed reaction (no emoji) is no post
	[reaction] = parse_payload(fx("reactions"))
	assert (reaction.text, reaction.in_reply_to_id) == ("[reaction \U0001F44D]", "wamid.OURREPLY1")


def test_unsupported_messages_are_labelled_and_system_notices_skipped():
	[post] = parse_payload(fx("unsupported_and_system"))
	assert post.external_id == "wamid.UNSUPPORTED1" and post.text.startswith("[a message type WhatsApp does not pass")


def test_statuses_of_our_messages_are_events_not_posts():
	events = parse_webhook(fx("statuses"))
	assert events.posts == []
	assert [(s.message_id, s.status, s.error) for s in events.statuses] == [
		("wamid.OURREPLY1", "sent", None),
		("wamid.OURREPLY1", "delivered", None),
		("wamid.OURREPLY1", "read", None),
	]
	assert events.statuses[2].timestamp == datetime.fromtimestamp(1749416960, timezone.utc)
	assert {(s.recipient_id, s.phone_number_id) for s in events.statuses} == {(CUSTOMER, NUMBER)}


def test_a_failed_status_carries_the_error():
	[failed] = parse_webhook(fx("status_failed")).statuses
	assert (failed.status, failed.error_code) == ("failed", 131047)
	assert failed.error.startswith("131047 Re-engagement message: Message failed to send because more than 24 hours")


def test_other_fields_and_unknown_events_are_ignored_without_failing():
	assert parse_webhook(fx("other_fields")).posts == [] and parse_webhook(fx("other_fields")).statuses == []
	payload = fx("text_message")
	payload["entry"][0]["changes"].append({"field": "messages", "value": {"messaging_product": "whatsapp", "errors": []}})
	payload["entry"][0]["changes"][0]["value"]["messages"][0]["type"] = "poll_vote_2030"
	[post] = parse_payload(payload)
	assert post.text == "[poll_vote_2030 message]"


def test_hostile_text_is_cleaned():
	payload = fx("text_message")
	message = payload["entry"][0]["changes"][0]["value"]["messages"][0]
	message["text"]["body"] = "<script>alert(1)</script>Help \u202e<b>now</b>\u0000"
	payload["entry"][0]["changes"][0]["value"]["contacts"][0]["profile"]["name"] = "<img src=x onerror=alert(1)>Eve"
	[post] = parse_payload(payload)
	assert post.text == "Help now" and post.author_name == "Eve"


def _without(path: list, payload=None):
	payload = payload or fx("text_message")
	target = payload
	for key in path[:-1]:
		target = target[key]
	del target[path[-1]]
	return payload


@pytest.mark.parametrize(
	("payload", "words"),
	[
		([], "JSON object"),
		({"object": "page", "entry": []}, "whatsapp_business_account"),
		({"object": "whatsapp_business_account", "entry": {}}, "entry"),
		({"object": "whatsapp_business_account", "entry": [{"changes": "x"}]}, "changes must be a list"),
		({"object": "whatsapp_business_account", "entry": [{"changes": [{"field": "messages", "value": []}]}]}, "value is an object"),
		({"object": "whatsapp_business_account", "entry": [{"changes": [{"field": "messages", "value": {"messages": {}}}]}]}, "messages must be a list"),
		(_without(["entry", 0, "changes", 0, "value", "metadata"]), "metadata"),
		(_without(["entry", 0, "changes", 0, "value", "messages", 0, "id"]), "has no id"),
		(_without(["entry", 0, "changes", 0, "value", "messages", 0, "from"]), "has no from"),
		(_without(["entry", 0, "changes", 0, "value", "messages", 0, "timestamp"]), "timestamp"),
		(_without(["entry", 0, "changes", 0, "value", "statuses", 0, "id"], fx("statuses")), "a status has no id"),
	],
)
def test_malformed_deliveries_are_a_clear_payload_error(payload, words):
	assert_payload_error(parse_webhook, payload, words)


# --- the 24-hour window ---------------------------------------------------------------------------------------


def test_within_service_window():
	now = datetime(2026, 12, 3, 18, 0, tzinfo=timezone.utc)
	assert within_service_window(now - timedelta(hours=23), now)
	assert within_service_window(now - timedelta(hours=23, minutes=57), now)
	assert not within_service_window(now - timedelta(hours=23, minutes=59), now)  # too close to send in time
	assert not within_service_window(now - timedelta(hours=25), now)
	assert within_service_window((now - timedelta(hours=2)).isoformat(), now)
	assert within_service_window(int((now - timedelta(hours=2)).timestamp()), now)
	assert not within_service_window(None, now) and not within_service_window("not a time", now)


# --- the connector --------------------------------------------------------------------------------------------


@responses.activate
def test_a_reply_inside_the_window_is_free_text_quoting_the_customer():
	post = customer_post(hours_ago=3)
	responses.add(
		responses.POST,
		MESSAGES,
		json=fx("send_message"),
		match=[
			matchers.header_matcher({"Authorization": f"Bearer {TOKEN}"}),
			matchers.json_params_matcher(
				{
					"messaging_product": "whatsapp",
					"recipient_type": "individual",
					"to": CUSTOMER,
					"type": "text",
					"text": {"preview_url": False, "body": "We are on it."},
					"context": {"message_id": post.external_id},
				}
			),
		],
	)
	sent = connector().send_reply("  We are on it. ", post)
	assert sent == [SentReply("wamid.HBgLMTY1MDUwNzY1MjAVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA", "")]


@responses.activate
def test_a_long_reply_is_split_at_4096_and_only_the_first_part_quotes():
	responses.add(responses.POST, MESSAGES, json=fx("send_message"))
	sent = connector().send_reply("Outage update. " * 600, customer_post())
	bodies = [json.loads(call.request.body) for call in responses.calls]
	assert len(sent) == len(bodies) == 3
	assert all(utf16_units(body["text"]["body"]) <= 4096 for body in bodies)
	assert "context" in bodies[0] and all("context" not in body for body in bodies[1:])


@responses.activate
def test_outside_the_window_free_text_is_refused_before_any_call():
	with pytest.raises(OutsideServiceWindow) as caught:
		connector().send_reply("Hello again", customer_post(hours_ago=30))
	assert "template" in str(caught.value) and not responses.calls
	# the caller may know of a later customer message than the one answered
	responses.add(responses.POST, MESSAGES, json=fx("send_message"))
	recent = (datetime.now(timezone.utc) - timedelta(minutes=5)).isoformat()
	assert connector().send_reply("Hello again", customer_post(hours_ago=30, last_customer_message_at=recent))


@responses.activate
def test_the_networks_own_window_error_is_typed_too():
	responses.add(responses.POST, MESSAGES, status=400, json=fx("error_outside_window"))
	with pytest.raises(OutsideServiceWindow) as caught:
		connector().send_reply("Hello", customer_post())
	assert caught.value.status == 400 and "131047" in str(caught.value)


@responses.activate
def test_a_template_goes_out_outside_the_window():
	responses.add(
		responses.POST,
		MESSAGES,
		json=fx("send_template"),
		match=[
			matchers.json_params_matcher(
				{
					"messaging_product": "whatsapp",
					"recipient_type": "individual",
					"to": CUSTOMER,
					"type": "template",
					"template": {
						"name": "outage_update",
						"language": {"code": "en_US"},
						"components": [
							{"type": "body", "parameters": [{"type": "text", "text": "Checkout"}, {"type": "text", "text": "fixed"}]}
						],
					},
				}
			)
		],
	)
	sent = connector().send_template(customer_post(hours_ago=72), Template("outage_update", "en_US", ("Checkout", "fixed")))
	assert sent.external_id == "wamid.HBgLMTY1MDUwNzY1MjAVAgARGBJURU1QTEFURTEyMzQ1Njc4AA=="


@pytest.mark.parametrize(
	"template",
	[Template("Outage Update", "en_US"), Template("outage_update", "english"), Template("outage_update", "en", ("",))],
)
def test_a_malformed_template_is_refused_before_any_call(template):
	with responses.RequestsMock() as rsps, pytest.raises(ConnectorError):
		connector().send_template(customer_post(), template)
	assert not rsps.calls


@responses.activate
def test_graph_errors_are_typed_and_never_show_the_token():
	responses.add(responses.POST, MESSAGES, status=401, json={**fx("error_token"), "note": TOKEN})
	with pytest.raises(AuthError) as caught:
		connector().send_reply("Hello", customer_post())
	assert TOKEN not in str(caught.value)
	responses.replace(responses.POST, MESSAGES, status=400, json=fx("error_rate"))
	with pytest.raises(RateLimited) as limited:
		connector().send_reply("Hello", customer_post())
	assert limited.value.reset_at > datetime.now(timezone.utc)


@responses.activate
def test_an_answer_without_a_message_id_may_have_been_delivered():
	responses.add(responses.POST, MESSAGES, json={"messaging_product": "whatsapp"})
	with pytest.raises(ConnectorError) as caught:
		connector().send_reply("Hello", customer_post())
	assert caught.value.maybe_delivered


def test_a_conversation_of_another_business_number_is_not_answered_from_this_one():
	with responses.RequestsMock() as rsps, pytest.raises(ConnectorError) as caught:
		connector(phone_number_id="999").send_reply("Hello", customer_post())
	assert "another business number" in str(caught.value) and not rsps.calls


@responses.activate
def test_verify_credentials_names_the_number_and_sends_appsecret_proof():
	responses.add(
		responses.GET,
		f"{BASE}/{NUMBER}",
		json=fx("phone_number"),
		match=[matchers.query_param_matcher({"fields": "id,display_phone_number,verified_name"}, strict_match=False)],
	)
	account = connector(app_secret=APP_SECRET).verify_credentials()
	assert (account.id, account.handle, account.name) == (NUMBER, "+1 555-078-3881", "Acme Support")
	assert "appsecret_proof=" in responses.calls[0].request.url


def test_there_is_nothing_to_fetch_and_no_public_post():
	assert_push_only(connector(app_secret=APP_SECRET, verify_token="vt-123456"), (TOKEN, APP_SECRET, "vt-123456"))


def test_missing_configuration_is_a_connector_error():
	with pytest.raises(ConnectorError) as caught:
		WhatsAppConnector({"access_token": TOKEN})
	assert "phone_number_id" in str(caught.value) and TOKEN not in str(caught.value)
