"""Connects the in-site tests to the test site. Loaded only by the bench's Python (frappe importable)."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session", autouse=True)
def frappe_site():
	import frappe

	frappe.init(site=os.environ["SOCIAL_ITSM_SITE"], sites_path=os.environ["SOCIAL_ITSM_SITES_PATH"])
	frappe.connect()
	frappe.set_user("Administrator")
	frappe.flags.in_test = True
	yield
	frappe.db.rollback()
	frappe.destroy()
