"""WhatsApp Business (Cloud API): messages arrive by webhook only; replies go out as free text inside the
24-hour customer-service window and as an approved template outside it.

* Webhook deliveries (``object: whatsapp_business_account``, ``entry[].changes[]`` with ``field: messages``):
  ``value.messages[]`` (what customers write), ``value.contacts[]`` (their profile name and wa_id) and
  ``value.statuses[]`` (sent / delivered / read / failed for what we sent).
  https://developers.facebook.com/docs/whatsapp/cloud-api/webhooks/payload-examples
* ``POST /{phone-number-id}/messages`` (text or template)
  https://developers.facebook.com/docs/whatsapp/cloud-api/reference/messages
* ``GET /{phone-number-id}`` (credentials check)
  https://developers.facebook.com/docs/whatsapp/cloud-api/reference/phone-numbers

Every customer message becomes a ``direct`` post; the thread is the conversation of one customer (wa_id) with
one business number. A customer's wa_id is their phone number: personal data, carried only in ``author_id``,
the thread and ``reply_ref`` (never in the text, the url or the handle).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import requests

from social_itsm_app.connectors.base import AccountInfo, SentReply, SocialPost, _guarded, parse_datetime
from social_itsm_app.connectors.errors import ConnectorError
from social_itsm_app.connectors.meta import (
	WHATSAPP_RATE_CODES,
	MetaPushConnector,
	changes,
	entries,
	epoch,
	listed,
	required,
)
from social_itsm_app.connectors.safe_values import truncate
from social_itsm_app.connectors.text import clean_text
from social_itsm_app.connectors.webhooks import PayloadError

NETWORK = "whatsapp"
OBJECT = "whatsapp_business_account"
# Free-form messages are allowed until 24 h after the customer's last message.
SERVICE_WINDOW = timedelta(hours=24)
# A reply queued at 23:59:50 reaches Meta after the window closed: stop a little early.
WINDOW_MARGIN = timedelta(minutes=2)
TEXT_LIMIT = 4096
OUTSIDE_WINDOW_CODE = 131047  # "Re-engagement message": more than 24 h since the customer wrote
WINDOW_HINT = (
	"whatsapp: the customer last wrote more than 24 hours ago, and WhatsApp only delivers free text within "
	"24 hours of the customer's last message. Send an approved message template instead (the customer's answer "
	"reopens the window), or wait for them to write again."
)
MEDIA_TYPES = ("image", "video", "audio", "document", "sticker")
_TEMPLATE_NAME = re.compile(r"[a-z0-9_]{1,512}")
_LANGUAGE = re.compile(r"[a-z]{2,3}(_[A-Za-z]{2,4})?")
MAX_TEMPLATE_PARAMETER = 1024


@dataclass(frozen=True, slots=True)
class StatusEvent:
	"""What WhatsApp says happened to a message we sent (``SentReply.external_id`` is ``message_id``)."""

	message_id: str
	status: str  # sent, delivered, read, failed (or a newer value, passed on as it comes)
	timestamp: datetime
	recipient_id: str
	phone_number_id: str
	error_code: int | None = None
	error: str | None = None  # "131047 Re-engagement message: ..." for a failed message


@dataclass(slots=True)
class WhatsAppEvents:
	posts: list[SocialPost]
	statuses: list[StatusEvent]


@dataclass(frozen=True, slots=True)
class Template:
	"""An approved message template chosen by the agent: its name, language code and body parameters."""

	name: str
	language: str
	parameters: Sequence[str] = ()


class OutsideServiceWindow(ConnectorError):
	"""Free text is refused: more than 24 h since the customer's last message. A template may still go out."""

	def __init__(self, message: str = WINDOW_HINT, *, status: int | None = None):
		super().__init__(message, status=status)


# --- parsing ------------------------------------------------------------------------------------------------


def parse_webhook(payload: Any) -> WhatsAppEvents:
	"""Customer messages (as posts, oldest first) and delivery statuses of one webhook delivery.

	Changes of other fields (template reviews, account updates) and events we do not know are skipped; a
	delivery whose known parts have the wrong shape raises :class:`PayloadError`.
	"""
	posts: list[SocialPost] = []
	statuses: list[StatusEvent] = []
	for entry in entries(payload, NETWORK, OBJECT):
		for field_name, value in changes(entry, NETWORK):
			if field_name != "messages":
				continue
			messages = listed(value, "messages", NETWORK)
			reports = listed(value, "statuses", NETWORK)
			if not messages and not reports:
				continue
			metadata = value.get("metadata")
			if not isinstance(metadata, dict):
				raise PayloadError("whatsapp: a messages change has no metadata")
			number = required(metadata, "phone_number_id", NETWORK, "metadata")
			names = _profile_names(listed(value, "contacts", NETWORK))
			for message in messages:
				post = _message_post(message, number, names)
				if post is not None:
					posts.append(post)
			statuses += [_status(report, number) for report in reports]
	posts.sort(key=lambda post: post.created_at)
	return WhatsAppEvents(posts, statuses)


def parse_payload(payload: Any) -> list[SocialPost]:
	"""The customer messages of one webhook delivery (what the store needs; statuses via parse_webhook)."""
	return parse_webhook(payload).posts


def _profile_names(contacts: list[dict[str, Any]]) -> dict[str, str]:
	names = {}
	for contact in contacts:
		profile = contact.get("profile") if isinstance(contact.get("profile"), dict) else {}
		if contact.get("wa_id") and isinstance(profile.get("name"), str):
			names[str(contact["wa_id"])] = truncate(clean_text(profile["name"]), 140)
	return names


def _message_post(message: dict[str, Any], number: str, names: dict[str, str]) -> SocialPost | None:
	message_id = required(message, "id", NETWORK, "a message")
	wa_id = required(message, "from", NETWORK, f"message {message_id[:80]}")
	kind = str(message.get("type") or "")
	text, replied_to = message_text(message)
	if text is None:
		return None  # a removed reaction, a system notice
	context = message.get("context") if isinstance(message.get("context"), dict) else {}
	replied_to = replied_to or (str(context["id"]) if context.get("id") else None)
	return SocialPost(
		network=NETWORK,
		external_id=message_id,
		text=text,
		author_id=wa_id,
		author_handle="",  # the only handle WhatsApp has is the phone number: kept once, in author_id
		author_name=names.get(wa_id, ""),
		created_at=epoch(message.get("timestamp"), NETWORK, f"message {message_id[:80]}"),
		url="",  # WhatsApp messages have no shareable link
		kind="direct",
		thread_id=f"{number}:{wa_id}",
		in_reply_to_id=replied_to,
		raw={**message, "type": kind},
		reply_ref={"phone_number_id": number, "wa_id": wa_id, "message_id": message_id},
	)


def message_text(message: dict[str, Any]) -> tuple[str | None, str | None]:
	"""The text an agent reads for one message, and the id it reacts to (reactions); None text = skip it."""
	kind = str(message.get("type") or "")
	body = message.get(kind) if kind else None
	body = {} if body is None else body
	if not isinstance(body, dict):
		raise PayloadError(f"whatsapp: a {kind[:40]} message must carry a {kind[:40]} object")
	if kind == "text":
		return clean_text(str(body.get("body") or "")) or "[empty message]", None
	if kind in MEDIA_TYPES:
		return _media_text(kind, body), None
	if kind == "location":
		return _location_text(body), None
	if kind == "interactive":
		return _interactive_text(body), None
	if kind == "button":
		return f"[button: {clean_text(str(body.get('text') or body.get('payload') or ''))}]", None
	if kind == "reaction":
		emoji = clean_text(str(body.get("emoji") or ""))
		target = str(body.get("message_id") or "") or None
		return (f"[reaction {emoji}]" if emoji else None), target
	if kind == "contacts":
		return "[shared contact card]", None
	if kind == "order":
		return "[product order]", None
	if kind == "system":
		return None, None  # "customer changed their number" and the like: nothing to answer
	if kind in ("unsupported", "unknown", ""):
		return "[a message type WhatsApp does not pass on to the API (for example a poll or a view-once photo)]", None
	return f"[{clean_text(kind)[:40]} message]", None


def _media_text(kind: str, media: dict[str, Any]) -> str:
	"""The caption plus a note of the attachment (its media id fetches it: GET /{media-id})."""
	label = "voice message" if kind == "audio" and media.get("voice") else kind
	filename = clean_text(str(media.get("filename") or ""))[:200]
	if filename:
		label += f' "{filename}"'
	media_id = clean_text(str(media.get("id") or ""))[:100]
	note = f"[{label} attached, media id {media_id}]" if media_id else f"[{label} attached]"
	caption = clean_text(str(media.get("caption") or ""))
	return f"{caption}\n{note}" if caption else note


def _location_text(location: dict[str, Any]) -> str:
	parts = [clean_text(str(location.get(key) or "")) for key in ("name", "address")]
	place = ", ".join(part for part in parts if part)
	try:
		where = f"{float(location['latitude']):.6f}, {float(location['longitude']):.6f}"
	except (KeyError, TypeError, ValueError):
		where = ""
	shown = " - ".join(part for part in (place, where) if part)
	return f"[location: {shown}]" if shown else "[location]"


def _interactive_text(interactive: dict[str, Any]) -> str:
	kind = str(interactive.get("type") or "")
	reply = interactive.get(kind) if isinstance(interactive.get(kind), dict) else {}
	title = clean_text(str(reply.get("title") or ""))
	description = clean_text(str(reply.get("description") or ""))
	if kind == "button_reply":
		return f"[button: {title}]"
	if kind == "list_reply":
		return f"[list choice: {title}{' - ' + description if description else ''}]"
	return "[form reply]" if kind == "nfm_reply" else "[interactive reply]"


def _status(report: dict[str, Any], number: str) -> StatusEvent:
	message_id = required(report, "id", NETWORK, "a status")
	code, error = None, None
	errors = report.get("errors")
	if isinstance(errors, list) and errors and isinstance(errors[0], dict):
		first = errors[0]
		details = first.get("error_data", {}).get("details") if isinstance(first.get("error_data"), dict) else None
		try:
			code = int(first.get("code"))
		except (TypeError, ValueError):
			code = None
		text = " ".join(str(part) for part in (first.get("code"), first.get("title") or first.get("message")) if part)
		error = truncate(clean_text(f"{text}: {details}" if details else text), 500) or None
	return StatusEvent(
		message_id=message_id,
		status=truncate(clean_text(str(report.get("status") or "")), 40),
		timestamp=epoch(report.get("timestamp"), NETWORK, f"status of {message_id[:80]}"),
		recipient_id=str(report.get("recipient_id") or ""),
		phone_number_id=number,
		error_code=code,
		error=error,
	)


# --- the 24-hour window ------------------------------------------------------------------------------------


def within_service_window(
	last_customer_message_at: datetime | str | int | float | None, now: datetime | None = None
) -> bool:
	"""Whether free text may still go out: the customer wrote less than 24 h ago (minus a small margin)."""
	if last_customer_message_at in (None, ""):
		return False
	try:
		last = parse_datetime(last_customer_message_at)
	except (TypeError, ValueError, OverflowError, OSError):
		return False
	now = now or datetime.now(timezone.utc)
	return now - last < SERVICE_WINDOW - WINDOW_MARGIN


# --- the connector -------------------------------------------------------------------------------------------


class WhatsAppConnector(MetaPushConnector):
	"""Replies through the Cloud API. Config: ``phone_number_id``, ``access_token`` (a system user token),
	optional ``app_secret`` (webhook signatures, appsecret_proof), ``verify_token`` (the webhook handshake),
	``base_url``."""

	network = NETWORK
	required_keys = ("phone_number_id", "access_token")
	secret_keys = ("access_token", "app_secret", "verify_token")
	public_limit = TEXT_LIMIT
	private_limit = TEXT_LIMIT  # every WhatsApp message is private
	measure = "utf16"  # never over, whichever way Meta counts
	extra_rate_codes = WHATSAPP_RATE_CODES
	publish_note = (
		"whatsapp: WhatsApp has no public posts; a status update reaches WhatsApp customers only as answers in "
		"their own conversations"
	)

	def __init__(self, config, session: requests.Session | None = None):
		super().__init__(config, session)
		self.phone_number_id = str(self.config["phone_number_id"])

	def special_error(self, code: int, message: str, status: int) -> ConnectorError | None:
		if code == OUTSIDE_WINDOW_CODE:
			return OutsideServiceWindow(f"{WINDOW_HINT} ({message})", status=status)
		return None

	def verify_credentials(self) -> AccountInfo:
		"""``GET /{phone-number-id}``: the business number and its verified name."""
		data = self._call(
			"GET", f"/{self.phone_number_id}", params={"fields": "id,display_phone_number,verified_name"}
		)
		number = str(data.get("display_phone_number") or data["id"])
		return AccountInfo(str(data["id"]), number, str(data.get("verified_name") or ""), "")

	def _send_part(
		self, text: str, post: SocialPost, previous: SentReply | None, private: bool, idempotency_key: str | None
	) -> SentReply:
		"""A free-text message, inside the window only; the first part quotes the customer's message."""
		ref = post.reply_ref
		last = ref.get("last_customer_message_at") or post.created_at
		if not within_service_window(last):
			raise OutsideServiceWindow()
		body: dict[str, Any] = {**self._recipient(post), "type": "text", "text": {"preview_url": False, "body": text}}
		if previous is None and ref.get("message_id"):
			body["context"] = {"message_id": str(ref["message_id"])}
		return self._send(body)

	@_guarded
	def send_template(self, in_reply_to: SocialPost, template: Template) -> SentReply:
		"""Send an approved template (allowed outside the 24-hour window); its body parameters in order."""
		if not _TEMPLATE_NAME.fullmatch(template.name or ""):
			raise ConnectorError("whatsapp: a template name is lower-case letters, digits and underscores")
		if not _LANGUAGE.fullmatch(template.language or ""):
			raise ConnectorError("whatsapp: a template language is a code such as en or en_US")
		parameters = [str(value).strip() for value in template.parameters]
		if any(not value or len(value) > MAX_TEMPLATE_PARAMETER for value in parameters):
			raise ConnectorError(f"whatsapp: template parameters must be 1-{MAX_TEMPLATE_PARAMETER} characters")
		content: dict[str, Any] = {"name": template.name, "language": {"code": template.language}}
		if parameters:
			content["components"] = [
				{"type": "body", "parameters": [{"type": "text", "text": value} for value in parameters]}
			]
		return self._send({**self._recipient(in_reply_to), "type": "template", "template": content})

	def _recipient(self, post: SocialPost) -> dict[str, Any]:
		ref = post.reply_ref
		number = str(ref.get("phone_number_id") or self.phone_number_id)
		if number != self.phone_number_id:
			raise ConnectorError("whatsapp: this conversation belongs to another business number than this channel's")
		wa_id = str(ref.get("wa_id") or post.author_id or "")
		if not wa_id:
			raise ConnectorError("whatsapp: this post carries no customer number (reply_ref has no wa_id)")
		return {"messaging_product": "whatsapp", "recipient_type": "individual", "to": wa_id}

	def _send(self, body: dict[str, Any]) -> SentReply:
		"""``POST /{phone-number-id}/messages``; the answer is ``{"messages": [{"id": "wamid..."}]}``."""
		answer = self._call("POST", f"/{self.phone_number_id}/messages", json=body)
		messages = answer.get("messages")
		if not isinstance(messages, list) or not messages or not isinstance(messages[0], dict) or not messages[0].get("id"):
			raise ConnectorError(f"whatsapp: the send answer has no message id: {str(answer)[:200]}", maybe_delivered=True)
		return SentReply(str(messages[0]["id"]), "")


__all__ = [
	"OutsideServiceWindow",
	"StatusEvent",
	"Template",
	"WhatsAppConnector",
	"WhatsAppEvents",
	"message_text",
	"parse_payload",
	"parse_webhook",
	"within_service_window",
]
