"""Twicket figures inside a real site with Helpdesk or ERPNext (run with the bench's Python).

    cd /opt/frappe-bench/sites
    ../env/bin/python /path/to/social_itsm_app/benchmarks/bench_twicket.py --site social-itsm-test.localhost

Prints conversions per second with p50/p99 latency (targets: p50 <= 50 ms, p99 <= 200 ms), and replies
queued-to-sent through the real Mastodon connector against a local fake Mastodon on loopback (127.0.0.1),
sent by the same job a worker runs. Everything it creates is deleted again.
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import frappe
from _common import corpus, ratio

from social_itsm_app.ingest.store import store_posts
from social_itsm_app.replies import outbound
from social_itsm_app.tickets.adapters import configured_adapter
from social_itsm_app.tickets.convert import convert_post

CHANNEL = "Benchmark Twicket"


class FakeMastodon(BaseHTTPRequestHandler):
	"""Answers POST /api/v1/statuses like Mastodon does, with a fresh status id each time."""

	counter = 0

	def do_POST(self):  # noqa: N802 (http.server's naming)
		self.rfile.read(int(self.headers.get("Content-Length") or 0))
		FakeMastodon.counter += 1
		status_id = str(1135000000000000000 + FakeMastodon.counter)
		body = json.dumps({"id": status_id, "url": f"http://127.0.0.1/@acme/{status_id}", "content": "<p>ok</p>",
			"created_at": datetime.now(timezone.utc).isoformat(), "account": {"id": "1", "acct": "acme"}}).encode()
		self.send_response(200)
		self.send_header("Content-Type", "application/json")
		self.send_header("Content-Length", str(len(body)))
		self.end_headers()
		self.wfile.write(body)

	def log_message(self, *args):
		pass


def ticket_doctype() -> str:
	"""HD Ticket or Issue: whichever the site's Social ITSM Settings convert to."""
	return configured_adapter().doctype


def percentile(values: list[float], share: float) -> float:
	ordered = sorted(values)
	return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def conversions(count: int) -> None:
	posts = corpus(count, seed=int(time.time()))
	for i, post in enumerate(posts):
		post.external_id = f"bench-twicket-{time.time_ns()}-{i}"
		post.author_id = f"bench-author-{i % 50}"
	store_posts(CHANNEL, "Mastodon", posts)
	frappe.db.commit()
	names = frappe.get_all("Social Post", filters={"channel": CHANNEL, "status": ("in", ["New", "Spam"])}, pluck="name")
	frappe.db.set_value("Social Post", {"name": ("in", names)}, "status", "New")
	frappe.db.commit()
	latencies = []
	start = time.perf_counter()
	for name in names:
		began = time.perf_counter()
		convert_post(name)
		frappe.db.commit()
		latencies.append((time.perf_counter() - began) * 1000)
	elapsed = time.perf_counter() - start
	p50, p99 = statistics.median(latencies), percentile(latencies, 0.99)
	print(f"conversions to {ticket_doctype()}: {len(names) / elapsed:,.1f}/s over {len(names)} posts; p50 {p50:.1f} ms, p99 {p99:.1f} ms")
	ratio("p50 vs 50 ms", p50, 50, higher_is_better=False)
	ratio("p99 vs 200 ms", p99, 200, higher_is_better=False)
	host = host_baseline(min(len(names), 100))
	print(f"the host's own ticket with its first message (no Social ITSM code): p50 {host:.1f} ms; "
		f"a conversion costs {p50 / host:.2f}x that")


def host_baseline(count: int) -> float:
	"""p50 of what the host itself does for a new ticket with a first message from the customer: Helpdesk's
	insert with a description (its portal path), ERPNext's Issue plus a received Communication (its mail
	intake). The conversion cannot be faster than this; the ratio shows what the app adds on top."""
	doctype = ticket_doctype()
	latencies = []
	for i in range(count):
		began = time.perf_counter()
		ticket = frappe.get_doc({"doctype": doctype, "subject": f"Host baseline {i}", "raised_by": f"customer{i}@example.com",
			"social_channel": CHANNEL, **({"description": "<p>The checkout fails</p>"} if doctype == "HD Ticket" else {})})
		ticket.insert(ignore_permissions=True)
		if doctype != "HD Ticket":
			frappe.get_doc({"doctype": "Communication", "communication_type": "Communication", "communication_medium": "Email",
				"sent_or_received": "Received", "sender": ticket.raised_by, "subject": ticket.subject,
				"content": "<p>The checkout fails</p>", "reference_doctype": doctype, "reference_name": ticket.name,
				"status": "Linked"}).insert(ignore_permissions=True)
		frappe.db.commit()
		latencies.append((time.perf_counter() - began) * 1000)
	return statistics.median(latencies)


def replies(count: int, port: int) -> None:
	doctype = ticket_doctype()
	tickets = frappe.get_all(doctype, filters={"social_channel": CHANNEL, "social_post": ("is", "set")}, pluck="name", limit=count)
	latencies = []
	start = time.perf_counter()
	for ticket in tickets:
		began = time.perf_counter()
		reply = outbound.queue_reply(doctype, ticket, "We restarted the service; please try again.")
		frappe.db.commit()
		status = outbound.send_reply(reply)
		latencies.append((time.perf_counter() - began) * 1000)
		assert status == "Sent", (reply, status, frappe.db.get_value("Social Reply", reply, "last_error"))
	elapsed = time.perf_counter() - start
	print(f"replies queued-to-sent (fake Mastodon on 127.0.0.1:{port}): {len(tickets) / elapsed:,.1f}/s; "
		f"p50 {statistics.median(latencies):.1f} ms, p99 {percentile(latencies, 0.99):.1f} ms; "
		f"{FakeMastodon.counter} POSTs for {len(tickets)} replies")


def cleanup() -> None:
	frappe.db.rollback()
	doctype = ticket_doctype()
	# in_test: frappe unlinks a deleted doc's references now instead of in a worker job, which would race
	# (and deadlock with) the next measured run on a bench whose worker is running.
	frappe.flags.in_test = True
	try:
		for ticket in frappe.get_all(doctype, filters={"social_channel": CHANNEL}, pluck="name"):
			frappe.db.delete("Communication", {"reference_doctype": doctype, "reference_name": ticket})
			if doctype == "HD Ticket":
				frappe.db.delete("HD Ticket Comment", {"reference_ticket": ticket})
			frappe.delete_doc(doctype, ticket, force=True, ignore_permissions=True)
	finally:
		frappe.flags.in_test = False
	frappe.db.delete("Social Reply", {"channel": CHANNEL})
	frappe.db.delete("Social Post", {"channel": CHANNEL})
	frappe.db.delete("Social Channel", {"name": CHANNEL})
	frappe.db.commit()


def main() -> None:
	parser = argparse.ArgumentParser()
	parser.add_argument("--site", required=True)
	parser.add_argument("--sites-path", default=".")
	parser.add_argument("--posts", type=int, default=300)
	parser.add_argument("--replies", type=int, default=100)
	args = parser.parse_args()
	server = ThreadingHTTPServer(("127.0.0.1", 0), FakeMastodon)
	threading.Thread(target=server.serve_forever, daemon=True).start()
	port = server.server_address[1]
	frappe.init(site=args.site, sites_path=args.sites_path)
	frappe.connect()
	frappe.set_user("Administrator")
	try:
		cleanup()
		frappe.get_doc({"doctype": "Social Channel", "channel_name": CHANNEL, "network": "Mastodon",
			"base_url": f"http://127.0.0.1:{port}", "access_token": "bench",
			"enabled": 0}).insert(ignore_permissions=True)  # not polled by a running scheduler: replies only
		frappe.db.commit()
		conversions(args.posts)
		replies(args.replies, port)
	finally:
		cleanup()
		frappe.destroy()
		server.shutdown()


if __name__ == "__main__":
	main()
