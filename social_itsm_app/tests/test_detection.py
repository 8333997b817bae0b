"""Early warning in a real site: the intake's outage reports open one Social Incident for the crowd.

Fetch jobs commit, and the detector's state lives in Redis, so every test commits its setup and removes what it
made; each test has a service of its own (a random name), so state left in Redis by earlier runs never meets it.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from unittest.mock import patch

import frappe
from frappe.tests.utils import FrappeTestCase
from frappe.utils import now_datetime

from social_itsm_app.channels.runtime import persist_state
from social_itsm_app.connectors import FetchResult, SocialPost
from social_itsm_app.incidents import detection
from social_itsm_app.ingest import jobs
from social_itsm_app.ingest.store import store_posts
from social_itsm_app.social_itsm.doctype.social_service.social_service import clear_catalogue_cache
from social_itsm_app.tests.utils import (
	AGENT_ROLE,
	HOST,
	NO_HOST,
	TICKET,
	FakeConnector,
	forget_rules,
	make_channel,
	make_user,
	remove_channel,
)
from social_itsm_app.tickets.convert import auto_convert, convert_post
from social_itsm_app.triage.decide import SpamGuard

SETTINGS = "Social ITSM Settings"
EARLY_WARNING = {
	"enable_early_warning": 1, "detection_window": 5, "min_authors": 5, "burst_factor": 3, "episode_linger": 30,
	"incident_notify_role": None, "ignore_words": None,
}
CHANNELS = ("Early Warning Mastodon", "Early Warning Forum", "Early Warning X")
WATCHER = "ew-watcher@example.com"


def set_settings(values: dict) -> None:
	frappe.db.set_single_value(SETTINGS, dict(values))  # a copy: frappe adds "modified" to it
	frappe.clear_document_cache(SETTINGS, SETTINGS)
	clear_catalogue_cache()


class DetectionCase(FrappeTestCase):
	def setUp(self):
		if HOST is None:
			self.skipTest(NO_HOST)
		self.saved = {key: frappe.db.get_single_value(SETTINGS, key) for key in EARLY_WARNING}
		self.addCleanup(self.cleanup)
		for channel in CHANNELS:
			remove_channel(channel)
		set_settings(EARLY_WARNING)
		self.service = f"Zorp{frappe.generate_hash(length=8)}"
		frappe.get_doc({"doctype": "Social Service", "service_name": self.service, "aliases": "zorp portal"}).insert(
			ignore_permissions=True
		)
		self.channels = [make_channel(name).name for name in CHANNELS]
		self.start = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=8)
		for channel in self.channels:  # listening for an hour: the test's posts are no backlog to the fetch job
			frappe.db.set_value("Social Channel", channel, "listening_since", now_datetime() - timedelta(hours=1))
		frappe.db.commit()

	def cleanup(self):
		frappe.db.rollback()
		incidents = frappe.get_all("Social Incident", filters={"topic": f"service:{self.service}"}, pluck="name")
		for name in incidents:
			frappe.db.delete("Notification Log", {"document_type": "Social Incident", "document_name": name})
			frappe.db.delete("Social Incident Ticket", {"parent": name})
			frappe.db.delete("Social Incident", {"name": name})
		frappe.db.delete("Social Listening Rule", {"rule_name": ("like", "Early warning %")})
		frappe.db.delete("Social Service", {"name": self.service})
		frappe.db.commit()
		for channel in CHANNELS:
			remove_channel(channel)
		set_settings(self.saved)
		forget_rules()
		frappe.db.commit()

	# --- helpers ---

	def report(self, external_id: str, author: str, minute: float, text: str | None = None) -> SocialPost:
		return SocialPost(
			network="mastodon", external_id=external_id, author_id=f"id-{author}", author_handle=author,
			author_name=author.title(), text=text or f"Is {self.service} down? {author} here, cannot connect",
			created_at=self.start + timedelta(minutes=minute), url=f"https://mastodon.example/@{author}/{external_id}",
			kind="mention", raw={"id": external_id},
		)

	def crowd(self, prefix: str, count: int, first: int = 0, minute: float = 0.0) -> list[SocialPost]:
		"""``count`` distinct authors reporting the service, half a minute apart."""
		return [self.report(f"{prefix}-{n}", f"user{n}", minute + (n - first) * 0.5) for n in range(first, first + count)]

	def store(self, posts: list[SocialPost], channel: int = 0, **kw):
		return store_posts(self.channels[channel], "Mastodon", posts, **kw)

	def fetch(self, channel: int, posts: list[SocialPost]) -> dict:
		connector = FakeConnector(FetchResult(posts, f'{{"min_id":"{len(posts)}"}}'))

		def build(doc, session=None):
			connector.on_state_saved = lambda state: persist_state(doc.name, state)
			return connector

		with patch.object(jobs, "build_connector", side_effect=build):
			return jobs.fetch_channel(self.channels[channel])

	def incidents(self) -> list[frappe._dict]:
		return frappe.get_all("Social Incident", filters={"topic": f"service:{self.service}"}, fields=["*"])

	def posts(self, **filters) -> list[frappe._dict]:
		return frappe.get_all("Social Post", filters={"channel": ("in", self.channels), **filters},
			fields=["name", "external_id", "status", "social_incident", "ticket", "ticket_doctype"], order_by="posted_at")


class TestDetection(DetectionCase):
	def test_five_authors_open_one_incident_that_a_sixth_joins(self):
		frappe.get_doc({"doctype": "Social Listening Rule", "rule_name": "Early warning convert", "priority": 1,
			"action": "Auto-convert to Ticket", "keywords": self.service.lower()}).insert(ignore_permissions=True)
		forget_rules()
		make_user(WATCHER, (AGENT_ROLE,))
		set_settings({"incident_notify_role": AGENT_ROLE})
		first = self.store(self.crowd("a", 3))
		self.assertEqual(len(first.to_convert), 3)  # no burst yet: the rule acts as always
		self.assertEqual(self.incidents(), [])
		with patch("frappe.publish_realtime") as published:
			second = self.store(self.crowd("b", 5, first=3, minute=1.5), channel=1)

		[incident] = self.incidents()
		self.assertEqual((incident.status, incident.service, incident.title), ("Detected", self.service,
			f"{self.service} reported down"))
		# user0..user4 fired it (their earlier posts joined), user5..user7 joined it
		self.assertEqual((incident.posts_count, incident.authors_count), (8, 8))
		self.assertIn("5 distinct authors reported service", incident.reason)
		self.assertIn(self.service.lower(), incident.words)
		self.assertEqual(incident.episode.split("@")[0], f"service:{self.service}")
		self.assertEqual(second.to_convert, [])  # the incident's reports wait for it, the rule notwithstanding
		members = self.posts(social_incident=incident.name)
		self.assertEqual(len(members), 8)
		self.assertEqual({p.status for p in members}, {"New"})
		self.assertTrue(frappe.db.exists("Notification Log", {"for_user": WATCHER, "document_type": "Social Incident",
			"document_name": incident.name, "type": "Alert"}))
		[told] = [c for c in published.call_args_list if c.args[0] == "social_itsm_incident"]
		self.assertEqual((told.args[1]["name"], told.args[1]["created"], told.args[1]["posts_count"]), (incident.name,
			True, 8))
		self.assertTrue(told.kwargs["after_commit"])  # nobody hears of an incident a rolled-back job made
		self.assertTrue(any(c.args[0] == "list_update" and c.args[1]["doctype"] == "Social Incident"
			for c in published.call_args_list))

		third = self.store([self.report("c-1", "latecomer", 4.5)])
		self.assertEqual(third.to_convert, [])
		self.assertEqual(frappe.db.get_value("Social Post", third.new[0], "social_incident"), incident.name)
		grown = frappe.db.get_value("Social Incident", incident.name, ["posts_count", "authors_count", "channels",
			"absorbed_posts"], as_dict=True)
		self.assertEqual((grown.posts_count, grown.authors_count, grown.absorbed_posts), (9, 9, 9))
		self.assertEqual(set(grown.channels.split("\n")), set(self.channels[:2]))

	def test_earlier_reports_of_the_alerts_authors_join_it(self):
		self.store(self.crowd("a", 3))
		self.store(self.crowd("b", 2, first=3, minute=1.5), channel=1)
		[incident] = self.incidents()
		self.assertEqual(len(self.posts(social_incident=incident.name)), 5)
		self.assertEqual((incident.posts_count, incident.authors_count), (5, 5))

	def test_one_author_ten_times_does_not_fire(self):
		self.store([self.report(f"r-{n}", "angry", n * 0.3, f"{self.service} down AGAIN, try {n}") for n in range(10)])
		self.assertEqual(self.incidents(), [])
		self.assertEqual(len(self.posts(status="New")), 10)

	def test_identical_spam_from_many_accounts_does_not_fire(self):
		# Each channel's own guard lets two copies through: six accounts over three channels would be a crowd.
		text = f"{self.service} is down!!! get it back at https://spam.example/{self.service}"
		for channel in (0, 1, 2):
			posts = [self.report(f"s{channel}-{n}", f"bot{channel}x{n}", n * 0.1, text) for n in range(12)]
			self.store(posts, channel=channel, guard=SpamGuard())
		self.assertEqual(self.incidents(), [])
		self.assertEqual(len(self.posts(status="Spam")), 30)

	def test_backlog_posts_never_count(self):
		self.store(self.crowd("old", 6), listening_since=now_datetime())
		self.assertEqual(self.incidents(), [])
		self.store(self.crowd("new", 4, first=10, minute=1))  # four fresh authors: not enough on their own
		self.assertEqual(self.incidents(), [])

	def test_a_busy_detector_never_loses_a_post(self):
		with patch.object(detection, "LOCK_WAIT", 0.05), detection.detector_lock():  # another job holds it, too long
			batch = self.store(self.crowd("a", 6))
		self.assertEqual(len(batch.new), 6)
		self.assertEqual(len(self.posts(status="New")), 6)
		self.assertEqual(self.incidents(), [])
		self.assertTrue(frappe.db.exists("Error Log", {"method": "Social ITSM: outage detection skipped a batch"}))
		frappe.db.delete("Error Log", {"method": "Social ITSM: outage detection skipped a batch"})

	def test_nothing_happens_with_early_warning_off(self):
		set_settings({"enable_early_warning": 0})
		self.store(self.crowd("a", 8))
		self.assertEqual(self.incidents(), [])
		self.assertEqual(self.posts(social_incident=("is", "set")), [])

	def test_thresholds_are_validated(self):
		settings = frappe.get_single(SETTINGS)
		for field, value in (("min_authors", 1), ("detection_window", -5), ("burst_factor", 0.5)):
			settings.reload()
			settings.set(field, value)
			with self.assertRaises(frappe.ValidationError):
				settings.validate_early_warning()
		settings.reload()
		settings.update({"detection_window": 20, "episode_linger": 10})
		with self.assertRaises(frappe.ValidationError):
			settings.validate_early_warning()
		settings.update({"detection_window": 0, "min_authors": 0, "burst_factor": 0, "episode_linger": 0})
		settings.validate_early_warning()  # empty: the detector's defaults
		self.assertEqual(detection.BurstSettings().min_authors, detection.burst_settings().min_authors)


class TestDetectionAcrossFetches(DetectionCase):
	def test_a_burst_spread_over_two_channels_fires_once(self):
		self.fetch(0, self.crowd("m", 3))
		self.assertEqual(self.incidents(), [])
		self.fetch(1, self.crowd("f", 3, first=3, minute=1.5))
		[incident] = self.incidents()
		self.assertEqual((incident.posts_count, incident.authors_count), (6, 6))
		self.assertEqual(set(incident.channels.split("\n")), set(self.channels[:2]))
		self.assertEqual(len(self.posts(social_incident=incident.name)), 6)

	def test_a_rolled_back_fetch_leaves_no_incident_and_its_retry_fires_once(self):
		posts = self.crowd("r", 5)
		with patch.object(jobs, "record_success", side_effect=RuntimeError("database went away")):
			with self.assertRaises(RuntimeError):
				self.fetch(0, posts)
		self.assertEqual(self.incidents(), [])
		self.assertEqual(self.posts(), [])
		self.fetch(0, posts)  # the cursor did not move: the same posts come again
		[incident] = self.incidents()
		self.assertEqual((incident.posts_count, incident.authors_count), (5, 5))
		self.assertIn("5 distinct authors", incident.reason)  # from the alert kept beside the detector's state
		self.assertEqual(len(self.posts(social_incident=incident.name)), 5)
		self.fetch(0, posts + [self.report("r-9", "user9", 3)])
		self.assertEqual(len(self.incidents()), 1)
		self.assertEqual(frappe.db.get_value("Social Incident", incident.name, "posts_count"), 6)

	def test_reports_after_the_incident_was_resolved_start_afresh(self):
		self.store(self.crowd("a", 5))
		[incident] = self.incidents()
		frappe.db.set_value("Social Incident", incident.name, "status", "Resolved")  # its close_topic never ran
		frappe.db.commit()
		later = self.store([self.report("b-1", "user9", 3)])
		self.assertIsNone(frappe.db.get_value("Social Post", later.new[0], "social_incident"))
		self.store(self.crowd("c", 5, first=20, minute=7.5))  # a new burst, once the first one left the window
		self.assertEqual(sorted(i.status for i in self.incidents()), ["Detected", "Resolved"])

	def test_reports_to_a_confirmed_incident_go_on_its_parent_ticket(self):
		self.store(self.crowd("a", 5))
		[incident] = self.incidents()
		self.store([self.report("p-1", "printer", 0, "The printer on floor 3 jams")], channel=1)
		parent = convert_post(self.posts(external_id="p-1")[0].name)["ticket"]
		frappe.db.set_value("Social Incident", incident.name, {"status": "Confirmed", "ticket_doctype": TICKET,
			"ticket": parent})
		frappe.db.commit()
		self.fetch(0, [self.report("a-9", "user9", 3)])
		[post] = self.posts(external_id="a-9")
		self.assertEqual((post.status, post.ticket_doctype, post.ticket, post.social_incident),
			("Linked", TICKET, parent, incident.name))
		timeline = frappe.get_all("Communication", filters={"reference_doctype": TICKET, "reference_name": parent},
			pluck="content")
		self.assertTrue(any("user9 here" in (content or "") for content in timeline))
		self.assertEqual(frappe.db.get_value("Social Incident", incident.name, "absorbed_posts"), 6)

	def test_a_report_chosen_for_auto_convert_that_joined_an_incident_meanwhile_waits_for_it(self):
		frappe.get_doc({"doctype": "Social Listening Rule", "rule_name": "Early warning convert", "priority": 1,
			"action": "Auto-convert to Ticket", "keywords": self.service.lower()}).insert(ignore_permissions=True)
		forget_rules()
		chosen = self.store(self.crowd("a", 2)).to_convert  # two reports, no burst: the rule chose both
		self.assertEqual(len(chosen), 2)
		# before the tickets job runs, another channel's fetch fires the alert: both reports joined the incident
		self.store(self.crowd("b", 4, first=2, minute=1), channel=1)
		[incident] = self.incidents()
		self.assertEqual({frappe.db.get_value("Social Post", name, "social_incident") for name in chosen}, {incident.name})
		frappe.db.set_value("Social Post", chosen[1], "social_incident", None)  # one of them left it again
		auto_convert(chosen)
		statuses = [frappe.db.get_value("Social Post", name, ["status", "ticket"]) for name in chosen]
		self.assertEqual(statuses[0], ("New", None))  # waits for the incident's parent ticket
		self.assertEqual(statuses[1][0], "Converted")
