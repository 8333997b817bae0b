"""Scale-out figure: stored posts per second with one and with two real ``bench worker`` processes on a queue of
their own (run with the bench's Python, from the bench's sites folder).

    cd /opt/frappe-bench/sites
    ../env/bin/python /path/to/social_itsm_app/benchmarks/bench_workers.py --site social-itsm-test.localhost --workers 1,2

What it does, end to end, as an administrator scaling out would:

* declares a queue nothing else uses (``social_bench``) in sites/common_site_config.json ``"workers"``;
* names it as the fetch queue in Social ITSM Settings (saved through the form's validation);
* starts a fake Mastodon on 127.0.0.1 (tests/fakes/mastodon_server.py, faults off, no new mentions while it runs)
  and creates ``--channels`` Mastodon channels pointing at it, each of whose first fetch reads one page of
  ``--posts`` new mentions;
* for each worker count: starts that many ``bench worker --queue social_bench`` processes, waits until they
  listen, queues every channel's fetch (``jobs.enqueue_fetch``, which asks the settings for the queue), and polls
  the database until every post is stored; prints posts/s (and fetch jobs/s), then the ratio of the runs.

Everything it creates is deleted again (channels and their stored secrets, posts, the identities and Contacts
the fetches made for the fake's authors, Version rows of the settings), the workers it started are stopped, the
settings and common_site_config.json are restored. Only the benchmark's own queue gets workers: jobs other
people queue on ``short``/``default``/``long`` are never taken. (Only ``social_itsm_app.people.identities
.link_contacts``, which a fetch queues on the fetch queue, gives any identity of the site without a Contact its
Contact, as it does in production.)
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _common  # noqa: F401  (its sys.path set-up: this checkout's app first)
import frappe
from frappe.utils import add_to_date, now_datetime

from social_itsm_app.channels.runtime import save_state
from social_itsm_app.ingest import jobs
from social_itsm_app.people.identities import synthetic_email
from social_itsm_app.queues import FETCH, FIELDS, SETTINGS

REPO = Path(__file__).resolve().parents[1]
PREFIX = "Bench Workers "
AUTHOR_BASE = 990_000_000  # the fake's authors get ids of their own (the fault tests' fakes use 120000000+)
WORKER_START_SECONDS = 180


def load_fake():
	spec = importlib.util.spec_from_file_location("social_itsm_fake_mastodon", REPO / "tests" / "fakes" / "mastodon_server.py")
	module = importlib.util.module_from_spec(spec)
	sys.modules[spec.name] = module
	spec.loader.exec_module(module)
	return module


# --- common_site_config.json ----------------------------------------------------------------------------------


def common_config_path(sites_path: str) -> Path:
	return Path(sites_path).resolve() / "common_site_config.json"


def rewrite_common_config(sites_path: str, change) -> None:
	"""Read, change and atomically replace the bench's common config (other processes read it at any time)."""
	path = common_config_path(sites_path)
	config = json.loads(path.read_text())
	change(config)
	handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".common_site_config.")
	with os.fdopen(handle, "w") as out:
		out.write(json.dumps(config, indent=1, sort_keys=True) + "\n")
	os.chmod(temporary, path.stat().st_mode & 0o777)
	os.replace(temporary, path)


def declare_queue(sites_path: str, queue: str) -> bool:
	"""Add ``"workers": {queue: {...}}``; False when it was declared already (then it is left there)."""
	added = []

	def change(config):
		workers = config.setdefault("workers", {})
		if queue not in workers:
			workers[queue] = {"timeout": 600}
			added.append(queue)

	rewrite_common_config(sites_path, change)
	return bool(added)


def undeclare_queue(sites_path: str, queue: str) -> None:
	def change(config):
		workers = config.get("workers") or {}
		workers.pop(queue, None)
		if not workers:
			config.pop("workers", None)

	rewrite_common_config(sites_path, change)


# --- workers ----------------------------------------------------------------------------------------------------


def worker_command(queue: str) -> list[str]:
	"""``bench worker --queue <queue>``; without the bench CLI, what it runs (the bench's Python, frappe's CLI)."""
	bench = shutil.which("bench")
	if bench:
		return [bench, "worker", "--queue", queue]
	return [sys.executable, "-m", "frappe.utils.bench_helper", "frappe", "worker", "--queue", queue]


def start_workers(count: int, queue: str, bench_path: Path, log_dir: Path) -> list[subprocess.Popen]:
	processes = []
	for i in range(count):
		log = open(log_dir / f"worker-{count}-{i}.log", "w")  # noqa: SIM115 (closed with the process)
		processes.append(subprocess.Popen(
			worker_command(queue), cwd=bench_path, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
			start_new_session=True,  # its own process group: stopping it stops its work horses too
		))
	return processes


def listening_workers(queue: str) -> int:
	from frappe.utils.background_jobs import get_queue
	from rq import Worker

	return len([w for w in Worker.all(queue=get_queue(queue)) if w.state != "suspended"])


def wait_for_workers(processes: list[subprocess.Popen], queue: str) -> None:
	deadline = time.monotonic() + WORKER_START_SECONDS
	while listening_workers(queue) < len(processes):
		for process in processes:
			if process.poll() is not None:
				raise RuntimeError(f"a worker exited ({process.returncode}) before it listened")
		if time.monotonic() > deadline:
			raise RuntimeError(f"the workers did not listen on {queue} within {WORKER_START_SECONDS} s")
		time.sleep(0.5)


def stop_workers(processes: list[subprocess.Popen]) -> None:
	for process in processes:
		if process.poll() is None:
			os.killpg(process.pid, signal.SIGTERM)  # rq's warm shutdown: the current job finishes
	for process in processes:
		try:
			process.wait(timeout=60)
		except subprocess.TimeoutExpired:
			os.killpg(process.pid, signal.SIGKILL)
			process.wait()


def queue_is_empty(queue: str) -> bool:
	from frappe.utils.background_jobs import get_queue

	rq_queue = get_queue(queue)
	return rq_queue.count == 0 and rq_queue.started_job_registry.count == 0


# --- the run ----------------------------------------------------------------------------------------------------


def make_channels(count: int, posts: int, base_url: str, token: str, run: int) -> list[str]:
	later = add_to_date(now_datetime(), days=1)  # the scheduler's tick leaves them alone
	names = []
	for i in range(count):
		name = f"{PREFIX}{run}-{i:04d}"
		frappe.get_doc({
			"doctype": "Social Channel", "channel_name": name, "network": "Mastodon", "base_url": base_url,
			"access_token": token, "poll_interval": 60,
		}).insert(ignore_permissions=True)
		save_state(name, {"page_size": posts})  # the first fetch reads one page of this size
		frappe.db.set_value("Social Channel", name, "next_fetch_at", later, update_modified=False)
		names.append(name)
	frappe.db.commit()
	return names


def stored_posts(names: list[str]) -> int:
	frappe.db.commit()  # a fresh snapshot: see what the workers committed
	return frappe.db.count("Social Post", {"channel": ("in", names)})


def measure(workers: int, names: list[str], expected: int, queue: str, bench_path: Path, log_dir: Path,
		timeout: float) -> float:
	processes = start_workers(workers, queue, bench_path, log_dir)
	try:
		wait_for_workers(processes, queue)
		start = time.perf_counter()
		for name in names:
			jobs.enqueue_fetch(name)
		deadline = time.monotonic() + timeout
		count = 0
		while (count := stored_posts(names)) < expected:
			if time.monotonic() > deadline:
				raise RuntimeError(f"{workers} worker(s): {count:,} of {expected:,} posts stored after {timeout:.0f} s")
			time.sleep(0.05)
		elapsed = time.perf_counter() - start
		per_second = count / elapsed
		print(f"{workers} worker(s): {per_second:,.0f} posts/s stored ({count:,} posts from {len(names)} fetch jobs "
			f"in {elapsed:.2f} s, {len(names) / elapsed:.1f} jobs/s)", flush=True)
		drain = time.monotonic() + 120
		while not queue_is_empty(queue) and time.monotonic() < drain:  # link_contacts, queued by the fetches
			time.sleep(0.2)
		return per_second
	finally:
		stop_workers(processes)


def author_ids(authors: int) -> list[str]:
	return [str(AUTHOR_BASE + i) for i in range(authors)]


def cleanup(authors: int, started) -> None:
	frappe.db.rollback()
	names = frappe.get_all("Social Channel", filters={"name": ("like", f"{PREFIX}%")}, pluck="name")
	if names:
		frappe.db.delete("Social Post", {"channel": ("in", names)})
		frappe.db.delete("Error Log", {"reference_name": ("in", names)})
		frappe.db.delete("Notification Log", {"document_name": ("in", names)})
	for name in names:
		frappe.delete_doc("Social Channel", name, force=True, ignore_permissions=True)  # and its stored secrets
	identities = frappe.get_all("Social Identity", filters={"network": "Mastodon", "author_id": ("in", author_ids(authors))},
		fields=["name", "contact", "email", "author_id"])
	for identity in identities:
		email = identity.email or synthetic_email("Mastodon", identity.author_id)
		frappe.db.delete("Social Identity", {"name": identity.name})
		if identity.contact and frappe.db.exists("Contact", identity.contact):
			frappe.delete_doc("Contact", identity.contact, force=True, ignore_permissions=True)
		frappe.db.delete("Email Unsubscribe", {"email": email})
	if started:
		frappe.db.delete("Version", {"ref_doctype": SETTINGS, "docname": SETTINGS, "creation": (">=", started)})
	frappe.db.commit()


def set_fetch_queue(queue: str) -> None:
	settings = frappe.get_doc(SETTINGS)
	settings.set(FIELDS[FETCH], queue)
	settings.save(ignore_permissions=True)  # validated: the queue must be one the bench declares
	frappe.db.commit()


def main() -> None:
	parser = argparse.ArgumentParser()
	parser.add_argument("--site", required=True)
	parser.add_argument("--sites-path", default=".")
	parser.add_argument("--workers", default="1,2", help="worker counts to measure, comma-separated")
	parser.add_argument("--channels", type=int, default=100)
	parser.add_argument("--posts", type=int, default=80, help="new mentions per channel (one page, at most 80)")
	parser.add_argument("--authors", type=int, default=40)
	parser.add_argument("--queue", default="social_bench", help="a queue nothing else uses")
	parser.add_argument("--timeout", type=float, default=600)
	args = parser.parse_args()
	counts = [int(n) for n in args.workers.split(",") if n.strip()]
	if args.queue in ("short", "default", "long"):
		parser.error("use a queue of its own: workers started here must not take other jobs")
	posts = max(1, min(80, args.posts))
	sites_path = str(Path(args.sites_path).resolve())
	bench_path = Path(sites_path).parent
	log_dir = Path(tempfile.mkdtemp(prefix="social-itsm-bench-workers-"))

	declared = declare_queue(sites_path, args.queue)  # before frappe.init: this process reads it at start
	fake = None
	old_queue = None
	started = None
	connected = False
	try:
		frappe.init(site=args.site, sites_path=sites_path)
		frappe.connect()
		connected = True
		frappe.set_user("Administrator")
		cleanup(args.authors, None)
		module = load_fake()
		fake = module.FakeMastodon(seed=15, arrival_rate=0.0, initial_mentions=0, max_lifetime=3600)
		fake.authors = [fake._account(f"bench-workers-{i}", AUTHOR_BASE + i) for i in range(args.authors)]
		fake.add_mentions(posts, others=False)
		fake.start()
		fake.faults_off()

		started = now_datetime()
		old_queue = frappe.db.get_single_value(SETTINGS, FIELDS[FETCH]) or "default"
		set_fetch_queue(args.queue)
		print(f"{os.cpu_count()} CPU cores; MariaDB, Redis, the fake Mastodon and the workers share them. "
			f"Fetch queue: {args.queue}; {args.channels} channels x {posts} new mentions", flush=True)
		rates = {}
		for run, workers in enumerate(counts):
			names = make_channels(args.channels, posts, fake.base_url, fake.token, run)
			try:
				rates[workers] = measure(workers, names, len(names) * posts, args.queue, bench_path, log_dir,
					args.timeout)
			finally:
				cleanup(args.authors, None)
		if len(rates) > 1:
			base = rates[counts[0]]
			for workers in counts[1:]:
				print(f"  {workers} vs {counts[0]} worker(s): {rates[workers] / base:.2f}x")
	finally:
		if fake:
			fake.stop()
		if connected:
			frappe.db.rollback()
			if old_queue is not None:
				frappe.db.set_single_value(SETTINGS, FIELDS[FETCH], old_queue)
				frappe.db.commit()
				frappe.clear_document_cache(SETTINGS, SETTINGS)
			cleanup(args.authors, started)
			frappe.destroy()
		if declared:
			undeclare_queue(sites_path, args.queue)
		print(f"worker logs: {log_dir}")


if __name__ == "__main__":
	main()
