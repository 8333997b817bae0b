"""Answering everyone who reported an incident: one reply per reporter and broadcast, paced per channel.

A sent broadcast with *Also answer everyone who reported it* gives each distinct reporter (one per network and
author id) one reply in their own thread (their latest post about the incident), through the ordinary reply
path (a Social Reply with ``broadcast`` set, on the incident's parent ticket; the send job delivers it).

Never twice: the tick holds the broadcast's row lock while it reads who was answered and creates the next
replies, so two ticks (or a tick and a retry) see each other's replies. Paced: a channel gets at most
``reporter_replies_per_minute`` new reporter replies in any minute (counted from the replies created in the
last minute, so a late or doubled tick cannot burst), and 2,000 reporters take a while instead of getting the
account throttled or flagged as spam. Reporters who join the incident later are answered by the incident's
latest such broadcast, for a week.
"""

from __future__ import annotations

import frappe
from frappe.utils import add_to_date, cint, now_datetime

from social_itsm_app.channels.config import network_key
from social_itsm_app.incidents.broadcasts import DOCTYPE, publish_update
from social_itsm_app.replies import outbound, state
from social_itsm_app.statuses import BROADCAST_SENT, PARTLY_FAILED

SETTINGS = "Social ITSM Settings"
DEFAULT_PER_MINUTE = 10
DEFAULT_TEMPLATE = "We know about the problem with {{ service }} and are working on it. {{ update }}"
ANSWERING_DAYS = 7  # a broadcast answers late reporters this long after its approval
TICK_LOCK_SECONDS = 600
UNANSWERABLE = ("feed",)  # networks whose posts cannot be answered (pushed webhooks have no key at all)


def answer_reporters() -> int:
	"""Scheduler tick (every minute): the next reporter replies of every answering broadcast. Returns how many
	replies it created."""
	lock = frappe.cache().lock(f"{frappe.local.site}:social_itsm_reporters", timeout=TICK_LOCK_SECONDS)
	if not lock.acquire(blocking=False):
		return 0  # the previous tick is still at it
	try:
		settings = frappe.get_cached_doc(SETTINGS)
		per_minute = cint(settings.reporter_replies_per_minute) or DEFAULT_PER_MINUTE
		budget = remaining_budget(per_minute)
		created = 0
		for name in answering_broadcasts():
			try:
				created += answer(name, budget, per_minute, settings.reporter_reply_template or DEFAULT_TEMPLATE)
				frappe.db.commit()
			except Exception:
				frappe.db.rollback()
				frappe.log_error(title=f"Social ITSM: answering the reporters of broadcast {name} failed",
					reference_doctype=DOCTYPE, reference_name=name)
		return created
	finally:
		try:
			lock.release()
		except Exception:  # expired while we worked: nothing left to release
			pass


def answering_broadcasts() -> list[str]:
	"""Sent broadcasts that answer reporters: the latest of each incident (an older update stops answering once
	a newer one went out), approved within the last week."""
	rows = frappe.get_all(
		DOCTYPE,
		filters={
			"reply_to_reporters": 1,
			"status": ("in", (BROADCAST_SENT, PARTLY_FAILED)),
			"approved_at": (">=", add_to_date(now_datetime(), days=-ANSWERING_DAYS)),
		},
		fields=["name", "incident"],
		order_by="approved_at desc",
	)
	latest: dict[str, str] = {}
	for row in rows:
		latest.setdefault(row.incident, row.name)
	return list(reversed(latest.values()))  # oldest first: earlier incidents are not starved by newer ones


def remaining_budget(per_minute: int) -> dict[str, int]:
	"""Per channel: how many reporter replies it may still get this minute (others: ``per_minute``)."""
	reply = frappe.qb.DocType("Social Reply")
	count = frappe.query_builder.functions.Count("*")
	recent = (
		frappe.qb.from_(reply)
		.select(reply.channel, count)
		.where(reply.broadcast.isnotnull() & (reply.creation >= add_to_date(now_datetime(), minutes=-1)))
		.groupby(reply.channel)
		.run()
	)
	budget: dict[str, int] = {}
	for channel, used in recent:
		budget[channel] = per_minute - used
	return budget


def answer(name: str, budget: dict[str, int], per_minute: int, template: str) -> int:
	"""Create the next replies of one broadcast within the channels' budget; update its counters."""
	frappe.db.get_value(DOCTYPE, name, "name", for_update=True)  # one tick at a time reads and adds its replies
	doc = frappe.get_doc(DOCTYPE, name)
	incident = frappe.get_doc("Social Incident", doc.incident)
	if not (incident.ticket_doctype and incident.ticket):
		return 0  # not confirmed yet: there is no parent ticket to answer on
	reporters = latest_posts(incident.name)
	done = answered(name)
	created = 0
	context = {"service": incident.service or incident.title, "incident": incident.title, "incident_id": incident.name}
	for key, post in reporters.items():
		if key in done or budget.get(post.channel, per_minute) <= 0:
			continue
		text = frappe.render_template(template, {**context, "update": update_for(doc, post.channel)}).strip()
		outbound.queue_reply(
			incident.ticket_doctype, incident.ticket, text or doc.text,
			state.PRIVATE if post.kind == "direct" else state.PUBLIC,
			post=frappe.get_doc("Social Post", post.name), broadcast=name, sent_by=doc.approved_by or doc.written_by,
		)
		budget[post.channel] = budget.get(post.channel, per_minute) - 1
		created += 1
	update_counters(doc, len(reporters))
	return created


def latest_posts(incident: str) -> dict[tuple[str, str], frappe._dict]:
	"""Each distinct reporter of the incident (network, author) -> their latest member post, earliest reporters
	first; authors on networks that cannot be answered are left out."""
	posts = frappe.get_all(
		"Social Post",
		filters={"social_incident": incident},
		fields=["name", "channel", "network", "author_id", "author_handle", "kind", "posted_at"],
		order_by="posted_at asc, creation asc",
	)
	reporters: dict[tuple[str, str], frappe._dict] = {}
	for post in posts:
		key = network_key(post.network)
		author = post.author_id or post.author_handle
		if key is None or key in UNANSWERABLE or not author:
			continue
		reporters[(post.network, author)] = post  # a dict keeps the first report's place, the latest post's value
	return reporters


def answered(broadcast: str) -> set[tuple[str, str]]:
	"""The reporters this broadcast already has a reply for (whatever became of it)."""
	reply = frappe.qb.DocType("Social Reply")
	post = frappe.qb.DocType("Social Post")
	rows = (
		frappe.qb.from_(reply)
		.join(post).on(post.name == reply.social_post)
		.select(post.network, post.author_id, post.author_handle)
		.where(reply.broadcast == broadcast)
		.run()
	)
	return {(network, author_id or handle) for network, author_id, handle in rows}


def update_for(doc, channel: str) -> str:
	"""What the reply points at: the broadcast on the reporter's own channel, else anywhere it went, else its text."""
	sent = [row for row in doc.channels if row.status == BROADCAST_SENT and row.url]
	same = [row for row in sent if row.channel == channel]
	return (same or sent)[0].url if sent else doc.text


def update_counters(doc, total: int) -> None:
	"""Reporters to answer and those answered (their reply delivered), for the form's progress bar."""
	sent = frappe.db.count("Social Reply", {"broadcast": doc.name, "status": state.SENT})
	if (doc.reporters_total, doc.reporters_answered) != (total, sent):
		doc.db_set({"reporters_total": total, "reporters_answered": sent}, update_modified=False)
		publish_update(doc)
