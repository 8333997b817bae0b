"""What the Meta connectors share: Graph calls (:class:`GraphClient`, Facebook Pages too), the Graph error code
tables and ``X-Business-Use-Case-Usage`` reader; for the push-only ones (WhatsApp Cloud API, Instagram) typed Graph
errors, the shape checks of a webhook delivery, and "there is nothing to poll".

Graph errors are typed by code: 190 & co. -> AuthError, the throttling codes -> RateLimited.
https://developers.facebook.com/docs/graph-api/guides/error-handling
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar

import requests

from social_itsm_app.connectors.base import Connector, FetchResult, SocialPost, config_int
from social_itsm_app.connectors.errors import AuthError, ConnectorError, RateLimited
from social_itsm_app.connectors.http import HttpClient
from social_itsm_app.connectors.safe_values import safe_url
from social_itsm_app.connectors.text import clean_text
from social_itsm_app.connectors.webhooks import PayloadError

# What a Messenger or Instagram attachment is shown as (its link follows when it has an http(s) one).
ATTACHMENT_LABELS = {
	"image": "photo",
	"video": "video",
	"audio": "voice message",
	"file": "file",
	"share": "shared post",
	"story_mention": "story mention",
	"ig_reel": "reel",
	"reel": "reel",
	"animated_image": "GIF",
	"ig_post": "shared post",
	"location": "location",
	"template": "card",
	"fallback": "link",
}
RATE_LIMIT_CODES = frozenset({4, 17, 32, 613}) | frozenset(range(80001, 80015))
AUTH_CODES = frozenset({102, 190, 463, 467})
# How long a throttled token rests when the usage headers do not say.
DEFAULT_RATE_WAIT = timedelta(minutes=15)
# WhatsApp's own throttles (pair rate, spam rate, cloud API throughput) on top of the Graph ones.
WHATSAPP_RATE_CODES = frozenset({130429, 131048, 131056})


class GraphClient:
	"""Graph API calls for a connector (mixed in before :class:`Connector`): the token as a Bearer header and, with
	the app secret, ``appsecret_proof`` on every call (https://developers.facebook.com/docs/graph-api/securing-requests/).
	"""

	network: str
	base_url: str
	http: HttpClient

	def _use_token(self, token: str, app_secret: Any) -> None:
		self._token = token
		# appsecret_proof: required when the app has "Require App Secret" on, harmless otherwise.
		secret = str(app_secret) if app_secret else None
		self._proof = hmac.new(secret.encode(), token.encode(), hashlib.sha256).hexdigest() if secret else None
		if self._proof:
			self.http.add_secret(self._proof)

	def _call(self, method: str, path: str, *, params: dict[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
		query = dict(params or {})
		if self._proof:
			query["appsecret_proof"] = self._proof
		headers = {"Authorization": f"Bearer {self._token}"}
		body = self.http.json(self.http.request(method, self.base_url + path, params=query, headers=headers, **kwargs))
		if not isinstance(body, dict):
			raise ConnectorError(f"{self.network}: {method} {path}: expected a JSON object, got {type(body).__name__}")
		if isinstance(body.get("error"), dict):
			raise ConnectorError(f"{self.network}: {method} {path}: {body['error'].get('message')}")
		return body


class MetaPushConnector(GraphClient, Connector):
	"""A Graph API connector whose posts only arrive by webhook: replies and a credentials check, no fetch."""

	base_url_default: ClassVar[str] = "https://graph.facebook.com/v21.0"
	token_key: ClassVar[str] = "access_token"
	# Codes this network adds to the rate-limit table; and its own special cases (see classify_error).
	extra_rate_codes: ClassVar[frozenset[int]] = frozenset()

	def __init__(self, config, session: requests.Session | None = None):
		super().__init__(config, session)
		self.base_url = str(self.config.get("base_url") or self.base_url_default).rstrip("/")
		self._use_token(str(self.config[self.token_key]), self.config.get("app_secret"))

	def _fetch(self, state: dict[str, Any]) -> FetchResult:
		raise ConnectorError(
			f"{self.network}: messages arrive only by webhook (the API has nothing to poll); "
			"switch this channel to push and register its webhook URL with Meta"
		)

	def classify_error(self, response: requests.Response) -> ConnectorError | None:
		if response.status_code >= 500:
			return None  # transient: the HTTP layer retries what may be retried
		error = graph_error(response)
		if error is None:
			return None
		code, subcode = config_int(error.get("code"), 0), config_int(error.get("error_subcode"), 0)
		details = (error.get("error_data") or {}).get("details") if isinstance(error.get("error_data"), dict) else None
		message = f"{self.network}: Graph error {code}/{subcode or '-'}: {error.get('message') or ''}"
		if details:
			message += f" ({str(details)[:200]})"
		status = response.status_code
		special = self.special_error(code, message, status)
		if special is not None:
			return special
		if code in AUTH_CODES:
			return AuthError(message + " (the access token is invalid or expired: connect the account again)", status=status)
		if code in RATE_LIMIT_CODES or code in self.extra_rate_codes:
			reset_at = regain_access_at(response) if code in RATE_LIMIT_CODES else _soon()
			return RateLimited(f"{message} (rate limited until {reset_at.isoformat()})", reset_at=reset_at, status=status)
		if (code == 10 and not subcode) or 200 <= code < 300:
			return AuthError(message + " (a permission is missing on the access token)", status=status)
		return ConnectorError(message, status=status)

	def special_error(self, code: int, message: str, status: int) -> ConnectorError | None:
		"""Hook: a network's own meaning of a Graph code (None = the shared table)."""
		return None


def regain_access_at(response: requests.Response, now: datetime | None = None) -> datetime:
	"""``X-Business-Use-Case-Usage``: {business-id: [{..., "estimated_time_to_regain_access": minutes}]}.

	https://developers.facebook.com/docs/graph-api/overview/rate-limiting/
	"""
	now = now or datetime.now(timezone.utc)
	minutes = 0
	for header in ("X-Business-Use-Case-Usage", "X-Page-Usage", "X-App-Usage"):
		try:
			usage = json.loads(response.headers.get(header) or "null")
		except ValueError:
			continue
		reports = [usage] if isinstance(usage, dict) and "call_count" in usage else []
		if isinstance(usage, dict):
			reports += [e for v in usage.values() if isinstance(v, list) for e in v if isinstance(e, dict)]
		for entry in reports:
			minutes = max(minutes, config_int(entry.get("estimated_time_to_regain_access"), 0))
	return now + (timedelta(minutes=minutes) if minutes else DEFAULT_RATE_WAIT)


def graph_error(response: requests.Response) -> dict[str, Any] | None:
	"""The ``error`` object of a Graph error answer, if it has one."""
	try:
		body = response.json()
	except ValueError:
		return None
	error = body.get("error") if isinstance(body, dict) else None
	return error if isinstance(error, dict) else None


def _soon(minutes: int = 1) -> datetime:
	return datetime.now(timezone.utc) + timedelta(minutes=minutes)


# --- webhook deliveries --------------------------------------------------------------------------------

# A network's reader of one messaging event: (event, account id) -> a post, or None to skip it.
MessageReader = Callable[[dict[str, Any], str], SocialPost | None]
# A network's reader of one change's value: (value, account id, the entry's time) -> a post, or None to skip it.
ChangeReader = Callable[[dict[str, Any], str, Any], SocialPost | None]


def delivery_posts(
	payload: Any, network: str, expected_object: str, message: MessageReader, change: Mapping[str, ChangeReader]
) -> list[SocialPost]:
	"""The posts of one delivery, oldest first: each entry's messaging events read by ``message`` and its changes
	by the reader ``change`` names for their field (other fields ignored); events a reader skips are left out."""
	posts: list[SocialPost | None] = []
	for entry in entries(payload, network, expected_object):
		account = required(entry, "id", network, "an entry")
		posts += [message(event, account) for event in listed(entry, "messaging", network)]
		for field_name, value in changes(entry, network):
			if field_name in change:
				posts.append(change[field_name](value, account, entry.get("time")))
	found = [post for post in posts if post is not None]
	found.sort(key=lambda post: post.created_at)
	return found


# --- webhook shapes -------------------------------------------------------------------------------------


def entries(payload: Any, network: str, expected_object: str) -> list[dict[str, Any]]:
	"""``payload["entry"]`` of a Meta delivery for ``expected_object``; :class:`PayloadError` on any other shape.

	A delivery for another object (a page subscription pointed at the wrong URL) is refused too: its events
	would be misread, not merely ignored.
	"""
	if not isinstance(payload, dict):
		raise PayloadError(f"{network}: the webhook body must be a JSON object")
	if payload.get("object") != expected_object:
		raise PayloadError(f"{network}: expected a delivery for object {expected_object!r}, got {str(payload.get('object'))[:40]!r}")
	found = payload.get("entry")
	if not isinstance(found, list) or not all(isinstance(entry, dict) for entry in found):
		raise PayloadError(f"{network}: the delivery has no list of entry objects")
	return found


def changes(entry: dict[str, Any], network: str) -> Iterator[tuple[str, dict[str, Any]]]:
	"""``(field, value)`` of each change in an entry; also a lone ``field``/``value`` pair on the entry itself
	(how some Instagram examples show a comment)."""
	listed = entry.get("changes")
	if listed is None:
		listed = [entry] if "field" in entry else []
	if not isinstance(listed, list):
		raise PayloadError(f"{network}: entry.changes must be a list")
	for change in listed:
		if not isinstance(change, dict) or not isinstance(change.get("value", {}), dict):
			raise PayloadError(f"{network}: every change must be an object whose value is an object")
		yield str(change.get("field") or ""), change.get("value") or {}


def listed(container: dict[str, Any], key: str, network: str) -> list[dict[str, Any]]:
	"""``container[key]`` as a list of objects (absent = empty); :class:`PayloadError` when it is anything else."""
	value = container.get(key)
	if value is None:
		return []
	if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
		raise PayloadError(f"{network}: {key} must be a list of objects")
	return value


def required(obj: dict[str, Any], key: str, network: str, where: str) -> str:
	"""A required id-like value as text (Meta sends ids as strings, sometimes as numbers)."""
	value = obj.get(key)
	if isinstance(value, bool) or not isinstance(value, str | int) or str(value) == "":
		raise PayloadError(f"{network}: {where} has no {key}")
	return str(value)


def epoch(value: Any, network: str, where: str) -> datetime:
	"""A webhook time: unix seconds (WhatsApp, as text) or milliseconds (Messenger/Instagram ``timestamp``)."""
	try:
		number = float(value)
	except (TypeError, ValueError):
		raise PayloadError(f"{network}: {where} has no valid timestamp") from None
	if number != number or number < 0:
		raise PayloadError(f"{network}: {where} has no valid timestamp")
	if number > 10**11:  # milliseconds: seconds stay below 1e11 until the year 5138
		number /= 1000
	try:
		return datetime.fromtimestamp(number, tz=timezone.utc)
	except (OverflowError, OSError, ValueError):
		raise PayloadError(f"{network}: {where} has no valid timestamp") from None


# --- Messenger-style messaging events (Facebook Messenger and Instagram share them) --------------------------


def incoming_message(event: dict[str, Any], account: str, network: str) -> tuple[str, str, dict[str, Any]] | None:
	"""``(sender id, message id, message)`` of a customer's message event; None for anything else.

	Skipped: events without a message (read receipts, reactions, postbacks, referrals), our own messages
	(``is_echo``: our replies, or a person answering in the network's own inbox) and deleted ones.
	"""
	message = event.get("message")
	if message is None:
		return None
	if not isinstance(message, dict):
		raise PayloadError(f"{network}: messaging[].message must be an object")
	if message.get("is_echo") or message.get("is_deleted"):
		return None
	sender = event.get("sender") if isinstance(event.get("sender"), dict) else {}
	sender_id = required(sender, "id", network, "a message's sender")
	if sender_id == account:
		return None
	return sender_id, required(message, "mid", network, "a message"), message


def messaging_text(message: dict[str, Any], network: str) -> str:
	"""The text, then one line per attachment (its kind and, for http(s) ones, its link)."""
	lines = [clean_text(str(message.get("text") or ""))]
	for attachment in listed(message, "attachments", network):
		kind = str(attachment.get("type") or "")
		payload = attachment.get("payload") if isinstance(attachment.get("payload"), dict) else {}
		link = safe_url(payload.get("url"))
		label = ATTACHMENT_LABELS.get(kind, "attachment")
		lines.append(f"[{label}: {link}]" if link else f"[{label}]")
	if message.get("is_unsupported"):
		lines.append(f"[a message type {network.capitalize()} does not pass on to the API]")
	text = "\n".join(line for line in lines if line)
	return text or "[empty message]"
