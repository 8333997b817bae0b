"""Whitelisted methods of the Social Incident form: confirm, dismiss, resolve, link tickets, and what the form shows.

Agents (and System Managers) who may write the incident decide; a Social Publisher only reads it.
"""

from __future__ import annotations

import frappe

from social_itsm_app.incidents import lifecycle
from social_itsm_app.permissions import require_agent


def _incident_for_agent(incident: str, ptype: str = "write") -> None:
	require_agent()
	frappe.has_permission("Social Incident", ptype, doc=incident, throw=True)


@frappe.whitelist(methods=["POST"])
def confirm(incident: str) -> dict:
	"""Confirm the outage: one parent ticket with every report on its timeline (large incidents in the background)."""
	_incident_for_agent(incident)
	return lifecycle.confirm(incident)


@frappe.whitelist(methods=["POST"])
def dismiss(incident: str) -> dict:
	"""Not an outage: the detector learns the topic's level, nothing is sent, the posts go back to the inbox."""
	_incident_for_agent(incident)
	return lifecycle.dismiss(incident)


@frappe.whitelist(methods=["POST"])
def resolve(incident: str, resolution: str | None = None) -> dict:
	"""The outage is over: close the parent, resolve the linked tickets with ``resolution``, draft an article."""
	_incident_for_agent(incident)
	return lifecycle.resolve(incident, resolution)


@frappe.whitelist(methods=["POST"])
def link_ticket(incident: str, ticket_doctype: str, ticket: str) -> dict:
	"""Link an existing ticket about the same outage; it is resolved with the incident."""
	_incident_for_agent(incident)
	return lifecycle.link_ticket(incident, ticket_doctype, ticket)


@frappe.whitelist(methods=["GET"])
def overview(incident: str) -> dict:
	"""What the form's headline needs: member posts by status and channel (for a broadcast's channels)."""
	_incident_for_agent(incident, "read")
	rows = frappe.get_all(
		"Social Post",
		filters={"social_incident": incident},
		fields=["status", "channel", "count(name) as posts"],
		group_by="status, channel",
	)
	by_status: dict[str, int] = {}
	channels: dict[str, int] = {}
	for row in rows:
		by_status[row.status] = by_status.get(row.status, 0) + row.posts
		channels[row.channel] = channels.get(row.channel, 0) + row.posts
	settings = frappe.get_cached_doc("Social ITSM Settings")
	profile = settings.profile()
	return {
		"by_status": by_status,
		"channels": [{"channel": name, "posts": count} for name, count in sorted(channels.items(), key=lambda c: -c[1])],
		"ticket_doctype": profile.ticket_doctype if profile else None,
		# Confirmed, with reports still on their way to the parent ticket (the attach job is running)
		"pending": len(lifecycle.pending_members(incident)) if frappe.db.get_value("Social Incident", incident, "ticket") else 0,
	}
