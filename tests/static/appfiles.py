"""Reading the app's own files without importing frappe: doctype JSON, hooks, fixtures."""

from __future__ import annotations

import ast
import json
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "social_itsm_app"

# Doctypes our Links may point at besides our own: frappe core and the two hosts.
HOST_DOCTYPES = {
	"DocType", "User", "Role", "Contact", "Communication", "File", "Module Def",
	"HD Ticket", "HD Ticket Priority", "HD Ticket Type", "HD Team", "HD Customer", "HD Form Script",
	"HD Ticket Template", "Issue", "Issue Priority", "Issue Type", "Customer",
}
# Fields of the hosts' ticket doctypes that our custom fields may be placed after.
HOST_FIELDS = {
	"HD Ticket": {"subject", "raised_by", "status", "priority", "ticket_type", "agent_group", "description", "template"},
	"Issue": {"subject", "raised_by", "status", "priority", "issue_type", "description", "customer"},
}
FIELDTYPES = {
	"Autocomplete", "Attach", "Attach Image", "Barcode", "Button", "Check", "Code", "Color", "Column Break",
	"Currency", "Data", "Date", "Datetime", "Duration", "Dynamic Link", "Float", "Fold", "Geolocation",
	"Heading", "HTML", "HTML Editor", "Icon", "Image", "Int", "JSON", "Link", "Long Text", "Markdown Editor",
	"Password", "Percent", "Phone", "Read Only", "Rating", "Section Break", "Select", "Signature", "Small Text",
	"Tab Break", "Table", "Table MultiSelect", "Text", "Text Editor", "Time",
}
NO_VALUE = {"Section Break", "Column Break", "Tab Break", "HTML", "Button", "Fold", "Heading", "Image"}


def modules() -> list[str]:
	return [line.strip() for line in (APP / "modules.txt").read_text().splitlines() if line.strip()]


def scrub(name: str) -> str:
	return name.replace(" ", "_").replace("-", "_").lower()


@cache
def doctype_files() -> dict[str, Path]:
	return {
		path.stem: path
		for module in modules()
		for path in (APP / scrub(module) / "doctype").glob("*/*.json")
		if path.parent.name == path.stem
	}


@cache
def doctypes() -> dict[str, dict]:
	loaded = {}
	for path in doctype_files().values():
		data = json.loads(path.read_text())
		loaded[data["name"]] = data
	return loaded


def hooks_tree() -> ast.Module:
	return ast.parse((APP / "hooks.py").read_text())


def hook_values() -> dict[str, object]:
	"""Top-level literal assignments of hooks.py (it must stay literal, so bench can read it cheaply)."""
	values = {}
	for node in hooks_tree().body:
		if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
			values[node.targets[0].id] = ast.literal_eval(node.value)
	return values


def module_file(dotted_module: str) -> Path | None:
	"""The file of a module of this app ("social_itsm_app.x.y"), or None if there is none."""
	base = ROOT.joinpath(*dotted_module.split("."))
	path = base.with_suffix(".py") if base.with_suffix(".py").exists() else base / "__init__.py"
	return path if path.exists() else None


def module_functions(dotted_module: str, functions_only: bool = False) -> set[str] | None:
	"""Names defined at the top of a module of this app (functions, classes, assignments), or None if absent.

	``functions_only``: just the functions (what a job or a hook may name)."""
	path = module_file(dotted_module)
	if path is None:
		return None
	names = set()
	for node in ast.parse(path.read_text()).body:
		if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
			names.add(node.name)
		elif functions_only:
			continue
		elif isinstance(node, ast.ClassDef):
			names.add(node.name)
		elif isinstance(node, ast.Assign):
			names.update(t.id for t in node.targets if isinstance(t, ast.Name))
		elif isinstance(node, ast.ImportFrom):
			names.update(alias.asname or alias.name for alias in node.names)
	return names


def dotted_paths(value: object, key: str = "") -> list[tuple[str, str]]:
	"""Every string in a hook value that names app code ("social_itsm_app.x.y"), with where it was found."""
	found = []
	if isinstance(value, str) and value.startswith("social_itsm_app.") and not value.endswith((".js", ".css")):
		found.append((key, value))
	elif isinstance(value, dict):
		for k, v in value.items():
			found += dotted_paths(v, f"{key}[{k!r}]")
	elif isinstance(value, list | tuple):
		for i, v in enumerate(value):
			found += dotted_paths(v, f"{key}[{i}]")
	return found


def fixture_docs() -> list[dict]:
	docs = []
	for path in sorted((APP / "fixtures").glob("*.json")):
		data = json.loads(path.read_text())
		docs += data if isinstance(data, list) else [data]
	return docs
