"""One direction between the app's layers, read from the source with ``ast`` (nothing is imported or run).

A package may import its own layer's packages only where the table allows it, and any lower layer; never a
higher one. Feature packages hand work to each other through queued jobs named by dotted path
(``frappe.enqueue("social_itsm_app.tickets.jobs.take_over_posts", ...)``), which these checks resolve too.

    layer      packages                                           may also import (same layer)
    core       connectors, triage, scheduling, hosts, content,    triage -> connectors, triage -> statuses,
               statuses (pure Python: never frappe)               content -> connectors
    helpers    utils, permissions, queues (which Redis queue a    (none)
               kind of job goes on, from the settings)
    shared     channels, people                                   (none)
    models     social_itsm (the doctype controllers)              (none)
    features   ingest, tickets, replies, privacy, incidents       tickets -> replies (the acknowledgement),
                                                                  ingest -> incidents (detection while storing),
                                                                  incidents -> tickets, replies (parent ticket,
                                                                  answers to reporters)
    entry      api, commands, install, patches, hooks, ...        install -> privacy
    tests      tests (the in-site tests: may import everything;   (none)
               nothing imports them)

Lazy imports inside functions count: a cycle that only exists at run time is still a cycle.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

from tests.static.appfiles import APP, module_functions

LAYERS: dict[str, tuple[str, ...]] = {
	"core": ("connectors", "triage", "scheduling", "hosts", "content", "statuses"),
	"helpers": ("utils", "permissions", "queues"),
	"shared": ("channels", "people"),
	"models": ("social_itsm",),
	"features": ("ingest", "tickets", "replies", "privacy", "incidents"),
	"entry": ("api", "commands", "install", "patches", "hooks", "config", "templates", "www", "fixtures", "public"),
	"tests": ("tests",),
}
SAME_LAYER: set[tuple[str, str]] = {
	("triage", "connectors"),
	("triage", "statuses"),
	("content", "connectors"),
	("tickets", "replies"),  # convert.acknowledge queues the auto-reply; replies never imports tickets
	("install", "privacy"),
	("ingest", "incidents"),  # the store asks the detector about each batch; incidents never imports ingest
	("incidents", "tickets"),  # confirming opens the parent ticket
	("incidents", "replies"),  # broadcasts answer reporters through the reply path
}
# Modules that must stay pure inside packages that use frappe elsewhere (tier-1 tests import them bare).
PURE_MODULES = ("social_itsm_app.channels.config", "social_itsm_app.replies.state")
RANK = {package: rank for rank, packages in enumerate(LAYERS.values()) for package in packages}
CORE = set(LAYERS["core"])


def module_name(path: Path) -> str:
	parts = path.relative_to(APP.parent).with_suffix("").parts
	return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_of(module: str) -> str:
	"""The app's top-level package or module a dotted name belongs to ("social_itsm_app.ingest.jobs" -> "ingest")."""
	parts = module.split(".")
	return parts[1] if len(parts) > 1 else ""


@cache
def sources() -> dict[str, Path]:
	return {module_name(path): path for path in sorted(APP.rglob("*.py"))}


@cache
def imports() -> dict[str, set[str]]:
	"""module -> every module it imports, anywhere in the file (top level, functions, TYPE_CHECKING blocks)."""
	known = sources()
	found: dict[str, set[str]] = {}
	for module, path in known.items():
		names: set[str] = set()
		package = module if path.name == "__init__.py" else module.rpartition(".")[0]
		for node in ast.walk(ast.parse(path.read_text(), str(path))):
			if isinstance(node, ast.Import):
				names.update(alias.name for alias in node.names)
			elif isinstance(node, ast.ImportFrom):
				base = node.module or ""
				if node.level:
					base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
				names.add(base)
				# "from package import module" imports the module
				names.update(f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in known)
		found[module] = names
	return found


def app_edges() -> dict[str, set[str]]:
	"""package -> the app's other packages it imports."""
	edges: dict[str, set[str]] = {}
	for module, names in imports().items():
		source = package_of(module)
		for name in names:
			if name.startswith("social_itsm_app.") and package_of(name) != source:
				edges.setdefault(source, set()).add(package_of(name))
	return edges


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
	"""Every strongly connected group of more than one node (Tarjan), each sorted."""
	index: dict[str, int] = {}
	low: dict[str, int] = {}
	stack: list[str] = []
	on_stack: set[str] = set()
	groups: list[list[str]] = []

	def visit(node: str) -> None:
		index[node] = low[node] = len(index)
		stack.append(node)
		on_stack.add(node)
		for target in graph.get(node, ()):
			if target not in index:
				visit(target)
				low[node] = min(low[node], low[target])
			elif target in on_stack:
				low[node] = min(low[node], index[target])
		if low[node] == index[node]:
			group = []
			while True:
				member = stack.pop()
				on_stack.discard(member)
				group.append(member)
				if member == node:
					break
			if len(group) > 1 or node in graph.get(node, ()):
				groups.append(sorted(group))

	for node in sorted(graph):
		if node not in index:
			visit(node)
	return groups


def test_cycles_are_found():
	assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
	assert cycles({"a": {"b"}, "b": set()}) == []


def test_every_package_has_a_layer():
	packages = {package_of(module) for module in sources()} - {""}
	assert packages <= set(RANK), f"give these a row in LAYERS: {sorted(packages - set(RANK))}"


def test_no_cycle_between_packages():
	assert cycles(app_edges()) == []


def test_no_cycle_between_modules():
	"""Within a package too (connectors/http.py and connectors/base.py once imported each other lazily)."""
	known = set(sources())
	graph = {module: {name for name in names if name in known and name != module} for module, names in imports().items()}
	# A package's __init__ re-exporting its own modules is not a cycle: importing a submodule runs it first.
	for module in graph:
		graph[module] = {name for name in graph[module] if not module.startswith(name + ".")}
	assert cycles(graph) == []


def test_imports_point_down_the_layers():
	wrong = []
	for source, targets in sorted(app_edges().items()):
		for target in sorted(targets):
			if RANK[target] > RANK[source] or (RANK[target] == RANK[source] and (source, target) not in SAME_LAYER):
				wrong.append(f"{source} -> {target}")
	assert wrong == [], "see the table in this module's docstring"


def test_core_is_pure():
	"""Core packages run without a site: no frappe, and nothing from a Frappe-side package."""
	wrong = []
	for module, names in imports().items():
		if package_of(module) not in CORE and module not in PURE_MODULES:
			continue
		wrong += [f"{module} imports {name}" for name in sorted(names) if name == "frappe" or name.startswith("frappe.")]
		wrong += [
			f"{module} imports {name}" for name in sorted(names)
			if name.startswith("social_itsm_app.") and package_of(name) not in CORE
		]
	assert wrong == []


def enqueued_paths() -> list[tuple[str, str | None]]:
	"""(where, dotted path) for every frappe.enqueue(...) in the app; None when the method is not a literal path."""
	found = []
	for module, path in sources().items():
		tree = ast.parse(path.read_text(), str(path))
		constants = {
			target.id: node.value.value
			for node in tree.body if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
			for target in node.targets if isinstance(target, ast.Name)
		}
		for node in ast.walk(tree):
			if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "enqueue"):
				continue
			if not (isinstance(node.func.value, ast.Name) and node.func.value.id == "frappe"):
				continue
			method = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "method"), None)
			value = None
			if isinstance(method, ast.Constant):
				value = method.value
			elif isinstance(method, ast.Name):
				value = constants.get(method.id)
			found.append((f"{module}:{node.lineno}", value))
	return found


def test_the_app_enqueues_jobs():
	assert len(enqueued_paths()) >= 5


@pytest.mark.parametrize(("where", "path"), enqueued_paths())
def test_every_enqueued_path_resolves_to_a_function(where, path):
	assert isinstance(path, str) and path.startswith("social_itsm_app."), (
		f"{where}: enqueue a dotted path string (or a module constant holding one), so it can be checked here"
	)
	module, _, function = path.rpartition(".")
	names = module_functions(module, functions_only=True)
	assert names is not None, f"{where}: module {module} does not exist"
	assert function in names, f"{where}: {module} has no function {function}"
