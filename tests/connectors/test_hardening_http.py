"""The HTTP layer's hardening (issue 13): redirects keep credentials home (item 8), bodies and requests are
bounded in bytes and time (item 9), and rate-limit pauses are capped (item 12)."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone

import pytest
import requests
import responses

from social_itsm_app.connectors import ConnectorError, RateLimited
from social_itsm_app.connectors.errors import MAX_RATE_LIMIT_WAIT, MIN_RATE_LIMIT_WAIT
from social_itsm_app.connectors.http import HttpClient, rate_limit_reset
from tests.connectors import test_discourse as discourse_case
from tests.connectors import test_telegram as telegram_case
from tests.connectors import test_x as x_case

URL = "https://api.example.test/items"
ELSEWHERE = "https://evil.example.net/items"


def client(**kwargs) -> HttpClient:
	return HttpClient(backoff=0, retries=0, **kwargs)


# --- redirects (item 8) ------------------------------------------------------------------------------------


def test_a_redirect_to_another_host_is_refused_and_the_api_key_stays_home():
	with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
		rsps.add(
			responses.GET, discourse_case.POSTS, status=302, headers={"Location": "https://evil.example.net/posts.json"}
		)
		rsps.add(responses.GET, "https://evil.example.net/posts.json", json={"latest_posts": []})
		with pytest.raises(ConnectorError, match=r"redirected to another host \(https://evil.example.net/posts.json\)"):
			discourse_case.connector().fetch()
		assert [call.request.url for call in rsps.calls] == [discourse_case.POSTS]


def test_a_redirect_on_the_same_origin_is_followed_with_credentials():
	moved = f"{discourse_case.BASE}/latest/posts.json"
	with responses.RequestsMock() as rsps:
		rsps.add(responses.GET, discourse_case.POSTS, status=301, headers={"Location": "/latest/posts.json"})
		rsps.add(responses.GET, moved, json=discourse_case.fx("posts_page1"))
		result = discourse_case.connector().fetch()
		assert rsps.calls[1].request.headers["Api-Key"] == discourse_case.KEY
	assert result.posts


@pytest.mark.parametrize(
	"target",
	["http://api.example.test/items", "https://api.example.test:8443/items", ELSEWHERE, "ftp://api.example.test/items"],
)
def test_a_redirect_off_the_origin_or_off_https_is_refused(target):
	with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
		rsps.add(responses.GET, URL, status=307, headers={"Location": target})
		with pytest.raises(ConnectorError, match="redirected"):
			client().get_json(URL, headers={"Authorization": "Bearer tok-SECRET-1"})
		assert len(rsps.calls) == 1


def test_cross_origin_redirects_when_allowed_go_on_without_credentials_and_are_checked_each_hop():
	checked: list[str] = []
	with responses.RequestsMock() as rsps:
		rsps.add(responses.GET, URL, status=302, headers={"Location": ELSEWHERE})
		rsps.add(responses.GET, ELSEWHERE, json={"ok": True})
		answer = client(cross_origin_redirects=True, check_url=checked.append, secrets=["tok-SECRET-1"]).get_json(
			URL,
			headers={"Authorization": "Bearer tok-SECRET-1", "Accept": "application/json", "X-Other": "tok-SECRET-1"},
			auth=("user", "pass-SECRET"),
		)
		sent = rsps.calls[1].request.headers
	assert answer == {"ok": True} and checked == [URL, ELSEWHERE]
	assert "Authorization" not in sent and "X-Other" not in sent and sent["Accept"] == "application/json"


def test_redirects_are_bounded_and_a_303_after_a_post_becomes_a_get():
	with responses.RequestsMock() as rsps:
		rsps.add(responses.GET, URL, status=302, headers={"Location": URL})
		with pytest.raises(ConnectorError, match="more than 5 redirects"):
			client().get_json(URL)
		assert len(rsps.calls) == 6
	with responses.RequestsMock() as rsps:
		rsps.add(responses.POST, URL, status=303, headers={"Location": "/items/7"})
		rsps.add(responses.GET, URL + "/7", json={"id": "7"})
		assert client().post_json(URL, json={"text": "hi"}) == {"id": "7"}


# --- bytes and time (item 9) -------------------------------------------------------------------------------


@pytest.mark.parametrize("declared", [True, False])
def test_an_answer_over_the_byte_cap_is_a_connector_error(declared):
	with responses.RequestsMock() as rsps:
		rsps.add(responses.GET, URL, body=b"x" * 50_000, auto_calculate_content_length=declared)
		with pytest.raises(ConnectorError, match="larger than 40000 bytes"):
			client(max_bytes=40_000).request("GET", URL)
		rsps.add(responses.GET, URL, body=b"x" * 30_000)
		assert len(client(max_bytes=40_000).request("GET", URL).content) == 30_000


def test_connectors_take_the_byte_cap_and_deadline_from_their_config():
	conn = telegram_case.connector(max_response_bytes="2048", request_deadline="7.5")
	assert (conn.http.max_bytes, conn.http.deadline) == (2048, 7.5)
	with responses.RequestsMock() as rsps:
		rsps.add(responses.GET, telegram_case.UPDATES, json={"ok": True, "result": [], "padding": "p" * 4096})
		with pytest.raises(ConnectorError, match="larger than 2048 bytes"):
			conn.fetch()


def test_the_deadline_is_enforced_while_the_body_is_read():
	ticks = itertools.count(0, 10)  # every look at the clock is 10 s later: a slow, dripping answer
	with responses.RequestsMock() as rsps:
		rsps.add(responses.GET, URL, body=b"x" * 100_000)
		with pytest.raises(ConnectorError, match="no complete answer within 25s"):
			client(deadline=25, clock=lambda: next(ticks)).request("GET", URL)


def test_retries_stop_at_the_deadline_and_each_read_waits_at_most_the_time_left():
	now = [0.0]
	timeouts: list[float] = []

	class Session(requests.Session):
		def request(self, *args, **kwargs):
			timeouts.append(kwargs["timeout"])
			now[0] += 20
			raise requests.exceptions.ReadTimeout("slow")

	http = HttpClient(session=Session(), backoff=0, retries=10, timeout=30, deadline=50, clock=lambda: now[0])
	with pytest.raises(ConnectorError, match="timed out"):
		http.request("GET", URL)
	assert timeouts == [30, 30, 10]


# --- rate-limit pauses (item 12) ---------------------------------------------------------------------------


def limited(headers: dict[str, str]) -> requests.Response:
	response = requests.Response()
	response.status_code = 429
	response.headers.update(headers)
	return response


@pytest.mark.parametrize(
	"headers",
	[
		{"Retry-After": "3153600000"},  # a hundred years, in seconds
		{"Retry-After": "Sun, 23 Nov 2121 08:00:00 GMT"},
		{"Retry-After": "1e400"},  # infinity must not overflow
		{"x-rate-limit-reset": "99999999999999999"},  # epoch seconds beyond year 9999
		{"X-RateLimit-Reset": "2121-11-23T08:25:00Z"},
	],
)
def test_a_reset_years_away_is_capped_at_a_day(headers):
	now = datetime.now(timezone.utc)
	assert rate_limit_reset(limited(headers), now=now) == now + MAX_RATE_LIMIT_WAIT


def test_connectors_own_reset_times_are_capped_too():
	with responses.RequestsMock() as rsps:
		rsps.add(
			responses.GET,
			telegram_case.UPDATES,
			status=429,
			json={"ok": False, "description": "Too Many Requests", "parameters": {"retry_after": 3153600000}},
		)
		with pytest.raises(RateLimited) as caught:
			telegram_case.connector().fetch()
	assert caught.value.reset_at <= datetime.now(timezone.utc) + MAX_RATE_LIMIT_WAIT
	headers = {"x-user-limit-24hour-remaining": "0", "x-user-limit-24hour-reset": "4133894400"}  # 2101
	with responses.RequestsMock() as rsps:
		rsps.add(responses.POST, x_case.TWEETS, status=429, headers=headers, json={"title": "Too Many Requests"})
		post = x_case.parse_payload(x_case.fx("mentions_page1"))[0]
		with pytest.raises(RateLimited) as caught:
			x_case.connector().send_reply("Thanks, we are on it", post)
	assert caught.value.reset_at <= datetime.now(timezone.utc) + MAX_RATE_LIMIT_WAIT


def test_a_reset_already_past_resumes_after_a_short_wait():
	past = datetime(2020, 1, 1, tzinfo=timezone.utc)
	error = RateLimited("slow down", reset_at=past)
	assert error.reset_at == past  # what the network said, kept
	wait = error.resume_at - datetime.now(timezone.utc)
	assert timedelta(0) < wait <= MIN_RATE_LIMIT_WAIT
	soon = datetime.now(timezone.utc) + timedelta(minutes=3)
	assert RateLimited("slow down", reset_at=soon).resume_at == soon
