"""Discourse connector: the forum's latest posts in, replies (and private messages) out.

Endpoints (``base_url`` of the forum; headers ``Api-Key`` + ``Api-Username``, https://docs.discourse.org/):

* ``GET /posts.json`` latest posts site-wide, newest first; older pages with ``before=<post id>``
  https://docs.discourse.org/#tag/Posts/operation/listPosts
* ``GET /categories.json?include_subcategories=true`` once, to turn a ``category`` slug into ids
  https://docs.discourse.org/#tag/Categories/operation/listCategories
* ``POST /posts.json`` ``{topic_id, raw, reply_to_post_number}`` (reply) or
  ``{title, raw, archetype: "private_message", target_recipients}`` (private message); a broadcast is
  ``{topic_id, raw}`` in the status topic (config ``broadcast_target``) or ``{title, raw, category}``, a new
  topic in the channel's first category  https://docs.discourse.org/#tag/Posts/operation/createTopicPostPM
* ``GET /session/current.json`` (who the key acts as)  https://docs.discourse.org/

Cursor: ``last_id`` = highest post id seen; pages go back with ``before`` until they reach it. When the page
bound stops us first, ``last_id`` stays, ``before`` and the ``pending`` highest id are kept, and ``pending`` is
adopted once the gap is closed. Traps: ``cooked`` is HTML; 429 carries ``Retry-After`` and
``extras.wait_seconds``; validators (``min_post_length``, identical posts) answer 422 with an ``errors`` list,
which we pass on verbatim.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

import requests

from social_itsm_app.connectors.base import (
	AccountInfo,
	Connector,
	FetchResult,
	SentReply,
	SocialPost,
	encode_cursor,
	parse_datetime,
	split_list,
)
from social_itsm_app.connectors.errors import AuthError, ConnectorError, RateLimited
from social_itsm_app.connectors.split import MEASURES
from social_itsm_app.connectors.text import html_to_text, post_title

# Post types: 1 regular, 2 moderator action, 3 small action ("closed this topic"), 4 whisper (staff only).
REGULAR_POST = 1
# A Discourse post URL: /t/{slug}/{topic_id}/{post_number}; it carries what a chained reply needs.
_POST_URL = re.compile(r"/t/[^/]*/(\d+)/(\d+)")
_TOPIC_URL = re.compile(r"/t/(?:[^/\d][^/]*/)?(\d+)(?:/|$|\?)")
DEFAULT_MIN_LENGTH = 20  # Discourse's default min_post_length
MIN_TITLE = 15  # Discourse's default min_personal_message_title_length
MAX_TITLE = 255  # Discourse's default max_topic_title_length


class DiscourseConnector(Connector):
	network = "discourse"
	required_keys = ("base_url", "api_key", "api_username")
	secret_keys = ("api_key",)
	public_limit = 32_000  # Discourse's default max_post_length; set max_post_length for your site
	private_limit = 32_000
	measure = "chars"
	max_pages = 10
	page_items = 50  # /posts.json pages are a fixed 50 posts (for max_items_per_fetch)
	can_publish = True
	publish_note = (
		"Posts in the status topic whose id is set in \"Broadcast to\", or else opens a new topic (titled by "
		"the first line) in the channel's first category. The forum refuses a text identical to a recent post."
	)

	def __init__(self, config, session: requests.Session | None = None):
		super().__init__(config, session)
		self.base_url = str(self.config["base_url"]).rstrip("/")
		self.username = str(self.config["api_username"])
		self.max_length = int(self.config.get("max_post_length") or self.public_limit)
		self.min_length = int(self.config.get("min_post_length") or DEFAULT_MIN_LENGTH)
		self._categories: set[int] | None = None
		target = str(self.config.get("broadcast_target") or "").strip()
		self.status_topic = _topic_id(target)
		if target and self.status_topic is None:
			self.can_publish = False
			self.publish_note = f"discourse: \"Broadcast to\" must be a topic id or a topic URL, not {target[:80]!r}"
		elif self.status_topic is None and not split_list(self.config.get("category")):
			self.can_publish = False
			self.publish_note = (
				"discourse: set \"Broadcast to\" to the id of a status topic, or set a category to open a new "
				"topic in; broadcasting to the whole forum without either is not done"
			)

	# --- fetch -----------------------------------------------------------------------------------------

	def _fetch(self, state: dict[str, Any]) -> FetchResult:
		last_id, before, pending = _int(state.get("last_id")), _int(state.get("before")), _int(state.get("pending"))
		categories = self._category_filter()
		posts: list[SocialPost] = []
		for _ in range(self.max_pages):
			page = self._get("/posts.json", {"before": before} if before else None)
			items = page["latest_posts"]
			if not isinstance(items, list):
				raise ConnectorError("discourse: /posts.json answered without a latest_posts list")
			ids = [int(item["id"]) for item in items]
			pending = max([pending or 0, *ids]) or None
			fresh = [item for item in items if not last_id or int(item["id"]) > last_id]
			posts += parse_posts(fresh, self.base_url, self.username, categories)
			reached_old = bool(last_id) and len(fresh) < len(items)
			before = min(ids) if ids else None
			# First run takes one page; an empty or short page means we reached the start of the forum.
			if not last_id or reached_old or not ids or before <= 1:
				return FetchResult(posts, encode_cursor({"last_id": max(last_id or 0, pending or 0) or None}), False)
		return FetchResult(posts, encode_cursor({"last_id": last_id, "before": before, "pending": pending}), True)

	def _category_filter(self) -> set[int] | None:
		"""Ids of the configured categories (ids or slugs) and of their subcategories; None: every category."""
		wanted = {item.lower() for item in split_list(self.config.get("category"))}
		if not wanted:
			return None
		if self._categories is None:
			ids: set[int] = set()
			listing = self._get("/categories.json", {"include_subcategories": "true"})
			for category in _all_categories(listing["category_list"]["categories"]):
				if str(category["id"]) in wanted or str(category.get("slug", "")).lower() in wanted:
					ids.add(int(category["id"]))
					ids.update(int(i) for i in category.get("subcategory_ids") or ())
					ids.update(int(sub["id"]) for sub in _all_categories(category.get("subcategory_list") or []))
			# An id we could not list (a restricted category) is still honoured as given.
			ids.update(int(item) for item in wanted if item.isdigit())
			if not ids:
				raise ConnectorError(f"discourse: no category matches {', '.join(sorted(wanted))}")
			self._categories = ids
		return self._categories

	# --- replies ---------------------------------------------------------------------------------------

	def reply_limit(self, private: bool) -> int:
		return int(self.config.get("reply_limit") or self.max_length)

	def send_reply(self, text: str, in_reply_to: SocialPost, private: bool = False, **kwargs: Any) -> list[SentReply]:
		self._check_length(text, "reply")
		return super().send_reply(text, in_reply_to, private, **kwargs)

	def publish(self, text: str, **kwargs: Any) -> list[SentReply]:
		self._check_length(text, "post")
		return super().publish(text, **kwargs)

	def _check_length(self, text: str, what: str) -> None:
		"""Checked before anything is sent: a 422 on a short text half-way through a chain helps nobody."""
		if MEASURES[self.measure](text.strip()) < self.min_length:
			raise ConnectorError(
				f"discourse: {what} too short; this forum requires at least {self.min_length} characters "
				"(site setting min_post_length)"
			)

	def _send_part(
		self, text: str, post: SocialPost, previous: SentReply | None, private: bool, idempotency_key: str | None
	) -> SentReply:
		"""``POST /posts.json`` https://docs.discourse.org/#tag/Posts/operation/createTopicPostPM"""
		ref = post.reply_ref
		if previous:
			topic_id, post_number = _topic_and_number(previous.url)
			payload: dict[str, Any] = {"topic_id": topic_id, "raw": text, "reply_to_post_number": post_number}
		elif private:
			username = ref.get("username") or post.author_handle
			if not username:
				raise ConnectorError("discourse: cannot send a private message: the post has no author username")
			payload = {
				"title": _pm_title(ref.get("topic_title") or "", self.config.get("private_title")),
				"raw": text,
				"archetype": "private_message",
				"target_recipients": username,
			}
		else:
			payload = {
				"topic_id": int(ref.get("topic_id") or post.thread_id),
				"raw": text,
				"reply_to_post_number": int(ref.get("post_number") or 1),
			}
		body = self._request("POST", "/posts.json", json=payload)
		return SentReply(str(body["id"]), post_url(self.base_url, body))

	def _publish_part(self, text: str, previous: SentReply | None, idempotency_key: str | None) -> SentReply:
		"""A post in the status topic, or a new topic; later parts answer the part before in the same topic."""
		payload: dict[str, Any] = {"raw": text}
		if previous is not None:
			topic_id, post_number = _topic_and_number(previous.url)
			payload.update(topic_id=topic_id, reply_to_post_number=post_number)
		elif self.status_topic is not None:
			payload["topic_id"] = self.status_topic
		else:
			payload.update(title=post_title(text, MAX_TITLE), category=self._broadcast_category())
		body = self._request("POST", "/posts.json", json=payload)
		return SentReply(str(body["id"]), post_url(self.base_url, body))

	def _broadcast_category(self) -> int:
		"""The id of the channel's first category (given as an id or a slug)."""
		first = split_list(self.config.get("category"))[0].lower()
		if first.isdigit():
			return int(first)
		listing = self._get("/categories.json", {"include_subcategories": "true"})
		for category in _all_categories(listing["category_list"]["categories"]):
			if str(category.get("slug", "")).lower() == first:
				return int(category["id"])
		raise ConnectorError(f"discourse: no category matches {first!r}; cannot open a status topic there")

	def verify_credentials(self) -> AccountInfo:
		"""``GET /session/current.json`` (404 when the key is not accepted)."""
		response = self.http.request(
			"GET", f"{self.base_url}/session/current.json", headers=self._headers(), ok_statuses=(404,)
		)
		if response.status_code == 404:
			raise AuthError("discourse: the API key was not accepted (no current user)", status=404)
		user = self.http.json(response)["current_user"]
		username = user["username"]
		return AccountInfo(str(user["id"]), username, user.get("name") or "", f"{self.base_url}/u/{username}")

	# --- HTTP ------------------------------------------------------------------------------------------

	def _headers(self) -> dict[str, str]:
		return {"Api-Key": str(self.config["api_key"]), "Api-Username": self.username, "Accept": "application/json"}

	def _get(self, path: str, params: dict[str, Any] | None) -> dict[str, Any]:
		return self._request("GET", path, params=params)

	def _request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
		response = self.http.request(method, self.base_url + path, headers=self._headers(), **kwargs)
		body = self.http.json(response)
		if not isinstance(body, dict):
			raise ConnectorError(f"discourse: {method} {path}: expected a JSON object, got {type(body).__name__}")
		if body.get("errors") and "id" not in body and "latest_posts" not in body:
			raise ConnectorError(f"discourse: {method} {path}: {_errors(body)}")
		return body

	def classify_error(self, response: requests.Response) -> ConnectorError | None:
		body = _json(response)
		status = response.status_code
		if status == 429:
			wait = _int((body.get("extras") or {}).get("wait_seconds"))
			if wait is None:
				return None  # Retry-After is read by the HTTP layer
			reset_at = datetime.now(timezone.utc) + timedelta(seconds=wait)
			return RateLimited(f"discourse: rate limited until {reset_at.isoformat()} ({_errors(body)})", reset_at=reset_at)
		if status in (401, 403) and body.get("errors"):
			return AuthError(f"discourse: {status} {_errors(body)} (check api_key, api_username and its permissions)", status=status)
		if 400 <= status < 500 and body.get("errors"):
			# 422 from validators: "Body is too similar to what you recently posted", "Body is too short"...
			return ConnectorError(f"discourse: the forum refused the request: {_errors(body)}", status=status)
		return None


# --- parsing (module level: the benchmark calls parse_payload directly) ----------------------------------


def parse_payload(payload: dict[str, Any], base_url: str = "https://forum.example.com") -> list[SocialPost]:
	"""Parse one page of ``GET /posts.json`` exactly as the connector does (no own-user or category filter)."""
	return parse_posts(payload["latest_posts"], base_url, None, None)


def parse_posts(
	items: list[dict[str, Any]], base_url: str, own_username: str | None, categories: set[int] | None
) -> list[SocialPost]:
	own = own_username.lower() if own_username else None
	link_prefix, protocol_prefix = f'href="{base_url}/', 'href="https://'
	posts = []
	for item in items:
		username = item.get("username") or ""
		if own and username.lower() == own:
			continue  # our own replies
		if item.get("post_type", REGULAR_POST) != REGULAR_POST or item.get("hidden") or item.get("deleted_at"):
			continue
		if item.get("user_deleted"):
			continue
		if categories is not None and item.get("category_id") not in categories:
			continue
		# cooked links are site-relative ("/t/...", "//cdn..."): make them absolute so they stay readable.
		cooked = (item.get("cooked") or "").replace('href="//', protocol_prefix).replace('href="/', link_prefix)
		post_id = str(item["id"])
		topic_id = str(item["topic_id"])
		posts.append(
			SocialPost(
				network="discourse",
				external_id=post_id,
				text=html_to_text(cooked),
				author_id=str(item.get("user_id") or ""),
				author_handle=username,
				author_name=item.get("name") or item.get("display_username") or username,
				created_at=parse_datetime(item["created_at"]),
				url=post_url(base_url, item),
				kind="mention",
				thread_id=topic_id,
				in_reply_to_id=None,
				raw=item,
				reply_ref={
					"topic_id": int(item["topic_id"]),
					"post_number": int(item["post_number"]),
					"username": username,
					"topic_title": item.get("topic_title") or "",
				},
			)
		)
	return posts


def post_url(base_url: str, item: dict[str, Any]) -> str:
	return f"{base_url}/t/{item.get('topic_slug') or '-'}/{item['topic_id']}/{item['post_number']}"


def _topic_and_number(url: str) -> tuple[int, int]:
	match = _POST_URL.search(url or "")
	if not match:
		raise ConnectorError(f"discourse: cannot continue the chain: {url!r} is not a post URL")
	return int(match.group(1)), int(match.group(2))


def _pm_title(topic_title: str, configured: Any) -> str:
	title = str(configured or "").strip() or (f"Re: {topic_title}" if topic_title else "A private answer to your post")
	if len(title) < MIN_TITLE:
		title = f"{title} (private answer)"
	return title[:255]


def _all_categories(categories: list[dict[str, Any]]) -> list[dict[str, Any]]:
	flat = []
	for category in categories:
		flat.append(category)
		flat += _all_categories(category.get("subcategory_list") or [])
	return flat


def _errors(body: dict[str, Any]) -> str:
	errors = body.get("errors")
	if isinstance(errors, list):
		return "; ".join(str(e) for e in errors)
	return str(errors or body.get("error") or body)[:300]


def _json(response: requests.Response) -> dict[str, Any]:
	try:
		body = response.json()
	except ValueError:
		return {}
	return body if isinstance(body, dict) else {}


def _topic_id(value: str) -> int | None:
	"""A topic as an admin gives it: ``88`` or a topic URL ``https://forum/t/status/88`` (or one of its posts)."""
	if value.isdigit():
		return int(value)
	match = _TOPIC_URL.search(value)
	return int(match.group(1)) if match else None


def _int(value: Any) -> int | None:
	try:
		return int(value) if value not in (None, "") else None
	except (TypeError, ValueError):
		return None
