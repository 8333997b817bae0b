"""The one HTTP layer every connector uses: timeouts, bounded retries, rate limits, typed errors.

Why its own layer: a scheduled job must never hang (timeouts), never sleep through a rate-limit window
(we raise :class:`RateLimited` with the reset time and let the scheduler pause the channel), never post a
reply twice (non-idempotent requests are not retried after the request may have reached the server), and
never write a token into a log (messages are redacted).
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import requests

if TYPE_CHECKING:
	from social_itsm_app.connectors.base import ConnectorError

DEFAULT_USER_AGENT = "social_itsm_app/0.1 (+https://frappe.io/helpdesk)"
RETRY_STATUSES = frozenset({500, 502, 503, 504, 520, 521, 522, 523, 524})
# When a network sends 429 without saying for how long, wait this long.
DEFAULT_RATE_LIMIT_WAIT = timedelta(minutes=1)


class HttpClient:
	def __init__(
		self,
		session: requests.Session | None = None,
		*,
		retries: int = 3,
		backoff: float = 1.0,
		timeout: float = 30,
		secrets: Iterable[str] = (),
		classify: Callable[[requests.Response], ConnectorError | None] | None = None,
		user_agent: str | None = None,
		sleep: Callable[[float], None] = time.sleep,
	):
		self.session = session or requests.Session()
		self.retries = max(0, retries)
		self.backoff = max(0.0, backoff)
		self.timeout = timeout
		self.secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)
		self.classify = classify
		self.user_agent = user_agent or DEFAULT_USER_AGENT
		self.sleep = sleep

	def add_secret(self, value: str | None) -> None:
		"""Register a secret learnt at run time (a refreshed token) for redaction."""
		if value and len(value) >= 4 and value not in self.secrets:
			self.secrets.append(value)
			self.secrets.sort(key=len, reverse=True)

	def redact(self, text: str) -> str:
		for secret in self.secrets:
			text = text.replace(secret, "***")
		return text

	def request(
		self,
		method: str,
		url: str,
		*,
		params: Mapping[str, Any] | list[tuple[str, Any]] | None = None,
		json: Any = None,
		data: Any = None,
		headers: Mapping[str, str] | None = None,
		auth: Any = None,
		idempotent: bool | None = None,
		ok_statuses: Iterable[int] = (),
	) -> requests.Response:
		"""Send a request; return the response when its status is 2xx/3xx or listed in ``ok_statuses``.

		``idempotent`` defaults to True for GET/HEAD: only such requests are retried after a read timeout
		or a 5xx, because a POST that timed out may have been accepted already.
		"""
		from social_itsm_app.connectors.base import AuthError, ConnectorError, RateLimited

		if idempotent is None:
			idempotent = method.upper() in ("GET", "HEAD", "OPTIONS")
		all_headers = {"User-Agent": self.user_agent, **(headers or {})}
		allowed = set(ok_statuses)
		attempt = 0
		while True:
			try:
				response = self.session.request(
					method,
					url,
					params=params,
					json=json,
					data=data,
					headers=all_headers,
					auth=auth,
					timeout=self.timeout,
				)
			except requests.exceptions.RequestException as exc:
				transient = isinstance(exc, requests.exceptions.ConnectionError | requests.exceptions.Timeout)
				if transient and attempt < self.retries and (idempotent or not _may_have_reached_server(exc)):
					self._wait(attempt)
					attempt += 1
					continue
				message = f"{method} {_short(url)}: {_network_failure(exc, self.timeout)}"
				# "from None": the requests exception holds the raw URL, which may carry a token (Telegram).
				raise ConnectorError(self.redact(message)) from None

			status = response.status_code
			if status < 400 or status in allowed:
				return response
			special = self.classify(response) if self.classify else None
			if special is not None:
				special.args = (self.redact(str(special)),)
				raise special
			if status == 429:
				reset_at = rate_limit_reset(response)
				raise RateLimited(
					self.redact(f"{method} {_short(url)}: rate limited until {reset_at.isoformat()}"),
					reset_at=reset_at,
					status=status,
				)
			if status in (401, 403):
				raise AuthError(self.redact(f"{method} {_short(url)}: {status} {_body_hint(response)}"), status=status)
			if status in RETRY_STATUSES and idempotent and attempt < self.retries:
				self._wait(attempt)
				attempt += 1
				continue
			raise ConnectorError(self.redact(f"{method} {_short(url)}: HTTP {status} {_body_hint(response)}"), status=status)

	def get_json(self, url: str, **kwargs: Any) -> Any:
		return self.json(self.request("GET", url, **kwargs))

	def post_json(self, url: str, **kwargs: Any) -> Any:
		return self.json(self.request("POST", url, **kwargs))

	def json(self, response: requests.Response) -> Any:
		"""Parse a JSON body; an HTML error page or garbage with a 200 becomes a clear ConnectorError."""
		from social_itsm_app.connectors.base import ConnectorError

		try:
			return response.json()
		except ValueError:
			kind = response.headers.get("Content-Type", "unknown content type")
			raise ConnectorError(
				self.redact(f"{_short(response.url or '')}: expected JSON, got {kind}: {_body_hint(response)}"),
				status=response.status_code,
			) from None  # the decode error embeds the whole body, unredacted

	def _wait(self, attempt: int) -> None:
		if self.backoff:
			self.sleep(self.backoff * (2**attempt))


def rate_limit_reset(response: requests.Response, now: datetime | None = None) -> datetime:
	"""When may we call again? Reads the headers networks use, in the forms they use them.

	* ``Retry-After``: seconds or an HTTP date (Discourse, Bluesky, many others);
	* ``x-rate-limit-reset`` (X) and ``ratelimit-reset`` (Bluesky): Unix epoch seconds;
	* ``X-RateLimit-Reset`` as an ISO-8601 time (Mastodon) or as seconds from now (Reddit: small numbers).
	"""
	now = now or datetime.now(timezone.utc)
	headers = response.headers
	retry_after = headers.get("Retry-After")
	if retry_after:
		moment = _parse_delay_or_date(retry_after, now)
		if moment:
			return moment
	for name in ("x-rate-limit-reset", "ratelimit-reset", "X-RateLimit-Reset", "x-ratelimit-reset"):
		value = headers.get(name)
		if value:
			moment = _parse_reset(value, now)
			if moment:
				return moment
	return now + DEFAULT_RATE_LIMIT_WAIT


def _parse_delay_or_date(value: str, now: datetime) -> datetime | None:
	value = value.strip()
	try:
		return now + timedelta(seconds=float(value))
	except ValueError:
		pass
	try:
		moment = email.utils.parsedate_to_datetime(value)
	except (TypeError, ValueError):
		return None
	return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _parse_reset(value: str, now: datetime) -> datetime | None:
	value = value.strip()
	try:
		number = float(value)
	except ValueError:
		number = None
	if number is not None:
		# Epoch seconds are ~1.7e9; anything below a year's worth of seconds is a delay (Reddit).
		if number > 10**9:
			return datetime.fromtimestamp(number, tz=timezone.utc)
		return now + timedelta(seconds=number)
	try:
		text = value[:-1] + "+00:00" if value.endswith("Z") else value
		moment = datetime.fromisoformat(text)
	except ValueError:
		return None
	return moment.astimezone(timezone.utc) if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _network_failure(exc: Exception, timeout: float) -> str:
	"""What went wrong, in words an admin can act on (the raw exception text repeats the whole URL)."""
	text = str(exc).lower()
	if isinstance(exc, requests.exceptions.Timeout):
		return f"timed out after {timeout:g}s"
	if "name or service not known" in text or "nameresolution" in text or "failed to resolve" in text:
		return "the host name does not resolve (check the base URL, and that this server reaches the internet)"
	if "connection refused" in text:
		return "connection refused (is the base URL right?)"
	if isinstance(exc, requests.exceptions.SSLError):
		return "TLS/SSL handshake failed (certificate problem on the network's side or a proxy)"
	if isinstance(exc, requests.exceptions.ConnectionError):
		return "the connection failed or was cut"
	return f"request failed ({type(exc).__name__})"


def _may_have_reached_server(exc: Exception) -> bool:
	"""Only a failed connect is sure not to have delivered the request; a read timeout may have."""
	if isinstance(exc, requests.exceptions.ConnectTimeout):
		return False
	if isinstance(exc, requests.exceptions.ConnectionError):
		text = str(exc).lower()
		return not any(m in text for m in ("connection refused", "name or service not known", "failed to establish"))
	return True


def _short(url: str) -> str:
	return url.split("?", 1)[0]


def _body_hint(response: requests.Response, limit: int = 200) -> str:
	text = (response.text or "").strip().replace("\n", " ")
	if text.lower().startswith(("<!doctype", "<html")):
		return "(an HTML page instead of an API answer)"
	return text[:limit]
