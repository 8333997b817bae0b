"""Push intake through the real endpoint: signed deliveries POSTed to this site's web server (`bench serve` on a free
port), the queued storage job taken off the queue and run here, and what the site then holds.

The channels are committed (the web server is another process) and removed afterwards.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from unittest.mock import patch

import frappe
import requests
from frappe.tests.utils import FrappeTestCase
from frappe.utils.background_jobs import get_queue

from social_itsm_app.api.webhook import RATE_LIMIT, RECEIVE, STORE_JOB, rate_key
from social_itsm_app.connectors.webhooks import (
	META_SIGNATURE_HEADER,
	TELEGRAM_SECRET_HEADER,
	meta_signature,
	sign_generic,
)
from social_itsm_app.ingest.jobs import spam_guard_key
from social_itsm_app.ingest.push import store_pushed
from social_itsm_app.queues import FETCH, queue_for
from social_itsm_app.tests.utils import HOST, NO_HOST, TICKET, forget_rules, remove_channel
from social_itsm_app.triage.scoring import MOODS, URGENCY_LEVELS

GENERIC, TELEGRAM, WHATSAPP = "Push Test Webhook", "Push Test Telegram", "Push Test WhatsApp"
SECOND_NUMBER = "Push Test WhatsApp 2"  # another number of the same Meta app: same callback URL, own channel
REGISTERED = "Push Test Telegram Register"
RULE, KEYWORD = "Push test convert", "zorbleflux"
INSTAGRAM, IG_USER_ID = "Push Test Instagram", "17841405822304914"
CHANNELS = (GENERIC, TELEGRAM, WHATSAPP, SECOND_NUMBER, REGISTERED, INSTAGRAM)
SECRET = secrets.token_urlsafe(32)
TELEGRAM_TOKEN = secrets.token_urlsafe(32)
APP_SECRET, VERIFY_TOKEN = secrets.token_hex(16), secrets.token_urlsafe(16)
NUMBER_ID, WA_ID = "106540352242922", "16505550123"
OTHER_NUMBER_ID = "106540352249999"
BENCH = Path(frappe.utils.get_bench_path())


def uid(prefix: str) -> str:
	"""A delivery id of this run: the endpoint remembers accepted ids for 11 minutes, across runs too."""
	return f"{prefix}-{uuid.uuid4().hex[:12]}"


def site_headers() -> dict[str, str]:
	return {"Host": frappe.local.site, "X-Frappe-Site-Name": frappe.local.site}


def free_port() -> int:
	with socket.socket() as probe:
		probe.bind(("127.0.0.1", 0))
		return probe.getsockname()[1]


class WebServer:
	"""`bench serve` for this bench on a free port; requests name the site in the Host header."""

	def __init__(self):
		self.port = free_port()
		self.process: subprocess.Popen | None = None

	def start(self) -> None:
		self.process = subprocess.Popen(
			["bench", "serve", "--port", str(self.port), "--noreload"], cwd=BENCH, stdout=subprocess.DEVNULL,
			stderr=subprocess.DEVNULL, start_new_session=True,
		)
		for _ in range(240):
			try:
				requests.get(f"http://127.0.0.1:{self.port}/api/method/ping", headers=site_headers(), timeout=2)
				return
			except requests.ConnectionError:
				time.sleep(0.25)
		self.stop()
		raise RuntimeError("bench serve did not start")

	def stop(self) -> None:
		if self.process and self.process.poll() is None:
			os.killpg(self.process.pid, signal.SIGTERM)  # bench and the server it started
			self.process.wait(timeout=30)


class FakeApi(ThreadingHTTPServer):
	"""A network API on 127.0.0.1 that records each POST (path, JSON body) and answers ``answer``: Telegram's
	setWebhook, WhatsApp's messages."""

	def __init__(self, answer: dict):
		self.calls: list[tuple[str, dict]] = []
		server = self

		class Handler(BaseHTTPRequestHandler):
			def do_POST(self):
				body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
				server.calls.append((self.path.split("?")[0], body))
				data = json.dumps(answer).encode()
				self.send_response(200)
				self.send_header("Content-Type", "application/json")
				self.send_header("Content-Length", str(len(data)))
				self.end_headers()
				self.wfile.write(data)

			def log_message(self, *args):
				pass

		super().__init__(("127.0.0.1", 0), Handler)
		self.base_url = f"http://127.0.0.1:{self.server_address[1]}"

	def __enter__(self):
		threading.Thread(target=self.serve_forever, daemon=True).start()
		return self

	def __exit__(self, *exc):
		self.shutdown()
		self.server_close()


class TestWebhookEndpoint(FrappeTestCase):
	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		forget_rules(cls)
		for name in CHANNELS:
			remove_channel(name)
			frappe.cache().delete_value(spam_guard_key(name))  # an earlier run's texts are no flood in this one
		cls.keys = {
			GENERIC: cls.make_channel(GENERIC, "Webhook", webhook_secret=SECRET),
			TELEGRAM: cls.make_channel(TELEGRAM, "Telegram", intake_mode="Push", access_token="123:abc",
				account_handle="acme_bot", webhook_secret=TELEGRAM_TOKEN),
			WHATSAPP: cls.make_channel(WHATSAPP, "WhatsApp", account_id=NUMBER_ID, access_token="wa-token",
				client_secret=APP_SECRET, webhook_secret=VERIFY_TOKEN),
			SECOND_NUMBER: cls.make_channel(SECOND_NUMBER, "WhatsApp", account_id=OTHER_NUMBER_ID,
				access_token="wa-token", client_secret=APP_SECRET, webhook_secret=VERIFY_TOKEN),
			INSTAGRAM: cls.make_channel(INSTAGRAM, "Instagram", account_id=IG_USER_ID, access_token="ig-token",
				client_secret=APP_SECRET, webhook_secret=VERIFY_TOKEN),
		}
		frappe.db.commit()
		cls.server = WebServer()
		cls.server.start()
		cls.addClassCleanup(cls.server.stop)

	@classmethod
	def tearDownClass(cls):
		for name in CHANNELS:
			remove_channel(name)
		frappe.db.delete("Social Identity", {"author_id": ("in", ["statuspage", "4711", WA_ID, "17841400008460056", "1234567890"])})
		frappe.db.delete("Social Listening Rule", {"rule_name": RULE})
		frappe.db.commit()
		super().tearDownClass()

	@classmethod
	def make_channel(cls, name: str, network: str, **values) -> str:
		doc = frappe.get_doc({"doctype": "Social Channel", "channel_name": name, "network": network, **values})
		doc.insert(ignore_permissions=True)
		return doc.webhook_key

	# --- helpers ---------------------------------------------------------------------------------------------

	def post(self, channel: str | None, body: bytes, headers: dict[str, str], key: str | None = None) -> requests.Response:
		webhook_key = key or self.keys[channel]
		return requests.post(
			f"http://127.0.0.1:{self.server.port}/api/method/{RECEIVE}?channel={webhook_key}", data=body,
			headers={**site_headers(), "Content-Type": "application/json", **headers}, timeout=30,
		)

	def run_queued(self, channel: str) -> int:
		"""Take this channel's storage jobs off the queue and run them here (as a worker would)."""
		queue = get_queue(queue_for(FETCH))
		ran = 0
		for job in queue.jobs:
			kwargs = job.kwargs or {}
			if kwargs.get("site") != frappe.local.site or kwargs.get("method") != STORE_JOB:
				continue
			if kwargs["kwargs"].get("channel") != channel:
				continue
			job.delete()
			self.assertEqual(kwargs["user"], "Guest")  # queued by the guest endpoint: the worker would run it as Guest
			frappe.set_user(kwargs["user"])
			try:
				store_pushed(**kwargs["kwargs"])
			finally:
				frappe.set_user("Administrator")
			ran += 1
		return ran

	def generic(self, post_id: str, text: str = "Checkout fails with error 502 for everyone") -> bytes:
		author = {"id": "statuspage", "name": "Status page"}
		return json.dumps({"posts": [{"id": post_id, "text": text, "author": author}]}).encode()

	def stored(self, channel: str, external_id: str):
		name = frappe.db.get_value("Social Post", {"channel": channel, "external_id": external_id})
		return frappe.get_doc("Social Post", name) if name else None

	# --- the generic signed webhook ----------------------------------------------------------------------------

	def test_a_signed_delivery_is_stored_and_triaged(self):
		before = frappe.db.get_value("Social Channel", GENERIC, "posts_fetched")
		body = self.generic("status-1")
		answer = self.post(GENERIC, body, sign_generic(body, SECRET, str(uuid.uuid4())))
		self.assertEqual((answer.status_code, answer.text), (200, "ok"))
		self.assertEqual(self.run_queued(GENERIC), 1)
		post = self.stored(GENERIC, "status-1")
		self.assertEqual((post.network, post.author_name, post.kind), ("Webhook", "Status page", "mention"))
		self.assertEqual(post.owner, "Administrator")  # stored as polling stores, not as the guest who pushed
		self.assertIn(post.mood, MOODS)
		self.assertIn(post.urgency_level, URGENCY_LEVELS)
		self.assertTrue(post.social_identity)
		channel = frappe.db.get_value("Social Channel", GENERIC, ["status", "posts_fetched", "last_success_at"], as_dict=True)
		self.assertEqual((channel.status, channel.posts_fetched), ("Active", before + 1))
		self.assertTrue(channel.last_success_at)

	def test_a_pushed_post_that_a_rule_converts_becomes_a_ticket(self):
		if HOST is None:
			self.skipTest(NO_HOST)
		frappe.get_doc({"doctype": "Social Listening Rule", "rule_name": RULE, "priority": 1,
			"action": "Auto-convert to Ticket", "keywords": KEYWORD}).insert(ignore_permissions=True)
		frappe.db.commit()
		forget_rules()
		body = self.generic("status-ticket", f"The {KEYWORD} service returns 500 on login")
		self.assertEqual(self.post(GENERIC, body, sign_generic(body, SECRET, uid("ticket"))).status_code, 200)
		self.assertEqual(self.run_queued(GENERIC), 1)  # the ticket side's job runs at once in tests (after_store)
		post = self.stored(GENERIC, "status-ticket")
		self.assertEqual((post.status, post.ticket_doctype), ("Converted", TICKET))
		self.assertTrue(frappe.db.exists(TICKET, post.ticket))

	def test_a_flipped_byte_a_stale_timestamp_and_a_replay_are_refused(self):
		body = self.generic("status-2")
		headers = sign_generic(body, SECRET, uid("delivery-flip"))
		flipped = body.replace(b"502", b"503")
		answer = self.post(GENERIC, flipped, headers)
		self.assertEqual(answer.status_code, 403)
		self.assertIn("does not match", answer.text)
		self.assertNotIn("502", answer.text)  # the body is never echoed
		stale = sign_generic(body, SECRET, uid("delivery-stale"), timestamp=int(time.time()) - 3600)
		self.assertEqual(self.post(GENERIC, body, stale).status_code, 403)
		self.assertEqual(self.run_queued(GENERIC), 0)
		self.assertIsNone(self.stored(GENERIC, "status-2"))

		headers = sign_generic(body, SECRET, uid("delivery-once"))
		self.assertEqual(self.post(GENERIC, body, headers).status_code, 200)
		self.assertEqual(self.post(GENERIC, body, headers).status_code, 409)
		# The same request under a new (unsigned) delivery id is the same signature: still a replay.
		self.assertEqual(self.post(GENERIC, body, {**headers, "X-Social-ITSM-Delivery": "another"}).status_code, 409)
		self.assertEqual(self.run_queued(GENERIC), 1)
		self.assertIsNotNone(self.stored(GENERIC, "status-2"))

	def test_unknown_channels_bad_shapes_big_bodies_and_bursts(self):
		body = self.generic("status-3")
		self.assertEqual(self.post(None, body, sign_generic(body, SECRET, uid("d1")), key=secrets.token_urlsafe(24)).status_code, 404)
		self.assertEqual(self.post(None, body, sign_generic(body, SECRET, uid("d2")), key="x").status_code, 404)
		broken = b'{"posts": [{"id": "status-3"}]}'
		answer = self.post(GENERIC, broken, sign_generic(broken, SECRET, uid("d3")))
		self.assertEqual(answer.status_code, 400)
		self.assertIn("author", answer.text)
		big = json.dumps({"posts": [], "pad": "x" * (1024 * 1024)}).encode()
		self.assertEqual(self.post(GENERIC, big, sign_generic(big, SECRET, uid("d4"))).status_code, 413)
		# A full window for this channel: the next delivery waits (the counter is the endpoint's own Redis key).
		now = time.time()
		for moment in (now, now + 10):
			frappe.cache().set(rate_key(GENERIC, moment), RATE_LIMIT, ex=30)
		answer = self.post(GENERIC, body, sign_generic(body, SECRET, uid("d5")))
		for moment in (now, now + 10):
			frappe.cache().delete(rate_key(GENERIC, moment))
		self.assertEqual(answer.status_code, 429)
		self.assertTrue(answer.headers.get("Retry-After"))
		self.assertEqual(self.run_queued(GENERIC), 0)

	# --- Telegram ----------------------------------------------------------------------------------------------

	def test_a_telegram_update_with_the_secret_token_is_stored(self):
		update = {"update_id": 900001, "message": {
			"message_id": 77, "date": int(time.time()), "text": "@acme_bot my order page is blank",
			"chat": {"id": 4711, "type": "private", "first_name": "Ada"},
			"from": {"id": 4711, "is_bot": False, "first_name": "Ada", "username": "ada"},
		}}
		body = json.dumps(update).encode()
		self.assertEqual(self.post(TELEGRAM, body, {TELEGRAM_SECRET_HEADER: "wrong-token"}).status_code, 403)
		self.assertEqual(self.post(TELEGRAM, body, {}).status_code, 401)
		self.assertEqual(self.post(TELEGRAM, body, {TELEGRAM_SECRET_HEADER: TELEGRAM_TOKEN}).status_code, 200)
		self.assertEqual(self.run_queued(TELEGRAM), 1)
		post = frappe.get_last_doc("Social Post", filters={"channel": TELEGRAM})
		self.assertEqual((post.network, post.kind, post.author_handle), ("Telegram", "direct", "ada"))
		self.assertIn("order page is blank", post.text)
		# A Telegram channel on push is not polled.
		from social_itsm_app.ingest.jobs import due_channels

		self.assertNotIn(TELEGRAM, due_channels())

	# --- WhatsApp ------------------------------------------------------------------------------------------------

	def meta_post(self, payload: dict) -> requests.Response:
		body = json.dumps(payload).encode()
		return self.post(WHATSAPP, body, {META_SIGNATURE_HEADER: meta_signature(body, APP_SECRET)})

	def whatsapp(self, value: dict, number: str = NUMBER_ID) -> dict:
		metadata = {"display_phone_number": "15550783881", "phone_number_id": number}
		return {"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "changes": [
			{"field": "messages", "value": {"messaging_product": "whatsapp", "metadata": metadata, **value}}]}]}

	def test_the_meta_handshake_answers_the_challenge(self):
		url = f"http://127.0.0.1:{self.server.port}/api/method/{RECEIVE}"
		params = {"channel": self.keys[WHATSAPP], "hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN,
			"hub.challenge": "1158201444"}
		answer = requests.get(url, params=params, headers=site_headers(), timeout=30)
		self.assertEqual((answer.status_code, answer.text), (200, "1158201444"))
		self.assertTrue(answer.headers["Content-Type"].startswith("text/plain"))
		wrong = requests.get(url, params={**params, "hub.verify_token": "nope"}, headers=site_headers(),
			timeout=30)
		self.assertEqual(wrong.status_code, 403)

	def test_a_whatsapp_message_is_a_direct_post_with_its_identity(self):
		message = {"from": WA_ID, "id": "wamid.push-test-1", "timestamp": str(int(time.time())), "type": "text",
			"text": {"body": "The app says payment failed"}}
		payload = self.whatsapp({"contacts": [{"profile": {"name": "Sheena"}, "wa_id": WA_ID}], "messages": [message]})
		body = json.dumps(payload).encode()
		self.assertEqual(self.post(WHATSAPP, body, {META_SIGNATURE_HEADER: meta_signature(body, "other")}).status_code, 403)
		self.assertEqual(self.meta_post(payload).status_code, 200)
		self.assertEqual(self.run_queued(WHATSAPP), 1)
		post = self.stored(WHATSAPP, "wamid.push-test-1")
		self.assertEqual((post.network, post.kind, post.author_name), ("WhatsApp", "direct", "Sheena"))
		self.assertEqual(post.thread_id, f"{NUMBER_ID}:{WA_ID}")
		identity = frappe.get_doc("Social Identity", post.social_identity)
		self.assertEqual((identity.network, identity.author_id), ("WhatsApp", WA_ID))
		self.assertNotIn(WA_ID, post.text)  # the phone number is kept once, on the identity

	def test_whatsapp_statuses_show_on_the_reply_even_before_its_part_is_recorded(self):
		post = self.stored(WHATSAPP, "wamid.push-test-1")
		if post is None:
			self.test_a_whatsapp_message_is_a_direct_post_with_its_identity()
			post = self.stored(WHATSAPP, "wamid.push-test-1")
		reply = frappe.get_doc({"doctype": "Social Reply", "social_post": post.name, "channel": WHATSAPP,
			"reply_mode": "Private", "status": "Sent", "text": "We are on it"})
		reply.db_insert()
		self.add_part(reply.name, "wamid.sent-1", 1)
		frappe.db.commit()
		stamp = str(int(time.time()))

		def status(message_id: str, word: str, **extra) -> dict:
			return {"id": message_id, "status": word, "timestamp": stamp, "recipient_id": WA_ID, **extra}

		self.assertEqual(self.meta_post(self.whatsapp({"statuses": [status("wamid.sent-1", "delivered")]})).status_code, 200)
		self.run_queued(WHATSAPP)
		self.assertEqual(frappe.db.get_value("Social Reply", reply.name, "network_status"), "delivered")
		# Out of order: a late "sent" does not undo "delivered".
		self.meta_post(self.whatsapp({"statuses": [status("wamid.sent-1", "sent")]}))
		self.run_queued(WHATSAPP)
		self.assertEqual(frappe.db.get_value("Social Reply", reply.name, "network_status"), "delivered")

		# A status for a part the send job has not recorded yet waits, and is matched by the next delivery.
		self.meta_post(self.whatsapp({"statuses": [status("wamid.sent-2", "read")]}))
		self.run_queued(WHATSAPP)
		self.add_part(reply.name, "wamid.sent-2", 2)
		frappe.db.commit()
		self.meta_post(self.whatsapp({"statuses": [status("wamid.unrelated", "sent")]}))
		self.run_queued(WHATSAPP)
		self.assertEqual(frappe.db.get_value("Social Reply", reply.name, "network_status"), "read")

		# A failure (e.g. outside the 24-hour window) fails the reply and says why.
		error = {"code": 131047, "title": "Re-engagement message"}
		self.meta_post(self.whatsapp({"statuses": [status("wamid.sent-2", "failed", errors=[error])]}))
		self.run_queued(WHATSAPP)
		shown = frappe.db.get_value("Social Reply", reply.name, ["status", "network_status", "last_error"], as_dict=True)
		self.assertEqual(shown.status, "Failed")
		self.assertTrue(shown.network_status.startswith("failed: 131047 Re-engagement"))

	def add_part(self, reply: str, external_id: str, idx: int) -> None:
		frappe.get_doc({"doctype": "Social Reply Part", "parent": reply, "parenttype": "Social Reply",
			"parentfield": "parts", "idx": idx, "external_id": external_id}).db_insert()

	def test_a_whatsapp_reply_after_the_24_hour_window_fails_and_says_why_then_goes_as_a_template(self):
		"""No free text more than 24 h after the customer's last message: the reply fails before anything is sent."""
		from social_itsm_app.api.whatsapp import send_as_template
		from social_itsm_app.connectors.whatsapp import WINDOW_HINT
		from social_itsm_app.replies.outbound import send_reply
		from social_itsm_app.tickets.convert import convert_post

		message = {"from": WA_ID, "id": "wamid.push-test-old", "timestamp": str(int(time.time()) - 2 * 86400),
			"type": "text", "text": {"body": "Is my refund coming?"}}
		self.assertEqual(self.meta_post(self.whatsapp({"messages": [message]})).status_code, 200)
		self.run_queued(WHATSAPP)
		post = self.stored(WHATSAPP, "wamid.push-test-old")
		self.assertTrue(post.is_backlog)  # written before the channel listened: stored for agents, never auto-answered
		if HOST is None:
			self.skipTest(NO_HOST)
		ticket = convert_post(post.name)["ticket"]
		reply = frappe.get_doc({"doctype": "Social Reply", "social_post": post.name, "channel": WHATSAPP,
			"reply_mode": "Private", "status": "Queued", "text": "Yes, today", "ticket_doctype": TICKET, "ticket": ticket})
		reply.db_insert()
		frappe.db.commit()
		self.assertEqual(send_reply(reply.name), "Failed")
		error, retry_at = frappe.db.get_value("Social Reply", reply.name, ["last_error", "next_attempt_at"])
		self.assertIn(WINDOW_HINT[:60], error)
		self.assertIsNone(retry_at)  # not retried as free text: only a template can reach the customer now
		self.assertFalse(frappe.get_all("Social Reply Part", filters={"parent": reply.name}))

		# The agent sends it again as an approved template: one template message, recorded like a reply part.
		sent = {"messaging_product": "whatsapp", "contacts": [{"wa_id": WA_ID}], "messages": [{"id": "wamid.template-1"}]}
		with FakeApi(sent) as graph, patch("social_itsm_app.replies.outbound.enqueue_send") as queued:
			frappe.db.set_value("Social Channel", WHATSAPP, "base_url", graph.base_url)
			frappe.db.commit()
			send_as_template(reply.name, "order_update", "en_US", "Ada\n\n4711\n")
			queued.assert_called_once_with(reply.name)
			self.assertEqual(send_reply(reply.name), "Sent")
		frappe.db.set_value("Social Channel", WHATSAPP, "base_url", None)
		frappe.db.commit()
		((path, body),) = graph.calls
		self.assertEqual(path, f"/{NUMBER_ID}/messages")
		self.assertEqual((body["to"], body["type"], body["template"]["name"]), (WA_ID, "template", "order_update"))
		self.assertEqual([p["text"] for p in body["template"]["components"][0]["parameters"]], ["Ada", "4711"])
		parts = frappe.get_all("Social Reply Part", filters={"parent": reply.name}, pluck="external_id")
		self.assertEqual(parts, ["wamid.template-1"])

	def test_a_delivery_for_another_number_of_the_app_goes_to_that_numbers_channel(self):
		stamp = str(int(time.time()))
		mine = {"from": WA_ID, "id": "wamid.route-1", "timestamp": stamp, "type": "text", "text": {"body": "Hello"}}
		theirs = {"from": WA_ID, "id": "wamid.route-2", "timestamp": stamp, "type": "text", "text": {"body": "Hi"}}
		payload = self.whatsapp({"messages": [mine]})
		payload["entry"][0]["changes"] += self.whatsapp({"messages": [theirs]}, OTHER_NUMBER_ID)["entry"][0]["changes"]
		self.assertEqual(self.meta_post(payload).status_code, 200)
		self.assertEqual((self.run_queued(WHATSAPP), self.run_queued(SECOND_NUMBER)), (1, 1))
		self.assertIsNotNone(self.stored(WHATSAPP, "wamid.route-1"))
		self.assertIsNone(self.stored(WHATSAPP, "wamid.route-2"))
		self.assertEqual(self.stored(SECOND_NUMBER, "wamid.route-2").thread_id, f"{OTHER_NUMBER_ID}:{WA_ID}")

	def test_register_webhook_gives_telegram_the_url_and_a_new_secret_token_that_the_endpoint_then_accepts(self):
		from social_itsm_app.api.webhook import register_webhook, webhook_url

		with FakeApi({"ok": True, "result": True}) as bot:
			self.keys[REGISTERED] = self.make_channel(REGISTERED, "Telegram", intake_mode="Push", access_token="123:abc",
				base_url=bot.base_url)
			frappe.db.commit()
			answer = register_webhook(REGISTERED)
		self.assertTrue(answer["registered"])
		((path, sent),) = bot.calls
		token = frappe.get_doc("Social Channel", REGISTERED).get_password("webhook_secret")
		self.assertTrue(path.endswith("/setWebhook"))
		self.assertEqual((sent["url"], sent["secret_token"]), (webhook_url(self.keys[REGISTERED]), token))
		self.assertGreaterEqual(len(token), 32)
		frappe.db.commit()
		update = {"update_id": 900002, "message": {"message_id": 78, "date": int(time.time()), "text": "hello bot",
			"chat": {"id": 4711, "type": "private", "first_name": "Ada"}, "from": {"id": 4711, "first_name": "Ada"}}}
		body = json.dumps(update).encode()
		self.assertEqual(self.post(REGISTERED, body, {TELEGRAM_SECRET_HEADER: token}).status_code, 200)
		self.assertEqual(self.run_queued(REGISTERED), 1)
		self.assertIsNotNone(self.stored(REGISTERED, "4711:78"))

	def test_an_instagram_comment_and_a_dm_are_stored_with_what_a_reply_needs(self):
		now = int(time.time())
		comment = {"field": "comments", "value": {"id": "17865799348089039", "text": "The shop app crashes on checkout",
			"from": {"id": "17841400008460056", "username": "ada.shops"}, "media": {"id": "17887498072083520"}}}
		dm = {"sender": {"id": "1234567890"}, "recipient": {"id": IG_USER_ID}, "timestamp": now * 1000,
			"message": {"mid": "aWdfZAG1faXRlbToxOklH", "text": "Where is my order?"}}
		payload = {"object": "instagram", "entry": [{"id": IG_USER_ID, "time": now, "changes": [comment],
			"messaging": [dm]}]}
		body = json.dumps(payload).encode()
		answer = self.post(INSTAGRAM, body, {META_SIGNATURE_HEADER: meta_signature(body, APP_SECRET)})
		self.assertEqual(answer.status_code, 200)
		self.assertEqual(self.run_queued(INSTAGRAM), 1)
		stored = self.stored(INSTAGRAM, "17865799348089039")
		self.assertEqual((stored.network, stored.kind, stored.author_handle), ("Instagram", "comment", "ada.shops"))
		self.assertEqual(json.loads(stored.reply_ref)["comment_id"], "17865799348089039")
		message = self.stored(INSTAGRAM, "aWdfZAG1faXRlbToxOklH")
		self.assertEqual((message.kind, message.thread_id), ("direct", f"{IG_USER_ID}:1234567890"))

	def test_a_guessable_or_telegram_incompatible_secret_is_refused_on_save(self):
		for secret, reason in (("short", "at least 16"), ("a long secret with spaces!", "Telegram")):
			channel = frappe.get_doc("Social Channel", TELEGRAM)
			channel.webhook_secret = secret
			self.assertRaisesRegex(frappe.ValidationError, reason, channel.save)
			frappe.db.rollback()
