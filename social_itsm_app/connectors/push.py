"""The webhook endpoint's one door into the connectors: per network, which check a delivery must pass and
which parser reads it. Pure Python (no frappe); the endpoint passes the channel's decrypted config.

    delivery = verify_delivery(network, body, headers, config)   # WebhookRefused -> its HTTP status
    if delivery:                                                  # the generic webhook: refuse replays
        check_replay(delivery, seen)
    pushed = parse_delivery(network, body, config)                # PayloadError -> 400 (or log, see below)

Config keys read here: ``app_secret`` and ``verify_token`` (Meta: Facebook, Instagram, WhatsApp),
``webhook_secret`` (Telegram's ``secret_token``, and the generic webhook's signing secret), ``bot_username``,
and the account a Meta channel is: ``page_id``, ``ig_user_id``, ``phone_number_id`` (see ``other_accounts``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from social_itsm_app.connectors import facebook_push, instagram, whatsapp
from social_itsm_app.connectors.base import SocialPost
from social_itsm_app.connectors.telegram import parse_updates
from social_itsm_app.connectors.webhooks import (
	MAX_BODY_BYTES,
	Delivery,
	PayloadError,
	WebhookRefused,
	check_size,
	meta_handshake,
	parse_generic,
	verify_generic,
	verify_meta,
	verify_telegram,
)
from social_itsm_app.connectors.whatsapp import StatusEvent

# network key -> how its deliveries are signed
PUSH_SCHEMES: dict[str, str] = {
	"facebook": "meta",
	"instagram": "meta",
	"whatsapp": "meta",
	"telegram": "telegram",
	"webhook": "generic",
}


@dataclass(slots=True)
class Pushed:
	"""What one delivery holds: posts for the store, and (WhatsApp) statuses of messages we sent."""

	posts: list[SocialPost]
	statuses: list[StatusEvent] = field(default_factory=list)
	# Accounts (page, Instagram account, WhatsApp number) the delivery also spoke of, left out here: Meta sends
	# every account of one app to the app's one callback URL, so the endpoint routes these to their channels.
	other_accounts: set[str] = field(default_factory=set)


def pushes(network: str) -> bool:
	return network in PUSH_SCHEMES


def _scheme(network: str) -> str:
	scheme = PUSH_SCHEMES.get(network)
	if scheme is None:
		raise WebhookRefused(404, "this channel's network does not push deliveries")
	return scheme


def verify_delivery(
	network: str,
	body: bytes,
	headers: Mapping[str, str],
	config: Mapping[str, Any],
	*,
	now: float | None = None,
	limit: int = MAX_BODY_BYTES,
) -> Delivery | None:
	"""Check the delivery's signature or secret over the raw body; the generic webhook's Delivery, else None."""
	scheme = _scheme(network)
	check_size(body, limit)
	if scheme == "meta":
		verify_meta(body, headers, str(config.get("app_secret") or ""), limit=limit)
		return None
	if scheme == "telegram":
		verify_telegram(body, headers, str(config.get("webhook_secret") or ""), limit=limit)
		return None
	return verify_generic(body, headers, str(config.get("webhook_secret") or ""), now=now, limit=limit)


def answer_handshake(network: str, params: Mapping[str, Any], config: Mapping[str, Any]) -> str:
	"""The challenge to echo for Meta's subscription check (GET); other networks have no handshake (405)."""
	if _scheme(network) != "meta":
		raise WebhookRefused(405, "this channel takes deliveries by POST only")
	return meta_handshake(params, str(config.get("verify_token") or ""))


def parse_delivery(network: str, body: bytes, config: Mapping[str, Any], now: datetime | None = None) -> Pushed:
	"""The posts (and statuses) of a verified delivery. :class:`PayloadError` when it cannot be read.

	Unknown events are skipped, never an error; a delivery in a wrong shape is one (it names the part).
	"""
	_scheme(network)
	try:
		payload = json.loads(bytes(body))
	except (ValueError, RecursionError):
		raise PayloadError(f"{network}: the body is not JSON") from None
	reader = _READERS[network]
	try:
		return reader(payload, config, now)
	except PayloadError:
		raise
	except (KeyError, TypeError, ValueError, AttributeError, IndexError, RecursionError, OverflowError) as exc:
		# The parsers check the shapes they rely on; anything they missed still leaves as a clear error.
		raise PayloadError(f"{network}: unexpected delivery shape ({type(exc).__name__})") from None


def _telegram(payload: Any, config: Mapping[str, Any], now: datetime | None) -> Pushed:
	if not isinstance(payload, dict) or isinstance(payload.get("update_id"), bool) or not isinstance(payload.get("update_id"), int):
		raise PayloadError("telegram: a webhook delivery is one Update object with an integer update_id")
	return Pushed(parse_updates([payload], str(config.get("bot_username") or "").lstrip("@") or None))


def _whatsapp(payload: Any, config: Mapping[str, Any], now: datetime | None) -> Pushed:
	events = whatsapp.parse_webhook(payload)
	number = str(config.get("phone_number_id") or "")
	if not number:
		return Pushed(events.posts, events.statuses)
	seen = {post.reply_ref["phone_number_id"] for post in events.posts}
	seen |= {status.phone_number_id for status in events.statuses}
	return Pushed(
		[post for post in events.posts if post.reply_ref["phone_number_id"] == number],
		[status for status in events.statuses if status.phone_number_id == number],
		seen - {number},
	)


def _by_entry(parse: Callable[[Any], list[SocialPost]], account_key: str):
	"""A Meta reader that keeps the entries of the channel's own account (entry.id) and names the others."""

	def read(payload: Any, config: Mapping[str, Any], now: datetime | None) -> Pushed:
		account = str(config.get(account_key) or "")
		posts = parse(payload)  # checks the shape of the whole delivery first
		if not account:
			return Pushed(posts)
		ids = {str(entry.get("id")) for entry in payload["entry"]}
		kept = {**payload, "entry": [entry for entry in payload["entry"] if str(entry.get("id")) == account]}
		return Pushed(parse(kept) if ids - {account} else posts, other_accounts=ids - {account})

	return read


_READERS: dict[str, Callable[[Any, Mapping[str, Any], datetime | None], Pushed]] = {
	"facebook": _by_entry(facebook_push.parse_payload, "page_id"),
	"instagram": _by_entry(instagram.parse_payload, "ig_user_id"),
	"whatsapp": _whatsapp,
	"telegram": _telegram,
	"webhook": lambda payload, config, now: Pushed(parse_generic(payload, now)),
}


__all__ = ["PUSH_SCHEMES", "Pushed", "answer_handshake", "parse_delivery", "pushes", "verify_delivery"]
