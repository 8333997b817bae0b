"""Push intake figures through a real web server and a real worker (issue 14's targets).

    python benchmarks/bench_webhook.py --site dev.localhost

Run with any Python: without frappe importable it runs itself again with the bench's Python from the bench's sites
folder (the bench at $SOCIAL_ITSM_BENCH, default /opt/frappe-bench); without a bench there it says so and skips.

(a) Accepted deliveries per second on ONE web worker, storage queued: gunicorn with one worker (``-w 1 --threads
    N``, frappe.app:application, from the sites folder; ``bench serve`` where the bench has no gunicorn) serves a
    generic signed webhook channel; ``--clients`` client processes, each with one keep-alive connection, send
    pre-signed deliveries (one post each, distinct delivery ids, so every one passes the replay check, and
    timestamps of now), back to back. Only 200 answers count; p50/p99 answer time and every other status are
    printed. Nothing takes the queued storage jobs in (a): they are counted and dropped. Target: >= 500/s.
(b) From sending a delivery to its post stored and triaged, with a real ``bench worker`` on the queue the endpoint
    queues to: deliveries paced at ``--pace`` per second; this process polls the database for the posts' external
    ids (a committed row with its triage) and takes the moment it sees each. Target: p50 <= 1 s.

The run uses a queue of its own (``social_bench_webhook``, declared in common_site_config.json and named as the
fetch queue in Social ITSM Settings) and raises the channel rate limit (site_config
``social_itsm_webhook_rate_limit``, default 1,000 per 10 s per channel) so that (a) measures the endpoint, not the
limit. Everything is put back afterwards: the settings, both config files, the channel with its posts and logs, the
identities and Contacts of the senders, incidents the posts opened, the early-warning detector's Redis state, the
queue's jobs; the web server and the worker are stopped.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

BENCH = Path(os.environ.get("SOCIAL_ITSM_BENCH", "/opt/frappe-bench"))


def run_in_bench() -> None:
	"""Without frappe here: run again with the bench's Python from its sites folder, or skip with the reason."""
	try:
		import frappe  # noqa: F401
	except ImportError:
		python = BENCH / "env" / "bin" / "python"
		if not python.exists():
			print(f"skipped: no Frappe bench at {BENCH} (set SOCIAL_ITSM_BENCH to use another path)")
			sys.exit(0)
		os.chdir(BENCH / "sites")
		os.execv(str(python), [str(python), str(Path(__file__).resolve()), *sys.argv[1:]])


if __name__ == "__main__":
	run_in_bench()

import argparse  # noqa: E402
import http.client  # noqa: E402
import json  # noqa: E402
import multiprocessing  # noqa: E402
import re  # noqa: E402
import secrets  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import zlib  # noqa: E402
from collections import Counter  # noqa: E402
from datetime import datetime  # noqa: E402

import frappe  # noqa: E402
import psutil  # noqa: E402
from _common import corpus, ratio  # noqa: E402
from bench_workers import (  # noqa: E402
	declare_queue,
	set_fetch_queue,
	start_workers,
	stop_workers,
	undeclare_queue,
	wait_for_workers,
)
from frappe.installer import update_site_config  # noqa: E402
from frappe.utils import now_datetime  # noqa: E402

from social_itsm_app.api.webhook import RECEIVE  # noqa: E402
from social_itsm_app.connectors.webhooks import REPLAY_WINDOW, sign_generic  # noqa: E402
from social_itsm_app.ingest.jobs import spam_guard_key  # noqa: E402
from social_itsm_app.people.identities import synthetic_email  # noqa: E402
from social_itsm_app.queues import FETCH, FIELDS, SETTINGS  # noqa: E402

CHANNEL = "Bench Webhook"
AUTHOR_PREFIX = "bench-webhook-"
RATE_LIMIT_KEY = "social_itsm_webhook_rate_limit"
DETECTOR_KEYS = "social_itsm_burst*"  # the early-warning detector's topics, alerts and spam guard (Redis)
SERVER_START_SECONDS = 120


# --- the deliveries ---------------------------------------------------------------------------------------------


class Delivery:
	"""One pre-signed request: its post's external id and the path, headers and body a client sends."""

	__slots__ = ("body", "external_id", "headers")

	def __init__(self, external_id: str, body: bytes | None, headers: dict[str, str]):
		self.external_id, self.body, self.headers = external_id, body, headers


def deliveries(count: int, run: str, site: str, secret: str) -> list[Delivery]:
	"""``count`` one-post deliveries with realistic texts and authors, each with its own delivery id, signed now."""
	built = []
	for i, post in enumerate(corpus(count, seed=zlib.crc32(run.encode()))):
		external_id = f"{run}-{i}"
		body = json.dumps({"posts": [{
			"id": external_id, "text": post.text,
			"author": {"id": AUTHOR_PREFIX + post.author_id, "handle": post.author_handle, "name": post.author_name},
		}]}).encode()
		headers = {
			"Host": site, "Content-Type": "application/json", "Content-Length": str(len(body)),
			**sign_generic(body, secret, f"{run}.{i}"),
		}
		built.append(Delivery(external_id, body, headers))
	return built


def send(port: int, path: str, batch: list[Delivery], start: multiprocessing.Event, results) -> None:
	"""A client process: one keep-alive connection, the batch back to back; (status, seconds) per delivery."""
	connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
	connection.connect()
	start.wait()
	answers = []
	began = time.perf_counter()
	for delivery in batch:
		sent = time.perf_counter()
		try:
			connection.request("GET" if delivery.body is None else "POST", path, delivery.body, delivery.headers)
			response = connection.getresponse()
			response.read()
			status = response.status
		except (OSError, http.client.HTTPException):
			status = 0  # no answer: counted apart, the connection is opened again
			connection.close()
			connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
		answers.append((status, time.perf_counter() - sent))
	ended = time.perf_counter()
	cpu = os.times()
	results.put((answers, began, ended, cpu.user + cpu.system))


def percentile(values: list[float], share: float) -> float:
	ordered = sorted(values)
	return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


# --- the web server ---------------------------------------------------------------------------------------------


def free_port() -> int:
	with socket.socket() as probe:
		probe.bind(("127.0.0.1", 0))
		return probe.getsockname()[1]


class WebServer:
	"""One web worker for the bench: gunicorn -w 1 --threads N (or ``bench serve`` without gunicorn)."""

	def __init__(self, sites_path: Path, threads: int, log_dir: Path):
		self.sites_path, self.threads, self.log_dir = sites_path, threads, log_dir
		self.port = free_port()
		self.process: subprocess.Popen | None = None
		gunicorn = sites_path.parent / "env" / "bin" / "gunicorn"
		if gunicorn.exists():
			self.command = [str(gunicorn), "-w", "1", "--threads", str(threads), "-b", f"127.0.0.1:{self.port}",
				"-t", "120", "frappe.app:application"]
			self.cwd = sites_path
			self.kind = f"gunicorn, 1 worker, {threads} threads"
		else:
			self.command = [shutil.which("bench") or "bench", "serve", "--port", str(self.port), "--noreload"]
			self.cwd = sites_path.parent
			self.kind = "bench serve (werkzeug, threaded; the bench has no gunicorn)"

	def start(self, site: str) -> None:
		log = open(self.log_dir / "web.log", "w")  # noqa: SIM115 (closed with the process)
		self.process = subprocess.Popen(self.command, cwd=self.cwd, stdout=log, stderr=subprocess.STDOUT,
			stdin=subprocess.DEVNULL, start_new_session=True)
		deadline = time.monotonic() + SERVER_START_SECONDS
		while time.monotonic() < deadline:
			if self.process.poll() is not None:
				raise RuntimeError(f"the web server exited ({self.process.returncode}); see {self.log_dir / 'web.log'}")
			try:
				connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
				connection.request("GET", "/api/method/ping", headers={"Host": site})
				if connection.getresponse().status == 200:
					return
			except OSError:
				pass
			time.sleep(0.25)
		raise RuntimeError(f"the web server did not answer within {SERVER_START_SECONDS} s")

	def worker_cpu(self) -> float:
		"""CPU seconds of the server's processes so far (gunicorn's arbiter and its one worker)."""
		root = psutil.Process(self.process.pid)
		total = 0.0
		for process in [root, *root.children(recursive=True)]:
			try:
				times = process.cpu_times()
				total += times.user + times.system
			except psutil.Error:
				continue
		return total

	def stop(self) -> None:
		if self.process and self.process.poll() is None:
			os.killpg(self.process.pid, signal.SIGTERM)
			try:
				self.process.wait(timeout=30)
			except subprocess.TimeoutExpired:
				os.killpg(self.process.pid, signal.SIGKILL)
				self.process.wait()


# --- (a) accepted deliveries per second ---------------------------------------------------------------------------


class Load:
	"""What the clients saw: (status, seconds) per request, the wall time from the first to the last, CPU seconds."""

	def __init__(self, answers: list[tuple[int, float]], elapsed: float, client_cpu: float, server_cpu: float):
		self.answers, self.elapsed, self.client_cpu, self.server_cpu = answers, elapsed, client_cpu, server_cpu
		self.statuses = Counter(status for status, _ in answers)
		self.ok = [seconds for status, seconds in answers if status == 200]
		self.per_second = len(self.ok) / elapsed

	def others(self) -> str:
		return ", ".join(f"{status or 'no answer'}: {n}" for status, n in sorted(self.statuses.items()) if status != 200) \
			or "none"

	def times(self) -> str:
		if not self.ok:
			return "no 200 answer"
		return f"answer time p50 {percentile(self.ok, 0.5) * 1000:.1f} ms, p99 {percentile(self.ok, 0.99) * 1000:.1f} ms"

	def cpu(self) -> str:
		return (f"CPU: web server {self.server_cpu / self.elapsed:.0%} of a core, clients {self.client_cpu / self.elapsed:.0%} "
			f"({os.cpu_count()} cores, shared with MariaDB and Redis)")


def load(server: WebServer, path: str, batch: list[Delivery], clients: int) -> Load:
	"""Send ``batch`` from ``clients`` processes at once, each on one keep-alive connection, back to back."""
	context = multiprocessing.get_context("fork")  # the clients use nothing of this process's connections
	start, results = context.Event(), context.Queue()
	processes = [context.Process(target=send, args=(server.port, path, batch[i::clients], start, results), daemon=True)
		for i in range(clients)]
	for process in processes:
		process.start()
	time.sleep(1)  # every client connected
	cpu_before = server.worker_cpu()
	start.set()
	outcomes = [results.get(timeout=600) for _ in processes]
	server_cpu = server.worker_cpu() - cpu_before
	for process in processes:
		process.join(timeout=30)
	elapsed = max(outcome[2] for outcome in outcomes) - min(outcome[1] for outcome in outcomes)
	return Load([answer for outcome in outcomes for answer in outcome[0]], elapsed,
		sum(outcome[3] for outcome in outcomes), server_cpu)


def accept_rate(server: WebServer, path: str, batch: list[Delivery], clients: int, queue: str, site: str) -> float:
	"""(a), beside frappe's own /api/method/ping on the same worker (the ceiling of any method there)."""
	ping = load(server, "/api/method/ping", [Delivery("", None, {"Host": site})] * min(len(batch), 3000), clients)
	pushed = load(server, path, batch, clients)
	print(f"(a) {pushed.per_second:,.0f} accepted deliveries/s on one web worker ({len(pushed.ok):,} answered 200 of "
		f"{len(pushed.answers):,} in {pushed.elapsed:.2f} s; {clients} keep-alive clients; non-200: {pushed.others()})")
	print(f"    {pushed.times()}; {pushed.cpu()}; storage jobs queued: {queued_jobs(queue):,}")
	print(f"    the same worker answers frappe's GET /api/method/ping {ping.per_second:,.0f}/s ({ping.times()}; non-200: "
		f"{ping.others()}): the endpoint runs at {pushed.per_second / ping.per_second:.0%} of frappe's own request cycle")
	ratio(">= 500 deliveries/s", pushed.per_second, 500)
	return pushed.per_second


def warm_up(server: WebServer, path: str, batch: list[Delivery]) -> None:
	"""A few deliveries first: the worker's imports, caches and its threads' connections are not measured."""
	connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
	for delivery in batch:
		connection.request("POST", path, delivery.body, delivery.headers)
		response = connection.getresponse()
		text = response.read()
		if response.status != 200:
			raise RuntimeError(f"warm-up delivery answered {response.status}: {text[:200]!r}")
	connection.close()


def queued_jobs(queue: str) -> int:
	from frappe.utils.background_jobs import get_queue

	return get_queue(queue).count


def drop_jobs(queue: str) -> None:
	"""Empty the benchmark's own queue (nothing else uses it) and its failed jobs."""
	from frappe.utils.background_jobs import get_queue

	rq_queue = get_queue(queue)
	rq_queue.empty()
	for job_id in rq_queue.failed_job_registry.get_job_ids():
		rq_queue.failed_job_registry.remove(job_id, delete_job=True)


# --- (b) delivery to a stored, triaged post -------------------------------------------------------------------------


def store_latency(server: WebServer, path: str, batch: list[Delivery], pace: float, timeout: float) -> float:
	"""Send ``batch`` at ``pace`` per second from a thread; poll the database; print p50/p90 send-to-stored."""
	sent: dict[str, float] = {}
	statuses = Counter()

	def sender() -> None:
		connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
		began = time.perf_counter()
		for i, delivery in enumerate(batch):
			time.sleep(max(0.0, began + i / pace - time.perf_counter()))
			sent[delivery.external_id] = time.perf_counter()
			connection.request("POST", path, delivery.body, delivery.headers)
			response = connection.getresponse()
			response.read()
			statuses[response.status] += 1

	thread = threading.Thread(target=sender, daemon=True)
	thread.start()
	seen: dict[str, float] = {}
	untriaged = 0
	deadline = time.monotonic() + timeout
	while len(seen) < len(batch) and time.monotonic() < deadline:
		pending = [external_id for external_id in list(sent) if external_id not in seen]
		if pending:
			frappe.db.commit()  # a fresh snapshot: see what the worker committed
			rows = frappe.get_all("Social Post", filters={"channel": CHANNEL, "external_id": ("in", pending)},
				fields=["external_id", "mood", "urgency_level"])
			now = time.perf_counter()
			for row in rows:
				seen[row.external_id] = now
				untriaged += not (row.mood and row.urgency_level)
		time.sleep(0.02)
	thread.join(timeout=60)
	latencies = [seen[external_id] - sent[external_id] for external_id in seen]
	others = ", ".join(f"{status}: {n}" for status, n in sorted(statuses.items()) if status != 200)
	print(f"(b) at {pace:g} deliveries/s, one bench worker: {len(seen):,} of {len(batch):,} posts stored and seen "
		f"(non-200: {others or 'none'}; rows without mood or urgency: {untriaged})")
	if not latencies:
		print("    no post was stored: is the worker running? see the worker log")
		return float("inf")
	p50 = statistics.median(latencies)
	span = max(seen.values()) - min(sent.values())
	print(f"    delivery -> stored, triaged post: p50 {p50 * 1000:.0f} ms, p90 {percentile(latencies, 0.9) * 1000:.0f} ms, "
		f"max {max(latencies) * 1000:.0f} ms (polled every 20 ms); {len(seen) / span:.1f} posts/s stored over the run")
	ratio("p50 <= 1 s", p50, 1.0, higher_is_better=False)
	return p50


def job_times(log: Path) -> None:
	"""Median run time per job method in the worker's log (rq logs each job's start and its "Job OK")."""
	stamp = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3})")
	started: tuple[str, datetime] | None = None
	durations: dict[str, list[float]] = {}
	for line in log.read_text(errors="replace").splitlines():
		found = stamp.match(line)
		if not found:
			continue
		moment = datetime.strptime(f"{found[1]}.{found[2]}", "%Y-%m-%d %H:%M:%S.%f")
		job = re.search(r"job_name='([^']+)'", line)
		if job:
			started = (job[1], moment)
		elif "Job OK" in line and started:
			durations.setdefault(started[0], []).append((moment - started[1]).total_seconds())
			started = None
	for method, seconds in sorted(durations.items()):
		print(f"    worker job {method.rsplit('.', 1)[-1]}: {len(seconds)} runs, median {statistics.median(seconds) * 1000:.0f} ms "
			"(rq forks a work horse per job)")


# --- set-up and clean-up ------------------------------------------------------------------------------------------


def make_channel() -> tuple[str, str]:
	"""A generic signed webhook channel: its webhook key and secret."""
	secret = secrets.token_urlsafe(32)
	doc = frappe.get_doc({"doctype": "Social Channel", "channel_name": CHANNEL, "network": "Webhook",
		"webhook_secret": secret})
	doc.insert(ignore_permissions=True)
	frappe.db.commit()
	return doc.webhook_key, secret


def raise_rate_limit(sites_path: str, site: str, limit: int) -> object:
	"""Set the per-channel limit for the run; returns the old value (None: the key was absent)."""
	old = frappe.get_site_config(sites_path, os.path.join(sites_path, site)).get(RATE_LIMIT_KEY)
	update_site_config(RATE_LIMIT_KEY, limit, site_config_path=os.path.join(sites_path, site, "site_config.json"))
	return old


def restore_rate_limit(sites_path: str, site: str, old: object) -> None:
	update_site_config(RATE_LIMIT_KEY, "None" if old is None else old,
		site_config_path=os.path.join(sites_path, site, "site_config.json"))  # "None" removes the key


def snapshot_detector() -> dict[bytes, tuple[bytes, int]]:
	"""The detector's Redis keys (DUMP and TTL), to put back after the run: the benchmark's posts count as reports."""
	cache = frappe.cache()
	saved = {}
	for key in cache.scan_iter(match=cache.make_key(DETECTOR_KEYS)):
		data, ttl = cache.dump(key), cache.pttl(key)
		if data is not None:
			saved[key] = (data, max(ttl, 0))
	return saved


def restore_detector(saved: dict[bytes, tuple[bytes, int]]) -> None:
	cache = frappe.cache()
	keys = list(cache.scan_iter(match=cache.make_key(DETECTOR_KEYS)))
	if keys:
		cache.delete(*keys)
	for key, (data, ttl) in saved.items():
		cache.restore(key, ttl, data, replace=True)


def cleanup(started) -> None:
	"""The channel and everything its posts made (tickets and replies too, if a rule converted one)."""
	from social_itsm_app.tests.utils import remove_channel

	frappe.db.rollback()
	incidents = frappe.get_all("Social Post", filters={"channel": CHANNEL, "social_incident": ("is", "set")},
		pluck="social_incident", distinct=True)
	remove_channel(CHANNEL)
	frappe.cache().delete_value(spam_guard_key(CHANNEL))
	if started:
		# Incidents the run's posts opened: linked to them, or left with no post at all (an incident starts from posts).
		opened = frappe.get_all("Social Incident", filters={"creation": (">=", started)}, pluck="name")
		reported = set(frappe.get_all("Social Post", filters={"social_incident": ("in", opened or [""])},
			pluck="social_incident", distinct=True))
		for name in [name for name in opened if name in incidents or name not in reported]:
			frappe.delete_doc("Social Incident", name, force=True, ignore_permissions=True)
			frappe.db.delete("Notification Log", {"document_type": "Social Incident", "document_name": name})
		frappe.db.delete("Version", {"ref_doctype": SETTINGS, "docname": SETTINGS, "creation": (">=", started)})
	identities = frappe.get_all("Social Identity", filters={"network": "Webhook", "author_id": ("like", f"{AUTHOR_PREFIX}%")},
		fields=["name", "contact", "email", "author_id"])
	for identity in identities:
		frappe.db.delete("Social Identity", {"name": identity.name})
		if identity.contact and frappe.db.exists("Contact", identity.contact):
			frappe.delete_doc("Contact", identity.contact, force=True, ignore_permissions=True)
		frappe.db.delete("Email Unsubscribe", {"email": identity.email or synthetic_email("Webhook", identity.author_id)})
	frappe.db.commit()


def main() -> None:
	parser = argparse.ArgumentParser()
	parser.add_argument("--site", default=os.environ.get("SOCIAL_ITSM_SITE"), required=not os.environ.get("SOCIAL_ITSM_SITE"))
	parser.add_argument("--sites-path", default=".")
	parser.add_argument("--deliveries", type=int, default=6000, help="(a): deliveries sent back to back")
	parser.add_argument("--clients", type=int, default=8, help="(a): client processes, one keep-alive connection each")
	parser.add_argument("--threads", type=int, default=8, help="the web worker's threads")
	parser.add_argument("--latency-seconds", type=float, default=30, help="(b): how long each pace sends")
	parser.add_argument("--paces", default="0.5,2", help="(b): deliveries per second, comma-separated")
	parser.add_argument("--queue", default="social_bench_webhook", help="a queue nothing else uses")
	parser.add_argument("--timeout", type=float, default=300)
	args = parser.parse_args()
	if args.queue in ("short", "default", "long"):
		parser.error("use a queue of its own: the worker started here must not take other jobs")
	sites_path = str(Path(args.sites_path).resolve())
	bench_path = Path(sites_path).parent
	log_dir = Path(tempfile.mkdtemp(prefix="social-itsm-bench-webhook-"))
	run = f"bw{int(time.time())}"
	paces = [float(pace) for pace in args.paces.split(",") if pace.strip()]
	rate_limit = 10 * (args.deliveries + 3100)  # never the limit in this run

	declared = declare_queue(sites_path, args.queue)  # before frappe.init and the web server: both read it at start
	server = WebServer(Path(sites_path), args.threads, log_dir)
	workers: list[subprocess.Popen] = []
	connected = False
	old_queue = old_limit = started = detector = None
	limit_set = queue_set = False
	try:
		frappe.init(site=args.site, sites_path=sites_path)
		frappe.connect()
		connected = True
		frappe.set_user("Administrator")
		cleanup(None)
		detector = snapshot_detector()
		started = now_datetime()
		old_queue = frappe.db.get_single_value(SETTINGS, FIELDS[FETCH])
		queue_set = True
		set_fetch_queue(args.queue)
		old_limit, limit_set = raise_rate_limit(sites_path, args.site, rate_limit), True
		webhook_key, secret = make_channel()
		path = f"/api/method/{RECEIVE}?channel={webhook_key}"
		server.start(args.site)
		print(f"{os.cpu_count()} CPU cores; web server: {server.kind}; storage queue: {args.queue}", flush=True)

		warm_up(server, path, deliveries(100, f"{run}w", args.site, secret))
		batch = deliveries(args.deliveries, f"{run}a", args.site, secret)
		accept_rate(server, path, batch, args.clients, args.queue, args.site)
		if time.time() - int(batch[0].headers["X-Social-ITSM-Timestamp"]) > REPLAY_WINDOW:
			print("    note: the run outlasted the 5-minute signing window: late deliveries were refused as stale")
		drop_jobs(args.queue)

		workers = start_workers(1, args.queue, bench_path, log_dir)
		wait_for_workers(workers, args.queue)
		for pace in paces:
			batch = deliveries(max(1, int(pace * args.latency_seconds)), f"{run}b{pace:g}", args.site, secret)
			store_latency(server, path, batch, pace, args.timeout)
		job_times(log_dir / "worker-1-0.log")
	finally:
		server.stop()
		stop_workers(workers)
		if connected:
			drop_jobs(args.queue)
			frappe.db.rollback()
			if queue_set:
				frappe.db.set_single_value(SETTINGS, FIELDS[FETCH], old_queue)
				frappe.db.commit()
				frappe.clear_document_cache(SETTINGS, SETTINGS)
			if limit_set:
				restore_rate_limit(sites_path, args.site, old_limit)
			cleanup(started)
			if detector is not None:
				restore_detector(detector)
			frappe.destroy()
		if declared:
			undeclare_queue(sites_path, args.queue)
		print(f"logs (web server, worker): {log_dir}")


if __name__ == "__main__":
	main()
