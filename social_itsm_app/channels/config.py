"""From a Social Channel's fields to a connector's config (pure: no frappe import).

The channel form has one set of generic fields (handle, account id, base URL, access token, ...);
each network calls them by its own names. This table is the only place that knows the mapping.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from social_itsm_app.connectors import connector_class

# Social Channel.network label -> connector network key (None: no polling connector, e.g. pushed webhooks).
NETWORK_KEYS: dict[str, str | None] = {
	"X": "x",
	"Mastodon": "mastodon",
	"Bluesky": "bluesky",
	"Reddit": "reddit",
	"Facebook Page": "facebook",
	"Telegram": "telegram",
	"Discourse": "discourse",
	"Feed": "feed",
	"Webhook": None,
	"WhatsApp": "whatsapp",
	"Instagram": "instagram",
}
# Networks whose posts only arrive pushed to the webhook endpoint: nothing to poll, whatever intake_mode says.
PUSHED_NETWORKS = ("Webhook", "WhatsApp", "Instagram")
# Networks that can do both: the channel's intake_mode chooses (Telegram's getUpdates stops while a webhook is set).
POLL_OR_PUSH = ("Telegram", "Facebook Page")
# Social Channel.intake_mode choices (owner of the Select options).
POLLING, PUSH = "Polling", "Push"
INTAKE_MODES = (POLLING, PUSH)
# Social Channel.network label -> the key connectors.push knows the network's deliveries by.
PUSH_KEYS: dict[str, str] = {
	"Webhook": "webhook", "WhatsApp": "whatsapp", "Instagram": "instagram", "Telegram": "telegram",
	"Facebook Page": "facebook",
}

# connector key -> {config key: channel field}; which keys are required is the connector's own required_keys.
# ``broadcast_target`` only where a broadcast needs a place (elsewhere it goes to the account's own timeline).
FIELD_MAP: dict[str, dict[str, str]] = {
	"x": {
		"bearer_token": "access_token",
		"user_id": "account_id",
		"search_query": "search_query",
		"refresh_token": "refresh_token",
		"client_id": "client_id",
		"client_secret": "client_secret",
		"base_url": "base_url",
		"allow_links_in_replies": "allow_links_in_replies",
	},
	"mastodon": {"base_url": "base_url", "access_token": "access_token", "hashtags": "search_query"},
	"bluesky": {
		"base_url": "base_url",
		"identifier": "account_handle",
		"app_password": "account_password",
		"search_query": "search_query",
	},
	"reddit": {
		"client_id": "client_id",
		"client_secret": "client_secret",
		"username": "account_handle",
		"password": "account_password",
		"subreddits": "subreddits",
		"query": "search_query",
		"base_url": "base_url",
		"broadcast_target": "broadcast_target",
	},
	"facebook": {
		"page_id": "account_id",
		"page_access_token": "access_token",
		"app_secret": "client_secret",
		"verify_token": "webhook_secret",
		"base_url": "base_url",
	},
	"telegram": {
		"bot_token": "access_token",
		"webhook_secret": "webhook_secret",
		"bot_username": "account_handle",
		"base_url": "base_url",
		"broadcast_target": "broadcast_target",
	},
	"discourse": {
		"base_url": "base_url",
		"api_key": "access_token",
		"api_username": "account_handle",
		"category": "category",
		"broadcast_target": "broadcast_target",
	},
	"feed": {"url": "base_url", "css_selector": "css_selector"},
	"whatsapp": {
		"phone_number_id": "account_id",
		"access_token": "access_token",
		"app_secret": "client_secret",
		"verify_token": "webhook_secret",
		"base_url": "base_url",
	},
	"instagram": {
		"ig_user_id": "account_id",
		"access_token": "access_token",
		"app_secret": "client_secret",
		"verify_token": "webhook_secret",
		"base_url": "base_url",
	},
}

# Config keys built here from others rather than typed in (see connector_config): a connector requires them,
# the form never asks for them.
DERIVED_KEYS: dict[str, tuple[str, ...]] = {"reddit": ("user_agent",)}

# What the channel's "listen to" checkboxes are called in each connector's config.
LISTEN_FLAGS: dict[str, dict[str, str]] = {
	"x": {"read_dms": "listen_direct_messages"},
	"facebook": {"read_comments": "listen_mentions", "read_messenger": "listen_direct_messages"},
}

# Channel fields stored as Password: the caller decrypts them and passes them in ``values``.
SECRET_FIELDS = ("access_token", "refresh_token", "client_secret", "account_password", "webhook_secret")


def network_key(label: str | None) -> str | None:
	return NETWORK_KEYS.get(label or "")


def connector_config(values: Mapping[str, Any], saved_state: Mapping[str, Any] | None = None) -> dict[str, Any]:
	"""Build the connector config from channel field values (secrets already decrypted)."""
	key = network_key(values.get("network"))
	if key is None:
		return {}
	config: dict[str, Any] = {}
	for config_key, fieldname in FIELD_MAP[key].items():
		value = values.get(fieldname)
		if isinstance(value, str):
			value = value.strip()
		if value not in (None, ""):
			config[config_key] = value
	for config_key, fieldname in LISTEN_FLAGS.get(key, {}).items():
		config[config_key] = bool(values.get(fieldname, 1))
	if key == "reddit" and config.get("username"):
		config["user_agent"] = f"frappe:social_itsm_app:0.1 (by /u/{config['username']})"
	if saved_state:
		config.update(saved_state)
	return config


def push_key(label: str | None) -> str | None:
	return PUSH_KEYS.get(label or "")


def is_push(values: Mapping[str, Any]) -> bool:
	"""Whether the channel takes pushed deliveries: push-only networks always, the others when set to Push."""
	label = values.get("network") or ""
	return label in PUSHED_NETWORKS or (label in POLL_OR_PUSH and values.get("intake_mode") == PUSH)


def push_config(values: Mapping[str, Any]) -> dict[str, Any]:
	"""What connectors.push needs to check and read a channel's deliveries (secrets already decrypted)."""
	key = push_key(values.get("network"))
	if key is None:
		return {}
	if key == "webhook":
		secret = str(values.get("webhook_secret") or "").strip()
		return {"webhook_secret": secret} if secret else {}
	return connector_config(values)


# The fields a push channel needs before it can accept anything (the verify token is asked for by Meta's form).
PUSH_FIELDS: dict[str, tuple[str, ...]] = {
	"webhook": ("webhook_secret",),
	"whatsapp": ("client_secret", "webhook_secret"),
	"instagram": ("client_secret", "webhook_secret"),
	"facebook": ("client_secret", "webhook_secret"),
	"telegram": (),  # Register webhook makes the secret token and gives it to Telegram
}


MIN_WEBHOOK_SECRET = 16
_TELEGRAM_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")


def webhook_secret_problem(label: str | None, secret: str) -> str | None:
	"""Why a newly typed webhook secret cannot work (None when it can): it signs or unlocks every delivery, so it
	must not be guessable, and Telegram accepts only its own alphabet in ``secret_token``."""
	if len(secret) < MIN_WEBHOOK_SECRET:
		return f"at least {MIN_WEBHOOK_SECRET} characters"
	if label == "Telegram" and not _TELEGRAM_SECRET.fullmatch(secret):
		return "at most 256 of the letters A-Z a-z, digits, _ and - (what Telegram accepts)"
	return None


def missing_push_fields(values: Mapping[str, Any]) -> list[str]:
	"""Channel fields a push channel still needs (empty for polling channels and complete push channels)."""
	if not is_push(values):
		return []
	return [name for name in PUSH_FIELDS.get(push_key(values.get("network")) or "", ()) if not values.get(name)]


def required_fields(key: str) -> list[str]:
	"""The channel fields behind the config keys the network's connector requires, in its order."""
	derived = DERIVED_KEYS.get(key, ())
	return [FIELD_MAP[key][config_key] for config_key in connector_class(key).required_keys if config_key not in derived]


def missing_fields(values: Mapping[str, Any]) -> list[str]:
	"""Channel fields an admin still has to fill in for this network (empty when complete)."""
	key = network_key(values.get("network"))
	if key is None:
		return []
	config = connector_config(values)
	field_of = FIELD_MAP[key]
	return [
		field_of[config_key] for config_key in connector_class(key).required_keys
		if config_key not in DERIVED_KEYS.get(key, ()) and not config.get(config_key)
	]
