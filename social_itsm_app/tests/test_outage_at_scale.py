"""Issue 12's site target: 2,000 posts about one outage over 10 minutes on three channels end as one incident and one
parent ticket, zero extra tickets, and each reporter answered at most once.

The posts come through the real fetch job (`ingest.jobs.fetch_channel`, a fake connector handing over each
channel's next half-minute of posts), with an auto-convert rule that would make a ticket of every one of them.
An agent confirms the incident two minutes in; the posts before that are added by the confirm job, those after go
on the parent ticket through the fetch's hand-over. A Social Publisher approves a broadcast that answers the
reporters; the paced reporter ticks create the replies and the send job delivers them to a fake Mastodon on
loopback, which counts what each status received.
"""

from __future__ import annotations

import os
import unittest
from collections import Counter
from datetime import timedelta
from unittest.mock import patch

import frappe

from social_itsm_app.api import broadcasts as broadcast_api
from social_itsm_app.api import incidents as incident_api
from social_itsm_app.connectors import SocialPost
from social_itsm_app.incidents import broadcasts, lifecycle, reporters
from social_itsm_app.replies import outbound
from social_itsm_app.tests.test_detection import DetectionCase, set_settings
from social_itsm_app.tests.utils import TICKET, FakeMastodonServer, forget_rules, hold_send_jobs

POSTS = 2000
MINUTES = 10
REPEATERS = 500  # authors who post twice: 1,500 distinct reporters
ROUND = 0.5  # minutes of posts per fetch
PHRASES = (
	"Is {s} down? cannot connect since a minute",
	"{s} not working for anyone else?",
	"@acme {s} down again, can't log in",
	"getting 503 from {s}, is it just me?",
)


SCALE = "SOCIAL_ITSM_SCALE_TESTS"  # the site tier sets it for its run of this module (about four minutes a host)


@unittest.skipUnless(os.environ.get(SCALE) == "1", f"the 2,000-post outage runs when {SCALE}=1 (the site tier sets it)")
class TestOutageAtScale(FakeMastodonServer, DetectionCase):
	server_options = {"seed": 3, "arrival_rate": 0.0, "initial_mentions": 0, "author_prefix": "scale", "max_lifetime": 1800}

	def setUp(self):
		super().setUp()
		# Jobs run here, in order: a bench worker on this machine must not take them at the same time.
		hold_send_jobs(self, outbound, broadcasts)
		real_enqueue = frappe.enqueue

		def enqueue(method, *args, **kwargs):  # the confirm job is called by the test; the others run as always
			return None if method == lifecycle.ATTACH_JOB else real_enqueue(method, *args, **kwargs)

		attach = patch("frappe.enqueue", side_effect=enqueue)
		attach.start()
		self.addCleanup(attach.stop)
		self.start = self.start - timedelta(minutes=MINUTES - 8, seconds=5)  # the last report is 5 s old
		for channel in self.channels:
			frappe.db.set_value("Social Channel", channel, {"base_url": self.server.base_url})
			channel_doc = frappe.get_doc("Social Channel", channel)
			channel_doc.access_token = self.server.token
			channel_doc.save(ignore_permissions=True)
		self.saved_pace = frappe.db.get_single_value("Social ITSM Settings", "reporter_replies_per_minute")
		set_settings({"reporter_replies_per_minute": 1000})
		frappe.get_doc({"doctype": "Social Listening Rule", "rule_name": "Early warning convert all", "priority": 1,
			"action": "Auto-convert to Ticket", "keywords": self.service.lower()}).insert(ignore_permissions=True)
		forget_rules()
		self.tickets_before = frappe.db.count(TICKET)
		frappe.db.commit()

	def cleanup(self):
		frappe.db.rollback()
		incidents = frappe.get_all("Social Incident", filters={"topic": f"service:{self.service}"}, fields=["name", "ticket"])
		names = frappe.get_all("Social Broadcast", filters={"incident": ("in", [i.name for i in incidents] or [""])},
			pluck="name")
		if names:
			frappe.db.delete("Social Broadcast Channel", {"parent": ("in", names)})
			frappe.db.delete("Version", {"ref_doctype": "Social Broadcast", "docname": ("in", names)})
			frappe.db.delete("Notification Log", {"document_type": "Social Broadcast", "document_name": ("in", names)})
			frappe.db.delete("Social Broadcast", {"name": ("in", names)})
		for incident in incidents:
			if incident.ticket:
				frappe.db.delete("Communication", {"reference_doctype": TICKET, "reference_name": incident.ticket})
				if TICKET == "HD Ticket":
					frappe.db.delete("HD Ticket Comment", {"reference_ticket": incident.ticket})
				frappe.delete_doc(TICKET, incident.ticket, force=True, ignore_permissions=True)
			frappe.db.delete("Version", {"ref_doctype": "Social Incident", "docname": incident.name})
		frappe.db.set_single_value("Social ITSM Settings", "reporter_replies_per_minute",
			getattr(self, "saved_pace", None) or 10)
		frappe.db.commit()
		super().cleanup()

	def outage(self) -> list[SocialPost]:
		"""2,000 reports of 1,500 distinct authors, evenly over ten minutes, each a real status on the fake (replies
		to it are accepted), channel by channel in turn."""
		ids = self.server.add_mentions(POSTS, others=False)
		posts = []
		for n, status_id in enumerate(ids):
			author = f"reporter{n if n < POSTS - REPEATERS else n - (POSTS - REPEATERS)}"
			text = PHRASES[n % len(PHRASES)].format(s=self.service)
			posts.append(SocialPost(
				network="mastodon", external_id=status_id, author_id=f"id-{author}", author_handle=author,
				author_name=author.title(), text=text, created_at=self.start + timedelta(minutes=MINUTES * n / POSTS),
				url=f"{self.server.base_url}/@{author}/{status_id}", kind="mention", raw={"id": status_id},
				reply_ref={"status_id": status_id, "acct": f"{author}@mastodon.example", "visibility": "public"},
			))
		return posts

	def test_two_thousand_reports_on_three_channels_are_one_incident_one_ticket_one_answer_each(self):
		posts = self.outage()  # ten minutes up to now: none is backlog (older than an hour)
		rounds = int(MINUTES / ROUND)
		confirmed = None
		for r in range(rounds):
			for c in range(3):
				batch = [p for i, p in enumerate(posts)
					if i % 3 == c and r * ROUND <= MINUTES * i / POSTS < (r + 1) * ROUND]
				summary = self.fetch(c, batch)
				self.assertEqual(summary["stored"], len(batch), summary)
			if r == 3 and confirmed is None:  # two minutes in, an agent confirms what the desk heard
				[incident] = self.incidents()
				confirmed = incident_api.confirm(incident.name)
				frappe.db.commit()
				self.assertTrue(confirmed["created"])
				lifecycle.attach_members(incident.name)  # the queued job, run here

		[incident] = self.incidents()
		self.assertEqual(incident.status, "Confirmed")
		self.assertEqual((incident.posts_count, incident.authors_count), (POSTS, POSTS - REPEATERS))
		self.assertEqual(set(incident.channels.split("\n")), set(self.channels))
		# One parent ticket, nothing else: the auto-convert rule made no ticket of any report.
		self.assertEqual(frappe.db.count(TICKET) - self.tickets_before, 1)
		stored = self.posts()
		self.assertEqual(len(stored), POSTS)
		self.assertEqual({(p.social_incident, p.status, p.ticket) for p in stored},
			{(incident.name, "Linked", str(incident.ticket))})
		timeline = frappe.db.count("Communication", {"reference_doctype": TICKET, "reference_name": incident.ticket,
			"sent_or_received": "Received"})
		self.assertEqual(timeline, POSTS)  # every report once on the parent's timeline
		self.assertEqual(incident.absorbed_posts, POSTS)

		name = frappe.get_doc({"doctype": "Social Broadcast", "incident": incident.name, "reply_to_reporters": 1,
			"text": f"{self.service} is down for everyone; we are on it. Next update in 30 minutes.",
			"channels": [{"channel": self.channels[0]}]}).insert().name
		broadcast_api.request_approval(name)
		broadcast_api.approve(name)
		frappe.db.commit()
		self.assertEqual(broadcasts.send_broadcast(name), "Sent")
		for _tick in range(3):  # paced ticks; the later ones find everybody answered
			reporters.answer_reporters()
		replies = frappe.get_all("Social Reply", filters={"broadcast": name}, fields=["name", "social_post"])
		authors = Counter(frappe.db.get_value("Social Post", r.social_post, "author_id") for r in replies)
		self.assertEqual(len(authors), POSTS - REPEATERS)  # every reporter ...
		self.assertEqual(max(authors.values()), 1)  # ... once
		for reply in replies:
			outbound.send_reply(reply.name)
		answered = Counter(c["in_reply_to_id"] for c in self.server.created if c["in_reply_to_id"])
		self.assertEqual(len(answered), POSTS - REPEATERS)
		self.assertEqual(max(answered.values()), 1)
		self.assertEqual(frappe.db.count("Social Reply", {"broadcast": name, "status": "Sent"}), POSTS - REPEATERS)
		reporters.answer_reporters()
		self.assertEqual(frappe.db.count("Social Reply", {"broadcast": name}), POSTS - REPEATERS)
