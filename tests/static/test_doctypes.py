"""Doctype JSON must be what a real site would accept: a broken file breaks install or migrate."""

from __future__ import annotations

import ast

import pytest

from tests.static.appfiles import (
	APP,
	FIELDTYPES,
	HOST_DOCTYPES,
	NO_VALUE,
	doctype_files,
	doctypes,
	modules,
	scrub,
)

EXPECTED = {
	"Social ITSM Settings", "Social Channel", "Social Listening Rule", "Social Listening Rule Channel",
	"Social Post", "Social Reply", "Social Reply Part", "Social Identity",
	"Social Service", "Social Incident", "Social Incident Ticket", "Social Broadcast", "Social Broadcast Channel",
}
NAMES = sorted(EXPECTED)


def test_every_expected_doctype_is_there():
	assert set(doctypes()) == EXPECTED


@pytest.mark.parametrize("name", NAMES)
def test_file_layout_and_module(name):
	data = doctypes()[name]
	path = doctype_files()[scrub(name)]
	assert data["doctype"] == "DocType"
	assert data["module"] in modules()
	assert path.parent.parent.parent == APP / scrub(data["module"])
	assert (path.parent / "__init__.py").exists()
	controller = path.with_suffix(".py")
	assert controller.exists(), f"{name} has no controller"
	classes = [n.name for n in ast.parse(controller.read_text()).body if isinstance(n, ast.ClassDef)]
	assert name.replace(" ", "") in classes


@pytest.mark.parametrize("name", NAMES)
def test_fields_are_consistent(name):
	data = doctypes()[name]
	fields = data["fields"]
	names = [f["fieldname"] for f in fields]
	assert len(names) == len(set(names)), "duplicate fieldnames"
	assert data["field_order"] == names
	by_name = {f["fieldname"]: f for f in fields}
	for field in fields:
		assert field["fieldtype"] in FIELDTYPES, field
		assert field["fieldname"].isidentifier() and field["fieldname"].islower()
		if field["fieldtype"] not in NO_VALUE:
			assert field.get("label"), f"{field['fieldname']} has no label"
		if field["fieldtype"] in ("Link", "Table", "Table MultiSelect"):
			assert field.get("options") in EXPECTED | HOST_DOCTYPES, field
		if field["fieldtype"] in ("Table", "Table MultiSelect"):
			assert doctypes()[field["options"]].get("istable") == 1
		if field["fieldtype"] == "Dynamic Link":
			target = by_name[field["options"]]
			assert target["fieldtype"] == "Link" and target["options"] == "DocType", field
		if field["fieldtype"] == "Select" and field.get("default"):
			assert field["default"] in field["options"].split("\n"), field
		if field["fieldtype"] == "Password":
			assert not field.get("in_list_view") and not field.get("in_standard_filter")
	for key in ("title_field", "sort_field"):
		if data.get(key) and data[key] not in ("modified", "creation", "name"):
			assert data[key] in by_name, f"{key} points at a missing field"
	if str(data.get("autoname", "")).startswith("field:"):
		assert by_name[data["autoname"][6:]].get("unique") == 1


@pytest.mark.parametrize("name", NAMES)
def test_permissions(name):
	data = doctypes()[name]
	if data.get("istable"):
		assert not data["permissions"]
		return
	roles = {perm["role"]: perm for perm in data["permissions"]}
	assert roles["System Manager"]["read"] == 1
	# Nobody but managers and agents: no Guest, no All, no website roles.
	assert set(roles) <= {"System Manager", "Agent", "Agent Manager", "Support Team", "Social Publisher"}
	if name in ("Social Channel", "Social Listening Rule", "Social ITSM Settings"):
		for role, perm in roles.items():
			if role != "System Manager":
				assert not perm.get("write") and not perm.get("create") and not perm.get("delete"), role


def test_credentials_are_password_fields():
	channel = {f["fieldname"]: f for f in doctypes()["Social Channel"]["fields"]}
	for secret in ("access_token", "refresh_token", "client_secret", "account_password", "webhook_secret", "connector_state"):
		assert channel[secret]["fieldtype"] == "Password"


def test_post_has_what_agents_and_jobs_need():
	post = {f["fieldname"]: f for f in doctypes()["Social Post"]["fields"]}
	for fieldname in ("channel", "network", "external_id", "url", "author_id", "author_handle", "author_name", "text",
		"posted_at", "kind", "thread_id", "in_reply_to_id", "language", "sentiment", "urgency", "matched_rule",
		"status", "ticket_doctype", "ticket", "raw"):
		assert fieldname in post
	assert post["status"]["options"].split("\n") == ["New", "Converted", "Linked", "Ignored", "Spam"]
	controller = (doctype_files()["social_post"].with_suffix(".py")).read_text()
	assert 'add_unique("Social Post", ("channel", "external_id")' in controller
