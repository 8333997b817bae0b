"""Status broadcasts inside a real site: the approval flow and its refusals, sending to a fake Mastodon on loopback
(tests/fakes/mastodon_server.py) once per channel, a refused token failing its row only, feeds that cannot
publish, and the paced, never-doubled answers to the incident's reporters."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from unittest.mock import patch

import frappe
from frappe.tests.utils import FrappeTestCase
from frappe.utils import add_to_date, now_datetime

from social_itsm_app.api import broadcasts as api
from social_itsm_app.connectors import SocialPost
from social_itsm_app.incidents import broadcasts, reporters
from social_itsm_app.ingest.store import store_posts
from social_itsm_app.replies import outbound
from social_itsm_app.statuses import PUBLISHER_ROLE
from social_itsm_app.tests.test_replies import sent_note
from social_itsm_app.tests.utils import (
	AGENT_ROLE,
	HOST,
	NO_HOST,
	TICKET,
	FakeMastodonServer,
	hold_send_jobs,
	make_feed_channel,
	make_user,
	remove_channel,
)
from social_itsm_app.tickets.convert import convert_post

MASTODON = "BC Mastodon"
EXPIRED = "BC Mastodon Expired"
FEED = "BC Feed"
TITLE = "BC test: VPN outage"
SETTINGS = "Social ITSM Settings"
LONG_TEXT = "The VPN gateways are down since 09:10. We are restarting them and will post again within the hour. " * 6
WRITER = "bc-writer@example.com"
PUBLISHER = "bc-publisher@example.com"
PUBLISHING_WRITER = "bc-publishing-writer@example.com"
MANAGER = "bc-manager@example.com"


class BroadcastCase(FakeMastodonServer, FrappeTestCase):
	"""A fake Mastodon per class; channels, an incident with member posts and a parent ticket per test.

	The jobs commit, so everything is committed and removed before and after; enqueueing is patched out so a
	bench worker on this machine cannot run the jobs at the same time as the test.
	"""

	server_options = {"seed": 12, "arrival_rate": 0.0, "initial_mentions": 0, "author_prefix": "bc", "max_lifetime": 900}

	def setUp(self):
		if HOST is None:
			self.skipTest(NO_HOST)
		hold_send_jobs(self, outbound, broadcasts)
		self.per_minute = frappe.db.get_single_value(SETTINGS, "reporter_replies_per_minute")
		self.baseline = (len(self.server.created), self.server.repeated_keys)
		self.addCleanup(self.cleanup)
		self.cleanup()
		for name, token in ((MASTODON, self.server.token), (EXPIRED, "an-expired-token")):
			frappe.get_doc({"doctype": "Social Channel", "channel_name": name, "network": "Mastodon",
				"base_url": self.server.base_url, "access_token": token}).insert(ignore_permissions=True)
		make_feed_channel(FEED)
		self.incident = frappe.get_doc({"doctype": "Social Incident", "title": TITLE, "status": "Detected"})
		self.incident.flags.social_itsm = True
		self.incident.insert(ignore_permissions=True)
		# Six distinct reporters (alice twice: answered once, on her latest post; frank by direct message).
		self.posts = self.reporter_posts(["alice", "bob", "carol", "dave", "erin", "alice", "frank"])
		self.ticket = convert_post(self.posts[0])["ticket"]
		frappe.db.set_value("Social Incident", self.incident.name,
			{"status": "Confirmed", "ticket_doctype": TICKET, "ticket": self.ticket})
		frappe.db.commit()

	def reporter_posts(self, authors: list[str]) -> list[str]:
		ids = self.server.add_mentions(len(authors), others=False)  # real statuses, so replies to them are accepted
		start = datetime.now(timezone.utc) - timedelta(minutes=30)
		posts = [
			SocialPost(
				network="mastodon", external_id=status_id, text=f"vpn down for me too ({author})",
				author_id=f"bc-{author}", author_handle=author, author_name=author.title(),
				created_at=start + timedelta(minutes=i), url=f"{self.server.base_url}/@{author}/{status_id}",
				kind="direct" if author == "frank" else "mention", raw={"id": status_id},
				reply_ref={"status_id": status_id, "acct": f"{author}@fosstodon.example",
					"visibility": "direct" if author == "frank" else "public"},
			)
			for i, (author, status_id) in enumerate(zip(authors, ids, strict=True))
		]
		store_posts(MASTODON, "Mastodon", posts)
		names = [frappe.db.get_value("Social Post", {"channel": MASTODON, "external_id": p.external_id}) for p in posts]
		for name in names:
			frappe.db.set_value("Social Post", name, "social_incident", self.incident.name)
		return names

	def created(self) -> list[dict]:
		"""The statuses this test posted on the fake (the server lives for the class)."""
		return self.server.created[self.baseline[0]:]

	def cleanup(self):
		frappe.set_user("Administrator")
		frappe.db.rollback()
		incidents = frappe.get_all("Social Incident", filters={"title": TITLE}, fields=["name", "ticket"])
		names = frappe.get_all("Social Broadcast", filters={"incident": ("in", [i.name for i in incidents] or [""])},
			pluck="name")
		if names:
			replies = frappe.get_all("Social Reply", filters={"broadcast": ("in", names)}, pluck="name")
			if replies:
				frappe.db.delete("Social Reply Part", {"parenttype": "Social Reply", "parent": ("in", replies)})
				frappe.db.delete("Social Reply", {"name": ("in", replies)})
			frappe.db.delete("Social Broadcast Channel", {"parent": ("in", names)})
			frappe.db.delete("Version", {"ref_doctype": "Social Broadcast", "docname": ("in", names)})
			frappe.db.delete("Notification Log", {"document_type": "Social Broadcast", "document_name": ("in", names)})
			frappe.db.delete("Comment", {"reference_doctype": "Social Broadcast", "reference_name": ("in", names)})
			frappe.db.delete("Error Log", {"reference_name": ("in", names)})
			frappe.db.delete("Social Broadcast", {"name": ("in", names)})
		for incident in incidents:
			if incident.ticket and TICKET == "HD Ticket":
				frappe.db.delete("HD Ticket Comment", {"reference_ticket": incident.ticket})
			elif incident.ticket:
				frappe.db.delete("Comment", {"reference_doctype": TICKET, "reference_name": incident.ticket})
			frappe.db.delete("Version", {"ref_doctype": "Social Incident", "docname": incident.name})
			frappe.db.delete("Social Incident", {"name": incident.name})
		frappe.db.commit()  # remove_channel starts with a rollback
		for channel in (MASTODON, EXPIRED, FEED):
			remove_channel(channel)
		frappe.db.set_single_value(SETTINGS, "reporter_replies_per_minute", self.per_minute)
		frappe.clear_document_cache(SETTINGS, SETTINGS)
		frappe.db.commit()

	def write(self, channels: list[str], text: str = "We are looking into the VPN outage.", user: str = "Administrator",
		reply_to_reporters: int = 0):
		frappe.set_user(user)
		try:
			doc = frappe.get_doc({"doctype": "Social Broadcast", "incident": self.incident.name, "text": text,
				"reply_to_reporters": reply_to_reporters, "channels": [{"channel": c} for c in channels]}).insert()
		finally:
			frappe.set_user("Administrator")
		frappe.db.commit()
		return doc.name

	def approved(self, channels: list[str], **kw) -> str:
		"""Written, asked and approved by Administrator (a System Manager may approve their own)."""
		name = self.write(channels, **kw)
		api.request_approval(name)
		api.approve(name)
		frappe.db.commit()
		return name

	def rows(self, name: str) -> dict[str, frappe._dict]:
		return {row.channel: row for row in frappe.get_doc("Social Broadcast", name).channels}

	def as_user(self, user: str, action, *args):
		frappe.set_user(user)
		try:
			return action(*args)
		finally:
			frappe.set_user("Administrator")


class TestGovernance(BroadcastCase):
	def test_request_approve_and_reject_with_their_refusals(self):
		make_user(WRITER, (AGENT_ROLE,))
		make_user(PUBLISHER, (AGENT_ROLE, PUBLISHER_ROLE))
		name = self.write([MASTODON], user=WRITER)
		doc = frappe.get_doc("Social Broadcast", name)
		self.assertEqual((doc.status, doc.written_by, doc.channels[0].status), ("Draft", None, "Pending"))

		frappe.set_user(WRITER)
		try:
			doc.status = "Approved"  # what a REST client could send: the app's fields stay the app's
			with self.assertRaises(frappe.PermissionError):
				doc.save()
			doc.reload()
			doc.text = "We are looking into the VPN outage. More soon."
			doc.save()  # a draft is the writer's to edit
			api.request_approval(name)
			doc.reload()
			self.assertEqual((doc.status, doc.written_by), ("Awaiting Approval", WRITER))
			self.assertTrue(doc.requested_at)
			doc.text = "Something else entirely"
			with self.assertRaises(frappe.PermissionError):
				doc.save()  # frozen once approval was requested
			doc.reload()
			doc.append("channels", {"channel": FEED})
			with self.assertRaises(frappe.PermissionError):
				doc.save()
			with self.assertRaises(frappe.PermissionError):
				api.approve(name)  # an agent without the publisher role
		finally:
			frappe.set_user("Administrator")
		self.assertTrue(frappe.db.exists("Notification Log", {"for_user": PUBLISHER, "document_name": name}))

		for outsider in ("Guest", make_user("bc-website@example.com", user_type="Website User")):
			for action, args in ((api.approve, (name,)), (api.request_approval, (name,)), (api.delivery, (name,)),
				(api.reject, (name, "no"))):
				with self.assertRaises(frappe.PermissionError, msg=f"{outsider} {action.__name__}"):
					self.as_user(outsider, action, *args)

		with self.assertRaises(frappe.ValidationError):
			self.as_user(PUBLISHER, api.reject, name, "  ")  # a rejection says why
		self.as_user(PUBLISHER, api.reject, name, "Say when the next update comes.")
		doc.reload()
		self.assertEqual((doc.status, doc.rejection_reason), ("Rejected", "Say when the next update comes."))
		self.assertTrue(frappe.db.exists("Notification Log", {"for_user": WRITER, "document_name": name}))

		frappe.set_user(WRITER)
		try:
			doc.text = "We are restarting the VPN gateways; next update at 11:00."
			doc.save()  # rejected: the writer fixes it and asks again
			api.request_approval(name)
		finally:
			frappe.set_user("Administrator")
		self.as_user(PUBLISHER, api.approve, name)
		doc.reload()
		self.assertEqual((doc.status, doc.approved_by), ("Approved", PUBLISHER))
		broadcasts.enqueue_send.assert_called_once_with(name)
		# track_changes: who asked, rejected and approved is in the document's history
		self.assertGreaterEqual(frappe.db.count("Version", {"ref_doctype": "Social Broadcast", "docname": name}), 4)

	def test_the_writer_cannot_approve_their_own_unless_a_system_manager(self):
		make_user(PUBLISHING_WRITER, (AGENT_ROLE, PUBLISHER_ROLE))
		make_user(MANAGER, ("System Manager",))
		name = self.write([MASTODON], user=PUBLISHING_WRITER)
		self.as_user(PUBLISHING_WRITER, api.request_approval, name)
		with self.assertRaisesRegex(frappe.PermissionError, "another"):
			self.as_user(PUBLISHING_WRITER, api.approve, name)
		self.assertEqual(frappe.db.get_value("Social Broadcast", name, "status"), "Awaiting Approval")
		own = self.write([MASTODON], user=MANAGER)
		self.as_user(MANAGER, api.request_approval, own)
		self.as_user(MANAGER, api.approve, own)
		self.assertEqual(frappe.db.get_value("Social Broadcast", own, ["status", "approved_by"]), ("Approved", MANAGER))

	def test_the_form_presets_the_incidents_channels_and_previews_the_split(self):
		self.assertEqual([row["channel"] for row in api.default_channels(self.incident.name)], [MASTODON])
		preview = {entry["channel"]: entry for entry in api.preview(LONG_TEXT, json.dumps([MASTODON, FEED]))}
		parts = preview[MASTODON]["parts"]
		self.assertEqual(len(parts), 2)
		self.assertTrue(all(part["length"] <= preview[MASTODON]["limit"] == 500 for part in parts))
		self.assertTrue(parts[0]["text"].endswith("(1/2)"))
		self.assertFalse(preview[FEED]["can_publish"])
		self.assertTrue(preview[FEED]["note"])


class TestSending(BroadcastCase):
	def test_a_long_broadcast_goes_out_once_as_a_thread_and_a_feed_is_not_supported(self):
		name = self.approved([MASTODON, FEED], text=LONG_TEXT)
		self.assertEqual(broadcasts.send_broadcast(name), "Sent")
		rows = self.rows(name)
		created = self.created()
		self.assertEqual(len(created), 2)
		self.assertIsNone(created[0]["in_reply_to_id"])  # top level, on the account's own timeline
		self.assertEqual(created[1]["in_reply_to_id"], created[0]["id"])  # the thread goes on under it
		self.assertEqual((rows[MASTODON].status, rows[MASTODON].external_id), ("Sent", created[0]["id"]))
		self.assertTrue(rows[MASTODON].url.endswith(created[0]["id"]))
		self.assertEqual([p[0] for p in json.loads(rows[MASTODON].sent_parts)], [c["id"] for c in created])
		self.assertEqual(rows[FEED].status, "Not Supported")
		self.assertTrue(rows[FEED].error)  # the connector's own words on why
		self.assertIn("published on", sent_note(self.ticket))

		self.assertEqual(broadcasts.send_broadcast(name), "Sent")  # a second run sends nothing
		self.assertEqual(len(self.created()), 2)

	def test_a_retry_after_a_dead_worker_resumes_after_the_delivered_part(self):
		name = self.approved([MASTODON], text=LONG_TEXT)
		record = broadcasts.write_row

		def die_after_the_first_part(row, **values):
			record(row, **values)
			if "sent_parts" in values:
				frappe.db.commit()  # the accepted part is on record, as the job commits it
				raise SystemExit("worker killed")

		with patch.object(broadcasts, "write_row", side_effect=die_after_the_first_part):
			with self.assertRaises(SystemExit):
				broadcasts.send_broadcast(name)
		frappe.db.rollback()
		row = self.rows(name)[MASTODON]
		self.assertEqual((row.status, len(json.loads(row.sent_parts))), ("Sending", 1))
		self.assertEqual(broadcasts.send_broadcast(name), "Sent")
		created = self.created()
		self.assertEqual(len(created), 2)  # part 1 was not posted again; part 2 answers it
		self.assertEqual(created[1]["in_reply_to_id"], created[0]["id"])
		self.assertEqual(self.server.repeated_keys, self.baseline[1])

	def test_a_refused_token_fails_its_channel_only_and_a_publisher_retries_it(self):
		name = self.approved([EXPIRED, MASTODON])
		self.assertEqual(broadcasts.send_broadcast(name), "Partly Failed")
		rows = self.rows(name)
		self.assertEqual(rows[MASTODON].status, "Sent")
		self.assertEqual(rows[EXPIRED].status, "Failed")
		self.assertIn("401", rows[EXPIRED].error)
		self.assertIn("credentials", rows[EXPIRED].error)
		self.assertIsNone(rows[EXPIRED].next_attempt_at)  # the same token would only fail again
		self.assertEqual(len(self.created()), 1)
		self.assertTrue(frappe.db.exists("Error Log", {"reference_name": name}))

		make_user(WRITER, (AGENT_ROLE,))
		with self.assertRaises(frappe.PermissionError):
			self.as_user(WRITER, api.retry_failed, name)
		frappe.db.set_value("Social Channel", EXPIRED, "access_token", self.server.token)  # the admin re-authenticates
		frappe.get_doc("Social Channel", EXPIRED).save(ignore_permissions=True)
		api.retry_failed(name)
		broadcasts.enqueue_send.assert_called_with(name)
		frappe.db.commit()
		self.assertEqual(broadcasts.send_broadcast(name), "Sent")
		self.assertEqual({row.status for row in self.rows(name).values()}, {"Sent"})
		self.assertEqual(len(self.created()), 2)  # the channel that had it already was not posted to again

	def test_a_rate_limited_channel_is_retried_by_the_tick_when_its_time_comes(self):
		name = self.approved([MASTODON])
		self.server.script("POST", ["rate_limit_reset"])
		self.assertEqual(broadcasts.send_broadcast(name), "Failed")
		row = self.rows(name)[MASTODON]
		self.assertEqual(row.status, "Failed")
		self.assertTrue(row.next_attempt_at)
		broadcasts.enqueue_send.reset_mock()
		broadcasts.retry_due_broadcasts()
		broadcasts.enqueue_send.assert_not_called()  # not yet
		frappe.db.set_value("Social Broadcast Channel", row.name, "next_attempt_at", add_to_date(now_datetime(), minutes=-1))
		frappe.db.commit()
		broadcasts.retry_due_broadcasts()
		broadcasts.enqueue_send.assert_called_once_with(name)
		self.assertEqual(broadcasts.send_broadcast(name), "Sent")
		self.assertEqual(len(self.created()), 1)


class TestReporters(BroadcastCase):
	def answered(self, name: str) -> list[frappe._dict]:
		return frappe.get_all("Social Reply", filters={"broadcast": name},
			fields=["name", "social_post", "reply_mode", "ticket", "ticket_doctype", "status", "text"])

	def test_every_reporter_gets_one_reply_in_their_thread_and_never_a_second(self):
		frappe.db.set_single_value(SETTINGS, "reporter_replies_per_minute", 50)
		name = self.approved([MASTODON], reply_to_reporters=1)
		reporters.answer_reporters()
		self.assertEqual(self.answered(name), [])  # not sent yet: nothing to point at
		self.assertEqual(broadcasts.send_broadcast(name), "Sent")
		url = self.rows(name)[MASTODON].url

		ticket_id = frappe.db.get_value("Social Incident", self.incident.name, "ticket")
		frappe.db.set_value("Social Incident", self.incident.name, "ticket", None)  # not confirmed: no parent ticket
		frappe.db.commit()
		reporters.answer_reporters()
		self.assertEqual(self.answered(name), [])
		frappe.db.set_value("Social Incident", self.incident.name, "ticket", ticket_id)
		frappe.db.commit()

		reporters.answer_reporters()
		replies = self.answered(name)
		self.assertEqual(len(replies), 6)  # six distinct reporters for seven posts
		alice_posts = frappe.get_all("Social Post", filters={"channel": MASTODON, "author_handle": "alice"},
			pluck="name", order_by="posted_at desc")
		self.assertIn(alice_posts[0], {r.social_post for r in replies})  # her latest post
		self.assertNotIn(alice_posts[1], {r.social_post for r in replies})
		modes = {frappe.db.get_value("Social Post", r.social_post, "author_handle"): r.reply_mode for r in replies}
		self.assertEqual(modes["frank"], "Private")
		self.assertEqual(modes["bob"], "Public")
		self.assertEqual({(r.ticket_doctype, r.ticket) for r in replies}, {(TICKET, self.ticket)})
		self.assertTrue(all(url in r.text for r in replies), "the reply points at the published update")
		self.assertEqual(outbound.enqueue_send.call_count, 6)

		reporters.answer_reporters()  # a second tick
		self.assertEqual(broadcasts.send_broadcast(name), "Sent")  # a retry of the broadcast
		reporters.answer_reporters()
		self.assertEqual(len(self.answered(name)), 6)
		self.assertEqual(outbound.enqueue_send.call_count, 6)

		notes_before = sent_note(self.ticket)
		for reply in replies:
			self.assertEqual(outbound.send_reply(reply.name), "Sent")
		self.assertEqual(sent_note(self.ticket), notes_before)  # no timeline note per reporter reply
		answers = [c for c in self.created() if c["in_reply_to_id"]]
		self.assertEqual(len(answers), 6)
		self.assertEqual(len({c["in_reply_to_id"] for c in answers}), 6)
		reporters.answer_reporters()
		self.assertEqual(frappe.db.get_value("Social Broadcast", name, ["reporters_total", "reporters_answered"]), (6, 6))

	def test_reporter_replies_are_paced_per_channel_and_minute(self):
		frappe.db.set_single_value(SETTINGS, "reporter_replies_per_minute", 2)
		frappe.clear_document_cache(SETTINGS, SETTINGS)
		name = self.approved([MASTODON], reply_to_reporters=1)
		broadcasts.send_broadcast(name)
		reporters.answer_reporters()
		self.assertEqual(len(self.answered(name)), 2)
		reporters.answer_reporters()  # the same minute: the channel's budget is spent
		counts = [len(self.answered(name))]
		while counts[-1] < 6 and len(counts) < 10:
			self.minute_passes(name)
			reporters.answer_reporters()
			counts.append(len(self.answered(name)))
		self.assertEqual(counts, [2, 4, 6])
		self.minute_passes(name)
		reporters.answer_reporters()
		self.assertEqual(len(self.answered(name)), 6)
		self.assertEqual(frappe.db.get_value("Social Broadcast", name, "reporters_total"), 6)

	def minute_passes(self, name: str) -> None:
		"""The replies made so far were made over a minute ago (no sleeping in tests)."""
		reply = frappe.qb.DocType("Social Reply")
		frappe.qb.update(reply).set(reply.creation, add_to_date(now_datetime(), minutes=-2)).where(
			reply.broadcast == name).run()
		frappe.db.commit()
