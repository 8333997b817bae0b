"""A Social Channel document as a ready connector, and the encrypted state connectors hand back."""

from __future__ import annotations

import json
from typing import Any

import frappe
import requests
from frappe.utils.password import get_decrypted_password, set_encrypted_password

from social_itsm_app.channel_config import SECRET_FIELDS, connector_config, network_key
from social_itsm_app.connectors import Connector, ConnectorError, get_connector


def channel_values(doc) -> dict[str, Any]:
	"""Field values with secrets decrypted (never logged, never returned to a browser)."""
	values = doc.as_dict()
	for fieldname in SECRET_FIELDS:
		values[fieldname] = get_decrypted_password(doc.doctype, doc.name, fieldname, raise_exception=False)
	return values


def load_state(name: str) -> dict[str, Any]:
	raw = get_decrypted_password("Social Channel", name, "connector_state", raise_exception=False)
	try:
		return json.loads(raw) if raw else {}
	except ValueError:
		return {}


def save_state(name: str, state: dict[str, Any]) -> None:
	"""Keep refreshed tokens/sessions encrypted, so the next run does not log in again."""
	if state:
		merged = {**load_state(name), **state}
		set_encrypted_password("Social Channel", name, json.dumps(merged), "connector_state")
		frappe.db.set_value("Social Channel", name, "connector_state", "*" * 8, update_modified=False)


def build_connector(doc, session: requests.Session | None = None) -> Connector:
	key = network_key(doc.network)
	if key is None:
		raise ConnectorError(f"{doc.network} channels receive pushed events; there is nothing to fetch")
	return get_connector(key, connector_config(channel_values(doc), load_state(doc.name)), session=session)
