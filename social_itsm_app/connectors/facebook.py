"""Facebook Pages connector (Graph API): visitor posts and comments, Messenger conversations; replies both ways.

Endpoints (base ``https://graph.facebook.com/v21.0``, overridable with ``base_url``); every call carries the
Page token and ``appsecret_proof`` (https://developers.facebook.com/docs/graph-api/securing-requests/):

* ``GET /{page-id}/feed`` with nested ``comments`` (newest first, ``after`` cursors)
  https://developers.facebook.com/docs/graph-api/reference/page/feed/
* ``GET /{post-id}/comments?filter=stream&order=reverse_chronological`` when a post has more new comments
  https://developers.facebook.com/docs/graph-api/reference/object/comments/
* ``GET /{page-id}/conversations?platform=messenger`` with nested ``messages``
  https://developers.facebook.com/docs/graph-api/reference/page/conversations/
* ``GET /{conversation-id}/messages`` when a conversation has more new messages
  https://developers.facebook.com/docs/graph-api/reference/conversation/messages/
* ``POST /{object-id}/comments`` (public reply)  https://developers.facebook.com/docs/graph-api/reference/object/comments/
* ``POST /{page-id}/feed`` (``message``: a broadcast on the Page; its later parts are comments on that post)
  https://developers.facebook.com/docs/graph-api/reference/page/feed/#publish
* ``POST /{page-id}/messages`` (Send API: Messenger reply, or a private reply with ``recipient.comment_id``)
  https://developers.facebook.com/docs/messenger-platform/reference/send-api/
  https://developers.facebook.com/docs/messenger-platform/discovery/private-replies/
* ``GET /{page-id}?fields=id,name,link``  https://developers.facebook.com/docs/graph-api/reference/page/

Cursor: neither stream has a ``since_id``; each keeps a :class:`SeenWindow` (created_time high-water mark with a
small overlap and the ids seen inside it) plus the ``after`` cursor while a page bound leaves a gap open.
Graph errors are typed by code, not text: 190 (and 102/463/467) -> AuthError; 4/17/32/613/80001-80014 ->
RateLimited using ``X-Business-Use-Case-Usage`` ``estimated_time_to_regain_access`` (minutes).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

from social_itsm_app.connectors.base import (
	AccountInfo,
	Connector,
	FetchResult,
	SentReply,
	SocialPost,
	config_flag,
	config_int,
	encode_cursor,
	parse_datetime,
)
from social_itsm_app.connectors.errors import AuthError, ConnectorError, RateLimited
from social_itsm_app.connectors.meta import AUTH_CODES, RATE_LIMIT_CODES, GraphClient, graph_error, regain_access_at
from social_itsm_app.connectors.seen import SeenWindow
from social_itsm_app.connectors.split import MEASURES
from social_itsm_app.connectors.text import clean_text

BASE_URL = "https://graph.facebook.com/v21.0"
COMMENT_FIELDS = "id,message,created_time,from,parent{id},permalink_url"
MESSAGE_FIELDS = "id,message,from,created_time"
# Graph indexes late now and then: re-read this many seconds below the newest time (the seen ids dedupe it).
OVERLAP_SECONDS = 300
SEEN_LIMIT = 300
# Extra /comments or /messages pages per post or conversation in one fetch.
MAX_CHILD_PAGES = 5
OUTSIDE_WINDOW_SUBCODE = 2018278
INBOX_URL = "https://business.facebook.com/latest/inbox/messenger?selected_item_id="


class FacebookConnector(GraphClient, Connector):
	network = "facebook"
	required_keys = ("page_id", "page_access_token", "app_secret")
	secret_keys = ("page_access_token", "app_secret")
	public_limit = 8000  # comment length
	private_limit = 2000  # Messenger text
	measure = "utf16"  # Meta counts UTF-16 units in places; never over either way
	can_publish = True
	publish_note = (
		"Posts on the Facebook Page's feed (the Page token needs pages_manage_posts); a text over 8,000 "
		"characters continues in numbered comments on that post."
	)
	max_pages = 5

	def __init__(self, config, session: requests.Session | None = None):
		super().__init__(config, session)
		self.base_url = str(self.config.get("base_url") or BASE_URL).rstrip("/")
		self.page_id = str(self.config["page_id"])
		self._use_token(str(self.config["page_access_token"]), self.config["app_secret"])
		self.page_size = config_int(self.config.get("page_size"), 25, 1, 100)
		self.lookback = timedelta(days=config_int(self.config.get("comment_lookback_days"), 7, 0, 90))

	# --- fetch -----------------------------------------------------------------------------------------

	def _fetch(self, state: dict[str, Any]) -> FetchResult:
		posts: list[SocialPost] = []
		new_state: dict[str, Any] = {}
		has_more = False
		if config_flag(self.config.get("read_comments", True)):
			found, new_state["comments"], more = self._scan(
				state.get("comments") or {},
				f"/{self.page_id}/feed",
				{"fields": self._feed_fields()},
				self._feed_items,
				lambda obj: _created(obj) + self.lookback,
			)
			posts += found
			has_more = has_more or more
		if config_flag(self.config.get("read_messenger", True)):
			found, new_state["messenger"], more = self._scan(
				state.get("messenger") or {},
				f"/{self.page_id}/conversations",
				{"platform": "messenger", "fields": self._conversation_fields()},
				self._conversation_items,
				lambda obj: parse_datetime(obj["updated_time"]) if obj.get("updated_time") else None,
			)
			posts += found
			has_more = has_more or more
		return FetchResult(posts, encode_cursor(new_state), has_more)

	def _scan(self, sub, path, params, items_of, active_until) -> tuple[list[SocialPost], dict[str, Any], bool]:
		"""Page a newest-first Graph edge until its objects can hold nothing newer than the window floor.

		``active_until(obj)`` is the latest time an object can still gain new children (a post within the
		comment lookback, a conversation's ``updated_time``). When ``max_pages`` stops us first, the old
		floor and the ``after`` cursor are kept so the next call closes the gap without skipping anything.
		"""
		window = SeenWindow(sub.get("window"), overlap=OVERLAP_SECONDS, limit=SEEN_LIMIT)
		first_run = window.first_run
		after = sub.get("after")
		posts: list[SocialPost] = []
		for _ in range(self.max_pages):
			page = self._get(path, {**params, "limit": self.page_size, **({"after": after} if after else {})})
			data = _data(page, path)
			reached_floor = not data
			for obj in data:
				for post in items_of(obj, window.floor):
					moment = post.created_at.timestamp()
					if window.is_new(post.external_id, moment):
						posts.append(post)
					window.add(post.external_id, moment)
				until = active_until(obj)
				if window.floor is not None and until is not None and until.timestamp() < window.floor:
					reached_floor = True
			after = _next_after(page)
			if first_run or reached_floor or not after:
				return posts, {"window": window.state()}, False
		return posts, {"window": window.state(keep_floor=True), "after": after}, True

	def _feed_items(self, obj: dict[str, Any], floor: float | None) -> Iterator[SocialPost]:
		comments = obj.get("comments") or {}
		yield from parse_feed_post(obj, self.page_id)
		yield from self._more_children(
			f"/{obj['id']}/comments",
			{"fields": COMMENT_FIELDS, "filter": "stream", "order": "reverse_chronological"},
			comments,
			floor,
			lambda page: parse_comments(page.get("data") or (), obj, self.page_id),
		)

	def _conversation_items(self, obj: dict[str, Any], floor: float | None) -> Iterator[SocialPost]:
		yield from parse_conversation(obj, self.page_id)
		yield from self._more_children(
			f"/{obj['id']}/messages",
			{"fields": MESSAGE_FIELDS},
			obj.get("messages") or {},
			floor,
			lambda page: parse_messages(page.get("data") or (), obj, self.page_id),
		)

	def _more_children(self, path, params, nested, floor, parse) -> Iterator[SocialPost]:
		"""Follow a nested edge (newest first) past its first page while it is still above the floor."""
		data = nested.get("data") or []
		after = _next_after(nested)
		for _ in range(MAX_CHILD_PAGES):
			if floor is None or not after or not data or _created(data[-1]).timestamp() < floor:
				return
			page = self._get(path, {**params, "limit": self.page_size, "after": after})
			data = _data(page, path)
			yield from parse(page)
			after = _next_after(page)

	def _feed_fields(self) -> str:
		comments = f"comments.filter(stream).order(reverse_chronological).limit({self.page_size}){{{COMMENT_FIELDS}}}"
		return f"id,message,created_time,updated_time,from,permalink_url,{comments}"

	def _conversation_fields(self) -> str:
		return f"id,updated_time,participants,messages.limit({self.page_size}){{{MESSAGE_FIELDS}}}"

	# --- replies ---------------------------------------------------------------------------------------

	def send_reply(self, text: str, in_reply_to: SocialPost, private: bool = False, **kwargs: Any) -> list[SentReply]:
		private = private or in_reply_to.kind == "direct"  # Messenger is answered in Messenger (as in the base)
		if private and in_reply_to.kind != "direct" and MEASURES[self.measure](text.strip()) > self.reply_limit(True):
			# Meta allows ONE private reply per comment until the person answers: it cannot be a chain.
			raise ConnectorError(
				f"facebook: a private reply to a comment is a single message of at most {self.reply_limit(True)} "
				"characters; shorten it or answer publicly"
			)
		return super().send_reply(text, in_reply_to, private, **kwargs)

	def _send_part(
		self, text: str, post: SocialPost, previous: SentReply | None, private: bool, idempotency_key: str | None
	) -> SentReply:
		if private:
			return self._send_message(text, post, previous)
		return self._send_comment(text, post, previous)

	def _send_comment(self, text: str, post: SocialPost, previous: SentReply | None) -> SentReply:
		"""``POST /{object-id}/comments`` https://developers.facebook.com/docs/graph-api/reference/object/comments/"""
		ref = post.reply_ref
		post_id = str(ref.get("post_id") or post.thread_id or post.external_id)
		# Comment threads are two levels deep: every part goes under the thread's top-level comment, which
		# for a visitor post is our own first part (its id travels in the previous part's permalink).
		root = _query(previous.url, "comment_id") if previous else None
		target = root or str(ref.get("reply_to") or post.external_id)
		body = self._post(f"/{target}/comments", data={"message": text})
		comment_id = str(body["id"])
		if target == post_id:
			return SentReply(comment_id, f"https://www.facebook.com/{post_id}?comment_id={comment_id}")
		return SentReply(comment_id, f"https://www.facebook.com/{post_id}?comment_id={target}&reply_comment_id={comment_id}")

	def _publish_part(self, text: str, previous: SentReply | None, idempotency_key: str | None) -> SentReply:
		"""The first part is a Page post (``POST /{page-id}/feed``); later parts are comments on it, in order."""
		if previous is None:
			post_id = str(self._post(f"/{self.page_id}/feed", data={"message": text})["id"])
			return SentReply(post_id, f"https://www.facebook.com/{post_id}")
		# The post's id travels in every part's permalink (its path), so a resumed chain finds it too.
		post_id = urlsplit(previous.url).path.strip("/") or previous.external_id
		comment_id = str(self._post(f"/{post_id}/comments", data={"message": text})["id"])
		return SentReply(comment_id, f"https://www.facebook.com/{post_id}?comment_id={comment_id}")

	def _send_message(self, text: str, post: SocialPost, previous: SentReply | None) -> SentReply:
		"""``POST /{page-id}/messages`` https://developers.facebook.com/docs/messenger-platform/reference/send-api/"""
		ref = post.reply_ref
		psid = ref.get("psid")
		if psid:
			recipient = {"id": str(psid)}
		elif ref.get("comment_id"):
			recipient = {"comment_id": str(ref["comment_id"])}  # private reply: once per comment, within 7 days
		elif ref.get("post_id"):
			recipient = {"post_id": str(ref["post_id"])}  # private reply to a visitor post
		else:
			raise ConnectorError("facebook: this post carries no Messenger recipient (reply_ref has no psid/comment_id)")
		payload: dict[str, Any] = {"recipient": recipient, "messaging_type": "RESPONSE", "message": {"text": text}}
		if psid and config_flag(self.config.get("human_agent_tag")):
			# HUMAN_AGENT lets a person answer up to 7 days after the user's last message (not only 24 h).
			payload.update(messaging_type="MESSAGE_TAG", tag="HUMAN_AGENT")
		body = self._post(f"/{self.page_id}/messages", json_body=payload)
		recipient_id = str(body.get("recipient_id") or psid or "")
		return SentReply(str(body["message_id"]), INBOX_URL + recipient_id)

	def verify_credentials(self) -> AccountInfo:
		"""``GET /{page-id}`` https://developers.facebook.com/docs/graph-api/reference/page/"""
		data = self._get(f"/{self.page_id}", {"fields": "id,name,username,link"})
		handle = data.get("username") or data.get("name") or str(data["id"])
		url = data.get("link") or f"https://www.facebook.com/{data['id']}"
		return AccountInfo(str(data["id"]), handle, data.get("name", ""), url)

	# --- HTTP ------------------------------------------------------------------------------------------

	def _get(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
		return self._call("GET", path, params=params)

	def _post(self, path: str, *, data: dict | None = None, json_body: dict | None = None) -> dict[str, Any]:
		body = self._call("POST", path, data=data, json=json_body)
		if not body.get("id") and not body.get("message_id"):
			raise ConnectorError(f"facebook: POST {path} answered without an id: {str(body)[:200]}")
		return body

	def classify_error(self, response: requests.Response) -> ConnectorError | None:
		if response.status_code >= 500:
			return None  # transient (Graph codes 1/2): let the HTTP layer retry
		error = graph_error(response)
		if error is None:
			return None
		code, subcode = config_int(error.get("code"), 0), config_int(error.get("error_subcode"), 0)
		message = f"facebook: Graph error {code}/{subcode or '-'}: {error.get('message') or ''}"
		status = response.status_code
		if code in AUTH_CODES:
			return AuthError(message + " (the Page token is invalid or expired: connect the page again)", status=status)
		if code in RATE_LIMIT_CODES:
			reset_at = regain_access_at(response)
			return RateLimited(f"{message} (rate limited until {reset_at.isoformat()})", reset_at=reset_at, status=status)
		if code == 10 and subcode == OUTSIDE_WINDOW_SUBCODE:
			return ConnectorError(
				message + " (outside the 24 h messaging window; enable human_agent_tag to answer within 7 days)",
				status=status,
			)
		if (code == 10 and not subcode) or 200 <= code < 300:
			return AuthError(message + " (a permission is missing on the Page token)", status=status)
		return ConnectorError(message, status=status)


# --- parsing (module level: the benchmark calls parse_payload directly) ----------------------------------


def parse_payload(payload: dict[str, Any]) -> list[SocialPost]:
	"""Parse one page of ``GET /{page-id}/feed`` (visitor posts and their comments) as the connector does."""
	posts: list[SocialPost] = []
	for obj in payload.get("data") or ():
		page_id = str(obj.get("id", "")).split("_", 1)[0]  # feed post ids are "{page-id}_{post-id}"
		posts += parse_feed_post(obj, page_id)
	return posts


def parse_feed_post(obj: dict[str, Any], page_id: str) -> list[SocialPost]:
	"""A visitor post (the page's own posts are skipped) and the visitors' comments nested in it."""
	posts = []
	post_id = str(obj["id"])
	author = obj.get("from") or {}
	if author and str(author.get("id")) != page_id and obj.get("message"):
		posts.append(
			_post(obj, post_id, "mention", post_id, None, {"post_id": post_id, "reply_to": post_id})
		)
	posts += parse_comments((obj.get("comments") or {}).get("data") or (), obj, page_id)
	return posts


def parse_comments(comments, post: dict[str, Any], page_id: str) -> list[SocialPost]:
	post_id = str(post["id"])
	posts = []
	for comment in comments:
		author = comment.get("from") or {}
		if str(author.get("id")) == page_id:
			continue  # our own answers
		comment_id = str(comment["id"])
		parent = str((comment.get("parent") or {}).get("id") or "") or None
		ref = {"post_id": post_id, "comment_id": comment_id, "reply_to": parent or comment_id}
		posts.append(_post(comment, comment_id, "comment", post_id, parent or post_id, ref))
	return posts


def parse_conversation(conversation: dict[str, Any], page_id: str) -> list[SocialPost]:
	return parse_messages((conversation.get("messages") or {}).get("data") or (), conversation, page_id)


def parse_messages(messages, conversation: dict[str, Any], page_id: str) -> list[SocialPost]:
	thread = str(conversation["id"])
	posts = []
	for message in messages:
		sender = message.get("from") or {}
		psid = str(sender.get("id") or "")
		if not psid or psid == page_id:
			continue
		post = _post(message, str(message["id"]), "direct", thread, None, {"psid": psid, "conversation_id": thread})
		post.url = INBOX_URL + psid
		posts.append(post)
	return posts


def _post(obj: dict[str, Any], external_id: str, kind: str, thread: str, parent: str | None, ref: dict) -> SocialPost:
	author = obj.get("from") or {}
	name = clean_text(author.get("name"))
	return SocialPost(
		network="facebook",
		external_id=external_id,
		text=clean_text(obj.get("message")),
		author_id=str(author.get("id") or ""),
		author_handle=name,
		author_name=name,
		created_at=_created(obj),
		url=obj.get("permalink_url") or f"https://www.facebook.com/{external_id}",
		kind=kind,
		thread_id=thread,
		in_reply_to_id=parent,
		raw=obj,
		reply_ref=ref,
	)


# --- helpers ---------------------------------------------------------------------------------------------


def _data(page: dict[str, Any], path: str) -> list[dict[str, Any]]:
	data = page.get("data")
	if not isinstance(data, list):
		raise ConnectorError(f"facebook: GET {path}: answer has no data list")
	return data


def _next_after(edge: dict[str, Any]) -> str | None:
	paging = edge.get("paging") or {}
	if not paging.get("next"):
		return None  # Graph sends cursors on the last page too; only "next" means there is more
	return (paging.get("cursors") or {}).get("after")


def _created(obj: dict[str, Any]) -> datetime:
	return parse_datetime(obj["created_time"])


def _query(url: str, name: str) -> str | None:
	values = parse_qs(urlsplit(url or "").query).get(name)
	return values[0] if values else None



