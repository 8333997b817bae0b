"""Status broadcasts about an incident: written by an agent, approved by a Social Publisher, sent on every channel.

Draft -> Awaiting Approval -> Approved -> Sending -> Sent | Partly Failed | Failed
                          \\-> Rejected (the writer fixes it and asks again)

Sending is one background job per broadcast; each channel row is delivered the way a Social Reply is
(replies/outbound.py): the intent ("Sending", attempts) is committed before the network is called, every part
the network accepts is committed as it is accepted, and a retry resumes after the delivered parts, resending a
part only while the network would drop the duplicate (replies/state.py). One channel failing (an expired token)
fails that row only.
"""

from __future__ import annotations

import html
import json

import frappe
from frappe import _
from frappe.utils import add_to_date, get_url_to_form, now_datetime

from social_itsm_app.channels.config import network_key
from social_itsm_app.channels.runtime import build_connector, credentials_in_use
from social_itsm_app.connectors import AuthError, ConnectorError, SentReply, connector_class
from social_itsm_app.connectors.split import MEASURES, split_reply
from social_itsm_app.permissions import users_with_roles
from social_itsm_app.queues import SEND, queue_for
from social_itsm_app.replies import outbound, state
from social_itsm_app.statuses import (
	APPROVED,
	AWAITING_APPROVAL,
	BROADCAST_FAILED,
	BROADCAST_SENDING,
	BROADCAST_SENT,
	DRAFT,
	NOT_SUPPORTED,
	PARTLY_FAILED,
	PENDING,
	PUBLISHER_ROLE,
	REJECTED,
)
from social_itsm_app.utils import short_error

DOCTYPE = "Social Broadcast"
ROW = "Social Broadcast Channel"
SEND_JOB = "social_itsm_app.incidents.broadcasts.send_broadcast"
UPDATE_EVENT = "social_itsm_broadcast_update"
EDITABLE = (DRAFT, REJECTED)
# Statuses the send job works on: approved, interrupted, or with rows waiting for a retry.
SENDABLE = (APPROVED, BROADCAST_SENDING, PARTLY_FAILED, BROADCAST_FAILED)
RETRYABLE = (PARTLY_FAILED, BROADCAST_FAILED)
# A job holds the broadcast this long at most (a dead worker's hold expires; the tick resumes its rows).
SEND_LOCK_SECONDS = 900
LOST_JOB_MINUTES = 5
NO_PUBLISHING = "{0} channels receive pushed events only: there is no account to publish on."
AUTH_HINT = "Update the channel's credentials, then use Retry failed channels."


# --- governance ----------------------------------------------------------------------------------------------


def is_publisher(user: str | None = None) -> bool:
	user = user or frappe.session.user
	return user == "Administrator" or bool({PUBLISHER_ROLE, "System Manager"} & set(frappe.get_roles(user)))


def require_publisher() -> None:
	if not is_publisher():
		frappe.throw(
			_("Only a {0} (or a System Manager) can approve, reject or retry broadcasts.").format(_(PUBLISHER_ROLE)),
			frappe.PermissionError,
		)


def request_approval(name: str) -> dict:
	"""The writer is done: the message is frozen and the publishers are told."""
	doc = frappe.get_doc(DOCTYPE, name)
	if doc.status not in EDITABLE:
		frappe.throw(_("Broadcast {0} is {1}: approval was already requested.").format(name, _(doc.status)))
	if not (doc.text or "").strip() or not doc.channels:
		frappe.throw(_("Write the text and choose the channels before asking for approval."))
	transition(doc, AWAITING_APPROVAL, written_by=frappe.session.user, requested_at=now_datetime(),
		approved_by=None, approved_at=None, rejection_reason=None)
	publishers = [user for user in users_with_roles([PUBLISHER_ROLE]) if user != doc.written_by]
	notify(doc, publishers, _("Broadcast {0} about {1} awaits your approval").format(doc.name, incident_title(doc)))
	return summary(doc)


def approve(name: str) -> dict:
	"""A Social Publisher approves: the broadcast is queued for sending."""
	require_publisher()
	doc = frappe.get_doc(DOCTYPE, name)
	if doc.status != AWAITING_APPROVAL:
		frappe.throw(_("Only a broadcast awaiting approval can be approved (this one is {0}).").format(_(doc.status)))
	user = frappe.session.user
	if doc.written_by == user and not is_system_manager(user):
		frappe.throw(
			_("You wrote this broadcast, so another {0} must approve it. Only a System Manager may approve their own.")
			.format(_(PUBLISHER_ROLE)),
			frappe.PermissionError,
		)
	transition(doc, APPROVED, approved_by=user, approved_at=now_datetime(), rejection_reason=None)
	enqueue_send(doc.name)
	notify(doc, [doc.written_by], _("Broadcast {0} was approved and is being sent").format(doc.name))
	return summary(doc)


def reject(name: str, reason: str) -> dict:
	require_publisher()
	doc = frappe.get_doc(DOCTYPE, name)
	if doc.status != AWAITING_APPROVAL:
		frappe.throw(_("Only a broadcast awaiting approval can be rejected (this one is {0}).").format(_(doc.status)))
	if not (reason or "").strip():
		frappe.throw(_("Say why, so the writer can fix it."))
	transition(doc, REJECTED, rejection_reason=reason.strip()[:1000])
	notify(doc, [doc.written_by], _("Broadcast {0} was rejected: {1}").format(doc.name, reason.strip()[:200]))
	return summary(doc)


def retry_failed(name: str) -> dict:
	"""A publisher checked the network (and the channel's credentials): the failed rows start afresh, after the
	parts they already delivered."""
	require_publisher()
	doc = frappe.get_doc(DOCTYPE, name)
	failed = [row for row in doc.channels if row.status == BROADCAST_FAILED]
	if doc.status not in RETRYABLE or not failed:
		frappe.throw(_("Only a broadcast with failed channels can be retried."))
	for row in failed:
		write_row(row, status=PENDING, attempts=0, first_attempt_at=None, delivery_in_doubt=0, next_attempt_at=None,
			error=None)
	doc.db_set("status", APPROVED)
	doc.add_comment("Info", _("Retry of {0} failed channel(s) asked by {1}").format(len(failed), frappe.session.user))
	enqueue_send(doc.name)
	return summary(doc)


def transition(doc, status: str, **values) -> None:
	"""Save through the controller (flagged as the app's write), so the version history records who did what."""
	doc.update({"status": status, **values})
	doc.flags.social_itsm = True
	doc.save(ignore_permissions=True, ignore_version=False)  # the audit trail, also where tests skip versions


def is_system_manager(user: str) -> bool:
	return user == "Administrator" or "System Manager" in frappe.get_roles(user)


def notify(doc, users: list[str | None], subject: str) -> None:
	"""A Notification Log per user (the bell in the desk); the subject is shown as HTML, so it is escaped."""
	for user in {u for u in users if u}:
		frappe.get_doc({
			"doctype": "Notification Log",
			"subject": html.escape(subject),
			"email_content": html.escape(doc.text or ""),
			"for_user": user,
			"from_user": frappe.session.user,
			"type": "Alert",
			"document_type": DOCTYPE,
			"document_name": doc.name,
			"link": get_url_to_form(DOCTYPE, doc.name),
		}).insert(ignore_permissions=True)


def incident_title(doc) -> str:
	return frappe.db.get_value("Social Incident", doc.incident, "title") or doc.incident


def summary(doc) -> dict:
	return {"broadcast": doc.name, "status": doc.status, "rows": rows_payload(doc)}


# --- what the form offers ------------------------------------------------------------------------------------


def default_channels(incident: str) -> list[dict]:
	"""The channels the incident was heard on (most reports first), to preset a new broadcast's rows."""
	post = frappe.qb.DocType("Social Post")
	count = frappe.query_builder.functions.Count("*")
	heard = (
		frappe.qb.from_(post)
		.select(post.channel, count.as_("posts"))
		.where(post.social_incident == incident)
		.groupby(post.channel)
		.orderby(count, order=frappe.qb.desc)
		.run(pluck=True)
	)
	listed = (frappe.db.get_value("Social Incident", incident, "channels") or "").replace(",", "\n").splitlines()
	names = list(dict.fromkeys([*heard, *(name.strip() for name in listed if name.strip())]))
	channels = frappe.get_all("Social Channel", filters={"name": ("in", names or [""]), "status": ("!=", "Disabled")},
		fields=["name", "network"])
	network_of = {c.name: c.network for c in channels}
	return [{"channel": name, "network": network_of[name]} for name in names if name in network_of]


def preview(text: str, channels: list[str]) -> list[dict]:
	"""How ``text`` will go out on each channel: the parts the core's splitter makes within the network's limit
	(what a part measures, the network's way), or why the channel cannot publish."""
	result = []
	for name in dict.fromkeys(channels):
		channel = frappe.get_doc("Social Channel", name)
		entry = {"channel": name, "network": channel.network, "can_publish": False, "note": "", "parts": []}
		key = network_key(channel.network)
		if key is None:
			entry["note"] = _(NO_PUBLISHING).format(channel.network)
			result.append(entry)
			continue
		connector = publisher_for(channel)
		cls = type(connector) if connector else connector_class(key)
		entry["can_publish"] = bool(getattr(connector or cls, "can_publish", False))
		entry["note"] = getattr(connector or cls, "publish_note", "") or ""
		limit = connector.publish_limit() if connector and hasattr(connector, "publish_limit") else int(cls.public_limit)
		measure = MEASURES[cls.measure]
		entry.update(limit=limit, measure=cls.measure)
		if entry["can_publish"] and (text or "").strip():
			entry["parts"] = [{"text": part, "length": measure(part)} for part in split_reply(text, limit, cls.measure)]
		result.append(entry)
	return result


def publisher_for(channel):
	"""The channel's connector (its per-channel limit and publishing switch), or None when it cannot be built;
	nothing is sent."""
	try:
		return build_connector(channel)
	except ConnectorError:
		return None


# --- sending -------------------------------------------------------------------------------------------------


def enqueue_send(broadcast: str) -> None:
	frappe.enqueue(
		SEND_JOB,
		queue=queue_for(SEND),
		job_id=f"social_itsm_broadcast::{broadcast}",
		deduplicate=True,
		enqueue_after_commit=True,
		broadcast=broadcast,
	)


def send_broadcast(broadcast: str) -> str:
	"""Background job: deliver an approved broadcast on each of its channels. Returns the status it ends in."""
	lock = frappe.cache().lock(f"{frappe.local.site}:social_itsm_broadcast:{broadcast}", timeout=SEND_LOCK_SECONDS)
	if not lock.acquire(blocking=False):
		return frappe.db.get_value(DOCTYPE, broadcast, "status")  # another worker is sending it right now
	try:
		return deliver(broadcast)
	finally:
		try:
			lock.release()
		except Exception:  # expired while we worked: nothing left to release
			pass


def deliver(broadcast: str) -> str:
	doc = frappe.get_doc(DOCTYPE, broadcast)
	if doc.status not in SENDABLE:
		return doc.status
	doc.db_set("status", BROADCAST_SENDING)
	frappe.db.commit()
	delivered = []
	for row in doc.channels:
		if deliver_row(doc, row):
			delivered.append(row)
		publish_update(doc)
	doc.db_set("status", overall_status([row.status for row in doc.channels]))
	if delivered:
		note_on_incident_ticket(doc, delivered)
	frappe.db.commit()
	publish_update(doc)
	return doc.status


def deliver_row(doc, row) -> bool:
	"""One channel: True when the broadcast went out on it in this run."""
	if row.status in (BROADCAST_SENT, NOT_SUPPORTED):
		return False
	if row.status == BROADCAST_FAILED and not (row.next_attempt_at and row.next_attempt_at <= now_datetime()):
		return False  # waits for its retry time, or for a publisher
	channel = frappe.get_doc("Social Channel", row.channel)
	key = network_key(channel.network)
	if key is None or not connector_class(key).can_publish:
		note = _(NO_PUBLISHING).format(channel.network) if key is None else connector_class(key).publish_note
		write_row(row, status=NOT_SUPPORTED, error=note or _("{0} cannot publish.").format(channel.network))
		frappe.db.commit()
		return False
	decision = outbound.start_decision(row, channel.network)
	if decision == state.SKIP:
		return False
	if decision == state.IN_DOUBT:
		write_row(row, status=BROADCAST_FAILED, error=state.UNKNOWN_DELIVERY, next_attempt_at=None)
		frappe.db.commit()
		return False

	attempts = (row.attempts or 0) + 1
	intent = {"status": BROADCAST_SENDING, "attempts": attempts, "error": None}
	if not row.first_attempt_at:
		intent["first_attempt_at"] = now_datetime()  # the network's memory of our idempotency key starts here
	write_row(row, **intent)
	frappe.db.commit()  # the intent is on record before anything reaches the network

	sent = sent_parts(row)

	def record(part: SentReply) -> None:
		sent.append(part)
		values = {"sent_parts": json.dumps([[p.external_id, p.url] for p in sent])}
		if len(sent) == 1:
			values.update(external_id=part.external_id[:255], url=outbound.safe_link(part.url))
		write_row(row, **values)
		frappe.db.commit()

	try:
		with credentials_in_use(channel):
			connector = build_connector(channel)
			if not getattr(connector, "can_publish", False):  # switched off for this channel (no broadcast target)
				write_row(row, status=NOT_SUPPORTED, error=connector.publish_note or None, attempts=attempts - 1)
				frappe.db.commit()
				return False
			connector.publish(doc.text, already_sent=list(sent), idempotency_key=f"{doc.name}-{row.name}",
				on_sent=record)
	except ConnectorError as exc:
		retry_at, in_doubt, error = outbound.after_error(row, exc, attempts, channel.network)
		if isinstance(exc, AuthError):  # new credentials first: retrying the same token only fails again
			retry_at, error = None, f"{error} {AUTH_HINT}"[:1000]
		write_row(row, status=BROADCAST_FAILED, error=error, next_attempt_at=retry_at, delivery_in_doubt=int(in_doubt))
		frappe.log_error(
			title=f"Social ITSM: broadcast {doc.name} on {row.channel} failed",
			message=short_error(exc, 4000),
			reference_doctype=DOCTYPE,
			reference_name=doc.name,
		)
		frappe.db.commit()
		return False
	write_row(row, status=BROADCAST_SENT, sent_at=now_datetime(), next_attempt_at=None, error=None)
	frappe.db.commit()
	return True


def sent_parts(row) -> list[SentReply]:
	try:
		return [SentReply(str(external_id), url or "") for external_id, url in json.loads(row.sent_parts or "[]")]
	except (TypeError, ValueError):
		return []


def write_row(row, **values) -> None:
	"""A channel row's delivery, in the database and on the loaded row (the job reads it back)."""
	frappe.db.set_value(ROW, row.name, values, update_modified=False)
	row.update(values)


def overall_status(statuses: list[str]) -> str:
	"""Sent when it went out wherever it could; Partly Failed when some channel failed; Failed when none took it."""
	sent = statuses.count(BROADCAST_SENT)
	failed = sum(status not in (BROADCAST_SENT, NOT_SUPPORTED) for status in statuses)
	if sent and not failed:
		return BROADCAST_SENT
	return PARTLY_FAILED if sent else BROADCAST_FAILED


def rows_payload(doc) -> list[dict]:
	return [
		{
			"name": row.name, "channel": row.channel, "network": row.network, "status": row.status, "url": row.url,
			"error": row.error, "attempts": row.attempts, "next_attempt_at": row.next_attempt_at,
			"parts": len(sent_parts(row)),
		}
		for row in doc.channels
	]


def publish_update(doc) -> None:
	"""The open form shows each channel's delivery as it happens."""
	frappe.publish_realtime(
		UPDATE_EVENT,
		{"broadcast": doc.name, "status": doc.status, "rows": rows_payload(doc),
			"reporters_total": doc.reporters_total, "reporters_answered": doc.reporters_answered},
		doctype=DOCTYPE,
		docname=doc.name,
		after_commit=False,
	)


def note_on_incident_ticket(doc, rows) -> None:
	"""The parent ticket's timeline says that the status went out, with links (one note per run, not per reply)."""
	ticket_doctype, ticket = frappe.db.get_value("Social Incident", doc.incident, ["ticket_doctype", "ticket"])
	if not (ticket_doctype and ticket):
		return
	links = []
	for row in rows:
		link = outbound.safe_link(row.url)
		where = html.escape(row.channel)
		links.append(f'<a href="{html.escape(link, quote=True)}" target="_blank" rel="noopener noreferrer">{where}</a>'
			if link else where)
	message = html.escape(_("Status update {0} ({1}) published on").format(doc.name, _(doc.update_kind or ""))) + " " + ", ".join(links)
	outbound.ticket_note(ticket_doctype, ticket, message, doc.approved_by)


def retry_due_broadcasts() -> None:
	"""Scheduler tick: broadcasts with a channel whose retry time has come (a rate limit's reset), and approved or
	sending ones whose job was lost (the job decides whether resending a row is safe)."""
	broadcast = frappe.qb.DocType(DOCTYPE)
	row = frappe.qb.DocType(ROW)
	now = now_datetime()
	due_rows = (
		frappe.qb.from_(row)
		.join(broadcast).on(broadcast.name == row.parent)
		.select(broadcast.name).distinct()
		.where((row.parenttype == DOCTYPE) & (row.status == BROADCAST_FAILED) & row.next_attempt_at.isnotnull())
		.where((row.next_attempt_at <= now) & broadcast.status.isin(RETRYABLE))
		.limit(100)
		.run(pluck=True)
	)
	lost = frappe.get_all(DOCTYPE, filters={"status": ("in", (APPROVED, BROADCAST_SENDING)),
		"modified": ("<=", add_to_date(now, minutes=-LOST_JOB_MINUTES))}, pluck="name", limit=100)
	for name in dict.fromkeys([*due_rows, *lost]):
		enqueue_send(name)
