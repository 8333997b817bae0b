"""One adapter per host ticket doctype: create a ticket from a post, add a post to a ticket's timeline.

HD Ticket (Frappe Helpdesk) and Issue (ERPNext Support) differ in link names and behaviour; the
HostProfile carries the names, the adapter the behaviour. Both get the post as a Received Communication
from its author. An HD Ticket is created *without* a description (Helpdesk would record it as a message from
the agent, and fills it from that first received message itself); an Issue gets the post as its description.
"""

from __future__ import annotations

from typing import Any

import frappe
from frappe import _

from social_itsm_app.content import post_html, text_html, ticket_subject
from social_itsm_app.hosts import PROFILES, HostProfile

SOCIAL_MEDIUM = "Chat"


class TicketAdapter:
	def __init__(self, profile: HostProfile):
		self.profile = profile

	@property
	def doctype(self) -> str:
		return self.profile.ticket_doctype

	def create(self, post, email: str, contact: str | None, fields: dict[str, Any], reply_mode: str) -> tuple[str, str]:
		"""Insert the ticket for ``post`` (a Social Post doc); returns its name (a string, always) and subject."""
		ticket = frappe.new_doc(self.doctype)
		ticket.update({
			"subject": ticket_subject(post.text, post.author_handle or post.author_name, post.network),
			"raised_by": email,
			"contact": contact,
			"social_post": post.name,
			"social_channel": post.channel,
			"social_thread_id": post.thread_id or post.external_id,
			"social_reply_mode": reply_mode,
		})
		if not self.profile.first_message_fills_description:
			ticket.description = post_html(post.as_dict())
		self.apply_fields(ticket, fields)
		ticket.flags.social_itsm = True
		ticket.insert(ignore_permissions=True)
		return str(ticket.name), ticket.subject

	def create_parent(self, subject: str, description: str, fields: dict[str, Any], raised_by: str) -> str:
		"""Insert an incident's parent ticket: raised by the agent who confirmed it, the reason as description.

		Helpdesk would turn a description given at insert into a message received from ``raised_by``; the
		description is written afterwards instead, so the timeline holds the reporters' posts only (Helpdesk
		keeps a description it already has when those arrive).
		"""
		ticket = frappe.new_doc(self.doctype)
		ticket.update({"subject": subject[:140], "raised_by": raised_by})
		if not self.profile.first_message_fills_description:
			ticket.description = description
		self.apply_fields(ticket, fields)
		ticket.flags.social_itsm = True
		ticket.insert(ignore_permissions=True)
		if self.profile.first_message_fills_description:
			ticket.db_set("description", description, update_modified=False)
		return str(ticket.name)

	def resolve(self, ticket: str, resolution: str, close: bool = False) -> None:
		"""Mark the ticket resolved (or closed) with ``resolution`` (HTML) as its resolution details."""
		doc = frappe.get_doc(self.doctype, ticket)
		status = self.profile.closed_status if close else self.profile.resolved_status
		if doc.status in (status, self.profile.closed_status):
			return  # already done (a retried resolve, or an agent closed it meanwhile)
		doc.status = status
		if doc.meta.has_field(self.profile.resolution_field):
			doc.set(self.profile.resolution_field, resolution)
		doc.flags.social_itsm = True
		doc.save(ignore_permissions=True)

	def apply_fields(self, ticket, fields: dict[str, Any]) -> None:
		profile = self.profile
		if fields.get("priority"):
			ticket.priority = fields["priority"]
		if fields.get("ticket_type"):
			ticket.set(profile.ticket_type_field, fields["ticket_type"])
		if fields.get("team") and profile.team_field:
			ticket.set(profile.team_field, fields["team"])
		if fields.get("customer"):
			ticket.customer = fields["customer"]

	def add_post(self, ticket: str, post, email: str, subject: str | None = None) -> str:
		"""Put ``post`` in the ticket's timeline as a message received from its author.

		Communication.on_update tells the ticket (HD Ticket reopens and copies the first message into its
		description; Issue gets frappe's generic update), like an inbound email would.
		"""
		return self._communication(
			ticket, "Received", email, post_html(post.as_dict()), subject,
			sender_full_name=post.author_name or post.author_handle, message_id=f"social-itsm-{post.name}",
		)

	def add_answer(self, ticket: str, text: str, sender: str) -> str:
		"""Put an agent's answer (sent by the app, not the host's reply box) in the timeline as a sent message.

		The host treats it like the agent's reply-box answer: it is shown as the agent's outgoing message and
		counts as the first response (Helpdesk's on_communication_update, ERPNext's set_first_response_time).
		"""
		return self._communication(ticket, "Sent", sender, text_html(text))

	def _communication(
		self, ticket: str, direction: str, sender: str, content: str, subject: str | None = None, **extra: str
	) -> str:
		if subject is None:
			subject = frappe.db.get_value(self.doctype, ticket, "subject") or ""
		communication = frappe.get_doc({
			"doctype": "Communication",
			"communication_type": "Communication",
			"communication_medium": SOCIAL_MEDIUM,
			"sent_or_received": direction,
			"subject": f"Re: {subject}"[:140],
			"sender": sender,
			"content": content,
			"status": "Linked",
			"email_status": "Open",
			"reference_doctype": self.doctype,
			"reference_name": ticket,
			**extra,
		})
		# The app made it: the reply hook must not queue it for the network again.
		communication.flags.social_itsm = True
		communication.insert(ignore_permissions=True)
		return communication.name


def adapter_for(doctype: str) -> TicketAdapter:
	if doctype not in PROFILES or PROFILES[doctype].app not in frappe.get_installed_apps():
		frappe.throw(_("{0} is not available on this site.").format(doctype), title=_("No ticket doctype"))
	return TicketAdapter(PROFILES[doctype])


def configured_adapter() -> TicketAdapter:
	"""The adapter for the ticket doctype Social ITSM Settings points at (HD Ticket or Issue)."""
	profile = frappe.get_cached_doc("Social ITSM Settings").profile()
	if not profile:
		frappe.throw(
			_("Install Frappe Helpdesk or ERPNext to turn posts into tickets."), title=_("No ticket doctype")
		)
	return adapter_for(profile.ticket_doctype)
