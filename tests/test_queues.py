"""Which queue each kind of background work goes on (social_itsm_app/queues.py), without a site: the choice, the
settings' defaults, and that no fetch, send or conversion job names a queue of its own."""

from __future__ import annotations

import ast

import pytest

from social_itsm_app import queues
from tests.static.appfiles import APP, doctypes

KNOWN = ["short", "default", "long"]


def test_the_configured_queue_when_the_process_knows_it():
	assert queues.choose_queue(queues.FETCH, "social", [*KNOWN, "social"]) == ("social", False)
	assert queues.choose_queue(queues.SEND, " social ", [*KNOWN, "social"]) == ("social", False)
	assert queues.choose_queue(queues.TICKETS, "long", KNOWN) == ("long", False)


@pytest.mark.parametrize("kind", sorted(queues.FIELDS))
def test_an_unknown_queue_falls_back_to_the_kinds_built_in_queue(kind):
	assert queues.choose_queue(kind, "gone", KNOWN) == (queues.DEFAULTS[kind], True)


@pytest.mark.parametrize("kind", sorted(queues.FIELDS))
def test_empty_means_the_built_in_queue(kind):
	assert queues.choose_queue(kind, None, KNOWN) == (queues.DEFAULTS[kind], False)
	assert queues.choose_queue(kind, "  ", KNOWN) == (queues.DEFAULTS[kind], False)


def test_the_defaults_are_frappes_own_queues_and_the_settings_say_the_same():
	assert set(queues.DEFAULTS.values()) <= set(queues.BUILT_IN)
	fields = {field["fieldname"]: field for field in doctypes()[queues.SETTINGS]["fields"]}
	for kind, fieldname in queues.FIELDS.items():
		assert fields[fieldname]["fieldtype"] == "Data"
		assert fields[fieldname]["default"] == queues.DEFAULTS[kind], fieldname
		assert "common_site_config.json" in fields[fieldname]["description"]


# Every enqueue of fetch, send and conversion work, by module and job: the kind whose queue it must use.
ROUTED = {
	("ingest/jobs.py", "FETCH_JOB"): queues.FETCH,
	("ingest/jobs.py", "LINK_CONTACTS_JOB"): queues.FETCH,
	("ingest/jobs.py", "TICKETS_JOB"): queues.TICKETS,
	("replies/outbound.py", "SEND_JOB"): queues.SEND,
	("api/__init__.py", "social_itsm_app.api.convert_batch"): queues.TICKETS,
}
KIND_NAMES = {"FETCH": queues.FETCH, "SEND": queues.SEND, "TICKETS": queues.TICKETS}


def enqueues(relative: str) -> dict[str, ast.Call]:
	tree = ast.parse((APP / relative).read_text())
	found = {}
	for node in ast.walk(tree):
		if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "enqueue":
			method = node.args[0]
			found[method.id if isinstance(method, ast.Name) else method.value] = node
	return found


@pytest.mark.parametrize(("where", "job"), sorted(ROUTED))
def test_each_job_is_queued_where_the_settings_say(where, job):
	call = enqueues(where)[job]
	queue = next(keyword.value for keyword in call.keywords if keyword.arg == "queue")
	assert isinstance(queue, ast.Call) and isinstance(queue.func, ast.Name) and queue.func.id == "queue_for", (
		f"{where}: {job} must be queued on queue_for(...), not a fixed queue"
	)
	assert KIND_NAMES[queue.args[0].id] == ROUTED[(where, job)]


def test_no_other_module_queues_fetch_send_or_conversion_work():
	"""Only privacy's erase job (long, its own) names a queue outside queue_for."""
	fixed = []
	for path in sorted(APP.rglob("*.py")):
		if "tests" in path.relative_to(APP).parts:
			continue
		for node in ast.walk(ast.parse(path.read_text())):
			if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "enqueue":
				queue = next((k.value for k in node.keywords if k.arg == "queue"), None)
				if not (isinstance(queue, ast.Call) and getattr(queue.func, "id", "") == "queue_for"):
					fixed.append(str(path.relative_to(APP)))
	assert fixed == ["privacy.py"]
