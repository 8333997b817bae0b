"""Bluesky (AT Protocol) connector: mention/reply notifications and optional post search in; threaded replies out.

XRPC endpoints, all under ``base_url`` (default ``https://bsky.social``) + ``/xrpc/``:

* ``com.atproto.server.createSession`` (only when no usable session is stored)
  https://docs.bsky.app/docs/api/com-atproto-server-create-session
* ``com.atproto.server.refreshSession`` (Bearer refreshJwt) https://docs.bsky.app/docs/api/com-atproto-server-refresh-session
* ``com.atproto.server.getSession`` (verify credentials) https://docs.bsky.app/docs/api/com-atproto-server-get-session
* ``app.bsky.notification.listNotifications`` (``reasons=mention``/``reply``, ``cursor``)
  https://docs.bsky.app/docs/api/app-bsky-notification-list-notifications
* ``app.bsky.feed.searchPosts`` (``q``, ``sort=latest``, ``cursor``) https://docs.bsky.app/docs/api/app-bsky-feed-search-posts
* ``com.atproto.repo.createRecord`` (an ``app.bsky.feed.post`` with ``reply.root``/``reply.parent``)
  https://docs.bsky.app/docs/api/com-atproto-repo-create-record
  (a broadcast: the same record without ``reply`` for its first part, on the account's own feed)
* ``com.atproto.repo.getRecord`` (cid and root of an earlier part when a chain is resumed)
  https://docs.bsky.app/docs/api/com-atproto-repo-get-record
* ``com.atproto.identity.resolveHandle`` (DID of an ``@handle`` for a mention facet)
  https://docs.bsky.app/docs/api/com-atproto-identity-resolve-handle

Traps handled: createSession allows 30 logins per 5 minutes, so the session (``access_jwt``, ``refresh_jwt``,
``did``) comes from config, is refreshed when expired (checked from the JWT's ``exp``, and on
``400 ExpiredToken``/``401``) and handed back in ``saved_state``; links and mentions only work as facets with
UTF-8 *byte* offsets; the root of a reply is the parent's own root; a post is at most 300 graphemes and 3000
bytes; ``ratelimit-reset`` is epoch seconds (read by the HTTP layer). Bluesky DMs (chat.bsky) are not used:
private replies raise a clear ConnectorError.
"""

from __future__ import annotations

import base64
import json
import re
import time
from datetime import datetime, timezone
from typing import Any

import requests

from social_itsm_app.connectors.base import (
	AccountInfo,
	Connector,
	FetchResult,
	SentReply,
	SocialPost,
	config_int,
	encode_cursor,
	parse_datetime,
)
from social_itsm_app.connectors.errors import AuthError, ConnectorError, RateLimited
from social_itsm_app.connectors.newest_first import read_newest_first
from social_itsm_app.connectors.text import clean_text, link_text

DEFAULT_BASE_URL = "https://bsky.social"
POST_TYPE = "app.bsky.feed.post"
LINK_FEATURE = "app.bsky.richtext.facet#link"
MENTION_FEATURE = "app.bsky.richtext.facet#mention"
REASON_KINDS = {"mention": "mention", "reply": "comment"}
MAX_POST_BYTES = 3000
# Refresh a little before the access token's ``exp`` so a request never races the expiry.
EXPIRY_MARGIN = 60
# indexedAt is the AppView's clock; a small overlap catches posts it indexes a little out of order.
OVERLAP_SECONDS = 120
_URL = re.compile(r"https?://[^\s<>\"'`]+", re.IGNORECASE)
_HANDLE = re.compile(r"(?<![\w@/])@([a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)+)")


class SessionExpired(AuthError):
	"""The access (or refresh) token expired: refresh it, or log in again."""


class BlueskyConnector(Connector):
	network = "bluesky"
	rotates_tokens = True
	required_keys = ("identifier", "app_password")
	secret_keys = ("app_password", "access_jwt", "refresh_jwt")
	public_limit = 300
	private_limit = None  # chat.bsky DMs are not implemented
	can_publish = True
	publish_note = (
		"Posts on this account's own Bluesky feed (300 characters a part); a longer text becomes a numbered "
		"thread."
	)
	measure = "graphemes"
	max_pages = 5

	def __init__(self, config, session: requests.Session | None = None):
		super().__init__(config, session)
		self.base_url = str(self.config.get("base_url") or DEFAULT_BASE_URL).strip().rstrip("/")
		self.page_size = config_int(self.config.get("page_size"), 50, 1, 100)
		self.search_query = str(self.config.get("search_query") or self.config.get("q") or "").strip()
		self.access_jwt: str | None = self.config.get("access_jwt") or None
		self.refresh_jwt: str | None = self.config.get("refresh_jwt") or None
		self.did: str | None = self.config.get("did") or _jwt_claim(self.access_jwt, "sub")
		self.handle: str | None = self.config.get("handle") or None
		self._renewed = False  # a session obtained during this run is not renewed again on a 401
		self._cids: dict[str, str] = {}
		# Thread root (strong ref) of each of our posts: later parts of a broadcast name the first part as root.
		self._roots: dict[str, dict[str, str]] = {}
		self._dids: dict[str, str] = {}

	# --- session ---------------------------------------------------------------------------------------

	def _ensure_session(self) -> None:
		if self.access_jwt and self.did and not _jwt_expired(self.access_jwt):
			return
		self._renew()

	def _renew(self) -> None:
		"""Refresh the session; log in only when there is no usable refresh token."""
		if self.refresh_jwt and not _jwt_expired(self.refresh_jwt):
			try:
				self._adopt(self._call("POST", "com.atproto.server.refreshSession", token=self.refresh_jwt))
				return
			except AuthError:
				pass  # refresh token expired or revoked: log in again below
		self._login()

	def _login(self) -> None:
		"""``com.atproto.server.createSession`` https://docs.bsky.app/docs/api/com-atproto-server-create-session"""
		body = {"identifier": self.config["identifier"], "password": self.config["app_password"]}
		try:
			data = self._call("POST", "com.atproto.server.createSession", body=body, token=None)
		except AuthError as exc:
			raise AuthError(
				f"bluesky: login refused for {self.config['identifier']!r}: check the identifier and the app password "
				f"({exc})",
				status=exc.status,
			) from None
		self._adopt(data)

	def _adopt(self, data: dict[str, Any]) -> None:
		self.access_jwt, self.refresh_jwt, self.did = data["accessJwt"], data["refreshJwt"], data["did"]
		self.handle = data.get("handle") or self.handle
		self.http.add_secret(self.access_jwt)
		self.http.add_secret(self.refresh_jwt)
		self._renewed = True
		session = {"access_jwt": self.access_jwt, "refresh_jwt": self.refresh_jwt, "did": self.did}
		if self.handle:
			session["handle"] = self.handle
		self._save_state(**session)  # a refreshSession spends the old refresh token

	def _xrpc(self, method: str, nsid: str, *, params: Any = None, body: Any = None) -> dict[str, Any]:
		"""An authenticated XRPC call; an expired session is renewed once and the call repeated."""
		self._ensure_session()
		try:
			return self._call(method, nsid, params=params, body=body, token=self.access_jwt)
		except AuthError as exc:
			if self._renewed or not (isinstance(exc, SessionExpired) or exc.status == 401):
				raise
		self._renew()
		return self._call(method, nsid, params=params, body=body, token=self.access_jwt)

	def _call(self, method: str, nsid: str, *, params: Any = None, body: Any = None, token: str | None) -> dict[str, Any]:
		headers = {"Authorization": f"Bearer {token}"} if token else None
		response = self.http.request(method, f"{self.base_url}/xrpc/{nsid}", params=params, json=body, headers=headers)
		data = self.http.json(response)
		if not isinstance(data, dict):
			raise ConnectorError(f"bluesky: {nsid} returned {type(data).__name__}, expected an object")
		return data

	def classify_error(self, response: requests.Response) -> AuthError | None:
		"""XRPC errors are ``{"error": "ExpiredToken", "message": ...}``; an expired token comes back as 400."""
		if response.status_code not in (400, 401):
			return None
		try:
			error = response.json().get("error")
		except (ValueError, AttributeError):
			return None
		if error in ("ExpiredToken", "InvalidToken"):
			return SessionExpired(f"bluesky: session token rejected ({error})", status=response.status_code)
		return None

	def verify_credentials(self) -> AccountInfo:
		"""``com.atproto.server.getSession`` https://docs.bsky.app/docs/api/com-atproto-server-get-session"""
		data = self._xrpc("GET", "com.atproto.server.getSession")
		handle = data.get("handle") or ""
		return AccountInfo(data["did"], handle, handle, f"https://bsky.app/profile/{handle or data['did']}")

	# --- fetch -----------------------------------------------------------------------------------------

	def _fetch(self, state: dict[str, Any]) -> FetchResult:
		items, notes_state, has_more = read_newest_first(
			self._notifications_page,
			_item_key,
			state.get("notifications") or {},
			max_pages=self.max_pages,
			overlap=OVERLAP_SECONDS,
		)
		posts = parse_notifications(items)
		new_state: dict[str, Any] = {"notifications": notes_state}
		if self.search_query:
			found, search_state, more = read_newest_first(
				self._search_page,
				_item_key,
				state.get("search") or {},
				max_pages=self.max_pages,
				overlap=OVERLAP_SECONDS,
			)
			# After the notifications: a post in both keeps its kind "mention" when deduplicated.
			posts += [post for post in map(_search_post, found) if post and post.author_id != self.did]
			new_state["search"] = search_state
			has_more = has_more or more
		return FetchResult(posts, encode_cursor(new_state), has_more)

	def _notifications_page(self, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
		"""``app.bsky.notification.listNotifications`` https://docs.bsky.app/docs/api/app-bsky-notification-list-notifications"""
		params: list[tuple[str, Any]] = [("reasons", "mention"), ("reasons", "reply"), ("limit", self.page_size)]
		if cursor:
			params.append(("cursor", cursor))
		data = self._xrpc("GET", "app.bsky.notification.listNotifications", params=params)
		return _list(data, "notifications"), data.get("cursor") or None

	def _search_page(self, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
		"""``app.bsky.feed.searchPosts`` https://docs.bsky.app/docs/api/app-bsky-feed-search-posts"""
		params: dict[str, Any] = {"q": self.search_query, "sort": "latest", "limit": min(self.page_size, 100)}
		if cursor:
			params["cursor"] = cursor
		data = self._xrpc("GET", "app.bsky.feed.searchPosts", params=params)
		return _list(data, "posts"), data.get("cursor") or None

	# --- replies ---------------------------------------------------------------------------------------

	def _send_part(
		self, text: str, post: SocialPost, previous: SentReply | None, private: bool, idempotency_key: str | None
	) -> SentReply:
		"""A reply: under the answered post's thread root, to the previous part or else to the post."""
		self._ensure_session()
		root, parent = self._reply_refs(post, previous)
		return self._create_post(text, {"root": root, "parent": parent}, post)

	def _publish_part(self, text: str, previous: SentReply | None, idempotency_key: str | None) -> SentReply:
		"""A post on the account's own feed; a later part answers the part before, under the first one as root."""
		reply = None
		if previous is not None:
			self._ensure_session()
			uri = previous.external_id
			reply = {"root": self._root(uri), "parent": {"uri": uri, "cid": self._cid(uri)}}
		return self._create_post(text, reply, None)

	def _create_post(self, text: str, reply: dict[str, Any] | None, post: SocialPost | None) -> SentReply:
		"""``com.atproto.repo.createRecord`` https://docs.bsky.app/docs/api/com-atproto-repo-create-record"""
		if len(text.encode("utf-8")) > MAX_POST_BYTES:
			raise ConnectorError(f"bluesky: a post part is over {MAX_POST_BYTES} bytes; shorten the text")
		self._ensure_session()
		record: dict[str, Any] = {"$type": POST_TYPE, "text": text, "createdAt": _now_iso()}
		if reply:
			record["reply"] = reply
		facets = self._facets(text, post)
		if facets:
			record["facets"] = facets
		if self.config.get("language"):
			record["langs"] = [str(self.config["language"])]
		body = {"repo": self.did, "collection": POST_TYPE, "record": record}
		data = self._xrpc("POST", "com.atproto.repo.createRecord", body=body)
		uri, cid = str(data["uri"]), str(data["cid"])
		self._cids[uri] = cid
		self._roots[uri] = reply["root"] if reply else {"uri": uri, "cid": cid}
		return SentReply(uri, web_url(uri, self.handle))

	def _reply_refs(self, post: SocialPost, previous: SentReply | None) -> tuple[dict[str, str], dict[str, str]]:
		"""Strong refs: the root is the answered post's own root (or the post itself); the parent is the
		previous part of our chain, else the post."""
		ref = post.reply_ref
		uri = str(ref.get("uri") or post.external_id)
		target = {"uri": uri, "cid": str(ref.get("cid") or self._cid(uri))}
		root = ref.get("root") or target
		root = {"uri": str(root["uri"]), "cid": str(root["cid"])}
		if previous is None:
			return root, target
		return root, {"uri": previous.external_id, "cid": self._cid(previous.external_id)}

	def _cid(self, uri: str) -> str:
		"""``com.atproto.repo.getRecord`` https://docs.bsky.app/docs/api/com-atproto-repo-get-record"""
		if uri not in self._cids:
			self._read_record(uri)
		return self._cids[uri]

	def _root(self, uri: str) -> dict[str, str]:
		"""The thread root of one of our posts: its own ``reply.root``, or the post itself when it is top level."""
		if uri not in self._roots:
			self._read_record(uri)
		return self._roots[uri]

	def _read_record(self, uri: str) -> None:
		"""Learn an earlier post's cid and root (a chain resumed by another run): ``com.atproto.repo.getRecord``."""
		repo, collection, rkey = _split_uri(uri)
		params = {"repo": repo, "collection": collection, "rkey": rkey}
		data = self._xrpc("GET", "com.atproto.repo.getRecord", params=params)
		self._cids[uri] = cid = str(data["cid"])
		root = ((data.get("value") or {}).get("reply") or {}).get("root")
		self._roots[uri] = {"uri": str(root["uri"]), "cid": str(root["cid"])} if root else {"uri": uri, "cid": cid}

	def _facets(self, text: str, post: SocialPost | None) -> list[dict[str, Any]]:
		"""Links and ``@handle`` mentions as richtext facets; offsets are UTF-8 byte offsets."""
		author = str(post.reply_ref.get("handle") or post.author_handle).lower() if post else ""
		if author and post.author_id.startswith("did:"):
			self._dids.setdefault(author, post.author_id)
		facets = []
		for start, end, feature in _facet_spans(text):
			if feature == MENTION_FEATURE:
				did = self._resolve(text[start + 1 : end])
				if not did:
					continue  # an unknown handle stays plain text
				target = {"$type": MENTION_FEATURE, "did": did}
			else:
				target = {"$type": LINK_FEATURE, "uri": text[start:end]}
			facets.append({"index": _byte_slice(text, start, end), "features": [target]})
		return facets

	def _resolve(self, handle: str) -> str | None:
		"""``com.atproto.identity.resolveHandle`` https://docs.bsky.app/docs/api/com-atproto-identity-resolve-handle"""
		key = handle.lower()
		if key not in self._dids:
			try:
				data = self._xrpc("GET", "com.atproto.identity.resolveHandle", params={"handle": handle})
			except (AuthError, RateLimited):
				raise
			except ConnectorError:
				data = {}  # 400 "Unable to resolve handle": the mention stays plain text
			self._dids[key] = str(data.get("did") or "")
		return self._dids[key] or None


# --- parsing (module level: the benchmark calls parse_payload directly) ----------------------------------


def parse_payload(payload: dict[str, Any]) -> list[SocialPost]:
	"""Parse one ``listNotifications`` page (``{"notifications": [...], "cursor": ...}``) as the connector does."""
	return parse_notifications(_list(payload, "notifications"))


def parse_notifications(notifications: list[dict[str, Any]]) -> list[SocialPost]:
	posts = []
	for note in notifications:
		kind = REASON_KINDS.get(note.get("reason"))
		record = note.get("record")
		if kind and isinstance(record, dict) and record.get("$type", POST_TYPE) == POST_TYPE:
			posts.append(_post(note, record, kind))
	return posts


def _search_post(view: dict[str, Any]) -> SocialPost | None:
	record = view.get("record")
	if not isinstance(record, dict) or record.get("$type", POST_TYPE) != POST_TYPE:
		return None
	return _post(view, record, "search")


def _post(item: dict[str, Any], record: dict[str, Any], kind: str) -> SocialPost:
	"""A notification or a postView (both carry uri, cid, author, record, indexedAt)."""
	uri = str(item["uri"])
	author = item["author"]
	did = str(author["did"])
	handle = str(author.get("handle") or did)
	reply = record.get("reply") or {}
	root = reply.get("root") or None
	parent = reply.get("parent") or {}
	langs = record.get("langs") or ()
	reply_ref: dict[str, Any] = {"uri": uri, "cid": str(item["cid"]), "handle": handle}
	if root:
		reply_ref["root"] = {"uri": str(root["uri"]), "cid": str(root["cid"])}
	return SocialPost(
		network="bluesky",
		external_id=uri,
		text=post_text(record),
		author_id=did,
		author_handle=handle,
		author_name=clean_text(author.get("displayName")) or handle,
		created_at=_created_at(record, item),
		url=web_url(uri, handle),
		kind=kind,
		thread_id=str(root["uri"]) if root else uri,
		in_reply_to_id=str(parent["uri"]) if parent.get("uri") else None,
		language=str(langs[0]) if langs else None,
		raw=item,
		reply_ref=reply_ref,
	)


def post_text(record: dict[str, Any]) -> str:
	"""The post's text with shortened links written out in full (from the link facets), sanitised."""
	text = record.get("text") or ""
	facets = record.get("facets")
	if facets and text:
		text = _expand_links(text, facets)
	return clean_text(text)


def _expand_links(text: str, facets: list[dict[str, Any]]) -> str:
	"""Clients show ``example.com/some-lo...`` and keep the real url in a link facet (byte offsets)."""
	data = text.encode("utf-8")
	links = []
	for facet in facets:
		for feature in (facet or {}).get("features") or ():
			if isinstance(feature, dict) and feature.get("$type") == LINK_FEATURE and feature.get("uri"):
				index = facet.get("index") or {}
				start, end = index.get("byteStart"), index.get("byteEnd")
				if isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(data):
					links.append((start, end, str(feature["uri"])))
	if not links:
		return text
	out, position = [], len(data)
	for start, end, uri in sorted(links, reverse=True):
		if end > position:
			continue  # overlapping facets: keep the first (rightmost) one
		label = data[start:end].decode("utf-8", "replace")
		out.append(data[end:position].decode("utf-8", "replace"))
		out.append(_link_label(label, uri))
		position = start
	out.append(data[:position].decode("utf-8", "replace"))
	return "".join(reversed(out))


def _link_label(label: str, uri: str) -> str:
	shown = label.strip()
	short = shown.rstrip(".…")
	if short != shown and short:
		bare = uri.split("://", 1)[-1].removeprefix("www.")
		if bare.startswith(short.split("://", 1)[-1].removeprefix("www.")):
			return uri  # a shortened display of the same url: show the whole url
	return link_text(label, uri)


def _created_at(record: dict[str, Any], item: dict[str, Any]) -> datetime:
	"""``createdAt`` is set by the client and may be garbage; ``indexedAt`` is the server's."""
	try:
		return parse_datetime(record["createdAt"])
	except (KeyError, TypeError, ValueError):
		return parse_datetime(item["indexedAt"])


def _item_key(item: dict[str, Any]) -> tuple[str, float]:
	return str(item["uri"]), parse_datetime(item["indexedAt"]).timestamp()


def _list(data: dict[str, Any], key: str) -> list[dict[str, Any]]:
	items = data.get(key) if isinstance(data, dict) else None
	if not isinstance(items, list) or any(not isinstance(item, dict) for item in items):
		raise ConnectorError(f"bluesky: the answer has no {key!r} list")
	return items


def web_url(uri: str, handle: str | None = None) -> str:
	"""``at://did/app.bsky.feed.post/rkey`` -> the bsky.app page of the post."""
	repo, _collection, rkey = _split_uri(uri)
	return f"https://bsky.app/profile/{handle or repo}/post/{rkey}"


def _split_uri(uri: str) -> tuple[str, str, str]:
	parts = uri.removeprefix("at://").split("/")
	if len(parts) != 3:
		raise ConnectorError(f"bluesky: not a record uri: {uri[:120]!r}")
	return parts[0], parts[1], parts[2]


# --- facets and tokens -----------------------------------------------------------------------------------


def _facet_spans(text: str) -> list[tuple[int, int, str]]:
	"""Character spans of links and mentions in our own reply text."""
	spans = []
	for match in _URL.finditer(text):
		url = _trim_url(match.group(0))
		spans.append((match.start(), match.start() + len(url), LINK_FEATURE))
	taken = [(start, end) for start, end, _ in spans]
	for match in _HANDLE.finditer(text):
		if not any(start <= match.start() < end for start, end in taken):
			spans.append((match.start(), match.end(), MENTION_FEATURE))
	return sorted(spans)


def _trim_url(url: str) -> str:
	"""Sentence punctuation after a link is not part of it; neither is an unbalanced closing bracket."""
	while url and url[-1] in ".,;:!?\"')]":
		if url[-1] == ")" and url.count("(") >= url.count(")"):
			break
		url = url[:-1]
	return url


def _byte_slice(text: str, start: int, end: int) -> dict[str, int]:
	byte_start = len(text[:start].encode("utf-8"))
	return {"byteStart": byte_start, "byteEnd": byte_start + len(text[start:end].encode("utf-8"))}


def _jwt_claim(token: str | None, claim: str) -> Any:
	"""A claim of a JWT's payload, read without verifying (only to avoid a wasted request)."""
	if not token or token.count(".") != 2:
		return None
	payload = token.split(".")[1]
	try:
		data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
	except ValueError:
		return None
	return data.get(claim) if isinstance(data, dict) else None


def _jwt_expired(token: str) -> bool:
	expires = _jwt_claim(token, "exp")
	return isinstance(expires, int | float) and expires < time.time() + EXPIRY_MARGIN


def _now_iso() -> str:
	return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


__all__ = ["BlueskyConnector", "parse_payload", "post_text", "web_url"]
