"""Which ticket doctype the site has, and what its links are called (pure: no frappe import).

Frappe Helpdesk's HD Ticket and ERPNext's Issue are the same idea with different names; everything the app
needs to know about the difference lives in one HostProfile, so the rest of the code asks the profile.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class HostProfile:
	ticket_doctype: str
	app: str
	priority_doctype: str
	ticket_type_doctype: str
	ticket_type_field: str
	team_doctype: str | None
	team_field: str | None
	customer_doctype: str
	agent_roles: tuple[str, ...]
	# Helpdesk copies a ticket's first received message into its description; ERPNext's Issue does not.
	first_message_fills_description: bool
	# An answered ticket the customer may still reopen by replying, and one that is done.
	resolved_status: str
	closed_status: str
	resolution_field: str


HELPDESK = HostProfile(
	ticket_doctype="HD Ticket",
	app="helpdesk",
	priority_doctype="HD Ticket Priority",
	ticket_type_doctype="HD Ticket Type",
	ticket_type_field="ticket_type",
	team_doctype="HD Team",
	team_field="agent_group",
	customer_doctype="HD Customer",
	agent_roles=("Agent", "Agent Manager"),
	first_message_fills_description=True,
	# Helpdesk 1.5: Open, Replied, Resolved, Closed (a non-agent must give feedback to resolve).
	resolved_status="Resolved",
	closed_status="Closed",
	resolution_field="resolution_details",
)

ERPNEXT_SUPPORT = HostProfile(
	ticket_doctype="Issue",
	app="erpnext",
	priority_doctype="Issue Priority",
	ticket_type_doctype="Issue Type",
	ticket_type_field="issue_type",
	team_doctype=None,
	team_field=None,
	customer_doctype="Customer",
	agent_roles=("Support Team",),
	first_message_fills_description=False,
	# ERPNext 15: Open, Replied, On Hold, Resolved, Closed.
	resolved_status="Resolved",
	closed_status="Closed",
	resolution_field="resolution_details",
)

PROFILES = {profile.ticket_doctype: profile for profile in (HELPDESK, ERPNEXT_SUPPORT)}
# Social ITSM Settings.ticket_doctype: a host's doctype, or whichever host is installed.
AUTO = "Auto"
TICKET_DOCTYPE_CHOICES = (AUTO, *PROFILES)
# Roles that may read posts, convert them and reply, whichever host is installed.
AGENT_ROLES = ("Agent", "Agent Manager", "Support Team")
MANAGER_ROLES = ("System Manager",)


def choose_profile(preference: str | None, installed_apps: Iterable[str]) -> HostProfile | None:
	"""The configured ticket doctype if its app is installed; "Auto" prefers Helpdesk, then ERPNext."""
	apps = set(installed_apps)
	if preference and preference in PROFILES:
		profile = PROFILES[preference]
		return profile if profile.app in apps else None
	for profile in (HELPDESK, ERPNEXT_SUPPORT):
		if profile.app in apps:
			return profile
	return None
