"""From channel form fields to connector config: every network gets the keys its connector requires."""

from __future__ import annotations

import re

import pytest

from social_itsm_app.channels.config import (
	DERIVED_KEYS,
	FIELD_MAP,
	NETWORK_KEYS,
	PUSH_KEYS,
	PUSHED_NETWORKS,
	connector_config,
	is_push,
	missing_fields,
	missing_push_fields,
	push_config,
	required_fields,
	webhook_secret_problem,
)
from social_itsm_app.connectors import NETWORKS, connector_class
from social_itsm_app.connectors.push import PUSH_SCHEMES
from tests.static.appfiles import doctypes

COMPLETE = {
	"X": {"access_token": "b", "account_id": "42"},
	"Mastodon": {"base_url": "https://m.example", "access_token": "t"},
	"Bluesky": {"account_handle": "acme.bsky.social", "account_password": "app-pass"},
	"Reddit": {"client_id": "c", "client_secret": "s", "account_handle": "acme", "account_password": "p"},
	"Facebook Page": {"page": 1, "account_id": "99", "access_token": "t", "client_secret": "s"},
	"Telegram": {"access_token": "123:abc"},
	"Discourse": {"base_url": "https://forum.example", "access_token": "k", "account_handle": "system"},
	"Feed": {"base_url": "https://status.example/feed"},
	"WhatsApp": {"account_id": "1065", "access_token": "t", "client_secret": "s", "webhook_secret": "v"},
	"Instagram": {"account_id": "1784", "access_token": "t", "client_secret": "s", "webhook_secret": "v"},
}


@pytest.mark.parametrize("label", sorted(COMPLETE))
def test_complete_channels_give_a_config_the_connector_accepts(label):
	values = {"network": label, **COMPLETE[label]}
	assert missing_fields(values) == []
	key = NETWORK_KEYS[label]
	config = connector_config(values)
	assert set(connector_class(key).required_keys) <= set(config)


@pytest.mark.parametrize("label", sorted(COMPLETE))
def test_missing_fields_are_named_in_the_forms_terms(label):
	missing = missing_fields({"network": label})
	key = NETWORK_KEYS[label]
	assert missing == required_fields(key)
	assert missing and len(missing) == len(set(missing))


def test_required_fields_come_from_the_connectors():
	"""One owner: the connector's required_keys. Each is a channel field, or built from fields (Reddit's user agent)."""
	assert {key for key in NETWORK_KEYS.values() if key} == set(NETWORKS) == set(FIELD_MAP)
	for key in NETWORKS:
		for config_key in connector_class(key).required_keys:
			assert config_key in FIELD_MAP[key] or config_key in DERIVED_KEYS.get(key, ()), (key, config_key)
	# Reddit requires a user_agent that nobody types in: the form asks for the four fields it is built from.
	assert "user_agent" in connector_class("reddit").required_keys
	assert required_fields("reddit") == ["client_id", "client_secret", "account_handle", "account_password"]
	assert missing_fields({"network": "Reddit", **COMPLETE["Reddit"], "account_handle": ""}) == ["account_handle"]


def shown_for(depends_on: str | None, label: str) -> bool:
	"""Evaluate the channel form's simple depends_on expressions for a network label."""
	if not depends_on:
		return True
	expression = depends_on.removeprefix("eval:").strip()
	if match := re.fullmatch(r"doc\.network\s*(==|!=)\s*'([^']*)'", expression):
		return (label == match[2]) == (match[1] == "==")
	if match := re.fullmatch(r"\[(.*)\]\.includes\(doc\.network\)", expression):
		return label in re.findall(r"'([^']*)'", match[1])
	raise AssertionError(f"teach shown_for this expression: {depends_on}")


@pytest.mark.parametrize("label", sorted(COMPLETE))
def test_the_channel_form_shows_the_fields_a_network_needs(label):
	section_shown = True
	shown = {}
	for field in doctypes()["Social Channel"]["fields"]:
		if field["fieldtype"] in ("Section Break", "Tab Break"):
			section_shown = shown_for(field.get("depends_on"), label)
		shown[field["fieldname"]] = section_shown and shown_for(field.get("depends_on"), label)
	key = NETWORK_KEYS[label]
	hidden = [fieldname for fieldname in FIELD_MAP[key].values() if not shown[fieldname]]
	assert not [f for f in required_fields(key) if f in hidden], f"{label} needs fields its form hides: {hidden}"


def test_listen_flags_saved_state_and_reddit_user_agent():
	config = connector_config({"network": "X", "access_token": "b", "account_id": "42", "listen_direct_messages": 0},
		{"bearer_token": "rotated"})
	assert config["read_dms"] is False
	assert config["bearer_token"] == "rotated"  # what the connector refreshed last time wins
	reddit = connector_config({"network": "Reddit", **COMPLETE["Reddit"]})
	assert reddit["user_agent"].endswith("(by /u/acme)")
	assert connector_config({"network": "Webhook"}) == {}
	assert missing_fields({"network": "Webhook"}) == []


def test_push_config_gives_connectors_push_what_it_reads():
	"""Every pushing network is a channel network, and its channel's fields reach the keys connectors.push reads."""
	assert set(PUSH_KEYS.values()) == set(PUSH_SCHEMES)
	assert set(PUSH_KEYS) <= set(NETWORK_KEYS) and set(PUSHED_NETWORKS) <= set(PUSH_KEYS)
	whatsapp = push_config({"network": "WhatsApp", **COMPLETE["WhatsApp"]})
	assert (whatsapp["phone_number_id"], whatsapp["app_secret"], whatsapp["verify_token"]) == ("1065", "s", "v")
	instagram = push_config({"network": "Instagram", **COMPLETE["Instagram"]})
	assert (instagram["ig_user_id"], instagram["app_secret"], instagram["verify_token"]) == ("1784", "s", "v")
	facebook = push_config({"network": "Facebook Page", **COMPLETE["Facebook Page"], "webhook_secret": "v"})
	assert (facebook["page_id"], facebook["app_secret"], facebook["verify_token"]) == ("99", "s", "v")
	assert push_config({"network": "Telegram", "access_token": "1:a", "webhook_secret": "tok"})["webhook_secret"] == "tok"
	assert push_config({"network": "Webhook", "webhook_secret": " k "}) == {"webhook_secret": "k"}
	assert push_config({"network": "Webhook"}) == {} and push_config({"network": "Mastodon"}) == {}


def test_which_channels_take_pushes_and_what_they_need():
	assert is_push({"network": "WhatsApp"}) and is_push({"network": "Webhook", "intake_mode": "Polling"})
	assert is_push({"network": "Telegram", "intake_mode": "Push"}) and not is_push({"network": "Telegram"})
	assert not is_push({"network": "Mastodon", "intake_mode": "Push"})  # Mastodon cannot push: polled whatever it says
	assert missing_push_fields({"network": "Webhook"}) == ["webhook_secret"]
	assert missing_push_fields({"network": "Instagram", "client_secret": "s"}) == ["webhook_secret"]
	assert missing_push_fields({"network": "Facebook Page", "intake_mode": "Polling"}) == []
	assert missing_push_fields({"network": "Telegram", "intake_mode": "Push"}) == []  # Register webhook makes it


def test_a_webhook_secret_must_be_long_and_telegram_s_alphabet_for_telegram():
	assert webhook_secret_problem("Webhook", "short") == "at least 16 characters"
	assert webhook_secret_problem("Webhook", "a long secret with spaces!") is None
	assert "Telegram" in webhook_secret_problem("Telegram", "a long secret with spaces!")
	assert webhook_secret_problem("Telegram", "Abc_def-0123456789") is None
