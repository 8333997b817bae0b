"""From channel form fields to connector config: every network gets the keys its connector requires."""

from __future__ import annotations

import re

import pytest

from social_itsm_app.channels.config import (
	DERIVED_KEYS,
	FIELD_MAP,
	NETWORK_KEYS,
	connector_config,
	missing_fields,
	required_fields,
)
from social_itsm_app.connectors import NETWORKS, connector_class
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
