"""The twicket: a Social Post becomes a ticket (once), later posts of its thread join that ticket."""

from __future__ import annotations

from typing import Any

import frappe
from frappe import _

from social_itsm_app.content import render_template
from social_itsm_app.people.identities import contact_and_email, synthetic_email
from social_itsm_app.replies.outbound import queue_reply
from social_itsm_app.replies.state import PRIVATE, PUBLIC
from social_itsm_app.statuses import CONVERTED, LINKED, NEW, SPAM
from social_itsm_app.tickets.adapters import TicketAdapter, adapter_for, configured_adapter
from social_itsm_app.utils import each_committed

TICKET_FIELDS = ("priority", "ticket_type", "team")


def ticket_fields(post, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
	"""Overrides from the agent win, then the matched rule's choices, then the settings' defaults."""
	settings = frappe.get_cached_doc("Social ITSM Settings")
	fields = {
		"priority": settings.default_priority,
		"ticket_type": settings.default_ticket_type,
		"team": settings.default_team,
	}
	if post.matched_rule:
		rule = frappe.db.get_value(
			"Social Listening Rule", post.matched_rule, ["ticket_priority", "ticket_type", "team"], as_dict=True
		)
		if rule:
			fields.update({k: v for k, v in {"priority": rule.ticket_priority, "ticket_type": rule.ticket_type, "team": rule.team}.items() if v})
	fields.update({k: v for k, v in (overrides or {}).items() if k in TICKET_FIELDS and v})
	return fields


def author_address(post) -> tuple[str, str | None]:
	"""(email-shaped address, Contact) of the post's author, creating the Contact when missing."""
	if post.social_identity:
		contact, email = contact_and_email(post.social_identity)
		return email, contact
	return synthetic_email(post.network, post.author_id or post.name), None


def convert_post(post_name: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
	"""Create the ticket for a post, or return the one it already has (converting twice is harmless)."""
	# Lock the row: two agents (or an agent and an auto-convert job) pressing at once make one ticket.
	frappe.db.get_value("Social Post", post_name, "name", for_update=True)
	post = frappe.get_doc("Social Post", post_name)
	if post.ticket:
		return {"ticket_doctype": post.ticket_doctype, "ticket": post.ticket, "created": False}
	if post.status == SPAM:
		frappe.throw(_("This post is marked as spam; mark it New first to convert it."), title=_("Spam"))
	adapter = configured_adapter()
	email, contact = author_address(post)
	reply_mode = (overrides or {}).get("reply_mode") or default_reply_mode(post)
	ticket, subject = adapter.create(post, email, contact, ticket_fields(post, overrides), reply_mode)
	adapter.add_post(ticket, post, email, subject)
	post.db_set({"status": CONVERTED, "ticket_doctype": adapter.doctype, "ticket": ticket})
	attach_thread(adapter, ticket, post, email)
	acknowledge(post, adapter.doctype, ticket, reply_mode)
	return {"ticket_doctype": adapter.doctype, "ticket": ticket, "created": True}


def acknowledge(post, ticket_doctype: str, ticket: str, reply_mode: str) -> str | None:
	"""Tell the customer on the network that a ticket exists: the rule's auto-reply, else the settings' one.

	Backlog posts (written before the channel listened, or long before we read them) get no automatic answer.
	"""
	if post.is_backlog:
		return None
	template = None
	if post.matched_rule:
		template = frappe.db.get_value("Social Listening Rule", post.matched_rule, "auto_reply_template")
	settings = frappe.get_cached_doc("Social ITSM Settings")
	if not template and settings.auto_acknowledge:
		template = settings.acknowledgement_template
	if not template or post.network == "Feed":
		return None
	text = render_template(template, {
		"author_name": post.author_name or post.author_handle,
		"author_handle": post.author_handle,
		"ticket": ticket,
		"subject": frappe.db.get_value(ticket_doctype, ticket, "subject"),
		"network": post.network,
	})
	return queue_reply(ticket_doctype, ticket, text, reply_mode) if text else None


def default_reply_mode(post) -> str:
	if post.kind == "direct":
		return PRIVATE
	return frappe.get_cached_value("Social Channel", post.channel, "default_reply_mode") or PUBLIC


def attach_thread(adapter: TicketAdapter, ticket: str, post, email: str) -> list[str]:
	"""Earlier posts of the same thread that wait in the inbox join the new ticket, oldest first."""
	key = post.thread_id or post.external_id
	earlier = frappe.get_all(
		"Social Post",
		filters={"channel": post.channel, "thread_id": key, "status": NEW, "name": ("!=", post.name)},
		pluck="name",
		order_by="posted_at asc",
	)
	for name in earlier:
		link_post(name, adapter.doctype, ticket)
	return earlier


def link_post(post_name: str, ticket_doctype: str, ticket: str) -> str:
	"""Put a post on an existing ticket's timeline and mark it Linked."""
	if not frappe.db.exists(ticket_doctype, ticket):
		frappe.throw(_("{0} {1} does not exist.").format(_(ticket_doctype), ticket))
	post = frappe.get_doc("Social Post", post_name)
	adapter = adapter_for(ticket_doctype)
	email, _contact = author_address(post)
	communication = adapter.add_post(ticket, post, email)
	post.db_set({"status": LINKED, "ticket_doctype": ticket_doctype, "ticket": ticket})
	return communication


def attach_linked(post_names: list[str]) -> None:
	"""Ingest stored these posts as Linked to a ticket: add each to its ticket's timeline (own transaction)."""

	def attach(name: str) -> str:
		ticket_doctype, ticket = frappe.db.get_value("Social Post", name, ["ticket_doctype", "ticket"])
		return link_post(name, ticket_doctype, ticket)

	each_committed(post_names, attach, "Social ITSM: could not add post {name} to its ticket")


def auto_convert(post_names: list[str]) -> None:
	"""Posts an auto-convert rule chose become tickets, each in its own transaction.

	A post that joined an outage incident after the rule chose it (a later batch fired the alert before this job
	ran) waits for the incident instead: its parent ticket holds every report, one ticket for the crowd.
	"""
	joined = set(frappe.get_all(
		"Social Post", filters={"name": ("in", post_names), "social_incident": ("is", "set")}, pluck="name"
	)) if post_names else set()
	chosen = [name for name in post_names if name not in joined]
	each_committed(chosen, convert_post, "Social ITSM: could not convert post {name}")
