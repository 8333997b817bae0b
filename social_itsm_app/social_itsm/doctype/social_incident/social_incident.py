"""An outage heard in the chatter: the reports of many people about one service, one parent ticket for all."""

from frappe.model.document import Document


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
	pass
