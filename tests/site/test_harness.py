"""The site tier's harness itself (runs everywhere): opt-in, and it never replaces an app folder it did not make."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.site import bench


@pytest.fixture
def fake_bench(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
	(tmp_path / "apps" / "frappe").mkdir(parents=True)
	(tmp_path / "env" / "bin").mkdir(parents=True)
	(tmp_path / "env" / "bin" / "python").write_text("")
	(tmp_path / "env" / "bin" / "bench").write_text("")
	monkeypatch.setattr(bench, "BENCH", tmp_path)
	monkeypatch.setenv(bench.OPT_IN, "1")
	return tmp_path


def test_without_the_opt_in_the_site_tier_leaves_the_bench_alone(fake_bench, monkeypatch):
	monkeypatch.delenv(bench.OPT_IN)
	assert "opt-in" in bench.missing_reason()


def test_a_missing_app_folder_or_a_link_may_be_replaced(fake_bench):
	assert bench.missing_reason() is None
	(fake_bench / "apps" / bench.APP).symlink_to(fake_bench / "elsewhere", target_is_directory=True)
	assert bench.app_folder_is_ours()


def test_an_app_folder_the_tests_did_not_make_is_never_replaced(fake_bench):
	installed = fake_bench / "apps" / bench.APP
	(installed / bench.APP).mkdir(parents=True)
	(installed / "precious.py").write_text("an admin's own checkout")
	assert "was not put there by these tests" in bench.missing_reason()
	with pytest.raises(RuntimeError, match="refusing to replace it"):
		bench.sync_app()
	assert (installed / "precious.py").read_text() == "an admin's own checkout"


def test_a_copy_the_tests_made_may_be_replaced(fake_bench):
	copy = fake_bench / "apps" / bench.APP
	copy.mkdir(parents=True)
	(copy / bench.COPY_MARKER).write_text("")
	assert bench.missing_reason() is None


def test_frappes_runner_report_is_read():
	report = "....s.\n----------------------------------------------------------------------\nRan 6 tests in 4.2s\n\nOK (skipped=1)\n"
	assert bench.runner_outcome(report) == (6, "OK (skipped=1)")
	failed = "E.\n======\nERROR: test_x\nTraceback ...\nOK in a message\n----\nRan 2 tests in 1.0s\n\nFAILED (errors=1)\n"
	assert bench.runner_outcome(failed) == (2, "FAILED (errors=1)")
	assert bench.runner_outcome("Traceback (most recent call last):\n  ...\nImportError: frappe\n") is None


def test_the_in_site_modules_are_where_bench_run_tests_finds_them():
	"""`bench run-tests --app` imports test_*.py under the app's package by dotted path; the repository's own pytest
	(testpaths = tests) never collects them, as they need a site."""
	modules = bench.in_site_modules()
	assert modules and all(path.parent == bench.REPO / bench.APP / "tests" for path in modules)
	assert (bench.REPO / bench.APP / "tests" / "__init__.py").exists()
	assert not list((bench.REPO / "tests" / "site").rglob("site_*.py"))
