"""Tier 2: the app inside a real Frappe site (skipped, with the reason, where no bench is found).

The install cycle runs first (install, migrate twice, uninstall, install again); then every in-site module
(``social_itsm_app/tests/test_*.py``) runs with the bench's own Python and pytest, connected to the dedicated
Helpdesk test site, and again on a site with ERPNext instead (tickets become Issues) where the bench has
ERPNext. Last, ``bench --site SITE run-tests --app social_itsm_app`` runs the same modules with Frappe's own
runner on each of those sites, as a developer or a Frappe app's CI does.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.site import bench

REASON = bench.missing_reason()
pytestmark = pytest.mark.skipif(REASON is not None, reason=f"site tests skipped: {REASON}")
IN_SITE = bench.in_site_modules()


@pytest.fixture(scope="module")
def site():
	bench.prepare()
	bench.ready()  # installed, and migrated: the checkout may have changed the schema
	return bench.SITE


def test_install_migrate_twice_uninstall_reinstall(site):
	if bench.APP in bench.installed_apps():
		bench.site_bench("uninstall-app", bench.APP, "--yes", "--no-backup")
	assert bench.APP not in bench.installed_apps()

	bench.site_bench("install-app", bench.APP)
	assert bench.APP in bench.installed_apps()
	for _ in range(2):  # migrate must be idempotent
		bench.site_bench("migrate", "--skip-search-index")

	bench.site_bench("uninstall-app", bench.APP, "--yes", "--no-backup")
	assert bench.APP not in bench.installed_apps()
	leftovers = bench.site_bench(
		"execute", "frappe.db.sql",
		"--args", "[\"select name from `tabCustom Field` where module='Social ITSM' or fieldname like 'social\\\\_%'\"]",
	).stdout
	assert "social_" not in leftovers, f"custom fields left after uninstall: {leftovers}"
	tables = bench.site_bench("execute", "frappe.db.get_tables").stdout
	assert "tabSocial Post" not in tables
	# Frappe keeps a deleted custom field's column; ours are dropped, so a reinstall brings back no stale links.
	columns = bench.run_python(
		'print([c for dt in ("HD Ticket", "Issue") if frappe.db.table_exists(dt) for c in frappe.db.get_table_columns(dt) if c.startswith("social_")])'
	)
	assert columns.strip().splitlines()[-1] == "[]", columns

	bench.site_bench("install-app", bench.APP)
	assert bench.APP in bench.installed_apps()


def test_install_on_a_site_without_helpdesk_or_erpnext(site):
	bench.ensure_site(bench.PLAIN_SITE, host_apps=())
	assert not {"helpdesk", "erpnext"} & set(bench.installed_apps(bench.PLAIN_SITE))
	if bench.APP not in bench.installed_apps(bench.PLAIN_SITE):
		result = bench.site_bench("install-app", bench.APP, site=bench.PLAIN_SITE)
		assert "Skipping fixture syncing" in result.stdout  # the hosts' custom fields are skipped, not fatal
	bench.site_bench("migrate", "--skip-search-index", site=bench.PLAIN_SITE)
	bench.site_bench("uninstall-app", bench.APP, "--yes", "--no-backup", site=bench.PLAIN_SITE)
	assert bench.APP not in bench.installed_apps(bench.PLAIN_SITE)


def test_bench_command_is_registered(site):
	if bench.APP not in bench.installed_apps():
		bench.site_bench("install-app", bench.APP)
	assert "fetch" in bench.site_bench("social-itsm", "--help").stdout
	bench.site_bench("social-itsm", "fetch")  # every enabled channel (none, or failing ones, report and exit 0)


@pytest.fixture(scope="module")
def erpnext_site(site):
	if not bench.bench_has_app("erpnext"):
		pytest.skip(f"the Issue (ERPNext) host is not exercised: the bench at {bench.BENCH} has no erpnext app")
	bench.ensure_site(bench.ERPNEXT_SITE, host_apps=("erpnext",))
	bench.quiet_scheduler(bench.ERPNEXT_SITE)
	apps = bench.installed_apps(bench.ERPNEXT_SITE)
	assert "erpnext" in apps and "helpdesk" not in apps
	bench.ready(bench.ERPNEXT_SITE)
	return bench.ERPNEXT_SITE


def run_module(site_name: str, module: Path) -> None:
	if bench.APP not in bench.installed_apps(site_name):
		bench.site_bench("install-app", bench.APP, site=site_name)
	result = bench.run_inner(module, site=site_name)
	summary = (result.stdout.strip().splitlines() or ["(no output)"])[-1]
	print(f"{module.name} on {site_name}: {summary}")
	assert result.returncode == 0, f"{module.name} failed:\n{result.stdout[-8000:]}\n{result.stderr[-3000:]}"


@pytest.mark.parametrize("module", IN_SITE, ids=[m.stem for m in IN_SITE])
def test_in_site(site, module):
	run_module(site, module)


@pytest.mark.parametrize("module", IN_SITE, ids=[m.stem for m in IN_SITE])
def test_in_erpnext_site(erpnext_site, module):
	run_module(erpnext_site, module)


def count_test_methods(modules: list[Path]) -> int:
	"""The test methods the modules' classes define (none inherits another class's tests)."""
	return sum(
		isinstance(item, ast.FunctionDef) and item.name.startswith("test")
		for path in modules for node in ast.parse(path.read_text()).body if isinstance(node, ast.ClassDef)
		for item in node.body
	)


def run_bench_run_tests(site_name: str) -> None:
	"""What a Frappe developer types: every in-site test runs, none fails."""
	if bench.APP not in bench.installed_apps(site_name):
		bench.site_bench("install-app", bench.APP, site=site_name)
	result = bench.run_tests(site=site_name)
	output = result.stdout + result.stderr
	outcome = bench.runner_outcome(output)
	print(f"bench --site {site_name} run-tests --app {bench.APP}: {outcome}")
	assert outcome is not None, f"no unittest report:\n{result.stdout[-6000:]}\n{result.stderr[-6000:]}"
	ran, verdict = outcome
	assert result.returncode == 0 and verdict.startswith("OK"), f"{verdict}:\n{output[-12000:]}"
	expected = count_test_methods(bench.in_site_modules())  # read now: the modules as the runner found them
	assert ran == expected > 0, f"ran {ran} tests, the in-site modules define {expected}"


def test_bench_run_tests(site):
	run_bench_run_tests(site)


def test_bench_run_tests_on_erpnext(erpnext_site):
	run_bench_run_tests(erpnext_site)
