"""The Helpdesk form script (an HD Form Script fixture): its JavaScript parses and builds its editor safely.

Helpdesk evaluates the script with ``new Function(script + "return setupForm")``, so a syntax error there only
shows as missing buttons in the agent UI; these checks catch it without a site.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from tests.static.appfiles import fixture_docs

NODE = shutil.which("node")


def form_scripts() -> list[dict]:
	return [doc for doc in fixture_docs() if doc["doctype"] == "HD Form Script"]


@pytest.fixture(params=[doc["name"] for doc in form_scripts()] or ["(none)"])
def script(request) -> str:
	if request.param == "(none)":
		pytest.skip("no HD Form Script fixture")
	(doc,) = [doc for doc in form_scripts() if doc["name"] == request.param]
	return doc["script"]


@pytest.mark.skipif(not NODE, reason="node is not installed: cannot syntax-check the form script")
def test_the_form_script_parses(script, tmp_path):
	path = tmp_path / "form_script.js"
	path.write_text(script)
	result = subprocess.run([NODE, "--check", str(path)], capture_output=True, text=True)
	assert result.returncode == 0, result.stderr
	# Helpdesk's own way of loading it: the body of a Function that returns setupForm.
	probe = f"const f = new Function({script!r} + '\\nreturn setupForm')(); if (typeof f !== 'function') process.exit(1);"
	result = subprocess.run([NODE, "-e", probe], capture_output=True, text=True)
	assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
	"forbidden",
	[r"window\.prompt", r"\bprompt\(", r"\balert\(", r"\bconfirm\(", r"innerHTML", r"outerHTML", r"insertAdjacentHTML",
	 r"document\.write"],
)
def test_the_form_script_uses_no_browser_dialogs_and_no_markup_sinks(script, forbidden):
	assert not re.search(forbidden, script), f"the form script uses {forbidden}"


def test_the_editor_is_an_accessible_dialog(script):
	for needle in ('role: "dialog"', '"aria-modal", "true"', "aria-labelledby", 'role: "alert"', "htmlFor",
		"Intl.Segmenter", "reply_context", "Escape"):
		assert needle in script, needle
