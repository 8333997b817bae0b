"""Whitelisted methods for the desk UI. Every method checks permissions before doing anything."""

from __future__ import annotations

from dataclasses import asdict

import frappe
from frappe import _

from social_itsm_app.connectors import ConnectorError
from social_itsm_app.ingest.jobs import enqueue_fetch, job_id
from social_itsm_app.ingest.runtime import build_connector
from social_itsm_app.utils import short_error


def _channel_for_admin(channel: str):
	doc = frappe.get_doc("Social Channel", channel)
	doc.check_permission("write")
	return doc


@frappe.whitelist(methods=["POST"])
def test_connection(channel: str) -> dict:
	"""Make one authenticated call and say which account the credentials reach."""
	doc = _channel_for_admin(channel)
	try:
		account = build_connector(doc).verify_credentials()
	except ConnectorError as exc:
		return {"ok": False, "error": short_error(exc, 600)}
	return {"ok": True, "account": asdict(account)}


@frappe.whitelist(methods=["POST"])
def fetch_now(channel: str) -> dict:
	"""Queue a fetch of this channel now; the form hears the result over realtime."""
	doc = _channel_for_admin(channel)
	if not doc.enabled:
		frappe.throw(_("Enable the channel before fetching."), title=_("Channel disabled"))
	enqueue_fetch(doc.name, user_requested=True)
	return {"queued": True, "job_id": job_id(doc.name)}
