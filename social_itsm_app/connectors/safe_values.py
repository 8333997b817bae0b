"""Values safe to store: http(s) links only, no lone surrogates, columns cut whole, no credentials in payloads.

Pure helpers for the Frappe layer (ingest/store.py) to call on what a connector hands over::

    from social_itsm_app.connectors.safe_values import redact_payload, safe_url, scrub_surrogates, truncate
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

import regex

MAX_URL = 1000
MAX_DEPTH = 32  # redact_payload: deeper containers are replaced by TOO_DEEP
TOO_DEEP = "[too deep]"

_SURROGATES = re.compile("[\ud800-\udfff]")
# Anything a browser would strip or trip on inside a link: controls, spaces, backslashes.
_UNSAFE_IN_URL = re.compile(r"[\x00-\x20\x7f-\xa0\\\u1680\u180e\u2000-\u200f\u2028-\u202f\u205f-\u206f\u3000\ufeff]")
_GRAPHEME = regex.compile(r"\X")

# Key names (lower case, only letters and digits) of credentials, and endings that always mean one.
SECRET_NAMES = frozenset(
	(
		"token accesstoken refreshtoken idtoken bottoken oauthtoken oauthtokensecret authtoken bearertoken "
		"sessiontoken csrftoken secrettoken apikey apisecret appsecret appsecretproof clientsecret "
		"consumersecret secret password passwd authorization proxyauthorization cookie setcookie signature sig "
		"xhubsignature xhubsignature256 privatekey accessjwt refreshjwt xtelegrambotapisecrettoken"
	).split()
)
_SECRET_ENDINGS = ("accesstoken", "refreshtoken", "secret", "password", "apikey", "signature", "jwt")
_BOT_TOKEN = re.compile(r"/bot\d+:[A-Za-z0-9_-]+")  # Telegram file and API URLs carry the bot's token
_WHOLE_URL = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://\S*\Z")


def safe_url(value: Any) -> str:
	"""``value`` if it is an http(s) link with a host, else "" (``javascript:``, ``data:``, ``//evil`` ...).

	Surrounding whitespace goes; whitespace, control characters or backslashes inside, user info
	(``https://bank.example@evil.example``) and links longer than MAX_URL make it "" rather than guessed at.
	"""
	if not isinstance(value, str):
		return ""
	url = value.strip()
	if not url or len(url) > MAX_URL or _UNSAFE_IN_URL.search(url) or _SURROGATES.search(url):
		return ""
	try:
		parts = urlsplit(url)
		host = parts.hostname
	except ValueError:  # e.g. an unclosed IPv6 bracket
		return ""
	if parts.scheme.lower() not in ("http", "https") or not host or "@" in parts.netloc:
		return ""
	return url


def scrub_surrogates(text: str | None) -> str:
	"""``text`` without lone UTF-16 surrogates (MariaDB's utf8mb4 rejects them; ``json.loads`` makes them)."""
	if not text:
		return ""
	return _SURROGATES.sub("", text) if _SURROGATES.search(text) else text


def truncate(value: Any, length: int) -> str:
	"""``value`` as text of at most ``length`` characters, cut between graphemes (never inside an emoji)."""
	text = scrub_surrogates(value if isinstance(value, str) or value is None else str(value))
	if len(text) <= length:
		return text
	end = 0
	for grapheme in _GRAPHEME.finditer(text):
		if grapheme.end() > length:
			break
		end = grapheme.end()
	return text[:end]


def redact_payload(raw: Mapping[str, Any]) -> dict[str, Any]:
	"""A copy of a raw network payload without credentials, to store with a post; ``raw`` is not changed.

	Keys named like a credential (SECRET_NAMES, any case, ``-``/``_`` ignored) are dropped at any depth;
	in every string, such query (and fragment) parameters leave URLs, and Telegram bot tokens in URL paths
	become ``/bot***``. Containers deeper than MAX_DEPTH become TOO_DEEP.
	"""
	return _redact(raw, 0) if isinstance(raw, Mapping) else {}


def is_secret_name(name: Any) -> bool:
	"""Whether a key or query parameter name looks like it holds a credential."""
	if not isinstance(name, str):
		return False
	folded = "".join(c for c in name.lower() if c.isalnum())
	return folded in SECRET_NAMES or folded.endswith(_SECRET_ENDINGS)


def _redact(value: Any, depth: int) -> Any:
	if isinstance(value, Mapping):
		if depth >= MAX_DEPTH:
			return TOO_DEEP
		return {key: _redact(item, depth + 1) for key, item in value.items() if not is_secret_name(key)}
	if isinstance(value, (list, tuple)):
		if depth >= MAX_DEPTH:
			return TOO_DEEP
		return [_redact(item, depth + 1) for item in value]
	if isinstance(value, str):
		return redact_url(value)
	return value


def redact_url(text: str) -> str:
	"""``text`` with bot tokens hidden and, if it is a URL, credential parameters out of its query and fragment.

	Other parameters keep their exact spelling (``after=xyz%3D`` stays so).
	"""
	if "/bot" in text:
		text = _BOT_TOKEN.sub("/bot***", text)
	if ("?" not in text and "#" not in text) or not _WHOLE_URL.match(text):
		return text
	head, hash_mark, fragment = text.partition("#")
	path, question_mark, query = head.partition("?")
	query = _without_secrets(query)
	fragment = _without_secrets(fragment)
	return path + (question_mark if query else "") + query + (hash_mark if fragment else "") + fragment


def _without_secrets(query: str) -> str:
	"""The ``&``-separated parameters whose names are not secrets, each kept byte for byte."""
	if "=" not in query:
		return query
	kept = [pair for pair in query.split("&") if not is_secret_name(unquote(pair.partition("=")[0]))]
	return "&".join(kept)
