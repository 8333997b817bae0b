"""Facebook Page webhook deliveries (``object: page``) read as the polling connector reads the Graph API, so a
channel can switch between polling and push and its replies work the same way.

* ``entry[].changes[]`` with ``field: feed``: ``value.item`` (comment, post, status, photo, ...) and ``verb``
  (add, edited, remove). New visitor posts and comments become posts with the same ids, kinds, threads and
  ``reply_ref`` as :func:`~social_itsm_app.connectors.facebook.parse_feed_post` and
  :func:`~social_itsm_app.connectors.facebook.parse_comments` give (so the store's dedupe sees one post
  whichever way it arrived). Edits and removals are skipped here: the store has no path for them yet.
  https://developers.facebook.com/docs/graph-api/webhooks/reference/page/#feed
* ``entry[].messaging[]``: Messenger messages (echoes of our own replies skipped), answered with the PSID.
  https://developers.facebook.com/docs/messenger-platform/webhooks

One difference remains: a Messenger webhook does not name the conversation, so a pushed message's thread is
``{page id}:{psid}`` where a polled one's is the conversation id (``t_...``).
"""

from __future__ import annotations

from typing import Any

from social_itsm_app.connectors.base import SocialPost
from social_itsm_app.connectors.facebook import INBOX_URL
from social_itsm_app.connectors.meta import delivery_posts, epoch, incoming_message, messaging_text, required
from social_itsm_app.connectors.safe_values import safe_url, truncate
from social_itsm_app.connectors.text import clean_text

NETWORK = "facebook"
OBJECT = "page"
# Feed items that are a visitor's own post on the page (a "status" is a text-only post).
POST_ITEMS = ("post", "status", "photo", "video", "share")


def parse_payload(payload: Any) -> list[SocialPost]:
	"""New visitor posts, comments and Messenger messages of one delivery, oldest first; the page's own skipped."""
	return delivery_posts(payload, NETWORK, OBJECT, _message_post, {"feed": _feed_post})


def _feed_post(value: dict[str, Any], page_id: str, entry_time: Any = None) -> SocialPost | None:
	"""A new visitor post or comment (a feed item carries its own created_time: the entry's is not needed)."""
	item, verb = str(value.get("item") or ""), str(value.get("verb") or "")
	if verb != "add" or (item != "comment" and item not in POST_ITEMS):
		return None  # reactions, likes, edits, removals, and items we do not answer
	author = value.get("from") if isinstance(value.get("from"), dict) else {}
	if not author or str(author.get("id")) == page_id or not value.get("message"):
		return None  # the page's own posts and answers; a photo without words
	post_id = required(value, "post_id", NETWORK, f"a feed {item}")
	if item == "comment":
		comment_id = required(value, "comment_id", NETWORK, "a feed comment")
		parent = str(value.get("parent_id") or "")
		parent = parent if parent and parent != post_id else None  # a top-level comment's parent is the post
		ref = {"post_id": post_id, "comment_id": comment_id, "reply_to": parent or comment_id}
		return _post(value, author, comment_id, "comment", post_id, parent or post_id, ref)
	return _post(value, author, post_id, "mention", post_id, None, {"post_id": post_id, "reply_to": post_id})


def _post(value, author, external_id, kind, thread, parent, ref) -> SocialPost:
	name = truncate(clean_text(str(author.get("name") or "")), 140)
	permalink = safe_url((value.get("post") or {}).get("permalink_url") if isinstance(value.get("post"), dict) else None)
	if kind == "comment" and permalink:
		permalink = ""  # the post's link is not the comment's: build the comment's own below
	return SocialPost(
		network=NETWORK,
		external_id=external_id,
		text=clean_text(str(value.get("message") or "")),
		author_id=str(author.get("id") or ""),
		author_handle=name,
		author_name=name,
		created_at=epoch(value.get("created_time"), NETWORK, f"feed item {external_id[:80]}"),
		url=permalink or f"https://www.facebook.com/{external_id}",
		kind=kind,
		thread_id=thread,
		in_reply_to_id=parent,
		raw=value,
		reply_ref=ref,
	)


def _message_post(event: dict[str, Any], page_id: str) -> SocialPost | None:
	found = incoming_message(event, page_id, NETWORK)
	if found is None:
		return None
	psid, mid, message = found
	return SocialPost(
		network=NETWORK,
		external_id=mid,
		text=messaging_text(message, NETWORK),
		author_id=psid,
		author_handle="",  # the webhook names nobody: the PSID is all it carries
		author_name="",
		created_at=epoch(event.get("timestamp"), NETWORK, f"message {mid[:80]}"),
		url=INBOX_URL + psid,
		kind="direct",
		thread_id=f"{page_id}:{psid}",
		in_reply_to_id=None,
		raw=event,
		reply_ref={"psid": psid},
	)


__all__ = ["parse_payload"]
