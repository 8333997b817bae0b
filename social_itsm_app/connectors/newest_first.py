"""Reading a newest-first listing down to what an earlier run already read (Bluesky, Reddit).

Bluesky notifications/search and Reddit listings come newest first with an opaque "older" page token and
no usable ``since`` anchor (Reddit's ``before=<fullname>`` returns nothing once that item is deleted). So we
keep a high-water mark: a :class:`SeenWindow` (newest time minus an overlap, plus the ids seen inside it).
A run reads pages from the top until a page reaches items older than the mark.

When the per-call page bound stops a run before that, the old mark is kept unchanged, together with the
token of the next older page and the ids returned so far ("pending"); the next run continues from the token
and adopts the new mark only once the gap is closed, so nothing is skipped and nothing is returned twice.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from social_itsm_app.connectors.seen import SeenWindow

# fetch_page(token or None) -> (items newest first, token of the next older page or None)
PageReader = Callable[[str | None], tuple[Sequence[dict[str, Any]], str | None]]
# key(item) -> (stable id, epoch seconds used for ordering)
ItemKey = Callable[[dict[str, Any]], tuple[str, float]]


def read_newest_first(
	fetch_page: PageReader,
	key: ItemKey,
	state: dict[str, Any],
	*,
	max_pages: int,
	overlap: float,
	limit: int = 300,
) -> tuple[list[dict[str, Any]], dict[str, Any], bool]:
	"""Return ``(new items, new stream state, has_more)``; items keep the listing's order."""
	window = SeenWindow(state, overlap=overlap, limit=limit)
	first_run = window.first_run
	token = state.get("page") or None
	# What earlier runs of an open gap returned; they must not come back while the gap is being closed.
	pending = SeenWindow(state.get("pending") if token else None, overlap=overlap, limit=limit)
	new: list[dict[str, Any]] = []
	# Stretches of the listing (by time) that earlier runs of this open gap returned in full: a restart from
	# the top skips them. Bounded memory, unlike keeping every id.
	runs = _Runs(state.get("runs") if token else None)
	resumed = token is not None
	for _ in range(max(1, max_pages)):
		items, next_token = fetch_page(token)
		if resumed and not items:
			# The item the saved page token points at was deleted (Reddit then answers an empty page): read
			# again from the top, skipping what this gap already returned, down to the old mark.
			resumed, token = False, None
			runs.close()
			continue
		resumed, token = False, next_token
		reached = False
		for item in items:
			item_id, moment = key(item)
			if window.floor is not None and moment < window.floor:
				reached = True  # older than the mark: every later page is older still
				continue
			if runs.covers(moment) or not window.is_new(item_id, moment) or item_id in pending.seen:
				runs.close()
				continue
			new.append(item)
			pending.add(item_id, moment)
			runs.extend(moment)
		if reached or first_run or not token or not items:
			return new, _closed(window, pending), False
	# The page bound stopped us above the mark: keep the mark and continue from ``token`` next time.
	runs.close()
	gap = {"floor": state.get("floor"), "seen": state.get("seen"), "page": token, "pending": pending.state()}
	if runs.done:
		gap["runs"] = runs.done
	return new, gap, True


class _Runs:
	"""Contiguous stretches [oldest, newest] of returned items, walking a newest-first listing downwards."""

	MAX = 8

	def __init__(self, done: list[list[float]] | None):
		self.done = [list(run) for run in done or []]
		self.current: list[float] | None = None

	def covers(self, moment: float) -> bool:
		return any(low <= moment <= high for low, high in self.done)

	def extend(self, moment: float) -> None:
		if self.current is None:
			self.current = [moment, moment]
		else:
			self.current[0] = min(self.current[0], moment)

	def close(self) -> None:
		if self.current is not None:
			self.done.append(self.current)
			self.current = None
			self.done = sorted(self.done, reverse=True)[: self.MAX]


def _closed(window: SeenWindow, pending: SeenWindow) -> dict[str, Any]:
	"""The gap is closed: the new mark covers the old one and everything returned meanwhile."""
	for item_id, moment in pending.seen.items():
		window.add(item_id, moment)
	if pending.floor is not None:
		# ids below pending's floor were trimmed from it; the floor must stay above them.
		window.floor = pending.floor if window.floor is None else max(window.floor, pending.floor)
	return window.state()
