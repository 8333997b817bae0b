"""An incident's life inside a real site: confirm (one parent ticket, every report on it), dismiss (the detector
learns, nothing is sent), resolve (tickets closed and answered, an article drafted), for agents only.

Incidents and their member posts are made here directly (the detector's own tests cover how they arise).
"""

from __future__ import annotations

from unittest.mock import patch

import frappe
from frappe.tests.utils import FrappeTestCase
from frappe.utils import now_datetime

from social_itsm_app.api import incidents as api
from social_itsm_app.hosts import PROFILES
from social_itsm_app.incidents import detection, lifecycle
from social_itsm_app.replies import outbound
from social_itsm_app.tests.utils import AGENT_ROLE, HAS_HELPDESK, HOST, NO_HOST, TICKET, make_channel, make_user
from social_itsm_app.tests.utils import remove_channel as remove_channel_records
from social_itsm_app.tickets.convert import convert_post

CHANNEL = "Incident Mastodon"
TOPIC = "term:h2printers"
RESOLUTION = "The print server's certificate had expired.\n\nWe renewed it; printing works again."


def member_posts(incident: str, count: int, start: int = 0) -> list[str]:
	"""Reports of one outage, one author each (inserted as the intake stores them, already members)."""
	names = []
	for i in range(start, start + count):
		names.append(frappe.get_doc({
			"doctype": "Social Post", "channel": CHANNEL, "network": "Mastodon", "external_id": f"inc-{i}",
			"kind": "mention", "text": f"Printing fails for everyone here <b>{i}</b>", "author_id": f"id-{i}",
			"author_handle": f"user{i}", "author_name": f"User {i}", "posted_at": now_datetime(),
			"url": f"https://mastodon.example/@user{i}/inc-{i}", "social_incident": incident,
		}).insert(ignore_permissions=True).name)
	return names


def make_incident(posts: int = 0) -> str:
	doc = frappe.get_doc({
		"doctype": "Social Incident", "title": "h2printers reported down", "status": "Detected", "topic": TOPIC,
		"detected_at": now_datetime(), "posts_count": posts, "authors_count": posts,
		"reason": "5 distinct authors in 5 min, 10x the baseline (words: printing, fails)",
	})
	doc.flags.social_itsm = True
	doc.insert(ignore_permissions=True)
	if posts:
		member_posts(doc.name, posts)
	return doc.name


def communications(ticket_doctype: str, ticket: str, direction: str = "Received") -> list[frappe._dict]:
	return frappe.get_all("Communication", filters={"reference_doctype": ticket_doctype, "reference_name": str(ticket),
		"sent_or_received": direction}, fields=["name", "content", "message_id"])


def other_ticket(subject: str = "Cannot print (by mail)") -> str:
	ticket = frappe.get_doc({"doctype": TICKET, "subject": subject, "raised_by": "mail-user@example.com"})
	ticket.insert(ignore_permissions=True)
	return str(ticket.name)


def remove_incidents(acknowledge: int) -> None:
	"""What a committing test left: the incidents of TOPIC, their parent tickets, the channel and the settings."""
	frappe.db.rollback()
	frappe.db.set_single_value("Social ITSM Settings", "auto_acknowledge", acknowledge)
	for row in frappe.get_all("Social Incident", filters={"topic": TOPIC}, fields=["name", "ticket_doctype", "ticket"]):
		if row.ticket and frappe.db.exists(row.ticket_doctype, row.ticket):
			frappe.db.delete("Communication", {"reference_doctype": row.ticket_doctype, "reference_name": row.ticket})
			frappe.delete_doc(row.ticket_doctype, row.ticket, force=True, ignore_permissions=True)
		frappe.db.delete("Social Incident Ticket", {"parent": row.name})
		frappe.db.delete("Social Incident", {"name": row.name})
	frappe.db.commit()
	remove_channel_records(CHANNEL)


class IncidentCase(FrappeTestCase):
	def setUp(self):
		if HOST is None:
			self.skipTest(NO_HOST)
		for target, name in ((outbound, "enqueue_send"), (frappe, "enqueue"), (detection, "dismiss_topic"),
			(detection, "close_topic")):
			patcher = patch.object(target, name)
			setattr(self, name, patcher.start())
			self.addCleanup(patcher.stop)
		make_channel(CHANNEL)
		# Acknowledgements on: confirming must still send none to the incident's reporters.
		settings = frappe.get_single("Social ITSM Settings")
		self.acknowledge = settings.auto_acknowledge
		settings.auto_acknowledge = 1
		settings.save()

	def tearDown(self):
		frappe.set_user("Administrator")
		frappe.db.rollback()


class TestConfirm(IncidentCase):
	def test_confirm_opens_one_parent_ticket_with_every_report_on_its_timeline(self):
		incident = make_incident(posts=6)
		posts = frappe.get_all("Social Post", filters={"social_incident": incident}, pluck="name")
		tickets_before = frappe.db.count(TICKET)

		first = api.confirm(incident)
		again = api.confirm(incident)

		self.assertEqual((first["created"], first["queued"], first["ticket_doctype"]), (True, False, TICKET))
		self.assertEqual((again["created"], again["ticket"]), (False, first["ticket"]))
		self.assertEqual(frappe.db.count(TICKET), tickets_before + 1)
		parent = frappe.get_doc(TICKET, first["ticket"])
		self.assertEqual(parent.subject, "Incident: h2printers reported down (6 reports)")
		self.assertIn("10x the baseline", parent.description)
		received = communications(TICKET, parent.name)
		self.assertEqual(sorted(c.message_id for c in received), sorted(f"social-itsm-{p}" for p in posts))
		self.assertTrue(all("&lt;b&gt;" in c.content for c in received))  # the posts' markup stays text
		for post in posts:
			self.assertEqual(frappe.db.get_value("Social Post", post, ["status", "ticket"]), ("Linked", str(parent.name)))
		# The crowd is answered by broadcasts, not by one acknowledgement per report.
		self.assertEqual(frappe.db.count("Social Reply", {"social_post": ("in", posts)}), 0)
		self.enqueue_send.assert_not_called()
		doc = frappe.get_doc("Social Incident", incident)
		self.assertEqual((doc.status, doc.confirmed_by, doc.absorbed_posts), ("Confirmed", "Administrator", 6))
		self.assertIsNotNone(doc.confirmed_at)

	def test_a_reports_earlier_ticket_is_linked_not_duplicated(self):
		incident = make_incident(posts=3)
		converted = frappe.get_all("Social Post", filters={"social_incident": incident}, pluck="name", limit=1)[0]
		own = convert_post(converted)["ticket"]
		result = api.confirm(incident)
		doc = frappe.get_doc("Social Incident", incident)
		self.assertEqual([(row.ticket_doctype, row.ticket) for row in doc.linked_tickets], [(TICKET, own)])
		self.assertEqual(frappe.db.get_value("Social Post", converted, "ticket"), own)  # it keeps its ticket
		self.assertEqual(len(communications(TICKET, result["ticket"])), 2)

	def test_hundreds_of_reports_go_on_the_ticket_in_resumable_batches(self):
		self.addCleanup(remove_incidents, self.acknowledge)
		incident = make_incident(posts=25)
		frappe.db.commit()
		with patch.object(lifecycle, "BATCH", 10), patch.object(lifecycle, "INLINE_LIMIT", 5), \
				patch.object(frappe, "publish_progress") as progress:
			result = api.confirm(incident)
			self.assertTrue(result["queued"])
			job = self.enqueue.call_args
			self.assertEqual((job.args[0], job.kwargs["incident"]), (lifecycle.ATTACH_JOB, incident))
			self.assertEqual(len(communications(TICKET, result["ticket"])), 0)
			frappe.db.commit()
			# A worker that died after its first committed batch: the next run adds the rest, none twice.
			first = lifecycle.pending_members(incident)[:10]
			lifecycle.attach_batch(first, TICKET, result["ticket"])
			frappe.db.commit()
			self.assertEqual(lifecycle.attach_members(incident), 15)
			self.assertEqual(lifecycle.attach_members(incident), 0)
		received = communications(TICKET, result["ticket"])
		self.assertEqual(len(received), 25)
		self.assertEqual(len({c.message_id for c in received}), 25)
		self.assertEqual(progress.call_args.kwargs["docname"], incident)
		self.assertEqual(progress.call_args.args[0], 100)
		self.assertEqual(frappe.db.get_value("Social Incident", incident, "absorbed_posts"), 25)
		self.assertEqual(frappe.db.count("Social Reply", {"channel": CHANNEL}), 0)

	def test_only_agents_decide(self):
		incident = make_incident(posts=1)
		website = make_user("h2-portal@example.com", user_type="Website User")
		publisher = make_user("h2-publisher@example.com", ("Social Publisher",))
		for user in (website, publisher, "Guest"):
			frappe.set_user(user)
			for method, args in ((api.confirm, ()), (api.dismiss, ()), (api.resolve, (RESOLUTION,)),
				(api.link_ticket, (TICKET, "1"))):
				with self.assertRaises(frappe.PermissionError, msg=f"{user} {method.__name__}"):
					method(incident, *args)
		frappe.set_user("Administrator")
		self.assertEqual(frappe.db.get_value("Social Incident", incident, "status"), "Detected")
		agent = make_user("h2-agent@example.com", (AGENT_ROLE,))
		frappe.set_user(agent)
		self.assertTrue(api.confirm(incident)["created"])
		frappe.set_user("Administrator")
		self.assertEqual(frappe.db.get_value("Social Incident", incident, "confirmed_by"), agent)


class TestDismiss(IncidentCase):
	def test_dismiss_teaches_the_detector_and_sends_nothing(self):
		incident = make_incident(posts=4)
		tickets_before = frappe.db.count(TICKET)
		self.assertEqual(api.dismiss(incident), {"status": "Dismissed", "changed": True})
		self.assertEqual(api.dismiss(incident)["changed"], False)
		self.dismiss_topic.assert_called_once_with(TOPIC)
		doc = frappe.get_doc("Social Incident", incident)
		self.assertEqual((doc.status, doc.dismissed_by, doc.ticket), ("Dismissed", "Administrator", None))
		posts = frappe.get_all("Social Post", filters={"channel": CHANNEL}, fields=["status", "ticket", "social_incident"])
		self.assertEqual({(p.status, p.ticket, p.social_incident) for p in posts}, {("New", None, incident)})
		self.assertEqual(frappe.db.count(TICKET), tickets_before)
		self.assertEqual(frappe.db.count("Social Reply", {"channel": CHANNEL}), 0)
		with self.assertRaises(frappe.ValidationError):
			api.confirm(incident)


class TestResolve(IncidentCase):
	def test_resolve_closes_the_parent_resolves_linked_tickets_and_drafts_an_article(self):
		incident = make_incident(posts=2)
		parent = api.confirm(incident)["ticket"]
		by_mail = other_ticket()
		self.assertTrue(api.link_ticket(incident, TICKET, by_mail)["linked"])
		self.assertFalse(api.link_ticket(incident, TICKET, by_mail)["linked"])
		with self.assertRaises(frappe.ValidationError):
			lifecycle.resolve(incident, "  ")

		result = api.resolve(incident, RESOLUTION)

		self.assertEqual((result["status"], result["failed"]), ("Resolved", []))
		profile = PROFILES[TICKET]
		self.assertEqual(frappe.db.get_value(TICKET, parent, "status"), profile.closed_status)
		mail = frappe.get_doc(TICKET, by_mail)
		self.assertEqual(mail.status, profile.resolved_status)
		self.assertIn("certificate had expired", mail.resolution_details)
		(answer,) = communications(TICKET, by_mail, "Sent")
		self.assertIn("We renewed it", answer.content)
		self.assertEqual(frappe.db.count("Social Reply", {"ticket": by_mail}), 0)
		doc = frappe.get_doc("Social Incident", incident)
		self.assertEqual((doc.status, doc.resolved_by, doc.linked_tickets[0].resolved), ("Resolved", "Administrator", 1))
		self.assertIn("certificate had expired", doc.resolution)
		self.close_topic.assert_called_once_with(TOPIC)

		article = frappe.get_doc(doc.article_doctype, doc.article)
		self.assertIn("certificate had expired", article.content)
		self.assertIn(incident, article.title)
		if HAS_HELPDESK:
			self.assertEqual((article.doctype, article.status), ("HD Article", "Draft"))
			self.assertEqual(frappe.db.get_value("HD Article Category", article.category, "category_name"), "Incidents")
		else:
			self.assertEqual((article.doctype, article.published, article.category), ("Help Article", 0, "Incidents"))
		self.assertEqual(api.resolve(incident, "again")["changed"], False)  # once

	def test_a_detected_incident_is_confirmed_before_it_is_resolved(self):
		incident = make_incident(posts=1)
		with self.assertRaises(frappe.ValidationError):
			api.resolve(incident, RESOLUTION)


class TestGuard(IncidentCase):
	def test_forged_changes_through_save_are_refused(self):
		incident = make_incident(posts=1)
		doc = frappe.get_doc("Social Incident", incident)
		doc.status = "Resolved"
		with self.assertRaises(frappe.PermissionError):
			doc.save()
		doc.reload()
		doc.confirmed_by = "Administrator"
		with self.assertRaises(frappe.PermissionError):
			doc.save()
		forged = frappe.get_doc({"doctype": "Social Incident", "title": "x", "status": "Confirmed", "topic": TOPIC})
		with self.assertRaises(frappe.PermissionError):
			forged.insert()

	def test_agents_edit_the_resolution_and_link_only_tickets_they_can_read(self):
		incident = make_incident(posts=1)
		doc = frappe.get_doc("Social Incident", incident)
		doc.resolution = "<p>Draft: a certificate?</p>"
		doc.append("linked_tickets", {"ticket_doctype": TICKET, "ticket": other_ticket()})
		doc.save()
		doc.linked_tickets[0].resolved = 1
		with self.assertRaises(frappe.PermissionError):
			doc.save()
		doc.reload()
		with self.assertRaises(frappe.ValidationError):
			api.link_ticket(incident, TICKET, "no-such-ticket")
		with self.assertRaises(frappe.ValidationError):
			api.link_ticket(incident, "ToDo", "anything")
		portal_agent = make_user("h2-limited@example.com", (AGENT_ROLE,))
		hidden = other_ticket("A ticket nobody shared")
		frappe.set_user(portal_agent)
		with patch.object(frappe, "has_permission", side_effect=lambda doctype, *a, **kw: doctype != TICKET or
				(str(kw.get("doc")) != hidden)):
			with self.assertRaises(frappe.PermissionError):
				api.link_ticket(incident, TICKET, hidden)
