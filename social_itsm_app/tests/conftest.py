"""Connects the in-site tests to the test site. Loaded only by the bench's Python (frappe importable).

The connection is made in pytest_configure, before collection, so test modules may ask the site
things at import time (which apps are installed, for skips).
"""

from __future__ import annotations

import os


def pytest_configure(config):
	import frappe

	frappe.init(site=os.environ["SOCIAL_ITSM_SITE"], sites_path=os.environ["SOCIAL_ITSM_SITES_PATH"])
	frappe.connect()
	frappe.set_user("Administrator")
	frappe.flags.in_test = True


def pytest_unconfigure(config):
	import frappe

	if getattr(frappe.local, "db", None):
		frappe.db.rollback()
	frappe.destroy()
