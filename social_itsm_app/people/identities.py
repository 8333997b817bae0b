"""Social Identities: one per person per network, created in bulk while posts are stored.

Contacts are attached later (``link_contacts``), in a background job: a burst of ten thousand posts from
eight thousand strangers must not wait for eight thousand Contact inserts. The Contact gets a synthetic
address on the reserved ``.invalid`` domain (Helpdesk's reply box needs an email-shaped sender) that is
globally unsubscribed, so no mail is ever queued to it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import frappe
from frappe.utils import now_datetime

from social_itsm_app.connectors import SocialPost
from social_itsm_app.connectors.text import clean_text
from social_itsm_app.utils import each_committed

SYNTHETIC_DOMAIN = "social-itsm.invalid"
_UNSAFE = re.compile(r"[^a-z0-9._-]+")


def synthetic_email(network: str, author_id: str) -> str:
	local = _UNSAFE.sub("-", f"{network}.{author_id}".lower()).strip(".-")[:60]
	return f"{local}@{SYNTHETIC_DOMAIN}"


def resolve_identities(network: str, posts: Iterable[SocialPost]) -> dict[str, str]:
	"""author_id -> Social Identity name for every author of ``posts``: one select, one bulk insert."""
	authors: dict[str, SocialPost] = {}
	for post in posts:
		if post.author_id:
			authors.setdefault(post.author_id, post)
	if not authors:
		return {}
	found = dict(
		frappe.get_all(
			"Social Identity",
			filters={"network": network, "author_id": ("in", list(authors))},
			fields=["author_id", "name"],
			as_list=True,
		)
	)
	missing = [post for author_id, post in authors.items() if author_id not in found]
	if missing:
		now = now_datetime()
		user = frappe.session.user
		rows = []
		for post in missing:
			name = frappe.generate_hash(length=12)
			found[post.author_id] = name
			rows.append((
				name, now, now, user, user, network, post.author_id, clean_text(post.author_handle)[:140],
				clean_text(post.author_name)[:140],
				synthetic_email(network, post.author_id), now,
			))
		fields = ["name", "creation", "modified", "owner", "modified_by", "network", "author_id", "handle", "display_name",
			"email", "last_seen_at"]
		# A parallel worker may have created the same identity a moment ago: the unique index keeps one.
		frappe.db.bulk_insert("Social Identity", fields, rows, ignore_duplicates=True)
		again = dict(frappe.get_all(
			"Social Identity",
			filters={"network": network, "author_id": ("in", [p.author_id for p in missing])},
			fields=["author_id", "name"],
			as_list=True,
		))
		found.update(again)
	return found


def ensure_contact(identity_name: str) -> str:
	"""The identity's Contact, created with its synthetic, never-mailed address when missing."""
	return contact_and_email(identity_name)[0]


def contact_and_email(identity_name: str) -> tuple[str, str]:
	"""(Contact, email-shaped address) of an identity; an existing Contact costs two small queries.

	Safe when two workers ask at once (the contact-linking job and a conversion): the identity row is read
	with a lock, so the second worker waits for the first to commit and then sees the Contact it linked (a
	plain read would see this transaction's older snapshot and insert the same Contact again). Inserts that
	still collide with a parallel one (a Contact made elsewhere) take the record that won.
	"""
	identity = frappe.db.get_value(
		"Social Identity", identity_name,
		["contact", "email", "network", "author_id", "handle", "display_name"], as_dict=True, for_update=True,
	)
	email = identity.email or synthetic_email(identity.network, identity.author_id)
	if identity.contact and frappe.db.get_value("Contact", identity.contact, "name", for_update=True):
		return identity.contact, email
	contact_name = frappe.db.get_value("Contact Email", {"email_id": email}, "parent")
	if not contact_name:
		contact_name = insert_once(
			{
				"doctype": "Contact",
				"first_name": (identity.display_name or identity.handle or identity.author_id)[:100],
				"last_name": f"({identity.network} @{identity.handle})" if identity.handle else f"({identity.network})",
				"email_ids": [{"email_id": email, "is_primary": 1}],
			},
			lambda: frappe.db.get_value("Contact Email", {"email_id": email}, "parent", for_update=True),
		)
	if not frappe.db.exists("Email Unsubscribe", {"email": email, "global_unsubscribe": 1}):
		insert_once(
			{"doctype": "Email Unsubscribe", "email": email, "global_unsubscribe": 1},
			lambda: frappe.db.get_value("Email Unsubscribe", {"email": email, "global_unsubscribe": 1}, "name", for_update=True),
		)
	frappe.db.set_value("Social Identity", identity_name, {"contact": contact_name, "email": email}, update_modified=False)
	return contact_name, email


def insert_once(values: dict, find_existing) -> str:
	"""Insert ``values``; when a parallel worker inserted the same record first, return theirs instead.

	``find_existing`` must be a locking read: the other worker's row is newer than this transaction's snapshot.
	"""
	savepoint = "social_itsm_insert_once"
	frappe.db.savepoint(savepoint)
	try:
		return frappe.get_doc(values).insert(ignore_permissions=True).name
	except frappe.DuplicateEntryError:
		frappe.db.rollback(save_point=savepoint)
		existing = find_existing()
		if not existing:
			raise
		return existing


def link_contacts(limit: int = 500) -> int:
	"""Background job: give identities without a Contact their Contact (batched, committed per identity)."""
	names = frappe.get_all("Social Identity", filters={"contact": ("is", "not set")}, pluck="name", limit=limit)
	each_committed(names, ensure_contact, "Social ITSM: could not create a Contact for identity {name}")
	return len(names)
