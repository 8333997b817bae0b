"""X (Twitter) API v2 connector: mentions, an optional recent search and DMs in; replies and DMs out.

Endpoints (base ``https://api.x.com``, overridable with ``base_url``):

* ``GET /2/users/:id/mentions`` (``since_id``, ``pagination_token``)
  https://docs.x.com/x-api/posts/get-mentions
* ``GET /2/tweets/search/recent`` (``since_id``, ``next_token``), only when ``search_query`` is set
  https://docs.x.com/x-api/posts/search-recent-posts
* ``GET /2/dm_events`` (newest first, ``pagination_token``; no ``since_id``, so we stop at the last seen id)
  https://docs.x.com/x-api/direct-messages/get-dm-events
* ``POST /2/tweets`` with ``reply.in_reply_to_tweet_id``  https://docs.x.com/x-api/posts/create-post
  (a broadcast: without ``reply`` for its first part, on the account's own timeline)
* ``POST /2/dm_conversations/with/:participant_id/messages``
  https://docs.x.com/x-api/direct-messages/create-dm-message-by-participant-id
* ``POST /2/oauth2/token`` (refresh an OAuth 2.0 user token: 2 h lifetime, single-use refresh tokens)
  https://docs.x.com/fundamentals/authentication/oauth-2-0/authorization-code
* ``GET /2/users/me``  https://docs.x.com/x-api/users/get-my-user

Traps handled: ``text`` carries HTML entities (``&amp;``) and t.co links (expanded from ``entities.urls``);
rate-limit resets are epoch seconds (``x-rate-limit-reset``, and the 24-hour posting cap in
``x-user-limit-24hour-reset``); a post containing a URL costs far more, so URLs in replies are defanged unless
``allow_links_in_replies`` is set; some 403s (duplicate text, reply not allowed) are not credential problems.
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
	config_flag,
	config_int,
	encode_cursor,
	id_order,
	newest_id,
	parse_datetime,
)
from social_itsm_app.connectors.errors import AuthError, ConnectorError, RateLimited
from social_itsm_app.connectors.text import clean_text

BASE_URL = "https://api.x.com"
TWEET_FIELDS = "created_at,author_id,conversation_id,in_reply_to_user_id,referenced_tweets,entities,lang,note_tweet"
DM_FIELDS = "id,text,event_type,created_at,sender_id,dm_conversation_id,referenced_tweets"
USER_FIELDS = "username,name"
# Refresh a little before the stated expiry so a token never dies between our check and X's.
EXPIRY_MARGIN = timedelta(seconds=60)
# 403 answers that mean "this action is refused", not "your credentials are bad".
_REFUSED_ACTION = ("duplicate", "not allowed", "cannot send", "not permitted to send", "cannot be sent")

# Defanging URLs so X does not bill a reply as a "post with URL": schemes, www. and bare common domains.
_SCHEME_URL = re.compile(r"\bhttps?://([^\s/?#]+)(\S*)", re.IGNORECASE)
_BARE_DOMAIN = re.compile(
	r"(?<![@\w.\[])((?:www\.)?(?:[a-z0-9-]+\.)+(?:com|org|net|io|co|app|dev|ly|me|info|biz|us|uk|de|fr|eu|ai|gg|tv|"
	r"xyz|link|site|online|help|support|page|cloud|tech|gl|to|be|it|es|nl|ch|at|ca|in|jp))\b(?![\w@-])",
	re.IGNORECASE,
)


class XConnector(Connector):
	network = "x"
	rotates_tokens = True
	required_keys = ("bearer_token", "user_id")
	secret_keys = ("bearer_token", "refresh_token", "client_secret")
	public_limit = 280
	private_limit = 10_000  # DM text limit
	can_publish = True
	publish_note = (
		"Posts on this account's own X timeline (280 weighted characters a part; a longer text becomes a numbered "
		"thread). Links are defanged unless \"Allow links in replies\" is on, as X bills posts with links higher; "
		"the token needs the tweet.write scope."
	)
	measure = "x"
	max_pages = 5

	def __init__(self, config, session: requests.Session | None = None):
		super().__init__(config, session)
		self.base_url = str(self.config.get("base_url") or BASE_URL).rstrip("/")
		self.user_id = str(self.config["user_id"])
		self.page_size = config_int(self.config.get("page_size"), 100, 10, 100)
		# /2/dm_events has no since_id: every poll re-reads (and is billed for) its first page, so keep it small.
		self.dm_page_size = config_int(self.config.get("dm_page_size"), 20, 1, 100)
		self._refreshed = False

	# --- fetch -----------------------------------------------------------------------------------------

	def _fetch(self, state: dict[str, Any]) -> FetchResult:
		posts: list[SocialPost] = []
		new_state: dict[str, Any] = {}
		has_more = False
		streams = [("mentions", f"/2/users/{self.user_id}/mentions", "pagination_token", {})]
		if self.config.get("search_query"):
			query = str(self.config["search_query"])
			streams.append(("search", "/2/tweets/search/recent", "next_token", {"query": query}))
		for name, path, token_param, extra in streams:
			found, sub, more = self._fetch_since_stream(name, path, token_param, extra, state.get(name) or {})
			posts += found
			new_state[name] = sub
			has_more = has_more or more
		if config_flag(self.config.get("read_dms", True)):
			found, sub, more = self._fetch_dms(state.get("dms") or {})
			posts += found
			new_state["dms"] = sub
			has_more = has_more or more
		# Our own replies come back through search and DMs: they are not customer posts.
		posts = [post for post in posts if post.author_id != self.user_id]
		return FetchResult(posts, encode_cursor(new_state), has_more)

	def _fetch_since_stream(
		self, kind: str, path: str, token_param: str, extra: dict[str, Any], sub: dict[str, Any]
	) -> tuple[list[SocialPost], dict[str, Any], bool]:
		"""Page a ``since_id`` stream (mentions, search); see the module docstring for the endpoints.

		Pages run newest to oldest. When the page bound stops us before reaching ``since_id`` we keep the old
		``since_id``, the pagination token and the newest id seen (``pending``), and adopt ``pending`` only once
		the gap is closed, so nothing between is ever skipped.
		"""
		since_id, token, pending = sub.get("since_id"), sub.get("next_token"), sub.get("pending")
		params: dict[str, Any] = {
			**extra,
			"max_results": self.page_size,
			"tweet.fields": TWEET_FIELDS,
			"expansions": "author_id",
			"user.fields": USER_FIELDS,
		}
		if since_id:
			params["since_id"] = since_id
		post_kind = "mention" if kind == "mentions" else "search"
		posts: list[SocialPost] = []
		for _ in range(self.max_pages):
			if token:
				params[token_param] = token
			page = self._get(path, params)
			posts += parse_tweets(page, post_kind)
			meta = page.get("meta") or {}
			pending = newest_id(pending, meta.get("newest_id"), *(str(t["id"]) for t in page.get("data") or ()))
			token = meta.get("next_token")
			if not since_id or not token:
				# First run takes one page only; otherwise the gap to since_id is closed.
				return posts, _present({"since_id": newest_id(since_id, pending)}), False
		return posts, _present({"since_id": since_id, "next_token": token, "pending": pending}), True

	def _fetch_dms(self, sub: dict[str, Any]) -> tuple[list[SocialPost], dict[str, Any], bool]:
		"""``GET /2/dm_events`` https://docs.x.com/x-api/direct-messages/get-dm-events (newest first)."""
		last_id, token, pending = sub.get("last_id"), sub.get("next_token"), sub.get("pending")
		params: dict[str, Any] = {
			"max_results": self.dm_page_size,
			"event_types": "MessageCreate",
			"dm_event.fields": DM_FIELDS,
			"expansions": "sender_id",
			"user.fields": USER_FIELDS,
		}
		posts: list[SocialPost] = []
		for _ in range(self.max_pages):
			if token:
				params["pagination_token"] = token
			page = self._get("/2/dm_events", params)
			page_posts = parse_dm_events(page)
			pending = newest_id(pending, *(p.external_id for p in page_posts))
			if last_id:
				fresh = [p for p in page_posts if id_order(p.external_id) > id_order(last_id)]
				reached_old = len(fresh) < len(page_posts)
				page_posts = fresh
			else:
				reached_old = True  # first run: one page only
			posts += page_posts
			token = (page.get("meta") or {}).get("next_token")
			if reached_old or not token:
				return posts, _present({"last_id": newest_id(last_id, pending)}), False
		return posts, _present({"last_id": last_id, "next_token": token, "pending": pending}), True

	# --- replies ---------------------------------------------------------------------------------------

	def prepare_reply_text(self, text: str, post: SocialPost, private: bool) -> str:
		return text.strip() if private else self._link_rule(text)

	def prepare_publish_text(self, text: str) -> str:
		return self._link_rule(text)

	def _link_rule(self, text: str) -> str:
		"""A public post keeps its links only when the channel allows them: X bills a post with a link far higher."""
		text = text.strip()
		return text if config_flag(self.config.get("allow_links_in_replies")) else defang_urls(text)

	def _send_part(
		self, text: str, post: SocialPost, previous: SentReply | None, private: bool, idempotency_key: str | None
	) -> SentReply:
		if private:
			return self._send_dm(text, post)
		target = previous.external_id if previous else str(post.reply_ref.get("tweet_id") or post.external_id)
		return self._tweet(text, target)

	def _publish_part(self, text: str, previous: SentReply | None, idempotency_key: str | None) -> SentReply:
		"""A post on the account's timeline; a later part of a long broadcast answers the part before (a thread)."""
		return self._tweet(text, previous.external_id if previous else None)

	def _tweet(self, text: str, in_reply_to: str | None) -> SentReply:
		"""``POST /2/tweets`` https://docs.x.com/x-api/posts/create-post"""
		payload: dict[str, Any] = {"text": text}
		if in_reply_to:
			payload["reply"] = {"in_reply_to_tweet_id": in_reply_to}
		tweet_id = str(self._post("/2/tweets", payload)["data"]["id"])
		return SentReply(tweet_id, f"https://x.com/i/web/status/{tweet_id}")

	def _send_dm(self, text: str, post: SocialPost) -> SentReply:
		"""DM the author: https://docs.x.com/x-api/direct-messages/create-dm-message-by-participant-id"""
		participant = str(post.reply_ref.get("participant_id") or post.author_id)
		body = self._post(f"/2/dm_conversations/with/{participant}/messages", {"text": text})
		data = body["data"]
		return SentReply(str(data["dm_event_id"]), f"https://x.com/messages/{data['dm_conversation_id']}")

	def verify_credentials(self) -> AccountInfo:
		"""``GET /2/users/me``: https://docs.x.com/x-api/users/get-my-user"""
		data = self._get("/2/users/me", {"user.fields": USER_FIELDS})["data"]
		return AccountInfo(str(data["id"]), data["username"], data.get("name", ""), f"https://x.com/{data['username']}")

	# --- HTTP and tokens -------------------------------------------------------------------------------

	def _get(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
		return self._call("GET", path, params=dict(params))

	def _post(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
		body = self._call("POST", path, json=payload)
		if not isinstance(body.get("data"), dict):
			raise ConnectorError(f"x: POST {path} answered without data: {str(body)[:200]}")
		return body

	def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
		if self._can_refresh() and self._token_expired():
			self.refresh_token()
		try:
			response = self._send(method, path, **kwargs)
		except AuthError as exc:
			# A 401 means the request was refused before doing anything, so repeating it (even a POST) is safe.
			if exc.status != 401 or self._refreshed or not self._can_refresh():
				raise
			self.refresh_token()
			response = self._send(method, path, **kwargs)
		body = self.http.json(response)
		if not isinstance(body, dict):
			raise ConnectorError(f"x: {method} {path}: expected a JSON object, got {type(body).__name__}")
		if body.get("errors") and "data" not in body and "meta" not in body:
			first = body["errors"][0] if isinstance(body["errors"], list) and body["errors"] else {}
			detail = first.get("detail") or first.get("message") or first.get("title") if isinstance(first, dict) else first
			raise ConnectorError(self.http.redact(f"x: {method} {path}: {detail}"))
		return body

	def _send(self, method: str, path: str, **kwargs: Any) -> requests.Response:
		headers = {"Authorization": f"Bearer {self.config['bearer_token']}"}
		return self.http.request(method, self.base_url + path, headers=headers, **kwargs)

	def _can_refresh(self) -> bool:
		return bool(self.config.get("refresh_token") and self.config.get("client_id"))

	def _token_expired(self) -> bool:
		expires = self.config.get("token_expires_at")
		if not expires:
			return False
		try:
			moment = parse_datetime(float(expires) if str(expires).replace(".", "", 1).isdigit() else expires)
		except (TypeError, ValueError):
			return True  # unreadable expiry: refreshing is cheaper than failing every call
		return datetime.now(timezone.utc) >= moment - EXPIRY_MARGIN

	def refresh_token(self) -> None:
		"""Refresh the user token: https://docs.x.com/fundamentals/authentication/oauth-2-0/authorization-code"""
		form = {"grant_type": "refresh_token", "refresh_token": self.config["refresh_token"]}
		auth = None
		if self.config.get("client_secret"):
			auth = (str(self.config["client_id"]), str(self.config["client_secret"]))  # confidential client
		else:
			form["client_id"] = str(self.config["client_id"])  # public client
		response = self.http.request(
			"POST", f"{self.base_url}/2/oauth2/token", data=form, auth=auth, idempotent=False, ok_statuses=(400,)
		)
		body = self.http.json(response)
		if response.status_code == 400 or not isinstance(body, dict) or not body.get("access_token"):
			hint = body.get("error_description") or body.get("error") if isinstance(body, dict) else ""
			raise AuthError(self.http.redact(f"x: refreshing the OAuth 2.0 token failed ({hint}); authorise the app again"))
		self._refreshed = True
		state = {"bearer_token": body["access_token"]}
		if body.get("refresh_token"):  # X rotates refresh tokens: the old one is now spent
			state["refresh_token"] = body["refresh_token"]
		# Always overwrite the expiry: a stale one left behind would trigger a refresh on every call.
		state["token_expires_at"] = ""
		if body.get("expires_in"):
			expires = datetime.now(timezone.utc) + timedelta(seconds=int(body["expires_in"]))
			state["token_expires_at"] = expires.isoformat(timespec="seconds")
		self.http.add_secret(state["bearer_token"])
		self.http.add_secret(state.get("refresh_token"))
		self.config.update(state)
		# The old refresh token is spent: the new one goes to the caller before any other request is made.
		self._save_state(**state)

	def classify_error(self, response: requests.Response) -> ConnectorError | None:
		status = response.status_code
		if status == 429:
			# The 24-hour posting cap has its own reset header; the 15-minute window's would be too early.
			for scope in ("user", "app"):
				if response.headers.get(f"x-{scope}-limit-24hour-remaining") == "0":
					reset = response.headers.get(f"x-{scope}-limit-24hour-reset")
					if reset and reset.isdigit():
						moment = datetime.fromtimestamp(int(reset), tz=timezone.utc)
						return RateLimited(f"x: 24-hour {scope} limit reached until {moment.isoformat()}", reset_at=moment)
			return None
		if status == 403:
			detail = _problem_detail(response)
			if any(marker in detail.lower() for marker in _REFUSED_ACTION):
				return ConnectorError(f"x: refused: {detail}", status=403)
		return None


# --- parsing (module level: the benchmark calls parse_payload directly) ----------------------------------


def parse_payload(payload: dict[str, Any]) -> list[SocialPost]:
	"""Parse one page of ``GET /2/users/:id/mentions`` exactly as the connector does."""
	return parse_tweets(payload, "mention")


def parse_tweets(page: dict[str, Any], kind: str) -> list[SocialPost]:
	users = {u["id"]: u for u in (page.get("includes") or {}).get("users") or ()}
	posts = []
	for tweet in page.get("data") or ():
		tweet_id = str(tweet["id"])
		author_id = str(tweet.get("author_id") or "")
		user = users.get(author_id) or {}
		handle = user.get("username") or ""
		text = (tweet.get("note_tweet") or {}).get("text") or tweet["text"]  # long posts keep the full text there
		reply_to = None
		for ref in tweet.get("referenced_tweets") or ():
			if ref.get("type") == "replied_to":
				reply_to = str(ref["id"])
		posts.append(
			SocialPost(
				network="x",
				external_id=tweet_id,
				text=clean_text(_expand_links(text, tweet.get("entities"))),
				author_id=author_id,
				author_handle=handle,
				author_name=clean_text(user.get("name")) or handle,
				created_at=parse_datetime(tweet["created_at"]),
				url=f"https://x.com/{handle or 'i/web'}/status/{tweet_id}",
				kind=kind,
				thread_id=str(tweet.get("conversation_id") or tweet_id),
				in_reply_to_id=reply_to,
				language=tweet.get("lang") if tweet.get("lang") not in (None, "und", "zxx", "qme", "qht") else None,
				raw=tweet,
				reply_ref={"tweet_id": tweet_id, "participant_id": author_id, "username": handle},
			)
		)
	return posts


def parse_dm_events(page: dict[str, Any]) -> list[SocialPost]:
	users = {u["id"]: u for u in (page.get("includes") or {}).get("users") or ()}
	posts = []
	for event in page.get("data") or ():
		if event.get("event_type", "MessageCreate") != "MessageCreate":
			continue
		sender = str(event["sender_id"])
		user = users.get(sender) or {}
		conversation = str(event.get("dm_conversation_id") or "")
		posts.append(
			SocialPost(
				network="x",
				external_id=str(event["id"]),
				text=clean_text(event.get("text")),
				author_id=sender,
				author_handle=user.get("username") or "",
				author_name=clean_text(user.get("name")) or user.get("username") or "",
				created_at=parse_datetime(event["created_at"]),
				url=f"https://x.com/messages/{conversation}",
				kind="direct",
				thread_id=conversation or None,
				raw=event,
				reply_ref={"participant_id": sender, "dm_conversation_id": conversation},
			)
		)
	return posts


def _expand_links(text: str, entities: dict[str, Any] | None) -> str:
	"""Replace t.co short links with the link the author wrote, so agents see where it points."""
	for url in (entities or {}).get("urls") or ():
		short, expanded = url.get("url"), url.get("expanded_url")
		if short and expanded and expanded.startswith(("http://", "https://")):
			text = text.replace(short, expanded)
	return text


def defang_urls(text: str) -> str:
	"""``https://help.example.com/kb/1`` -> ``help[.]example[.]com/kb/1``: still readable, no longer a link."""

	def scheme(match: re.Match) -> str:
		return match.group(1).replace(".", "[.]") + match.group(2)

	text = _SCHEME_URL.sub(scheme, text)
	return _BARE_DOMAIN.sub(lambda m: m.group(1).replace(".", "[.]"), text)


def _problem_detail(response: requests.Response) -> str:
	try:
		body = response.json()
	except ValueError:
		return (response.text or "")[:200]
	if isinstance(body, dict):
		errors = body.get("errors") if isinstance(body.get("errors"), list) else []
		first = errors[0] if errors and isinstance(errors[0], dict) else {}
		return str(body.get("detail") or first.get("detail") or first.get("message") or body.get("title") or "")
	return ""


def _present(sub: dict[str, Any]) -> dict[str, Any]:
	return {key: value for key, value in sub.items() if value}



