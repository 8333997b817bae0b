"""Reddit connector: inbox (comment replies, username mentions), new posts of subreddits and search in;
comment replies out.

Endpoints (API reference: https://www.reddit.com/dev/api, OAuth: https://github.com/reddit-archive/reddit/wiki/OAuth2):

* ``POST https://www.reddit.com/api/v1/access_token`` (``grant_type=password``, HTTP basic auth with the app's
  client id and secret) https://github.com/reddit-archive/reddit/wiki/OAuth2-Quick-Start-Example
* ``GET https://oauth.reddit.com/message/inbox`` (or ``/message/unread``) and ``/message/mentions``
  https://www.reddit.com/dev/api#GET_message_{where}
* ``GET /r/{sub1+sub2}/new`` https://www.reddit.com/dev/api#GET_new
* ``GET /search`` or ``/r/{subs}/search`` (``q``, ``sort=new``) https://www.reddit.com/dev/api#GET_search
* ``POST /api/comment`` (``thing_id``, ``text``, ``api_type=json``) https://www.reddit.com/dev/api#POST_api_comment
* ``POST /api/submit`` (``sr``, ``kind=self``, ``title``, ``text``): a broadcast as a self post in config
  ``broadcast_target``; its later parts are comments, each on the part before  https://www.reddit.com/dev/api#POST_api_submit
* ``GET /api/v1/me`` https://www.reddit.com/dev/api#GET_api_v1_me

Traps handled: the bearer token is kept in ``saved_state`` with its expiry and reused (a new one only when it
expired or is refused); listings are read newest first and deduplicated by fullname against a high-water
mark, never with ``before=`` (a deleted anchor makes it return nothing); ``raw_json=1`` so bodies are not
HTML-escaped (they are still sanitised); ``X-Ratelimit-Reset`` is seconds until the reset (read by the HTTP
layer); ``/api/comment`` answers 200 with ``json.errors`` (e.g. ``RATELIMIT``), which we check; a unique
``User-Agent`` is required. Private messages moved to Reddit Chat, which has no API: private replies raise a
clear ConnectorError.
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

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
	split_list,
)
from social_itsm_app.connectors.errors import AuthError, ConnectorError, RateLimited
from social_itsm_app.connectors.newest_first import read_newest_first
from social_itsm_app.connectors.text import clean_text, post_title

TOKEN_URL = "https://www.reddit.com/api/v1/access_token"
API_URL = "https://oauth.reddit.com"
WEB_URL = "https://www.reddit.com"
# A token is renewed this long before it expires, so a request never races the expiry.
EXPIRY_MARGIN = 120
# Listings are ordered by creation time; posts can surface a little late (spam filter, replication).
OVERLAP_SECONDS = 600
INBOX_SOURCES = ("inbox", "unread", "off")
_CONTEXT_LINK = re.compile(r"/comments/([a-z0-9]+)/")
MAX_TITLE = 300  # Reddit's limit for a post title
_WAIT = re.compile(r"(\d+)\s*(second|minute|hour)", re.IGNORECASE)


class RedditConnector(Connector):
	network = "reddit"
	rotates_tokens = True
	required_keys = ("client_id", "client_secret", "username", "password", "user_agent")
	secret_keys = ("client_secret", "password", "access_token")
	public_limit = 10_000
	private_limit = None  # private messages moved to Reddit Chat, which has no API
	can_publish = True
	publish_note = (
		"Submits a self post to the subreddit set in \"Broadcast to\" (u_<username> is the account's own "
		"profile); moderators of most subreddits remove such posts unless they allow them, so agree with them "
		"first. Parts beyond 10,000 characters follow as comments."
	)
	measure = "chars"
	max_pages = 5

	def __init__(self, config, session: requests.Session | None = None):
		super().__init__(config, session)
		self.api_url = str(self.config.get("api_url") or API_URL).rstrip("/")
		self.token_url = str(self.config.get("token_url") or TOKEN_URL)
		self.page_size = config_int(self.config.get("page_size"), 100, 1, 100)
		self.subreddits = [_subreddit(name) for name in split_list(self.config.get("subreddits"))]
		self.query = str(self.config.get("query") or "").strip()
		self.inbox = str(self.config.get("inbox") or "inbox").strip().lower()
		if self.inbox not in INBOX_SOURCES:
			raise ConnectorError(f"reddit: inbox must be one of {', '.join(INBOX_SOURCES)}, not {self.inbox!r}")
		self.mentions = config_flag(self.config.get("mentions", True))
		self.access_token: str | None = self.config.get("access_token") or None
		self.expires_at = float(self.config.get("token_expires_at") or 0)
		self._renewed = False
		target = str(self.config.get("broadcast_target") or "").strip()
		self.broadcast_subreddit = _subreddit(target) if target else None
		if not self.broadcast_subreddit:
			self.can_publish = False
			self.publish_note = (
				"reddit: set \"Broadcast to\" to a subreddit whose moderators allow status posts (or u_<username> "
				"for the account's own profile); Reddit has no timeline of its own to post to"
			)

	# --- token -----------------------------------------------------------------------------------------

	def _token(self) -> str:
		if not self.access_token or self.expires_at < time.time() + EXPIRY_MARGIN:
			self._renew_token()
		return str(self.access_token)

	def _renew_token(self) -> None:
		"""Password grant https://github.com/reddit-archive/reddit/wiki/OAuth2-Quick-Start-Example"""
		form = {"grant_type": "password", "username": self.config["username"], "password": self.config["password"]}
		response = self.http.request(
			"POST",
			self.token_url,
			data=form,
			auth=(str(self.config["client_id"]), str(self.config["client_secret"])),
			idempotent=True,  # asking for a token twice is harmless
		)
		data = self.http.json(response)
		if not isinstance(data, dict) or data.get("error") or not data.get("access_token"):
			error = data.get("error") if isinstance(data, dict) else "no token"
			# Reddit answers a wrong password with 200 {"error": "invalid_grant"}.
			raise AuthError(
				f"reddit: token request refused ({error}): check username, password, client id and secret "
				"(accounts with two-factor authentication cannot use the password grant)",
				status=response.status_code,
			)
		self.access_token = str(data["access_token"])
		self.expires_at = time.time() + float(data.get("expires_in") or 3600)
		self.http.add_secret(self.access_token)
		self._renewed = True
		self._save_state(access_token=self.access_token, token_expires_at=self.expires_at)

	def _api(self, method: str, path: str, *, params: Any = None, data: Any = None) -> dict[str, Any]:
		"""A call to oauth.reddit.com; a refused stored token is replaced once and the call repeated."""
		try:
			return self._call(method, path, params, data, self._token())
		except AuthError as exc:
			if self._renewed or exc.status != 401:
				raise
		self._renew_token()
		return self._call(method, path, params, data, str(self.access_token))

	def _call(self, method: str, path: str, params: Any, data: Any, token: str) -> dict[str, Any]:
		response = self.http.request(
			method, self.api_url + path, params=params, data=data, headers={"Authorization": f"bearer {token}"}
		)
		body = self.http.json(response)
		if not isinstance(body, dict):
			raise ConnectorError(f"reddit: {path} returned {type(body).__name__}, expected an object")
		return body

	def classify_error(self, response: requests.Response) -> ConnectorError | None:
		"""A 403 with a ``reason`` is a private/quarantined/banned subreddit, not refused credentials."""
		if response.status_code != 403:
			return None
		try:
			reason = response.json().get("reason")
		except (ValueError, AttributeError):
			return None
		if reason:
			return ConnectorError(f"reddit: {response.url.split('?')[0]} is not readable ({reason})", status=403)
		return None

	def verify_credentials(self) -> AccountInfo:
		"""``GET /api/v1/me`` https://www.reddit.com/dev/api#GET_api_v1_me"""
		me = self._api("GET", "/api/v1/me")
		name = str(me["name"])
		return AccountInfo(f"t2_{me['id']}", name, name, f"{WEB_URL}/user/{name}")

	# --- fetch -----------------------------------------------------------------------------------------

	def _fetch(self, state: dict[str, Any]) -> FetchResult:
		posts: list[SocialPost] = []
		new_state: dict[str, Any] = {}
		has_more = False
		me = str(self.config["username"]).lower()
		for name, path, params, kind in self._streams():
			things, new_state[name], more = read_newest_first(
				lambda after, path=path, params=params: self._listing(path, params, after),
				_thing_key,
				state.get(name) or {},
				max_pages=self.max_pages,
				overlap=OVERLAP_SECONDS,
			)
			# Own posts come back in subreddit listings and searches; never make tickets of them.
			posts += [p for p in parse_things(things, kind) if p.author_handle.lower() != me]
			has_more = has_more or more
		return FetchResult(posts, encode_cursor(new_state), has_more)

	def _streams(self) -> list[tuple[str, str, dict[str, Any], str | None]]:
		"""(cursor key, path, extra params, kind or None for "by message type"); mentions first, so an item
		in both keeps its kind "mention" when deduplicated."""
		streams: list[tuple[str, str, dict[str, Any], str | None]] = []
		if self.mentions:
			streams.append(("mentions", "/message/mentions", {}, "mention"))
		if self.inbox != "off":
			streams.append(("inbox", f"/message/{self.inbox}", {}, None))
		subs = "+".join(quote(sub, safe="") for sub in self.subreddits)
		if subs:
			streams.append(("subreddits", f"/r/{subs}/new", {}, "search"))
		if self.query:
			search = {"q": self.query, "sort": "new", "type": "link"}
			if subs:
				streams.append(("search", f"/r/{subs}/search", {**search, "restrict_sr": "1"}, "search"))
			else:
				streams.append(("search", "/search", search, "search"))
		return streams

	def _listing(self, path: str, params: dict[str, Any], after: str | None) -> tuple[list[dict[str, Any]], str | None]:
		"""One page of a listing (``after`` pages to older items) https://www.reddit.com/dev/api#listings"""
		query = {**params, "limit": self.page_size, "raw_json": 1}
		if after:
			query["after"] = after
		listing = self._api("GET", path, params=query)
		return listing_children(listing), listing["data"].get("after") or None

	# --- replies ---------------------------------------------------------------------------------------

	def _send_part(
		self, text: str, post: SocialPost, previous: SentReply | None, private: bool, idempotency_key: str | None
	) -> SentReply:
		"""A comment on the previous part, else on the post answered."""
		thing_id = previous.external_id if previous else str(post.reply_ref.get("thing_id") or post.external_id)
		return self._comment(thing_id, text)

	def _publish_part(self, text: str, previous: SentReply | None, idempotency_key: str | None) -> SentReply:
		"""A self post (``POST /api/submit``); later parts are comments, each on the part before."""
		if previous is not None:
			return self._comment(previous.external_id, text)
		form = {
			"sr": self.broadcast_subreddit,
			"kind": "self",
			"title": post_title(text, MAX_TITLE),
			"text": text,
			"api_type": "json",
			"resubmit": "true",  # a later update may repeat an earlier title
			"sendreplies": "true",  # answers reach the inbox, which fetch reads: people reply "still down here"
		}
		data = self._checked("submit", self._api("POST", "/api/submit", data=form))
		return SentReply(str(data["name"]), str(data.get("url") or ""))

	def _comment(self, thing_id: str, text: str) -> SentReply:
		"""``POST /api/comment`` https://www.reddit.com/dev/api#POST_api_comment"""
		answer = self._api("POST", "/api/comment", data={"thing_id": thing_id, "text": text, "api_type": "json"})
		comment = self._checked("comment", answer)["things"][0]["data"]
		return SentReply(str(comment["name"]), WEB_URL + str(comment.get("permalink") or ""))

	def _checked(self, what: str, answer: dict[str, Any]) -> dict[str, Any]:
		"""``api_type=json`` answers 200 with ``json.errors`` when Reddit refuses; else ``json.data``."""
		result = answer.get("json")
		if not isinstance(result, dict):
			raise ConnectorError(f"reddit: unexpected answer to the {what}: {str(answer)[:200]}")
		if result.get("errors"):
			raise comment_error(result, what)
		return result["data"]


def comment_error(result: dict[str, Any], what: str = "comment") -> ConnectorError:
	"""``json.errors`` is a list of ``[CODE, message, field]``; ``RATELIMIT`` says how long to wait."""
	errors = [error for error in result["errors"] if isinstance(error, list | tuple) and error]
	codes = {str(error[0]) for error in errors}
	message = "; ".join(": ".join(str(part) for part in error[:2]) for error in errors) or str(result["errors"])
	if "RATELIMIT" in codes:
		now = datetime.now(timezone.utc)
		wait = result.get("ratelimit")
		if not isinstance(wait, int | float):
			found = _WAIT.search(message)
			unit = {"second": 1, "minute": 60, "hour": 3600}[found.group(2).lower()] if found else 60
			wait = int(found.group(1)) * unit if found else 60
		return RateLimited(f"reddit: {what} refused: {message}", reset_at=now + timedelta(seconds=float(wait)), status=200)
	return ConnectorError(f"reddit: {what} refused: {message}", status=200)


# --- parsing (module level: the benchmark calls parse_payload directly) ----------------------------------


def parse_payload(payload: dict[str, Any]) -> list[SocialPost]:
	"""Parse one inbox listing page (``{"kind": "Listing", "data": {"children": [...]}}``) as the connector does."""
	return parse_things(listing_children(payload), None)


def listing_children(listing: dict[str, Any]) -> list[dict[str, Any]]:
	children = listing["data"]["children"]
	if not isinstance(children, list) or any(not isinstance(child, dict) for child in children):
		raise ConnectorError("reddit: the listing has no list of children")
	return children


def parse_things(children: list[dict[str, Any]], kind: str | None) -> list[SocialPost]:
	posts = []
	for child in children:
		post = _thing_post(child["kind"], child["data"], kind)
		if post is not None:
			posts.append(post)
	return posts


def _thing_post(prefix: str, data: dict[str, Any], kind: str | None) -> SocialPost | None:
	"""t1 comment (listing or inbox), t3 link post, t4 private message."""
	if prefix == "t3":
		text = _post_text(data)
		path = data.get("permalink") or ""
		thread = data["name"]
	elif prefix == "t1":
		text = clean_text(data.get("body"))
		path = data.get("context") or data.get("permalink") or ""
		thread = data.get("link_id") or _context_link(path)
	elif prefix == "t4":
		text = clean_text(f"{data.get('subject') or ''}\n\n{data.get('body') or ''}")
		path = f"/message/messages/{data['id']}"
		thread = data.get("first_message_name") or data["name"]
	else:
		return None  # t2 accounts, t5 subreddits, "more" stubs
	author = str(data.get("author") or "[deleted]")
	name = str(data["name"])
	parent = data.get("parent_id")
	return SocialPost(
		network="reddit",
		external_id=name,
		text=text,
		author_id=str(data.get("author_fullname") or author),
		author_handle=author,
		author_name=author,
		created_at=parse_datetime(float(data["created_utc"])),
		url=WEB_URL + path if path.startswith("/") else path,
		kind=kind or _inbox_kind(prefix, data),
		thread_id=str(thread) if thread else name,
		in_reply_to_id=str(parent) if parent else None,
		language=None,
		raw=data,
		reply_ref={"thing_id": name, "subreddit": data.get("subreddit") or None},
	)


def _post_text(data: dict[str, Any]) -> str:
	text = clean_text(data.get("title"))
	body = clean_text(data.get("selftext"))
	if body:
		text = f"{text}\n\n{body}"
	link = data.get("url_overridden_by_dest") or ("" if data.get("is_self") else data.get("url"))
	if link and str(link).startswith(("http://", "https://")):
		text = f"{text}\n{link}"
	return text


def _inbox_kind(prefix: str, data: dict[str, Any]) -> str:
	if prefix == "t4":
		return "direct"
	return "mention" if data.get("type") == "username_mention" else "comment"


def _context_link(path: str) -> str | None:
	found = _CONTEXT_LINK.search(path)
	return f"t3_{found.group(1)}" if found else None


def _thing_key(child: dict[str, Any]) -> tuple[str, float]:
	data = child["data"]
	return str(data["name"]), float(data["created_utc"])


def _subreddit(name: str) -> str:
	return name.strip().removeprefix("/").removeprefix("r/").strip("/")


__all__ = ["RedditConnector", "comment_error", "parse_payload"]
