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
	for _ in range(max(1, max_pages)):
		items, token = fetch_page(token)
		reached = False
		for item in items:
			item_id, moment = key(item)
			if window.floor is not None and moment < window.floor:
				reached = True  # older than the mark: every later page is older still
				continue
			if window.is_new(item_id, moment) and item_id not in pending.seen:
				new.append(item)
				pending.add(item_id, moment)
		if reached or first_run or not token or not items:
			return new, _closed(window, pending), False
	# The page bound stopped us above the mark: keep the mark and continue from ``token`` next time.
	gap = {"floor": state.get("floor"), "seen": state.get("seen"), "page": token, "pending": pending.state()}
	return new, gap, True


def _closed(window: SeenWindow, pending: SeenWindow) -> dict[str, Any]:
	"""The gap is closed: the new mark covers the old one and everything returned meanwhile."""
	for item_id, moment in pending.seen.items():
		window.add(item_id, moment)
	if pending.floor is not None:
		# ids below pending's floor were trimmed from it; the floor must stay above them.
		window.floor = pending.floor if window.floor is None else max(window.floor, pending.floor)
	return window.state()
