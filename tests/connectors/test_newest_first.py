"""Reading newest-first listings down to a high-water mark, across page bounds and deleted anchors."""

from __future__ import annotations

from social_itsm_app.connectors.newest_first import read_newest_first


class Listing:
	"""A fake newest-first listing of items 1..n (time = id), pages of ``size``, tokens = last id of a page."""

	def __init__(self, newest: int, size: int = 10):
		self.ids = list(range(newest, 0, -1))
		self.size = size
		self.deleted: set[int] = set()

	def page(self, token: str | None):
		ids = [i for i in self.ids if i not in self.deleted]
		if token is not None:
			anchor = int(token)
			if anchor in self.deleted:
				return [], None  # Reddit: a listing "after" a deleted item is empty
			ids = [i for i in ids if i < anchor]
		chunk = ids[: self.size]
		more = len(ids) > self.size
		return [{"id": i} for i in chunk], (str(chunk[-1]) if chunk and more else None)


def key(item):
	return str(item["id"]), float(item["id"])


def read(listing: Listing, state: dict, max_pages: int = 2):
	items, new_state, more = read_newest_first(listing.page, key, state, max_pages=max_pages, overlap=0)
	return [int(i["id"]) for i in items], new_state, more


def read_until_closed(listing: Listing, state: dict, max_pages: int = 2) -> tuple[list[int], dict]:
	got: list[int] = []
	for _ in range(20):
		items, state, more = read(listing, state, max_pages)
		got += items
		if not more:
			return got, state
	raise AssertionError("the gap never closed")


def test_first_run_reads_one_page_then_only_newer_items():
	listing = Listing(20)
	first, state, more = read(listing, {})
	assert first == list(range(20, 10, -1)) and not more
	listing.ids = list(range(25, 0, -1))
	second, state, more = read(listing, state)
	assert second == [25, 24, 23, 22, 21]


def test_a_page_bound_leaves_a_gap_that_the_next_run_closes_without_skips_or_repeats():
	listing = Listing(20)
	_, state, _ = read(listing, {})
	listing.ids = list(range(60, 0, -1))
	got, state, more = read(listing, state)  # 40 new items, 2 pages of 10 per run
	assert more and got == list(range(60, 40, -1))
	rest, state = read_until_closed(listing, state)
	assert rest == list(range(40, 20, -1))
	assert read(listing, state)[0] == []


def test_a_deleted_anchor_does_not_skip_the_rest_of_the_gap():
	listing = Listing(20)
	_, state, _ = read(listing, {})
	listing.ids = list(range(60, 0, -1))
	got, state, more = read(listing, state, max_pages=2)
	assert more and got == list(range(60, 40, -1))
	listing.deleted.add(int(state["page"]))  # the item the saved token points at is deleted
	listing.ids = list(range(63, 0, -1))  # three more arrive meanwhile
	rest, state = read_until_closed(listing, state)
	assert sorted(got + rest) == list(range(21, 64))  # 41 was returned before it was deleted; none lost, none twice
	again, _, _ = read(listing, state)
	assert again == []
