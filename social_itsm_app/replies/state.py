"""The Social Reply state machine (pure): what a send job may do, and when a failed reply is retried.

Queued -> Sending -> Sent
              \\-> Failed -> (retry after a delay) -> Sending ...

"Sending" is written and committed *before* the network is called. A job that finds a reply still
"Sending" knows a worker died mid-send and that the network may have accepted the text: it resends only
when the network de-duplicates by idempotency key; otherwise it fails the reply and asks an agent, so a
customer never gets the same answer twice.
"""

from __future__ import annotations

from datetime import datetime, timedelta

QUEUED, SENDING, SENT, FAILED = "Queued", "Sending", "Sent", "Failed"
REPLY_STATUSES = (QUEUED, SENDING, SENT, FAILED)
# How an answer goes out (Social Reply.reply_mode, a channel's default, a ticket's social_reply_mode).
PUBLIC, PRIVATE = "Public", "Private"
REPLY_MODES = (PUBLIC, PRIVATE)
MAX_ATTEMPTS = 5
RETRY_DELAYS = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=15), timedelta(hours=1))
UNKNOWN_DELIVERY = (
	"The worker stopped while sending, so the network may already have this reply. "
	"Check the conversation on the network; use Retry only if the reply is not there."
)

SEND, SKIP, IN_DOUBT = "send", "skip", "in doubt"


def start(status: str, attempts: int, resend_safe: bool, in_doubt: bool = False) -> str:
	"""What a send job does with a reply it finds in ``status``.

	``resend_safe``: the network would de-duplicate a resend now (an idempotent network, within the time it
	remembers our key). ``in_doubt``: an earlier attempt may have been carried out (it timed out after sending).
	"""
	if status == SENT:
		return SKIP
	if status == SENDING and attempts:
		return SEND if resend_safe else IN_DOUBT  # a worker died mid-send
	if status == FAILED and attempts >= MAX_ATTEMPTS:
		return SKIP
	if status == FAILED and in_doubt and not resend_safe:
		return IN_DOUBT
	return SEND


def safe_until(first_attempt: datetime | None, idempotent_network: bool, window: timedelta | None) -> datetime | None:
	"""Until when a resend is de-duplicated by the network (None: never; datetime.max: always)."""
	if not idempotent_network:
		return None
	if window is None or first_attempt is None:
		return datetime.max
	return first_attempt + window


def after_failure(
	now: datetime, attempts: int, reset_at: datetime | None, in_doubt: bool, resend_safe_until: datetime | None
) -> datetime | None:
	"""When to try again after a failed attempt; None leaves the reply to an agent.

	A reply that may already be on the network is retried only while a resend is still de-duplicated: Mastodon
	forgets an Idempotency-Key after an hour, and a retry after a two-hour rate limit would post it again.
	"""
	retry_at = next_attempt(now, attempts, reset_at)
	if in_doubt and retry_at is not None and (resend_safe_until is None or retry_at >= resend_safe_until):
		return None
	return retry_at


def next_attempt(now: datetime, attempts: int, reset_at: datetime | None = None) -> datetime | None:
	"""When to try a failed reply again (None: give up and leave it to an agent)."""
	if attempts >= MAX_ATTEMPTS:
		return None
	delay = RETRY_DELAYS[min(attempts, len(RETRY_DELAYS)) - 1] if attempts else RETRY_DELAYS[0]
	moment = now + delay
	return max(moment, reset_at) if reset_at else moment
