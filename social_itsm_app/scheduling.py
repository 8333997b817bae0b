"""When a channel is fetched next (pure): its interval, failures backing off, rate-limit pauses.

The Frappe layer stores the result in ``Social Channel.next_fetch_at`` (indexed), so the every-minute
scheduler tick finds due channels with one indexed query however many channels there are.
"""

from __future__ import annotations

from datetime import datetime, timedelta

MAX_BACKOFF = timedelta(hours=6)
# Failures double the wait up to this many times (interval * 2**6 = 64 intervals, capped at MAX_BACKOFF).
MAX_DOUBLINGS = 6


def next_fetch_at(
	now: datetime,
	interval_minutes: int,
	consecutive_failures: int = 0,
	paused_until: datetime | None = None,
	has_more: bool = False,
) -> datetime:
	"""The next time to fetch: soon when a page bound left posts behind, later after failures."""
	interval = timedelta(minutes=max(1, interval_minutes or 1))
	if has_more and not consecutive_failures:
		wait = timedelta(0)
	elif consecutive_failures:
		wait = min(interval * (2 ** min(consecutive_failures, MAX_DOUBLINGS)), max(MAX_BACKOFF, interval))
	else:
		wait = interval
	moment = now + wait
	if paused_until and paused_until > moment:
		moment = paused_until
	return moment
