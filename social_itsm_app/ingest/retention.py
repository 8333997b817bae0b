"""Retention: posts that never became part of a ticket are deleted after the configured number of days, and
every post's raw payload (the network's full record, more about the author than the post shows) is emptied
after its own, shorter, number of days."""

from __future__ import annotations

import frappe
from frappe.utils import add_days, cint, now_datetime

from social_itsm_app.statuses import UNTICKETED

BATCH = 5000
SETTINGS = "Social ITSM Settings"
RAW_PAYLOAD_DAYS_DEFAULT = 30


def purge_old_posts() -> int:
	"""Daily job: delete unticketed posts older than the settings' retention, then empty old raw payloads.

	Returns the number of posts deleted."""
	deleted = delete_unticketed_posts()
	try:
		purge_raw_payloads()
	except Exception:
		frappe.db.rollback()
		frappe.log_error(title="Social ITSM: could not empty old raw payloads")
	return deleted


def delete_unticketed_posts() -> int:
	days = frappe.db.get_single_value(SETTINGS, "retention_days") or 0
	if days <= 0:
		return 0
	cutoff = add_days(now_datetime(), -days)
	deleted = 0
	while names := frappe.get_all(
		"Social Post",
		filters={"status": ("in", UNTICKETED), "ticket": ("is", "not set"), "creation": ("<", cutoff)},
		pluck="name",
		limit=BATCH,
	):
		frappe.db.delete("Social Post", {"name": ("in", names)})
		frappe.db.commit()  # a long purge must not hold one huge transaction
		deleted += len(names)
	return deleted


def raw_payload_days() -> int:
	"""The setting, or its default on a site whose settings were saved before the field existed."""
	stored = frappe.db.get_singles_dict(SETTINGS).get("raw_payload_days")
	return RAW_PAYLOAD_DAYS_DEFAULT if stored is None else cint(stored)


def purge_raw_payloads(batch: int = BATCH) -> int:
	"""Set ``raw`` to NULL on posts older than ``raw_payload_days``, ticketed or not: one UPDATE per batch,
	committed per batch (no row lock is held for long). Returns the number of posts emptied."""
	days = raw_payload_days()
	if days <= 0:
		return 0
	cutoff = add_days(now_datetime(), -days)
	emptied = 0
	while True:
		frappe.db.sql(
			"update `tabSocial Post` set `raw` = null where `raw` is not null and `creation` < %s limit %s",
			(cutoff, batch),
		)
		count = cint(frappe.db._cursor.rowcount)
		frappe.db.commit()
		emptied += count
		if count < batch:
			return emptied
