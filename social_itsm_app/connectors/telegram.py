"""Telegram Bot API connector: messages to the bot (private chats, groups, channels) in; replies in the chat out.

Endpoints (``https://api.telegram.org/bot<token>/<method>``, reference https://core.telegram.org/bots/api):

* ``getUpdates`` (``offset`` = last ``update_id`` + 1, ``allowed_updates``) https://core.telegram.org/bots/api#getupdates
* ``sendMessage`` (``chat_id``, ``text``, ``reply_parameters``) https://core.telegram.org/bots/api#sendmessage
  (a broadcast goes to config ``broadcast_target``: a channel or group, ``@name`` or ``-100...``, where the bot
  is an admin allowed to post; later parts of a long one reply to the part before)
* ``getMe`` https://core.telegram.org/bots/api#getme

Traps handled: the token is part of every URL, so it is registered as a secret (redacted from every error) and
no exception chain carrying the raw URL leaves this module; ``getUpdates`` answers 409 while a webhook is set
(a clear error tells the admin what to do); ``{"ok": false, "parameters": {"retry_after": N}}`` becomes
RateLimited; 401 (and 404 "Not Found", Telegram's answer to a malformed token) become AuthError, but 403 "bot
was blocked by the user" does not; a group upgraded to a supergroup (``migrate_to_chat_id``) is followed;
text is at most 4096 UTF-16 code units. Calling ``getUpdates`` with a higher ``offset`` deletes the earlier
updates on Telegram's side, so a fetch reads one page by default (``has_more`` says when to call again): a
crash before the caller stored a page can then never lose it.

A public reply goes to the chat the message came from, as a reply to it. A private reply to a message in a
group goes to the author's own chat with the bot (chat id = user id); Telegram only allows that once the user
has started the bot, and its 403 "can't initiate conversation" becomes a clear error. Edited messages arrive as new posts with their own id (``<chat>:<message>:e<edit_date>``).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import requests

from social_itsm_app.connectors.base import (
	AccountInfo,
	Connector,
	FetchResult,
	SentReply,
	SocialPost,
	_guarded,
	config_int,
	encode_cursor,
	parse_datetime,
)
from social_itsm_app.connectors.errors import AuthError, ConnectorError, RateLimited
from social_itsm_app.connectors.text import clean_text, link_text

DEFAULT_BASE_URL = "https://api.telegram.org"
ALLOWED_UPDATES = json.dumps(["message", "edited_message", "channel_post"], separators=(",", ":"))
MESSAGE_KEYS = ("message", "channel_post", "edited_message", "edited_channel_post")
# What a message without text is shown as (a photo without caption is still a customer talking to us).
MEDIA_LABELS = {
	"photo": "[photo]",
	"video": "[video]",
	"animation": "[animation]",
	"document": "[document]",
	"audio": "[audio]",
	"voice": "[voice message]",
	"video_note": "[video message]",
	"sticker": "[sticker]",
	"location": "[location]",
	"contact": "[contact]",
	"poll": "[poll]",
}
WEBHOOK_HINT = (
	"telegram: getUpdates is refused because a webhook is set for this bot. Delete it (call deleteWebhook, "
	"https://core.telegram.org/bots/api#deletewebhook) to use polling, or switch this channel to webhook mode."
)
PRIVATE_HINT = (
	"telegram: this person has never opened a chat with the bot, and Telegram lets a bot write privately only "
	"to people who started it. Answer publicly in the group, or ask them to message the bot first."
)
POLLER_HINT = "telegram: another program is polling this bot with getUpdates; only one poller may run per bot"


class ChatMigrated(ConnectorError):
	"""The group became a supergroup with a new chat id (``parameters.migrate_to_chat_id``)."""

	def __init__(self, message: str, chat_id: int):
		super().__init__(message, status=400)
		self.chat_id = chat_id


class TelegramConnector(Connector):
	network = "telegram"
	required_keys = ("bot_token",)
	secret_keys = ("bot_token", "webhook_secret")
	public_limit = 4096
	private_limit = 4096
	measure = "utf16"
	max_pages = 1  # see the module docstring: a higher offset confirms (deletes) the previous page
	can_publish = True
	publish_note = (
		"Posts in the Telegram channel or group set in \"Broadcast to\" (@name or -100...), where the bot must "
		"be an admin allowed to post messages; 4,096 characters a part."
	)

	def __init__(self, config, session: requests.Session | None = None):
		super().__init__(config, session)
		self.base_url = str(self.config.get("base_url") or DEFAULT_BASE_URL).rstrip("/")
		self.page_size = config_int(self.config.get("page_size"), 100, 1, 100)
		self.bot_username = str(self.config.get("bot_username") or "").lstrip("@") or None
		self.broadcast_chat = _chat_ref(self.config.get("broadcast_target"))
		if self.broadcast_chat is None:
			# A bot has no timeline of its own: without a target chat this channel cannot broadcast.
			self.can_publish = False
			self.publish_note = (
				"telegram: set \"Broadcast to\" to a channel or group (@acme_status or -100...) where the bot is "
				"an admin allowed to post; a bot has no timeline of its own"
			)

	def _call(self, http_method: str, method: str, *, params: Any = None, body: Any = None) -> Any:
		"""One Bot API method; answers are ``{"ok": true, "result": ...}``."""
		url = f"{self.base_url}/bot{self.config['bot_token']}/{method}"
		try:
			data = self.http.json(self.http.request(http_method, url, params=params, json=body))
		except ConnectorError as exc:
			# The message is redacted, but a chained requests exception would still carry the raw URL.
			raise exc from None
		if not isinstance(data, dict) or data.get("ok") is not True or "result" not in data:
			description = data.get("description") if isinstance(data, dict) else None
			raise ConnectorError(self.http.redact(f"telegram: {method} failed: {description or str(data)[:200]}"))
		return data["result"]

	def classify_error(self, response: requests.Response) -> ConnectorError | None:
		"""Errors are ``{"ok": false, "error_code": N, "description": ..., "parameters": {...}}``."""
		status = response.status_code
		if status >= 500:
			return None  # let the HTTP layer retry
		try:
			data = response.json()
		except ValueError:
			return None
		if not isinstance(data, dict):
			return None
		description = str(data.get("description") or f"HTTP {status}")[:300]
		parameters = data.get("parameters") if isinstance(data.get("parameters"), dict) else {}
		if status == 409:
			return ConnectorError(WEBHOOK_HINT if "webhook" in description.lower() else POLLER_HINT, status=409)
		if status == 429 or "retry_after" in parameters:
			wait = float(parameters.get("retry_after") or 60)
			reset_at = datetime.now(timezone.utc) + timedelta(seconds=wait)
			return RateLimited(f"telegram: flood control: {description}", reset_at=reset_at, status=status)
		if "migrate_to_chat_id" in parameters:
			return ChatMigrated(f"telegram: {description}", int(parameters["migrate_to_chat_id"]))
		if status == 401 or (status == 404 and description == "Not Found"):
			return AuthError(f"telegram: the bot token was refused ({description}); check or renew it with @BotFather", status=status)
		if status == 403 and "initiate conversation" in description:
			return ConnectorError(PRIVATE_HINT, status=403)
		if status == 403:
			# "bot was blocked by the user", "bot was kicked from the group": this chat only, not the token.
			return ConnectorError(f"telegram: the bot may not write to this chat: {description}", status=403)
		return ConnectorError(f"telegram: {description}", status=status)

	def verify_credentials(self) -> AccountInfo:
		"""``getMe`` https://core.telegram.org/bots/api#getme"""
		bot = self._call("GET", "getMe")
		username = str(bot.get("username") or "")
		return AccountInfo(str(bot["id"]), username, str(bot.get("first_name") or username), f"https://t.me/{username}")

	@_guarded
	def set_webhook(self, url: str, secret_token: str) -> None:
		"""``setWebhook`` with the secret Telegram then sends in X-Telegram-Bot-Api-Secret-Token on each update;
		from now on getUpdates is refused (409) until ``delete_webhook``. https://core.telegram.org/bots/api#setwebhook"""
		self._call("POST", "setWebhook", body={
			"url": url, "secret_token": secret_token, "allowed_updates": json.loads(ALLOWED_UPDATES),
		})

	@_guarded
	def delete_webhook(self) -> None:
		"""``deleteWebhook``: back to polling (pending updates stay for getUpdates)."""
		self._call("POST", "deleteWebhook", body={"drop_pending_updates": False})

	# --- fetch -----------------------------------------------------------------------------------------

	def _fetch(self, state: dict[str, Any]) -> FetchResult:
		"""``getUpdates`` https://core.telegram.org/bots/api#getupdates"""
		offset = state.get("offset")
		posts: list[SocialPost] = []
		has_more = False
		for _ in range(max(1, self.max_pages)):
			# timeout=0: a scheduled job must not hold a long poll open.
			params: dict[str, Any] = {"limit": self.page_size, "timeout": 0, "allowed_updates": ALLOWED_UPDATES}
			if offset:
				params["offset"] = offset
			updates = self._call("GET", "getUpdates", params=params)
			if not isinstance(updates, list) or any(not isinstance(update, dict) for update in updates):
				raise ConnectorError("telegram: getUpdates did not return a list of updates")
			if not updates:
				has_more = False
				break
			posts += parse_updates(updates, self.bot_username)
			offset = max(int(update["update_id"]) for update in updates) + 1
			has_more = len(updates) >= self.page_size
			if not has_more:
				break
		return FetchResult(posts, encode_cursor({"offset": offset}), has_more)

	# --- replies ---------------------------------------------------------------------------------------

	def _send_part(
		self, text: str, post: SocialPost, previous: SentReply | None, private: bool, idempotency_key: str | None
	) -> SentReply:
		"""``sendMessage`` https://core.telegram.org/bots/api#sendmessage"""
		ref = post.reply_ref
		chat_id = ref.get("chat_id")
		target = ref.get("message_id")
		if chat_id is None or target is None:
			chat_id, target = _split_id(post.external_id)
		# Plain text (no parse_mode): nothing in the reply can be read as markup.
		body: dict[str, Any] = {"chat_id": chat_id, "text": text}
		if previous is not None:
			chat_id, target = _split_id(previous.external_id)
			body["chat_id"] = chat_id
		elif private and post.kind != "direct":
			if str(post.author_id).startswith("-"):
				# Written as a channel or group (sender_chat): there is no person to write to privately.
				raise ConnectorError("telegram: this message was posted as a channel or group; answer publicly")
			# Out of the group into the author's own chat with the bot: the group's message is not there to
			# reply to, so the first part stands alone and later parts reply to it.
			body["chat_id"], target = int(post.author_id), None
		if target is not None:
			body["reply_parameters"] = {"message_id": int(target), "allow_sending_without_reply": True}
		if ref.get("message_thread_id") and body["chat_id"] == ref.get("chat_id"):
			body["message_thread_id"] = ref["message_thread_id"]
		return self._send_message(body)

	def _publish_part(self, text: str, previous: SentReply | None, idempotency_key: str | None) -> SentReply:
		"""A message in the broadcast chat; a later part replies to the part before (where it really went)."""
		body: dict[str, Any] = {"chat_id": self.broadcast_chat, "text": text}
		if previous is not None:
			chat_id, message_id = _split_id(previous.external_id)
			body["chat_id"] = chat_id
			body["reply_parameters"] = {"message_id": message_id, "allow_sending_without_reply": True}
		return self._send_message(body)

	def _send_message(self, body: dict[str, Any]) -> SentReply:
		"""``sendMessage`` https://core.telegram.org/bots/api#sendmessage"""
		try:
			message = self._call("POST", "sendMessage", body=body)
		except ChatMigrated as moved:
			# The group became a supergroup: 400 means nothing was posted, so sending again is safe.
			body["chat_id"] = moved.chat_id
			message = self._call("POST", "sendMessage", body=body)
		chat = message["chat"]
		return SentReply(f"{chat['id']}:{message['message_id']}", message_url(chat, message["message_id"]))


# --- parsing (module level: the benchmark calls parse_payload directly) ----------------------------------


def parse_payload(payload: dict[str, Any]) -> list[SocialPost]:
	"""Parse one ``getUpdates`` answer (``{"ok": true, "result": [updates]}``) or one webhook update."""
	if "update_id" in payload:
		return parse_updates([payload])
	updates = payload["result"]
	if not isinstance(updates, list):
		raise ConnectorError("telegram: getUpdates did not return a list of updates")
	return parse_updates(updates)


def parse_updates(updates: list[dict[str, Any]], bot_username: str | None = None) -> list[SocialPost]:
	posts = []
	for update in updates:
		for key in MESSAGE_KEYS:
			message = update.get(key)
			if isinstance(message, dict):
				post = _message_post(update, message, key.startswith("edited"), bot_username)
				if post is not None:
					posts.append(post)
				break
	return posts


def _message_post(update: dict[str, Any], message: dict[str, Any], edited: bool, bot: str | None) -> SocialPost | None:
	text = message_text(message)
	if not text:
		return None  # service messages (members joined, pinned, ...)
	chat = message["chat"]
	chat_id = chat["id"]
	message_id = message["message_id"]
	sender = message.get("from") or message.get("sender_chat") or chat
	name = " ".join(str(part) for part in (sender.get("first_name"), sender.get("last_name")) if part)
	handle = str(sender.get("username") or "")
	thread = message.get("message_thread_id") if message.get("is_topic_message") else None
	replied = message.get("reply_to_message") or {}
	# In a forum topic every message "replies" to the topic's first message: that is no real reply.
	reply_to = replied.get("message_id") if replied.get("message_id") not in (None, thread) else None
	external_id = f"{chat_id}:{message_id}"
	if edited:
		external_id += f":e{message.get('edit_date') or message['date']}"
	reply_ref: dict[str, Any] = {"chat_id": chat_id, "message_id": message_id}
	if thread:
		reply_ref["message_thread_id"] = thread
	return SocialPost(
		network="telegram",
		external_id=external_id,
		text=text,
		author_id=str(sender["id"]),
		author_handle=handle,
		author_name=clean_text(name or sender.get("title") or handle) or str(sender["id"]),
		created_at=parse_datetime(int(message.get("edit_date") or message["date"]) if edited else int(message["date"])),
		url=message_url(chat, message_id),
		kind=_kind(chat, message, bot),
		thread_id=f"{chat_id}:{thread}" if thread else str(chat_id),
		in_reply_to_id=f"{chat_id}:{reply_to}" if reply_to else None,
		language=None,  # Telegram gives the sender's app language, not the message's
		raw=update,
		reply_ref=reply_ref,
	)


def message_text(message: dict[str, Any]) -> str:
	"""Text or caption, hidden links (``text_link`` entities) written out, sanitised; a label for bare media."""
	text = message.get("text")
	entities = message.get("entities")
	if text is None:
		text = message.get("caption")
		entities = message.get("caption_entities")
	if text and entities and any(entity.get("type") == "text_link" for entity in entities):
		text = _expand_text_links(text, entities)
	text = clean_text(text)
	label = next((MEDIA_LABELS[key] for key in MEDIA_LABELS if key in message), "")
	if label and "document" in message and message["document"].get("file_name"):
		label = f"[document: {clean_text(message['document']['file_name'])}]"
	return f"{label}\n{text}".strip() if label else text


def _expand_text_links(text: str, entities: list[dict[str, Any]]) -> str:
	"""``text_link`` entities hide a url behind words; offsets count UTF-16 code units."""
	data = text.encode("utf-16-le")
	out, position = [], len(data)
	links = [e for e in entities if e.get("type") == "text_link" and e.get("url")]
	for entity in sorted(links, key=lambda e: e["offset"], reverse=True):
		start, end = 2 * int(entity["offset"]), 2 * (int(entity["offset"]) + int(entity["length"]))
		if end > position or start < 0:
			continue
		out.append(data[end:position].decode("utf-16-le", "replace"))
		out.append(link_text(data[start:end].decode("utf-16-le", "replace"), str(entity["url"])))
		position = start
	out.append(data[:position].decode("utf-16-le", "replace"))
	return "".join(reversed(out))


def _kind(chat: dict[str, Any], message: dict[str, Any], bot: str | None) -> str:
	"""Private chats are direct; in groups, a message addressed to the bot (mention, command, reply to it)
	is a mention, the rest is conversation the bot happens to see."""
	chat_type = chat.get("type")
	if chat_type == "private":
		return "direct"
	if chat_type == "channel":
		return "comment"
	replied_from = (message.get("reply_to_message") or {}).get("from") or {}
	if replied_from.get("is_bot") and (not bot or str(replied_from.get("username") or "").lower() == bot.lower()):
		return "mention"
	text = message.get("text") or message.get("caption") or ""
	entities = message.get("entities") or message.get("caption_entities") or ()
	for entity in entities:
		kind = entity.get("type")
		if kind == "bot_command":
			return "mention"
		if kind == "mention":
			if not bot:
				return "mention"
			# Offsets are UTF-16 units; mention entities are ASCII, so slicing the encoded text is exact.
			units = text.encode("utf-16-le")
			start = 2 * int(entity["offset"])
			mentioned = units[start : start + 2 * int(entity["length"])].decode("utf-16-le", "replace")
			if mentioned.lstrip("@").lower() == bot.lower():
				return "mention"
	return "comment"


def message_url(chat: dict[str, Any], message_id: int) -> str:
	"""Public chats have t.me/<username>/<id>; supergroups and channels t.me/c/<id without -100>/<id>."""
	if chat.get("type") == "private":
		return ""  # a private chat has no shareable message link (its username is the user's)
	if chat.get("username"):
		return f"https://t.me/{chat['username']}/{message_id}"
	chat_id = str(chat.get("id"))
	if chat_id.startswith("-100"):
		return f"https://t.me/c/{chat_id[4:]}/{message_id}"
	return ""


def _chat_ref(value: Any) -> int | str | None:
	"""A chat as an admin types it: ``@acme_status``, ``acme_status``, ``t.me/acme_status`` or a numeric id."""
	text = str(value or "").strip()
	for prefix in ("https://", "http://", "t.me/"):
		text = text.removeprefix(prefix)
	if not text:
		return None
	if text.lstrip("-").isdigit():
		return int(text)
	return "@" + text.lstrip("@")


def _split_id(external_id: str) -> tuple[int, int]:
	chat_id, message_id = external_id.split(":")[:2]
	return int(chat_id), int(message_id)


__all__ = ["TelegramConnector", "message_text", "parse_payload"]
