"""Install, migrate and uninstall steps: roles, host custom fields, cleanup."""

from __future__ import annotations

import frappe
from frappe.utils import create_batch
from frappe.utils.fixtures import sync_fixtures

from social_itsm_app.hosts import AGENT_ROLES, PROFILES
from social_itsm_app.people.identities import SYNTHETIC_DOMAIN
from social_itsm_app.privacy import delete_contact, made_by_app, named_by_tickets
from social_itsm_app.statuses import PUBLISHER_ROLE

APP = "social_itsm_app"
MODULE = "Social ITSM"


def before_install() -> None:
	ensure_agent_roles()


def after_install() -> None:
	# frappe syncs fixtures after this hook; our custom fields must exist before the template names them.
	sync_fixtures(APP)
	refresh_settings()
	ensure_ticket_template_fields()


def after_migrate() -> None:
	ensure_agent_roles()
	refresh_settings()


def after_app_install(app_name: str) -> None:
	"""Helpdesk or ERPNext arrived after us: import the custom fields for their ticket doctype now."""
	if app_name in {profile.app for profile in PROFILES.values()}:
		sync_fixtures(APP)
		refresh_settings()
		ensure_ticket_template_fields()


def before_uninstall() -> None:
	"""Take our fields off the host's ticket doctypes; frappe removes our own doctypes itself."""
	if frappe.db.exists("DocType", "HD Ticket Template Field"):
		frappe.db.delete("HD Ticket Template Field", {"fieldname": ("in", TEMPLATE_FIELDS)})
	if frappe.db.exists("DocType", "HD Form Script"):
		for name in frappe.get_all("HD Form Script", filters={"name": ("like", "Social ITSM%")}, pluck="name"):
			frappe.delete_doc("HD Form Script", name, ignore_permissions=True, force=True)
	fields = frappe.get_all("Custom Field", filters={"module": MODULE, "dt": ("in", list(PROFILES))},
		fields=["name", "dt", "fieldname"])
	for field in fields:
		frappe.delete_doc("Custom Field", field.name, ignore_permissions=True, force=True)
	drop_columns([(f.dt, f.fieldname) for f in fields])
	for dt in PROFILES:
		if frappe.db.exists("DocType", dt):
			frappe.clear_cache(doctype=dt)
	remove_personal_data()


def remove_personal_data() -> None:
	"""What the app created outside its own tables: frappe drops those tables, not these rows."""
	delete_channel_secrets()
	delete_synthetic_contacts()
	delete_synthetic_unsubscribes()


def delete_channel_secrets() -> int:
	"""Channel credentials live encrypted in ``__Auth``; dropping the Social Channel table leaves them there."""
	count = frappe.db.sql("select count(*) from `__Auth` where `doctype` = %s", "Social Channel")[0][0]
	frappe.db.delete("__Auth", {"doctype": "Social Channel"})
	return count


def delete_synthetic_unsubscribes() -> int:
	"""The global unsubscribes that kept the host from mailing our synthetic addresses, except those of Contacts
	that stay (tickets name them): the host must still never queue mail to an address that cannot receive it."""
	synthetic = ("like", f"%@{SYNTHETIC_DOMAIN}")
	still_used = set(frappe.get_all("Contact Email", filters={"email_id": synthetic}, pluck="email_id"))
	names = [
		row.name for row in frappe.get_all("Email Unsubscribe", filters={"email": synthetic}, fields=["name", "email"])
		if row.email not in still_used
	]
	for batch in create_batch(names, 1000):
		frappe.db.delete("Email Unsubscribe", {"name": ("in", batch)})
	return len(names)


def delete_synthetic_contacts() -> tuple[int, int]:
	"""Delete the Contacts the app made for authors (only a synthetic address, nothing else about them).

	A Contact that a ticket (or any other record) still names is kept: the host's tickets stay after uninstall and
	must keep their customer (ERPNext would silently clear an Issue's contact). Returns (deleted, kept)."""
	parents = frappe.get_all("Contact Email", filters={"parenttype": "Contact", "email_id": ("like", f"%@{SYNTHETIC_DOMAIN}")},
		pluck="parent", distinct=True)
	deleted = kept = 0
	for contact in parents:
		if not made_by_app(contact, count_identities=False) or named_by_tickets(contact):
			kept += 1
			continue
		frappe.db.savepoint("social_itsm_uninstall_contact")
		try:
			# Our identities still point at it until frappe drops their table.
			if frappe.db.table_exists("Social Identity"):
				frappe.db.set_value("Social Identity", {"contact": contact}, "contact", None, update_modified=False)
			delete_contact(contact)
			deleted += 1
		except frappe.LinkExistsError:
			frappe.db.rollback(save_point="social_itsm_uninstall_contact")
			frappe.clear_last_message()
			kept += 1
	return deleted, kept


def drop_columns(columns: list[tuple[str, str]]) -> None:
	"""Frappe keeps a deleted Custom Field's column and its values. Ours point at Social Posts that are
	dropped with the app, so they go too: a reinstall must not bring back links to posts that no longer
	exist (the host could no longer save those tickets). Breaks and other fields without a column are skipped."""
	for doctype, fieldname in columns:
		if frappe.db.table_exists(doctype) and frappe.db.has_column(doctype, fieldname):
			frappe.db.sql_ddl(f"alter table `tab{doctype}` drop column `{fieldname}`")


# Shown in the Helpdesk agent UI's ticket sidebar through the Default ticket template.
TEMPLATE_FIELDS = ("social_channel", "social_reply_mode")


def ensure_ticket_template_fields() -> None:
	"""Add our fields to Helpdesk's Default HD Ticket Template (on install only: an admin may remove them)."""
	if not frappe.db.exists("HD Ticket Template", "Default"):
		return
	template = frappe.get_doc("HD Ticket Template", "Default")
	present = {row.fieldname for row in template.get("fields", [])}
	missing = [
		fieldname
		for fieldname in TEMPLATE_FIELDS
		if fieldname not in present and frappe.db.exists("Custom Field", {"dt": "HD Ticket", "fieldname": fieldname})
	]
	if not missing:
		return
	for fieldname in missing:
		template.append("fields", {"fieldname": fieldname, "hide_from_customer": 1})
	template.flags.ignore_permissions = True
	template.save()


def ensure_agent_roles() -> None:
	"""Our permissions name Helpdesk's and ERPNext's agent roles (a site with only one host lacks the other) and
	the Social Publisher, who approves status broadcasts."""
	for role in (*AGENT_ROLES, PUBLISHER_ROLE):
		if not frappe.db.exists("Role", role):
			frappe.get_doc({"doctype": "Role", "role_name": role, "desk_access": 1}).insert(ignore_permissions=True)


def refresh_settings() -> None:
	"""Re-detect the ticket doctype (a host app may have come or gone)."""
	settings = frappe.get_single("Social ITSM Settings")
	settings.flags.ignore_permissions = True
	settings.save()
