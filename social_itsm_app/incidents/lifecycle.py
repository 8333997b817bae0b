"""An incident's life after the detector opened it: an agent confirms, dismisses or resolves it.

Confirm opens one parent ticket and puts every member post on its timeline (posts become Linked to it, and get no
per-post acknowledgement: the crowd is answered by broadcasts). Dismiss teaches the detector that topic's
baseline and sends nothing. Resolve closes the parent ticket, resolves the tickets linked to the outage with the
resolution, drafts a knowledge article and ends the detector's episode.

Every step locks the incident's row first, so two agents pressing at once do one thing; every step is safe to
repeat (confirming twice makes one ticket, a killed attach job resumes without adding a post twice).
"""

from __future__ import annotations

from typing import Any

import frappe
from frappe import _
from frappe.utils import cint, now_datetime

from social_itsm_app.content import reply_text_from_html, text_html
from social_itsm_app.incidents import detection
from social_itsm_app.incidents.knowledge import draft_article
from social_itsm_app.queues import TICKETS, queue_for
from social_itsm_app.statuses import CONFIRMED, DETECTED, DISMISSED, IGNORED, NEW, RESOLVED, SPAM
from social_itsm_app.tickets.adapters import adapter_for, configured_adapter
from social_itsm_app.tickets.convert import link_post
from social_itsm_app.utils import each_committed

INCIDENT = "Social Incident"
# Up to this many member posts go on the parent ticket while the agent waits; more go to a background job.
INLINE_LIMIT = 20
BATCH = 50  # posts per committed batch of the attach job
ATTACH_JOB = "social_itsm_app.incidents.lifecycle.attach_members"


# --- confirm -----------------------------------------------------------------------------------------------


def confirm(name: str) -> dict[str, Any]:
	"""Detected -> Confirmed with one parent ticket; confirming again returns that ticket (and resumes the attach)."""
	doc = locked(name)
	created = False
	if doc.status == DETECTED:
		adapter = configured_adapter()
		ticket = adapter.create_parent(parent_subject(doc), parent_description(doc), parent_fields(doc), user_email())
		doc.update({
			"status": CONFIRMED, "ticket_doctype": adapter.doctype, "ticket": ticket,
			"confirmed_by": frappe.session.user, "confirmed_at": now_datetime(),
		})
		add_member_tickets(doc)
		save(doc)
		created = True
	elif doc.status != CONFIRMED or not doc.ticket:
		refuse(doc, _("confirm"))
	queued = attach_or_enqueue(doc)
	return {**ticket_of(doc), "created": created, "queued": queued, "status": doc.status}


def parent_subject(doc) -> str:
	return _("Incident: {0} ({1} reports)").format(doc.title, cint(doc.posts_count))


def parent_description(doc) -> str:
	"""What the detector saw and why it fired, as escaped HTML (the title and words may come from posts)."""
	lines = [_("Social ITSM heard an outage in the chatter: {0}.").format(doc.title)]
	if doc.reason:
		lines.append(_("Why it fired: {0}").format(doc.reason))
	lines.append(_("{0} posts by {1} distinct authors.").format(cint(doc.posts_count), cint(doc.authors_count)))
	if doc.channels:
		lines.append(_("Channels: {0}").format(doc.channels))
	lines.append(_("Incident: {0}").format(doc.name))
	return text_html("\n\n".join(lines))


def parent_fields(doc) -> dict[str, Any]:
	"""The settings' defaults; the owner team is the service's team when it is one of this host's teams."""
	settings = frappe.get_cached_doc("Social ITSM Settings")
	fields = {"priority": settings.default_priority, "ticket_type": settings.default_ticket_type,
		"team": settings.default_team}
	if doc.service:
		team_doctype, team = frappe.db.get_value("Social Service", doc.service, ["team_doctype", "team"]) or (None, None)
		profile = settings.profile()
		if team and profile and team_doctype == profile.team_doctype:
			fields["team"] = team
	return fields


def user_email() -> str | None:
	return frappe.db.get_value("User", frappe.session.user, "email") or None


def add_member_tickets(doc) -> list[str]:
	"""Tickets that member posts got before the incident existed (converted one by one) become linked tickets."""
	post = frappe.qb.DocType("Social Post")
	rows = (
		frappe.qb.from_(post).select(post.ticket_doctype, post.ticket).distinct()
		.where((post.social_incident == doc.name) & post.ticket.isnotnull() & (post.ticket != ""))
		.run()
	)
	known = {(row.ticket_doctype, str(row.ticket)) for row in doc.linked_tickets} | {(doc.ticket_doctype, doc.ticket)}
	added = []
	for ticket_doctype, ticket in rows:
		if (ticket_doctype, str(ticket)) not in known:
			doc.append("linked_tickets", {"ticket_doctype": ticket_doctype, "ticket": str(ticket)})
			known.add((ticket_doctype, str(ticket)))
			added.append(str(ticket))
	return added


# --- member posts onto the parent ticket ------------------------------------------------------------------


def pending_members(incident: str) -> list[str]:
	"""Member posts not yet on any ticket, oldest first (spam never joins a ticket)."""
	return frappe.get_all(
		"Social Post",
		filters={"social_incident": incident, "ticket": ("is", "not set"), "status": ("!=", SPAM)},
		pluck="name",
		order_by="posted_at asc, creation asc",
	)


def attach_or_enqueue(doc) -> bool:
	"""A few member posts go on the parent ticket in this transaction; more in a background job. Returns whether
	it was queued."""
	pending = pending_members(doc.name)
	if not pending:
		return False
	if len(pending) <= INLINE_LIMIT:
		attach_batch(pending, doc.ticket_doctype, doc.ticket)
		detection.recount([doc.name])  # posts absorbed by the incident
		return False
	frappe.enqueue(
		ATTACH_JOB, queue=queue_for(TICKETS), timeout=3600, job_id=f"social_itsm_incident_attach::{doc.name}",
		deduplicate=True, enqueue_after_commit=True, incident=doc.name,
	)
	return True


def attach_members(incident: str) -> int:
	"""Background job: put the member posts on the parent ticket's timeline in committed batches, with progress
	on the incident's form.

	Each post is re-read under a row lock and skipped once it has a ticket, and a batch commits its posts'
	Communications together with their Linked status: a worker killed mid-batch loses the whole batch and the next
	run does it again, so no post is ever on the timeline twice.
	"""
	ticket_doctype, ticket = frappe.db.get_value(INCIDENT, incident, ["ticket_doctype", "ticket"]) or (None, None)
	if not ticket:
		return 0
	names = pending_members(incident)
	total, attached = len(names), 0
	for start in range(0, total, BATCH):
		batch = names[start : start + BATCH]
		try:
			attached += attach_batch(batch, ticket_doctype, ticket)
			frappe.db.commit()
		except Exception:
			# One bad post must not hold back the rest: redo this batch post by post, logging the failures.
			frappe.db.rollback()
			outcomes = each_committed(
				batch, lambda name: attach_one(name, ticket_doctype, ticket),
				"Social ITSM: could not add post {name} to its incident's ticket",
			)
			attached += sum(1 for _name, result, error in outcomes if error is None and result)
		done = min(start + BATCH, total)
		frappe.publish_progress(
			done * 100 / total, title=_("Adding reports to the incident's ticket"), doctype=INCIDENT,
			docname=incident, description=f"{done} / {total}",
		)
	detection.recount([incident])  # posts absorbed by the incident
	frappe.db.commit()
	status = frappe.db.get_value(INCIDENT, incident, "status")
	frappe.publish_realtime("social_itsm_incident", {"name": incident, "status": status, "created": False})
	return attached


def attach_batch(names: list[str], ticket_doctype: str, ticket: str) -> int:
	return sum(attach_one(name, ticket_doctype, ticket) for name in names)


def attach_one(name: str, ticket_doctype: str, ticket: str) -> bool:
	"""One member post onto the parent ticket, unless it already has a ticket (or turned spam) meanwhile."""
	post = frappe.db.get_value("Social Post", name, ["ticket", "status"], as_dict=True, for_update=True)
	if not post or post.ticket or post.status == SPAM:
		return False
	link_post(name, ticket_doctype, ticket)  # a Received Communication, the post Linked: no acknowledgement
	return True


# --- linking existing tickets -------------------------------------------------------------------------------


def link_ticket(name: str, ticket_doctype: str, ticket: str) -> dict[str, Any]:
	"""Another ticket about the same outage (mail, portal, a post converted earlier) is resolved with the incident.

	The controller checks that the ticket exists and that the user may read it."""
	doc = locked(name)
	if doc.status not in (DETECTED, CONFIRMED):
		refuse(doc, _("link tickets to"))
	adapter_for(ticket_doctype)  # a host ticket doctype of this site, or a clear error
	if (ticket_doctype, str(ticket)) == (doc.ticket_doctype, doc.ticket):
		frappe.throw(_("{0} {1} is this incident's own ticket.").format(_(ticket_doctype), ticket))
	if any((row.ticket_doctype, str(row.ticket)) == (ticket_doctype, str(ticket)) for row in doc.linked_tickets):
		return {"linked": False, "ticket_doctype": ticket_doctype, "ticket": str(ticket)}
	doc.append("linked_tickets", {"ticket_doctype": ticket_doctype, "ticket": str(ticket)})
	doc.save()  # as the agent: the controller checks the new row (see SocialIncident.check_linked_tickets)
	return {"linked": True, "ticket_doctype": ticket_doctype, "ticket": str(ticket)}


# --- dismiss ------------------------------------------------------------------------------------------------


def dismiss(name: str) -> dict[str, Any]:
	"""Detected -> Dismissed: the detector learns the topic's level, nothing is sent, the posts go back to the inbox."""
	doc = locked(name)
	if doc.status == DISMISSED:
		return {"status": DISMISSED, "changed": False}
	if doc.status != DETECTED:
		refuse(doc, _("dismiss"))
	doc.update({"status": DISMISSED, "dismissed_by": frappe.session.user, "dismissed_at": now_datetime()})
	save(doc)
	back_to_inbox(doc.name)
	if doc.topic:
		detection.dismiss_topic(doc.topic)
	return {"status": DISMISSED, "changed": True}


def back_to_inbox(incident: str) -> None:
	"""Member posts without a ticket become plain New posts; they keep ``social_incident`` for the audit."""
	post = frappe.qb.DocType("Social Post")
	frappe.qb.update(post).set(post.status, NEW).set(post.modified, now_datetime()).where(
		(post.social_incident == incident) & (post.ticket.isnull() | (post.ticket == ""))
		& post.status.notin([NEW, SPAM, IGNORED])
	).run()


# --- resolve ------------------------------------------------------------------------------------------------


def resolve(name: str, resolution: str | None = None) -> dict[str, Any]:
	"""Confirmed -> Resolved: the parent ticket is closed, the linked tickets are answered and resolved with the
	resolution, a knowledge article draft is made from it and the detector's episode ends."""
	doc = locked(name)
	if doc.status == RESOLVED:
		return {"status": RESOLVED, "changed": False, "article_doctype": doc.article_doctype, "article": doc.article}
	if doc.status != CONFIRMED:
		refuse(doc, _("resolve"))
	text = reply_text_from_html(resolution or doc.resolution or "").strip()
	if not text:
		frappe.throw(_("Write what was wrong and what fixed it first."), title=_("Resolution missing"))
	html = text_html(text)
	configured = adapter_for(doc.ticket_doctype)
	configured.resolve(doc.ticket, html, close=True)
	failed = resolve_linked(doc, text, html)
	if not doc.article:
		doc.article_doctype, doc.article = draft_article(doc, html)
	doc.update({
		"status": RESOLVED, "resolution": html, "resolved_by": frappe.session.user, "resolved_at": now_datetime(),
	})
	save(doc)
	if doc.topic:
		detection.close_topic(doc.topic)
	return {"status": RESOLVED, "changed": True, "article_doctype": doc.article_doctype, "article": doc.article,
		"failed": failed}


def resolve_linked(doc, text: str, html: str) -> list[str]:
	"""Each linked ticket gets the resolution as the agent's outgoing message, then is resolved; one ticket failing
	(a host rule, a deleted ticket) is logged and left unticked, the others go through. Returns the failed ones."""
	failed = []
	for row in doc.linked_tickets:
		if row.resolved:
			continue
		savepoint = f"resolve_{row.idx}"
		frappe.db.savepoint(savepoint)
		try:
			adapter = adapter_for(row.ticket_doctype)
			adapter.add_answer(row.ticket, text, frappe.session.user)
			adapter.resolve(row.ticket, html)
			row.resolved = 1
		except Exception:
			frappe.db.rollback(save_point=savepoint)
			frappe.log_error(title=f"Social ITSM: could not resolve {row.ticket_doctype} {row.ticket} with {doc.name}")
			failed.append(str(row.ticket))
	return failed


# --- shared -------------------------------------------------------------------------------------------------


def locked(name: str):
	"""The incident, its row locked until the transaction ends (two agents pressing at once do one thing)."""
	if not frappe.db.get_value(INCIDENT, name, "name", for_update=True):
		frappe.throw(_("{0} {1} not found").format(_(INCIDENT), name), frappe.DoesNotExistError)
	return frappe.get_doc(INCIDENT, name)


def save(doc) -> None:
	doc.flags.social_itsm = True  # the app, not a form, changes the status (see SocialIncident.validate)
	doc.save(ignore_permissions=True)


def refuse(doc, action: str) -> None:
	frappe.throw(
		_("Cannot {0} incident {1}: it is {2}.").format(action, doc.name, _(doc.status)), title=_("Not changed")
	)


def ticket_of(doc) -> dict[str, Any]:
	return {"ticket_doctype": doc.ticket_doctype, "ticket": str(doc.ticket) if doc.ticket else None}
