"""Only safe values are stored: http(s) links, text without lone surrogates, payloads without credentials."""

from __future__ import annotations

import copy
import json

import pytest

from social_itsm_app.connectors.safe_values import (
	MAX_DEPTH,
	MAX_URL,
	TOO_DEEP,
	redact_payload,
	safe_url,
	scrub_surrogates,
	truncate,
)
from tests.connectors.contract import load_fixture


@pytest.mark.parametrize(
	"url",
	[
		"https://mastodon.example/@acme/1",
		"http://status.example.com/incidents/42?page=2#top",
		"HTTPS://Example.COM/Path",
		"https://münchen.example/straße",
	],
)
def test_safe_url_keeps_http_links(url):
	assert safe_url(url) == url
	assert safe_url(f"  {url}\n") == url


@pytest.mark.parametrize(
	"url",
	[
		"javascript:alert(1)",
		"  JaVaScRiPt:alert(1)",
		"java\tscript:alert(1)",
		"data:text/html;base64,PHNjcmlwdD4=",
		"vbscript:msgbox(1)",
		"//evil.example/x",
		"/relative/path",
		"https://",
		"https:///no-host",
		"https://exa mple.com/",
		"https://example.com/a\u0000b",
		"https://example.com/a\u2028b",
		"https:\\\\evil.example",
		"https://bank.example@evil.example/",
		"https://[::1/",
		"ftp://example.com/file",
		"https://example.com/" + "a" * MAX_URL,
		"https://example.com/\ud83d",
		None,
		42,
		"",
	],
)
def test_safe_url_refuses_everything_else(url):
	assert safe_url(url) == ""


def test_scrub_surrogates_keeps_whole_characters():
	broken = json.loads('"a \\ud83d b \\ude00 c \\ud83d\\ude00"')  # how a truncated emoji escape arrives
	assert scrub_surrogates(broken) == "a  b  c 😀"
	assert scrub_surrogates(None) == ""
	scrub_surrogates(broken).encode("utf-8")


def test_truncate_cuts_between_graphemes_and_takes_none():
	assert truncate(None, 10) == ""
	assert truncate("short", 10) == "short"
	assert truncate(12345, 3) == "123"
	family = "👨‍👩‍👧‍👦"  # one grapheme of 7 code points
	assert truncate("ok " + family, 5) == "ok "
	assert truncate("ok " + family, 10) == "ok " + family
	assert truncate("cafe\u0301 bar", 4) == "caf"  # not "cafe" without its accent
	assert truncate("x\ud83d" * 10, 5) == "xxxxx"


def test_redact_payload_drops_the_facebook_page_token_and_keeps_the_cursor():
	page = load_fixture("facebook", "feed_page1")
	before = copy.deepcopy(page)
	page["paging"]["next"] = (
		"https://graph.facebook.com/v19.0/123/feed?access_token=EAABsecret&after=xyz%3D&Limit=25#appsecret_proof=abc"
	)
	page["data"][0]["access_token"] = "EAABpage"
	redacted = redact_payload(page)
	assert redacted["paging"]["next"] == "https://graph.facebook.com/v19.0/123/feed?after=xyz%3D&Limit=25"
	assert "access_token" not in redacted["data"][0]
	assert "EAAB" not in json.dumps(redacted)
	assert redacted["data"][1] == before["data"][1]  # everything else as it was
	assert page["data"][0]["access_token"] == "EAABpage"  # the input is not changed


def test_redact_payload_walks_lists_and_any_spelling_of_a_secret_name():
	raw = {
		"items": [
			{"Authorization": "Bearer abc", "text": "hi", "nested": [{"API-Key": "k", "refreshJwt": "r", "ok": 1}]},
			"https://example.com/cb?token=t",
			"https://example.com/cb?next_token=page2&Client_Secret=s",
		],
		"next_token": "page2",  # a pagination cursor, not a credential
	}
	assert redact_payload(raw) == {
		"items": [
			{"text": "hi", "nested": [{"ok": 1}]},
			"https://example.com/cb",
			"https://example.com/cb?next_token=page2",
		],
		"next_token": "page2",
	}


def test_redact_payload_hides_telegram_bot_tokens_in_urls():
	raw = {
		"photo": "https://api.telegram.org/file/bot123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/photos/file_0.jpg",
		"text": "see https://api.telegram.org/bot42:ABC-def_1/getMe",
	}
	assert redact_payload(raw) == {
		"photo": "https://api.telegram.org/file/bot***/photos/file_0.jpg",
		"text": "see https://api.telegram.org/bot***/getMe",
	}


def test_redact_payload_is_bounded_in_depth():
	deep: dict = {"leaf": "x"}
	for _ in range(MAX_DEPTH + 5):
		deep = {"down": deep}
	redacted = redact_payload(deep)
	for _ in range(MAX_DEPTH):
		redacted = redacted["down"]
	assert redacted == TOO_DEEP
	assert redact_payload(None) == {}
