"""Guests reach one method of the app: the webhook endpoint, which trusts nothing it has not verified.

Read from the source with ``ast``: every ``@frappe.whitelist(...)`` that allows guests, anywhere in the app, and
the hooks that could open another door (overridden whitelisted methods, website pages).
"""

from __future__ import annotations

import ast

from tests.static.appfiles import APP, hook_values

ENDPOINT = "social_itsm_app.api.webhook.receive"


def whitelisted() -> dict[str, dict[str, object]]:
	"""dotted name -> the keyword arguments of its @frappe.whitelist(...) (literals only)."""
	found = {}
	for path in sorted(APP.rglob("*.py")):
		module = ".".join(path.relative_to(APP.parent).with_suffix("").parts)
		for node in ast.walk(ast.parse(path.read_text(), str(path))):
			if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
				continue
			for decorator in node.decorator_list:
				call = decorator if isinstance(decorator, ast.Call) else None
				target = call.func if call else decorator
				if isinstance(target, ast.Attribute) and target.attr == "whitelist":
					found[f"{module}.{node.name}"] = {
						k.arg: literal(k.value) for k in (call.keywords if call else [])
					}
	return found


def literal(node: ast.expr) -> object:
	"""A keyword's literal value; anything computed counts as "allowed" (a guest door we cannot read)."""
	try:
		return ast.literal_eval(node)
	except ValueError:
		return "<computed>"


def test_the_webhook_endpoint_is_the_only_guest_method():
	methods = whitelisted()
	guests = {name for name, options in methods.items() if options.get("allow_guest") not in (None, False)}
	assert guests == {ENDPOINT}
	# GET is Meta's subscription handshake; nothing else.
	assert sorted(methods[ENDPOINT]["methods"]) == ["GET", "POST"]


def test_no_hook_opens_another_guest_door():
	hooks = hook_values()
	assert not hooks.get("override_whitelisted_methods")
	assert not hooks.get("website_route_rules")
	assert not list((APP / "www").rglob("*.py")) and not list((APP / "www").rglob("*.html"))


def test_the_endpoint_refuses_before_it_parses():
	"""In receive(), the signature check comes before the body is parsed or anything is queued."""
	source = (APP / "api" / "webhook.py").read_text()
	body = source[source.index("def receive("):source.index("def answer(")]
	order = ["find_target(", "check_content_length(", "limit_rate(", "verify_delivery(", "parse_delivery(",
		"remember(", "enqueue("]
	positions = [body.index(needle) for needle in order]
	assert positions == sorted(positions), order
