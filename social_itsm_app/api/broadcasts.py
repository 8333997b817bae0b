"""Whitelisted methods of the Social Broadcast form: ask for approval, approve, reject, retry, preview.

Each checks the caller's permission on the broadcast first; the role rules (only a Social Publisher or a System
Manager decides, the writer never approves their own unless a System Manager) are in incidents/broadcasts.py,
so every path to a decision keeps them. Guests and website users hold no role that reads broadcasts.
"""

from __future__ import annotations

import json

import frappe
from frappe import _

from social_itsm_app.incidents import broadcasts
from social_itsm_app.permissions import is_social_agent

DOCTYPE = broadcasts.DOCTYPE


def _broadcast(name: str, ptype: str = "read"):
	doc = frappe.get_doc(DOCTYPE, name)
	doc.check_permission(ptype)
	return doc


def _require_broadcaster() -> None:
	if not (is_social_agent() or broadcasts.is_publisher()):
		frappe.throw(_("Only helpdesk agents and Social Publishers work with broadcasts."), frappe.PermissionError)


@frappe.whitelist(methods=["POST"])
def request_approval(broadcast: str) -> dict:
	"""The writer is done: Draft (or Rejected) -> Awaiting Approval, the publishers are notified."""
	_require_broadcaster()
	_broadcast(broadcast, "write")
	return broadcasts.request_approval(broadcast)


@frappe.whitelist(methods=["POST"])
def approve(broadcast: str) -> dict:
	_broadcast(broadcast)
	return broadcasts.approve(broadcast)


@frappe.whitelist(methods=["POST"])
def reject(broadcast: str, reason: str) -> dict:
	_broadcast(broadcast)
	return broadcasts.reject(broadcast, reason)


@frappe.whitelist(methods=["POST"])
def retry_failed(broadcast: str) -> dict:
	_broadcast(broadcast)
	return broadcasts.retry_failed(broadcast)


@frappe.whitelist(methods=["GET"])
def delivery(broadcast: str) -> dict:
	"""Each channel's delivery and the reporters' progress, as the realtime event carries them."""
	doc = _broadcast(broadcast)
	return {**broadcasts.summary(doc), "reporters_total": doc.reporters_total,
		"reporters_answered": doc.reporters_answered, "can_decide": broadcasts.is_publisher()}


@frappe.whitelist(methods=["GET"])
def default_channels(incident: str) -> list[dict]:
	"""The channels the incident was heard on, to preset a new broadcast."""
	_require_broadcaster()
	frappe.get_doc("Social Incident", incident).check_permission("read")
	return broadcasts.default_channels(incident)


@frappe.whitelist(methods=["GET", "POST"])
def preview(text: str, channels: str | list) -> list[dict]:
	"""How the text will be split on each channel (parts and their length, the network's way of counting)."""
	_require_broadcaster()
	if isinstance(channels, str):
		channels = json.loads(channels) if channels.lstrip().startswith("[") else channels.split(",")
	names = [str(name).strip() for name in channels or [] if str(name).strip()][:20]
	publisher = broadcasts.is_publisher()  # may not read channels, but approves what goes out on them
	for name in names:
		if not publisher:
			frappe.has_permission("Social Channel", "read", name, throw=True)
	return broadcasts.preview(text or "", names)
