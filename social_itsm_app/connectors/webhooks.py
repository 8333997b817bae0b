"""Pushed deliveries: is this request really from the network (or the tool) we gave the secret to?

Pure Python (no frappe): the one guest endpoint calls these with the raw body bytes and the request
headers, BEFORE it parses anything, and turns :class:`WebhookRefused` into its HTTP status.

Three schemes:

* **Meta** (Facebook Pages, Instagram, WhatsApp Cloud API): ``X-Hub-Signature-256: sha256=<hex>`` is
  HMAC-SHA256(app secret, raw body); the subscription handshake is a GET with ``hub.mode=subscribe``,
  ``hub.verify_token`` and ``hub.challenge`` (echo the challenge when the token is ours):
  https://developers.facebook.com/docs/graph-api/webhooks/getting-started
* **Telegram**: ``X-Telegram-Bot-Api-Secret-Token`` carries the ``secret_token`` given to ``setWebhook``:
  https://core.telegram.org/bots/api#setwebhook
* **Generic signed webhook** (any tool: a status page, a chat bot, a script), see :data:`GENERIC_FORMAT`:
  ``X-Social-ITSM-Timestamp: <unix seconds>``, ``X-Social-ITSM-Signature: v1=<hex>`` where the hex is
  HMAC-SHA256(secret, ``f"{timestamp}.{raw body}"``), and ``X-Social-ITSM-Delivery: <unique id>``. The
  timestamp must be within :data:`REPLAY_WINDOW` of our clock (either way), and a delivery is accepted once.

Rules kept everywhere: secrets and bodies are compared as bytes with :func:`hmac.compare_digest`; a body
over the cap is refused (413) before any hashing; a refusal's reason names the header or rule that failed,
never a secret, a signature or the body, so it can be logged and returned as it is.

Statuses: 400 malformed request (a header in the wrong form, a bad handshake), 401 a signature or secret
header missing, 403 present but wrong (or a timestamp outside the window), 409 a replayed delivery, 413
the body is too big.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from secrets import token_urlsafe
from typing import Any

from social_itsm_app.connectors.base import KINDS, SocialPost, parse_datetime
from social_itsm_app.connectors.errors import ConnectorError
from social_itsm_app.connectors.safe_values import safe_url, truncate
from social_itsm_app.connectors.text import clean_text

# Meta batches up to 1000 changes per delivery, each a few hundred bytes; Telegram updates are far smaller.
MAX_BODY_BYTES = 1024 * 1024
REPLAY_WINDOW = 300  # seconds, both directions
# How long the caller must remember delivery keys: a timestamp is acceptable for 2 x the window.
REPLAY_MEMORY = 2 * REPLAY_WINDOW + 60

META_SIGNATURE_HEADER = "X-Hub-Signature-256"
TELEGRAM_SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
TIMESTAMP_HEADER = "X-Social-ITSM-Timestamp"
SIGNATURE_HEADER = "X-Social-ITSM-Signature"
DELIVERY_HEADER = "X-Social-ITSM-Delivery"

_HEX_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
_TIMESTAMP = re.compile(r"\d{1,12}")
# What a delivery id and a handshake challenge may hold: they are stored, logged or echoed back.
_TOKEN = re.compile(r"[A-Za-z0-9._:-]{1,128}")
# Telegram allows 1-256 characters of A-Z a-z 0-9 _ - in secret_token.
_TELEGRAM_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")


class WebhookRefused(Exception):
	"""The delivery is refused: answer ``status``; ``reason`` is safe to log and to send back."""

	def __init__(self, status: int, reason: str):
		super().__init__(f"{status}: {reason}")
		self.status = status
		self.reason = reason


class PayloadError(ConnectorError):
	"""An authentic delivery whose JSON has a shape we cannot read (the sender's bug, not an attack)."""

	def __init__(self, message: str):
		super().__init__(message, status=400)


# --- shared checks ------------------------------------------------------------------------------------


def check_content_length(value: str | int | None, limit: int = MAX_BODY_BYTES) -> None:
	"""Refuse by the declared ``Content-Length`` before the body is read (413 over ``limit``)."""
	if value in (None, ""):
		return
	text = str(value).strip()
	if not text.isdigit():
		raise WebhookRefused(400, "Content-Length is not a number")
	if int(text) > limit:
		raise WebhookRefused(413, f"the body is larger than {limit} bytes")


def check_size(body: bytes, limit: int = MAX_BODY_BYTES) -> None:
	"""Refuse a body over ``limit`` bytes (413); every verifier calls this before hashing anything."""
	if not isinstance(body, bytes | bytearray | memoryview):
		raise WebhookRefused(400, "the body must be the raw request bytes")
	if len(body) > limit:
		raise WebhookRefused(413, f"the body is larger than {limit} bytes")


def header(headers: Mapping[str, str], name: str) -> str | None:
	"""A request header, whatever the case its name arrives in (WSGI dicts, werkzeug Headers, plain dicts)."""
	value = headers.get(name)
	if value is None:
		wanted = name.lower()
		value = next((v for k, v in headers.items() if str(k).lower() == wanted), None)
	return None if value is None else str(value).strip()


def _signed(
	body: bytes, headers: Mapping[str, str], secret: str | Iterable[str], name: str, limit: int
) -> tuple[list[str], str]:
	"""Every scheme's first checks, in this order: the body's size (413), that we have a secret (403), that the
	header ``name`` is there (401). Returns our secrets and the header's value."""
	check_size(body, limit)
	secrets = _secrets(secret)
	given = header(headers, name)
	if not given:
		raise WebhookRefused(401, f"{name} is missing")
	return secrets, given


def _same(given: str, expected: str) -> bool:
	"""Constant-time equality of two texts, as UTF-8 bytes (compare_digest refuses non-ASCII str)."""
	return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass"))


def _hmac_hex(secret: str, message: bytes) -> str:
	return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def _secrets(secret: str | Iterable[str]) -> list[str]:
	"""One secret, or several while one is being rotated (the old one still signs in-flight retries)."""
	found = [secret] if isinstance(secret, str) else [s for s in secret if isinstance(s, str)]
	found = [s for s in found if s]
	if not found:
		# Our configuration is incomplete: no sender can be accepted (and none may pass with an empty key).
		raise WebhookRefused(403, "this channel has no webhook secret configured")
	return found


# --- Meta ---------------------------------------------------------------------------------------------


def meta_signature(body: bytes, app_secret: str) -> str:
	"""The ``X-Hub-Signature-256`` value Meta sends for ``body`` (for tests and fake servers)."""
	return "sha256=" + _hmac_hex(app_secret, bytes(body))


def verify_meta(
	body: bytes, headers: Mapping[str, str], app_secret: str | Iterable[str], *, limit: int = MAX_BODY_BYTES
) -> None:
	"""Check ``X-Hub-Signature-256`` over the raw ``body``; raise :class:`WebhookRefused` unless it is Meta's."""
	secrets, given = _signed(body, headers, app_secret, META_SIGNATURE_HEADER, limit)
	scheme, _, digest = given.partition("=")
	if scheme.strip().lower() != "sha256" or not _HEX_SHA256.fullmatch(digest.strip()):
		raise WebhookRefused(401, f"{META_SIGNATURE_HEADER} is not in the form sha256=<64 hex digits>")
	digest = digest.strip().lower()
	if not any(_same(digest, _hmac_hex(secret, bytes(body))) for secret in secrets):
		raise WebhookRefused(403, f"{META_SIGNATURE_HEADER} does not match the body (check the app secret)")


def meta_handshake(params: Mapping[str, Any], verify_token: str) -> str:
	"""Answer Meta's subscription check: return the challenge to echo (as text/plain) when the token is ours.

	Reads ``hub.mode``/``hub.verify_token``/``hub.challenge`` (or ``hub_mode``... where a framework turned
	dots into underscores). The challenge must be a short token, since it is echoed back verbatim.
	"""

	def param(name: str) -> str:
		value = params.get(f"hub.{name}", params.get(f"hub_{name}"))
		return "" if value is None else str(value)

	if param("mode") != "subscribe":
		raise WebhookRefused(400, "hub.mode must be subscribe")
	if not verify_token:
		raise WebhookRefused(403, "this channel has no verify token configured")
	if not _same(param("verify_token"), str(verify_token)):
		raise WebhookRefused(403, "hub.verify_token does not match this channel's verify token")
	challenge = param("challenge")
	if not _TOKEN.fullmatch(challenge):
		raise WebhookRefused(400, "hub.challenge is missing or not a short token")
	return challenge


# --- Telegram -----------------------------------------------------------------------------------------


def verify_telegram(
	body: bytes, headers: Mapping[str, str], secret_token: str | Iterable[str], *, limit: int = MAX_BODY_BYTES
) -> None:
	"""Check ``X-Telegram-Bot-Api-Secret-Token`` against the ``secret_token`` given to ``setWebhook``."""
	secrets, given = _signed(body, headers, secret_token, TELEGRAM_SECRET_HEADER, limit)
	if not _TELEGRAM_SECRET.fullmatch(given) or not any(_same(given, secret) for secret in secrets):
		raise WebhookRefused(403, f"{TELEGRAM_SECRET_HEADER} does not match (call setWebhook again)")


def new_telegram_secret() -> str:
	"""A fresh ``secret_token`` for ``setWebhook`` (64 characters of Telegram's allowed alphabet)."""
	return token_urlsafe(48)


# --- generic signed webhook ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Delivery:
	"""An authentic generic delivery: its id, its signed time, and the keys a replay is recognised by."""

	id: str
	timestamp: int
	# The delivery id AND the signature: a captured request resent under a new (unsigned) delivery id
	# still carries the same signature, so remembering both catches it.
	replay_keys: tuple[str, ...]


def generic_signature(body: bytes, secret: str, timestamp: int | str) -> str:
	"""The ``X-Social-ITSM-Signature`` value for ``body`` sent at ``timestamp`` (unix seconds)."""
	return "v1=" + _hmac_hex(secret, f"{int(timestamp)}.".encode() + bytes(body))


def sign_generic(body: bytes, secret: str, delivery_id: str, timestamp: int | None = None) -> dict[str, str]:
	"""The three headers a sender adds (what the documented curl and Python examples compute)."""
	moment = int(time.time()) if timestamp is None else int(timestamp)
	return {
		TIMESTAMP_HEADER: str(moment),
		SIGNATURE_HEADER: generic_signature(body, secret, moment),
		DELIVERY_HEADER: delivery_id,
	}


def verify_generic(
	body: bytes,
	headers: Mapping[str, str],
	secret: str | Iterable[str],
	*,
	now: float | None = None,
	window: int = REPLAY_WINDOW,
	limit: int = MAX_BODY_BYTES,
) -> Delivery:
	"""Check a generic delivery's signature and timestamp; return it for the replay check (:func:`check_replay`).

	The signature header may list several ``v1=`` values separated by commas (a sender rotating secrets).
	"""
	secrets, signed = _signed(body, headers, secret, SIGNATURE_HEADER, limit)
	stamp = header(headers, TIMESTAMP_HEADER)
	delivery = header(headers, DELIVERY_HEADER)
	if not stamp or not _TIMESTAMP.fullmatch(stamp):
		raise WebhookRefused(400, f"{TIMESTAMP_HEADER} must be the sending time in unix seconds")
	if not delivery or not _TOKEN.fullmatch(delivery):
		raise WebhookRefused(400, f"{DELIVERY_HEADER} must be a unique id of 1-128 letters, digits or ._:-")
	digests = []
	for part in signed.split(","):
		version, _, digest = part.strip().partition("=")
		if version == "v1" and _HEX_SHA256.fullmatch(digest):
			digests.append(digest.lower())
	if not digests:
		raise WebhookRefused(401, f"{SIGNATURE_HEADER} holds no value in the form v1=<64 hex digits>")
	message = f"{stamp}.".encode() + bytes(body)
	expected = [_hmac_hex(key, message) for key in secrets]
	matched = next((d for d in digests if any(_same(d, e) for e in expected)), None)
	if matched is None:
		raise WebhookRefused(403, f"{SIGNATURE_HEADER} does not match the timestamp and body (check the secret)")
	skew = int(stamp) - int(time.time() if now is None else now)
	if abs(skew) > window:
		when = "old" if skew < 0 else "far in the future"
		raise WebhookRefused(403, f"{TIMESTAMP_HEADER} is too {when} (more than {window} s from our clock)")
	return Delivery(delivery, int(stamp), (f"delivery:{delivery}", f"signature:{matched}"))


def check_replay(delivery: Delivery, seen: Callable[[str], bool]) -> None:
	"""Refuse (409) a delivery met before. ``seen(key)`` answers whether ``key`` was seen AND remembers it.

	The caller's ``seen`` must be an atomic test-and-set kept at least :data:`REPLAY_MEMORY` seconds (a cache
	``SET key NX EX``, namespaced per channel). Every key is offered, so all of them are remembered.
	"""
	replayed = [key for key in delivery.replay_keys if seen(key)]
	if replayed:
		raise WebhookRefused(409, "this delivery was already received (same delivery id or signature)")


# --- the generic payload ------------------------------------------------------------------------------

GENERIC_NETWORK = "webhook"
MAX_POSTS = 100
MAX_ID = 255  # Social Post external_id, thread_id and in_reply_to_id columns
MAX_POST_TEXT = 20_000
MAX_NAME = 140
MAX_FUTURE = timedelta(minutes=5)

GENERIC_FORMAT = """\
POST the JSON below to the channel's webhook URL with Content-Type: application/json and three headers:

    X-Social-ITSM-Timestamp: <unix seconds now>
    X-Social-ITSM-Delivery:  <a unique id per delivery, 1-128 of A-Z a-z 0-9 . _ : ->
    X-Social-ITSM-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>

{"posts": [{
    "id": "status-4711",                     (required, text or integer, unique per channel, <= 255)
    "text": "Checkout fails with error 502",  (required, plain text; markup is stripped)
    "author": {"id": "statuspage",            (required)
               "handle": "statuspage",        (optional)
               "name": "Status page"},        (optional)
    "created_at": "2026-12-03T18:00:00Z",     (optional, ISO-8601 or unix seconds; default: now)
    "url": "https://status.example.com/4711", (optional, http(s) only)
    "thread_id": "incident-12",               (optional: posts sharing it belong together)
    "in_reply_to_id": "status-4710",          (optional)
    "kind": "mention"                         (optional: mention, direct, search, comment or feed)
}]}

At most 100 posts per delivery; unknown keys are ignored. Resend a failed delivery with the same
delivery id: an answer of 409 means it had already arrived.
"""


def parse_generic(payload: Any, now: datetime | None = None) -> list[SocialPost]:
	"""The posts of a generic delivery (see :data:`GENERIC_FORMAT`); :class:`PayloadError` says what is wrong."""
	now = now or datetime.now(timezone.utc)
	if not isinstance(payload, dict) or not isinstance(payload.get("posts"), list):
		raise PayloadError('webhook: the body must be a JSON object with a "posts" list')
	items = payload["posts"]
	if len(items) > MAX_POSTS:
		raise PayloadError(f"webhook: at most {MAX_POSTS} posts per delivery ({len(items)} sent)")
	return [_generic_post(item, f"posts[{index}]", now) for index, item in enumerate(items)]


def _generic_post(item: Any, where: str, now: datetime) -> SocialPost:
	if not isinstance(item, dict):
		raise PayloadError(f"webhook: {where} must be an object")
	author = item.get("author")
	if not isinstance(author, dict):
		raise PayloadError(f"webhook: {where}.author must be an object with an id")
	text = clean_text(_text(item.get("text"), f"{where}.text", MAX_POST_TEXT * 5))
	if not text:
		raise PayloadError(f"webhook: {where}.text is empty")
	kind = _text(item.get("kind"), f"{where}.kind", 16, required=False) or "mention"
	if kind not in KINDS:
		raise PayloadError(f"webhook: {where}.kind must be one of {', '.join(KINDS)}")
	name = clean_text(_text(author.get("name"), f"{where}.author.name", 1000, required=False))
	handle = clean_text(_text(author.get("handle"), f"{where}.author.handle", 1000, required=False))
	return SocialPost(
		network=GENERIC_NETWORK,
		external_id=_identifier(item.get("id"), f"{where}.id"),
		text=truncate(text, MAX_POST_TEXT),
		author_id=_identifier(author.get("id"), f"{where}.author.id"),
		author_handle=truncate(handle, MAX_NAME),
		author_name=truncate(name or handle, MAX_NAME),
		created_at=_created(item.get("created_at"), f"{where}.created_at", now),
		url=safe_url(_text(item.get("url"), f"{where}.url", 2000, required=False)),
		kind=kind,
		thread_id=_identifier(item.get("thread_id"), f"{where}.thread_id", required=False),
		in_reply_to_id=_identifier(item.get("in_reply_to_id"), f"{where}.in_reply_to_id", required=False),
		raw=item,
	)


def _text(value: Any, where: str, limit: int, required: bool = True) -> str:
	if value is None and not required:
		return ""
	if not isinstance(value, str):
		raise PayloadError(f"webhook: {where} must be text")
	if len(value) > limit:
		raise PayloadError(f"webhook: {where} is longer than {limit} characters")
	return value


def _identifier(value: Any, where: str, required: bool = True) -> str | None:
	"""An id: text or an integer (not a boolean), at most MAX_ID characters once cleaned."""
	if value is None and not required:
		return None
	if isinstance(value, int) and not isinstance(value, bool):
		value = str(value)
	if not isinstance(value, str):
		raise PayloadError(f"webhook: {where} must be text or an integer")
	text = clean_text(value)
	if len(text) > MAX_ID:
		raise PayloadError(f"webhook: {where} is longer than {MAX_ID} characters")
	if not text:
		if required:
			raise PayloadError(f"webhook: {where} is empty")
		return None
	return text


def _created(value: Any, where: str, now: datetime) -> datetime:
	"""The post's time; a time in the future (clock skew, or a sender pushing itself up the list) becomes now."""
	if value is None:
		return now
	if isinstance(value, bool) or not isinstance(value, str | int | float):
		raise PayloadError(f"webhook: {where} must be ISO-8601 text or unix seconds")
	try:
		moment = parse_datetime(value if not isinstance(value, str) else value[:64])
	except (ValueError, OverflowError, OSError):
		raise PayloadError(f"webhook: {where} is not a valid time") from None
	return now if moment > now + MAX_FUTURE else moment


__all__ = [
	"DELIVERY_HEADER",
	"GENERIC_FORMAT",
	"GENERIC_NETWORK",
	"MAX_BODY_BYTES",
	"META_SIGNATURE_HEADER",
	"REPLAY_MEMORY",
	"REPLAY_WINDOW",
	"SIGNATURE_HEADER",
	"TELEGRAM_SECRET_HEADER",
	"TIMESTAMP_HEADER",
	"Delivery",
	"PayloadError",
	"WebhookRefused",
	"check_content_length",
	"check_replay",
	"check_size",
	"generic_signature",
	"header",
	"meta_handshake",
	"meta_signature",
	"new_telegram_secret",
	"parse_generic",
	"sign_generic",
	"verify_generic",
	"verify_meta",
	"verify_telegram",
]
