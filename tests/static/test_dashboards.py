"""The number cards and dashboard charts the app ships (the early-warning measures) and the workspace that shows
them: valid standard records in the app's module, naming doctypes, fields and methods that exist."""

from __future__ import annotations

import ast
import json
import os
from pathlib import Path

import pytest

from tests.static.appfiles import APP, HOST_DOCTYPES, HOST_FIELDS, doctypes, fixture_docs, modules, scrub

MODULE = "Social ITSM"
MODULE_PATH = APP / scrub(MODULE)
# Fields every doctype has, besides those in its JSON.
STANDARD_FIELDS = {"name", "owner", "creation", "modified", "modified_by", "docstatus", "idx"}
FILTER_OPERATORS = {"=", "!=", ">", "<", ">=", "<=", "in", "not in", "like", "not like", "is", "between", "Timespan"}
ROLES = {"System Manager", "Agent", "Agent Manager", "Support Team"}
# Host ticket fields the measures read that appfiles.HOST_FIELDS does not list (checked against the host apps'
# doctype JSON below when a bench is at hand): HD Ticket and Issue both record their first response here.
MEASURED_HOST_FIELDS = {"first_responded_on"}
BENCH = Path(os.environ.get("SOCIAL_ITSM_BENCH", "/opt/frappe-bench"))
HOST_DOCTYPE_JSON = {
	"HD Ticket": "helpdesk/helpdesk/helpdesk/doctype/hd_ticket/hd_ticket.json",
	"Issue": "erpnext/erpnext/support/doctype/issue/issue.json",
}


def records(kind: str) -> list[tuple[Path, dict]]:
	return [(path, json.loads(path.read_text())) for path in sorted(MODULE_PATH.glob(f"{kind}/*/*.json"))]


CARDS = records("number_card")
CHARTS = records("dashboard_chart")
SOURCES = records("dashboard_chart_source")
WORKSPACE = json.loads((MODULE_PATH / "workspace" / "social_itsm" / "social_itsm.json").read_text())


def ids(items: list[tuple[Path, dict]]) -> list[str]:
	return [path.stem for path, _doc in items]


def fields_of(doctype: str) -> set[str]:
	return STANDARD_FIELDS | {field["fieldname"] for field in doctypes()[doctype]["fields"]}


def whitelisted_function(dotted: str) -> ast.FunctionDef | None:
	"""The function a dotted path names in this app, if it is decorated with frappe.whitelist."""
	module, _, name = dotted.rpartition(".")
	path = APP.parent.joinpath(*module.split(".")).with_suffix(".py")
	if not path.exists():
		return None
	for node in ast.parse(path.read_text()).body:
		if isinstance(node, ast.FunctionDef) and node.name == name:
			decorators = [ast.unparse(d) for d in node.decorator_list]
			return node if any(d.startswith("frappe.whitelist") for d in decorators) else None
	return None


def assert_method(dotted: str, where: str) -> None:
	assert dotted.startswith("social_itsm_app.api."), f"{where}: desk methods live in the api package"
	function = whitelisted_function(dotted)
	assert function is not None, f"{where}: {dotted} is no whitelisted function"
	unannotated = [a.arg for a in function.args.args if a.annotation is None]
	assert not unannotated, f"{where}: {dotted} leaves {unannotated} without a type"


def assert_filters(filters_json: str, doctype: str, where: str) -> None:
	filters = json.loads(filters_json or "[]")
	assert isinstance(filters, list), f"{where}: filters must be a list"
	for condition in filters:
		assert len(condition) == 5 and condition[0] == doctype, f"{where}: {condition} is not [doctype, field, op, value, false]"
		assert condition[1] in fields_of(doctype), f"{where}: {doctype} has no field {condition[1]}"
		assert condition[2] in FILTER_OPERATORS, f"{where}: unknown operator {condition[2]}"


def assert_standard(path: Path, doc: dict, doctype: str, name_field: str) -> None:
	assert doc["doctype"] == doctype
	assert doc["name"] == doc[name_field], f"{path}: name and {name_field} differ"
	assert path.stem == path.parent.name == scrub(doc["name"]), f"{path}: folder and file must be {scrub(doc['name'])}"
	assert doc["module"] == MODULE and MODULE in modules(), f"{path}: not in the app's module"
	if doctype != "Dashboard Chart Source":
		assert doc["is_standard"] == 1 and doc["is_public"] == 1, f"{path}: must be standard and public"


def test_the_measures_are_shipped():
	assert len(CARDS) >= 5 and len(CHARTS) >= 3


@pytest.mark.parametrize(("path", "card"), CARDS, ids=ids(CARDS))
def test_number_card(path, card):
	assert_standard(path, card, "Number Card", "label")
	# frappe lets someone who is not a System Manager see a card if they may read its document type: agents do
	assert card["document_type"] in doctypes(), f"{path}: an agent must be able to read the card's document type"
	if card["type"] == "Custom":
		assert_method(card["method"], str(path))
	else:
		assert card["type"] == "Document Type" and card["function"] == "Count"
		assert_filters(card["filters_json"], card["document_type"], str(path))


@pytest.mark.parametrize(("path", "chart"), CHARTS, ids=ids(CHARTS))
def test_dashboard_chart(path, chart):
	assert_standard(path, chart, "Dashboard Chart", "chart_name")
	assert chart["type"] in {"Bar", "Line", "Percentage", "Pie", "Donut"}
	if chart["chart_type"] == "Custom":
		assert chart["source"] in {doc["name"] for _path, doc in SOURCES}, f"{path}: no shipped source {chart['source']}"
		# a custom chart has no document type to judge readers by: its roles decide
		assert {row["role"] for row in chart["roles"]} <= ROLES and chart["roles"], f"{path}: agents' roles needed"
		json.loads(chart.get("custom_options") or "{}")
	else:
		assert chart["chart_type"] in {"Count", "Sum", "Average", "Group By"}
		doctype = chart["document_type"]
		assert doctype in doctypes()
		assert_filters(chart["filters_json"], doctype, str(path))
		if chart.get("timeseries"):
			date_fields = {f["fieldname"] for f in doctypes()[doctype]["fields"] if f["fieldtype"] in ("Date", "Datetime")}
			assert chart["based_on"] in date_fields | {"creation", "modified"}, f"{path}: based_on is no date field"


@pytest.mark.parametrize(("path", "source"), SOURCES, ids=ids(SOURCES))
def test_chart_source_names_a_whitelisted_method(path, source):
	assert_standard(path, source, "Dashboard Chart Source", "source_name")
	script = path.with_suffix(".js").read_text()  # frappe's get_config reads <module>/dashboard_chart_source/x/x.js
	assert f'frappe.dashboards.chart_sources["{source["name"]}"]' in script
	methods = [line.split('"')[1] for line in script.splitlines() if line.strip().startswith("method:")]
	assert len(methods) == 1, f"{path}: one method"
	assert_method(methods[0], str(path))


def test_workspace_shows_every_card_and_chart_it_lists():
	content = json.loads(WORKSPACE["content"])
	shipped_cards = {doc["name"] for _path, doc in CARDS}
	shipped_charts = {doc["name"] for _path, doc in CHARTS}
	listed_cards = {row["number_card_name"] for row in WORKSPACE["number_cards"]}
	listed_charts = {row["chart_name"] for row in WORKSPACE["charts"]}
	# the desk finds a block's widget by the row's label (blocks/block.js), so a label must be the name
	for row in WORKSPACE["number_cards"] + WORKSPACE["charts"]:
		assert row["label"] == row.get("number_card_name", row.get("chart_name")), f"{row}: label differs from name"
	shown_cards = {block["data"]["number_card_name"] for block in content if block["type"] == "number_card"}
	shown_charts = {block["data"]["chart_name"] for block in content if block["type"] == "chart"}
	assert shown_cards == listed_cards == shipped_cards
	assert shown_charts == listed_charts == shipped_charts
	shortcuts = {row["label"]: row for row in WORKSPACE["shortcuts"]}
	shown_shortcuts = {block["data"]["shortcut_name"] for block in content if block["type"] == "shortcut"}
	assert shown_shortcuts <= set(shortcuts)
	assert {"Social Incident", "Social Service", "Social Broadcast"} <= shown_shortcuts
	for row in shortcuts.values():
		assert row["link_to"] in set(doctypes()) | HOST_DOCTYPES
		if row.get("stats_filter"):
			assert_filters(row["stats_filter"], row["link_to"], f"shortcut {row['label']}")
	assert len({block["id"] for block in content}) == len(content), "workspace block ids must be unique"


def measured_host_fields() -> tuple[str, ...]:
	"""incidents.measures.HOST_TICKET_FIELDS, read from the source (it imports frappe)."""
	constants, fields = {}, ()
	for node in ast.parse((APP / "incidents" / "measures.py").read_text()).body:
		if not isinstance(node, ast.Assign):
			continue
		target = node.targets[0]
		if isinstance(target, ast.Tuple):  # SUBJECT, DESCRIPTION, ... = "subject", "description", ...
			constants.update((t.id, ast.literal_eval(v)) for t, v in zip(target.elts, node.value.elts, strict=True))
		elif isinstance(target, ast.Name) and target.id == "HOST_TICKET_FIELDS":
			fields = tuple(constants.get(elt.id) for elt in node.value.elts)
	return fields


@pytest.mark.parametrize("ticket_doctype", list(HOST_FIELDS))
def test_measured_ticket_fields_exist_on_both_hosts(ticket_doctype):
	fields = measured_host_fields()
	assert fields and None not in fields
	for field in fields:
		assert field in HOST_FIELDS[ticket_doctype] | MEASURED_HOST_FIELDS, f"{ticket_doctype}.{field} is not known"
	custom = {doc.get("fieldname") for doc in fixture_docs() if doc["doctype"] == "Custom Field" and doc["dt"] == ticket_doctype}
	assert "social_post" in custom, f"{ticket_doctype} gets no social_post field from our fixtures"
	host_json = BENCH / "apps" / HOST_DOCTYPE_JSON[ticket_doctype]
	if host_json.exists():
		host_fields = {f["fieldname"] for f in json.loads(host_json.read_text())["fields"]}
		assert set(fields) <= host_fields, f"{ticket_doctype} lacks {set(fields) - host_fields}"
