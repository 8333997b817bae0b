"""Connects the in-site tests to a site when pytest runs them (the site tier: tests/site/bench.py:run_inner).

``bench --site SITE run-tests --app social_itsm_app`` runs these modules with unittest and connects the site
itself; it never loads this file, nor does the repository's own ``python -m pytest`` (its testpaths are
``tests/``). Under pytest the site comes from SOCIAL_ITSM_SITE (and SOCIAL_ITSM_SITES_PATH, default: the
current directory, as for bench, which runs from sites/).

The connection is made in pytest_configure, before collection, so test modules may ask the site things at
import time (which apps are installed, for skips).
"""

from __future__ import annotations

import os
import sys

import pytest

SITE = "SOCIAL_ITSM_SITE"


def pytest_configure(config):
	if not os.environ.get(SITE):
		raise pytest.UsageError(
			f"the tests in {os.path.dirname(__file__)} run inside a Frappe site: use "
			"`bench --site SITE run-tests --app social_itsm_app`, or set SOCIAL_ITSM_SITE (and "
			"SOCIAL_ITSM_SITES_PATH) for pytest with the bench's Python"
		)
	import frappe

	frappe.init(site=os.environ[SITE], sites_path=os.environ.get("SOCIAL_ITSM_SITES_PATH", "."))
	frappe.connect()
	frappe.set_user("Administrator")
	frappe.flags.in_test = True


def pytest_unconfigure(config):
	if not os.environ.get(SITE):
		return
	# A module's summary line (utils.report) goes last, after pytest's own: the site tier prints each module's
	# last line.
	utils = sys.modules.get("social_itsm_app.tests.utils")
	reporter = config.pluginmanager.get_plugin("terminalreporter")
	if utils and reporter:
		for line in utils.SUMMARY:
			reporter.write_line(line)

	import frappe

	if getattr(frappe.local, "db", None):
		frappe.db.rollback()
	frappe.destroy()
