"""Storing pushed deliveries: the queued half of the webhook endpoint (api/webhook.py answers at once).

A delivery's posts take the polling path: ``store_posts`` (dedupe, identities, threads, triage, incidents) and
``after_store`` (list refresh, hand-over to the ticket side). Push jobs of one channel run one at a time (a row
lock on the channel), as polling runs one fetch per channel.

WhatsApp's status callbacks (sent, delivered, read, failed) are written to the Social Reply whose part has the
message id. A callback may arrive before the send job recorded that part (Meta answers the send and fires
"sent" at once): such a status waits in Redis and is matched by the channel's next delivery.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import frappe
from frappe.utils import now_datetime

from social_itsm_app.connectors import SocialPost
from social_itsm_app.ingest.jobs import after_store, load_spam_guard, save_spam_guard
from social_itsm_app.ingest.store import StoredBatch, store_posts
from social_itsm_app.statuses import ACTIVE, FAILING
from social_itsm_app.utils import logger, short_error

STORE_JOB = "social_itsm_app.ingest.push.store_pushed"
# How far each WhatsApp status moves a reply on; "failed" is final whatever came before.
STATUS_RANK = {"sent": 1, "delivered": 2, "read": 3, "played": 3, "failed": 9}
FAILED = "failed"
PENDING_SECONDS = 24 * 3600  # a status whose reply never shows up is forgotten after a day
MAX_PENDING = 5000  # per channel: a flood of unknown ids never grows the hash without bound


def store_pushed(channel: str, posts: list[dict] | None = None, statuses: list[dict] | None = None) -> dict:
	"""Background job: store one delivery's posts and statuses for ``channel``; commit; hand over."""
	if frappe.session.user == "Guest":
		# Queued by the guest endpoint, so the worker runs it as Guest: store as polling does (the scheduler's user),
		# so posts, identities and the tickets handed over are not Guest's.
		frappe.set_user("Administrator")
	frappe.db.get_value("Social Channel", channel, "name", for_update=True)  # one push job per channel at a time
	doc = frappe.get_doc("Social Channel", channel)
	try:
		doc.listening_since = doc.listening_since or now_datetime()
		guard = load_spam_guard(doc.name)
		batch = store_posts(doc.name, doc.network, [SocialPost.from_dict(post) for post in posts or ()], guard,
			doc.listening_since)
		updated = apply_statuses(doc.name, statuses or ())
		record_push(doc, batch)
		frappe.db.commit()
		save_spam_guard(doc.name, guard)
	except Exception as exc:
		frappe.db.rollback()
		# The network was answered 200 already: the admin sees the failure on the channel and in the Error Log.
		frappe.db.set_value("Social Channel", doc.name, {"status": FAILING, "last_error": short_error(exc, 1000)},
			update_modified=False)
		frappe.log_error(title=f"Social ITSM: storing a pushed delivery for channel {doc.name} failed",
			reference_doctype="Social Channel", reference_name=doc.name)
		frappe.db.commit()
		raise
	summary = {
		"channel": doc.name, "status": "ok", "pushed": len(posts or ()), "stored": len(batch.new),
		"duplicates": batch.duplicates, "linked": len(batch.linked), "statuses": updated,
	}
	logger().info(summary)
	after_store(doc, batch)
	return summary


def record_push(doc, batch: StoredBatch) -> None:
	"""The channel's health after an accepted delivery (counters added in SQL: pushes may come from many workers)."""
	channel = frappe.qb.DocType("Social Channel")
	now = now_datetime()
	(
		frappe.qb.update(channel)
		.set(channel.posts_fetched, channel.posts_fetched + len(batch.new))
		.set(channel.backlog_posts, channel.backlog_posts + batch.backlog)
		.set(channel.last_success_at, now)
		.set(channel.last_fetched_at, now)
		.set(channel.listening_since, doc.listening_since)
		.set(channel.status, ACTIVE)
		.set(channel.consecutive_failures, 0)
		.set(channel.last_error, None)
		.where(channel.name == doc.name)
	).run()


# --- WhatsApp delivery statuses ---------------------------------------------------------------------------------


def status_text(status: Mapping[str, Any]) -> str:
	"""What the reply shows: the status word, and for a failure WhatsApp's code and reason."""
	word = str(status.get("status") or "")
	error = status.get("error")
	return f"{word}: {error}"[:140] if word == FAILED and error else word[:140]


def moves_on(current: str | None, new: str) -> bool:
	"""Whether ``new`` replaces what the reply shows: statuses arrive out of order, a read never becomes sent."""
	old = (current or "").split(":")[0]
	return STATUS_RANK.get(new, 0) >= STATUS_RANK.get(old, 0) and old != FAILED


def apply_statuses(channel: str, statuses: Iterable[Mapping[str, Any]]) -> int:
	"""Write each status to the reply that sent its message; keep the ones whose reply is not recorded yet.
	Returns how many replies changed."""
	pending = pending_statuses(channel)
	incoming = {str(status["message_id"]): status for status in statuses if status.get("message_id")}
	# A waiting status first, then this delivery's: the newer word for the same message wins below.
	waiting = {key: value for key, value in pending.items() if key not in incoming}
	ordered = [*waiting.values(), *incoming.values()]
	if not ordered:
		return 0
	part, reply = frappe.qb.DocType("Social Reply Part"), frappe.qb.DocType("Social Reply")
	rows = (
		frappe.qb.from_(part)
		.join(reply).on(reply.name == part.parent)
		.select(part.external_id, reply.name, reply.network_status)
		.where((part.parenttype == "Social Reply") & (reply.channel == channel))
		.where(part.external_id.isin([str(status["message_id"]) for status in ordered]))
		.run(as_dict=True)
	)
	replies = {row.external_id: row for row in rows}
	shown: dict[str, str | None] = {row.name: row.network_status for row in rows}
	changed: dict[str, Mapping[str, Any]] = {}
	unmatched = {}
	for status in ordered:
		row = replies.get(str(status["message_id"]))
		if row is None:
			unmatched[str(status["message_id"])] = status
			continue
		word = str(status.get("status") or "")
		if moves_on(shown[row.name], word):
			shown[row.name] = status_text(status)
			changed[row.name] = status
	for name, status in changed.items():
		values: dict[str, Any] = {"network_status": shown[name]}
		if status.get("status") == FAILED:
			# Accepted by the API, then not delivered: the agent sees it failed and why (e.g. the 24-hour window).
			values.update(status="Failed", last_error=shown[name], next_attempt_at=None)
		frappe.db.set_value("Social Reply", name, values, update_modified=False)
	remember_pending(channel, unmatched, forget=set(pending) - set(unmatched))
	return len(changed)


def pending_key(channel: str) -> str:
	return frappe.cache().make_key(f"social_itsm_pending_statuses::{channel}")


def redis_raw():
	"""A pipeline on the cache's Redis: the plain hash commands, without RedisWrapper's pickling and its
	per-process copy (frappe.local.cache), which would hide another worker's writes."""
	return frappe.cache().pipeline(transaction=False)


def pending_statuses(channel: str) -> dict[str, dict]:
	(raw,) = redis_raw().hgetall(pending_key(channel)).execute()
	found = {}
	for key, value in (raw or {}).items():
		try:
			found[key.decode() if isinstance(key, bytes) else str(key)] = json.loads(value)
		except (TypeError, ValueError):
			continue
	return found


def remember_pending(channel: str, statuses: Mapping[str, Mapping[str, Any]], forget: set[str]) -> None:
	key = pending_key(channel)
	if forget:
		redis_raw().hdel(key, *forget).execute()
	if not statuses:
		return
	(size,) = redis_raw().hlen(key).execute()
	if size + len(statuses) > MAX_PENDING:
		logger().warning({"channel": channel, "dropped_statuses": len(statuses), "reason": "too many unmatched"})
		return
	values = {message: json.dumps(dict(status), default=str) for message, status in statuses.items()}
	redis_raw().hset(key, mapping=values).expire(key, PENDING_SECONDS).execute()
