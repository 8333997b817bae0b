"""The app's one guest entry point: networks and tools push deliveries to a channel's webhook URL.

    POST /api/method/social_itsm_app.api.webhook.receive?channel=<the channel's webhook key>
    GET  the same URL: Meta's subscription handshake (hub.mode, hub.verify_token, hub.challenge)

Order of checks, each refusal answered with its status and logged with its reason, never the body: an unknown
channel (404), the declared size (413), the channel's rate (429), the network's signature or secret over the raw
body (401/403, connectors.push), the shape (400 for the generic webhook; Meta and Telegram get 200 and a log,
since they would resend a delivery we can never read), a replayed generic delivery (409). An accepted delivery
is queued for ingest.push.store_pushed (the polling path's store) and answered at once.

Meta sends every page, Instagram account and WhatsApp number of one app to the app's one callback URL: the
deliveries' other accounts go to the channels that have them (same network, same account id, same app secret).

Limit: Frappe reads (and, as JSON, parses) a request body up to the site's max_file_size before any app code
runs; the size check here refuses what the sender declared over 1 MiB before the signature is computed.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import frappe
from frappe import _
from frappe.utils import get_url
from frappe.utils.password import get_decrypted_password
from werkzeug.wrappers import Response

from social_itsm_app.channels.config import is_push, push_config, push_key
from social_itsm_app.channels.runtime import build_connector
from social_itsm_app.connectors import ConnectorError, SocialPost
from social_itsm_app.connectors.base import config_flag
from social_itsm_app.connectors.push import Pushed, answer_handshake, parse_delivery, verify_delivery
from social_itsm_app.connectors.webhooks import (
	REPLAY_MEMORY,
	PayloadError,
	WebhookRefused,
	check_content_length,
	check_replay,
	new_telegram_secret,
)
from social_itsm_app.queues import FETCH, queue_for
from social_itsm_app.utils import logger, short_error

RECEIVE = "social_itsm_app.api.webhook.receive"
STORE_JOB = "social_itsm_app.ingest.push.store_pushed"
# Deliveries per channel per window before 429 (site_config "social_itsm_webhook_rate_limit" overrides).
RATE_LIMIT = 1000
RATE_WINDOW = 10  # seconds
KEY_PATTERN = re.compile(r"[A-Za-z0-9_-]{20,64}")
CHANNEL_FIELDS = [
	"name", "network", "intake_mode", "enabled", "account_id", "account_handle", "webhook_key", "listen_mentions",
	"listen_direct_messages",
]
META = ("whatsapp", "instagram", "facebook")


@dataclass(frozen=True)
class Target:
	"""A channel that takes pushes: its name, network label, push key and the config connectors.push reads."""

	name: str
	label: str
	key: str
	account_id: str
	config: Mapping[str, Any]


@frappe.whitelist(allow_guest=True, methods=["GET", "POST"])
def receive() -> Response:
	"""A pushed delivery for the channel named by ``?channel=`` (read from the URL: the body is the network's)."""
	request = frappe.request
	webhook_key = str(request.args.get("channel") or "").strip()
	target = None
	try:
		target = find_target(webhook_key)
		if request.method == "GET":
			return answer(answer_handshake(target.key, request.args, target.config))
		check_content_length(request.headers.get("Content-Length"))
		limit_rate(target.name)
		body = request.get_data(cache=True)
		headers = request.headers
		delivery = verify_delivery(target.key, body, headers, target.config)
		try:
			pushed = parse_delivery(target.key, body, target.config)
		except PayloadError as exc:
			if target.key == "webhook":
				raise WebhookRefused(400, str(exc)) from None
			# Meta and Telegram resend what is not answered 200, and this delivery would never read better.
			logger().warning({"webhook": target.name, "status": 200, "unreadable": str(exc)[:300]})
			return answer("ok")
		keys = remember(target.name, delivery) if delivery is not None else []
		try:
			enqueue(target, pushed)
		except Exception:
			forget(keys)  # not queued: the sender's retry (same delivery id) must not be refused as a replay
			raise
		route_to_other_channels(target, pushed.other_accounts, body, headers)
	except WebhookRefused as refused:
		logger().warning({
			"webhook": target.name if target else webhook_key[:6], "status": refused.status, "reason": refused.reason,
			"ip": request.remote_addr,
		})
		response = answer(refused.reason, refused.status)
		if refused.status == 429:
			response.headers["Retry-After"] = str(RATE_WINDOW)
		return response
	return answer("ok")


def answer(text: str, status: int = 200) -> Response:
	return Response(text, status=status, mimetype="text/plain")


# --- channels -------------------------------------------------------------------------------------------------


def find_target(webhook_key: str) -> Target:
	"""The enabled push channel with this webhook key, or 404 (unknown, disabled, or polling)."""
	row = frappe.db.get_value("Social Channel", {"webhook_key": webhook_key}, CHANNEL_FIELDS, as_dict=True) \
		if KEY_PATTERN.fullmatch(webhook_key) else None
	target = target_for(row) if row else None
	if target is None:
		raise WebhookRefused(404, "no channel takes deliveries at this URL")
	return target


def target_for(row: Mapping[str, Any]) -> Target | None:
	"""A push channel's Target with its two webhook secrets decrypted (nothing else is read here)."""
	key = push_key(row.get("network"))
	if not row.get("enabled") or key is None or not is_push(row):
		return None
	values = dict(row)
	for fieldname in ("client_secret", "webhook_secret"):
		values[fieldname] = get_decrypted_password("Social Channel", row["name"], fieldname, raise_exception=False)
	return Target(row["name"], row["network"], key, str(row.get("account_id") or ""), push_config(values))


def route_to_other_channels(source: Target, accounts: set[str], body: bytes, headers: Mapping[str, str]) -> None:
	"""Hand the parts of a Meta delivery for other accounts to their channels (same network and app secret)."""
	if not accounts:
		return
	rows = frappe.get_all(
		"Social Channel", filters={"network": source.label, "account_id": ("in", sorted(accounts)), "enabled": 1},
		fields=CHANNEL_FIELDS,
	)
	served = set()
	for row in rows:
		target = target_for(row)
		if target is None or target.name == source.name:
			continue
		try:
			# The same app signs for all its accounts: a channel under another app secret is not this delivery's.
			verify_delivery(target.key, body, headers, target.config)
			pushed = parse_delivery(target.key, body, target.config)
		except (WebhookRefused, PayloadError) as exc:
			logger().warning({"webhook": source.name, "routed_to": target.name, "refused": str(exc)[:300]})
			continue
		enqueue(target, pushed)
		served.add(target.account_id)
	if accounts - served:
		logger().info({"webhook": source.name, "accounts_without_channel": len(accounts - served)})


def enqueue(target: Target, pushed: Pushed) -> None:
	"""Queue the storage of a delivery's posts (as dicts) and statuses; nothing is queued for an empty one."""
	posts = listened(target, pushed.posts)
	if not posts and not pushed.statuses:
		return
	frappe.enqueue(
		STORE_JOB,
		queue=queue_for(FETCH),  # Social ITSM Settings, Background workers: the same queue as polling
		channel=target.name,
		posts=[post.to_dict() for post in posts],
		statuses=[asdict(status) for status in pushed.statuses],
	)


def listened(target: Target, posts: list[SocialPost]) -> list[SocialPost]:
	"""A page's app pushes feed comments and Messenger alike: keep what the channel listens to, as its polling does."""
	if target.key != "facebook":
		return posts
	comments = config_flag(target.config.get("read_comments", True))
	messenger = config_flag(target.config.get("read_messenger", True))
	return [post for post in posts if (messenger if post.kind == "direct" else comments)]


# --- Redis: rate and replays -------------------------------------------------------------------------------------


def limit_rate(channel: str) -> None:
	"""A fixed-window counter per channel (one round trip): a burst over the limit is answered 429."""
	limit = int(frappe.conf.get("social_itsm_webhook_rate_limit") or RATE_LIMIT)
	key = rate_key(channel)
	count, _ = frappe.cache().pipeline(transaction=False).incr(key).expire(key, 2 * RATE_WINDOW).execute()
	if count > limit:
		raise WebhookRefused(429, f"more than {limit} deliveries in {RATE_WINDOW} s for this channel; retry later")


def rate_key(channel: str, now: float | None = None) -> str:
	window = int((time.time() if now is None else now) // RATE_WINDOW)
	return frappe.cache().make_key(f"social_itsm_webhook_rate::{channel}::{window}")


def replay_key(channel: str, key: str) -> str:
	return frappe.cache().make_key(f"social_itsm_webhook_seen::{channel}::{key}")


def remember(channel: str, delivery) -> list[str]:
	"""Refuse a replayed generic delivery (409); remember its keys with one atomic SET NX EX each."""
	cache = frappe.cache()
	stored = []

	def seen(key: str) -> bool:
		name = replay_key(channel, key)
		fresh = cache.set(name, 1, nx=True, ex=REPLAY_MEMORY)
		if fresh:
			stored.append(name)
		return not fresh

	try:
		check_replay(delivery, seen)
	except WebhookRefused:
		forget(stored)  # a replay must not keep a key it brought (a new signature on an old id, say)
		raise
	return stored


def forget(keys: list[str]) -> None:
	if keys:
		frappe.cache().delete(*keys)


# --- the channel form ------------------------------------------------------------------------------------------------


def webhook_url(webhook_key: str) -> str:
	return get_url(f"/api/method/{RECEIVE}?channel={webhook_key}")


@frappe.whitelist(methods=["POST"])
def register_webhook(channel: str) -> dict:
	"""Tell the network where to push: Telegram's setWebhook (with a new secret token); Meta's callback URL is
	set in the app dashboard, so for Meta channels the answer says what to paste where."""
	doc = frappe.get_doc("Social Channel", channel)
	doc.check_permission("write")
	if not is_push(doc.as_dict()):
		frappe.throw(_("Set Intake to Push and save first."))
	url = webhook_url(doc.webhook_key)
	if push_key(doc.network) != "telegram":
		return {"registered": False, "url": url, "network": doc.network}
	secret = doc.get_password("webhook_secret", raise_exception=False) or new_telegram_secret()
	try:
		build_connector(doc).set_webhook(url, secret)
	except ConnectorError as exc:
		return {"registered": False, "error": short_error(exc, 500), "url": url, "network": doc.network}
	if secret != doc.get_password("webhook_secret", raise_exception=False):
		doc.webhook_secret = secret
		doc.save()
	return {"registered": True, "url": url, "network": doc.network}


__all__ = ["RECEIVE", "receive", "register_webhook", "webhook_url"]
