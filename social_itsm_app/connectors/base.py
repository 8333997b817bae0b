"""The connector contract: what every network module returns and raises.

Nothing here imports frappe. The Frappe layer (jobs, webhooks, the reply path) talks to networks only
through :class:`Connector`, so a network can be added, replaced or tested without a site.

Rules every connector keeps:

* ``fetch(cursor)`` returns only posts newer than ``cursor`` and never the same post twice; the caller stores
  the posts first and the returned cursor after them, so a crash between the two re-reads, never skips.
* Every failure is a :class:`ConnectorError` (or its subclasses :class:`AuthError`, :class:`RateLimited`);
  no other exception type leaves the constructor, ``fetch``/``send_reply``/``publish``/``verify_credentials``,
  whatever went wrong inside (a parsing bug, RecursionError, a requests exception). :func:`_guarded` enforces it.
* Secrets never reach a log. Error messages are redacted, and the escaped error carries no chained exception
  and no traceback frame below the public method: a job runner that logs every frame's local variables
  (Frappe does) would otherwise print the token from a config dict, a header dict or a Telegram URL. The
  objects that hold secrets (:class:`SecretConfig`, the connector, its HttpClient) print ``***``.
* One fetch stays bounded: responses are capped in bytes and time (``max_response_bytes``,
  ``request_deadline``, see :mod:`~social_itsm_app.connectors.http`) and in items (``max_items_per_fetch``,
  see :meth:`Connector._bound_pages`).
"""

from __future__ import annotations

import abc
import functools
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar

import requests

from social_itsm_app.connectors.errors import ConnectorError, RateLimited, cap_reset
from social_itsm_app.connectors.http import MAX_RESPONSE_BYTES, REQUEST_DEADLINE, HttpClient, Secrets
from social_itsm_app.connectors.split import split_reply

KINDS = ("mention", "direct", "search", "comment", "feed")
# Bound on the posts one listing returns per fetch (config ``max_items_per_fetch``), see Connector._bound_pages.
DEFAULT_MAX_ITEMS = 1000


# Config keys whose names say "secret", whatever the connector declares (saved tokens, webhook secrets).
_SECRET_NAME = re.compile(r"token|secret|password|passwd|jwt|api_?key|cookie|credential", re.IGNORECASE)


class SecretConfig(dict):
	"""A connector's configuration: an ordinary dict that never prints its secret values.

	Secret keys (declared ones, and any key whose name says token/secret/password/...) print as ``***``, and
	every other value is printed with any secret in it blanked, so a traceback's captured locals stay clean.
	"""

	__slots__ = ("secret_keys",)

	def __init__(self, values: Mapping[str, Any] = (), secret_keys: Iterable[str] = ()):
		super().__init__(values)
		self.secret_keys = frozenset(secret_keys)

	def is_secret(self, key: Any) -> bool:
		return key in self.secret_keys or bool(_SECRET_NAME.search(str(key)))

	def secret_values(self) -> list[str]:
		return [str(value) for key, value in self.items() if value and self.is_secret(key)]

	def __repr__(self) -> str:
		secrets = [s for s in self.secret_values() if len(s) >= 4]
		shown = {}
		for key, value in self.items():
			if self.is_secret(key) and value:
				shown[key] = "***"
				continue
			text = repr(value)
			for secret in secrets:
				text = text.replace(secret, "***")
			shown[key] = _Raw(text)
		return f"{type(self).__name__}({shown!r})"

	__str__ = __repr__

	def __reduce__(self):
		return (type(self), (dict(self), self.secret_keys))


class _Raw(str):
	"""Prints as itself (an already redacted repr), so a dict of them prints without extra quotes."""

	def __repr__(self) -> str:
		return str(self)


# Public entry points that must raise nothing but a redacted ConnectorError (see _guarded).
_GUARDED = ("__init__", "fetch", "send_reply", "publish", "verify_credentials")


def _guarded(method: Callable) -> Callable:
	"""Wrap a public entry point: any exception leaves as a redacted ConnectorError without chain or inner frames.

	Raised after the ``except`` block on purpose: no ``__context__`` is attached, and the traceback starts at
	this frame, whose locals hold no config (``args`` is deleted first; it is the raw config in ``__init__``).
	"""
	if getattr(method, "_guarded", False):
		return method

	@functools.wraps(method)
	def guarded(self, *args, **kwargs):
		try:
			return method(self, *args, **kwargs)
		except Exception as exc:
			error = _public_error(self, exc)
		del args, kwargs
		raise error

	guarded._guarded = True
	return guarded


def _public_error(connector: Connector, exc: Exception) -> ConnectorError:
	network = getattr(connector, "network", "connector")
	if isinstance(exc, ConnectorError):
		error = exc
		error.args = tuple(connector._redact(str(arg)) if isinstance(arg, str) else arg for arg in error.args)
	else:
		# The type and message say what broke; the frames (and their locals) stay behind.
		error = ConnectorError(
			connector._redact(f"{network}: unexpected error ({type(exc).__name__}: {_message(exc)})")
		)
	if isinstance(error, RateLimited):
		error.reset_at = cap_reset(error.reset_at)
	error.__cause__ = error.__context__ = None
	error.__suppress_context__ = True
	return error.with_traceback(None)


def _message(exc: Exception, limit: int = 300) -> str:
	try:
		return str(exc)[:limit]
	except Exception:  # a broken __str__ must not hide the original failure
		return "(no message)"


@dataclass(slots=True)
class SocialPost:
	network: str
	external_id: str
	text: str
	author_id: str
	author_handle: str
	author_name: str
	created_at: datetime
	url: str
	kind: str
	thread_id: str | None = None
	in_reply_to_id: str | None = None
	language: str | None = None
	raw: dict = field(default_factory=dict)
	# What the network needs to answer this post (ids, handles, chat ids); small and JSON-serialisable,
	# so the Frappe layer can store it and rebuild the post when an agent replies days later.
	reply_ref: dict = field(default_factory=dict)

	def to_dict(self) -> dict[str, Any]:
		data = {name: getattr(self, name) for name in self.__slots__}
		data["created_at"] = self.created_at.isoformat()
		return data

	@classmethod
	def from_dict(cls, data: Mapping[str, Any]) -> SocialPost:
		values = {name: data.get(name) for name in cls.__slots__}
		values["created_at"] = parse_datetime(data["created_at"])
		values["raw"] = values["raw"] or {}
		values["reply_ref"] = values["reply_ref"] or {}
		return cls(**values)


@dataclass(slots=True)
class FetchResult:
	posts: list[SocialPost]
	cursor: str | None
	# True when the per-call page bound stopped the fetch early: call again soon with the new cursor.
	has_more: bool = False


@dataclass(slots=True)
class SentReply:
	external_id: str
	url: str


@dataclass(slots=True)
class AccountInfo:
	"""Who the credentials belong to, shown by the channel form's "Test connection"."""

	id: str
	handle: str
	name: str = ""
	url: str = ""


class Connector(abc.ABC):
	"""Base class of every network connector.

	Subclasses implement ``_fetch``, ``_send_part`` and ``verify_credentials`` and set the class attributes;
	those that can publish set ``can_publish`` and implement ``_publish_part``.
	The public methods here apply the shared rules (dedupe, ordering, splitting, resuming a half-sent chain);
	the constructor and every public entry point, the base's and any a subclass overrides, are wrapped by
	:func:`_guarded` (see ``__init_subclass__``), so whatever breaks leaves as a redacted ConnectorError.

	``on_state_saved`` (set by the caller) is called with :attr:`saved_state` the moment a connector learns a
	new token (X rotates single-use refresh tokens), before any further request: store it right away, so a
	crash later in the run cannot lose the only valid token.
	"""

	network: ClassVar[str]
	required_keys: ClassVar[tuple[str, ...]] = ()
	# Keys of config whose values must never be logged.
	secret_keys: ClassVar[tuple[str, ...]] = ()
	# Length limits; ``measure`` names a counter in :mod:`social_itsm_app.connectors.split`.
	public_limit: ClassVar[int] = 500
	private_limit: ClassVar[int | None] = None  # None: the network has no private channel
	measure: ClassVar[str] = "graphemes"
	max_pages: ClassVar[int] = 10
	# True when the network de-duplicates a resent request by our idempotency key (Mastodon), so a reply
	# whose delivery state is unknown (worker killed mid-send) may safely be sent again.
	# True when the network rotates tokens as they are used (single-use refresh tokens, sessions): the
	# caller must let one job at a time use the credentials and save what ``on_state_saved`` hands over.
	rotates_tokens: ClassVar[bool] = False
	# How long the network remembers an idempotency key: a resend after that would post the reply again.
	idempotency_window: ClassVar[timedelta | None] = None
	idempotent_replies: ClassVar[bool] = False
	# The network allows a top-level post (a status broadcast) with this channel's credentials and settings;
	# a connector may turn it off per channel (a missing broadcast target). ``publish_note`` says, in plain
	# words for admins, where a broadcast goes or why it cannot.
	can_publish: ClassVar[bool] = False
	publish_note: ClassVar[str] = ""
	# Items one page of the connector's listings holds when it has no ``page_size`` (see _bound_pages).
	page_items: ClassVar[int] = 100
	# Feeds may be redirected to another host (without credentials); API calls never are.
	cross_origin_redirects: ClassVar[bool] = False

	def __init_subclass__(cls, **kwargs: Any):
		super().__init_subclass__(**kwargs)
		for name in _GUARDED:
			method = cls.__dict__.get(name)
			if callable(method) and not getattr(method, "__isabstractmethod__", False):
				setattr(cls, name, _guarded(method))

	@_guarded
	def __init__(self, config: Mapping[str, Any], session: requests.Session | None = None):
		self.config = SecretConfig(config, self.secret_keys)
		missing = [key for key in self.required_keys if not self.config.get(key)]
		if missing:
			raise ConnectorError(f"{self.network}: missing configuration: {', '.join(missing)}")
		self.saved_state: dict[str, Any] = SecretConfig({}, self.secret_keys)
		self.on_state_saved: Callable[[dict[str, Any]], None] | None = None
		self.max_pages = int(self.config.get("max_pages") or self.max_pages)
		self.max_items = config_int(self.config.get("max_items_per_fetch"), DEFAULT_MAX_ITEMS, 1)
		self.http = HttpClient(
			session=session,
			retries=int(self.config.get("http_retries", 3)),
			backoff=float(self.config.get("http_backoff", 1.0)),
			timeout=float(self.config.get("timeout") or 30),
			secrets=Secrets(str(self.config[k]) for k in self.secret_keys if self.config.get(k)),
			classify=self.classify_error,
			user_agent=self.config.get("user_agent"),
			max_bytes=config_int(self.config.get("max_response_bytes"), MAX_RESPONSE_BYTES, 1),
			deadline=float(self.config.get("request_deadline") or REQUEST_DEADLINE),
			cross_origin_redirects=self.cross_origin_redirects,
			check_url=self.check_url,
		)

	def __repr__(self) -> str:
		return f"<{type(self).__name__} {getattr(self, 'config', None)!r}>"

	__str__ = __repr__

	# --- public contract -------------------------------------------------------------------------------

	@_guarded
	def fetch(self, cursor: str | None = None) -> FetchResult:
		"""Return the posts newer than ``cursor`` (oldest first) and the cursor to pass next time."""
		self.max_pages = self._bound_pages()
		try:
			result = self._fetch(decode_cursor(cursor))
		except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
			# A known kind of surprise gets a known wording; _guarded strips the chain and the frames.
			raise ConnectorError(f"{self.network}: unexpected response shape ({type(exc).__name__}: {exc})") from None
		result.posts = unique_posts(result.posts)
		return result

	@_guarded
	def send_reply(
		self,
		text: str,
		in_reply_to: SocialPost,
		private: bool = False,
		*,
		already_sent: Sequence[SentReply] = (),
		idempotency_key: str | None = None,
		on_sent: Callable[[SentReply], None] | None = None,
	) -> list[SentReply]:
		"""Answer ``in_reply_to``; a text over the network's limit goes out as a chained thread.

		``already_sent`` are parts a previous attempt delivered: they are skipped and the chain continues
		from the last one, so a retry never posts a part twice. ``on_sent`` is called as soon as the network
		accepts each part, so the caller can record it before the next one goes out.
		"""
		# A direct message is only ever answered privately: never turn a private conversation public.
		private = private or in_reply_to.kind == "direct"
		if private and self.private_limit is None:
			raise ConnectorError(f"{self.network}: this network has no private replies; answer publicly instead")
		limit = self.reply_limit(private)
		parts = split_reply(self.prepare_reply_text(text, in_reply_to, private), limit, self.measure)
		send = functools.partial(self._reply_part, in_reply_to=in_reply_to, private=private)
		return self._send_chain(parts, send, already_sent, idempotency_key, on_sent, "reply")

	@_guarded
	def publish(
		self,
		text: str,
		*,
		already_sent: Sequence[SentReply] = (),
		idempotency_key: str | None = None,
		on_sent: Callable[[SentReply], None] | None = None,
	) -> list[SentReply]:
		"""A top-level post (a status broadcast); a text over :meth:`publish_limit` goes out as a numbered
		chain whose first part is top level and whose later parts answer the part before.

		Same rules as :meth:`send_reply`: ``already_sent`` parts are skipped, ``on_sent`` hears of each part as
		the network accepts it, and an error carries ``sent`` and ``maybe_delivered``. A channel that cannot
		publish (``can_publish`` False) raises a ConnectorError saying why (``publish_note``).
		"""
		if not self.can_publish:
			raise ConnectorError(self.publish_note or f"{self.network}: this channel cannot publish")
		parts = split_reply(self.prepare_publish_text(text), self.publish_limit(), self.measure)
		if not parts:
			raise ConnectorError(f"{self.network}: nothing to publish (the text is empty)")
		return self._send_chain(parts, self._publish_part, already_sent, idempotency_key, on_sent, "publish")

	def _send_chain(
		self,
		parts: Sequence[str],
		send_part: Callable[[str, SentReply | None, str | None], SentReply],
		already_sent: Sequence[SentReply],
		idempotency_key: str | None,
		on_sent: Callable[[SentReply], None] | None,
		what: str,
	) -> list[SentReply]:
		"""Post ``parts`` in order, each after the previous one, resuming after ``already_sent``.

		Part ``i`` gets the key ``{idempotency_key}-{i}`` whatever attempt sends it, so a network that
		de-duplicates by key recognises a resent part. Every error leaves with ``sent`` set to the parts that
		did go out, so a retry never repeats them.
		"""
		sent = list(already_sent)
		try:
			for index, part in enumerate(parts):
				if index < len(sent):
					continue
				previous = sent[-1] if sent else None
				key = f"{idempotency_key}-{index}" if idempotency_key else None
				sent.append(send_part(part, previous, key))
				if on_sent:
					on_sent(sent[-1])
		except ConnectorError as exc:
			exc.sent = sent
			raise
		except Exception as exc:
			# Any other failure still reports the parts already delivered, so a retry never repeats them.
			raise ConnectorError(
				f"{self.network}: unexpected {what} response ({type(exc).__name__}: {_message(exc)})", sent=sent
			) from None
		return sent

	def _reply_part(
		self, text: str, previous: SentReply | None, key: str | None, *, in_reply_to: SocialPost, private: bool
	) -> SentReply:
		return self._send_part(text, in_reply_to, previous, private, key)

	@abc.abstractmethod
	def verify_credentials(self) -> AccountInfo:
		"""Make one cheap authenticated call and say which account it reached."""

	# --- for subclasses --------------------------------------------------------------------------------

	@abc.abstractmethod
	def _fetch(self, state: dict[str, Any]) -> FetchResult:
		"""Read new posts; ``state`` is the decoded cursor (empty on the first run)."""

	@abc.abstractmethod
	def _send_part(
		self,
		text: str,
		post: SocialPost,
		previous: SentReply | None,
		private: bool,
		idempotency_key: str | None,
	) -> SentReply:
		"""Send one part: a reply to ``previous`` when set (the chain), else to ``post``."""

	def reply_limit(self, private: bool) -> int:
		return int(self.config.get("reply_limit") or (self.private_limit if private else self.public_limit))

	def prepare_publish_text(self, text: str) -> str:
		"""Hook: a network's rule for what a post may contain (X's links), applied before splitting."""
		return text.strip()

	def publish_limit(self) -> int:
		"""The length of one published part, in the network's measure (a public post's limit by default)."""
		return self.reply_limit(False)

	def _publish_part(self, text: str, previous: SentReply | None, idempotency_key: str | None) -> SentReply:
		"""Post one part of a broadcast: top level when ``previous`` is None, else an answer to ``previous``."""
		raise ConnectorError(self.publish_note or f"{self.network}: this channel cannot publish")

	def prepare_reply_text(self, text: str, post: SocialPost, private: bool) -> str:
		"""Hook for networks that address the author inside the text (Mastodon's ``@acct``)."""
		return text.strip()

	def classify_error(self, response: requests.Response) -> ConnectorError | None:
		"""Hook: turn a network-specific error answer into a typed error (None = default handling)."""
		return None

	def check_url(self, url: str) -> None:  # noqa: B027 - an optional hook, empty on purpose
		"""Hook: refuse a URL (raise ConnectorError) before it is requested, redirect targets included."""

	def _save_state(self, **values: Any) -> None:
		"""Keep a new token in ``saved_state`` and hand it to ``on_state_saved`` before any further request."""
		self.saved_state.update(values)
		if self.on_state_saved is not None:
			self.on_state_saved(SecretConfig(self.saved_state, self.secret_keys))

	def _bound_pages(self) -> int:
		"""``max_pages`` lowered so that one listing's pages hold at most ``max_items_per_fetch`` items.

		Why pages and not a cut of the result: each connector's cursor knows how to stop after a page bound
		without a gap (``has_more`` and a kept ``before``/``pending``/``next_token``), but a cursor cannot be
		moved back generically to exclude cut posts (X pages newest first, Mastodon's cursor is a notification
		id, not a post id). Cutting would lose posts, so the bound is on pages, per listing: a connector that
		reads several listings (mentions, search, hashtags, DMs) may return up to that many times the cap.
		Feeds are one document and cut their own entries safely (see ``FeedConnector._fetch``).
		"""
		per_page = int(getattr(self, "page_size", None) or self.page_items)
		return max(1, min(self.max_pages, self.max_items // max(1, per_page)))

	def _redact(self, text: str) -> str:
		"""Redact with everything known: the HTTP layer's secrets (refreshed tokens too) and the config's."""
		http = getattr(self, "http", None)
		if http is not None:
			text = http.redact(text)
		config = getattr(self, "config", None)
		if isinstance(config, SecretConfig):
			for secret in sorted(config.secret_values(), key=len, reverse=True):
				if len(secret) >= 4:
					text = text.replace(secret, "***")
		return text


# --- cursors -----------------------------------------------------------------------------------------


def decode_cursor(cursor: str | None) -> dict[str, Any]:
	if not cursor:
		return {}
	try:
		state = json.loads(cursor)
	except ValueError as exc:
		raise ConnectorError(f"stored cursor is not valid: {cursor[:80]!r}") from exc
	if not isinstance(state, dict):
		raise ConnectorError(f"stored cursor is not valid: {cursor[:80]!r}")
	return state


def encode_cursor(state: Mapping[str, Any]) -> str | None:
	clean = {key: value for key, value in state.items() if value not in (None, "", [], {})}
	return json.dumps(clean, sort_keys=True, separators=(",", ":")) if clean else None


# --- helpers shared by connectors --------------------------------------------------------------------


def unique_posts(posts: Iterable[SocialPost]) -> list[SocialPost]:
	"""Drop repeated external ids (pages overlap when posts arrive during paging); oldest first."""
	seen: set[str] = set()
	unique = []
	for post in posts:
		if post.external_id not in seen:
			seen.add(post.external_id)
			unique.append(post)
	unique.sort(key=lambda post: post.created_at)
	return unique


def parse_datetime(value: str | int | float | datetime) -> datetime:
	"""ISO-8601 strings (with ``Z`` or an offset) or epoch seconds to an aware UTC datetime."""
	if isinstance(value, datetime):
		moment = value
	elif isinstance(value, int | float):
		moment = datetime.fromtimestamp(value, tz=timezone.utc)
	else:
		text = str(value).strip()
		if text.endswith(("Z", "z")):
			text = text[:-1] + "+00:00"
		moment = datetime.fromisoformat(text)
	if moment.tzinfo is None:
		moment = moment.replace(tzinfo=timezone.utc)
	return moment.astimezone(timezone.utc)


def id_order(value: str) -> tuple[int, str]:
	"""Sort key for numeric string ids of any length (X snowflakes, Mastodon ids)."""
	return (len(value), value) if value.isdigit() else (0, value)


def newest_id(*ids: str | None) -> str | None:
	present = [i for i in ids if i]
	return max(present, key=id_order) if present else None


def split_list(value: Any) -> list[str]:
	"""Config lists arrive as text (one per line or comma separated) or as lists."""
	if not value:
		return []
	if isinstance(value, str):
		value = value.replace(",", "\n").splitlines()
	return [str(item).strip() for item in value if str(item).strip()]


def config_int(value: Any, default: int, low: int | None = None, high: int | None = None) -> int:
	"""An integer config value (may arrive as text), clamped to what the API accepts."""
	try:
		number = int(value) if value not in (None, "") else default
	except (TypeError, ValueError):
		number = default
	if low is not None:
		number = max(low, number)
	if high is not None:
		number = min(high, number)
	return number


def config_flag(value: Any) -> bool:
	"""A yes/no config value that may arrive as text ("0", "false") or as a Frappe Check (0/1)."""
	if isinstance(value, str):
		return value.strip().lower() in ("1", "true", "yes", "on")
	return bool(value)
