"""Install, migrate and uninstall steps: roles, host custom fields, cleanup."""

from __future__ import annotations

import frappe
from frappe.utils.fixtures import sync_fixtures

from social_itsm_app.hosts import AGENT_ROLES, PROFILES

APP = "social_itsm_app"
MODULE = "Social ITSM"


def before_install() -> None:
	ensure_agent_roles()


def after_install() -> None:
	refresh_settings()


def after_migrate() -> None:
	ensure_agent_roles()
	refresh_settings()


def after_app_install(app_name: str) -> None:
	"""Helpdesk or ERPNext arrived after us: import the custom fields for their ticket doctype now."""
	if app_name in {profile.app for profile in PROFILES.values()}:
		sync_fixtures(APP)
		refresh_settings()


def before_uninstall() -> None:
	"""Take our fields off the host's ticket doctypes; frappe removes our own doctypes itself."""
	for name in frappe.get_all("Custom Field", filters={"module": MODULE, "dt": ("in", list(PROFILES))}, pluck="name"):
		frappe.delete_doc("Custom Field", name, ignore_permissions=True, force=True)
	for dt in PROFILES:
		if frappe.db.exists("DocType", dt):
			frappe.clear_cache(doctype=dt)


def ensure_agent_roles() -> None:
	"""Our permissions name Helpdesk's and ERPNext's agent roles; a site with only one host lacks the other."""
	for role in AGENT_ROLES:
		if not frappe.db.exists("Role", role):
			frappe.get_doc({"doctype": "Role", "role_name": role, "desk_access": 1}).insert(ignore_permissions=True)


def refresh_settings() -> None:
	"""Re-detect the ticket doctype (a host app may have come or gone)."""
	settings = frappe.get_single("Social ITSM Settings")
	settings.flags.ignore_permissions = True
	settings.save()
