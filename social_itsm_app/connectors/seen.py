"""A bounded window of recently seen ids, for streams that only offer time order (no since_id).

Facebook comments/Messenger and RSS/Atom feeds have no monotonic id to resume from: we keep a high-water
time and the ids seen near it. An item is new when it is not older than ``floor`` and its id was not seen.
Overlapping the window (``overlap`` seconds below the newest time) catches items a network indexes late
(same-second posts, eventual consistency, feeds that re-order or re-publish), and the seen ids make that
overlap free of duplicates. The window stays small: at most ``limit`` ids, and when it must drop some it
raises ``floor`` above them, so a dropped id can never come back as new.
"""

from __future__ import annotations

from typing import Any


class SeenWindow:
	__slots__ = ("floor", "limit", "overlap", "seen")

	def __init__(self, state: dict[str, Any] | None, *, overlap: float, limit: int):
		state = state or {}
		# floor: epoch seconds; items older than this are never new (None: first run, everything is).
		self.floor: float | None = state.get("floor")
		self.seen: dict[str, float] = dict(state.get("seen") or {})
		self.overlap = overlap
		self.limit = max(1, limit)

	@property
	def first_run(self) -> bool:
		return self.floor is None and not self.seen

	def is_new(self, item_id: str, moment: float) -> bool:
		if item_id in self.seen:
			return False
		return self.floor is None or moment >= self.floor

	def add(self, item_id: str, moment: float) -> None:
		if moment > self.seen.get(item_id, float("-inf")):
			self.seen[item_id] = moment

	def state(self, *, keep_floor: bool = False) -> dict[str, Any]:
		"""The cursor part; ``keep_floor`` holds the old floor while a paging gap is still open."""
		if not self.seen:
			return {"floor": self.floor} if self.floor is not None else {}
		newest = max(self.seen.values())
		floor = newest - self.overlap
		if keep_floor and self.floor is not None:
			floor = min(floor, self.floor)
		elif self.floor is not None:
			floor = max(floor, self.floor)  # never move backwards
		kept = sorted(((t, i) for i, t in self.seen.items() if t >= floor), reverse=True)
		if len(kept) > self.limit:
			cut = kept[self.limit - 1][0]
			# Drop the whole tie group at the cut so every id at or above the new floor is still kept.
			trimmed = [(t, i) for t, i in kept[: self.limit] if t > cut]
			if trimmed:
				kept = trimmed
				floor = trimmed[-1][0]
			else:
				kept = kept[: self.limit]  # more than ``limit`` ids in one second: keep the newest ones
				floor = cut
		return {"floor": floor, "seen": {i: t for t, i in kept}}
