# Copyright (c) 2026, Social ITSM contributors
# For license information, please see license.txt

import frappe
from frappe.model.document import Document

from social_itsm_app.permissions import keep_managed_fields


class SocialIdentity(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		author_id: DF.Data
		contact: DF.Link | None
		customer: DF.DynamicLink | None
		customer_doctype: DF.Link | None
		display_name: DF.Data | None
		email: DF.Data | None
		handle: DF.Data | None
		last_seen_at: DF.Datetime | None
		network: DF.Literal["X", "Mastodon", "Bluesky", "Reddit", "Facebook Page", "Telegram", "Discourse", "Feed", "Webhook", "WhatsApp", "Instagram"]
		profile_url: DF.Data | None
	# end: auto-generated types

	def validate(self):
		# Who a person is on a network comes from the network; the links to a Contact or customer may change.
		keep_managed_fields(self, editable=frozenset({"contact", "customer_doctype", "customer", "profile_url"}))


def on_doctype_update():
	# One person on one network is always one identity.
	frappe.db.add_unique("Social Identity", ("network", "author_id"), constraint_name="unique_network_author")
	# link_contacts() looks for identities still without a Contact after every stored batch.
	frappe.db.add_index("Social Identity", ["contact"], index_name="contact_index")
