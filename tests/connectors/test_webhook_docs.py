"""The generic webhook's documented examples (docs/networks/webhook.md) run as written against a local server,
and what they send passes the server's own checks: the documentation cannot drift from the verifier."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from social_itsm_app.connectors.webhooks import check_replay, parse_generic, verify_generic

DOC = Path(__file__).parent.parent.parent / "docs" / "networks" / "webhook.md"
SECRET = "whsec-doc-example-5e1f0c"


def block(language: str) -> str:
	found = re.findall(rf"```{language}\n(.*?)```", DOC.read_text(), re.DOTALL)
	assert len(found) == 1, f"expected one {language} block in {DOC.name}"
	return found[0]


class Recorder(BaseHTTPRequestHandler):
	received: list[tuple[dict[str, str], bytes]] = []

	def do_POST(self):
		body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
		self.received.append((dict(self.headers.items()), body))
		self.send_response(200)
		self.send_header("Content-Type", "application/json")
		self.end_headers()
		self.wfile.write(b'{"message": "ok"}')

	def log_message(self, *args):
		pass


@pytest.fixture
def endpoint():
	Recorder.received = []
	server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
	thread = threading.Thread(target=server.serve_forever, daemon=True)
	thread.start()
	yield f"http://127.0.0.1:{server.server_address[1]}/api/method/webhook?channel=abc"
	server.shutdown()
	server.server_close()


def run_example(command: list[str], url: str) -> subprocess.CompletedProcess:
	env = {**os.environ, "SOCIAL_ITSM_WEBHOOK_URL": url, "SOCIAL_ITSM_WEBHOOK_SECRET": SECRET, "NO_PROXY": "127.0.0.1"}
	env["no_proxy"] = env["NO_PROXY"]  # the local server, never through a proxy
	return subprocess.run(command, env=env, capture_output=True, text=True, timeout=30, check=False)


def accepted_posts(received: list[tuple[dict[str, str], bytes]]):
	[(headers, body)] = received
	delivery = verify_generic(body, headers, SECRET)
	check_replay(delivery, lambda key: False)
	return parse_generic(json.loads(body))


@pytest.mark.skipif(not (shutil.which("curl") and shutil.which("openssl")), reason="curl and openssl are needed")
def test_the_curl_example_sends_a_delivery_the_verifier_accepts(endpoint):
	result = run_example(["bash", "-c", "set -euo pipefail\n" + block("sh")], endpoint)
	assert result.returncode == 0, result.stderr
	[post] = accepted_posts(Recorder.received)
	assert (post.external_id, post.text, post.author_name) == ("status-4711", "Checkout fails with error 502", "Status page")


def test_the_python_example_sends_a_delivery_the_verifier_accepts(endpoint):
	result = run_example([sys.executable, "-c", block("python")], endpoint)
	assert result.returncode == 0, result.stderr
	assert result.stdout.strip() == "200"
	[post] = accepted_posts(Recorder.received)
	assert (post.external_id, post.author_id) == ("status-4711", "statuspage")


def test_the_documented_body_is_valid():
	[post] = parse_generic(json.loads(block("json")), now=datetime(2027, 1, 1, tzinfo=timezone.utc))
	assert (post.external_id, post.kind, post.thread_id, post.in_reply_to_id) == (
		"status-4711", "mention", "incident-12", "status-4710"
	)
