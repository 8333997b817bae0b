"""Who may use the app: System Managers manage it; helpdesk agents work with posts and replies."""

from __future__ import annotations

from collections.abc import Sequence

import frappe
from frappe import _

from social_itsm_app.hosts import AGENT_ROLES, MANAGER_ROLES


def is_social_agent(user: str | None = None) -> bool:
	user = user or frappe.session.user
	if user == "Administrator":
		return True
	return bool(set(frappe.get_roles(user)) & set(AGENT_ROLES + MANAGER_ROLES))


def can_use_app(user: str | None = None) -> bool:
	"""For the apps screen: only agents and managers see the Social ITSM tile."""
	return is_social_agent(user)


def require_agent() -> None:
	"""Guard for whitelisted methods: refuse anyone who is not an agent or a manager."""
	if not is_social_agent():
		frappe.throw(_("Only helpdesk agents can work with social posts."), frappe.PermissionError)


def users_with_roles(roles: Sequence[str]) -> list[str]:
	"""Enabled desk users holding any of ``roles`` directly (Administrator and Guest aside): whom to notify."""
	has_role, user = frappe.qb.DocType("Has Role"), frappe.qb.DocType("User")
	return (
		frappe.qb.from_(has_role)
		.join(user).on(user.name == has_role.parent)
		.select(user.name).distinct()
		.where(has_role.role.isin(list(roles)) & (has_role.parenttype == "User") & (user.enabled == 1))
		.where((user.user_type == "System User") & user.name.notin(["Administrator", "Guest"]))
		.run(pluck=True)
	)


def keep_managed_fields(doc, editable: frozenset[str] = frozenset(), app_creates_only: bool = False) -> None:
	"""Controller guard: only the app itself (``doc.flags.social_itsm``) writes the fields it manages.

	The desk and REST (``/api/resource``) save documents through ``validate``, where a read-only field in
	the doctype JSON is not enforced; the app writes with ``db_set``/bulk queries or sets the flag.
	"""
	if doc.flags.social_itsm:
		return
	if doc.is_new():
		if app_creates_only:
			frappe.throw(
				_("{0} records are created by Social ITSM itself.").format(_(doc.doctype)), frappe.PermissionError
			)
		return
	before = doc.get_doc_before_save()
	if before is None:
		return
	changed = [
		df.fieldname for df in doc.meta.fields
		if df.fieldname not in editable and df.fieldtype not in ("Section Break", "Column Break", "Tab Break")
		and doc.get(df.fieldname) != before.get(df.fieldname)
	]
	if changed:
		frappe.throw(
			_("These fields are kept by Social ITSM and cannot be changed: {0}").format(", ".join(changed)),
			frappe.PermissionError,
		)
