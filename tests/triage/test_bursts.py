"""The burst detector: distinct authors against a topic's own baseline, once per episode, state kept per topic."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

from social_itsm_app.connectors import SocialPost
from social_itsm_app.triage.bursts import Alert, BurstDetector, BurstSettings, Joined, author_key
from social_itsm_app.triage.decide import SpamGuard, spam_reason
from social_itsm_app.triage.normalize import fold_text
from social_itsm_app.triage.services import ServiceCatalogue

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=timezone.utc).timestamp()
MIN = 60.0
HOUR = 3600.0
CATALOGUE = ServiceCatalogue.from_records([
	{"name": "VPN", "aliases": "GlobalProtect, remote access", "team": "Network"},
	{"name": "Email", "aliases": "Outlook, mail", "team": "Messaging"},
])
VPN_DOWN = CATALOGUE.reports("VPN is down")[0]
MAIL_DOWN = CATALOGUE.reports("Outlook not working")[0]


def alerts(events) -> list[Alert]:
	return [event for event in events if isinstance(event, Alert)]


def test_fires_at_the_min_authors_th_distinct_author_within_the_window():
	detector = BurstDetector()
	events = [detector.observe(VPN_DOWN, f"user{n}", T0 + n * MIN) for n in range(5)]
	assert events[:4] == [None] * 4
	alert = events[4]
	assert isinstance(alert, Alert)
	assert alert.topic == "service:VPN" and alert.service == "VPN" and alert.team == "Network"
	assert alert.authors == ("user0", "user1", "user2", "user3", "user4")
	assert (alert.first_at, alert.last_at) == (T0, T0 + 4 * MIN)
	assert alert.episode == f"service:VPN@{int(T0)}"
	assert alert.window == 300 and alert.factor == 3 and alert.min_authors == 5
	assert alert.baseline == 0.5 and alert.threshold == 5  # a topic never heard of: the floor
	assert alert.words == ("vpn", "down")
	reason = alert.reason()
	assert "5 distinct authors reported service VPN down between 08:00:00 and 08:04:00 UTC" in reason
	assert "words: vpn, down" in reason
	assert alert.to_dict()["reason"] == reason


def test_the_same_authors_spread_wider_than_the_window_do_not_fire():
	detector = BurstDetector()
	assert alerts(detector.observe(VPN_DOWN, f"user{n}", T0 + n * 3 * MIN) for n in range(40)) == []


def test_one_author_posting_ten_times_is_one_author():
	detector = BurstDetector()
	assert alerts(detector.observe(VPN_DOWN, "angry", T0 + n * 10) for n in range(10)) == []
	assert alerts(detector.observe(VPN_DOWN, "angry", T0 + n * 10) for n in range(10, 500)) == []  # ... all day
	events = [detector.observe(VPN_DOWN, f"user{n}", T0 + 5000 + n) for n in range(4)]  # 4 others: 5 with angry
	assert isinstance(events[-1], Alert) and events[-1].authors[0] == "angry"


def test_each_topic_has_its_own_window():
	detector = BurstDetector()
	events = []
	for n in range(8):
		events.append(detector.observe(VPN_DOWN if n % 2 else MAIL_DOWN, f"user{n}", T0 + n * MIN))
	assert alerts(events) == []  # 4 + 4, never 5 on one topic


def test_a_steady_background_never_fires():
	detector = BurstDetector()
	# 3 new authors an hour, evenly, for a week: at most one in any window
	assert alerts(detector.observe(VPN_DOWN, f"user{n}", T0 + n * 20 * MIN) for n in range(3 * 24 * 7)) == []


def test_a_busy_topic_is_news_once_then_its_level_is_learnt():
	detector = BurstDetector()
	events = [detector.observe(MAIL_DOWN, f"user{n}", T0 + n * MIN) for n in range(24 * 60 * 3)]  # 60 authors/h
	fired = alerts(events)
	assert len(fired) == 1 and fired[0].last_at == T0 + 4 * MIN  # first heard: nothing like it before
	ended = next(n for n, e in enumerate(events) if n > 5 and not isinstance(e, Joined))  # the episode ends once learnt
	assert ended * MIN < 6 * HOUR
	assert detector.baseline("service:Email", T0 + 3 * 24 * HOUR) > 50


def test_reports_in_an_episode_join_it_until_it_calms_down():
	detector = BurstDetector()
	events = [detector.observe(VPN_DOWN, f"user{n}", T0 + n * MIN) for n in range(5)]
	episode = events[-1].episode
	assert detector.observe(VPN_DOWN, "user9", T0 + 6 * MIN) == Joined("service:VPN", episode, "user9", T0 + 6 * MIN, True)
	assert detector.observe(VPN_DOWN, "user4", T0 + 7 * MIN) == Joined("service:VPN", episode, "user4", T0 + 7 * MIN, False)
	assert detector.episode("service:VPN") == episode
	# a trickle keeps it open (each report within linger of the last)
	for n in range(10):
		assert isinstance(detector.observe(VPN_DOWN, f"late{n}", T0 + (20 + n * 20) * MIN), Joined)
	# after linger of silence it is over, and a new burst is a new episode
	quiet = T0 + (200 + 31) * MIN
	assert detector.observe(VPN_DOWN, "again0", quiet) is None
	events = [detector.observe(VPN_DOWN, f"again{n}", quiet + n * MIN) for n in range(1, 5)]
	assert isinstance(events[-1], Alert) and events[-1].episode == f"service:VPN@{int(quiet)}"


def test_calmed_ends_quiet_episodes_for_a_periodic_job():
	detector = BurstDetector()
	episode = [detector.observe(VPN_DOWN, f"u{n}", T0 + n) for n in range(5)][-1].episode
	assert detector.calmed(T0 + 10 * MIN) == []
	assert detector.calmed(T0 + 31 * MIN) == [episode]
	assert detector.episode("service:VPN") is None


def test_close_ends_the_episode_and_a_still_hot_topic_fires_again():
	detector = BurstDetector()
	first = [detector.observe(VPN_DOWN, f"u{n}", T0 + n * 30) for n in range(5)][-1]
	detector.close("service:VPN")
	again = detector.observe(VPN_DOWN, "u5", T0 + 5 * 30)
	assert isinstance(again, Alert) and again.episode == first.episode and len(again.authors) == 6


def test_dismiss_raises_the_baseline_so_the_same_level_does_not_fire_soon():
	detector = BurstDetector()
	for n in range(6):
		detector.observe(VPN_DOWN, f"a{n}", T0 + n * 30)
	before = detector.baseline("service:VPN", T0 + 150)
	detector.dismiss("service:VPN")
	after = detector.baseline("service:VPN", T0 + 150)
	assert before < 1 and after == 2 * 6 / 3 * 12  # twice the dismissed level (6 per 5-minute window) at factor 3
	assert detector.episode("service:VPN") is None
	# the same level an hour later: silent
	burst = T0 + HOUR
	assert alerts(detector.observe(VPN_DOWN, f"b{n}", burst + n * 30) for n in range(6)) == []
	# about twice that level fires (a little less: 1.5 hours of decay)
	big = alerts(detector.observe(VPN_DOWN, f"c{n}", burst + 30 * MIN + n * 20) for n in range(14))
	assert len(big) == 1 and len(big[0].authors) == 11 and big[0].threshold > 10
	# the lesson fades: two half-lives later the first level fires again
	later = T0 + 20 * HOUR
	assert len(alerts(detector.observe(VPN_DOWN, f"d{n}", later + n * MIN) for n in range(6))) == 1


def test_out_of_order_reports_within_the_window_count_older_ones_do_not():
	ordered, shuffled = BurstDetector(), BurstDetector()
	times = [T0 + n * MIN for n in range(5)]
	assert isinstance(alerts(ordered.observe(VPN_DOWN, f"u{n}", t) for n, t in enumerate(times))[0], Alert)
	order = [4, 1, 3, 0, 2]  # a slow channel's job delivers its older posts last
	events = [shuffled.observe(VPN_DOWN, f"u{n}", times[n]) for n in order]
	assert isinstance(events[-1], Alert) and events[-1].authors == tuple(f"u{n}" for n in range(5))
	assert events[-1].first_at == T0
	late = BurstDetector()
	for n in range(4):
		late.observe(VPN_DOWN, f"u{n}", T0 + HOUR + n)
	assert late.observe(VPN_DOWN, "old", T0) is None  # an hour older than the window: too late to count
	assert late.observe(VPN_DOWN, "u4", T0 + HOUR - 3 * MIN) is not None  # 3 minutes older: counts, fires


def test_unknown_topics_burst_like_services():
	detector = BurstDetector()
	texts = ["is teams down?", "Teams not working for anyone?", "teams down again", "TEAMS is down for me",
		"can't log in to Teams"]
	events = [detector.observe(report, f"u{n}", T0 + n * MIN) for n, text in enumerate(texts)
		for report in CATALOGUE.reports(text)]
	alert = events[-1]
	assert isinstance(alert, Alert)
	assert (alert.topic, alert.service, alert.team) == ("term:teams", None, None)
	assert alert.words == ("teams", "down", "not working", "can't log in")
	assert "unknown topic term:teams" in alert.reason()


def test_identical_texts_from_many_accounts_count_here_the_spam_guard_stops_them_first():
	"""The detector counts authors, not texts: a copy-paste flood from 10 accounts would fire on its own.
	In the real pipeline triage's spam checks run first and flag the same text from the 3rd copy on, so only two
	of them ever reach the detector. (A short complaint without a link is left to the detector: many people
	typing the same "is the VPN down?" is what an outage sounds like; see test_triage.py.)"""
	text = "The VPN is down for everyone in the building right now!! Details: https://spam.example/vpn"
	alone = BurstDetector()
	assert len(alerts(alone.observe(CATALOGUE.reports(text)[0], f"bot{n}", T0 + n) for n in range(10))) == 1
	guard, behind_guard = SpamGuard(), BurstDetector()
	passed = 0
	for n in range(10):
		post = SocialPost(network="mastodon", external_id=str(n), text=text, author_id=f"bot{n}", author_handle=f"bot{n}",
			author_name="", created_at=datetime.fromtimestamp(T0 + n, timezone.utc), url="", kind="mention")
		if spam_reason(post, fold_text(text), guard) is None:
			passed += 1
			assert not isinstance(behind_guard.observe(CATALOGUE.reports(text)[0], author_key(post), post.created_at), Alert)
	assert passed == 2


def test_datetimes_and_author_keys_from_posts():
	post = SocialPost(network="bluesky", external_id="1", text="", author_id="", author_handle="@Alice.bsky.social",
		author_name="", created_at=datetime(2026, 1, 1, tzinfo=timezone.utc), url="", kind="mention")
	assert author_key(post) == "bluesky:alice.bsky.social"
	detector = BurstDetector()
	start = datetime(2026, 11, 23, 8, 0, tzinfo=timezone.utc)
	events = [detector.observe(VPN_DOWN, f"u{n}", start + timedelta(minutes=n)) for n in range(5)]
	assert isinstance(events[-1], Alert) and events[-1].first_at == start.timestamp()


def _stream(seed: int = 3, size: int = 3000):
	rng = random.Random(seed)
	reports = [VPN_DOWN, MAIL_DOWN, *CATALOGUE.reports("is zoomly down?")]
	t, stream = T0, []
	for n in range(size):
		t += rng.expovariate(1 / 20) if n % 700 > 100 else rng.expovariate(1 / 400)  # bursts and lulls
		stream.append((rng.choice(reports), f"user{rng.randrange(300)}", t - rng.uniform(0, 120)))  # a bit out of order
	return stream


def test_dump_and_load_mid_episode_give_identical_decisions():
	stream = _stream()
	straight = BurstDetector()
	expected = [straight.observe(*item) for item in stream]
	assert alerts(expected) and any(isinstance(e, Joined) for e in expected)
	# the same stream, saved and reloaded every 37 reports, one topic record at a time (as Redis would)
	store: dict[str, bytes] = {}
	got = []
	for start in range(0, len(stream), 37):
		detector = BurstDetector(load=store.get)
		got.extend(detector.observe(*item) for item in stream[start : start + 37])
		store.update(detector.changed())
		assert detector.changed() == {}
	assert got == expected
	# and the whole state at once
	whole = BurstDetector()
	whole.load(straight.dump())
	assert whole.dump() == straight.dump()


def test_a_fetch_job_loads_and_saves_only_the_topics_it_touches():
	store = {topic: data for topic, data in _filled(50).dump().items()}
	asked = []
	detector = BurstDetector(load=lambda topic: asked.append(topic) or store.get(topic))
	detector.observe(VPN_DOWN, "x", T0 + HOUR)
	detector.observe(VPN_DOWN, "y", T0 + HOUR)
	detector.observe(CATALOGUE.reports("zoomly7 is down")[0], "z", T0 + HOUR)
	assert asked == ["service:VPN", "term:zoomly7"]
	assert sorted(detector.changed()) == ["service:VPN", "term:zoomly7"]
	record = store["service:VPN"]
	assert len(record) < 200, record  # compact: a handful of authors, the baseline, the episode


def test_malformed_state_starts_the_topic_afresh():
	detector = BurstDetector(load=lambda topic: b"{not json")
	assert detector.observe(VPN_DOWN, "u", T0) is None
	detector.load_topic("service:VPN", b"[99]")
	assert detector.baseline("service:VPN", T0) == 0.5


def _filled(topics: int, settings: BurstSettings | None = None) -> BurstDetector:
	detector = BurstDetector(settings)
	for n in range(topics):
		for report in CATALOGUE.reports(f"zoomly{n} is down"):
			detector.observe(report, f"u{n}", T0 + n)
	detector.observe(VPN_DOWN, "v", T0)
	return detector


def test_memory_is_bounded_in_topics_and_authors():
	detector = _filled(12_000)
	assert len(detector) == 10_000
	assert "term:zoomly11999" in detector and "term:zoomly0" not in detector  # least recently seen went first
	saved = detector.changed()
	assert len(saved) == 12_001  # evicted topics with unsaved changes wait, serialised, until they are saved
	assert detector.changed() == {}
	# one topic with 5,000 distinct authors in one window keeps max_authors of them
	crowd = BurstDetector(BurstSettings(max_authors=1000))
	for n in range(5000):
		crowd.observe(VPN_DOWN, f"u{n}", T0 + n * 0.1)
	assert len(crowd._topics["service:VPN"].authors) == 1000
	# and a window's worth only: later reports push old authors out
	for n in range(20):
		crowd.observe(VPN_DOWN, f"w{n}", T0 + HOUR + n)
	assert len(crowd._topics["service:VPN"].authors) == 20
