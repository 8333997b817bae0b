"""Reddit connector (script app): inbox replies and mentions, new posts of subreddits, a search; comment replies.

Endpoints (https://www.reddit.com/dev/api/; API base ``https://oauth.reddit.com``, overridable with ``base_url``;
every request carries the configured unique ``User-Agent``, https://github.com/reddit-archive/reddit/wiki/API):

* ``POST https://www.reddit.com/api/v1/access_token`` (basic auth client_id:client_secret,
  ``grant_type=password``)  https://github.com/reddit-archive/reddit/wiki/OAuth2#application-only-oauth
* ``GET /message/inbox`` (comment and post replies, username mentions, old private messages)
  https://www.reddit.com/dev/api/#GET_message_{where}
* ``GET /r/{subreddit}/new`` for each configured subreddit  https://www.reddit.com/dev/api/#GET_new
* ``GET /search?q=...&sort=new`` when ``query`` is set  https://www.reddit.com/dev/api/#GET_search
* ``POST /api/comment`` (``thing_id``, ``text``, ``api_type=json``)  https://www.reddit.com/dev/api/#POST_api_comment
* ``GET /api/v1/me``  https://www.reddit.com/dev/api/#GET_api_v1_me

Cursor: listings run newest first and page back with ``after=<fullname>``. ``before=<fullname>`` is useless as
a cursor (a deleted anchor returns an empty listing), so each stream keeps a :class:`SeenWindow`: the newest
``created_utc`` seen and the fullnames seen near it. When ``max_pages`` stops us before reaching that floor,
the old floor and ``after`` are kept and the next call continues from there (from the top again if ``after``
has since vanished; the seen fullnames keep that free of duplicates).

Traps handled: the bearer token (about a day) is reused across runs through ``saved_state`` and fetched again
once on a 401; ``X-Ratelimit-Reset`` counts seconds from now (HTTP layer); we stop paging when
``X-Ratelimit-Remaining`` reaches 0; a 200 from ``/api/comment`` may still carry ``json.errors``
(``RATELIMIT`` with ``json.ratelimit`` seconds, ``THREAD_LOCKED``...); the password grant answers 200 with
``{"error": "invalid_grant"}`` for a wrong password; private messages moved to Reddit Chat, which has no API:
old ``t4`` messages are read as ``direct`` posts but cannot be answered.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

import requests

from social_itsm_app.connectors.base import (
	AccountInfo,
	AuthError,
	Connector,
	ConnectorError,
	FetchResult,
	RateLimited,
	SentReply,
	SocialPost,
	config_flag,
	config_int,
	encode_cursor,
	parse_datetime,
	split_list,
)
from social_itsm_app.connectors.seen import SeenWindow
from social_itsm_app.connectors.text import clean_text, link_text

BASE_URL = "https://oauth.reddit.com"
TOKEN_URL = "https://www.reddit.com/api/v1/access_token"
WEB_URL = "https://www.reddit.com"
# Refresh a little before the stated expiry so a token never dies between our check and Reddit's.
EXPIRY_MARGIN = timedelta(seconds=60)
# /new shows a post approved by a moderator (or released by the spam filter) with its original time:
# re-read this far below the newest time; the seen fullnames make the overlap free of duplicates.
OVERLAP_SECONDS = 3600
SEEN_LIMIT = 300
_INBOX_KINDS = {"username_mention": "mention", "comment_reply": "comment", "post_reply": "comment"}
# A comment's context: /r/{sub}/comments/{post id}/{slug}/{comment id}/?context=3
_CONTEXT = re.compile(r"/comments/([a-z0-9]+)/")
_MARKDOWN_LINK = re.compile(r"\[([^\]\n]+)\]\((https?://[^)\s]+)\)")


class RedditConnector(Connector):
	network = "reddit"
	required_keys = ("client_id", "client_secret", "username", "password", "user_agent")
	secret_keys = ("client_id", "client_secret", "password", "access_token")
	public_limit = 10_000
	private_limit = None  # private messages moved to Reddit Chat, which has no API
	measure = "chars"
	max_pages = 5

	def __init__(self, config, session: requests.Session | None = None):
		super().__init__(config, session)
		self.base_url = str(self.config.get("base_url") or BASE_URL).rstrip("/")
		self.token_url = str(self.config.get("token_url") or TOKEN_URL)
		self.username = str(self.config["username"]).removeprefix("u/").removeprefix("/u/")
		self.page_size = config_int(self.config.get("page_size"), 100, 1, 100)
		self.subreddits = [s.removeprefix("/").removeprefix("r/") for s in split_list(self.config.get("subreddits"))]
		self._refreshed = False
		self._exhausted = False  # X-Ratelimit-Remaining reached 0: read no further page this call

	# --- fetch -----------------------------------------------------------------------------------------

	def _fetch(self, state: dict[str, Any]) -> FetchResult:
		streams: list[tuple[str, str, dict[str, Any]]] = [("inbox", "/message/inbox", {})]
		streams += [(f"r/{sub}", f"/r/{quote(sub, safe='+')}/new", {}) for sub in self.subreddits]
		if self.config.get("query"):
			streams.append(("search", "/search", {"q": str(self.config["query"]), "sort": "new", "type": "link"}))
		posts: list[SocialPost] = []
		new_state: dict[str, Any] = {}
		has_more = False
		self._exhausted = False
		for name, path, params in streams:
			sub = state.get(name) or {}
			if self._exhausted:
				new_state[name] = sub  # untouched: read next time
				has_more = True
				continue
			found, new_state[name], more = self._read_listing(path, params, sub, "inbox" if name == "inbox" else "search")
			posts += found
			has_more = has_more or more
		if not config_flag(self.config.get("listen_direct_messages", True)):
			posts = [post for post in posts if post.kind != "direct"]
		own = self.username.lower()
		posts = [post for post in posts if post.author_handle.lower() != own]  # our own replies and posts
		return FetchResult(posts, encode_cursor(new_state), has_more)

	def _read_listing(
		self, path: str, params: dict[str, Any], sub: dict[str, Any], stream: str
	) -> tuple[list[SocialPost], dict[str, Any], bool]:
		"""Page one newest-first Listing back until it reaches the stream's floor (see the module docstring)."""
		window = SeenWindow(sub.get("window"), overlap=OVERLAP_SECONDS, limit=SEEN_LIMIT)
		first_run = window.first_run
		after = sub.get("after")
		posts: list[SocialPost] = []
		for _ in range(self.max_pages):
			query = {**params, "limit": self.page_size, "raw_json": 1}
			if after:
				query["after"] = after
			data = _listing(self._get(path, query), path)
			children = data["children"]
			if not children and after and sub.get("after") == after:
				after = None  # the stored anchor was deleted meanwhile: start again from the top
				continue
			reached_floor = not children
			for post in parse_children(children, stream):
				moment = post.created_at.timestamp()
				if window.is_new(post.external_id, moment):
					posts.append(post)
				window.add(post.external_id, moment)
				if window.floor is not None and moment < window.floor:
					reached_floor = True
			after = data.get("after")
			if first_run or reached_floor or not after:
				return posts, {"window": window.state()}, False
			if self._exhausted:
				break
		return posts, {"window": window.state(keep_floor=True), "after": after}, True

	# --- replies ---------------------------------------------------------------------------------------

	def send_reply(self, text: str, in_reply_to: SocialPost, private: bool = False, **kwargs: Any) -> list[SentReply]:
		if in_reply_to.kind == "direct" or private:
			# Said plainly, before the base class's generic "answer publicly instead", which a PM cannot be.
			raise ConnectorError(
				"reddit: private messages moved to Reddit Chat, which has no API; answer this person on reddit.com"
				if in_reply_to.kind == "direct"
				else "reddit: Reddit has no private replies through the API any more; answer publicly instead"
			)
		return super().send_reply(text, in_reply_to, private, **kwargs)

	def _send_part(
		self, text: str, post: SocialPost, previous: SentReply | None, private: bool, idempotency_key: str | None
	) -> SentReply:
		"""``POST /api/comment`` https://www.reddit.com/dev/api/#POST_api_comment"""
		thing_id = previous.external_id if previous else str(post.reply_ref.get("fullname") or post.external_id)
		if not thing_id.startswith(("t1_", "t3_")):
			raise ConnectorError(f"reddit: {thing_id} cannot be answered with a comment")
		response = self._request("POST", "/api/comment", data={"thing_id": thing_id, "text": text, "api_type": "json"})
		body = self.http.json(response)
		result = body.get("json") if isinstance(body, dict) else None
		if not isinstance(result, dict):
			raise ConnectorError(f"reddit: /api/comment answered without a json object: {str(body)[:200]}")
		if result.get("errors"):
			raise comment_error(result)
		comment = result["data"]["things"][0]["data"]
		return SentReply(str(comment["name"]), _comment_url(comment))

	def verify_credentials(self) -> AccountInfo:
		"""``GET /api/v1/me`` https://www.reddit.com/dev/api/#GET_api_v1_me"""
		me = self.http.json(self._get("/api/v1/me", {"raw_json": 1}))
		name = str(me["name"])
		return AccountInfo(f"t2_{me['id']}", name, name, f"{WEB_URL}/user/{name}")

	# --- HTTP and the bearer token ---------------------------------------------------------------------

	def _get(self, path: str, params: dict[str, Any]) -> requests.Response:
		return self._request("GET", path, params=params)

	def _request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
		if not self._token_valid():
			self.login()
		try:
			response = self._send(method, path, **kwargs)
		except AuthError as exc:
			# A 401 means the request was refused before doing anything, so repeating it (even a POST) is safe.
			if exc.status != 401 or self._refreshed:
				raise
			self.login()
			response = self._send(method, path, **kwargs)
		remaining = response.headers.get("X-Ratelimit-Remaining")
		if remaining is not None and _float(remaining) < 1:
			self._exhausted = True
		return response

	def _send(self, method: str, path: str, **kwargs: Any) -> requests.Response:
		headers = {"Authorization": f"bearer {self.config['access_token']}"}
		return self.http.request(method, self.base_url + path, headers=headers, **kwargs)

	def _token_valid(self) -> bool:
		if not self.config.get("access_token"):
			return False
		expires = self.config.get("token_expires_at")
		if not expires:
			return True  # no expiry known: use it until Reddit says 401
		try:
			moment = parse_datetime(expires)
		except (TypeError, ValueError):
			return False
		return datetime.now(timezone.utc) < moment - EXPIRY_MARGIN

	def login(self) -> None:
		"""Password grant for a script app: https://github.com/reddit-archive/reddit/wiki/OAuth2"""
		form = {"grant_type": "password", "username": self.username, "password": str(self.config["password"])}
		auth = (str(self.config["client_id"]), str(self.config["client_secret"]))
		# Asking for a token twice is harmless, so a 5xx or a timeout may be retried.
		response = self.http.request("POST", self.token_url, data=form, auth=auth, idempotent=True, ok_statuses=(400,))
		body = self.http.json(response)
		if not isinstance(body, dict) or not body.get("access_token"):
			error = body.get("error") if isinstance(body, dict) else body
			raise AuthError(
				f"reddit: login refused ({error}); check username and password (accounts with two-factor "
				"authentication cannot use a script app) and client_id/client_secret",
				status=response.status_code,
			)
		self._refreshed = self._refreshed or bool(self.config.get("access_token"))
		expires = datetime.now(timezone.utc) + timedelta(seconds=config_int(body.get("expires_in"), 3600, 60))
		state = {"access_token": str(body["access_token"]), "token_expires_at": expires.isoformat(timespec="seconds")}
		self.http.add_secret(state["access_token"])
		self.config.update(state)
		self.saved_state.update(state)

	def classify_error(self, response: requests.Response) -> ConnectorError | None:
		if response.status_code not in (403, 404):
			return None
		try:
			body = response.json()
		except ValueError:
			return None
		reason = body.get("reason") if isinstance(body, dict) else None
		if reason:
			# A private, quarantined or banned subreddit: a configuration problem, not the credentials.
			return ConnectorError(f"reddit: no access to {_short_path(response.url)}: {reason}", status=response.status_code)
		return None


# --- parsing (module level: the benchmark calls parse_payload directly) ----------------------------------


def parse_payload(payload: dict[str, Any]) -> list[SocialPost]:
	"""Parse one page of ``GET /message/inbox`` (a Listing) exactly as the connector does."""
	return parse_children(_listing(payload, "/message/inbox")["children"], "inbox")


def parse_children(children: list[dict[str, Any]], stream: str) -> list[SocialPost]:
	posts = []
	for child in children:
		kind, data = child["kind"], child["data"]
		if kind == "t1":
			posts.append(_comment_post(data, stream))
		elif kind == "t3":
			posts.append(_link_post(data))
		elif kind == "t4":
			posts.append(_message_post(data))
		# t2 accounts, t5 subreddits (a search for a missing subreddit lands there): not posts
	return posts


def _comment_post(data: dict[str, Any], stream: str) -> SocialPost:
	"""A comment from the inbox (reply or username mention): ``context`` links to it."""
	fullname = data["name"]
	context = data.get("context") or data.get("permalink") or ""
	found = _CONTEXT.search(context)
	link_id = data.get("link_id") or (f"t3_{found.group(1)}" if found else None)
	kind = _INBOX_KINDS.get(data.get("type") or "", "mention" if "mention" in (data.get("subject") or "") else "comment")
	return _post(
		data,
		fullname,
		_text(data.get("body")),
		url=f"{WEB_URL}{context.split('?', 1)[0]}" if context else "",
		kind=kind if stream == "inbox" else "search",
		thread_id=link_id,
		in_reply_to_id=data.get("parent_id"),
	)


def _link_post(data: dict[str, Any]) -> SocialPost:
	"""A post (``t3``) from a subreddit or a search: title, self text, and the link it shares."""
	text = clean_text(data.get("title"))
	selftext = _text(data.get("selftext"))
	if selftext:
		text = f"{text}\n\n{selftext}"
	url = data.get("url") or ""
	if not data.get("is_self") and url.startswith(("http://", "https://")) and url not in text:
		text = f"{text}\n{url}"
	return _post(
		data,
		data["name"],
		text,
		url=f"{WEB_URL}{data['permalink']}" if data.get("permalink") else "",
		kind="search",
		thread_id=data["name"],
		in_reply_to_id=None,
	)


def _message_post(data: dict[str, Any]) -> SocialPost:
	"""An old private message (``t4``): readable, not answerable (Reddit Chat has no API)."""
	subject = clean_text(data.get("subject"))
	body = _text(data.get("body"))
	return _post(
		data,
		data["name"],
		f"{subject}\n\n{body}" if subject else body,
		url=f"{WEB_URL}/message/messages/{data['id']}",
		kind="direct",
		thread_id=data.get("first_message_name") or data["name"],
		in_reply_to_id=data.get("parent_id"),
	)


def _post(data: dict[str, Any], fullname: str, text: str, *, url: str, kind: str, thread_id, in_reply_to_id) -> SocialPost:
	author = data.get("author") or "[deleted]"
	return SocialPost(
		network="reddit",
		external_id=fullname,
		text=text,
		author_id=data.get("author_fullname") or "",
		author_handle=author,
		author_name=author,
		created_at=datetime.fromtimestamp(float(data["created_utc"]), tz=timezone.utc),
		url=url,
		kind=kind,
		thread_id=thread_id,
		in_reply_to_id=in_reply_to_id,
		language=None,  # Reddit does not say
		raw=data,
		reply_ref={"fullname": fullname, "subreddit": data.get("subreddit") or ""},
	)


def _text(markdown: str | None) -> str:
	"""Reddit markdown (with &amp; &lt; &gt; escaped) to plain text; ``[label](url)`` becomes ``label (url)``."""
	if not markdown:
		return ""
	if "](" in markdown:
		markdown = _MARKDOWN_LINK.sub(lambda m: link_text(m.group(1), m.group(2)), markdown)
	return clean_text(markdown)


def comment_error(result: dict[str, Any]) -> ConnectorError:
	"""``json.errors`` of ``/api/comment``: a list of ``[code, message, field]``."""
	errors = [e for e in result["errors"] if isinstance(e, list | tuple) and e]
	codes = {str(e[0]) for e in errors}
	message = "; ".join(f"{e[0]}: {e[1] if len(e) > 1 else ''}".strip() for e in errors) or str(result["errors"])
	if "RATELIMIT" in codes:
		wait = _float(result.get("ratelimit")) if result.get("ratelimit") is not None else 600.0
		reset_at = datetime.now(timezone.utc) + timedelta(seconds=max(wait, 1.0))
		return RateLimited(f"reddit: {message}", reset_at=reset_at, status=200)
	return ConnectorError(f"reddit: the comment was refused: {message}", status=200)


def _comment_url(comment: dict[str, Any]) -> str:
	if comment.get("permalink"):
		return f"{WEB_URL}{comment['permalink']}"
	link = str(comment.get("link_id") or "").removeprefix("t3_")
	return f"{WEB_URL}/comments/{link}/_/{comment['id']}/" if link else ""


def _listing(body: Any, path: str) -> dict[str, Any]:
	if not isinstance(body, dict) or body.get("kind") != "Listing" or not isinstance(body.get("data"), dict):
		raise ConnectorError(f"reddit: {path} did not answer with a Listing: {str(body)[:200]}")
	data = body["data"]
	if not isinstance(data.get("children"), list):
		raise ConnectorError(f"reddit: {path} answered a Listing without children")
	return data


def _float(value: Any) -> float:
	try:
		return float(value)
	except (TypeError, ValueError):
		return 0.0


def _short_path(url: str | None) -> str:
	return (url or "").split("?", 1)[0].removeprefix(BASE_URL) or "this listing"


__all__ = ["RedditConnector", "comment_error", "parse_payload"]
