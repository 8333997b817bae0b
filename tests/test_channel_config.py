"""From channel form fields to connector config: every network gets the keys its connector requires."""

from __future__ import annotations

import pytest

from social_itsm_app.channels.config import FIELD_MAP, NETWORK_KEYS, REQUIRED, connector_config, missing_fields
from social_itsm_app.connectors import connector_class

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
	assert set(REQUIRED[key]) <= set(config)
	assert set(connector_class(key).required_keys) <= set(config)


@pytest.mark.parametrize("label", sorted(COMPLETE))
def test_missing_fields_are_named_in_the_forms_terms(label):
	missing = missing_fields({"network": label})
	key = NETWORK_KEYS[label]
	assert missing == [FIELD_MAP[key][config_key] for config_key in REQUIRED[key]]


def test_listen_flags_saved_state_and_reddit_user_agent():
	config = connector_config({"network": "X", "access_token": "b", "account_id": "42", "listen_direct_messages": 0},
		{"bearer_token": "rotated"})
	assert config["read_dms"] is False
	assert config["bearer_token"] == "rotated"  # what the connector refreshed last time wins
	reddit = connector_config({"network": "Reddit", **COMPLETE["Reddit"]})
	assert reddit["user_agent"].endswith("(by /u/acme)")
	assert connector_config({"network": "Webhook"}) == {}
	assert missing_fields({"network": "Webhook"}) == []
