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


def start(status: str, attempts: int, idempotent_network: bool) -> str:
	"""What a send job does with a reply it finds in ``status``."""
	if status == SENT:
		return SKIP
	if status == SENDING and attempts:
		return SEND if idempotent_network else IN_DOUBT
	if status == FAILED and attempts >= MAX_ATTEMPTS:
		return SKIP
	return SEND


def next_attempt(now: datetime, attempts: int, reset_at: datetime | None = None) -> datetime | None:
	"""When to try a failed reply again (None: give up and leave it to an agent)."""
	if attempts >= MAX_ATTEMPTS:
		return None
	delay = RETRY_DELAYS[min(attempts, len(RETRY_DELAYS)) - 1] if attempts else RETRY_DELAYS[0]
	moment = now + delay
	return max(moment, reset_at) if reset_at else moment
