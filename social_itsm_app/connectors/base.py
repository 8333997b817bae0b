"""The connector contract: what every network module returns and raises.

Nothing here imports frappe. The Frappe layer (jobs, webhooks, the reply path) talks to networks only
through :class:`Connector`, so a network can be added, replaced or tested without a site.

Rules every connector keeps:

* ``fetch(cursor)`` returns only posts newer than ``cursor`` and never the same post twice; the caller stores
  the posts first and the returned cursor after them, so a crash between the two re-reads, never skips.
* Every failure is a :class:`ConnectorError` (or its subclasses :class:`AuthError`, :class:`RateLimited`);
  no other exception type leaves ``fetch``/``send_reply``/``verify_credentials``.
* Secrets never appear in an error message (the HTTP layer redacts them).
"""

from __future__ import annotations

import abc
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, ClassVar

import requests

from social_itsm_app.connectors.http import HttpClient
from social_itsm_app.connectors.split import split_reply

KINDS = ("mention", "direct", "search", "comment", "feed")


class ConnectorError(Exception):
	"""A network call failed after bounded retries, or the answer had an unexpected shape.

	``sent`` lists the parts of a split reply that did reach the network before the failure, so the caller
	can record them and resume with ``already_sent`` instead of posting them again.
	"""

	def __init__(self, message: str, *, status: int | None = None, sent: Sequence[SentReply] = ()):
		super().__init__(message)
		self.status = status
		self.sent = list(sent)


class AuthError(ConnectorError):
	"""Credentials were refused (401/403, revoked or expired token): an admin must act."""


class RateLimited(ConnectorError):
	"""The network asked us to wait until ``reset_at`` (timezone-aware UTC)."""

	def __init__(self, message: str, *, reset_at: datetime, status: int | None = 429, sent: Sequence = ()):
		super().__init__(message, status=status, sent=sent)
		self.reset_at = reset_at


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

	Subclasses implement ``_fetch``, ``_send_part`` and ``verify_credentials`` and set the class attributes.
	The public methods here turn stray parsing errors into :class:`ConnectorError` and apply the shared
	rules (dedupe, ordering, splitting, resuming a half-sent chain).
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
	idempotent_replies: ClassVar[bool] = False

	def __init__(self, config: Mapping[str, Any], session: requests.Session | None = None):
		self.config = dict(config)
		missing = [key for key in self.required_keys if not self.config.get(key)]
		if missing:
			raise ConnectorError(f"{self.network}: missing configuration: {', '.join(missing)}")
		self.saved_state: dict[str, Any] = {}
		self.max_pages = int(self.config.get("max_pages") or self.max_pages)
		self.http = HttpClient(
			session=session,
			retries=int(self.config.get("http_retries", 3)),
			backoff=float(self.config.get("http_backoff", 1.0)),
			timeout=float(self.config.get("timeout") or 30),
			secrets=[str(self.config[k]) for k in self.secret_keys if self.config.get(k)],
			classify=self.classify_error,
			user_agent=self.config.get("user_agent"),
		)

	# --- public contract -------------------------------------------------------------------------------

	def fetch(self, cursor: str | None = None) -> FetchResult:
		"""Return the posts newer than ``cursor`` (oldest first) and the cursor to pass next time."""
		try:
			result = self._fetch(decode_cursor(cursor))
		except ConnectorError:
			raise
		except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
			raise ConnectorError(f"{self.network}: unexpected response shape ({type(exc).__name__}: {exc})") from exc
		result.posts = unique_posts(result.posts)
		return result

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
		sent = list(already_sent)
		try:
			for index, part in enumerate(parts):
				if index < len(sent):
					continue
				previous = sent[-1] if sent else None
				key = f"{idempotency_key}-{index}" if idempotency_key else None
				sent.append(self._send_part(part, in_reply_to, previous, private, key))
				if on_sent:
					on_sent(sent[-1])
		except ConnectorError as exc:
			exc.sent = sent
			raise
		except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
			raise ConnectorError(
				f"{self.network}: unexpected reply response ({type(exc).__name__}: {exc})", sent=sent
			) from exc
		return sent

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

	def prepare_reply_text(self, text: str, post: SocialPost, private: bool) -> str:
		"""Hook for networks that address the author inside the text (Mastodon's ``@acct``)."""
		return text.strip()

	def classify_error(self, response: requests.Response) -> ConnectorError | None:
		"""Hook: turn a network-specific error answer into a typed error (None = default handling)."""
		return None


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
