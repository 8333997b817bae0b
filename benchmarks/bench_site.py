"""Ingest and scheduler figures inside a real site (run with the bench's Python).

    cd /opt/frappe-bench/sites
    ../env/bin/python /path/to/social_itsm_app/benchmarks/bench_site.py --site social-itsm-test.localhost

Prints, as ratios to the issue's targets:
* posts stored and triaged per second on one process (batches of 100, committed like the fetch job does),
  side by side with the host's own inbound-mail path (raw messages handed to frappe's InboundMail, which
  creates one HD Ticket per message; no mail server involved); target: at least 5x the host's rate;
* the scheduler tick with 1,000 channels of which none is due: time and number of queries;
  target: at most 50 ms and one query.
Everything it creates is deleted again.
"""

from __future__ import annotations

import argparse
import time
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

import frappe
from _common import corpus, ratio
from frappe.utils import add_to_date, now_datetime

from social_itsm_app.ingest import jobs
from social_itsm_app.ingest.store import store_posts

CHANNEL = "Benchmark Mastodon"
PREFIX = "bench-tick-"


def ingest_rate(count: int, batch: int = 100) -> float:
	frappe.get_doc({"doctype": "Social Channel", "channel_name": CHANNEL, "network": "Mastodon",
		"base_url": "https://bench.example", "access_token": "x"}).insert(ignore_permissions=True)
	frappe.db.commit()
	posts = corpus(count, seed=int(time.time()))
	for i, post in enumerate(posts):
		post.external_id = f"bench-{time.time_ns()}-{i}"
	start = time.perf_counter()
	for offset in range(0, count, batch):
		store_posts(CHANNEL, "Mastodon", posts[offset : offset + batch])
		frappe.db.commit()
	elapsed = time.perf_counter() - start
	print(f"social posts stored and triaged: {count / elapsed:,.0f}/s ({count:,} in {elapsed:.2f} s, batches of {batch})")
	return count / elapsed


def raw_email(i: int) -> bytes:
	message = EmailMessage()
	message["From"] = f"Customer {i} <customer{i}@example.com>"
	message["To"] = "support-bench@example.com"
	message["Subject"] = f"VPN is down for our office #{i}"
	message["Message-ID"] = make_msgid(domain="bench.example")
	message["Date"] = format_datetime(now_datetime().astimezone())
	message.set_content("Hi, the VPN has been down since this morning. Nobody can log in. Please help!")
	return message.as_bytes()


def inbound_mail_rate(count: int) -> float:
	from frappe.email.receive import InboundMail

	account = frappe.get_doc({
		"doctype": "Email Account", "email_account_name": "Benchmark Inbox", "email_id": "support-bench@example.com",
		"enable_incoming": 0, "enable_outgoing": 0, "append_to": "HD Ticket", "no_smtp_authentication": 1,
	})
	account.flags.ignore_validate = True
	account.insert(ignore_permissions=True)
	frappe.db.commit()
	messages = [raw_email(i) for i in range(count)]
	start = time.perf_counter()
	for raw in messages:
		InboundMail(raw, account, append_to="HD Ticket").process()
		frappe.db.commit()  # EmailAccount.receive commits per message too
	elapsed = time.perf_counter() - start
	print(f"host inbound mail -> HD Ticket:    {count / elapsed:,.0f}/s ({count:,} in {elapsed:.2f} s)")
	return count / elapsed


def scheduler_tick(channels: int = 1000) -> tuple[float, int]:
	later = add_to_date(now_datetime(), hours=1)
	now = now_datetime()
	rows = [(f"{PREFIX}{i}", now, now, "Administrator", "Administrator", f"{PREFIX}{i}", "Feed", 1, "Active", 5, later)
		for i in range(channels)]
	frappe.db.bulk_insert("Social Channel", ["name", "creation", "modified", "owner", "modified_by", "channel_name",
		"network", "enabled", "status", "poll_interval", "next_fetch_at"], rows)
	frappe.db.commit()
	queries = []
	original = frappe.db.sql

	def counting_sql(query, *args, **kwargs):
		queries.append(str(query))
		return original(query, *args, **kwargs)

	best = float("inf")
	for _ in range(20):
		queries.clear()
		frappe.db.sql = counting_sql
		try:
			start = time.perf_counter()
			jobs.enqueue_due_channels()
			best = min(best, time.perf_counter() - start)
		finally:
			frappe.db.sql = original
	print(f"scheduler tick, {channels:,} channels, none due: {best * 1000:.1f} ms, {len(queries)} queries")
	return best, len(queries)


def cleanup() -> None:
	frappe.db.rollback()
	frappe.db.delete("Social Post", {"channel": CHANNEL})
	frappe.db.delete("Social Channel", {"name": ("like", f"{PREFIX}%")})
	frappe.db.delete("Social Channel", {"name": CHANNEL})
	for ticket in frappe.get_all("HD Ticket", filters={"raised_by": ("like", "customer%@example.com")}, pluck="name"):
		frappe.db.delete("Communication", {"reference_doctype": "HD Ticket", "reference_name": ticket})
		frappe.delete_doc("HD Ticket", ticket, force=True, ignore_permissions=True)
	frappe.db.delete("Email Account", {"name": "Benchmark Inbox"})
	frappe.db.commit()


def main() -> None:
	parser = argparse.ArgumentParser()
	parser.add_argument("--site", required=True)
	parser.add_argument("--sites-path", default=".")
	parser.add_argument("--posts", type=int, default=5000)
	parser.add_argument("--mails", type=int, default=300)
	args = parser.parse_args()
	frappe.init(site=args.site, sites_path=args.sites_path)
	frappe.connect()
	frappe.set_user("Administrator")
	try:
		cleanup()
		posts = ingest_rate(args.posts)
		if "helpdesk" in frappe.get_installed_apps():
			mails = inbound_mail_rate(args.mails)
			ratio("posts/s vs 5x the host's mails/s", posts, 5 * mails)
		tick, queries = scheduler_tick()
		ratio("tick time vs 50 ms", tick, 0.050, higher_is_better=False)
		print(f"  tick queries: {queries} (target 1)")
	finally:
		cleanup()
		frappe.destroy()


if __name__ == "__main__":
	main()
