"""Who may use the app: System Managers manage it; helpdesk agents work with posts and replies."""

from __future__ import annotations

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
