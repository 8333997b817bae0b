"""Telegram push registration: setWebhook carries the URL and the secret token Telegram then sends back on every
update; deleteWebhook returns the bot to polling. No network: the Bot API is mocked."""

from __future__ import annotations

import json

import pytest
import responses

from social_itsm_app.connectors import ConnectorError, get_connector

TOKEN = "6000000001:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
API = f"https://api.telegram.org/bot{TOKEN}"
URL = "https://desk.example.com/api/method/social_itsm_app.api.webhook.receive?channel=k3y"


def connector():
	return get_connector("telegram", {"bot_token": TOKEN, "http_backoff": 0})


@responses.activate
def test_set_webhook_sends_the_url_the_secret_token_and_the_updates_we_read():
	responses.add(responses.POST, f"{API}/setWebhook", json={"ok": True, "result": True, "description": "Webhook was set"})
	connector().set_webhook(URL, "s3cret_token-1")
	sent = json.loads(responses.calls[0].request.body)
	assert sent == {"url": URL, "secret_token": "s3cret_token-1", "allowed_updates": ["message", "edited_message", "channel_post"]}


@responses.activate
def test_a_refused_registration_is_a_connector_error_without_the_token():
	responses.add(responses.POST, f"{API}/setWebhook", status=400,
		json={"ok": False, "error_code": 400, "description": "Bad Request: bad webhook: HTTPS url must be provided"})
	with pytest.raises(ConnectorError) as caught:
		connector().set_webhook("http://plain.example", "x")
	assert "HTTPS url must be provided" in str(caught.value)
	assert TOKEN not in str(caught.value) and caught.value.__cause__ is None


@responses.activate
def test_delete_webhook_keeps_pending_updates_for_polling():
	responses.add(responses.POST, f"{API}/deleteWebhook", json={"ok": True, "result": True})
	connector().delete_webhook()
	assert json.loads(responses.calls[0].request.body) == {"drop_pending_updates": False}
