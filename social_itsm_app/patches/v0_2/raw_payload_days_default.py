"""Social ITSM Settings gained ``raw_payload_days`` (default 30). Frappe does not store a new field's default
on an existing Single, and the next save of the settings would store 0 (= keep raw payloads forever); store the
default once, before after_migrate saves the settings."""

import frappe

from social_itsm_app.ingest.retention import RAW_PAYLOAD_DAYS_DEFAULT, SETTINGS


def execute():
	stored = frappe.db.get_singles_dict(SETTINGS)
	if not stored:
		return  # never saved: loading the settings applies every default, this one too
	if stored.get("raw_payload_days") is None:
		frappe.db.set_single_value(SETTINGS, "raw_payload_days", RAW_PAYLOAD_DAYS_DEFAULT)
