"""Replies back to the network inside a real site, with Mastodon played by `responses`."""

from __future__ import annotations

import json
from unittest.mock import patch

import frappe
import responses
from frappe.tests.utils import FrappeTestCase

from social_itsm_app import api
from social_itsm_app.ingest.store import store_posts
from social_itsm_app.replies import outbound
from social_itsm_app.tests.utils import AGENT_ROLE, FIXTURES, MASTODON, TICKET, ReplyCase, make_user, social_post
from social_itsm_app.tests.utils import REPLY_CHANNEL as CHANNEL

BASE = MASTODON
STATUSES = f"{BASE}/api/v1/statuses"


def created_status(status_id: str) -> dict:
	body = json.loads((FIXTURES / "mastodon" / "status_created.json").read_text())
	return {**body, "id": status_id, "url": f"{BASE}/@acmehelp/{status_id}"}


def sent_note(ticket: str) -> str:
	"""The "Sent on <network>" note on the ticket's timeline: an HD Ticket Comment, or a Comment on an Issue."""
	if TICKET == "HD Ticket":
		return frappe.db.get_value("HD Ticket Comment", {"reference_ticket": ticket}, "content") or ""
	return frappe.db.get_value("Comment", {"reference_doctype": TICKET, "reference_name": ticket,
		"comment_type": "Info"}, "content") or ""


class TestReplyPath(ReplyCase):
	def test_an_agents_reply_box_answer_is_posted_once_with_the_documented_payload(self):
		ticket = frappe.get_doc(TICKET, self.ticket)
		enqueue = outbound.enqueue_send
		frappe.get_doc({
			"doctype": "Communication", "communication_type": "Communication", "communication_medium": "Email",
			"sent_or_received": "Sent", "reference_doctype": TICKET, "reference_name": ticket.name,
			"sender": "Administrator", "recipients": ticket.raised_by, "subject": "Re: printer",
			"content": '<p>We replaced the toner, please try again.</p><p class="signature">-- IT</p>',
		}).insert(ignore_permissions=True)
		reply = frappe.get_last_doc("Social Reply", filters={"ticket": ticket.name})
		self.assertEqual((reply.status, reply.text), ("Queued", "We replaced the toner, please try again."))
		enqueue.assert_called_once_with(reply.name)
		frappe.db.commit()

		with responses.RequestsMock() as rsps:
			rsps.add(responses.POST, STATUSES, json=created_status("900001"))
			self.assertEqual(outbound.send_reply(reply.name), "Sent")
			self.assertEqual(outbound.send_reply(reply.name), "Sent")  # a second run sends nothing
			self.assertEqual(len(rsps.calls), 1)
			request = rsps.calls[0].request
			body = dict(pair.split("=", 1) for pair in request.body.split("&"))
			self.assertEqual(body["in_reply_to_id"], "r-1")
			self.assertIn("mia%40mastodon.example", body["status"])
			self.assertTrue(request.headers["Idempotency-Key"].startswith(reply.name))
		reply.reload()
		self.assertEqual([part.external_id for part in reply.parts], ["900001"])
		self.assertTrue(reply.url.endswith("/900001"))
		self.assertIn("900001", sent_note(self.ticket))

	def test_a_customer_answering_any_part_of_our_reply_lands_on_the_ticket(self):
		"""Mastodon reports only the parent: "still down" answering part 2 of our chain, and an answer to that
		answer, join the ticket and the thread of the post we answered, instead of arriving as New posts."""
		reply = outbound.queue_reply(TICKET, self.ticket, "Restarted the spooler. " * 40)  # > 500 chars: a chain
		frappe.db.commit()
		with responses.RequestsMock() as rsps:
			rsps.add(responses.POST, STATUSES, json=created_status("910001"))
			rsps.add(responses.POST, STATUSES, json=created_status("910002"))
			self.assertEqual(outbound.send_reply(reply), "Sent")
		self.assertEqual([p.external_id for p in frappe.get_doc("Social Reply", reply).parts], ["910001", "910002"])
		answer = social_post("c-1", "still down for me", author="mia", thread_id="910002", in_reply_to_id="910002")
		deeper = social_post("c-2", "and the scanner too", author="mia", thread_id="c-1", in_reply_to_id="c-1")
		store_posts(CHANNEL, "Mastodon", [answer])
		store_posts(CHANNEL, "Mastodon", [deeper])  # a later fetch: its parent is a stored, linked post
		for external_id in ("c-1", "c-2"):
			stored = frappe.db.get_value("Social Post", {"channel": CHANNEL, "external_id": external_id},
				["status", "ticket", "thread_id"], as_dict=True)
			self.assertEqual((stored.status, stored.ticket, stored.thread_id), ("Linked", self.ticket, "r-1"))

	def test_a_500_fails_the_reply_then_the_retry_sends_it_once(self):
		reply = outbound.queue_reply(TICKET, self.ticket, "Fixed, sorry for the trouble.")
		frappe.db.commit()
		with responses.RequestsMock() as rsps:
			rsps.add(responses.POST, STATUSES, status=500, body="oops")
			self.assertEqual(outbound.send_reply(reply), "Failed")
			failed = frappe.get_doc("Social Reply", reply)
			self.assertIn("500", failed.last_error)
			self.assertIsNotNone(failed.next_attempt_at)
			rsps.replace(responses.POST, STATUSES, json=created_status("900002"))
			self.assertEqual(outbound.send_reply(reply), "Sent")
			# Mastodon POSTs carry an Idempotency-Key, so even the HTTP layer's retries of the 500 are safe:
			# every attempt is the same request to Mastodon, and exactly one was accepted.
			self.assertEqual({c.request.headers["Idempotency-Key"] for c in rsps.calls}, {f"{reply}-0"})
			self.assertEqual(sum(c.response.status_code == 200 for c in rsps.calls), 1)

	def test_a_worker_killed_after_the_network_accepted_never_sends_again(self):
		reply = outbound.queue_reply(TICKET, self.ticket, "Done.")
		frappe.db.commit()
		with responses.RequestsMock() as rsps:
			rsps.add(responses.POST, STATUSES, json=created_status("900003"))
			with patch.object(outbound, "note_on_ticket", side_effect=SystemExit("worker killed")):
				with self.assertRaises(SystemExit):
					outbound.send_reply(reply)
			frappe.db.rollback()
			self.assertEqual(frappe.db.get_value("Social Reply", reply, "status"), "Sending")
			self.assertEqual(outbound.send_reply(reply), "Sent")  # the accepted part was recorded: nothing to resend
			self.assertEqual(len(rsps.calls), 1)

	def test_a_doubtful_reply_on_a_network_without_idempotency_waits_for_a_person(self):
		reply = outbound.queue_reply(TICKET, self.ticket, "Done.")
		frappe.db.set_value("Social Reply", reply, {"status": "Sending", "attempts": 1})
		frappe.db.commit()
		with patch.object(outbound, "connector_class") as cls, responses.RequestsMock() as rsps:
			cls.return_value.idempotent_replies = False
			self.assertEqual(outbound.send_reply(reply), "Failed")
			self.assertEqual(len(rsps.calls), 0)
		self.assertIn("may already have this reply", frappe.db.get_value("Social Reply", reply, "last_error"))

	def test_explicit_reply_action_is_for_agents_only(self):
		frappe.set_user(make_user("reply-nobody@example.com"))
		try:
			with self.assertRaises(frappe.PermissionError):
				api.reply_on_network(TICKET, self.ticket, "hello")
		finally:
			frappe.set_user("Administrator")
		result = api.reply_on_network(TICKET, self.ticket, "Private follow-up", private=1)
		self.assertEqual(frappe.db.get_value("Social Reply", result["reply"], "reply_mode"), "Private")
		panel = api.ticket_social_panel(TICKET, self.ticket)
		self.assertEqual(len(panel["posts"]), 1)
		self.assertEqual(panel["replies"][-1]["name"], result["reply"])

	def test_the_reply_button_answer_is_the_agents_message_on_the_timeline_and_the_first_response(self):
		"""Reply on network / Reply privately: the answer shows once as the agent's outgoing message (not as a
		comment "Sent on Mastodon: 1"), counts as the first response, and the note says where it went."""
		frappe.set_user(make_user("reply-agent@example.com", (AGENT_ROLE,)))
		try:
			result = api.reply_on_network(TICKET, self.ticket, "Restarted the spooler.\nTry again please.", private=0)
		finally:
			frappe.set_user("Administrator")
		sent = frappe.get_all("Communication", filters={"reference_doctype": TICKET, "reference_name": self.ticket,
			"sent_or_received": "Sent"}, fields=["name", "content", "sender"])
		self.assertEqual(len(sent), 1, sent)  # once: the reply hook did not queue (or record) it a second time
		self.assertIn("Restarted the spooler.<br>Try again please.", sent[0].content)
		self.assertEqual(sent[0].sender, "reply-agent@example.com")
		self.assertEqual(frappe.db.count("Social Reply", {"channel": CHANNEL, "ticket": self.ticket}), 1)
		self.assertEqual(frappe.db.get_value("Social Reply", result["reply"], "communication"), sent[0].name)
		first = "first_responded_on"
		self.assertTrue(frappe.db.get_value(TICKET, self.ticket, first), "the answer must count as the first response")
		frappe.db.commit()
		with responses.RequestsMock() as rsps:
			rsps.add(responses.POST, STATUSES, json=created_status("920001"))
			self.assertEqual(outbound.send_reply(result["reply"]), "Sent")
		note = sent_note(self.ticket)
		self.assertIn("Sent on Mastodon as a public reply", note)
		self.assertIn(f'href="{BASE}/@acmehelp/920001"', note)
		self.assertIn(">view on Mastodon</a>", note)

	def test_replies_created_by_the_app_itself_are_not_echoed(self):
		with patch.object(outbound, "queue_reply") as queue:
			communication = frappe.get_doc({"doctype": "Communication", "communication_type": "Communication",
				"sent_or_received": "Sent", "reference_doctype": TICKET, "reference_name": self.ticket,
				"content": "auto", "subject": "x"})
			communication.flags.social_itsm = True
			communication.insert(ignore_permissions=True)
			frappe.get_doc({"doctype": "Communication", "communication_type": "Comment", "sent_or_received": "Sent",
				"reference_doctype": TICKET, "reference_name": self.ticket, "content": "note", "subject": "x"}).insert(
				ignore_permissions=True)
		queue.assert_not_called()



class TestEnqueue(FrappeTestCase):
	def test_the_send_job_is_queued_after_commit_with_a_fixed_id(self):
		with patch.object(frappe, "enqueue") as enqueue:
			outbound.enqueue_send("abc")
		kwargs = enqueue.call_args.kwargs
		self.assertEqual((kwargs["job_id"], kwargs["deduplicate"], kwargs["enqueue_after_commit"]),
			("social_itsm_reply::abc", True, True))


class TestRetryAction(ReplyCase):
	def test_an_agent_retries_a_failed_reply(self):
		reply = outbound.queue_reply(TICKET, self.ticket, "Try now please.")
		with self.assertRaises(frappe.ValidationError):
			api.retry_reply(reply)  # only failed replies
		frappe.db.set_value("Social Reply", reply, {"status": "Failed", "attempts": 5, "last_error": "in doubt"})
		outbound.enqueue_send.reset_mock()
		self.assertEqual(api.retry_reply(reply)["status"], "Queued")
		self.assertEqual(frappe.db.get_value("Social Reply", reply, ["status", "attempts"]), ("Queued", 0))
		outbound.enqueue_send.assert_called_once_with(reply)
