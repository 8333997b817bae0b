"""Finding and driving a real Frappe bench for the site tests (tier 2).

The site tier is opt-in: it runs only with SOCIAL_ITSM_SITE_TESTS=1 (``.ci/run`` sets it), because it acts
on the bench at $SOCIAL_ITSM_BENCH (default /opt/frappe-bench): it starts MariaDB and Redis if they are not
running (CI's processes start from nothing), puts this checkout into the bench's apps/ (only where that
folder is missing, a link, or a copy these tests made earlier: an app folder it did not create is never
replaced), creates dedicated test sites once, and runs bench commands on them. Nothing here builds a bench.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import urlparse

REPO = Path(__file__).resolve().parents[2]
BENCH = Path(os.environ.get("SOCIAL_ITSM_BENCH", "/opt/frappe-bench"))
SITE = os.environ.get("SOCIAL_ITSM_TEST_SITE", "social-itsm-test.localhost")
# A second site with neither Helpdesk nor ERPNext: the app must install there too (fixtures skipped).
PLAIN_SITE = os.environ.get("SOCIAL_ITSM_PLAIN_SITE", "social-itsm-plain.localhost")
# A third site with ERPNext instead of Helpdesk, where the bench has ERPNext: tickets become Issues there.
ERPNEXT_SITE = os.environ.get("SOCIAL_ITSM_ERPNEXT_SITE", "social-itsm-erpnext.localhost")
DB_ROOT_PASSWORD = os.environ.get("SOCIAL_ITSM_DB_ROOT_PASSWORD", "root")
APP = "social_itsm_app"
OPT_IN = "SOCIAL_ITSM_SITE_TESTS"
# Written into the copy of this checkout the tests put into apps/: only such a copy may be replaced later.
COPY_MARKER = ".social-itsm-test-copy"
COPY_IGNORE = shutil.ignore_patterns(".git", ".venv", "__pycache__", ".pytest_cache", "*.pyc", "node_modules")


def missing_reason() -> str | None:
	"""Why the site tests cannot run here, or None when a usable bench is present and they may use it."""
	if os.environ.get(OPT_IN) != "1":
		return (
			f"the site tier is opt-in: set {OPT_IN}=1 to let it use the bench at {BENCH} (it starts MariaDB and "
			"Redis, puts this checkout into apps/social_itsm_app and creates test sites; .ci/run sets it)"
		)
	if not (BENCH / "apps" / "frappe").is_dir():
		return f"no Frappe bench at {BENCH} (set SOCIAL_ITSM_BENCH to use another path)"
	if not (BENCH / "env" / "bin" / "python").exists():
		return f"{BENCH} has no Python environment (env/bin/python)"
	if not shutil.which("bench") and not (BENCH / "env" / "bin" / "bench").exists():
		return "the bench command is not installed"
	if not app_folder_is_ours():
		return (
			f"{BENCH / 'apps' / APP} was not put there by these tests (no {COPY_MARKER} marker): it is left "
			"alone; use a bench without the app, or a link to this checkout"
		)
	return None


def app_folder_is_ours() -> bool:
	"""apps/social_itsm_app may be replaced: missing, a link (to this or another checkout), or our own copy."""
	target = BENCH / "apps" / APP
	return not target.exists() or target.is_symlink() or target.resolve() == REPO or (target / COPY_MARKER).exists()


def bench_cmd() -> str:
	return shutil.which("bench") or str(BENCH / "env" / "bin" / "bench")


def run(args: list[str], timeout: int = 1800, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
	result = subprocess.run(
		args, cwd=BENCH, capture_output=True, text=True, timeout=timeout,
		env={**os.environ, "CI": "1", **(env or {})},
	)
	if check and result.returncode != 0:
		raise AssertionError(
			f"{' '.join(args)} exited {result.returncode}\n--- stdout\n{result.stdout[-4000:]}\n--- stderr\n{result.stderr[-4000:]}"
		)
	return result


def bench(*args: str, timeout: int = 1800, check: bool = True) -> subprocess.CompletedProcess:
	return run([bench_cmd(), *args], timeout=timeout, check=check)


def site_bench(*args: str, timeout: int = 1800, check: bool = True, site: str = SITE) -> subprocess.CompletedProcess:
	return bench("--site", site, *args, timeout=timeout, check=check)


# --- services -----------------------------------------------------------------------------------------


def _port_open(host: str, port: int) -> bool:
	try:
		with socket.create_connection((host, port), timeout=1):
			return True
	except OSError:
		return False


def _wait_for(host: str, port: int, seconds: int = 60) -> bool:
	deadline = time.monotonic() + seconds
	while time.monotonic() < deadline:
		if _port_open(host, port):
			return True
		time.sleep(0.5)
	return False


def common_config() -> dict:
	return json.loads((BENCH / "sites" / "common_site_config.json").read_text())


def start_services() -> None:
	"""MariaDB and the bench's Redis instances, started when not answering."""
	config = common_config()
	db_host = config.get("db_host", "127.0.0.1")
	db_port = int(config.get("db_port", 3306))
	if not _port_open(db_host, db_port):
		if shutil.which("service"):
			subprocess.run(["service", "mariadb", "start"], capture_output=True, timeout=120)
		if not _wait_for(db_host, db_port, 20) and shutil.which("mysqld_safe"):
			subprocess.Popen(["mysqld_safe", "--user=mysql"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
				start_new_session=True)
		if not _wait_for(db_host, db_port, 60):
			raise RuntimeError(f"MariaDB does not answer on {db_host}:{db_port}")
	for key in ("redis_cache", "redis_queue", "redis_socketio"):
		url = config.get(key)
		if not url:
			continue
		parsed = urlparse(url)
		conf = BENCH / "config" / f"{key}.conf"
		if not _port_open(parsed.hostname or "127.0.0.1", parsed.port or 6379) and conf.exists():
			subprocess.run(["redis-server", str(conf), "--daemonize", "yes"], cwd=BENCH / "config",
				capture_output=True, timeout=60)
			if not _wait_for(parsed.hostname or "127.0.0.1", parsed.port or 6379, 30):
				raise RuntimeError(f"Redis ({key}) does not answer on {url}")


# --- app and site -------------------------------------------------------------------------------------


def sync_app() -> None:
	"""Put this checkout into the bench as apps/social_itsm_app and make the bench's Python import it."""
	target = BENCH / "apps" / APP
	if target.resolve() != REPO:
		if not app_folder_is_ours():
			raise RuntimeError(f"{target} was not made by these tests; refusing to replace it")
		if target.is_symlink() or target.is_file():
			target.unlink()
		elif target.exists():
			shutil.rmtree(target)
		shutil.copytree(REPO, target, ignore=COPY_IGNORE)
		(target / COPY_MARKER).write_text("a copy made by social_itsm_app's site tests; they may replace it\n")
	apps_txt = BENCH / "sites" / "apps.txt"
	apps = apps_txt.read_text().split()
	if APP not in apps:
		apps_txt.write_text("\n".join([*apps, APP]) + "\n")
	python = str(BENCH / "env" / "bin" / "python")
	link_assets(target)
	probe = "import social_itsm_app, pathlib, feedparser, regex, vaderSentiment, pytest, responses; print(pathlib.Path(social_itsm_app.__file__).resolve().parent.parent)"
	found = subprocess.run([python, "-c", probe], capture_output=True, text=True, cwd="/")
	if found.returncode != 0 or Path(found.stdout.strip()) != target.resolve():
		run([python, "-m", "pip", "install", "--quiet", "-e", str(target), "pytest", "responses"], timeout=900)


def link_assets(app_folder: Path) -> None:
	"""sites/assets/social_itsm_app -> the app's public folder, as `bench build` links it: the desk loads our plain
	scripts (app_include_js, doctype_js) from there. Nothing is built."""
	link = BENCH / "sites" / "assets" / APP
	public = app_folder / APP / "public"
	if link.is_symlink() and link.resolve() == public.resolve():
		return
	if link.is_symlink() or link.is_file():
		link.unlink()
	elif link.exists():
		shutil.rmtree(link)
	link.parent.mkdir(parents=True, exist_ok=True)
	link.symlink_to(public)


def bench_has_app(app: str) -> bool:
	return (BENCH / "apps" / app).is_dir() and app in (BENCH / "sites" / "apps.txt").read_text().split()


def installed_apps(site: str = SITE) -> list[str]:
	# `bench list-apps` reads the Installed Applications doc, which lags behind; ask frappe directly.
	return json.loads(site_bench("execute", "frappe.get_installed_apps", site=site).stdout.strip().splitlines()[-1])


def ensure_site(site: str = SITE, host_apps: tuple[str, ...] = ("helpdesk",)) -> None:
	"""Create a dedicated test site once (with the host apps the bench has)."""
	if (BENCH / "sites" / site / "site_config.json").exists():
		return
	apps = (BENCH / "sites" / "apps.txt").read_text().split()
	extra = [arg for app in host_apps if app in apps for arg in ("--install-app", app)]
	bench(
		"new-site", site, "--db-root-password", DB_ROOT_PASSWORD, "--admin-password", "admin",
		*extra, timeout=3600,
	)
	site_bench("set-config", "allow_tests", "true", site=site)
	complete_setup_wizard(site)


# What an administrator answers in the setup wizard. ERPNext creates the company, fiscal year and defaults from
# it; until the wizard is done, the desk sends every user but Administrator to it.
WIZARD = {
	"language": "English", "country": "United States", "timezone": "America/New_York", "currency": "USD",
	"company_name": "Social ITSM Test", "company_abbr": "SIT", "chart_of_accounts": "Standard",
}


def complete_setup_wizard(site: str) -> None:
	"""Run the real setup wizard (as an administrator would) instead of only flagging it as done."""
	year = time.gmtime().tm_year
	args = {**WIZARD, "fy_start_date": f"{year}-01-01", "fy_end_date": f"{year}-12-31"}
	site_bench("execute", "frappe.desk.page.setup_wizard.setup_wizard.setup_complete",
		"--kwargs", json.dumps({"args": args}), site=site, timeout=900)
	done = run_python('print(frappe.db.get_single_value("System Settings", "setup_complete"))', site=site)
	if done.strip().splitlines()[-1] != "1":
		raise RuntimeError(f"the setup wizard did not complete on {site}")


_READY: set[str] = set()


def ready(site: str = SITE) -> None:
	"""The app on ``site`` with this checkout's schema: installed, or migrated once per test run (the checkout may
	have changed doctypes since the site last saw it)."""
	if site in _READY:
		return
	if APP in installed_apps(site):
		site_bench("migrate", "--skip-search-index", site=site)
	else:
		site_bench("install-app", APP, site=site)
	_READY.add(site)


def prepare() -> None:
	start_services()
	sync_app()
	ensure_site()
	quiet_scheduler(SITE)


def quiet_scheduler(site: str) -> None:
	"""A bench's own scheduler/worker (when running) must not run jobs on a test site while tests write."""
	config = json.loads((BENCH / "sites" / site / "site_config.json").read_text())
	if not config.get("pause_scheduler"):
		site_bench("set-config", "pause_scheduler", "1", "--parse", site=site)


def in_site_modules() -> list[Path]:
	"""The app's in-site test modules, where `bench run-tests --app social_itsm_app` finds them."""
	return sorted((REPO / APP / "tests").glob("test_*.py"))


def run_inner(path: Path, site: str = SITE, timeout: int = 1800) -> subprocess.CompletedProcess:
	"""Run one in-site test module with the bench's Python and pytest, connected to ``site`` (by the module's
	conftest.py). The bench's app folder is this checkout (a link or a copy, see sync_app): the module runs from
	there, so that it imports the same social_itsm_app as the site does."""
	module = BENCH / "apps" / APP / APP / "tests" / path.name
	return subprocess.run(
		[str(BENCH / "env" / "bin" / "python"), "-m", "pytest", str(module), "-q", "-p", "no:cacheprovider", "-rs"],
		cwd=BENCH / "sites", capture_output=True, text=True, timeout=timeout,
		# SOCIAL_ITSM_SCALE_TESTS: the 2,000-post outage runs here, once a host, not again under bench run-tests
		env={**os.environ, "SOCIAL_ITSM_SITE": site, "SOCIAL_ITSM_SITES_PATH": str(BENCH / "sites"),
			"SOCIAL_ITSM_SCALE_TESTS": "1"},
	)


def run_tests(site: str = SITE, timeout: int = 3600) -> subprocess.CompletedProcess:
	"""`bench --site SITE run-tests --app social_itsm_app`: Frappe's own runner (unittest) over the same modules,
	all in one process, as a developer or a Frappe app's CI runs them."""
	return site_bench("run-tests", "--app", APP, site=site, timeout=timeout, check=False)


_RAN = re.compile(r"^Ran (\d+) tests? in ", re.MULTILINE)
_VERDICT = re.compile(r"^(OK|FAILED)\b.*$", re.MULTILINE)


def runner_outcome(output: str) -> tuple[int, str] | None:
	"""(tests run, verdict line such as "OK (skipped=3)" or "FAILED (errors=1)") from unittest's report, or
	None when the report is missing (the runner did not get that far)."""
	ran = list(_RAN.finditer(output))
	verdict = _VERDICT.search(output, ran[-1].end()) if ran else None
	if verdict is None:
		return None
	return int(ran[-1].group(1)), verdict.group(0).strip()


def run_python(code: str, site: str = SITE, timeout: int = 300) -> str:
	"""Run ``code`` with the bench's Python connected to ``site`` (as Administrator, committing at the end);
	returns what it printed."""
	program = (
		"import frappe\n"
		f"frappe.init(site={site!r}, sites_path={str(BENCH / 'sites')!r})\n"
		"frappe.connect()\nfrappe.set_user('Administrator')\n"
		f"{code}\n"
		"frappe.db.commit()\nfrappe.destroy()\n"
	)
	result = subprocess.run([str(BENCH / "env" / "bin" / "python"), "-c", program], cwd=BENCH / "sites",
		capture_output=True, text=True, timeout=timeout)
	if result.returncode != 0:
		raise AssertionError(f"site script failed:\n{result.stderr[-4000:]}")
	return result.stdout


def ensure_resolvable(*sites: str) -> None:
	"""Frappe's socket.io server checks a browser's session by calling the site at its own name (the page's
	origin); where the machine cannot resolve ``*.localhost`` names, the test sites go into /etc/hosts."""
	missing = []
	for site in sites:
		try:
			socket.getaddrinfo(site, None)
		except OSError:
			missing.append(site)
	if missing:
		hosts = Path("/etc/hosts")
		if not os.access(hosts, os.W_OK):
			raise RuntimeError(f"{', '.join(missing)} do not resolve and /etc/hosts is not writable")
		with hosts.open("a") as file:
			file.write("".join(f"127.0.0.1 {site}\n" for site in missing))


class WebServer:
	"""`bench serve` on a free local port (and Frappe's socket.io server, when not running) for a browser test.

	DEV_SERVER=1 makes the desk connect to socket.io on ``socketio_port`` (9000) instead of the web port, as
	under `bench start`; without it realtime events (live list refresh) never reach the browser.
	"""

	def __init__(self, port: int = 8123):
		self.port = port
		self.processes: list[subprocess.Popen] = []

	def _start(self, args: list[str]) -> None:
		self.processes.append(subprocess.Popen(
			args, cwd=BENCH, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
			env={**os.environ, "DEV_SERVER": "1"},
		))

	def __enter__(self) -> WebServer:
		ensure_resolvable(SITE, ERPNEXT_SITE, PLAIN_SITE)
		if _port_open("127.0.0.1", self.port):
			raise RuntimeError(f"port {self.port} is taken; set SOCIAL_ITSM_WEB_PORT")
		self._start([bench_cmd(), "serve", "--port", str(self.port), "--noreload"])
		socketio_port = int(common_config().get("socketio_port") or 9000)
		if not _port_open("127.0.0.1", socketio_port) and shutil.which("node"):
			self._start(["node", str(BENCH / "apps" / "frappe" / "socketio.js")])
			_wait_for("127.0.0.1", socketio_port, 30)
		if not _wait_for("127.0.0.1", self.port, 60):
			self.__exit__()
			raise RuntimeError("bench serve did not start")
		return self

	def __exit__(self, *exc) -> None:
		for process in self.processes:
			if process.poll() is None:
				os.killpg(process.pid, 15)
				process.wait(timeout=30)
