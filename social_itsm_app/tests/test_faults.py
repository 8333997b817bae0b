"""Fault injection inside a real site: the fetch job and the send job against a fake Mastodon that fails on purpose,
with workers SIGKILLed mid-fetch and mid-send.

The fake (tests/fakes/mastodon_server.py) listens on 127.0.0.1 and injects 429s, 5xx, slow answers, connection
resets, cut bodies, truncated JSON, HTML pages and wrong shapes while new mentions keep arriving. Nothing of the
app is replaced: ``jobs.fetch_channel`` and ``outbound.send_reply`` run as the workers run them, through the real
connector and the database; killed workers are real processes (the bench's Python) killed with SIGKILL, whose open
transaction MariaDB rolls back. Only ``outbound.enqueue_send`` is patched in this process (as test_replies.py does),
so that no bench worker picks a reply up while the test drives the retries itself.

Between rounds: every post is stored once, the channel's cursor never names a notification whose post is not
stored, and it never moves back. At the end, with faults off: the stored posts are exactly the server's mentions,
every reply is Sent (or Failed with a reason after its last attempt), the network accepted each reply part once
and every accepted part is recorded.

Time is compressed: the test calls the jobs itself instead of waiting for the scheduler's next_fetch_at or a
reply's next_attempt_at. The short client timeouts travel in the channel's connector_state (the saved state the
job merges into the connector's config), which admins do not edit: no production setting exists for the test.
"""

from __future__ import annotations

import os
import random
import select
import signal
import subprocess
import sys
import time
from collections import Counter
from unittest.mock import patch

import frappe
from frappe.tests.utils import FrappeTestCase

from social_itsm_app.channels.runtime import save_state
from social_itsm_app.connectors.base import decode_cursor
from social_itsm_app.ingest import jobs
from social_itsm_app.replies import outbound, state
from social_itsm_app.tests.utils import (
	HOST,
	NO_HOST,
	TICKET,
	FakeMastodonServer,
	hold_send_jobs,
	load_fake_server,
	remove_channel,
	report,
)
from social_itsm_app.tickets.convert import convert_post

CHANNEL = "Faults Mastodon"
SEED = 14_13
# What the jobs' connector gets on top of the channel's fields: short timeouts, so that injected slowness is cheap.
CLIENT = {"timeout": 0.3, "http_retries": 1, "http_backoff": 0.02, "request_deadline": 4, "page_size": 10}
FETCH_ROUNDS = 480
RANDOM_FETCH_KILLS = 5
STALLED_FETCH_KILLS = 4
REPLIES = 24
WORKER_START_SECONDS = 120  # the bench's Python importing frappe on a busy 2-core machine


fakes = load_fake_server()
WEIGHTS = {kind: (0.4 if kind == "timeout" else 1.0) for kind in fakes.FAULT_KINDS}
# The fault-injecting fake's settings (a case's server_options may change some).
FAULTY_SERVER = {
	"seed": SEED, "weights": WEIGHTS, "slow_seconds": 1.0, "arrival_rate": 0.3, "max_burst": 4, "initial_mentions": 3,
	"author_prefix": "site-faults", "reset_seconds": 5, "max_stall": 60, "max_lifetime": 900,
}

# One worker: connect to the site as a bench worker does, say "ready", run one job. The test kills it.
WORKER = """
import json, sys
import frappe
task, name, site, sites_path = sys.argv[1:5]
frappe.init(site=site, sites_path=sites_path)
frappe.connect()
frappe.set_user("Administrator")
from social_itsm_app.ingest import jobs
from social_itsm_app.replies import outbound
print("ready", flush=True)
result = jobs.fetch_channel(name) if task == "fetch" else outbound.send_reply(name)
frappe.db.commit()
print("done", json.dumps(result, default=str), flush=True)
frappe.destroy()
"""

class Worker:
	"""A worker process (the bench's Python) running one job, to be killed with SIGKILL."""

	def __init__(self, task: str, name: str):
		# The site by argument: under `bench run-tests` no environment names it.
		site, sites_path = frappe.local.site, os.path.abspath(frappe.local.sites_path)
		self.process = subprocess.Popen(
			[sys.executable, "-c", WORKER, task, name, site, sites_path],
			stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy(),
		)

	def wait_ready(self) -> None:
		deadline = time.monotonic() + WORKER_START_SECONDS
		while time.monotonic() < deadline:
			ready, _, _ = select.select([self.process.stdout], [], [], 0.5)
			if ready:
				line = self.process.stdout.readline()
				if line.strip() == "ready":
					return
				if not line:
					break
		self.kill()
		raise AssertionError(f"the worker did not start: {self.process.stderr.read()[-3000:]}")

	def kill(self) -> bool:
		"""SIGKILL; True when the process was still running (a real kill, not a finished job)."""
		alive = self.process.poll() is None
		if alive:
			self.process.send_signal(signal.SIGKILL)
		self.process.wait(timeout=30)
		return alive

	def held(self, stall) -> bool:
		"""Wait until the fake holds the worker's request; False when the job ended first (a fault failed it early)."""
		deadline = time.monotonic() + 60
		while not stall.arrived.wait(0.05):
			if self.process.poll() is not None:
				out, err = self.process.communicate()
				assert self.process.returncode == 0, f"worker failed: {out[-500:]} {err[-3000:]}"
				return False
			assert time.monotonic() < deadline, "the worker neither reached the held request nor ended"
		return True


class FakeMastodonCase(FakeMastodonServer, FrappeTestCase):
	"""A channel on a fresh fake Mastodon per class; everything the jobs commit is removed before and after."""

	server_options = FAULTY_SERVER

	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		cls.rng = random.Random(SEED)

	def setUp(self):
		if HOST is None:
			self.skipTest(NO_HOST)
		hold_send_jobs(self)
		self.addCleanup(self.cleanup)
		self.cleanup()
		frappe.get_doc({
			"doctype": "Social Channel", "channel_name": CHANNEL, "network": "Mastodon",
			"base_url": self.server.base_url, "access_token": self.server.token, "poll_interval": 5,
		}).insert(ignore_permissions=True)
		save_state(CHANNEL, CLIENT)
		frappe.db.commit()
		self.positions: list[int] = [0]
		self.kills: Counter[str] = Counter()
		self.outcomes: Counter[str] = Counter()
		self.duplicates_reported = 0

	def cleanup(self):
		"""Everything the jobs committed: the channel, posts, tickets (remove_channel), replies, their parts and logs."""
		frappe.db.rollback()
		replies = frappe.get_all("Social Reply", filters={"channel": CHANNEL}, pluck="name")
		tickets = frappe.get_all("Social Reply", filters={"channel": CHANNEL}, pluck="ticket", distinct=True)
		remove_channel(CHANNEL)
		if replies:
			frappe.db.delete("Social Reply Part", {"parenttype": "Social Reply", "parent": ("in", replies)})
			frappe.db.delete("Error Log", {"reference_doctype": "Social Reply", "reference_name": ("in", replies)})
			frappe.db.delete("Social Reply", {"name": ("in", replies)})
		if tickets and TICKET == "HD Ticket":
			frappe.db.delete("HD Ticket Comment", {"reference_ticket": ("in", tickets)})
		frappe.db.commit()

	def fetch(self) -> dict:
		summary = jobs.fetch_channel(CHANNEL)
		self.outcomes[summary["status"]] += 1
		self.duplicates_reported += summary.get("duplicates", 0)
		return summary

	def tickets(self, count: int) -> list[str]:
		"""Tickets from stored posts, as an agent converts them."""
		frappe.db.rollback()
		candidates = frappe.get_all(
			"Social Post", filters={"channel": CHANNEL, "status": "New"}, pluck="name", order_by="posted_at", limit=count
		)
		self.assertGreaterEqual(len(candidates), min(count, 3), "too few posts to convert")
		tickets = []
		for name in candidates:
			tickets.append(convert_post(name)["ticket"])
			frappe.db.commit()
		return tickets


class TestFaultInjection(FakeMastodonCase):
	# --- invariants ------------------------------------------------------------------------------------------

	def stored_ids(self) -> list[str]:
		return frappe.get_all("Social Post", filters={"channel": CHANNEL}, pluck="external_id")

	def check_store(self) -> None:
		"""No post twice, none the network does not have, the cursor never ahead of what is stored nor going back."""
		frappe.db.rollback()  # a fresh snapshot: see what the killed or finished workers committed
		ids = self.stored_ids()
		twice = [external_id for external_id, count in Counter(ids).items() if count > 1]
		self.assertEqual(twice, [], "posts stored twice")
		phantom = set(ids) - set(self.server.mention_status_ids())
		self.assertEqual(phantom, set(), "stored posts the network never had")
		position = decode_cursor(frappe.db.get_value("Social Channel", CHANNEL, "cursor")).get("notifications")
		if position:
			missing = self.server.mention_statuses_up_to(position) - set(ids)
			self.assertEqual(missing, set(), f"the cursor ({position}) is ahead of the stored posts")
		self.assertGreaterEqual(int(position or 0), self.positions[-1], "the cursor moved back")
		self.positions.append(int(position or 0))

	# --- killed workers --------------------------------------------------------------------------------------

	def kill_fetch_while_it_waits(self, skip: int) -> None:
		"""The fake holds the worker's (skip+1)-th notifications request; SIGKILL while it waits for the answer."""
		self.server.add_mentions(25)  # several pages: a hold after the first is mid-paging
		stall = self.server.stall("GET", "/api/v1/notifications", skip=skip)
		worker = Worker("fetch", CHANNEL)
		worker.wait_ready()
		if worker.held(stall):
			self.kills[f"fetch, held at request {skip + 1}"] += worker.kill()
		else:
			self.kills["fetch finished before the hold"] += 1
		stall.release()
		self.server.cancel_stalls()
		self.check_store()

	def kill_fetch_at_random(self) -> None:
		"""SIGKILL a fetch at a random moment: reading pages, storing, committing, or already done."""
		self.server.add_mentions(30)
		worker = Worker("fetch", CHANNEL)
		worker.wait_ready()
		time.sleep(self.rng.uniform(0.0, 0.5))
		if worker.kill():
			self.kills["fetch, random moment"] += 1
		else:
			self.kills["fetch finished before the kill"] += 1
		self.check_store()

	def kill_send_while_it_waits(self, reply: str, skip: int, accept: bool) -> None:
		"""Hold the worker's (skip+1)-th status POST (with ``accept``: after the network stored it); SIGKILL."""
		stall = self.server.stall("POST", "/api/v1/statuses", skip=skip, accept=accept)
		worker = Worker("send", reply)
		worker.wait_ready()
		if worker.held(stall):
			what = "accepted, unanswered" if accept and stall.status_id else "before the network stored it"
			self.kills[f"send, held {what}"] += worker.kill()
		else:
			self.kills["send finished before the hold"] += 1
		stall.release()
		self.server.cancel_stalls()

	def kill_send_at_random(self, reply: str) -> None:
		worker = Worker("send", reply)
		worker.wait_ready()
		time.sleep(self.rng.uniform(0.0, 0.3))
		if worker.kill():
			self.kills["send, random moment"] += 1
		else:
			self.kills["send finished before the kill"] += 1

	# --- replies ---------------------------------------------------------------------------------------------

	def make_replies(self) -> tuple[list[str], list[str]]:
		"""Replies on six tickets, every third one long enough to be a chain."""
		tickets = self.tickets(6)
		mine = []
		for index in range(REPLIES):
			words = f"Fault reply {index}: we restarted the VPN concentrator, please try again. "
			text = words * (1 if index % 3 else 14)  # every third one is over 500 characters: a chain
			mode = "Private" if index % 5 == 4 else "Public"
			mine.append(outbound.queue_reply(TICKET, tickets[index % len(tickets)], text, mode))
			frappe.db.commit()
		# Auto-acknowledgements (when the site's settings have them on) are replies too: they are checked alike.
		return mine, frappe.get_all("Social Reply", filters={"channel": CHANNEL}, pluck="name", order_by="creation")

	def due(self, replies: list[str]) -> list[str]:
		"""What the retry tick would pick up (at any time): Queued, Sending, and Failed with attempts left."""
		frappe.db.rollback()
		rows = frappe.get_all("Social Reply", filters={"name": ("in", replies)}, fields=["name", "status", "attempts"])
		return [
			r.name for r in rows
			if r.status in (state.QUEUED, state.SENDING) or (r.status == state.FAILED and (r.attempts or 0) < state.MAX_ATTEMPTS)
		]

	def check_replies(self, replies: list[str]) -> dict:
		"""Each reply part was accepted once; a Sent reply recorded exactly what the network accepted, in order."""
		frappe.db.rollback()
		created = list(self.server.created)
		by_key = dict(self.server.by_key)
		copies = Counter((status["in_reply_to_id"], status["text"]) for status in created)
		self.assertEqual([k for k, n in copies.items() if n > 1], [], "the same reply part was posted twice")
		self.assertEqual(len(by_key), len(created))
		statuses = Counter()
		recorded_ids = []
		for name in replies:
			doc = frappe.get_doc("Social Reply", name)
			statuses[doc.status] += 1
			parts = [row.external_id for row in sorted(doc.parts, key=lambda row: row.idx)]
			recorded_ids += parts
			accepted = [by_key[f"{name}-{i}"] for i in range(len(parts)) if f"{name}-{i}" in by_key]
			self.assertEqual(parts, accepted, f"{name}: recorded parts are not what the network accepted")
			if doc.status == state.SENT:
				self.assertNotIn(f"{name}-{len(parts)}", by_key, f"{name}: Sent, but a part was accepted unrecorded")
				self.assertTrue(parts, name)
				for previous, part in zip(parts, parts[1:], strict=False):
					self.assertEqual(self.server.statuses[part]["in_reply_to_id"], previous, f"{name}: broken chain")
			else:
				self.assertEqual(doc.status, state.FAILED, name)
				self.assertTrue(doc.last_error, f"{name}: Failed without a reason")
				self.assertGreaterEqual(doc.attempts, state.MAX_ATTEMPTS, f"{name}: Failed with attempts left")
		self.assertEqual(len(recorded_ids), len(set(recorded_ids)), "one status recorded for two parts")
		unrecorded = [s for s in created if s["id"] not in set(recorded_ids)]
		for status in unrecorded:  # only a reply that gave up may leave an accepted part unrecorded
			owner = status["key"].rsplit("-", 1)[0]
			self.assertEqual(frappe.db.get_value("Social Reply", owner, "status"), state.FAILED, status)
		return {"statuses": dict(statuses), "parts": len(recorded_ids), "unrecorded": len(unrecorded)}

	# --- the scenario ----------------------------------------------------------------------------------------

	def test_faults_and_killed_workers_lose_double_and_resend_nothing(self):
		started = time.monotonic()
		server = self.server
		# The first fetch reads only the newest page (no history crawl, by design): without faults.
		server.faults_off()
		self.assertEqual(self.fetch()["status"], "ok")
		self.check_store()

		server.set_faults(0.45, post_rate=0.0)
		random_kills = set(self.rng.sample(range(20, FETCH_ROUNDS), RANDOM_FETCH_KILLS))
		stalled_kills = set(self.rng.sample(sorted(set(range(20, FETCH_ROUNDS)) - random_kills), STALLED_FETCH_KILLS))
		for round_number in range(FETCH_ROUNDS):
			if round_number in random_kills:
				self.kill_fetch_at_random()
			elif round_number in stalled_kills:
				self.kill_fetch_while_it_waits(skip=self.rng.choice((0, 1, 2)))
			self.fetch()
			self.check_store()
		fetch_seconds = time.monotonic() - started

		# Replies: faults on the POSTs, workers killed mid-send, the retry logic run until nothing is due.
		server.faults_off()
		mine, replies = self.make_replies()
		chains = [name for index, name in enumerate(mine) if index % 3 == 0]  # three parts each
		singles = [name for index, name in enumerate(mine) if index % 3]
		server.set_faults(0.0, post_rate=0.5)
		# (reply, POSTs let through before the held one, whether the network stores the held one)
		held = [
			(singles[0], 0, True), (singles[1], 0, False), (chains[0], 0, True), (chains[1], 1, True),
			(chains[2], 2, True), (chains[3], 1, False), (singles[2], 0, True),
		]
		for reply, skip, accept in held:
			self.kill_send_while_it_waits(reply, skip, accept)
		for reply in (singles[3], chains[4], singles[4], chains[5]):
			self.kill_send_at_random(reply)
		send_calls = 0
		for _ in range(6):  # retry rounds under faults
			for name in self.due(replies):
				outbound.send_reply(name)
				send_calls += 1
		server.faults_off()
		for _ in range(state.MAX_ATTEMPTS + 1):  # the network is back: everything with attempts left goes out
			due = self.due(replies)
			if not due:
				break
			for name in due:
				outbound.send_reply(name)
				send_calls += 1
		self.assertEqual(self.due(replies), [])
		reply_totals = self.check_replies(replies)

		# Faults off: read everything still waiting; the stored set is the network's.
		for _ in range(200):
			summary = self.fetch()
			self.check_store()
			if summary["status"] == "ok" and not summary["fetched"] and not summary["has_more"]:
				break
		ids = self.stored_ids()
		lost = set(server.mention_status_ids()) - set(ids)
		self.assertEqual(lost, set(), f"{len(lost)} posts lost")
		self.assertEqual(len(ids), len(set(ids)))
		self.assertEqual(self.duplicates_reported, 0, "a fetch after a committed cursor returned stored posts again")

		totals = server.totals()
		kills = {k: v for k, v in self.kills.items() if v}
		real_kills = sum(v for k, v in self.kills.items() if "finished" not in k)
		self.assertGreaterEqual(totals["faults"], 300, totals)
		self.assertGreaterEqual(real_kills, 10, self.kills)
		report(
			f"fault injection on {frappe.local.site}: {totals['faults']} faults {totals['faults_by_kind']}; "
			f"{sum(self.outcomes.values())} fetches {dict(self.outcomes)}; {len(ids)} posts, 0 lost, 0 duplicates, "
			f"cursor never ahead ({len(self.positions) - 1} checks); {len(replies)} replies {reply_totals['statuses']}, "
			f"{reply_totals['parts']} parts, {send_calls} send calls, {totals['accepted_then_lost']} POSTs accepted "
			f"but unanswered, {totals['repeated_keys']} resends answered by the Idempotency-Key, 0 sent twice; "
			f"{real_kills} workers killed {kills}; {totals['requests']} requests; "
			f"{time.monotonic() - started:.0f}s (fetch phase {fetch_seconds:.0f}s)"
		)


class TestResendAfterTheKeyIsForgotten(FakeMastodonCase):
	"""Mastodon keeps an Idempotency-Key for up to an hour
	(docs.joinmastodon.org/methods/statuses/#create), but a reply whose delivery is in doubt is resent whenever
	its retry comes, however late. Here the answer to the accepted POST is lost (timeout) and the HTTP layer's
	immediate retry meets a 429 whose reset is two hours away (Mastodon allows 300 posts per three hours); the
	reply is retried after the reset, when the key is forgotten, and the customer gets the answer twice. The plain
	retry schedule does the same (1 + 5 + 15 + 60 minutes: the fifth attempt comes 81 minutes after the first),
	and so does a "Sending" reply the retry tick resumes after workers were down for over an hour.
	The late attempt must not post: the reply waits for an agent, as on networks without idempotency, and the
	network holds one status for the part."""

	server_options = {**FAULTY_SERVER, "arrival_rate": 0.0, "initial_mentions": 4}

	def setUp(self):
		super().setUp()
		self.server.faults_off()
		self.assertEqual(self.fetch()["status"], "ok")

	def test_a_reply_in_doubt_is_not_resent_after_mastodon_forgot_its_key(self):
		ticket = self.tickets(1)[0]
		reply = outbound.queue_reply(TICKET, ticket, "We reset your VPN profile, please try again.")
		frappe.db.commit()
		self.server.reset_seconds = 2 * 3600
		self.server.script("POST", ["timeout", "rate_limit_reset"])  # stored, answer lost; the retry: 429 for 2 h
		self.assertEqual(outbound.send_reply(reply), state.FAILED)
		self.assertEqual([s["key"] for s in self.server.created], [f"{reply}-0"], "the first POST was stored")

		failed = frappe.db.get_value("Social Reply", reply, ["next_attempt_at", "delivery_in_doubt", "last_error"],
			as_dict=True)
		# The retry could only come after the key is forgotten: no retry is scheduled, an agent is asked.
		self.assertIsNone(failed.next_attempt_at)
		self.assertEqual(failed.delivery_in_doubt, 1)
		self.assertIn("may already have this reply", failed.last_error)

		self.server.advance(2 * 3600 + 60)  # the reset has come; Mastodon has forgotten the key
		later = frappe.utils.add_to_date(frappe.utils.now_datetime(), hours=2, minutes=1)
		with patch.object(outbound, "now_datetime", return_value=later):
			outbound.send_reply(reply)  # a retry job that runs anyway (an old queued job, the tick after an outage)
		keys = Counter(status["key"] for status in self.server.created)
		self.assertEqual(keys[f"{reply}-0"], 1, "the reply was posted twice: the resend came after the key's lifetime")
