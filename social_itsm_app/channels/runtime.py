"""A Social Channel document as a ready connector, and the encrypted state connectors hand back."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import frappe
import requests
from frappe.utils.password import get_decrypted_password, set_encrypted_password

from social_itsm_app.channels.config import SECRET_FIELDS, connector_config, network_key
from social_itsm_app.connectors import Connector, ConnectorError, connector_class, get_connector
from social_itsm_app.connectors.base import SecretConfig

# How long a job may hold a channel's rotating credentials, and wait for another job to release them.
CREDENTIALS_LOCK_SECONDS = 300
CREDENTIALS_WAIT_SECONDS = 60


def channel_values(doc) -> SecretConfig:
	"""Field values with secrets decrypted (never logged, never returned to a browser; they print as ***)."""
	values = SecretConfig(doc.as_dict(), SECRET_FIELDS)
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


def persist_state(name: str, state: dict[str, Any]) -> None:
	"""A token the network just rotated is committed at once: a single-use refresh token that is lost when
	the job fails later would leave the channel unable to log in. Connectors hand it over before they make
	any further request, when the job has written nothing else yet."""
	save_state(name, state)
	frappe.db.commit()


def build_connector(doc, session: requests.Session | None = None) -> Connector:
	"""The channel's connector with its latest saved tokens; a rotated token is saved the moment it arrives."""
	key = network_key(doc.network)
	if key is None:
		raise ConnectorError(f"{doc.network} channels receive pushed events; there is nothing to fetch")
	connector = get_connector(key, connector_config(channel_values(doc), load_state(doc.name)), session=session)
	connector.on_state_saved = lambda state: persist_state(doc.name, state)
	return connector


@contextmanager
def credentials_in_use(doc) -> Iterator[None]:
	"""One job at a time uses a channel whose network rotates tokens (X refresh tokens are single use):
	two jobs refreshing with the same token would leave one of them, and the channel, logged out.
	Build the connector inside, so that it starts from the token the previous holder saved."""
	key = network_key(doc.network)
	if not key or not connector_class(key).rotates_tokens:
		yield
		return
	lock = frappe.cache().lock(
		f"{frappe.local.site}:social_itsm_credentials:{doc.name}",
		timeout=CREDENTIALS_LOCK_SECONDS,
		blocking_timeout=CREDENTIALS_WAIT_SECONDS,
	)
	if not lock.acquire():
		raise ConnectorError(f"another job is using the credentials of channel {doc.name}; trying again later")
	try:
		yield
	finally:
		try:
			lock.release()
		except Exception:  # expired while we worked: nothing left to release
			pass
