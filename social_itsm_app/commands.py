"""bench commands: `bench --site SITE social-itsm fetch [--channel NAME]`."""

from __future__ import annotations

import click
from frappe.commands import get_site, pass_context


@click.group("social-itsm")
def social_itsm():
	"""Social ITSM tools."""


@social_itsm.command("fetch")
@click.option("--channel", help="Fetch only this channel (default: every enabled channel).")
@pass_context
def fetch(context, channel=None):
	"""Fetch channels now, in this process, and print what each fetch stored."""
	import frappe

	from social_itsm_app.channels.config import PUSH, PUSHED_NETWORKS
	from social_itsm_app.ingest.jobs import fetch_channel

	site = get_site(context)
	frappe.init(site=site)
	frappe.connect()
	try:
		names = [channel] if channel else frappe.get_all(
			"Social Channel", filters={"enabled": 1, "network": ("not in", PUSHED_NETWORKS), "intake_mode": ("!=", PUSH)},
			pluck="name",
		)
		for name in names:
			summary = fetch_channel(name, user_requested=True)
			click.echo(
				f"{name}: {summary['status']}"
				+ (f", {summary['stored']} new, {summary['duplicates']} already stored, {summary['duration_ms']} ms"
					if summary["status"] == "ok" else f" ({summary.get('error')})")
			)
	finally:
		frappe.destroy()


commands = [social_itsm]
