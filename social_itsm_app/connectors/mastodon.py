"""Mastodon connector: mention notifications and optional hashtag timelines in; threaded replies out.

Endpoints (``base_url`` is the instance, e.g. ``https://mastodon.social``):

* ``GET /api/v1/notifications?types[]=mention`` with ``min_id`` (forward cursor) and ``Link`` paging
  https://docs.joinmastodon.org/methods/notifications/#get
* ``GET /api/v1/timelines/tag/:hashtag`` with ``min_id``, for each configured hashtag
  https://docs.joinmastodon.org/methods/timelines/#tag
* ``POST /api/v1/statuses`` (``status``, ``in_reply_to_id``, ``visibility``) with an ``Idempotency-Key`` header
  https://docs.joinmastodon.org/methods/statuses/#create ; a broadcast is the same call without
  ``in_reply_to_id`` (public, on the account's own timeline), its later parts answering the part before
* ``GET /api/v1/accounts/verify_credentials``  https://docs.joinmastodon.org/methods/accounts/#verify_credentials

Traps handled: ``content`` is HTML (converted to text, ``<script>`` never survives); ``X-RateLimit-Reset`` is an
ISO-8601 time (read by the HTTP layer); replies must contain ``@acct`` to reach the author, and a ``direct`` or
followers-only chain must mention the author in every part or later parts stay invisible to them; a DM is
never answered publicly; every status POST carries an ``Idempotency-Key`` (Mastodon keeps it one hour), which
also makes it safe to retry the POST after a timeout or a 5xx.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

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
	newest_id,
	parse_datetime,
	split_list,
)
from social_itsm_app.connectors.errors import ConnectorError
from social_itsm_app.connectors.split import graphemes_url23
from social_itsm_app.connectors.text import clean_text, html_to_text

VISIBILITY_ORDER = ("public", "unlisted", "private", "direct")
DEFAULT_MAX_CHARACTERS = 500


class MastodonConnector(Connector):
	network = "mastodon"
	required_keys = ("base_url", "access_token")
	secret_keys = ("access_token",)
	public_limit = DEFAULT_MAX_CHARACTERS
	private_limit = DEFAULT_MAX_CHARACTERS  # visibility=direct
	measure = "graphemes_url23"
	max_pages = 5
	# Mastodon keeps an Idempotency-Key for an hour: resending a reply in doubt cannot post it twice.
	idempotent_replies = True
	# Mastodon keeps an Idempotency-Key for one hour; a margin for clocks and queues.
	idempotency_window = timedelta(minutes=55)
	can_publish = True
	publish_note = (
		"Posts a public status on this account's own timeline (500 characters a part, or the instance's limit "
		"set in the channel); a longer text becomes a numbered thread."
	)

	def __init__(self, config, session: requests.Session | None = None):
		super().__init__(config, session)
		base = str(self.config["base_url"]).strip().rstrip("/")
		self.base_url = base if "://" in base else f"https://{base}"
		self.page_size = config_int(self.config.get("page_size"), 40, 1, 80)
		self.hashtags = [tag.lstrip("#") for tag in split_list(self.config.get("hashtags")) if tag.lstrip("#")]
		# Room kept free in every part for the "@acct " that a private chain repeats (set per send_reply).
		self._reserve = 0

	# --- fetch -----------------------------------------------------------------------------------------

	def _fetch(self, state: dict[str, Any]) -> FetchResult:
		params: dict[str, Any] = {"types[]": "mention", "limit": self.page_size}
		if config_flag(self.config.get("include_filtered", True)):
			# Mastodon 4.3+ filters e.g. private mentions from strangers; a helpdesk must still see them.
			params["include_filtered"] = "true"
		posts, min_id, has_more = self._read_forward(
			"/api/v1/notifications", params, state.get("notifications"), parse_payload
		)
		new_state: dict[str, Any] = {"notifications": min_id}
		old_tags = state.get("tags") or {}
		new_tags = {}
		for tag in self.hashtags:
			found, tag_min, more = self._read_forward(
				f"/api/v1/timelines/tag/{quote(tag, safe='')}",
				{"limit": min(self.page_size, 40)},
				old_tags.get(tag),
				parse_tag_timeline,
			)
			posts += found  # after the mentions: a status in both keeps kind "mention" when deduped
			new_tags[tag] = tag_min
			has_more = has_more or more
		new_state["tags"] = {tag: value for tag, value in new_tags.items() if value}
		return FetchResult(posts, encode_cursor(new_state), has_more)

	def _read_forward(
		self,
		path: str,
		params: dict[str, Any],
		min_id: str | None,
		parse: Callable[[Sequence[dict[str, Any]]], list[SocialPost]],
	) -> tuple[list[SocialPost], str | None, bool]:
		"""Read everything newer than ``min_id``, oldest page first, following ``Link: rel="prev"``.

		``min_id`` pages forward in time, so stopping at the page bound never leaves a gap: the cursor is
		simply the newest id read so far. The first run takes the newest page only.
		"""
		posts: list[SocialPost] = []
		for _ in range(self.max_pages):
			response = self._get(path, {**params, "min_id": min_id} if min_id else params)
			page = self.http.json(response)
			if not isinstance(page, list) or any(not isinstance(item, dict) for item in page):
				raise ConnectorError(f"mastodon: {path} did not return a list of objects")
			if not page:
				return posts, min_id, False
			posts += parse(page)
			first_run = not min_id
			min_id = newest_id(min_id, _link_min_id(response), *(str(item["id"]) for item in page))
			if first_run or "prev" not in response.links:
				return posts, min_id, False
		return posts, min_id, True

	def _get(self, path: str, params: dict[str, Any]) -> requests.Response:
		return self.http.request("GET", self.base_url + path, params=params, headers=self._auth())

	def _auth(self) -> dict[str, str]:
		return {"Authorization": f"Bearer {self.config['access_token']}"}

	# --- replies ---------------------------------------------------------------------------------------

	def send_reply(self, text: str, in_reply_to: SocialPost, private: bool = False, **kwargs: Any) -> list[SentReply]:
		# A direct message is never answered in public.
		private = private or in_reply_to.reply_ref.get("visibility") == "direct"
		self._reserve = 0
		if self._visibility(in_reply_to, private) in ("private", "direct"):
			self._reserve = graphemes_url23(_mention(in_reply_to) + " ")
		try:
			return super().send_reply(text, in_reply_to, private, **kwargs)
		finally:
			self._reserve = 0

	def reply_limit(self, private: bool) -> int:
		limit = int(self.config.get("max_characters") or self.config.get("reply_limit") or DEFAULT_MAX_CHARACTERS)
		return limit - self._reserve

	def prepare_reply_text(self, text: str, post: SocialPost, private: bool) -> str:
		"""Mastodon only delivers a reply to the people it mentions: start with the author's ``@acct``."""
		return _with_mention(text.strip(), _mention(post))

	def _send_part(
		self, text: str, post: SocialPost, previous: SentReply | None, private: bool, idempotency_key: str | None
	) -> SentReply:
		"""``POST /api/v1/statuses`` https://docs.joinmastodon.org/methods/statuses/#create"""
		visibility = self._visibility(post, private)
		target = previous.external_id if previous else str(post.reply_ref.get("status_id") or post.external_id)
		if previous and visibility in ("private", "direct"):
			text = _with_mention(text, _mention(post))  # later parts must reach the author too
		return self._post_status(text, target, visibility, idempotency_key)

	def _publish_part(self, text: str, previous: SentReply | None, idempotency_key: str | None) -> SentReply:
		"""A public status; later parts of a long broadcast answer the part before (a thread)."""
		return self._post_status(text, previous.external_id if previous else None, "public", idempotency_key)

	def _post_status(self, text: str, in_reply_to_id: str | None, visibility: str, key: str | None) -> SentReply:
		"""``POST /api/v1/statuses`` https://docs.joinmastodon.org/methods/statuses/#create"""
		# Without a caller's key, one derived from the target and text: a resend of the same part is recognised.
		key = key or reply_idempotency_key(in_reply_to_id or "top-level", text)
		form = {"status": text}
		if in_reply_to_id:
			form["in_reply_to_id"] = in_reply_to_id
		form["visibility"] = visibility
		if self.config.get("language"):
			form["language"] = str(self.config["language"])
		response = self.http.request(
			"POST",
			f"{self.base_url}/api/v1/statuses",
			data=form,
			headers={**self._auth(), "Idempotency-Key": key},
			# The key makes a repeat return the first status instead of posting again, so retrying is safe.
			idempotent=True,
		)
		status = self.http.json(response)
		if not isinstance(status, dict) or not status.get("id"):
			raise ConnectorError(f"mastodon: posting the status returned nothing usable: {str(status)[:200]}")
		return SentReply(str(status["id"]), status.get("url") or status.get("uri") or "")

	def _visibility(self, post: SocialPost, private: bool) -> str:
		"""The stricter of what we were asked for and what the author used (as Mastodon's own clients do)."""
		wanted = "direct" if private else str(self.config.get("reply_visibility") or "public")
		original = str(post.reply_ref.get("visibility") or "public")
		ranks = [VISIBILITY_ORDER.index(v) if v in VISIBILITY_ORDER else 0 for v in (wanted, original)]
		return VISIBILITY_ORDER[max(ranks)]

	def verify_credentials(self) -> AccountInfo:
		"""Who the token belongs to: https://docs.joinmastodon.org/methods/accounts/#verify_credentials"""
		account = self.http.json(self._get("/api/v1/accounts/verify_credentials", {}))
		return AccountInfo(str(account["id"]), account["acct"], account.get("display_name") or "", account.get("url") or "")


# --- parsing (module level: the benchmark calls parse_payload directly) ----------------------------------


def parse_payload(payload: Sequence[dict[str, Any]] | dict[str, Any]) -> list[SocialPost]:
	"""Parse one page of ``GET /api/v1/notifications`` (a JSON array) exactly as the connector does."""
	if isinstance(payload, dict):
		payload = [payload]  # a single notification, e.g. from a streaming or webhook event
	posts = []
	for notification in payload:
		status = notification.get("status")
		if notification.get("type", "mention") != "mention" or not status:
			continue
		kind = "direct" if status.get("visibility") == "direct" else "mention"
		posts.append(_status_post(status, kind, notification))
	return posts


def parse_tag_timeline(page: Sequence[dict[str, Any]]) -> list[SocialPost]:
	return [_status_post(status, "search", status) for status in page if not status.get("reblog")]


def _status_post(status: dict[str, Any], kind: str, raw: dict[str, Any]) -> SocialPost:
	account = status["account"]
	status_id = str(status["id"])
	acct = account["acct"]
	reply_to = status.get("in_reply_to_id")
	return SocialPost(
		network="mastodon",
		external_id=status_id,
		text=status_text(status),
		author_id=str(account["id"]),
		author_handle=acct,
		author_name=clean_text(account.get("display_name")) or account.get("username") or acct,
		created_at=parse_datetime(status["created_at"]),
		url=status.get("url") or status.get("uri") or "",
		kind=kind,
		# Mastodon exposes no thread root: the post answered (or the post itself) is the best local key.
		thread_id=str(reply_to or status_id),
		in_reply_to_id=str(reply_to) if reply_to else None,
		language=status.get("language") or None,
		raw=raw,
		reply_ref={"status_id": status_id, "acct": acct, "visibility": status.get("visibility") or "public"},
	)


def status_text(status: dict[str, Any]) -> str:
	"""Content warning, text and attachment descriptions as plain text."""
	text = html_to_text(status.get("content"))
	spoiler = status.get("spoiler_text")
	if spoiler:
		text = f"[CW: {clean_text(spoiler)}]\n{text}"
	for media in status.get("media_attachments") or ():
		description = clean_text(media.get("description")) or media.get("type") or "attachment"
		link = media.get("url") or media.get("remote_url") or ""
		text += f"\n[{description}] {link}".rstrip()
	return text


def reply_idempotency_key(in_reply_to_id: str, text: str) -> str:
	"""Stable key for one reply part: the same part to the same status always gets the same key."""
	digest = hashlib.sha256(f"{in_reply_to_id}\n{text}".encode()).hexdigest()
	return f"social-itsm-{digest[:40]}"


def _mention(post: SocialPost) -> str:
	return "@" + str(post.reply_ref.get("acct") or post.author_handle).lstrip("@")


def _with_mention(text: str, mention: str) -> str:
	head = text.split(None, 1)[0].lower() if text.strip() else ""
	if mention == "@" or head == mention.lower():
		return text
	return f"{mention} {text}"


def _link_min_id(response: requests.Response) -> str | None:
	"""The ``min_id`` of ``Link: <...?min_id=...>; rel="prev"`` (we never follow the URL itself: it could
	point at another host, and it would receive our token)."""
	url = (response.links.get("prev") or {}).get("url")
	if not url:
		return None
	values = parse_qs(urlsplit(url).query).get("min_id") or parse_qs(urlsplit(url).query).get("since_id")
	return values[0] if values and values[0].isdigit() else None


__all__ = ["MastodonConnector", "parse_payload", "reply_idempotency_key"]
