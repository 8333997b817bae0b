"""What a connector raises: every failure is a ConnectorError (see base.py for the rules), and a rate limit
carries the time the network said to come back, capped.

Its own module so that the contract (base.py) and the HTTP layer (http.py) both import it and not each other.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, timezone

# A Retry-After of years (a bug or a hostile server) must not pause a channel for years.
MAX_RATE_LIMIT_WAIT = timedelta(hours=24)
# A reset time already past (clock skew) still waits a little, so the scheduler does not spin.
MIN_RATE_LIMIT_WAIT = timedelta(seconds=5)


class ConnectorError(Exception):
	"""A network call failed after bounded retries, or the answer had an unexpected shape.

	``sent`` lists the parts (``SentReply``) of a split reply that did reach the network before the failure, so the caller
	can record them and resume with ``already_sent`` instead of posting them again. ``maybe_delivered`` says the
	failed request may have been carried out all the same: resending it is safe only where the network
	de-duplicates it.
	"""

	def __init__(self, message: str, *, status: int | None = None, sent: Sequence = (), maybe_delivered: bool = False):
		super().__init__(message)
		self.status = status
		self.sent = list(sent)
		# A request that changes something (a reply) failed after it may have reached the network (a read
		# timeout, a cut connection, a gateway error): the network may have acted on it.
		self.maybe_delivered = maybe_delivered


class AuthError(ConnectorError):
	"""Credentials were refused (401/403, revoked or expired token): an admin must act."""


class RateLimited(ConnectorError):
	"""The network asked us to wait until ``reset_at`` (timezone-aware UTC)."""

	def __init__(self, message: str, *, reset_at: datetime, status: int | None = 429, sent: Sequence = ()):
		super().__init__(message, status=status, sent=sent)
		self.reset_at = cap_reset(reset_at)
		self.raised_at = datetime.now(timezone.utc)

	@property
	def resume_at(self) -> datetime:
		"""When the scheduler may call again: ``reset_at``, but never in the past (a past reset waits a few seconds).

		``reset_at`` itself keeps what the network said (capped at MAX_RATE_LIMIT_WAIT), so it stays testable.
		"""
		return resume_time(self.reset_at, self.raised_at)


def cap_reset(moment: datetime, now: datetime | None = None) -> datetime:
	"""Keep a reset time within ``MAX_RATE_LIMIT_WAIT`` of now (a Retry-After of years is a bug, not a plan).

	A time already past is kept as it is here (it is what the network said); :attr:`RateLimited.resume_at`
	adds the ``MIN_RATE_LIMIT_WAIT`` floor for the scheduler.
	"""
	now = now or datetime.now(timezone.utc)
	if moment.tzinfo is None:
		moment = moment.replace(tzinfo=timezone.utc)
	return min(moment, now + MAX_RATE_LIMIT_WAIT)


def resume_time(reset_at: datetime, now: datetime | None = None) -> datetime:
	"""When to call again: ``reset_at`` capped, and never in the past (a past reset still waits a few seconds)."""
	now = now or datetime.now(timezone.utc)
	return max(cap_reset(reset_at, now), now + MIN_RATE_LIMIT_WAIT)
