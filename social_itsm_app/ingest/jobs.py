"""Scheduled fetching: a cheap every-minute tick fans out one job per due channel.

The tick finds due channels with one indexed query (``next_fetch_at <= now``) and enqueues one job per
channel with a fixed job id, so a channel is never fetched by two workers at once. Each job commits the
stored posts and the advanced cursor together; failures back off, rate limits pause until the network's
reset time, and refused credentials pause the channel and tell the System Managers once.
"""

from __future__ import annotations

import time

import frappe
from frappe import _
from frappe.utils import add_to_date, get_url_to_form, now_datetime

from social_itsm_app.channels.config import PUSH, PUSHED_NETWORKS
from social_itsm_app.channels.handover import hand_over, has_pending
from social_itsm_app.channels.runtime import build_connector, credentials_in_use
from social_itsm_app.connectors import AuthError, ConnectorError, FetchResult, RateLimited
from social_itsm_app.ingest.store import StoredBatch, store_posts
from social_itsm_app.permissions import users_with_roles
from social_itsm_app.queues import FETCH, TICKETS, queue_for
from social_itsm_app.scheduling import next_fetch_at
from social_itsm_app.statuses import ACTIVE, FAILING, NEEDS_REAUTH, RATE_LIMITED
from social_itsm_app.triage.decide import SpamGuard
from social_itsm_app.utils import logger, short_error, to_site_datetime

FETCH_JOB = "social_itsm_app.ingest.jobs.fetch_channel"
# The ticket side's job, addressed by its path: ingest never imports tickets (see tests/static/test_layers.py).
TICKETS_JOB = "social_itsm_app.tickets.jobs.take_over_posts"
LINK_CONTACTS_JOB = "social_itsm_app.people.identities.link_contacts"
MAX_DUE_PER_TICK = 2000
SPAM_MEMORY_SECONDS = 2 * 24 * 3600  # a flood older than two days is no longer the same flood


def job_id(channel: str) -> str:
	return f"social_itsm_fetch::{channel}"


def due_channels(now=None) -> list[str]:
	"""Enabled polling channels whose next fetch time has come (one query on an indexed column)."""
	channel = frappe.qb.DocType("Social Channel")
	now = now or now_datetime()
	return (
		frappe.qb.from_(channel)
		.select(channel.name)
		.where((channel.enabled == 1) & (channel.status != NEEDS_REAUTH) & (channel.network.notin(PUSHED_NETWORKS)))
		.where(channel.intake_mode.isnull() | (channel.intake_mode != PUSH))  # pushed deliveries: nothing to poll
		.where(channel.next_fetch_at.isnull() | (channel.next_fetch_at <= now))
		.orderby(channel.next_fetch_at)
		.limit(MAX_DUE_PER_TICK)
		.run(pluck=True)
	)


def enqueue_due_channels() -> None:
	"""Scheduler tick (every minute)."""
	if not frappe.db.get_single_value("Social ITSM Settings", "enable_polling"):
		return
	for name in due_channels():
		enqueue_fetch(name)


def enqueue_fetch(channel: str, user_requested: bool = False) -> None:
	frappe.enqueue(
		FETCH_JOB,
		queue=queue_for(FETCH),  # Social ITSM Settings, Background workers
		job_id=job_id(channel),
		deduplicate=True,
		channel=channel,
		user_requested=user_requested,
	)


def fetch_channel(channel: str, user_requested: bool = False) -> dict:
	"""Fetch one channel, store new posts and advance its cursor in one transaction."""
	doc = frappe.get_doc("Social Channel", channel)
	started = time.monotonic()
	try:
		# The first fetch marks when the channel started listening: what was written before is backlog.
		doc.listening_since = doc.listening_since or now_datetime()
		with credentials_in_use(doc):
			connector = build_connector(doc)
			result = connector.fetch(doc.cursor or None)
		guard = load_spam_guard(doc.name)
		batch = store_posts(doc.name, doc.network, result.posts, guard, doc.listening_since)
		record_success(doc, result, batch)
		frappe.db.commit()
		save_spam_guard(doc.name, guard)
	except ConnectorError as exc:
		frappe.db.rollback()  # a rotated token was committed when it arrived (runtime.persist_state)
		summary = record_failure(doc, exc)
		frappe.db.commit()
		tell_requester(summary, user_requested)
		return summary
	except Exception as exc:
		# A bug or a database error, not the network: nothing is stored, the cursor stays, and the channel
		# backs off and shows the error instead of being retried every minute unseen.
		frappe.db.rollback()
		tell_requester(record_failure(doc, ConnectorError(f"internal error: {short_error(exc, 300)}")), user_requested)
		frappe.db.commit()
		raise
	summary = {
		"channel": doc.name, "status": "ok", "fetched": len(result.posts), "stored": len(batch.new),
		"duplicates": batch.duplicates, "linked": len(batch.linked), "backlog": batch.backlog, "has_more": result.has_more,
		"duration_ms": round((time.monotonic() - started) * 1000),
	}
	logger().info(summary)
	after_store(doc, batch)
	tell_requester(summary, user_requested)
	return summary


def spam_guard_key(channel: str) -> str:
	return f"social_itsm_spam_guard::{channel}"


def load_spam_guard(channel: str) -> SpamGuard:
	"""The channel's copy-paste memory from earlier fetches (Redis), so floods spread over polls are caught."""
	# expires=True: an expiring key must not be memoised in this process (frappe.local.cache), even as None.
	return SpamGuard.load(frappe.cache().get_value(spam_guard_key(channel), expires=True))


def save_spam_guard(channel: str, guard: SpamGuard) -> None:
	frappe.cache().set_value(spam_guard_key(channel), guard.dump(), expires_in_sec=SPAM_MEMORY_SECONDS)


def tell_requester(summary: dict, user_requested: bool) -> None:
	"""The admin who pressed "Fetch now" hears how it went (the form listens for this event)."""
	if user_requested:
		frappe.publish_realtime("social_itsm_fetch_done", summary, user=frappe.session.user)


def record_success(doc, result: FetchResult, batch: StoredBatch) -> None:
	now = now_datetime()
	frappe.db.set_value(
		"Social Channel",
		doc.name,
		{
			"cursor": result.cursor or doc.cursor,
			"last_fetched_at": now,
			"last_success_at": now,
			"consecutive_failures": 0,
			"last_error": None,
			"paused_until": None,
			"status": ACTIVE,
			"posts_fetched": (doc.posts_fetched or 0) + len(batch.new),
			"listening_since": doc.listening_since,
			"backlog_posts": (doc.backlog_posts or 0) + batch.backlog,
			"next_fetch_at": next_fetch_at(now, doc.poll_interval, has_more=result.has_more),
		},
		update_modified=False,
	)


def record_failure(doc, exc: ConnectorError) -> dict:
	"""Pause, back off and explain; nothing about the cursor changes."""
	now = now_datetime()
	failures = (doc.consecutive_failures or 0) + (0 if isinstance(exc, RateLimited) else 1)
	values = {"last_fetched_at": now, "last_error": short_error(exc, 1000), "consecutive_failures": failures}
	if isinstance(exc, RateLimited):
		paused = to_site_datetime(exc.resume_at)  # never in the past, never more than a day away
		values.update(status=RATE_LIMITED, paused_until=paused, next_fetch_at=next_fetch_at(now, doc.poll_interval, 0, paused))
	elif isinstance(exc, AuthError):
		values.update(status=NEEDS_REAUTH, next_fetch_at=add_to_date(now, hours=1))
		if doc.status != NEEDS_REAUTH:
			notify_reauth(doc, exc)
	else:
		values.update(status=FAILING, next_fetch_at=next_fetch_at(now, doc.poll_interval, failures))
		frappe.log_error(
			title=f"Social ITSM: fetching channel {doc.name} failed",
			message=short_error(exc, 4000),
			reference_doctype="Social Channel",
			reference_name=doc.name,
		)
	frappe.db.set_value("Social Channel", doc.name, values, update_modified=False)
	logger().warning({"channel": doc.name, "status": values["status"], "error": values["last_error"]})
	return {"channel": doc.name, "status": values["status"], "error": values["last_error"]}


def notify_reauth(doc, exc: ConnectorError) -> None:
	"""Tell every System Manager once, when the channel first enters "Needs Re-authentication"."""
	subject = _("Social channel {0} needs new credentials").format(doc.name)
	message = _("{0} refused the channel's credentials: {1}. Fetching is paused until you update them.").format(
		doc.network, short_error(exc, 300)
	)
	for user in system_managers():
		frappe.get_doc({
			"doctype": "Notification Log",
			"subject": subject,
			"email_content": message,
			"for_user": user,
			"type": "Alert",
			"document_type": "Social Channel",
			"document_name": doc.name,
			"link": get_url_to_form("Social Channel", doc.name),
		}).insert(ignore_permissions=True)


def system_managers() -> list[str]:
	"""Who hears that a channel failed: the System Managers, else Administrator (someone must)."""
	return users_with_roles(["System Manager"]) or ["Administrator"]


def after_store(doc, batch: StoredBatch) -> None:
	"""After the commit: tell open list views, hand linked and auto-convert posts to the ticket side's job.

	Converting is not done here: a burst of auto-convert posts (100+ ms each in Helpdesk) made the fetch long.
	"""
	if batch.new:
		# Bulk inserts skip Document.notify_update, so tell open list views ourselves (same message shape).
		frappe.publish_realtime("list_update", {"doctype": "Social Post", "name": batch.new[-1], "user": frappe.session.user})
		frappe.publish_realtime(
			"social_itsm_new_posts", {"channel": doc.name, "count": len(batch.new)}, doctype="Social Channel",
			docname=doc.name,
		)
	hand_over(doc.name, batch.linked, batch.to_convert)
	# Also when this fetch stored nothing: posts handed over while the last job was finishing wait for it.
	if has_pending(doc.name):
		frappe.enqueue(
			TICKETS_JOB,
			queue=queue_for(TICKETS),  # conversion work: Helpdesk's ticket creation is the slow part
			job_id=f"social_itsm_to_tickets::{doc.name}",
			deduplicate=True,
			now=frappe.flags.in_test,  # tests see the tickets the fetch leads to, as frappe's own jobs do
			channel=doc.name,
		)
	if batch.new:
		frappe.enqueue(LINK_CONTACTS_JOB, queue=queue_for(FETCH), job_id="social_itsm_link_contacts", deduplicate=True)
