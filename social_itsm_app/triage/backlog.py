"""Backlog: posts written before the channel listened, or long before we read them, are not acted on.

A new channel's first fetch reads the newest page of the account's mentions, which on a real account reaches
back weeks; a fetch after a long pause reads hours of posts. Those land for agents to look at, but nothing
answers them on its own: an auto-convert rule and its auto-reply ("Thanks, this is ticket #…") to a
three-week-old post would surprise its author and flood the desk with stale tickets.
"""

from __future__ import annotations

from datetime import datetime, timedelta

# Posts older than this when we read them are backlog, whenever the channel started listening.
DEFAULT_MAX_AGE = timedelta(hours=1)


def is_backlog(
	written_at: datetime, listening_since: datetime | None, now: datetime, max_age: timedelta | None = DEFAULT_MAX_AGE
) -> bool:
	"""True when automatic actions must leave the post alone (all datetimes aware, or all naive)."""
	if listening_since is not None and written_at < listening_since:
		return True
	return max_age is not None and max_age.total_seconds() > 0 and now - written_at > max_age
