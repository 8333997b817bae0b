"""Fault injection: the real Mastodon connector against a local fake Mastodon that fails on purpose.

The fake (tests/fakes/mastodon_server.py, 127.0.0.1 only) answers most requests as Mastodon does and injects
429s (reset header or Retry-After), 500/502/503, answers slower than the client waits, connection resets, bodies
cut mid-way, truncated JSON, HTML pages and JSON of the wrong shape, while new mentions keep arriving. Nothing
of the code under test is replaced: the connector, its HTTP layer and requests talk to a real socket.

The "store" here is a dict that keeps the site's contract (ingest/jobs.py): a fetch that raises stores nothing;
a successful one stores its posts and then its cursor, together; a worker that dies before the commit stores
neither. The site version of this suite (social_itsm_app/tests/test_faults.py) runs the real job and database.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from datetime import datetime, timedelta, timezone

from social_itsm_app.connectors import ConnectorError, RateLimited, SentReply, get_connector
from social_itsm_app.connectors.base import decode_cursor
from tests.fakes.mastodon_server import FAULT_KINDS, FakeMastodon

SEED = 20261203
FETCH_ROUNDS = 800
REPLIES = 60
# Short timeouts keep hundreds of injected timeouts cheap; the fake answers those later than this.
CLIENT = {"timeout": 0.08, "http_retries": 1, "http_backoff": 0, "request_deadline": 2, "page_size": 8}
# Every kind, timeouts less often than the others (each costs the client its timeout).
WEIGHTS = {kind: (0.4 if kind == "timeout" else 1.0) for kind in FAULT_KINDS}


def connector(server: FakeMastodon, **overrides):
	"""A new connector per round, as every job builds its own."""
	return get_connector("mastodon", {"base_url": server.base_url, "access_token": server.token, **CLIENT, **overrides})


class MemoryStore:
	"""Posts by external id and the cursor, committed together or not at all."""

	def __init__(self):
		self.posts: dict[str, object] = {}
		self.cursor: str | None = None
		self.redelivered = 0  # a post the connector returned again after it was committed

	def commit(self, result) -> None:
		for post in result.posts:
			if post.external_id in self.posts:
				self.redelivered += 1
			self.posts[post.external_id] = post
		self.cursor = result.cursor or self.cursor  # as record_success: an empty answer keeps the cursor

	def cursor_position(self) -> str | None:
		return decode_cursor(self.cursor).get("notifications")


def check_cursor_not_ahead(store: MemoryStore, server: FakeMastodon) -> None:
	position = store.cursor_position()
	if position:
		missing = server.mention_statuses_up_to(position) - set(store.posts)
		assert not missing, f"the cursor ({position}) names notifications whose posts are not stored: {sorted(missing)[:5]}"


def test_fetching_through_hundreds_of_faults_loses_and_doubles_nothing():
	rng = random.Random(SEED)
	started = time.monotonic()
	with FakeMastodon(seed=SEED, weights=WEIGHTS, slow_seconds=0.25, arrival_rate=0.3, max_burst=4,
			author_prefix="tier1", reset_seconds=3) as server:
		store = MemoryStore()
		# The first fetch reads only the newest page (no history crawl, by design): it runs without faults, and
		# with a page that holds every mention there is so far.
		store.commit(connector(server, page_size=80).fetch(None))
		server.set_faults(0.35)
		outcomes: Counter[str] = Counter()
		positions = []
		for _ in range(FETCH_ROUNDS):
			before = store.cursor_position()
			try:
				result = connector(server).fetch(store.cursor)
			except RateLimited as exc:
				# The reset the network named (a few seconds ahead), not the default minute and never the past.
				now = datetime.now(timezone.utc)
				assert now - timedelta(seconds=2) < exc.reset_at < now + timedelta(seconds=server.reset_seconds + 2)
				outcomes["rate limited"] += 1
			except ConnectorError:
				outcomes["failed"] += 1
			else:
				if rng.random() < 0.1:
					outcomes["worker died before the commit"] += 1  # fetched, never stored: neither moves
				else:
					store.commit(result)
					outcomes["stored"] += 1
			check_cursor_not_ahead(store, server)
			position = store.cursor_position()
			assert int(position or 0) >= int(before or 0), "the cursor went backwards"
			positions.append(position)

		server.faults_off()
		for _ in range(100):  # drain: everything that arrived is read, within a bounded number of fetches
			try:
				result = connector(server).fetch(store.cursor)
			except ConnectorError:
				continue  # a slow machine can still miss the short client timeout: try again, nothing moved
			store.commit(result)
			if not result.posts and not result.has_more:
				break
		check_cursor_not_ahead(store, server)
		expected = set(server.mention_status_ids())
		lost = expected - set(store.posts)
		phantom = set(store.posts) - expected
		totals = server.totals()

	assert not lost, f"{len(lost)} posts lost, e.g. {sorted(lost)[:5]}"
	assert not phantom, f"posts that are no mention on the server: {sorted(phantom)[:5]}"
	assert store.redelivered == 0, f"{store.redelivered} posts came again after their cursor was stored"
	assert totals["faults"] >= 400, totals
	assert set(totals["faults_by_kind"]) == set(server.weights), totals  # every kind was injected
	assert outcomes["stored"] > 100 and outcomes["failed"] > 100 and outcomes["rate limited"] > 20, outcomes
	print(
		f"\nfault injection, fetch (tier 1): {totals['faults']} faults {totals['faults_by_kind']}; "
		f"{FETCH_ROUNDS} fetches {dict(outcomes)}; {len(store.posts)} posts, 0 lost, 0 duplicates; "
		f"{totals['requests']} requests; {time.monotonic() - started:.1f}s"
	)


def test_replies_through_faults_are_accepted_once_per_part():
	"""Each reply is retried until it is out; a retry passes the parts recorded so far (``already_sent``) and the
	same idempotency key, as replies/outbound.py does. Now and then the worker "dies" right after the network
	accepted a part, before recording it: the resend must get the same status back, not post a second one."""
	rng = random.Random(SEED + 1)
	started = time.monotonic()
	with FakeMastodon(seed=SEED + 1, initial_mentions=REPLIES, arrival_rate=0, slow_seconds=0.25, weights=WEIGHTS,
			author_prefix="tier1r") as server:
		posts = connector(server, page_size=80).fetch(None).posts
		assert len(posts) >= 40
		server.set_faults(0.0, post_rate=0.45)
		recorded: dict[str, list[SentReply]] = {}
		texts: dict[str, str] = {}
		attempts: Counter[str] = Counter()
		lost_records = 0
		for index in range(REPLIES):
			post = posts[index % len(posts)]
			key = f"tier1-reply-{index}"
			# Every third answer is long enough to become a chain of two or three parts.
			texts[key] = f"Answer {index}: we restarted the VPN concentrator. " * (1 if index % 3 else 22)
			parts: list[SentReply] = recorded.setdefault(key, [])

			def record(part: SentReply, parts=parts) -> None:
				if rng.random() < 0.15:
					raise RuntimeError("worker killed after the network accepted the part")
				parts.append(part)

			for _ in range(40):
				attempts[key] += 1
				try:
					connector(server).send_reply(texts[key], post, already_sent=list(parts), idempotency_key=key,
						on_sent=record)
					break
				except ConnectorError as exc:
					lost_records += "worker killed" in str(exc)
			else:
				raise AssertionError(f"{key} was never sent in 40 attempts")
		totals = server.totals()
		created = list(server.created)
		by_key = dict(server.by_key)

	ids = [part.external_id for parts in recorded.values() for part in parts]
	assert len(ids) == len(set(ids)), "one status recorded for two parts"
	assert len(created) == len(ids), f"the network accepted {len(created)} statuses for {len(ids)} reply parts"
	copies = Counter((status["in_reply_to_id"], status["text"]) for status in created)
	assert max(copies.values()) == 1, "the same part was posted twice"
	for key, parts in recorded.items():
		assert [p.external_id for p in parts] == [by_key[f"{key}-{i}"] for i in range(len(parts))], key
		assert f"{key}-{len(parts)}" not in by_key, f"{key}: a part was accepted but never recorded"
		for previous, part in zip(parts, parts[1:], strict=False):
			parent = next(s for s in created if s["id"] == part.external_id)["in_reply_to_id"]
			assert parent == previous.external_id, f"{key}: the chain is broken"
	assert totals["repeated_keys"] > 0 and totals["accepted_then_lost"] > 0, totals
	assert lost_records > 0
	assert totals["faults"] >= 100, totals
	print(
		f"\nfault injection, replies (tier 1): {totals['faults']} faults {totals['faults_by_kind']}; "
		f"{REPLIES} replies, {len(ids)} parts, {sum(attempts.values())} send attempts, "
		f"{totals['accepted_then_lost']} accepted-but-unanswered POSTs, {lost_records} parts accepted but not "
		f"recorded (worker died), {totals['repeated_keys']} resends answered by the idempotency key, "
		f"0 sent twice; {time.monotonic() - started:.1f}s"
	)
