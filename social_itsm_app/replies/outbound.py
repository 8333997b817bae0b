"""From an agent's answer on a ticket to a reply on the network the customer wrote on.

An agent answers in the host's own reply box (Helpdesk or the desk composer); the Communication
``after_insert`` hook queues a Social Reply and a job sends it after the commit. The job records its
intent ("Sending", committed) before calling the network and every part the network accepts as soon as
it is accepted, so a retry continues a half-sent chain instead of repeating it.
"""

from __future__ import annotations

import json
from datetime import datetime

import frappe
from frappe import _
from frappe.utils import get_datetime, now_datetime

from social_itsm_app.channels.config import network_key
from social_itsm_app.channels.runtime import build_connector, credentials_in_use
from social_itsm_app.connectors import ConnectorError, RateLimited, SentReply, SocialPost, connector_class
from social_itsm_app.connectors.whatsapp import OutsideServiceWindow
from social_itsm_app.content import delivery_html, reply_text_from_html
from social_itsm_app.hosts import PROFILES
from social_itsm_app.queues import SEND, queue_for
from social_itsm_app.replies import state
from social_itsm_app.replies.templates import template_of
from social_itsm_app.utils import from_site_datetime, short_error, to_site_datetime

SEND_JOB = "social_itsm_app.replies.outbound.send_reply"


def on_communication_after_insert(doc, method: str | None = None) -> None:
	"""doc_events hook: an agent's reply on a ticket that came from a social post goes back to the network."""
	if (
		doc.reference_doctype not in PROFILES
		or doc.sent_or_received != "Sent"
		or doc.communication_type != "Communication"
		or doc.flags.social_itsm
	):
		return
	if not frappe.get_meta(doc.reference_doctype).has_field("social_post"):
		return
	ticket = frappe.db.get_value(
		doc.reference_doctype, doc.reference_name, ["social_post", "social_reply_mode"], as_dict=True
	)
	if not ticket or not ticket.social_post:
		return
	text = reply_text_from_html(doc.content)
	if text:
		queue_reply(doc.reference_doctype, doc.reference_name, text, ticket.social_reply_mode, communication=doc.name)


def queue_reply(
	ticket_doctype: str,
	ticket: str,
	text: str,
	reply_mode: str | None = None,
	communication: str | None = None,
	*,
	post=None,
	broadcast: str | None = None,
	sent_by: str | None = None,
) -> str:
	"""Create the Social Reply (answering ``post``, by default the customer's latest post on this ticket) and
	queue its job. ``broadcast``: a status update answering one reporter of an incident."""
	post = post or latest_customer_post(ticket_doctype, ticket)
	reply = frappe.get_doc({
		"doctype": "Social Reply",
		"social_post": post.name,
		"channel": post.channel,
		"ticket_doctype": ticket_doctype,
		"ticket": ticket,
		"communication": communication,
		"reply_mode": reply_mode or state.PUBLIC,
		"text": text,
		"status": state.QUEUED,
		"sent_by": sent_by or frappe.session.user,
		"broadcast": broadcast,
	})
	reply.flags.social_itsm = True  # replies are made here only (see SocialReply.validate)
	reply.insert(ignore_permissions=True)
	enqueue_send(reply.name)
	return reply.name


def latest_customer_post(ticket_doctype: str, ticket: str):
	names = frappe.get_all(
		"Social Post",
		filters={"ticket_doctype": ticket_doctype, "ticket": str(ticket)},
		pluck="name",
		order_by="posted_at desc",
		limit=1,
	)
	name = names[0] if names else frappe.db.get_value(ticket_doctype, ticket, "social_post")
	if not name:
		frappe.throw(_("{0} {1} did not come from a social post.").format(_(ticket_doctype), ticket))
	return frappe.get_doc("Social Post", name)


def enqueue_send(reply: str) -> None:
	frappe.enqueue(
		SEND_JOB,
		queue=queue_for(SEND),  # Social ITSM Settings, Background workers
		job_id=f"social_itsm_reply::{reply}",
		deduplicate=True,
		enqueue_after_commit=True,
		reply=reply,
	)


def send_reply(reply: str) -> str:
	"""Background job: deliver one Social Reply. Returns the status it ends in."""
	frappe.db.get_value("Social Reply", reply, "name", for_update=True)  # one sender at a time
	doc = frappe.get_doc("Social Reply", reply)
	post = frappe.get_doc("Social Post", doc.social_post)
	channel = frappe.get_doc("Social Channel", doc.channel)
	decision = start_decision(doc, channel.network)
	if decision == state.SKIP:
		return doc.status
	if decision == state.IN_DOUBT:
		doc.db_set({"status": state.FAILED, "last_error": state.UNKNOWN_DELIVERY, "next_attempt_at": None})
		frappe.db.commit()
		return state.FAILED

	attempts = (doc.attempts or 0) + 1
	intent = {"status": state.SENDING, "attempts": attempts, "last_error": None}
	if not doc.first_attempt_at:
		intent["first_attempt_at"] = now_datetime()  # the network's memory of our idempotency key starts here
	doc.db_set(intent)
	frappe.db.commit()  # the intent is on record before anything reaches the network

	sent_parts = [SentReply(row.external_id, row.url or "") for row in doc.parts]

	def record(part: SentReply) -> None:
		sent_parts.append(part)
		record_part(doc, part, len(sent_parts))
		frappe.db.commit()

	try:
		with credentials_in_use(channel):
			connector = build_connector(channel)
			template = template_of(doc)
			if template is not None:
				# WhatsApp, outside the 24-hour window: the approved template the agent chose, one message.
				if not sent_parts:
					record(connector.send_template(social_post_from_doc(post), template))
			else:
				connector.send_reply(
					doc.text,
					social_post_from_doc(post),
					private=doc.reply_mode == state.PRIVATE,
					already_sent=list(sent_parts),
					idempotency_key=doc.name,
					on_sent=record,
				)
	except ConnectorError as exc:
		retry_at, in_doubt, error = after_error(doc, exc, attempts, channel.network)
		doc.db_set({"status": state.FAILED, "last_error": error, "next_attempt_at": retry_at,
			"delivery_in_doubt": int(in_doubt)})
		frappe.log_error(
			title=f"Social ITSM: reply {doc.name} to {doc.ticket_doctype} {doc.ticket} failed",
			message=short_error(exc, 4000),
			reference_doctype="Social Reply",
			reference_name=doc.name,
		)
	else:
		doc.db_set({
			"status": state.SENT,
			"sent_at": now_datetime(),
			"url": sent_parts[0].url if sent_parts else None,
			"next_attempt_at": None,
		})
		if not doc.broadcast:  # a broadcast's reporter replies (thousands) are counted on the broadcast instead
			note_on_ticket(doc, sent_parts, channel.network)
	frappe.db.commit()
	frappe.publish_realtime("social_itsm_reply_update", {"reply": doc.name, "status": doc.status},
		doctype=doc.ticket_doctype, docname=doc.ticket)
	return doc.status


def start_decision(doc, network: str) -> str:
	"""What a send job does with a delivery it finds (a Social Reply, or a broadcast's channel row): both keep
	status, attempts, first_attempt_at and delivery_in_doubt."""
	resend_safe_until = safe_until(doc, network)
	return state.start(
		doc.status, doc.attempts or 0, bool(resend_safe_until and now_datetime() < resend_safe_until),
		bool(doc.delivery_in_doubt),
	)


def after_error(doc, exc: ConnectorError, attempts: int, network: str) -> tuple[datetime | None, bool, str]:
	"""After a failed attempt: when to try again (None: leave it to a person), whether the network may already
	have it, and the error to show."""
	reset = exc.resume_at if isinstance(exc, RateLimited) else None
	in_doubt = bool(doc.delivery_in_doubt or exc.maybe_delivered)
	retry_at = state.after_failure(
		now_datetime(), attempts, to_site_datetime(reset) if reset else None, in_doubt, safe_until(doc, network)
	)
	if isinstance(exc, OutsideServiceWindow):
		retry_at = None  # time does not reopen WhatsApp's window: the agent sends a template (or the customer writes)
	error = short_error(exc, 1000)
	if in_doubt and retry_at is None:
		error = f"{state.UNKNOWN_DELIVERY} ({error})"[:1000]
	return retry_at, in_doubt, error


def safe_until(doc, network: str):
	"""Until when the network would drop a resend of this reply as a duplicate (None: it never would)."""
	key = network_key(network)
	cls = connector_class(key) if key else None
	if cls is None:
		return None
	return state.safe_until(doc.first_attempt_at, cls.idempotent_replies, cls.idempotency_window)


def record_part(doc, part: SentReply, idx: int) -> None:
	"""Keep one accepted part: a retry resumes after it, and a customer answering it joins the ticket."""
	frappe.get_doc({
		"doctype": "Social Reply Part",
		"parent": doc.name,
		"parenttype": "Social Reply",
		"parentfield": "parts",
		"idx": idx,
		"external_id": part.external_id[:255],
		"url": safe_link(part.url),
	}).db_insert()


def safe_link(url: str | None) -> str:
	return url[:1000] if url and url.startswith(("https://", "http://")) else ""


def social_post_from_doc(post) -> SocialPost:
	"""Rebuild what the connector returned when the post was fetched (ids and reply references)."""
	return SocialPost(
		network=network_key(post.network) or "",
		external_id=post.external_id,
		text=post.text or "",
		author_id=post.author_id or "",
		author_handle=post.author_handle or "",
		author_name=post.author_name or "",
		created_at=from_site_datetime(get_datetime(post.posted_at)) if post.posted_at else from_site_datetime(now_datetime()),
		url=post.url or "",
		kind=post.kind or "mention",
		thread_id=post.thread_id,
		in_reply_to_id=post.in_reply_to_id,
		language=post.language,
		raw=json.loads(post.raw) if post.raw else {},
		reply_ref=json.loads(post.reply_ref) if post.reply_ref else {},
	)


def note_on_ticket(doc, parts: list[SentReply], network: str) -> None:
	"""The ticket's timeline says where the answer went, with a link to it on the network."""
	message = delivery_html(network, doc.reply_mode == state.PRIVATE, [p.url for p in parts])
	ticket_note(doc.ticket_doctype, doc.ticket, message, doc.sent_by)


def ticket_note(ticket_doctype: str, ticket: str, message: str, author: str | None = None) -> None:
	"""A note (escaped HTML) on the ticket's timeline: a Helpdesk comment, or an Info comment on an Issue."""
	if ticket_doctype == "HD Ticket" and frappe.db.exists("DocType", "HD Ticket Comment"):
		frappe.get_doc({
			"doctype": "HD Ticket Comment",
			"reference_ticket": ticket,
			"commented_by": author or "Administrator",
			"content": message,
		}).insert(ignore_permissions=True)
	else:
		frappe.get_doc(ticket_doctype, ticket).add_comment("Info", message)


def retry_due_replies() -> None:
	"""Scheduler tick: failed replies whose retry time has come, queued ones whose job was lost, and
	ones a dead worker left "Sending" (the job decides whether resending is safe)."""
	reply = frappe.qb.DocType("Social Reply")
	now = now_datetime()
	lost = frappe.utils.add_to_date(now, minutes=-5)
	due = (
		frappe.qb.from_(reply)
		.select(reply.name)
		.where(
			((reply.status == state.FAILED) & reply.next_attempt_at.isnotnull() & (reply.next_attempt_at <= now))
			| (reply.status.isin([state.QUEUED, state.SENDING]) & (reply.modified <= lost))
		)
		.limit(500)
		.run(pluck=True)
	)
	for name in due:
		enqueue_send(name)
