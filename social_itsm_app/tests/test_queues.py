"""Background workers: the settings name the queue of fetch, send and conversion jobs, refuse a queue the bench does
not know, and jobs fall back to the built-in queue when a configured one disappears.

The queue "social_test" stands for a custom queue declared in common_site_config.json "workers": the list of
queues this process knows is patched (nothing here writes the bench's config), and ``frappe.enqueue`` is patched
so that no job reaches Redis.
"""

from __future__ import annotations

from unittest.mock import patch

import frappe
from frappe.tests.utils import FrappeTestCase

from social_itsm_app import api, queues
from social_itsm_app.ingest import jobs
from social_itsm_app.ingest.store import StoredBatch
from social_itsm_app.replies import outbound
from social_itsm_app.social_itsm.doctype.social_itsm_settings import social_itsm_settings

CUSTOM = "social_test"
BUILT_IN = ["short", "default", "long"]
SETTINGS = "Social ITSM Settings"


def knowing(names: list[str]):
	"""This process knows these queues (as if common_site_config's "workers" declared the extra ones)."""
	stack = [
		patch.object(queues, "known_queues", return_value=list(names)),
		patch.object(social_itsm_settings, "known_queues", return_value=list(names)),
	]
	for patcher in stack:
		patcher.start()
	return stack


class QueueCase(FrappeTestCase):
	def setUp(self):
		self.addCleanup(self.restore)
		self.patchers = knowing([*BUILT_IN, CUSTOM])
		queues._warned.clear()

	def restore(self):
		for patcher in self.patchers:
			patcher.stop()
		# The settings saved here are rolled back; the cached copy must not outlive them (other processes read it).
		frappe.db.rollback()
		frappe.clear_document_cache(SETTINGS, SETTINGS)
		queues._warned.clear()

	def configure(self, **values) -> None:
		settings = frappe.get_doc(SETTINGS)
		settings.update(values)
		settings.save()

	def queued_on(self, action) -> str:
		with patch.object(frappe, "enqueue") as enqueue:
			action()
		self.assertEqual(enqueue.call_count, 1, enqueue.call_args_list)
		return enqueue.call_args.kwargs["queue"]


class TestSettings(QueueCase):
	def test_the_defaults_are_frappes_own_queues(self):
		settings = frappe.get_doc(SETTINGS)
		settings.update({"fetch_queue": "", "send_queue": None, "ticket_queue": " "})
		settings.save()
		self.assertEqual((settings.fetch_queue, settings.send_queue, settings.ticket_queue), ("default", "short", "default"))

	def test_an_unknown_queue_is_refused_with_what_to_do(self):
		settings = frappe.get_doc(SETTINGS)
		settings.fetch_queue = "social_nowhere"
		with self.assertRaises(frappe.ValidationError) as caught:
			settings.save()
		message = str(caught.exception)
		for part in ('"social_nowhere"', "common_site_config.json", '"workers"', "bench worker --queue social_nowhere",
				"Fetch queue", CUSTOM):
			self.assertIn(part, message)

	def test_a_declared_queue_is_accepted(self):
		self.configure(fetch_queue=CUSTOM, send_queue=CUSTOM, ticket_queue="long")
		self.assertEqual(frappe.db.get_single_value(SETTINGS, "fetch_queue"), CUSTOM)

	def test_a_queue_that_disappeared_does_not_block_saving_other_settings(self):
		self.configure(fetch_queue=CUSTOM)
		for patcher in self.patchers:
			patcher.stop()
		self.patchers = knowing(BUILT_IN)
		settings = frappe.get_doc(SETTINGS)
		settings.retention_days = 91
		settings.save()  # fetch_queue did not change: no error (its jobs fall back, see below)
		self.assertEqual(frappe.db.get_single_value(SETTINGS, "fetch_queue"), CUSTOM)


class TestJobsGoWhereTheSettingsSay(QueueCase):
	def test_built_in_queues_out_of_the_box(self):
		self.configure(fetch_queue="default", send_queue="short", ticket_queue="default")
		self.assertEqual(self.queued_on(lambda: jobs.enqueue_fetch("Any channel")), "default")
		self.assertEqual(self.queued_on(lambda: outbound.enqueue_send("any-reply")), "short")

	def test_configured_queues(self):
		self.configure(fetch_queue=CUSTOM, send_queue="long", ticket_queue=CUSTOM)
		with patch.object(frappe, "enqueue") as enqueue:
			jobs.enqueue_fetch("Any channel")
		kwargs = enqueue.call_args.kwargs
		self.assertEqual(kwargs["queue"], CUSTOM)
		# Job ids and dedupe as before.
		self.assertEqual((kwargs["job_id"], kwargs["deduplicate"]), ("social_itsm_fetch::Any channel", True))
		with patch.object(frappe, "enqueue") as enqueue:
			outbound.enqueue_send("any-reply")
		kwargs = enqueue.call_args.kwargs
		self.assertEqual((kwargs["queue"], kwargs["job_id"]), ("long", "social_itsm_reply::any-reply"))
		with patch.object(api, "BULK_INLINE_LIMIT", 0):
			self.assertEqual(self.queued_on(lambda: api.convert_many(["post-1", "post-2"])), CUSTOM)

	def test_what_a_fetch_hands_on(self):
		"""The ticket side's take-over goes on the ticket queue, linking authors to Contacts on the fetch queue."""
		self.configure(fetch_queue=CUSTOM, ticket_queue="long")
		doc = frappe._dict(name="Any channel")
		with (
			patch.object(jobs, "hand_over"),
			patch.object(jobs, "has_pending", return_value=True),
			patch.object(jobs.frappe, "publish_realtime"),
			patch.object(frappe, "enqueue") as enqueue,
		):
			jobs.after_store(doc, StoredBatch(new=["post-1"]))
		queued = {call.args[0]: call.kwargs["queue"] for call in enqueue.call_args_list}
		self.assertEqual(queued, {jobs.TICKETS_JOB: "long", jobs.LINK_CONTACTS_JOB: CUSTOM})

	def test_a_queue_that_disappeared_falls_back_and_is_logged_once(self):
		self.configure(fetch_queue=CUSTOM, send_queue=CUSTOM, ticket_queue=CUSTOM)
		for patcher in self.patchers:
			patcher.stop()
		self.patchers = knowing(BUILT_IN)  # common_site_config no longer declares it (or this process predates it)
		with patch.object(frappe, "logger") as logger:
			self.assertEqual(self.queued_on(lambda: jobs.enqueue_fetch("Any channel")), "default")
			self.assertEqual(self.queued_on(lambda: jobs.enqueue_fetch("Other channel")), "default")
			self.assertEqual(self.queued_on(lambda: outbound.enqueue_send("any-reply")), "short")
			with patch.object(api, "BULK_INLINE_LIMIT", 0):
				self.assertEqual(self.queued_on(lambda: api.convert_many(["post-1"])), "default")
		warnings = [call.args[0] for call in logger.return_value.warning.call_args_list]
		self.assertEqual([(w["kind"], w["queue"], w["using"]) for w in warnings],
			[("fetch", CUSTOM, "default"), ("send", CUSTOM, "short"), ("tickets", CUSTOM, "default")])

	def test_the_real_queue_list_is_frappes(self):
		for patcher in self.patchers:
			patcher.stop()
		self.patchers = []
		self.assertTrue(set(BUILT_IN) <= set(queues.known_queues()))
		self.assertEqual(queues.queue_for(queues.SEND), frappe.db.get_single_value(SETTINGS, "send_queue") or "short")
