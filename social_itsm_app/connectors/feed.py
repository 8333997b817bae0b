"""Feed connector: RSS 0.9x/1.0/2.0 and Atom (or an HTML page read with a CSS selector); read only.

We fetch the bytes ourselves with the shared HTTP layer (timeouts, retries, conditional GET with ``ETag`` /
``Last-Modified``, 304 -> nothing new) and hand them to feedparser as a stream: feedparser has no timeout and
would open URLs itself (https://feedparser.readthedocs.io/en/latest/http-etag.html, kurtmckee/feedparser#76).
feedparser sanitises HTML content but not ``text/plain`` content
(https://feedparser.readthedocs.io/en/latest/html-sanitization.html), so every text goes through
html_to_text/clean_text. With ``css_selector`` set and an HTML answer, each matched element is an item
(https://www.crummy.com/software/BeautifulSoup/bs4/doc/#css-selectors).

Cursor: ``etag``/``modified`` for the conditional GET plus a :class:`SeenWindow` (newest entry time and the
ids seen within ``dedupe_window_hours`` of it), so re-ordered or re-published entries never come back.
Feeds have no replies and no posts: ``send_reply`` and ``publish`` always raise ConnectorError.

An admin types the URL, so the server must not become a way to read internal services (SSRF):

* ``https://`` only; an ``http://`` URL is refused unless config ``allow_insecure_http`` is truthy.
* The host must resolve (``socket.getaddrinfo``) only to public addresses: private, loopback, link-local
  (169.254.169.254, the cloud metadata service), multicast, reserved or unspecified addresses, IPv4 and IPv6
  (IPv4-mapped IPv6 included), are refused unless config ``allow_private_addresses`` is truthy (an intranet
  status page). Every address the name resolves to is checked.
* Redirects may lead to another host (feeds move to CDNs) but go there without credentials, never from
  https to http, and the rules above are checked again on every hop.

Limit: the check resolves the name itself and requests resolves it again to connect, so a DNS server that
answers differently within seconds (DNS rebinding) is not stopped; pinning the checked address would need a
custom transport adapter.

Items: one document per fetch; more than ``max_items_per_fetch`` new entries are returned oldest first in
several fetches (``has_more``), see :meth:`FeedConnector._fetch`.
"""

from __future__ import annotations

import hashlib
import io
import ipaddress
import socket
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser
import requests
from bs4 import BeautifulSoup, UnicodeDammit

from social_itsm_app.connectors.base import (
	AccountInfo,
	Connector,
	FetchResult,
	SentReply,
	SocialPost,
	config_flag,
	encode_cursor,
	parse_datetime,
)
from social_itsm_app.connectors.errors import ConnectorError
from social_itsm_app.connectors.seen import SeenWindow
from social_itsm_app.connectors.text import clean_text, html_to_text

ACCEPT = (
	"application/atom+xml, application/rss+xml, application/rdf+xml;q=0.9, application/xml;q=0.9, "
	"text/xml;q=0.9, text/html;q=0.5, */*;q=0.1"
)
SEEN_LIMIT = 300
DEFAULT_WINDOW_HOURS = 168
_HTML_TYPES = ("text/html", "application/xhtml+xml")
_ENTRY_KEYS = ("id", "link", "title", "summary", "content")


class FeedConnector(Connector):
	network = "feed"
	required_keys = ("url",)
	secret_keys = ("password",)
	public_limit = 1  # unused: a feed cannot be answered (see send_reply)
	publish_note = "Feed channels are read-only: a feed or web page cannot be posted to; broadcast on another channel."
	private_limit = None
	measure = "chars"
	max_pages = 1  # one document per fetch
	cross_origin_redirects = True  # without credentials; check_url runs on every hop

	def __init__(self, config, session: requests.Session | None = None):
		super().__init__(config, session)
		self.url = str(self.config["url"]).strip()
		self.selector = str(self.config.get("css_selector") or "").strip()
		hours = float(self.config.get("dedupe_window_hours") or DEFAULT_WINDOW_HOURS)
		self.window_seconds = max(0.0, hours) * 3600

	# --- fetch -----------------------------------------------------------------------------------------

	def _fetch(self, state: dict[str, Any]) -> FetchResult:
		response = self._download(state.get("etag"), state.get("modified"))
		if response.status_code == 304:
			return FetchResult([], encode_cursor(state), False)  # nothing changed: same cursor
		_, posts = self._parse(response)
		window = SeenWindow(state.get("window"), overlap=self.window_seconds, limit=SEEN_LIMIT)
		now = datetime.now(timezone.utc).timestamp()
		# A date in the future (a feed's time-zone bug) must not push the floor past real entries.
		moments = [(post, min(post.created_at.timestamp(), now)) for post in posts]
		fresh, listed = [], set()
		for post, moment in moments:
			if post.external_id not in listed and window.is_new(post.external_id, moment):
				fresh.append((post, moment))
			listed.add(post.external_id)
		# Oldest first (the caller's order); beyond the cap the newest wait for the next fetch.
		fresh.sort(key=lambda pair: pair[1])
		kept, held_back = fresh[: self.max_items], fresh[self.max_items :]
		waiting = {id(post) for post, _ in held_back}
		for post, moment in moments:
			# Held-back entries stay out of the window: they are newer than every kept one, so still new next time.
			if id(post) not in waiting:
				window.add(post.external_id, moment)
		new_state = {
			# Without them the next GET is unconditional, so a 304 cannot hide the held-back entries.
			"etag": None if held_back else response.headers.get("ETag"),
			"modified": None if held_back else response.headers.get("Last-Modified"),
			"window": window.state(),
		}
		return FetchResult([post for post, _ in kept], encode_cursor(new_state), bool(held_back))

	def _download(self, etag: str | None = None, modified: str | None = None) -> requests.Response:
		"""``GET url`` with ``If-None-Match``/``If-Modified-Since`` (RFC 9110 conditional requests)."""
		headers = {"Accept": ACCEPT}
		if etag:
			headers["If-None-Match"] = etag
		if modified:
			headers["If-Modified-Since"] = modified
		auth = None
		if self.config.get("username"):
			auth = (str(self.config["username"]), str(self.config.get("password") or ""))
		return self.http.request("GET", self.url, headers=headers, auth=auth)

	def check_url(self, url: str) -> None:
		"""Refuse plain http and hosts that resolve to non-public addresses (see the module docstring)."""
		check_feed_url(
			url,
			allow_http=config_flag(self.config.get("allow_insecure_http")),
			allow_private=config_flag(self.config.get("allow_private_addresses")),
		)

	def _parse(self, response: requests.Response) -> tuple[dict[str, str], list[SocialPost]]:
		content_type = response.headers.get("Content-Type", "")
		base = response.url or self.url
		if self.selector and content_type.split(";")[0].strip().lower() in _HTML_TYPES:
			return parse_html_page(response.content, self.selector, base)
		return parse_feed(response.content, base, content_type)

	# --- replies ---------------------------------------------------------------------------------------

	def send_reply(self, text: str, in_reply_to: SocialPost, private: bool = False, **kwargs: Any) -> list[SentReply]:
		raise ConnectorError(
			"feed: feeds and web pages cannot be answered (no public or private replies); "
			"contact the author through another channel"
		)

	def _send_part(self, text, post, previous, private, idempotency_key) -> SentReply:
		raise ConnectorError("feed: feeds cannot be answered")

	def verify_credentials(self) -> AccountInfo:
		"""Fetch the feed once (unconditionally) and name it by its title."""
		response = self._download()
		meta, _ = self._parse(response)
		title = meta.get("title") or self.url
		return AccountInfo(self.url, title, title, meta.get("link") or self.url)


# --- address rules -------------------------------------------------------------------------------------


def resolve_addresses(host: str, port: int) -> list[str]:
	"""Every address ``host`` resolves to (tests replace this function)."""
	return [info[4][0] for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]


def check_feed_url(url: str, *, allow_http: bool = False, allow_private: bool = False) -> None:
	"""Raise ConnectorError unless ``url`` is https (or http when allowed) on a host with public addresses only."""
	parts = urlsplit(url)
	scheme = parts.scheme.lower()
	if scheme != "https" and not (scheme == "http" and allow_http):
		hint = " (set allow_insecure_http to read a plain-http feed)" if scheme == "http" else ""
		raise ConnectorError(f"feed: {_shown(url)} is not an https:// address{hint}")
	host = parts.hostname
	if not host:
		raise ConnectorError(f"feed: {_shown(url)} has no host name")
	if allow_private:
		return
	try:
		port = parts.port or (443 if scheme == "https" else 80)
		addresses = resolve_addresses(host, port)
	except (OSError, UnicodeError, ValueError):
		raise ConnectorError(f"feed: the host name {host!r} does not resolve") from None
	if not addresses:
		raise ConnectorError(f"feed: the host name {host!r} does not resolve")
	for address in addresses:
		if not is_public_address(address):
			raise ConnectorError(
				f"feed: {host!r} resolves to {address}, a private or local address; refusing to fetch it "
				"(set allow_private_addresses to read an intranet feed)"
			)


def is_public_address(address: str) -> bool:
	try:
		ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone ("fe80::1%eth0")
	except ValueError:
		return False
	if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
		ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
	refused = (
		ip.is_private
		or ip.is_loopback
		or ip.is_link_local
		or ip.is_multicast
		or ip.is_reserved
		or ip.is_unspecified
		or not ip.is_global  # shared address space (100.64.0.0/10) and the like
	)
	return not refused


def _shown(url: str) -> str:
	return url.split("?", 1)[0][:200]


# --- parsing (module level: the benchmark calls parse_payload directly) ----------------------------------


def parse_payload(payload: dict[str, Any] | bytes | str) -> list[SocialPost]:
	"""Parse one feed document: raw bytes/text, or ``{"body": ..., "url": ..., "content_type": ...}``."""
	if isinstance(payload, dict):
		body, url, content_type = payload["body"], payload.get("url") or "", payload.get("content_type") or ""
	else:
		body, url, content_type = payload, "", ""
	if isinstance(body, str):
		body = body.encode("utf-8")
	return parse_feed(body, url, content_type)[1]


def parse_feed(body: bytes, url: str, content_type: str = "") -> tuple[dict[str, str], list[SocialPost]]:
	"""RSS/Atom bytes to posts; a document that is no feed at all is a ConnectorError."""
	headers = {"content-location": url}
	if content_type:
		headers["content-type"] = content_type
	# A stream, never a URL or path: feedparser must not open anything itself.
	parsed = feedparser.parse(io.BytesIO(body), response_headers=headers)
	# A truncated document yields empty entry shells: they are no items.
	entries = [entry for entry in parsed.entries if any(entry.get(key) for key in _ENTRY_KEYS)]
	if not entries and (parsed.bozo or not parsed.version):
		problem = parsed.get("bozo_exception") or "no RSS or Atom root element"
		raise ConnectorError(f"feed: {url or 'the document'} is not a valid RSS/Atom feed ({str(problem)[:200]})")
	feed = parsed.feed
	title = _typed_text(feed.get("title"), feed.get("title_detail")) or url
	language = (feed.get("language") or "").split("-")[0].lower() or None
	now = datetime.now(timezone.utc)
	posts = [_entry_post(entry, title, language, url, now) for entry in entries]
	return {"title": title, "link": feed.get("link") or url}, posts


def _entry_post(entry: Any, feed_title: str, language: str | None, feed_url: str, now: datetime) -> SocialPost:
	link = entry.get("link") or ""
	moment = entry.get("published_parsed") or entry.get("updated_parsed")
	title = _typed_text(entry.get("title"), entry.get("title_detail"))
	body = _entry_body(entry)
	text = body if body.startswith(title) else f"{title}\n\n{body}".strip()
	author = entry.get("author_detail") or {}
	name = clean_text(author.get("name") or entry.get("author")) or feed_title
	stamp = entry.get("published") or entry.get("updated") or ""
	external_id = entry.get("id") or link or _digest(f"{entry.get('title', '')}\n{stamp}")
	return SocialPost(
		network="feed",
		external_id=str(external_id),
		text=text,
		author_id=author.get("email") or author.get("href") or name,
		author_handle=name,
		author_name=name,
		created_at=datetime(*moment[:6], tzinfo=timezone.utc) if moment else now,
		url=link or feed_url,
		kind="feed",
		thread_id=None,
		language=language,
		raw={"id": entry.get("id"), "link": link, "title": entry.get("title"), "published": stamp, "author": name},
		reply_ref={},
	)


def _entry_body(entry: Any) -> str:
	contents = entry.get("content") or ()
	for content in contents:
		if "html" in (content.get("type") or ""):
			return _typed_text(content.get("value"), content)
	if contents:
		return _typed_text(contents[0].get("value"), contents[0])
	return _typed_text(entry.get("summary"), entry.get("summary_detail"))


def _typed_text(value: str | None, detail: Any) -> str:
	"""feedparser's ``*_detail.type`` says whether a text is HTML; text/plain is NOT sanitised by feedparser."""
	kind = (detail or {}).get("type") or ""
	return html_to_text(value) if "html" in kind else clean_text(value)


# A status page is small; a larger answer is cut before parsing (the byte cap of the HTTP layer is larger).
MAX_PAGE_CHARS = 2_000_000


def parseable_page(body: bytes) -> str:
	"""The page as text html.parser handles in linear time.

	html.parser rescans to the end of the input for every tag left open there ("<a " * 5000 after </html>
	took 4.6 s): nothing after the last ">" can be an element, so it is dropped before parsing.
	"""
	# UnicodeDammit reads the page's own charset (meta tag, BOM) as BeautifulSoup would have from the bytes.
	text = (UnicodeDammit(body, is_html=True).unicode_markup or "") if isinstance(body, bytes) else str(body)
	text = text[:MAX_PAGE_CHARS]
	return text[: text.rfind(">") + 1]


def parse_html_page(body: bytes, selector: str, page_url: str) -> tuple[dict[str, str], list[SocialPost]]:
	"""Each element matching ``selector`` is one item: id from its ``id`` attribute or a hash of its text."""
	soup = BeautifulSoup(parseable_page(body), "html.parser")
	title = clean_text(soup.title.get_text()) if soup.title else page_url
	now = datetime.now(timezone.utc)
	posts = []
	for element in soup.select(selector):
		text = html_to_text(str(element))
		if not text:
			continue
		anchor = element if element.name == "a" and element.get("href") else element.find("a", href=True)
		link = urljoin(page_url, str(anchor["href"])) if anchor else page_url
		if not link.lower().startswith(("http://", "https://")):
			link = page_url  # javascript: and friends
		stamp = element.find("time")
		created = _html_time(stamp.get("datetime") if stamp else None) or now
		posts.append(
			SocialPost(
				network="feed",
				external_id=str(element.get("id") or _digest(text)),
				text=text,
				author_id=page_url,
				author_handle=title,
				author_name=title,
				created_at=created,
				url=link,
				kind="feed",
				raw={"id": element.get("id"), "link": link, "text": text[:2000]},
				reply_ref={},
			)
		)
	return {"title": title, "link": page_url}, posts


def _html_time(value: Any) -> datetime | None:
	try:
		return parse_datetime(str(value)) if value else None
	except ValueError:
		return None


def _digest(text: str) -> str:
	return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:40]
