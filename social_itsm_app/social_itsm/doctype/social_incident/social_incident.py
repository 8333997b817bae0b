"""An outage heard in the chatter: the reports of many people about one service, one parent ticket for all."""

import frappe
from frappe import _
from frappe.model.document import Document

from social_itsm_app.hosts import PROFILES
from social_itsm_app.permissions import keep_managed_fields
from social_itsm_app.statuses import DETECTED

# What agents may change on the form; status, decisions, counts and the parent ticket are the app's.
AGENT_FIELDS = frozenset({"resolution", "linked_tickets"})
EVENT = "social_itsm_incident"  # the desk's forms, list and desk-wide alert listen for it


class SocialIncident(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		from social_itsm_app.social_itsm.doctype.social_incident_ticket.social_incident_ticket import (
			SocialIncidentTicket,
		)

		absorbed_posts: DF.Int
		article: DF.DynamicLink | None
		article_doctype: DF.Link | None
		authors_count: DF.Int
		channels: DF.SmallText | None
		confirmed_at: DF.Datetime | None
		confirmed_by: DF.Link | None
		detected_at: DF.Datetime | None
		dismissed_at: DF.Datetime | None
		dismissed_by: DF.Link | None
		episode: DF.Data | None
		first_post_at: DF.Datetime | None
		last_post_at: DF.Datetime | None
		lead_time_minutes: DF.Float
		linked_tickets: DF.Table[SocialIncidentTicket]
		other_ticket: DF.DynamicLink | None
		other_ticket_doctype: DF.Link | None
		posts_count: DF.Int
		reason: DF.SmallText | None
		resolution: DF.TextEditor | None
		resolved_at: DF.Datetime | None
		resolved_by: DF.Link | None
		service: DF.Link | None
		status: DF.Literal["Detected", "Confirmed", "Resolved", "Dismissed"]
		ticket: DF.DynamicLink | None
		ticket_doctype: DF.Link | None
		title: DF.Data
		topic: DF.Data | None
		words: DF.SmallText | None
	# end: auto-generated types

	def validate(self):
		self.keep_link_types()
		keep_managed_fields(self, editable=AGENT_FIELDS)
		if not self.flags.social_itsm:
			self.check_new_incident()
			self.check_linked_tickets()

	def keep_link_types(self):
		"""Link validation hands back an HD Ticket's name as a number where the stored value is its text: the
		same ticket, not a change."""
		before = self.get_doc_before_save()
		if before is None:
			return
		for df in self.meta.get("fields", {"fieldtype": "Dynamic Link"}):
			value, old = self.get(df.fieldname), before.get(df.fieldname)
			if value is not None and old is not None and value != old and str(value) == str(old):
				self.set(df.fieldname, old)

	def check_new_incident(self):
		"""One made by hand (a manager, REST) starts Detected like the detector's, with no decision on record."""
		if not self.is_new():
			return
		decided = [f for f in ("ticket", "confirmed_by", "dismissed_by", "resolved_by", "article") if self.get(f)]
		if self.status != DETECTED or decided:
			frappe.throw(_("A new incident starts as Detected; Confirm, Dismiss and Resolve record the decisions."),
				frappe.PermissionError)

	def check_linked_tickets(self):
		"""Rows an agent adds name a ticket of this site that the agent may read; only resolving ticks them.
		(The detector's new incident links the tickets its reports already had, whoever's job stored them.)"""
		before = self.get_doc_before_save()
		old = {row.name: row for row in (before.linked_tickets if before else [])}
		for row in self.linked_tickets:
			previous = old.get(row.name)
			if previous and (previous.ticket_doctype, str(previous.ticket), previous.resolved) == (
				row.ticket_doctype, str(row.ticket), row.resolved
			):
				continue
			if row.resolved and not (previous and previous.resolved):
				frappe.throw(_("Linked tickets are marked resolved by resolving the incident."), frappe.PermissionError)
			if row.ticket_doctype not in PROFILES:
				frappe.throw(_("Row {0}: link a ticket ({1}).").format(row.idx, ", ".join(PROFILES)))
			if not frappe.db.exists(row.ticket_doctype, row.ticket):
				frappe.throw(_("Row {0}: {1} {2} does not exist.").format(row.idx, _(row.ticket_doctype), row.ticket))
			if not self.is_new() and not frappe.has_permission(row.ticket_doctype, "read", doc=row.ticket):
				frappe.throw(_("Row {0}: you may not read {1} {2}.").format(row.idx, _(row.ticket_doctype), row.ticket),
					frappe.PermissionError)

	def on_update(self):
		# A decision reaches the forms and lists of every desk session once committed (the detector announces
		# new incidents itself, with "created", once its job commits: incidents/detection.py tell).
		before = self.get_doc_before_save()
		if before is not None and before.status != self.status:
			frappe.publish_realtime(EVENT, {"name": self.name, "status": self.status, "created": False},
				after_commit=True)
