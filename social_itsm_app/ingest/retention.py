"""Retention: posts that never became part of a ticket are deleted after the configured number of days."""

from __future__ import annotations

import frappe
from frappe.utils import add_days, now_datetime

BATCH = 5000
UNTICKETED = ("New", "Ignored", "Spam")


def purge_old_posts() -> int:
	"""Daily job: delete unticketed posts older than Social ITSM Settings' retention, in batches."""
	days = frappe.db.get_single_value("Social ITSM Settings", "retention_days") or 0
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
