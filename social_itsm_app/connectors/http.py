"""The one HTTP layer every connector uses: timeouts, bounded retries, rate limits, typed errors.

Why its own layer: a scheduled job must never hang (timeouts and a total deadline per request), never sleep
through a rate-limit window (we raise :class:`RateLimited` with the reset time, capped at
:data:`MAX_RATE_LIMIT_WAIT`, and let the scheduler pause the channel), never post a reply twice
(non-idempotent requests are not retried after the request may have reached the server), never read an
unbounded body (bodies are streamed under a byte cap), never hand credentials to another host (redirects are
followed by hand, on the same origin only) and never write a token into a log (messages are redacted, and
the objects holding credentials print ``***``).
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import requests

from social_itsm_app.connectors.errors import (
	MAX_RATE_LIMIT_WAIT,
	AuthError,
	ConnectorError,
	RateLimited,
	cap_reset,
)

DEFAULT_USER_AGENT = "social_itsm_app/0.1 (+https://frappe.io/helpdesk)"
# A gateway gave up waiting for the network's server, which may still have carried the request out.
GATEWAY_STATUSES = frozenset({502, 504, 522, 524})
RETRY_STATUSES = frozenset({500, 502, 503, 504, 520, 521, 522, 523, 524})
# When a network sends 429 without saying for how long, wait this long.
DEFAULT_RATE_LIMIT_WAIT = timedelta(minutes=1)
# Every answer is read into memory: bound it (config ``max_response_bytes`` per connector).
MAX_RESPONSE_BYTES = 5 * 1024 * 1024
# Total wall-clock time for one request() call, retries and redirects included (config ``request_deadline``).
REQUEST_DEADLINE = 60.0
MAX_REDIRECTS = 5
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# Headers that carry credentials: masked when printed, dropped on a cross-origin redirect.
CREDENTIAL_HEADERS = frozenset(
	{"authorization", "proxy-authorization", "cookie", "api-key", "api-username", "x-api-key", "x-auth-token"}
)
_CHUNK = 16 * 1024
_DEFAULT_PORTS = {"http": 80, "https": 443}


class Secrets(list):
	"""The secret values a client redacts; printing the list never shows them."""

	def __repr__(self) -> str:
		return f"<{len(self)} secrets>"

	__str__ = __repr__


class RedactedHeaders(dict):
	"""Request headers whose credential values print as ``***`` (they are locals in traceback frames)."""

	def __repr__(self) -> str:
		return repr({k: "***" if str(k).lower() in CREDENTIAL_HEADERS else v for k, v in self.items()})

	__str__ = __repr__


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
		max_bytes: int = MAX_RESPONSE_BYTES,
		deadline: float = REQUEST_DEADLINE,
		cross_origin_redirects: bool = False,
		check_url: Callable[[str], None] | None = None,
		clock: Callable[[], float] = time.monotonic,
	):
		self.session = session or requests.Session()
		self.retries = max(0, retries)
		self.backoff = max(0.0, backoff)
		self.timeout = timeout
		self.secrets = Secrets(sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True))
		self.classify = classify
		self.user_agent = user_agent or DEFAULT_USER_AGENT
		self.sleep = sleep
		self.max_bytes = max(1, int(max_bytes))
		self.deadline = max(0.001, float(deadline))
		# Feeds may move to another host (a CDN); they then go on without credentials. APIs never do.
		self.cross_origin_redirects = cross_origin_redirects
		# Called with every URL before it is requested (the first one and each redirect target); raises to refuse.
		self.check_url = check_url
		self.clock = clock

	def __repr__(self) -> str:
		return f"<HttpClient {len(self.secrets)} secrets redacted, timeout={self.timeout:g}s>"

	__str__ = __repr__

	def add_secret(self, value: str | None) -> None:
		"""Register a secret learnt at run time (a refreshed token) for redaction."""
		if value and len(value) >= 4 and value not in self.secrets:
			self.secrets.append(value)
			self.secrets.sort(key=len, reverse=True)

	def redact(self, text: str) -> str:
		for secret in self.secrets:
			# URL-encoded too: a token in a query string or path appears escaped in some messages.
			for form in {secret, quote(secret, safe=""), quote(secret)}:
				text = text.replace(form, "***")
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
		or a 5xx, because a POST that timed out may have been accepted already. The body is already read
		(under ``max_bytes``) when this returns; redirects are followed here (see :meth:`_exchange`).
		"""

		if idempotent is None:
			idempotent = method.upper() in ("GET", "HEAD", "OPTIONS")
		all_headers = RedactedHeaders({"User-Agent": self.user_agent, **(headers or {})})
		allowed = set(ok_statuses)
		deadline = self.clock() + self.deadline
		attempt = 0
		# Whether any attempt of a request that changes something (a POST) may have been carried out: the
		# network may have acted on it even when a later attempt fails differently (a 429 after a timeout).
		changes = method.upper() not in ("GET", "HEAD", "OPTIONS")
		maybe_delivered = False
		while True:
			try:
				response = self._exchange(method, url, params, json, data, all_headers, auth, deadline)
			except requests.exceptions.RequestException as exc:
				transient = isinstance(exc, requests.exceptions.ConnectionError | requests.exceptions.Timeout)
				reached = _may_have_reached_server(exc)
				maybe_delivered = maybe_delivered or (changes and reached)
				may_retry = idempotent or not reached
				if transient and may_retry and attempt < self.retries and self._time_left(deadline, attempt):
					self._wait(attempt)
					attempt += 1
					continue
				message = f"{method} {_short(url)}: {_network_failure(exc, self.timeout)}"
				# "from None": the requests exception holds the raw URL, which may carry a token (Telegram).
				raise ConnectorError(self.redact(message), maybe_delivered=maybe_delivered) from None

			status = response.status_code
			if status < 400 or status in allowed:
				return response
			maybe_delivered = maybe_delivered or (changes and status in GATEWAY_STATUSES)
			try:
				self._raise_for(method, url, response, idempotent, attempt, deadline)
			except ConnectorError as error:
				error.maybe_delivered = error.maybe_delivered or maybe_delivered
				raise
			self._wait(attempt)
			attempt += 1

	def _raise_for(
		self, method: str, url: str, response: requests.Response, idempotent: bool, attempt: int, deadline: float
	) -> None:
		"""Raise the typed error for a refused request; return when it may be retried."""
		status = response.status_code
		special = self.classify(response) if self.classify else None
		if special is not None:
			special.args = (self.redact(str(special)),)
			if isinstance(special, RateLimited):
				special.reset_at = cap_reset(special.reset_at)
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
		if status in RETRY_STATUSES and idempotent and attempt < self.retries and self._time_left(deadline, attempt):
			return
		raise ConnectorError(self.redact(f"{method} {_short(url)}: HTTP {status} {_body_hint(response)}"), status=status)

	def _exchange(
		self,
		method: str,
		url: str,
		params: Any,
		json: Any,
		data: Any,
		headers: RedactedHeaders,
		auth: Any,
		deadline: float,
	) -> requests.Response:
		"""One attempt: send, follow redirects by hand (requests would carry ``Api-Key`` to any host), read the body."""

		origin = _origin(url)
		for _ in range(MAX_REDIRECTS + 1):
			if self.check_url:
				self.check_url(url)
			response = self.session.request(
				method,
				url,
				params=params,
				json=json,
				data=data,
				headers=headers,
				auth=auth,
				timeout=self._read_timeout(deadline, method, url),
				allow_redirects=False,
				stream=True,
			)
			location = response.headers.get("Location") if response.status_code in REDIRECT_STATUSES else None
			if not location:
				self._read_body(response, deadline, method, url)
				return response
			response.close()
			target = urljoin(response.url or url, location.strip())
			self._refuse_unsafe_redirect(method, url, target, origin)
			if _origin(target) != origin:
				headers, auth = _without_credentials(headers, self.secrets), None
			method, json, data = _redirected_request(response.status_code, method, json, data)
			url, params = target, None  # the Location is complete: the query is already in it
		raise ConnectorError(self.redact(f"{method} {_short(url)}: more than {MAX_REDIRECTS} redirects"))

	def _refuse_unsafe_redirect(self, method: str, url: str, target: str, origin: tuple) -> None:

		scheme = urlsplit(target).scheme.lower()
		if scheme not in _DEFAULT_PORTS or (urlsplit(url).scheme.lower() == "https" and scheme != "https"):
			raise ConnectorError(
				self.redact(f"{method} {_short(url)}: redirected to {_short(target)}; refusing to leave https")
			)
		if _origin(target) != origin and not self.cross_origin_redirects:
			raise ConnectorError(
				self.redact(
					f"{method} {_short(url)}: redirected to another host ({_short(target)}); "
					"refusing to send credentials there (check the base URL)"
				)
			)

	def _read_body(self, response: requests.Response, deadline: float, method: str, url: str) -> None:
		"""Stream the body under the byte cap and the deadline, then keep it as ``response.content``."""

		declared = response.headers.get("Content-Length", "").strip()
		too_big = f"{method} {_short(url)}: the answer is larger than {self.max_bytes} bytes (max_response_bytes)"
		if declared.isdigit() and int(declared) > self.max_bytes:
			response.close()
			raise ConnectorError(self.redact(too_big), status=response.status_code)
		body = bytearray()
		# Between chunks only: one blocked read is bounded by the per-read timeout, not by this check.
		for chunk in response.iter_content(_CHUNK):
			body += chunk
			if len(body) > self.max_bytes:
				response.close()
				raise ConnectorError(self.redact(too_big), status=response.status_code)
			if self.clock() > deadline:
				response.close()
				raise ConnectorError(self.redact(self._deadline_message(method, url)), status=response.status_code)
		response._content = bytes(body)
		response._content_consumed = True

	def _read_timeout(self, deadline: float, method: str, url: str) -> float:

		left = deadline - self.clock()
		if left <= 0:
			raise ConnectorError(self.redact(self._deadline_message(method, url)))
		return min(self.timeout, left)

	def _deadline_message(self, method: str, url: str) -> str:
		return f"{method} {_short(url)}: no complete answer within {self.deadline:g}s (request_deadline)"

	def _time_left(self, deadline: float, attempt: int) -> bool:
		"""Is there time for the backoff and one more attempt? Otherwise fail now instead of at the deadline."""
		wait = self.backoff * (2**attempt) if self.backoff else 0.0
		return self.clock() + wait < deadline

	def get_json(self, url: str, **kwargs: Any) -> Any:
		return self.json(self.request("GET", url, **kwargs))

	def post_json(self, url: str, **kwargs: Any) -> Any:
		return self.json(self.request("POST", url, **kwargs))

	def json(self, response: requests.Response) -> Any:
		"""Parse a JSON body; an HTML error page or garbage with a 200 becomes a clear ConnectorError."""

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

	The answer is capped to :data:`MAX_RATE_LIMIT_WAIT` from now (see :func:`cap_reset`).
	"""
	now = now or datetime.now(timezone.utc)
	headers = response.headers
	retry_after = headers.get("Retry-After")
	if retry_after:
		moment = _parse_delay_or_date(retry_after, now)
		if moment:
			return cap_reset(moment, now)
	for name in ("x-rate-limit-reset", "ratelimit-reset", "X-RateLimit-Reset", "x-ratelimit-reset"):
		value = headers.get(name)
		if value:
			moment = _parse_reset(value, now)
			if moment:
				return cap_reset(moment, now)
	return now + DEFAULT_RATE_LIMIT_WAIT


def _seconds_after(now: datetime, seconds: float) -> datetime:
	# Clamp before building the timedelta: "1e400" or an absurd number must not overflow.
	limit = MAX_RATE_LIMIT_WAIT.total_seconds() * 2
	return now + timedelta(seconds=max(-limit, min(seconds, limit)))


def _parse_delay_or_date(value: str, now: datetime) -> datetime | None:
	value = value.strip()
	try:
		seconds = float(value)
	except ValueError:
		seconds = None
	if seconds is not None:
		return _seconds_after(now, seconds) if seconds == seconds else None  # NaN is no delay
	try:
		moment = email.utils.parsedate_to_datetime(value)
	except (TypeError, ValueError, OverflowError):
		return None
	return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _parse_reset(value: str, now: datetime) -> datetime | None:
	value = value.strip()
	try:
		number = float(value)
	except ValueError:
		number = None
	if number is not None:
		if number != number:
			return None  # NaN
		# Epoch seconds are ~1.7e9; anything below a year's worth of seconds is a delay (Reddit).
		if number > 10**9:
			try:
				return datetime.fromtimestamp(number, tz=timezone.utc)
			except (OverflowError, OSError, ValueError):
				return now + MAX_RATE_LIMIT_WAIT  # beyond year 9999: capped anyway
		return _seconds_after(now, number)
	try:
		text = value[:-1] + "+00:00" if value.endswith("Z") else value
		moment = datetime.fromisoformat(text)
	except ValueError:
		return None
	return moment.astimezone(timezone.utc) if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _origin(url: str) -> tuple[str, str, int | None]:
	parts = urlsplit(url)
	scheme = parts.scheme.lower()
	try:
		port = parts.port
	except ValueError:
		port = None
	return scheme, (parts.hostname or "").lower(), port or _DEFAULT_PORTS.get(scheme)


def _without_credentials(headers: Mapping[str, str], secrets: Iterable[str]) -> RedactedHeaders:
	"""The headers minus anything that authenticates us (named credential headers, or a value holding a secret)."""
	known = list(secrets)
	return RedactedHeaders(
		{
			name: value
			for name, value in headers.items()
			if name.lower() not in CREDENTIAL_HEADERS and not any(secret in str(value) for secret in known)
		}
	)


def _redirected_request(status: int, method: str, json: Any, data: Any) -> tuple[str, Any, Any]:
	"""What browsers and requests do: 303 (and 301/302 after a POST) become a GET without a body."""
	if status == 303 and method.upper() != "HEAD" or status in (301, 302) and method.upper() == "POST":
		return "GET", None, None
	return method, json, data


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
