"""A fake Mastodon instance on 127.0.0.1 that injects faults: for fault-injection tests of the real connector.

Pure Python (standard library only, no frappe), so tier-1 tests and in-site tests both use it::

	with FakeMastodon(seed=7, fault_rate=0.4) as server:
		connector = get_connector("mastodon", {"base_url": server.base_url, "access_token": server.token,
			"timeout": 0.2})
		...
		server.fault_counts  # Counter of injected faults by kind

What it implements is what ``social_itsm_app/connectors/mastodon.py`` calls, the way Mastodon answers it:

* ``GET /api/v1/notifications`` with ``types[]``, ``limit``, ``min_id``/``since_id``/``max_id``: newest first;
  ``min_id`` gives the notifications just after it (paging forward in time), ``since_id`` and no bound the newest
  ones; a non-empty page carries ``Link: <...max_id=oldest>; rel="next", <...min_id=newest>; rel="prev"``.
  https://docs.joinmastodon.org/methods/notifications/#get
* ``POST /api/v1/statuses`` (form fields ``status``, ``in_reply_to_id``, ``visibility``) honouring
  ``Idempotency-Key`` as Mastodon does: within ``key_ttl`` (Mastodon: up to one hour) the same key returns the
  status it created first, never a second one; after that the key is forgotten. Unknown ``in_reply_to_id`` is a
  404 and a text over 500 characters a 422.
  https://docs.joinmastodon.org/methods/statuses/#create
* ``GET /api/v1/accounts/verify_credentials``; a wrong bearer token is a 401 everywhere.

New mentions arrive over time (monotonic notification and status ids; some notifications are follows and
favourites that ``types[]=mention`` filters out): on each notifications request with probability
``arrival_rate``, or when a test calls :meth:`add_mentions`.

A seeded schedule decides, per request, whether to answer normally or inject one fault of
:data:`FAULT_KINDS`; every injected fault is counted by kind in :attr:`fault_counts`. For a POST, the faults
that happen after Mastodon would have stored the status (``timeout``, ``truncated_json``, ``body_cut`` and
half of the ``connection_reset``s) create the status first and lose the answer: the in-doubt case (``wrong_shape``
creates it too and answers with a list).

:meth:`script` forces the faults of the next requests, :meth:`advance` moves the server's clock ahead (key
lifetime, rate-limit resets), :meth:`stall` holds the next matching request until the test releases it (to kill a worker while it waits).
Everything is bounded: handler threads time out idle sockets, a stall lasts at most ``max_stall`` seconds and
the server shuts itself down after ``max_lifetime`` seconds.
"""

from __future__ import annotations

import copy
import html
import json
import random
import re
import socket
import struct
import threading
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "mastodon"

FAULT_KINDS = (
	"rate_limit_reset",  # 429 with X-RateLimit-Reset, an ISO time a few seconds ahead (Mastodon's form)
	"rate_limit_retry_after",  # 429 with Retry-After in seconds (a proxy in front of the instance)
	"http_500",
	"http_502",  # with nginx's HTML error page
	"http_503",
	"timeout",  # the answer comes later than the client waits
	"connection_reset",  # the socket is closed (RST) without an answer
	"truncated_json",  # 200, valid headers, the JSON cut in the middle
	"body_cut",  # 200, the connection dies in the middle of the body
	"html_page",  # 200 with an HTML error page (a captive portal or a maintenance page)
	"wrong_shape",  # 200 with a JSON object where a list is expected (a list where an object is)
)
# Faults after which a POSTed status exists although the client never heard so.
ACCEPT_THEN_LOSE = frozenset({"timeout", "truncated_json", "body_cut"})
MAX_CHARACTERS = 500

TEXTS = (
	"the VPN is down again &amp; I can&#39;t reach the wiki",
	"printer on floor 3 is broken, paper jam every time",
	"can&#39;t log in to the portal since this morning",
	"thanks, all good now!",
	"email sync on my phone stopped working",
	"is the status page right? checkout returns 503",
	"&lt;script&gt;alert(1)&lt;/script&gt; still broken",
	"how do I reset my password?",
)


def _iso(moment: datetime) -> str:
	return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class Stall:
	"""A request held by the server: ``arrived`` is set when it comes in, ``release()`` lets it end (unanswered)."""

	def __init__(self, method: str, path: str, accept: bool, skip: int = 0):
		self.method, self.path, self.accept = method, path, accept
		self.skip = skip  # matching requests to let through (answered as usual) before the one held
		self.arrived = threading.Event()
		self._released = threading.Event()
		self.status_id: str | None = None  # the status a held POST created before it stalled (accept=True)

	def release(self) -> None:
		self._released.set()


class FakeMastodon:
	def __init__(
		self,
		seed: int = 0,
		*,
		fault_rate: float = 0.0,
		post_fault_rate: float | None = None,
		weights: dict[str, float] | None = None,
		slow_seconds: float = 1.0,
		arrival_rate: float = 0.3,
		max_burst: int = 4,
		initial_mentions: int = 3,
		authors: int = 8,
		author_prefix: str = "fault",
		token: str = "fake-mastodon-token",
		reset_seconds: float = 3.0,
		key_ttl: float = 3600.0,
		max_stall: float = 30.0,
		max_lifetime: float = 900.0,
	):
		self.rng = random.Random(seed)
		self.lock = threading.RLock()
		self.fault_rate = fault_rate
		self.post_fault_rate = fault_rate if post_fault_rate is None else post_fault_rate
		self.weights = dict(weights or {kind: 1.0 for kind in FAULT_KINDS})
		unknown = set(self.weights) - set(FAULT_KINDS)
		if unknown:
			raise ValueError(f"unknown fault kinds: {sorted(unknown)}")
		self.slow_seconds = slow_seconds
		self.arrival_rate = arrival_rate
		self.max_burst = max_burst
		self.token = token
		self.reset_seconds = reset_seconds
		self.key_ttl = key_ttl  # Mastodon keeps an Idempotency-Key for up to an hour
		self.clock_offset = 0.0  # advance(): the server's clock runs ahead (for what happens after hours)
		self._key_time: dict[str, float] = {}
		self._scripted: list[tuple[str, str]] = []
		self.max_stall = max_stall
		self.max_lifetime = max_lifetime
		self.authors = [self._account(f"{author_prefix}-user-{i}", 120000000 + i) for i in range(authors)]
		self.me = self._account("acmehelp", 109000000000000001, local=True)
		self._template = json.loads((FIXTURES / "notifications_page1.json").read_text())[0]

		# Ground truth, oldest first. Notification ids and status ids are separate monotonic sequences.
		self.notifications: list[dict[str, Any]] = []
		self.mention_status_of: dict[int, str] = {}  # notification id -> status id, mentions only
		self.statuses: dict[str, dict[str, Any]] = {}  # every status: the mentions and the ones POSTed to us
		self.by_key: dict[str, str] = {}  # Idempotency-Key -> the status id it created (the latest, see key_ttl)
		# Every status POST accepted: key, id, in_reply_to_id (None: a top-level post), text, visibility.
		self.created: list[dict[str, Any]] = []
		self._next_notification = 41000000
		self._next_status = 113600000000000000
		self._last_time = datetime.now(timezone.utc) - timedelta(minutes=5)

		self.fault_counts: Counter[str] = Counter()
		self.requests: Counter[str] = Counter()  # by "METHOD route"
		self.answered: Counter[str] = Counter()  # requests answered normally
		self.accepted_then_lost = 0  # POSTs whose status was created but whose answer was lost
		self.repeated_keys = 0  # POSTs answered with the status an earlier one with the same key created
		self.stalls_held = 0
		self._stalls: list[Stall] = []
		self._held: list[Stall] = []
		self._server: _Server | None = None
		self._thread: threading.Thread | None = None
		self._timer: threading.Timer | None = None
		self.add_mentions(initial_mentions, others=False)

	# --- life cycle ----------------------------------------------------------------------------------------

	def start(self) -> FakeMastodon:
		self._server = _Server(self)
		self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
		self._thread.start()
		self._timer = threading.Timer(self.max_lifetime, self.stop)
		self._timer.daemon = True
		self._timer.start()
		return self

	def stop(self) -> None:
		server, self._server = self._server, None
		if self._timer:
			self._timer.cancel()
		for stall in self._stalls + self._held:
			stall.release()
		if server:
			server.shutdown()
			server.server_close()

	def __enter__(self) -> FakeMastodon:
		return self.start()

	def __exit__(self, *exc: Any) -> None:
		self.stop()

	@property
	def port(self) -> int:
		assert self._server, "start() the server first"
		return self._server.server_address[1]

	@property
	def base_url(self) -> str:
		return f"http://127.0.0.1:{self.port}"

	# --- controls ------------------------------------------------------------------------------------------

	def set_faults(self, rate: float, post_rate: float | None = None, weights: dict[str, float] | None = None) -> None:
		with self.lock:
			self.fault_rate = rate
			self.post_fault_rate = rate if post_rate is None else post_rate
			if weights is not None:
				self.weights = dict(weights)

	def faults_off(self) -> None:
		self.set_faults(0.0, 0.0)

	def script(self, method: str, kinds: list[str]) -> None:
		"""The next ``method`` requests get these faults, in order ("ok" for a normal answer), whatever the rates."""
		unknown = set(kinds) - set(FAULT_KINDS) - {"ok"}
		if unknown:
			raise ValueError(f"unknown fault kinds: {sorted(unknown)}")
		with self.lock:
			self._scripted += [(method.upper(), kind) for kind in kinds]

	def advance(self, seconds: float) -> None:
		"""Move the server's clock ahead: rate-limit resets and the Idempotency-Key lifetime follow it."""
		with self.lock:
			self.clock_offset += seconds

	def now(self) -> datetime:
		return datetime.now(timezone.utc) + timedelta(seconds=self.clock_offset)

	def stall(self, method: str, path: str, *, accept: bool = False, skip: int = 0) -> Stall:
		"""Hold the next ``method`` request to ``path`` (after letting ``skip`` of them through) until released,
		then close it unanswered; a POST with ``accept`` creates its status first."""
		stall = Stall(method.upper(), path, accept, skip)
		with self.lock:
			self._stalls.append(stall)
		return stall

	def cancel_stalls(self) -> None:
		"""Forget holds no request has reached yet, and release the held ones."""
		with self.lock:
			stalls, self._stalls = self._stalls + self._held, []
			self._held = []
		for stall in stalls:
			stall.release()

	def add_mentions(self, count: int, *, others: bool = True) -> list[str]:
		"""``count`` new mention notifications (and, with ``others``, a follow or favourite now and then)."""
		new = []
		with self.lock:
			for _ in range(count):
				if others and self.rng.random() < 0.15:
					self._add_notification(self.rng.choice(("follow", "favourite")), None)
				status = self._new_mention_status()
				self._add_notification("mention", status)
				new.append(status["id"])
		return new

	# --- ground truth --------------------------------------------------------------------------------------

	def mention_status_ids(self) -> list[str]:
		with self.lock:
			return list(self.mention_status_of.values())

	def mention_statuses_up_to(self, notification_id: str | int) -> set[str]:
		"""Statuses of the mention notifications with an id at or below ``notification_id``."""
		limit = int(notification_id)
		with self.lock:
			return {status for nid, status in self.mention_status_of.items() if nid <= limit}

	def totals(self) -> dict[str, Any]:
		with self.lock:
			return {
				"faults": sum(self.fault_counts.values()),
				"faults_by_kind": dict(sorted(self.fault_counts.items())),
				"requests": sum(self.requests.values()),
				"mentions": len(self.mention_status_of),
				"statuses_created": len(self.created),
				"accepted_then_lost": self.accepted_then_lost,
				"repeated_keys": self.repeated_keys,
				"stalls_held": self.stalls_held,
			}

	# --- building Mastodon entities ------------------------------------------------------------------------

	def _account(self, username: str, account_id: int, local: bool = False) -> dict[str, Any]:
		host = "127.0.0.1" if local else "fosstodon.example"
		return {
			"id": str(account_id), "username": username, "acct": username if local else f"{username}@{host}",
			"display_name": username.replace("-", " ").title(), "url": f"https://{host}/@{username}",
			"locked": False, "bot": False, "created_at": "2023-04-01T00:00:00.000Z", "note": "", "emojis": [],
			"fields": [],
		}

	def _now(self) -> datetime:
		moment = max(datetime.now(timezone.utc), self._last_time + timedelta(milliseconds=1))
		self._last_time = moment
		return moment

	def _new_mention_status(self) -> dict[str, Any]:
		status = copy.deepcopy(self._template["status"])
		number = self._next_status
		self._next_status += self.rng.randint(1, 9)
		status_id = str(number)
		author = self.rng.choice(self.authors)
		earlier = [s for s in self.mention_status_of.values()][-20:]
		reply_to = self.rng.choice(earlier) if earlier and self.rng.random() < 0.2 else None
		visibility = "direct" if self.rng.random() < 0.1 else "public"
		text = f"{self.rng.choice(TEXTS)} (report {status_id[-6:]})"
		status.update({
			"id": status_id, "created_at": _iso(self._now()), "in_reply_to_id": reply_to,
			"in_reply_to_account_id": None, "visibility": visibility, "language": "en",
			"uri": f"https://fosstodon.example/users/{author['username']}/statuses/{status_id}",
			"url": f"https://fosstodon.example/@{author['username']}/{status_id}",
			"content": '<p><span class="h-card"><a href="https://127.0.0.1/@acmehelp" class="u-url mention">'
			f"@<span>acmehelp</span></a></span> {text}</p>",
			"spoiler_text": "outage" if self.rng.random() < 0.05 else "", "media_attachments": [],
			"account": author, "mentions": [], "tags": [],
		})
		self.statuses[status_id] = status
		return status

	def _add_notification(self, kind: str, status: dict[str, Any] | None) -> None:
		notification_id = self._next_notification
		self._next_notification += self.rng.randint(1, 3)
		account = status["account"] if status else self.rng.choice(self.authors)
		entry = {"id": str(notification_id), "type": kind, "created_at": _iso(self._now()), "account": account}
		if status is not None:
			entry["status"] = status
		elif kind == "favourite" and self.statuses:  # someone liked one of the mentions (filtered out by types[]=mention)
			entry["status"] = copy.deepcopy(self.rng.choice(list(self.statuses.values())))
		self.notifications.append(entry)
		if kind == "mention":
			self.mention_status_of[notification_id] = status["id"]

	def _status_for(self, key: str | None, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
		"""Create the status a POST asks for (or return the one its Idempotency-Key created before)."""
		with self.lock:
			now = time.time() + self.clock_offset
			if key and key in self.by_key and now - self._key_time[key] <= self.key_ttl:
				self.repeated_keys += 1
				return 200, self.statuses[self.by_key[key]]
			text = form.get("status", "")
			target = form.get("in_reply_to_id")
			if not text.strip():
				return 422, {"error": "Validation failed: Text can't be blank"}
			if _mastodon_length(text) > MAX_CHARACTERS:
				return 422, {"error": f"Validation failed: Text character limit of {MAX_CHARACTERS} exceeded"}
			if target and target not in self.statuses:
				return 404, {"error": "Record not found"}
			status_id = str(self._next_status)
			self._next_status += self.rng.randint(1, 9)
			status = {
				"id": status_id, "created_at": _iso(self._now()), "in_reply_to_id": target,
				"visibility": form.get("visibility", "public"), "language": form.get("language"),
				"uri": f"{self.base_url}/users/acmehelp/statuses/{status_id}",
				"url": f"{self.base_url}/@acmehelp/{status_id}",
				"content": f"<p>{html.escape(text)}</p>", "spoiler_text": "", "media_attachments": [],
				"account": self.me, "reblog": None,
			}
			self.statuses[status_id] = status
			if key:
				self.by_key[key] = status_id
				self._key_time[key] = now
			self.created.append({
				"key": key, "id": status_id, "in_reply_to_id": target, "text": text,
				"visibility": status["visibility"],
			})
			return 200, status

	def _notifications_page(self, query: dict[str, list[str]]) -> tuple[list[dict[str, Any]], str | None]:
		types = set(query.get("types[]") or ())
		try:
			limit = max(1, min(80, int((query.get("limit") or ["40"])[0])))
		except ValueError:
			limit = 40

		def bound(name: str) -> int | None:
			value = (query.get(name) or [""])[0]
			return int(value) if value.isdigit() else None

		min_id, since_id, max_id = bound("min_id"), bound("since_id"), bound("max_id")
		with self.lock:
			items = [n for n in self.notifications if not types or n["type"] in types]
			if max_id is not None:
				items = [n for n in items if int(n["id"]) < max_id]
			if min_id is not None:
				page = [n for n in items if int(n["id"]) > min_id][:limit]  # just after min_id
			else:
				if since_id is not None:
					items = [n for n in items if int(n["id"]) > since_id]
				page = items[-limit:]  # the newest
			page = list(reversed(page))  # newest first, as Mastodon answers
			link = None
			if page:
				base = f"{self.base_url}/api/v1/notifications"
				extra = [("types[]", t) for t in sorted(types)]
				older = urlencode([("limit", limit), ("max_id", page[-1]["id"]), *extra])
				newer = urlencode([("limit", limit), ("min_id", page[0]["id"]), *extra])
				link = f'<{base}?{older}>; rel="next", <{base}?{newer}>; rel="prev"'
			return copy.deepcopy(page), link

	# --- the fault schedule --------------------------------------------------------------------------------

	def _choose(self, method: str) -> str:
		with self.lock:
			for index, (scripted_method, kind) in enumerate(self._scripted):
				if scripted_method == method:
					del self._scripted[index]
					if kind != "ok":
						self.fault_counts[kind] += 1
					return kind
			rate = self.post_fault_rate if method == "POST" else self.fault_rate
			if rate <= 0 or self.rng.random() >= rate:
				return "ok"
			kinds = [k for k, w in self.weights.items() if w > 0]
			if not kinds:
				return "ok"
			kind = self.rng.choices(kinds, [self.weights[k] for k in kinds])[0]
			self.fault_counts[kind] += 1
			return kind

	def _chance(self, probability: float) -> bool:
		with self.lock:
			return probability > 0 and self.rng.random() < probability

	def _randint(self, low: int, high: int) -> int:
		with self.lock:
			return self.rng.randint(low, high)

	def _take_stall(self, method: str, path: str) -> Stall | None:
		with self.lock:
			for stall in self._stalls:
				if stall.method == method and path.startswith(stall.path):
					if stall.skip > 0:
						stall.skip -= 1
						return None
					self._stalls.remove(stall)
					self._held.append(stall)
					self.stalls_held += 1
					return stall
		return None


def _mastodon_length(text: str) -> int:
	"""Mastodon's count: a URL is 23 characters, a remote mention counts only its @username."""
	text = re.sub(r"https?://\S+", "x" * 23, text)
	text = re.sub(r"(@[\w.]+)@[\w.-]+\w", r"\1", text)
	return len(text)


class _Server(ThreadingHTTPServer):
	daemon_threads = True
	block_on_close = False
	allow_reuse_address = True

	def __init__(self, fake: FakeMastodon):
		self.fake = fake
		self.to_reset: set[socket.socket] = set()
		super().__init__(("127.0.0.1", 0), _Handler)

	def shutdown_request(self, request: socket.socket) -> None:
		if request in self.to_reset:
			# No FIN first: linger 0 and close send a RST, as a crashed proxy or a dropped connection does.
			self.to_reset.discard(request)
			try:
				request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
			except OSError:
				pass
			request.close()
			return
		super().shutdown_request(request)

	def handle_error(self, request: Any, client_address: Any) -> None:
		"""Broken pipes are what the faults are for: nothing to print."""


class _Handler(BaseHTTPRequestHandler):
	protocol_version = "HTTP/1.1"
	timeout = 10  # an idle or stuck client socket ends its thread
	server: _Server

	def log_message(self, *args: Any) -> None:
		pass

	def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
		self._handle("GET")

	def do_POST(self) -> None:  # noqa: N802
		self._handle("POST")

	def _handle(self, method: str) -> None:
		fake = self.server.fake
		self.close_connection = True
		parts = urlsplit(self.path)
		length = int(self.headers.get("Content-Length") or 0)
		body = self.rfile.read(length) if length else b""
		route = {
			("GET", "/api/v1/notifications"): "notifications",
			("POST", "/api/v1/statuses"): "statuses",
			("GET", "/api/v1/accounts/verify_credentials"): "verify_credentials",
		}.get((method, parts.path))
		with fake.lock:
			fake.requests[f"{method} {parts.path}"] += 1
		if route == "notifications" and fake._chance(fake.arrival_rate):
			fake.add_mentions(fake._randint(1, fake.max_burst))

		stall = fake._take_stall(method, parts.path)
		if stall is not None:
			if stall.accept and route == "statuses":
				code, status = fake._status_for(self.headers.get("Idempotency-Key"), _form(body))
				stall.status_id = status.get("id") if code == 200 else None
			stall.arrived.set()
			stall._released.wait(fake.max_stall)
			self._reset()
			return

		if route is None:
			self._json(404, {"error": "Record not found"})
			return
		if self.headers.get("Authorization") != f"Bearer {fake.token}":
			self._json(401, {"error": "The access token is invalid"})
			return

		kind = fake._choose(method)
		if kind in ("rate_limit_reset", "rate_limit_retry_after"):
			reset = fake.now() + timedelta(seconds=fake.reset_seconds)
			headers = {"X-RateLimit-Limit": "300", "X-RateLimit-Remaining": "0"}
			if kind == "rate_limit_reset":
				headers["X-RateLimit-Reset"] = _iso(reset)
			else:
				headers["Retry-After"] = str(int(fake.reset_seconds))
			self._json(429, {"error": "Too many requests"}, headers)
			return
		if kind == "http_500":
			self._json(500, {"error": "We're sorry, but something went wrong on our end."})
			return
		if kind == "http_502":
			self._send(502, b"<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway"
				b"</h1></center><hr><center>nginx</center></body></html>", "text/html")
			return
		if kind == "http_503":
			self._json(503, {"error": "Service Unavailable"}, {"Retry-After": "1"})
			return
		if kind == "html_page":
			self._send(200, b"<!DOCTYPE html><html><head><title>Maintenance</title></head><body><h1>We'll be back "
				b"soon</h1><p>mastodon is being upgraded</p></body></html>", "text/html; charset=utf-8")
			return
		if kind == "connection_reset" and (method != "POST" or fake._chance(0.5)):
			self._reset()
			return

		# The request is carried out; the answer may still be lost on the way back.
		if route == "notifications":
			page, link = fake._notifications_page(parse_qs(parts.query, keep_blank_values=True))
			code, payload, headers = 200, page, ({"Link": link} if link else {})
			if kind == "wrong_shape":
				payload, headers = {"error": "This method requires an authenticated user", "items": page}, {}
		elif route == "statuses":
			code, payload = fake._status_for(self.headers.get("Idempotency-Key"), _form(body))
			headers = {}
			if kind in ACCEPT_THEN_LOSE | {"connection_reset", "wrong_shape"} and code == 200:
				with fake.lock:
					fake.accepted_then_lost += 1
			if kind == "wrong_shape":
				code, payload = 200, [payload]
		else:
			code, payload, headers = 200, fake.me, {}
			if kind == "wrong_shape":
				payload = [fake.me]
		data = json.dumps(payload).encode()

		if kind == "connection_reset":  # a POST that was carried out: the answer never leaves
			self._reset()
		elif kind == "timeout":
			time.sleep(fake.slow_seconds)
			self._send(code, data, "application/json; charset=utf-8", headers)
		elif kind == "truncated_json":
			self._send(code, data[: max(1, len(data) // 2)], "application/json; charset=utf-8", headers)
		elif kind == "body_cut":
			self._send(code, data, "application/json; charset=utf-8", headers, cut=max(1, len(data) // 2))
		else:
			self._send(code, data, "application/json; charset=utf-8", headers)
			if kind == "ok" and code == 200:
				with fake.lock:
					fake.answered[route] += 1

	def _json(self, code: int, payload: Any, headers: dict[str, str] | None = None) -> None:
		self._send(code, json.dumps(payload).encode(), "application/json; charset=utf-8", headers)

	def _send(self, code: int, data: bytes, content_type: str, headers: dict[str, str] | None = None,
			cut: int | None = None) -> None:
		try:
			self.send_response(code)
			self.send_header("Content-Type", content_type)
			self.send_header("Content-Length", str(len(data)))
			self.send_header("Connection", "close")
			for name, value in (headers or {}).items():
				self.send_header(name, value)
			self.end_headers()
			if cut is None:
				self.wfile.write(data)
			else:
				self.wfile.write(data[:cut])
				self.wfile.flush()
				self._reset()
		except OSError:  # the client gave up (timed out) or was killed: nothing to answer
			pass

	def _reset(self) -> None:
		self.server.to_reset.add(self.connection)


def _form(body: bytes) -> dict[str, str]:
	return {name: values[0] for name, values in parse_qs(body.decode("utf-8", "replace")).items()}


__all__ = ["ACCEPT_THEN_LOSE", "FAULT_KINDS", "FakeMastodon", "Stall"]
