"""Instagram (professional accounts): direct messages and comments on the account's media arrive by webhook;
replies go out as DMs, public comment replies, or a private reply to a comment.

* Webhook deliveries (``object: instagram``): ``entry[].messaging[]`` (DMs; ``message.is_echo`` marks what the
  account itself sent, which we skip) and ``entry[].changes[]`` with ``field: comments`` / ``live_comments``
  (``value: {id, text, from{id, username}, media{id}, parent_id}``).
  https://developers.facebook.com/docs/instagram-platform/webhooks/examples
* ``POST /{ig-user-id}/messages`` with ``recipient: {id: IGSID}`` (a DM) or ``{comment_id}`` (a private
  reply: one message per comment, within 7 days)
  https://developers.facebook.com/docs/instagram-platform/instagram-api-with-instagram-login/messaging-api
  https://developers.facebook.com/docs/instagram-platform/private-replies
* ``POST /{ig-comment-id}/replies`` (public reply; Instagram threads are one level deep, so replies always go
  under the top-level comment)  https://developers.facebook.com/docs/instagram-platform/comment-moderation
* ``GET /{ig-user-id}?fields=id,username,name`` (credentials check)

Base URL ``https://graph.instagram.com/v21.0`` (Instagram Login); apps on Facebook Login set ``base_url`` to
``https://graph.facebook.com/v21.0`` (same paths, with the Page token).
"""

from __future__ import annotations

from typing import Any

from social_itsm_app.connectors.base import AccountInfo, SentReply, SocialPost
from social_itsm_app.connectors.errors import ConnectorError
from social_itsm_app.connectors.meta import (
	MetaPushConnector,
	delivery_posts,
	epoch,
	incoming_message,
	messaging_text,
	required,
)
from social_itsm_app.connectors.safe_values import truncate
from social_itsm_app.connectors.split import utf16_units
from social_itsm_app.connectors.text import clean_text

NETWORK = "instagram"
OBJECT = "instagram"
COMMENT_FIELDS = ("comments", "live_comments")
COMMENT_LIMIT = 2200
# A DM's text must stay under 1000 bytes of UTF-8 (Meta's Send API for Instagram).
DM_BYTES = 1000


# --- parsing ------------------------------------------------------------------------------------------------


def parse_payload(payload: Any) -> list[SocialPost]:
	"""DMs and comments of one webhook delivery, oldest first; the account's own messages and comments skipped.

	Other messaging events (reads, reactions, postbacks) and other change fields (mentions, story insights)
	are ignored; the known parts in a wrong shape raise :class:`PayloadError`.
	"""
	return delivery_posts(payload, NETWORK, OBJECT, _message_post, dict.fromkeys(COMMENT_FIELDS, _comment_post))


def _message_post(event: dict[str, Any], account: str) -> SocialPost | None:
	found = incoming_message(event, account, NETWORK)
	if found is None:
		return None
	igsid, mid, message = found
	replied = message.get("reply_to") if isinstance(message.get("reply_to"), dict) else {}
	return SocialPost(
		network=NETWORK,
		external_id=mid,
		text=messaging_text(message, NETWORK),
		author_id=igsid,
		author_handle="",  # the messaging webhook names nobody: the IGSID is all it carries
		author_name="",
		created_at=epoch(event.get("timestamp"), NETWORK, f"message {mid[:80]}"),
		url="",
		kind="direct",
		thread_id=f"{account}:{igsid}",  # one conversation per person and account
		in_reply_to_id=str(replied["mid"]) if replied.get("mid") else None,
		raw=event,
		reply_ref={"ig_user_id": account, "igsid": igsid},
	)


def _comment_post(value: dict[str, Any], account: str, entry_time: Any) -> SocialPost | None:
	comment_id = required(value, "id", NETWORK, "a comment")
	author = value.get("from") if isinstance(value.get("from"), dict) else {}
	author_id = required(author, "id", NETWORK, f"comment {comment_id[:80]}")
	if author_id == account or str(author.get("self_ig_scoped_id") or "") == account:
		return None  # our own comment (a reply we posted)
	media = value.get("media") if isinstance(value.get("media"), dict) else {}
	media_id = required(media, "id", NETWORK, f"comment {comment_id[:80]}")
	parent = str(value.get("parent_id") or "") or None
	username = truncate(clean_text(str(author.get("username") or "")), 140)
	return SocialPost(
		network=NETWORK,
		external_id=comment_id,
		text=clean_text(str(value.get("text") or "")) or "[empty comment]",
		author_id=author_id,
		author_handle=username,
		author_name=username,
		# Comment changes carry no time of their own: the entry's time is when Meta sent it (seconds later).
		created_at=epoch(entry_time, NETWORK, f"the entry of comment {comment_id[:80]}"),
		url="",  # a comment's permalink needs a Graph call; the media's is on the ticket via the thread
		kind="comment",
		thread_id=media_id,
		in_reply_to_id=parent,
		raw=value,
		reply_ref={"ig_user_id": account, "comment_id": comment_id, "media_id": media_id, "reply_to": parent or comment_id},
	)


# --- the connector -------------------------------------------------------------------------------------------


def utf8_budget(text: str, limit_bytes: int = DM_BYTES) -> int:
	"""The most UTF-16 units per part that keep every part of ``text`` under ``limit_bytes`` of UTF-8.

	The splitter counts UTF-16 units; a unit costs 1 byte (ASCII), 2 (up to U+07FF) or 3 (the rest of the
	BMP; a surrogate pair is 2 units for 4 bytes). The dearest character of the text sets the budget.
	"""
	widest = max((len(char.encode("utf-8", "surrogatepass")) / utf16_units(char) for char in set(text)), default=1)
	return int(limit_bytes // widest)


class InstagramConnector(MetaPushConnector):
	"""Replies through the Instagram Graph API. Config: ``ig_user_id``, ``access_token``, optional ``app_secret``
	(webhook signatures, appsecret_proof), ``verify_token`` (the webhook handshake), ``base_url``."""

	network = NETWORK
	required_keys = ("ig_user_id", "access_token")
	secret_keys = ("access_token", "app_secret", "verify_token")
	base_url_default = "https://graph.instagram.com/v21.0"
	public_limit = COMMENT_LIMIT
	private_limit = DM_BYTES  # in UTF-16 units; lowered per text so parts stay under DM_BYTES (reply_limit)
	measure = "utf16"
	publish_note = (
		"instagram: an Instagram post needs a photo or a video; a status update reaches Instagram only as "
		"answers to the people who wrote"
	)

	def __init__(self, config, session=None):
		super().__init__(config, session)
		self.ig_user_id = str(self.config["ig_user_id"])
		self._sending = ""

	def send_reply(self, text: str, in_reply_to: SocialPost, private: bool = False, **kwargs: Any) -> list[SentReply]:
		private = private or in_reply_to.kind == "direct"
		self._sending = text.strip()
		if private and in_reply_to.kind != "direct" and utf16_units(self._sending) > self.reply_limit(True):
			# One private reply per comment, until the person answers: it cannot be a chain.
			raise ConnectorError(
				f"instagram: a private reply to a comment is a single message of at most {self.reply_limit(True)} "
				"characters; shorten it or answer publicly"
			)
		return super().send_reply(text, in_reply_to, private, **kwargs)

	def reply_limit(self, private: bool) -> int:
		limit = super().reply_limit(private)
		return min(limit, utf8_budget(self._sending)) if private and self._sending else limit

	def verify_credentials(self) -> AccountInfo:
		"""``GET /{ig-user-id}?fields=id,username,name``"""
		data = self._call("GET", f"/{self.ig_user_id}", params={"fields": "id,username,name"})
		username = str(data.get("username") or data["id"])
		return AccountInfo(str(data["id"]), username, str(data.get("name") or ""), f"https://www.instagram.com/{username}")

	def _send_part(
		self, text: str, post: SocialPost, previous: SentReply | None, private: bool, idempotency_key: str | None
	) -> SentReply:
		ref = post.reply_ref
		if str(ref.get("ig_user_id") or self.ig_user_id) != self.ig_user_id:
			raise ConnectorError("instagram: this conversation belongs to another Instagram account than this channel's")
		if not private:
			return self._reply_to_comment(text, post)
		if post.kind == "direct":
			recipient = {"id": str(ref.get("igsid") or post.author_id)}
		elif ref.get("comment_id"):
			recipient = {"comment_id": str(ref["comment_id"])}
		else:
			raise ConnectorError("instagram: this post carries no recipient (reply_ref has no igsid or comment_id)")
		answer = self._call(
			"POST", f"/{self.ig_user_id}/messages", json={"recipient": recipient, "message": {"text": text}}
		)
		if not answer.get("message_id"):
			raise ConnectorError(f"instagram: the send answer has no message id: {str(answer)[:200]}", maybe_delivered=True)
		return SentReply(str(answer["message_id"]), "")

	def _reply_to_comment(self, text: str, post: SocialPost) -> SentReply:
		"""``POST /{comment-id}/replies``: every part under the top-level comment (threads are one level)."""
		if post.kind == "direct":
			raise ConnectorError("instagram: a direct message is answered privately")
		target = str(post.reply_ref.get("reply_to") or post.external_id)
		answer = self._call("POST", f"/{target}/replies", data={"message": text})
		if not answer.get("id"):
			raise ConnectorError(f"instagram: the reply answer has no id: {str(answer)[:200]}", maybe_delivered=True)
		return SentReply(str(answer["id"]), "")


__all__ = ["InstagramConnector", "parse_payload", "utf8_budget"]
